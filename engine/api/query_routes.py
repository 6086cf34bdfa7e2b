"""`/api/v1/query` and `/api/v1/tail`: the query language over HTTP, streamed as NDJSON.

    GET|POST /api/v1/query?q=QUERY&start=T&end=T&limit=N   rows newest first, or one object per
                                                           group/bucket for stats/histogram/top
    GET      /api/v1/tail?q=QUERY                          new matching rows as parts appear

Parameters come from the URL, and for POST also from a form or JSON object body (or the query
itself as a text/plain body). `T` is RFC 3339, epoch seconds, or relative (`15m`). A bad query
or parameter is a 400 `{"error": "...", "position": N}` (position null for parameters).

The executor is blocking (numpy, zstd, numba; they release the GIL), so each request pulls its
result chunk by chunk from a small thread pool; the event loop only writes bytes and stays free
for health checks, metrics and ingest. A failure after the first byte cannot change the status:
it ends the stream with one `{"error": ...}` line. Tails stop on shutdown and when the client
goes away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from engine.errors import LogjetError
from engine.query.catalog import Catalog
from engine.query.errors import QueryError
from engine.query.execute import prepare
from engine.query.objects import JsonObject
from engine.query.tail import POLL_S, Tail
from engine.units import parse_time_ns

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.metrics import MetricsFile
    from engine.worker.loop import WorkerShm
    from engine.worker.process import WorkerSpec

log = logging.getLogger("logjet.api")

# Concurrent queries: more would only share the same cores (block work already uses them all).
QUERY_THREADS = 4
NDJSON = "application/x-ndjson"
_encoder = msgspec.json.Encoder()


class _BadParam(LogjetError):
    pass


def _encode_lines(objs: list[JsonObject]) -> bytes:
    return msgspec.json.Encoder().encode_lines(objs)


def _error(message: str, position: int | None, status: int = 400) -> web.Response:
    return web.Response(
        body=_encoder.encode({"error": message, "position": position}), status=status, content_type="application/json"
    )


async def _params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = msgspec.json.decode(await request.read())
            except msgspec.DecodeError as exc:
                raise _BadParam(f"body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise _BadParam('a JSON body must be an object, e.g. {"q": "error"}')
            params.update({k: str(v) for k, v in body.items() if v is not None})
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            params.update({k: str(v) for k, v in (await request.post()).items()})
        else:
            text = (await request.text()).strip()
            if text:
                params["q"] = text
    return params


def _time_param(params: dict[str, str], key: str) -> int | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        return parse_time_ns(value)
    except ValueError as exc:
        raise _BadParam(f"{key}: {exc}") from None


def _limit_param(params: dict[str, str]) -> int | None:
    value = params.get("limit")
    if value in (None, ""):
        return None
    if not str(value).isdigit():
        raise _BadParam(f"limit: expected a whole number, got {value!r}")
    return int(value)


class QueryRoutes:
    def __init__(self, data_dir: str, metrics: MetricsFile | None = None):
        self.data_dir = data_dir
        self.catalog = Catalog.get(data_dir)
        self.threads = ThreadPoolExecutor(max_workers=QUERY_THREADS, thread_name_prefix="logjet-http-query")
        self.duration = metrics.histogram("query_duration_seconds") if metrics is not None else None
        self.stopping = asyncio.Event()

    async def query(self, request: web.Request) -> web.StreamResponse:
        t0 = time.monotonic()
        try:
            params = await _params(request)
            prepared = prepare(
                params.get("q", "*") or "*",
                _time_param(params, "start"),
                _time_param(params, "end"),
                _limit_param(params),
            )
        except _BadParam as exc:
            return _error(str(exc), None)
        except QueryError as exc:
            return _error(exc.message, exc.position)
        loop = asyncio.get_running_loop()
        chunks = prepared.chunks(self.catalog)

        def next_bytes() -> bytes | None:
            chunk = next(chunks, None)
            return None if chunk is None else _encode_lines(chunk)

        resp = web.StreamResponse(headers={"Content-Type": NDJSON})
        await resp.prepare(request)
        try:
            while True:
                try:
                    data = await loop.run_in_executor(self.threads, next_bytes)
                except Exception as exc:  # a damaged part, a bug: end the stream saying so
                    log.exception("query %r failed", prepared.text)
                    await resp.write(_encoder.encode({"error": f"query failed: {exc}", "position": None}) + b"\n")
                    break
                if data is None:
                    break
                await resp.write(data)
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        finally:
            await loop.run_in_executor(self.threads, chunks.close)
            if self.duration is not None:
                self.duration.observe(time.monotonic() - t0)
        return resp

    async def tail(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        try:
            params = await _params(request)
            prepared = prepare(params.get("q", "*") or "*")
            tail = await loop.run_in_executor(self.threads, Tail, self.data_dir, prepared)
        except _BadParam as exc:
            return _error(str(exc), None)
        except QueryError as exc:
            return _error(exc.message, exc.position)
        resp = web.StreamResponse(headers={"Content-Type": NDJSON})
        await resp.prepare(request)
        try:
            while not self.stopping.is_set():
                objs = await loop.run_in_executor(self.threads, tail.poll)
                if objs:
                    await resp.write(_encode_lines(objs))
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                try:
                    await asyncio.wait_for(self.stopping.wait(), POLL_S)
                except asyncio.TimeoutError:
                    pass
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

    async def on_shutdown(self, app: web.Application) -> None:
        self.stopping.set()


def install(app: web.Application, settings: Settings, spec: WorkerSpec, shm: WorkerShm | None) -> None:
    """Add the query routes to the API app (called by engine.api.worker.build_app)."""
    from engine.query.warmup import warm_up

    warm_up()  # kernels compiled before the API worker reports ready
    routes = QueryRoutes(settings.data_dir, shm.metrics if shm is not None else None)
    app.router.add_route("GET", "/api/v1/query", routes.query)
    app.router.add_route("POST", "/api/v1/query", routes.query)
    app.router.add_get("/api/v1/tail", routes.tail)
    app.on_shutdown.append(routes.on_shutdown)
