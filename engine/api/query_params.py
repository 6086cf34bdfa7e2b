"""The parameters of `/api/v1/query` and `/api/v1/tail`: read from the URL and a POST body,
checked so that none is ever quietly ignored (an unknown name, one given twice, a JSON value
that is not text or a number, `start` not before `end` are each a `BadParam`, answered 400)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.errors import LogjetError
from engine.units import parse_time_ns

QUERY_PARAMS = ("q", "start", "end", "limit")
TAIL_PARAMS = ("q",)


class BadParam(LogjetError):
    """A request parameter that is refused; the message names it."""


async def read_params(request: web.Request, known: tuple[str, ...]) -> dict[str, str]:
    """The parameters: the URL's, and for POST a form or JSON object body's (or the query itself
    as a text/plain body). Raises BadParam."""
    params: dict[str, str] = {}
    for key, value in request.query.items():
        _put(params, key, value, "the URL")
    if request.method == "POST" and request.can_read_body:
        # The server hands bodies over as sent (only the ingest routes inflate them): a
        # compressed query is refused by name rather than read as garbage.
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise BadParam(f"Content-Encoding {encoding!r}: send the query body uncompressed")
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError as exc:
                raise BadParam(f"body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise BadParam('a JSON body must be an object, e.g. {"q": "error"}')
            for key, value in body.items():
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise BadParam(f"{key}: expected a string or a number, got {msgspec.json.encode(value).decode()}")
                _put(params, key, str(value), "the body")
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, field in (await request.post()).items():
                _put(params, key, str(field), "the body")
        else:
            text = (await request.text()).strip()
            if text:
                _put(params, "q", text, "the body")
    unknown = [k for k in params if k not in known]
    if unknown:
        hint = " (the query goes in q)" if unknown[0] in ("query", "expr", "logql") else ""
        raise BadParam(f"unknown parameter {unknown[0]!r}{hint}; this route takes {', '.join(known)}")
    return params


def _put(params: dict[str, str], key: str, value: str, where: str) -> None:
    if key in params:
        raise BadParam(f"{key} is given twice (the second time in {where}); give it once")
    params[key] = value


def time_param(params: dict[str, str], key: str) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_time_ns(value)
    except ValueError as exc:
        raise BadParam(f"{key}: {exc}") from None


def time_range(params: dict[str, str]) -> tuple[int | None, int | None]:
    """(start, end) in ns; raises BadParam when start is not before end (nothing could match)."""
    start, end = time_param(params, "start"), time_param(params, "end")
    if start is not None and end is not None and start >= end:
        raise BadParam(f"start ({params['start']}) is not before end ({params['end']}): no row could match")
    return start, end
