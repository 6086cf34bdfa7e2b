"""Query filters, one kind per module: what a row must satisfy, tested per part and per block."""
