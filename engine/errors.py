"""The root of logjet's exceptions: catch `LogjetError` to catch every error logjet raises on purpose."""

from __future__ import annotations


class LogjetError(Exception):
    """Base of every exception logjet raises for a reason it can name (bad config, damaged
    data, a refused query); anything else escaping is a bug. Errors that callers also catch as
    a builtin keep that base too (`SilenceError(LogjetError, ValueError)`)."""
