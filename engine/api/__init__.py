"""The HTTP API worker: query, tail, ingest, metrics and health on one port (aiohttp)."""
