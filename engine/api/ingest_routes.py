"""`POST /api/v1/ingest`: JSON objects over HTTP, as NDJSON or one JSON array, into the rings;
and the way into the rings every HTTP ingest route shares (`Ingest.put`).

The body becomes one raw batch of frames (one frame per object) written to the API worker's
rings to the parsers, which decode JSON rows like any other (`engine.parse.json_rows`). The
reply comes after the batch is in a ring, so a 200 means the rows will be stored. NDJSON lines
are cut by the framing kernel and checked for the shape of an object (`{...}`) with numpy;
a JSON array is split into its elements by msgspec without decoding them. When the rings are
full the request waits (back-pressure) up to INGEST_WAIT_S, then gets 503; at once when the
writer says the disk is low (the rings will not empty before space comes back), with
"disk full" in the error and a longer Retry-After. `?msg_field=...&time_field=...` (and host,
app, severity) name the body's own fields for the row's columns (`engine.api.field_params`); a
body refused for its content is counted in `dropped_messages_total{reason="bad_request"}`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, NamedTuple

import msgspec
import numpy as np
from aiohttp import web

from engine.api.field_params import FIELD_PARAMS, field_names_of
from engine.ipc.raw_batch import PROTOCOLS
from engine.api.request_body import read_body
from engine.json_field_names import FieldNamesError
from engine.push.bodies import PushRefused
from engine.push.rows import joined
from engine.receive.batcher import Batcher
from engine.receive.syslog_tcp import peer_name
from native_kernels.framing import TRUNCATED, split_lf, trim_spans

if TYPE_CHECKING:
    from engine.ipc.control import WriterFlags
    from engine.ipc.ring import RingProducer
    from engine.metrics import MetricsFile, Value

HTTP = PROTOCOLS.index("http")
# How long a request may wait for ring space before the client is told to retry.
INGEST_WAIT_S = 10.0
RETRY_S = 0.002
# Retry-After (seconds) of a 503 because the rings are full, and because the disk is.
RETRY_AFTER_S = 1
DISK_FULL_RETRY_AFTER_S = 5
# ingest.http_max_body of an Ingest built without settings (aiohttp's own default body limit).
DEFAULT_MAX_BODY = 1 << 20

_array = msgspec.json.Decoder(list[msgspec.Raw])


def _bad_request(message: str, position: int | None = None) -> web.Response:
    body: dict[str, str | int] = {"error": message}
    if position is not None:
        body["position"] = position
    return web.json_response(body, status=400)


def frames_of(body: bytes, max_len: int) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """(buffer, starts, ends, flags) of the objects in an NDJSON or JSON-array body; raises
    ValueError with the byte position of the first thing that is not an object."""
    stripped = body.lstrip()
    if stripped.startswith(b"["):
        try:
            items = _array.decode(body)
        except msgspec.DecodeError as exc:
            raise ValueError(f"body is not a JSON array of objects: {exc}") from None
        pieces = [bytes(item) for item in items]
        for k, piece in enumerate(pieces):
            if not piece.startswith(b"{"):
                raise ValueError(f"element {k} of the array is not an object")
        return joined(pieces, max_len)
    arr = np.frombuffer(body, np.uint8)
    starts, ends, flags, consumed, _ = split_lf(arr, max_len)
    if consumed < len(body):  # a last line without a newline
        starts = np.append(starts, consumed)
        ends = np.append(ends, min(len(body), consumed + max_len))
        flags = np.append(flags, np.uint8(1 if len(body) - consumed > max_len else 0))
    starts, ends = trim_spans(arr, starts, ends)
    keep = ends > starts
    starts, ends, flags = starts[keep], ends[keep], flags[keep]
    # A truncated object has lost its closing brace: only its opening one is checked.
    bad = np.flatnonzero((arr[starts] != ord("{")) | ((arr[ends - 1] != ord("}")) & (flags == 0)))
    if len(bad):
        pos = int(starts[bad[0]])
        line = int(np.count_nonzero(arr[:pos] == 10)) + 1
        raise ValueError(f"line {line} is not a JSON object", pos)
    return body, starts, ends, flags


class Refusal(NamedTuple):
    """Why frames were not taken: the rings stayed full (`disk_full` False) or the disk is low.
    Each route answers it in its own shape, with `retry_after` seconds."""

    message: str
    retry_after: int
    disk_full: bool


def _refusal(disk_low: bool) -> Refusal:
    if disk_low:
        return Refusal(
            "disk full: the data dir's volume is below storage.min_free_bytes and the rings are full; retry later",
            DISK_FULL_RETRY_AFTER_S,
            True,
        )
    return Refusal("rings are full; retry later", RETRY_AFTER_S, False)


def unavailable(refusal: Refusal) -> web.Response:
    return web.json_response({"error": refusal.message}, status=503, headers={"Retry-After": str(refusal.retry_after)})


class Ingest:
    """The ingest endpoints' state: one batcher over the API worker's rings, shared by every
    route that takes messages over HTTP (this one, Elasticsearch bulk, Loki and OTLP push)."""

    def __init__(
        self,
        rings: list[RingProducer],
        max_len: int,
        metrics: MetricsFile,
        batch_bytes: int,
        writer_flags: WriterFlags | None = None,
        wait_s: float = INGEST_WAIT_S,
        max_body: int = DEFAULT_MAX_BODY,
    ):
        self.batcher = Batcher(HTTP, rings, batch_bytes)
        self.wait_s = wait_s
        self.max_body = max_body
        self.writer_flags = writer_flags
        self.max_len = max_len
        self.m_msgs = metrics.counter("received_messages_total", protocol="http")
        self.m_bytes = metrics.counter("received_bytes_total", protocol="http")
        self.m_trunc = metrics.counter("truncated_messages_total")
        self.m_refused = metrics.counter("dropped_messages_total", reason="bad_request")
        self._lock = asyncio.Lock()

    def refused(self, messages: int) -> None:
        """Count messages a route refused for their content (a 400, whole or per item)."""
        if messages:
            self.m_refused.inc(messages)

    async def put(
        self,
        request: web.Request,
        buf: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        flags: np.ndarray,
        field_names: bytes = b"",
        received: Value | None = None,
        messages: int | None = None,
    ) -> Refusal | None:
        """Write the frames `buf[starts[i]:ends[i]]` into the rings, waiting for room up to
        INGEST_WAIT_S; None once they are all in (`messages` of them, by default one a frame,
        counted in `received`, by default this route's `received_messages_total{protocol=
        "http"}`), else why not (nothing of them is kept)."""
        n = len(starts)
        if n:
            source = peer_name(request.transport) if request.transport else "http"
            # One request's frames form whole batches of their own: the lock keeps another
            # request from being flushed (and acknowledged) with ours half-written.
            async with self._lock:
                self.batcher.add(buf, starts, ends, flags, source, field_names)
                deadline = time.monotonic() + self.wait_s
                while not self.batcher.flush():
                    disk_low = self.writer_flags is not None and self.writer_flags.disk_low()
                    if disk_low or time.monotonic() > deadline:
                        self.batcher.drop_all()
                        return _refusal(disk_low)
                    await asyncio.sleep(RETRY_S)
            (self.m_msgs if received is None else received).inc(n if messages is None else messages)
            truncated = int((flags & TRUNCATED).sum())
            if truncated:
                self.m_trunc.inc(truncated)
        return None

    async def handle(self, request: web.Request) -> web.Response:
        unknown = sorted(set(request.query) - set(FIELD_PARAMS))
        if unknown:
            return _bad_request(f"unknown parameter {unknown[0]!r} (known: {', '.join(FIELD_PARAMS)})")
        try:
            field_names = field_names_of(request.query.items())
        except FieldNamesError as exc:
            return _bad_request(str(exc))
        try:
            body = (await read_body(request, self.max_body)).data
        except PushRefused as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        try:
            buf, starts, ends, flags = frames_of(body, self.max_len)
        except ValueError as exc:
            self.refused(max(1, body.count(b"\n")))
            return _bad_request(str(exc.args[0]), exc.args[1] if len(exc.args) > 1 else None)
        refusal = await self.put(request, buf, starts, ends, flags, field_names)
        if refusal is not None:
            return unavailable(refusal)
        self.m_bytes.inc(len(body))
        return web.json_response({"accepted": len(starts)})


def routes(ingest: Ingest) -> list[web.RouteDef]:
    return [web.post("/api/v1/ingest", ingest.handle)]
