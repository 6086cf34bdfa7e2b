"""What every worker process shares: the process boundary and boot sequence, and loop helpers."""
