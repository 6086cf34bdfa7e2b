"""`GET /api/v1/context?row=ID&before=N&after=N`: the rows around a query hit, from the same host
and app, in arrival order (engine.query.context), as one JSON object:

    {"host": "web-1", "app": "sshd", "hit": 20, "rows": [row objects, first arrived first]}

`row` is the `_id` of a row from a query result; `hit` is its index in `rows`. `before` and
`after` default to 20, at most 1000 each. A bad id or count is a 400, a row that is not stored
(never, or no longer: retention) a 404, all as `{"error": ..., "position": null}`. It takes a
query slot and the query timeout (`query.max_concurrent`: 429, `query.timeout`: 503) like
/api/v1/query, and runs on the same threads.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web

from engine.api.query_routes import RETRY_AFTER_S, QueryRoutes
from engine.errors import LogjetError
from engine.query.context import MAX_AROUND, Context, RowNotFound, around
from engine.query.limits import Deadline, QueryTimeout
from engine.query.row_id import BadRowId, RowId, parse_id

DEFAULT_AROUND = 20
_json = msgspec.json.Encoder()


class _BadCount(LogjetError):
    pass


def _reply(obj: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_json.encode(obj), status=status, content_type="application/json", headers=headers)


def _error(message: str, status: int = 400, headers: dict[str, str] | None = None) -> web.Response:
    return _reply({"error": message, "position": None}, status, headers)


def _count(params: dict[str, str], name: str) -> int:
    text = params.get(name, "")
    if text == "":
        return DEFAULT_AROUND
    if not text.isdigit() or int(text) > MAX_AROUND:
        raise _BadCount(f"{name}: expected a count of rows from 0 to {MAX_AROUND}, not {text[:20]!r}")
    return int(text)


class ContextRoute:
    def __init__(self, queries: QueryRoutes):
        self.queries = queries

    async def get(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        params = dict(request.query)
        try:
            rid = parse_id(params.get("row", ""))
            before, after = _count(params, "before"), _count(params, "after")
        except (BadRowId, _BadCount) as exc:
            return _error(str(exc))
        q = self.queries
        if not q.queries.try_enter():
            return _error(
                f"too many queries at once: {q.queries.capacity} are running (query.max_concurrent); "
                f"retry in {RETRY_AFTER_S} s",
                429,
                {"Retry-After": str(RETRY_AFTER_S)},
            )
        deadline = Deadline(q.limits.timeout.seconds, started)
        try:
            found = await asyncio.get_running_loop().run_in_executor(q.threads, self._run, rid, before, after, deadline)
        except RowNotFound as exc:
            return _error(str(exc), 404)
        except QueryTimeout as exc:
            return _error(exc.message, 503)
        finally:
            if q.duration is not None:
                q.duration.observe(time.monotonic() - started)
        return _reply({"host": found.host, "app": found.app, "hit": found.hit, "rows": found.rows})

    def _run(self, rid: RowId, before: int, after: int, deadline: Deadline) -> Context:
        """On a query thread, which gives the slot back (even when the client has gone)."""
        try:
            return around(self.queries.catalog, rid, before, after, deadline)
        finally:
            self.queries.queries.leave()


def install(app: web.Application, queries: QueryRoutes) -> ContextRoute:
    """Add the route to the API app, on the query routes' slots and threads."""
    route = ContextRoute(queries)
    app.router.add_get("/api/v1/context", route.get)
    return route
