"""Access control of the HTTP API: tokens with roles, and which requests need which role."""
