"""`QueryError`: a query the language or the planner refuses, with the character position to blame."""

from __future__ import annotations

from engine.errors import LogjetError


class QueryError(LogjetError):
    """A bad query. `position` is the 0-based character offset of the offending text in the
    query string (the HTTP API returns it as `position`)."""

    def __init__(self, message: str, position: int):
        super().__init__(message, position)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return f"{self.message} (at position {self.position})"
