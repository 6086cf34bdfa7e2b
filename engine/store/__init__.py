"""The on-disk format both the writer and the query read: parts, columns, indexes, layout."""
