"""logjet engine: the running system (receive → ring → parse → write → store → query)."""

__version__ = "0.1.0"
