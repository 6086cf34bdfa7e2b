"""Processes: the supervisor that starts, watches and restarts workers, and each worker's boot."""
