"""The benchmark harness behind `logjet bench`: load generation, peers, reports."""
