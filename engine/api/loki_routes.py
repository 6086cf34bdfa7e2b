"""Loki's HTTP read API over logjet, so that Grafana's Loki data source (and logcli) work
unchanged. The answers come from engine.query.logql; this module reads parameters, applies the
`[query]` limits the native query API applies, and writes Loki's shapes.

    GET|POST /loki/api/v1/query_range      streams (log query) or matrix (metric query)
    GET|POST /loki/api/v1/query            vector or scalar (metric queries only, as in Loki 3)
    GET|POST /loki/api/v1/labels           label names         {"status": "success", "data": [...]}
    GET|POST /loki/api/v1/label/{name}/values
    GET|POST /loki/api/v1/series           label sets of match[] selectors
    GET      /loki/api/v1/index/stats      {"streams", "chunks", "entries", "bytes"}
    GET      /loki/api/v1/index/volume, /index/volume_range
    GET      /loki/api/v1/detected_fields, /detected_labels, /patterns    empty answers
    GET      /loki/api/v1/status/buildinfo
    GET      /loki/api/v1/tail                 WebSocket (engine.api.loki_tail)

Errors are plain text, as Loki writes them: 400 for a bad query or parameter (LogQL errors as
`parse error at line 1, col N: ...`), 429 with `Retry-After` past `query.max_concurrent`, 503
past `query.timeout`, 400 for an answer larger than `query.max_response_bytes` (a Loki answer
is one JSON document: it cannot be cut short). Each request is counted in
`logjet_loki_requests_total{endpoint, outcome}`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Callable, Mapping

import msgspec
from aiohttp import web

from engine import __version__
from engine.api import loki_params as lp
from engine.api import loki_tail
from engine.api.loki_params import PREFIX, LokiParamError, request_params, text_error
from engine.api.query_routes import RETRY_AFTER_S, WRITE_GRACE_S
from engine.query.errors import QueryError
from engine.query.limits import Deadline, QueryTimeout
from engine.query.logql import metadata
from engine.query.logql.answers import Answers
from engine.query.logql.parser import is_label_name
from engine.query.logql.syntax import LogQLError

if TYPE_CHECKING:
    from engine.api.query_routes import QueryRoutes
    from engine.metrics import MetricsFile, Value

log = logging.getLogger("logjet.api")
OUTCOMES = ("ok", "bad_request", "too_many", "timeout", "failed")
# What buildinfo reports: a Loki version Grafana knows, and logjet's own in `revision`.
LOKI_VERSION = "2.9.0"
_json = msgspec.json.Encoder()
Work = Callable[[Answers], object]


def success(data: object) -> dict[str, object]:
    return {"status": "success", "data": data}


class LokiRoutes:
    def __init__(self, queries: QueryRoutes, metrics: MetricsFile | None):
        self.queries = queries
        self.limits = queries.limits
        self.metrics = metrics
        self._counters: dict[tuple[str, str], Value] = {}

    def count(self, endpoint: str, outcome: str) -> None:
        if self.metrics is None:
            return
        key = (endpoint, outcome)
        c = self._counters.get(key)
        if c is None:
            c = self._counters[key] = self.metrics.counter("loki_requests_total", endpoint=endpoint, outcome=outcome)
        c.inc()

    async def answer(
        self, endpoint: str, request: web.Request, make: Callable[[Mapping[str, str]], Work]
    ) -> web.Response:
        """Read the parameters (`make` turns them into the work, raising on bad ones), then run
        the work on a query thread under the query limits and encode its answer."""
        started = time.monotonic()
        try:
            work = make(await request_params(request))
        except (LokiParamError, LogQLError) as exc:
            self.count(endpoint, "bad_request")
            return text_error(str(exc), 400)
        gate = self.queries.queries
        if not gate.try_enter():
            self.count(endpoint, "too_many")
            return text_error(
                f"too many queries at once: {gate.capacity} are running (query.max_concurrent); "
                f"retry in {RETRY_AFTER_S} s",
                429,
                retry_after=True,
            )
        deadline = Deadline(self.limits.timeout.seconds, started)
        answers = Answers(self.queries.catalog, self.limits.max_groups, deadline)

        def run() -> bytes:
            return _json.encode(work(answers))

        future = asyncio.get_running_loop().run_in_executor(self.queries.threads, run)
        future.add_done_callback(lambda _: gate.leave())  # the slot is free once the thread is
        try:
            body = await asyncio.wait_for(asyncio.shield(future), max(deadline.left(), 0) + WRITE_GRACE_S)
        except (TimeoutError, QueryTimeout):
            self.count(endpoint, "timeout")
            return text_error(f"query timed out after {deadline.elapsed():.1f} s (query.timeout)", 503)
        except (LogQLError, LokiParamError) as exc:
            self.count(endpoint, "bad_request")
            return text_error(str(exc), 400)
        except QueryError as exc:  # the group cap and other refusals of the engine
            self.count(endpoint, "bad_request")
            return text_error(exc.message, 400)
        except Exception as exc:  # a damaged part, a bug: say so, keep serving
            log.exception("Loki %s request failed", endpoint)
            self.count(endpoint, "failed")
            return text_error(f"query failed: {exc}", 500)
        finally:
            if self.queries.duration is not None:
                self.queries.duration.observe(time.monotonic() - started)
        limit = self.limits.max_response_bytes.bytes
        if len(body) > limit:
            self.count(endpoint, "bad_request")
            return text_error(
                f"the answer is {len(body)} bytes, more than query.max_response_bytes = {limit}; "
                "ask for fewer lines (limit), a shorter time range or a narrower query",
                400,
            )
        self.count(endpoint, "ok")
        return web.Response(body=body, content_type="application/json")

    # --- queries -------------------------------------------------------------------------------
    async def query_range(self, request: web.Request) -> web.Response:
        def make(p: Mapping[str, str]) -> Work:
            text = lp.query_param(p)
            start, end = lp.time_range(p, lp.DEFAULT_SINCE_NS)
            step = lp.duration_param(p, "step", lp.default_step_ns(start, end))
            assert step is not None
            limit = lp.limit_param(p, self.limits.max_rows_limit)
            fwd = lp.forward(p)
            return lambda a: success(a.query_range(text, start, end, step, limit, fwd))

        return await self.answer("query_range", request, make)

    async def query(self, request: web.Request) -> web.Response:
        def make(p: Mapping[str, str]) -> Work:
            text = lp.query_param(p)
            at = lp.time_param(p, "time", time.time_ns())
            lp.limit_param(p, self.limits.max_rows_limit)
            lp.forward(p)
            return lambda a: success(a.instant(text, at))

        return await self.answer("query", request, make)

    # --- metadata ------------------------------------------------------------------------------
    async def labels(self, request: web.Request) -> web.Response:
        def make(p: Mapping[str, str]) -> Work:
            start, end = lp.time_range(p, lp.METADATA_SINCE_NS)
            return lambda a: success(metadata.label_names(a, start, end))

        return await self.answer("labels", request, make)

    async def label_values(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]

        def make(p: Mapping[str, str]) -> Work:
            if not is_label_name(name):
                raise LokiParamError(f"invalid label name: {name!r}")
            start, end = lp.time_range(p, lp.METADATA_SINCE_NS)
            query = p.get("query") or None
            return lambda a: success(metadata.label_values(a, name, start, end, query))

        return await self.answer("label_values", request, make)

    async def series(self, request: web.Request) -> web.Response:
        matches = request.query.getall("match[]", []) + request.query.getall("match", [])
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            matches += [str(v) for v in form.getall("match[]", []) + form.getall("match", [])]

        def make(p: Mapping[str, str]) -> Work:
            if not matches:
                raise LokiParamError("at least one match[] argument must be provided")
            start, end = lp.time_range(p, lp.METADATA_SINCE_NS)
            return lambda a: success(metadata.series(a, matches, start, end))

        return await self.answer("series", request, make)

    async def index_stats(self, request: web.Request) -> web.Response:
        def make(p: Mapping[str, str]) -> Work:
            query = lp.query_param(p)
            start, end = lp.time_range(p, lp.DEFAULT_SINCE_NS)
            return lambda a: metadata.index_stats(a, query, start, end)

        return await self.answer("index_stats", request, make)

    async def volume(self, request: web.Request) -> web.Response:
        return await self._volume(request, ranged=False)

    async def volume_range(self, request: web.Request) -> web.Response:
        return await self._volume(request, ranged=True)

    async def _volume(self, request: web.Request, ranged: bool) -> web.Response:
        def make(p: Mapping[str, str]) -> Work:
            query = lp.query_param(p)
            start, end = lp.time_range(p, lp.DEFAULT_SINCE_NS)
            step = lp.duration_param(p, "step", lp.default_step_ns(start, end)) if ranged else None
            limit = lp.limit_param(p, self.limits.max_rows_limit)
            targets = tuple(t.strip() for t in (p.get("targetLabels") or "").split(",") if t.strip())
            bad = [t for t in targets if not is_label_name(t)]
            if bad:
                raise LokiParamError(f"invalid targetLabels: {bad[0]!r}")

            def work(a: Answers) -> object:
                kind, result = metadata.volume(a, query, start, end, step, limit, targets)
                return success({"resultType": kind, "result": result})

            return work

        return await self.answer("volume_range" if ranged else "volume", request, make)

    async def detected_fields(self, request: web.Request) -> web.Response:
        self.count("detected_fields", "ok")
        return web.json_response({"fields": [], "limit": lp.DEFAULT_LIMIT})

    async def detected_labels(self, request: web.Request) -> web.Response:
        self.count("detected_labels", "ok")
        return web.json_response({"detectedLabels": []})

    async def patterns(self, request: web.Request) -> web.Response:
        self.count("patterns", "ok")
        return web.json_response(success([]))

    async def buildinfo(self, request: web.Request) -> web.Response:
        self.count("buildinfo", "ok")
        info = {"version": LOKI_VERSION, "revision": f"logjet-{__version__}", "branch": "", "buildUser": ""}
        return web.json_response({**info, "buildDate": "", "goVersion": ""})


# (methods, path, handler name): the routes, and (engine.auth.policy) what they need.
ROUTES = (
    (("GET", "POST"), "/query_range", "query_range"),
    (("GET", "POST"), "/query", "query"),
    (("GET", "POST"), "/labels", "labels"),
    (("GET", "POST"), "/label/{name}/values", "label_values"),
    (("GET", "POST"), "/series", "series"),
    (("GET",), "/index/stats", "index_stats"),
    (("GET",), "/index/volume", "volume"),
    (("GET",), "/index/volume_range", "volume_range"),
    (("GET",), "/detected_fields", "detected_fields"),
    (("GET",), "/detected_labels", "detected_labels"),
    (("GET",), "/patterns", "patterns"),
    (("GET",), "/status/buildinfo", "buildinfo"),
)


def install(app: web.Application, queries: QueryRoutes, metrics: MetricsFile | None) -> LokiRoutes:
    """Add the Loki routes to the API app, sharing the query routes' limits and threads."""
    routes = LokiRoutes(queries, metrics)
    for methods, path, handler in ROUTES:
        for method in methods:
            app.router.add_route(method, PREFIX + path, getattr(routes, handler))
    loki_tail.install(app, queries, routes.count)
    return routes
