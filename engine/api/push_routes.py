"""`POST /loki/api/v1/push` and `POST /v1/logs` (OTLP/HTTP): the shippers' push protocols.

Each body is decoded here (engine.push.loki, engine.push.otlp) into JSON-object frames and
handed to the same batcher, rings and back-pressure as `POST /api/v1/ingest`, so a success
reply means every entry is in a ring and will be stored, and a refusal means none was. An
OTLP protobuf body of the common shape (engine.push.otlp.parser_check), and a Loki protobuf
body (un-snappied), whose frames would fit what a parser takes whole (engine.config.
whole_request_bytes: a shipper's usual batch of 1 MiB of lines or 8,192 records, beyond
ingest.batch_bytes) with none long enough to be cut, are
only checked here (read by the protobuf library, labels parsed) and go into a ring whole, one
frame flagged OTLP_REQUEST or LOKI_REQUEST: the parsers, several processes, make their rows
(engine.parse.otlp_rows, engine.parse.loki_rows), so this one process is not every pushed
row's bottleneck.

    success        Loki 204 (empty); OTLP 200 with an empty ExportLogsServiceResponse in the
                   request's own encoding (protobuf, or `{}` for JSON)
    bad body       400 {"error": "..."} naming what is wrong (and where, for JSON)
    too large      413: the body, or what it decompresses to, over ingest.http_max_body
    content type   415: one the route does not speak
    rings full     503 with Retry-After (Promtail, Alloy and the OpenTelemetry exporters retry)

Every refusal is counted in `ingest_requests_rejected_total{route, reason}`; accepted entries
in `received_messages_total{protocol="loki"|"otlp"}` and the wire bytes in
`received_bytes_total`.
"""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from engine.api.ingest_routes import unavailable
from engine.ipc.raw_batch import LOKI_REQUEST, OTLP_REQUEST
from engine.push import otlp, split
from engine.api.request_body import read_body
from engine.push.bodies import PushRefused, parse_protobuf, unsnappy
from engine.push.loki import LokiDecoder
from engine.push.loki import parser_takes as loki_parser_takes
from engine.push.proto import push_pb2
from engine.push.rows import Frames, frames_bytes

if TYPE_CHECKING:
    from engine.api.ingest_routes import Ingest
    from engine.metrics import MetricsFile

log = logging.getLogger("logjet.api.push")
T = TypeVar("T")

LOKI_PUSH = "/loki/api/v1/push"
OTLP_LOGS = "/v1/logs"
PROTOBUF = "application/x-protobuf"
# Some clients name protobuf without the x-.
PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
JSON = "application/json"
# Bodies (decompressed) past this are decoded in a thread; smaller ones (a shipper's usual
# push is tens to hundreds of KiB) cost less than the hand-over.
THREAD_DECODE_BYTES = 1 << 20
# A protobuf request is cut into at most this many pieces for the parsers; one that would need
# more (entries far past ingest.http_max_body's default) is decoded here.
MAX_PIECES = 64
REASONS = (
    "too_large",
    "bad_encoding",
    "bad_content_type",
    "bad_protobuf",
    "bad_json",
    "bad_labels",
    "undecodable",
    "unavailable",
)


class _Route:
    """The counters and limits of one push route."""

    def __init__(self, path: str, protocol: str, metrics: MetricsFile, max_body: int) -> None:
        self.path = path
        self.max_body = max_body
        self.m_msgs = metrics.counter("received_messages_total", protocol=protocol)
        self.m_bytes = metrics.counter("received_bytes_total", protocol=protocol)
        self.m_rejected = {r: metrics.counter("ingest_requests_rejected_total", route=path, reason=r) for r in REASONS}
        self.m_by_parser = metrics.counter("push_requests_total", route=path, decoded_by="parser")
        self.m_by_api = metrics.counter("push_requests_total", route=path, decoded_by="api")

    def refuse(self, exc: PushRefused) -> web.Response:
        self.m_rejected[exc.reason].inc()
        return web.json_response({"error": str(exc)}, status=exc.status)


