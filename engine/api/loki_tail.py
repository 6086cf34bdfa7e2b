"""`GET /loki/api/v1/tail`: Loki's live tail, a WebSocket of `{"streams": [...]}` messages.

Parameters: `query` (a log query), `limit` (the rows sent first, from before the tail started:
the newest `limit`, 100 by default, at or after `start`, one hour ago by default) and
`delay_for` (0 to 5 seconds, accepted and not needed: a part is whole when it appears). Then
every new matching row is sent once, oldest first, within a poll interval (0.2 s) of its part
being written (engine.query.tail). Tails count against `query.max_tails` (429 past it) and end
when the client closes, or with close code 1001 when the engine stops.
"""

from __future__ import annotations

import asyncio
import logging
import contextlib
import time
from typing import TYPE_CHECKING, Callable

import msgspec
from aiohttp import WSCloseCode, web

from engine.api import loki_params as lp
from engine.api.loki_params import PREFIX, LokiParamError, request_params, text_error
from engine.query.execute import PreparedQuery
from engine.query.language.parser import Query
from engine.query.logql.parser import parse_log_query
from engine.query.logql.streams import build_streams
from engine.query.logql.syntax import LogQLError
from engine.query.logql.translate import LabelView, translate
from engine.query.tail import POLL_S, Tail
from engine.store.rows import Rows

if TYPE_CHECKING:
    from engine.api.query_routes import QueryRoutes

MAX_DELAY_S = 5
_json = msgspec.json.Encoder()

log = logging.getLogger("logjet.api")


def _message(rows: Rows, view: LabelView) -> str | None:
    if not len(rows):
        return None
    return _json.encode({"streams": build_streams([rows], view).result()}).decode()


class LokiTail:
    def __init__(self, queries: QueryRoutes, count: Callable[[str, str], None]):
        self.queries = queries
        self.count = count  # (endpoint, outcome) into logjet_loki_requests_total

    async def tail(self, request: web.Request) -> web.StreamResponse:
        try:
            p = await request_params(request)
            text = lp.query_param(p)
            flt, view = translate(parse_log_query(text))
            limit = lp.limit_param(p, self.queries.limits.max_rows_limit)
            start = lp.time_param(p, "start", time.time_ns() - lp.DEFAULT_SINCE_NS)
            delay = p.get("delay_for") or "0"
            if not delay.isdigit() or int(delay) > MAX_DELAY_S:
                raise LokiParamError(f"delay_for: expected 0 to {MAX_DELAY_S} seconds, got {delay!r}")
        except (LokiParamError, LogQLError) as exc:
            self.count("tail", "bad_request")
            return text_error(str(exc), 400)
        gate = self.queries.tails
        if not gate.try_enter():
            self.count("tail", "too_many")
            return text_error(
                f"too many live tails: {gate.capacity} are open (query.max_tails); retry later", 429, retry_after=True
            )
        try:
            self.count("tail", "ok")
            prepared = PreparedQuery(text, query=Query(flt, ()))
            return await self._follow(request, prepared, view, start, limit)
        finally:
            gate.leave()

    async def _follow(
        self, request: web.Request, prepared: PreparedQuery, view: LabelView, start: int, limit: int
    ) -> web.WebSocketResponse:
        loop = asyncio.get_running_loop()
        threads = self.queries.tail_threads
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        reader = asyncio.ensure_future(_drain(ws))  # sees the client's close
        stopping = asyncio.ensure_future(self.queries.stopping.wait())
        try:
            tail = await loop.run_in_executor(threads, Tail, self.queries.data_dir, prepared)
            message = _message(await loop.run_in_executor(threads, tail.history, start, limit), view)
            while not ws.closed and not reader.done():
                if message is None:
                    message = _message(await loop.run_in_executor(threads, tail.poll_rows), view)
                if message is not None:
                    await ws.send_str(message)
                    message = None
                await asyncio.wait([reader, stopping], timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done():
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"logjet is stopping")
                    break
        except ConnectionError:  # the client went away: normal, its tail slot is given back
            log.debug("a Loki tail client went away")
        finally:
            for task in (reader, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if not ws.closed:
                await ws.close()
        return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, until it closes."""
    async for _ in ws:
        pass


def install(app: web.Application, queries: QueryRoutes, count: Callable[[str, str], None]) -> None:
    app.router.add_get(PREFIX + "/tail", LokiTail(queries, count).tail)
