"""Query stages, one per module: what follows each `|` (fields, sort, stats, top, limit, ...)."""
