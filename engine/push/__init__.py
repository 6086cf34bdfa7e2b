"""The shippers' push protocols (Loki push, OTLP/HTTP logs): request bodies to logjet JSON rows."""
