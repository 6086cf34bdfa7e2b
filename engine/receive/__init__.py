"""Receiver worker: sockets in, raw frame batches out into the parser rings."""
