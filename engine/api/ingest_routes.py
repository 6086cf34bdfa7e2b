"""`POST /api/v1/ingest`: JSON objects over HTTP, as NDJSON or one JSON array, into the rings.

The body becomes one raw batch of frames (one frame per object) written to the API worker's
rings to the parsers, which decode JSON rows like any other (`engine.parse.json_rows`). The
reply comes after the batch is in a ring, so a 200 means the rows will be stored. NDJSON lines
are cut by the framing kernel and checked for the shape of an object (`{...}`) with numpy;
a JSON array is split into its elements by msgspec without decoding them. When the rings are
full the request waits (back-pressure) up to INGEST_WAIT_S, then gets 503; at once when the
writer says the disk is low (the rings will not empty before space comes back), with
"disk full" in the error and a longer Retry-After.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import msgspec
import numpy as np
from aiohttp import web

from engine.ipc.raw_batch import PROTOCOLS
from engine.push.rows import joined
from engine.receive.batcher import Batcher
from engine.receive.syslog_tcp import peer_name
from native_kernels.framing import TRUNCATED, split_lf, trim_spans

if TYPE_CHECKING:
    from engine.ipc.control import WriterFlags
    from engine.ipc.ring import RingProducer
    from engine.metrics import MetricsFile

HTTP = PROTOCOLS.index("http")
# How long a request may wait for ring space before the client is told to retry.
INGEST_WAIT_S = 10.0
RETRY_S = 0.002
# Retry-After (seconds) of a 503 because the rings are full, and because the disk is.
RETRY_AFTER_S = 1
DISK_FULL_RETRY_AFTER_S = 5

_array = msgspec.json.Decoder(list[msgspec.Raw])


def _bad_request(message: str, position: int | None = None) -> web.Response:
    body: dict[str, str | int] = {"error": message}
    if position is not None:
        body["position"] = position
    return web.json_response(body, status=400)


def _unavailable(disk_low: bool) -> web.Response:
    if disk_low:
        message = "disk full: the data dir's volume is below storage.min_free_bytes and the rings are full; retry later"
        retry = DISK_FULL_RETRY_AFTER_S
    else:
        message, retry = "rings are full; retry later", RETRY_AFTER_S
    return web.json_response({"error": message}, status=503, headers={"Retry-After": str(retry)})


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


class Ingest:
    """The ingest endpoint's state: one batcher over the API worker's rings."""

    def __init__(
        self,
        rings: list[RingProducer],
        max_len: int,
        metrics: MetricsFile,
        batch_bytes: int,
        writer_flags: WriterFlags | None = None,
    ):
        self.batcher = Batcher(HTTP, rings, batch_bytes)
        self.writer_flags = writer_flags
        self.max_len = max_len
        self.m_msgs = metrics.counter("received_messages_total", protocol="http")
        self.m_bytes = metrics.counter("received_bytes_total", protocol="http")
        self.m_trunc = metrics.counter("truncated_messages_total")
        self._lock = asyncio.Lock()

    async def submit(
        self, request: web.Request, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray
    ) -> web.Response | None:
        """Write the frames `buf[starts[i]:ends[i]]` into the rings, waiting for space up to
        INGEST_WAIT_S; None once they are all in, else the 503 to answer (nothing kept)."""
        source = peer_name(request.transport) if request.transport else "http"
        # One request's frames form whole batches of their own: the lock keeps another
        # request from being flushed (and acknowledged) with ours half-written.
        async with self._lock:
            self.batcher.add(buf, starts, ends, flags, source)
            deadline = time.monotonic() + INGEST_WAIT_S
            while not self.batcher.flush():
                disk_low = self.writer_flags is not None and self.writer_flags.disk_low()
                if disk_low or time.monotonic() > deadline:
                    self.batcher.drop_all()
                    return _unavailable(disk_low)
                await asyncio.sleep(RETRY_S)
        return None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            buf, starts, ends, flags = frames_of(body, self.max_len)
        except ValueError as exc:
            return _bad_request(str(exc.args[0]), exc.args[1] if len(exc.args) > 1 else None)
        n = len(starts)
        if n:
            refused = await self.submit(request, buf, starts, ends, flags)
            if refused is not None:
                return refused
            self.m_msgs.inc(n)
            truncated = int((flags & TRUNCATED).sum())
            if truncated:
                self.m_trunc.inc(truncated)
        self.m_bytes.inc(len(body))
        return web.json_response({"accepted": n})


def routes(ingest: Ingest) -> list[web.RouteDef]:
    return [web.post("/api/v1/ingest", ingest.handle)]