class Push:
    """The two push routes over the ingest endpoint's batcher."""

    def __init__(self, ingest: Ingest, metrics: MetricsFile, max_body: int, whole_bytes: int) -> None:
        self.ingest = ingest
        # The largest request a parser takes whole (engine.config.whole_request_bytes).
        self.whole_bytes = whole_bytes
        self.loki_route = _Route(LOKI_PUSH, "loki", metrics, max_body)
        self.otlp_route = _Route(OTLP_LOGS, "otlp", metrics, max_body)
        self.loki_decoder = LokiDecoder()

    async def _body(self, request: web.Request, route: _Route) -> bytes:
        """The request body with its Content-Encoding undone."""
        body = await read_body(request, route.max_body)
        route.m_bytes.inc(body.wire)
        return body.data

    async def _read(self, route: _Route, size: int, read: Callable[[], T]) -> T:
        """`read()`, the decoding or checking of a body of `size` bytes."""
        try:
            # A big body takes a while to read: off the event loop, so health checks, queries
            # and other pushes are still answered meanwhile (the GIL is shared, the loop is not).
            return await asyncio.to_thread(read) if size > THREAD_DECODE_BYTES else read()
        except PushRefused:
            raise
        except (RecursionError, ValueError, TypeError, UnicodeError) as exc:
            # What the decoders did not foresee in a body is still the body's fault: a 400,
            # never a 500 (and logged, to be looked at).
            log.warning("%s: a body failed to decode: %r", route.path, exc)
            raise PushRefused(400, "undecodable", f"the body cannot be decoded: {exc}") from None

    async def _store(
        self, request: web.Request, route: _Route, size: int, decode: Callable[[], Frames]
    ) -> web.Response | None:
        """Decode and write the frames; None when all are in the rings, else the refusal."""
        frames = await self._read(route, size, decode)
        if not len(frames):
            route.m_by_api.inc()
            return None
        buf, starts, ends, flags = frames.packed(self.ingest.max_len)
        refused = await self._put(request, route, buf, starts, ends, flags)
        if refused is None:
            route.m_by_api.inc()
        return refused

    async def _put(
        self,
        request: web.Request,
        route: _Route,
        buf: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        flags: np.ndarray,
        messages: int | None = None,
    ) -> web.Response | None:
        """Write the frames into the rings; None once they are in, else the refusal (counted)."""
        refusal = await self.ingest.put(request, buf, starts, ends, flags, received=route.m_msgs, messages=messages)
        if refusal is not None:
            route.m_rejected["unavailable"].inc()
            return unavailable(refusal)
        return None

    async def _store_requests(
        self, request: web.Request, route: _Route, requests: list[tuple[bytes, int]], flag: int
    ) -> web.Response | None:
        """Protobuf requests the route checked (the body, or its pieces), each handed to a
        parser whole as one frame flagged `flag` (OTLP_REQUEST, LOKI_REQUEST), a raw batch of
        its own: the parsers (several processes) make their rows, not this one. As `_store`; a
        refusal part way leaves the pieces before it stored, as a body of several raw batches
        does."""
        whole = np.zeros(1, np.int64)
        flags = np.full(1, flag, np.uint8)
        for body, count in requests:
            refused = await self._put(request, route, body, whole, whole + len(body), flags, messages=count)
            if refused is not None:
                return refused
        route.m_by_parser.inc()
        return None

    def _whole_or_pieces(
        self,
        body: bytes,
        checked: tuple[int, int],
        cut: Callable[[int], list[bytes]],
        check: Callable[[bytes], tuple[int, int] | None],
    ) -> list[tuple[bytes, int]] | None:
        """The requests to hand to the parsers, each with its entry count: `body` itself when
        its frames (`checked`: entries, the most bytes their frames take) fit `whole_bytes`,
        else the pieces `cut(n)` makes of it, about enough for each to fit, and each checked as
        the body was (`check`); None when one does not fit or is not for a parser: decode the
        body here."""
        count, frame_bytes = checked
        if frame_bytes <= self.whole_bytes:
            return [(body, count)] if count else []
        pieces = []
        for piece in cut(min(count, MAX_PIECES, -(-frame_bytes // self.whole_bytes) + 1)):
            got = check(piece)
            if got is None or got[1] > self.whole_bytes:
                return None
            pieces.append((piece, got[0]))
        return pieces

    def _otlp_requests(self, body: bytes) -> list[tuple[bytes, int]] | None:
        """The requests to hand to parsers whole, with their record counts: the body, when its
        frames would fit `whole_bytes`, else pieces of it that each do (engine.push.split); None
        when it is not of the shape engine.parse.otlp_rows takes: decode it here. Checked here as
        the general path checks it (the protobuf library reads it)."""
        checked = otlp.parser_check(body, self.ingest.max_len)
        if checked is None:
            return None
        request = parse_protobuf(ExportLogsServiceRequest(), body, otlp.REQUEST)
        return self._whole_or_pieces(
            body,
            checked,
            lambda n: split.otlp_pieces(request, n),
            lambda piece: otlp.parser_check(piece, self.ingest.max_len),
        )

    def _loki_check(self, raw: bytes, pushed: push_pb2.PushRequest | None = None) -> tuple[int, int] | None:
        """(entries, the most bytes their frames take: `rows.frames_bytes`) of an un-snappied
        PushRequest (read by the protobuf library, unless given read as `pushed`), its labels
        parsed; None when an entry might be cut (`loki.parser_takes`): decoded here, where cut
        frames are counted."""
        if pushed is None:
            pushed = parse_protobuf(push_pb2.PushRequest(), raw, "a Loki PushRequest")
        stream_bytes = [self.loki_decoder.stream_bytes(stream.labels) for stream in pushed.streams]
        entries = [len(stream.entries) for stream in pushed.streams]
        count, repeated = sum(entries), sum(map(operator.mul, entries, stream_bytes))
        if not loki_parser_takes(raw, stream_bytes, self.ingest.max_len):
            return None
        return count, frames_bytes(count, repeated, len(raw))

    def _loki_requests(self, raw: bytes) -> list[tuple[bytes, int]] | None:
        """As `_otlp_requests`, for an un-snappied Loki PushRequest: the body or its pieces, each
        to go to a parser whole (engine.parse.loki_rows, or the general path's frames there).
        Checked here as the general path checks it (the protobuf library reads it, the labels
        are parsed), so what a parser gets decodes. None: decode it here."""
        pushed = parse_protobuf(push_pb2.PushRequest(), raw, "a Loki PushRequest")
        checked = self._loki_check(raw, pushed)
        if checked is None:
            return None
        return self._whole_or_pieces(raw, checked, lambda n: split.loki_pieces(pushed, n), self._loki_check)

    async def loki(self, request: web.Request) -> web.Response:
        route = self.loki_route
        try:
            ctype = request.headers.get("Content-Type", "") and request.content_type
            body = await self._body(request, route)
            if ctype == JSON:
                refused = await self._store(request, route, len(body), lambda: self.loki_decoder.json(body))
            elif ctype in ("", *PROTOBUF_TYPES, "application/octet-stream"):
                # Loki's protobuf bodies are always a snappy block, whatever Content-Encoding says.
                raw = unsnappy(body, route.max_body)
                requests = await self._read(route, len(raw), lambda: self._loki_requests(raw))
                if requests:
                    refused = await self._store_requests(request, route, requests, LOKI_REQUEST)
                elif requests is not None:  # no entries: nothing to hand on
                    route.m_by_api.inc()
                    refused = None
                else:
                    refused = await self._store(request, route, len(raw), lambda: self.loki_decoder.protobuf(raw))
            else:
                raise PushRefused(415, "bad_content_type", f"Content-Type {ctype!r}: send {PROTOBUF} or {JSON}")
        except PushRefused as exc:
            return route.refuse(exc)
        return refused or web.Response(status=204)

    async def otlp(self, request: web.Request) -> web.Response:
        route = self.otlp_route
        try:
            ctype = request.content_type
            if ctype not in (*PROTOBUF_TYPES, JSON):
                raise PushRefused(415, "bad_content_type", f"Content-Type {ctype!r}: send {PROTOBUF} or {JSON}")
            body = await self._body(request, route)
            requests = await self._read(route, len(body), lambda: self._otlp_requests(body)) if ctype != JSON else None
            if requests is not None:
                refused = await self._store_requests(request, route, requests, OTLP_REQUEST)
            else:
                decode = otlp.json if ctype == JSON else otlp.protobuf
                refused = await self._store(request, route, len(body), lambda: decode(body))
        except PushRefused as exc:
            return route.refuse(exc)
        if refused is not None:
            return refused
        # An empty ExportLogsServiceResponse: no bytes in protobuf, {} in JSON.
        return web.Response(body=b"{}" if ctype == JSON else b"", content_type=JSON if ctype == JSON else PROTOBUF)


def routes(push: Push) -> list[web.RouteDef]:
    return [web.post(LOKI_PUSH, push.loki), web.post(OTLP_LOGS, push.otlp)]
