"""Writer worker: column batches from the parsers → time-partitioned parts on disk."""
