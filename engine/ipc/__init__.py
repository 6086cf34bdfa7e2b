"""Shared memory between the processes: rings, the batch encodings they carry, the control table."""
