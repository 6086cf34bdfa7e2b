"""The query language: text in, a filter tree and a list of stages out."""
