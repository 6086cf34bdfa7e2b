"""Sender processes: replay a pre-rendered pool of framed messages over TCP, TLS, UDP, HTTP
NDJSON or Elasticsearch bulk bodies, as fast as the receiver takes them or at a fixed rate,
with latency probes mixed in.

The pool is rendered once by the parent (`write_pool`) and each sender reads it, so a sender only
moves bytes: TCP sends slices of the pool (thousands of messages per `sendall`), and so does TLS
(octet counted, as RFC 5425 says; the certificate is not verified), HTTP posts slices as NDJSON
bodies (es-bulk: bulk bodies, an action line before each document), or Loki push and OTLP/HTTP
bodies built from them before the run (`bench.push_bodies`), over HTTPS and with an API token
when the target's `HttpAccess` says so; UDP sends one datagram per message (the protocol's
unit). At a fixed rate a sender wakes every `TICK_S` and sends what is due by then; a probe (a
message carrying its send time, `generate.probe`) goes out every `probe_interval_s`, rendered at
the moment it is sent. Each sender publishes how many messages it has sent in its slot of a
shared array (the parent's progress bar) and reports (first send, last send, messages, probes,
errors) on a queue.

Contract: the pool files are read-only once written; a sender owns its socket and its slot.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
from typing import NamedTuple

import numpy as np

from bench import generate, push_bodies
from bench.http_access import HttpAccess
from engine.errors import LogjetError

PROTOS = ("tcp", "tcp-octet", "tls", "udp", "http", "es-bulk", *push_bodies.PROTOS)
# Protocols sent as HTTP requests of HTTP_BATCH messages: NDJSON, Elasticsearch bulk (the pool
# holds its action lines), and the push protocols, whose bodies (`bench.push_bodies`) are built
# from the NDJSON pool before the timed run.
HTTP_PROTOS = ("http", "es-bulk", *push_bodies.PROTOS)
CHUNK = 2048  # messages per send at full speed: ~250 KB, large enough that Python is not the cost
TICK_S = 0.005  # pacing granularity at a fixed rate
INGEST_PATH = "/api/v1/ingest"
# Filebeat's and Logstash's request: the answer trimmed to what a shipper reads.
ES_BULK_PATH = "/insert/elasticsearch/_bulk?filter_path=errors,items.*.error,items.*.status"
# The action line before each document of an Elasticsearch bulk body: what Filebeat sends to a
# data stream (one `create` per document, the index named in it).
ES_ACTION = b'{"create":{"_index":"logs-bench-default"}}\n'
HTTP_BATCH = 1000  # messages per HTTP request at full speed (Filebeat's bulk_max_size is 1600)
HTTP_RETRIES = 20  # attempts per request while the engine answers 503 or 429 (rings full)
HTTP_RETRY_S = 0.5


class Pool(NamedTuple):
    """A rendered, framed pool on disk: `data` holds the messages back to back, `bounds` their
    byte offsets (n + 1 int64)."""

    data_path: str
    bounds_path: str
    count: int
    bytes_per_message: float


class Plan(NamedTuple):
    """What one sender does (crosses the spawn boundary; plain values only)."""

    proto: str
    host: str
    port: int
    count: int
    rate: float  # messages per second for this sender; 0 = as fast as possible
    probe_interval_s: float  # 0 = no probes
    pool: Pool
    access: HttpAccess = HttpAccess()  # how an HTTP sender reaches the API
    batch: int = HTTP_BATCH  # messages per HTTP request


class IngestRefused(LogjetError, http.client.HTTPException):
    """The engine refused an ingest request for a reason retrying cannot fix (401, 403, 4xx)."""


def frame_one(message: bytes, proto: str) -> bytes:
    if proto in ("tcp-octet", "tls"):
        return b"%d %s" % (len(message), message)
    if proto == "es-bulk":
        return ES_ACTION + message + b"\n"
    if proto == "tcp" or proto in HTTP_PROTOS:
        return message + b"\n"
    return message


def write_pool(folder: str, messages: list[bytes], proto: str) -> Pool:
    framed = [frame_one(m, proto) for m in messages]
    bounds = np.zeros(len(framed) + 1, np.int64)
    np.cumsum([len(m) for m in framed], out=bounds[1:])
    data_path = os.path.join(folder, f"pool-{proto}.bin")
    bounds_path = os.path.join(folder, f"pool-{proto}.bounds.npy")
    with open(data_path, "wb") as f:
        f.write(b"".join(framed))
    np.save(bounds_path, bounds)
    return Pool(data_path, bounds_path, len(framed), float(bounds[-1]) / max(1, len(framed)))


class _Stream:
    """Message i of the run is pool message i % n."""

    def __init__(self, pool: Pool):
        with open(pool.data_path, "rb") as f:
            self.data = memoryview(f.read())
        self.bounds = np.load(pool.bounds_path).tolist()
        self.n = pool.count

    def chunks(self, i: int, j: int, most: int):
        """(bytes, first pool index, count) covering messages [i, j): at most `most` messages
        each, split where the pool wraps."""
        while i < j:
            k = i % self.n
            stop = min(self.n, k + (j - i), k + most)
            yield self.data[self.bounds[k] : self.bounds[stop]], k, stop - k
            i += stop - k


class _Conn:
    """The transport of one sender: `send(view, first, count)` sends the framed bytes of `count`
    pool messages starting at pool index `first`."""

    def __init__(self, plan: Plan, bounds: list[int]):
        self.proto = plan.proto
        self.batch = plan.batch
        self.dest = (plan.host, plan.port)
        self.bounds = bounds
        self.errors = 0
        if plan.proto in HTTP_PROTOS:
            self.http = plan.access.connection(plan.host, plan.port, timeout=120)
            ctype = push_bodies.CONTENT_TYPES.get(plan.proto, "application/x-ndjson")
            self.headers = {"Content-Type": ctype, **plan.access.headers()}
            self.path = ES_BULK_PATH if plan.proto == "es-bulk" else push_bodies.PATHS.get(plan.proto, INGEST_PATH)
            # (first pool index, count) → a push body of those messages; see `prepare`.
            self.bodies: dict[tuple[int, int], bytes] = {}
        elif plan.proto == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        elif plan.proto == "tls":
            self.sock = _tls_connect(self.dest)
        else:
            self.sock = socket.create_connection(self.dest)

    def prepare(self, stream: _Stream, count: int) -> None:
        """Build the push bodies of the chunks a full-speed run of `count` messages sends, so
        that building them is not timed (chunks start at multiples of the batch, and at 0
        after the pool wraps)."""
        if self.proto not in push_bodies.PROTOS:
            return
        for view, first, k in stream.chunks(0, min(count, stream.n), self.batch):
            self.bodies[(first, k)] = push_bodies.body(self.proto, bytes(view))

    def _body(self, view, first: int, count: int) -> bytes:
        if self.proto not in push_bodies.PROTOS:
            return bytes(view)
        body = self.bodies.get((first, count)) if first >= 0 else None
        if body is None:  # a probe, or a chunk a paced run cut elsewhere: built now
            body = push_bodies.body(self.proto, bytes(view))
            if first >= 0:
                self.bodies[(first, count)] = body
        return body

    def send(self, view, first: int, count: int) -> None:
        if self.proto in HTTP_PROTOS:
            body = self._body(view, first, count)
            for _ in range(HTTP_RETRIES):
                self.http.request("POST", self.path, body=body, headers=self.headers)
                resp = self.http.getresponse()
                answer = resp.read()
                if resp.status not in (429, 503):  # the engine's rings are full: back off, retry
                    break
                time.sleep(HTTP_RETRY_S)
            if resp.status in (400, 401, 403, 404, 405):
                raise IngestRefused(f"HTTP {resp.status}: {answer[:200].decode('utf-8', 'replace')}")
            if resp.status // 100 != 2:
                self.errors += count
            elif self.proto == "es-bulk" and b'"errors":true' in answer[:64]:
                self.errors += answer.count(b'"status":4') + answer.count(b'"status":5')
        elif self.proto == "udp":
            sendto = self.sock.sendto
            if first < 0:  # a probe: one message, not from the pool
                sendto(view, self.dest)
                return
            b, base = self.bounds, self.bounds[first]
            for k in range(first, first + count):
                sendto(view[b[k] - base : b[k + 1] - base], self.dest)
        else:
            self.sock.sendall(view)

    def close(self) -> None:
        if self.proto in HTTP_PROTOS:
            self.http.close()
            return
        if self.proto == "tls":
            # close_notify, answered once the receiver has read everything before it.
            try:
                self.sock.settimeout(300)
                self.sock = self.sock.unwrap()
            except (OSError, ValueError):
                pass
        if self.proto != "udp":
            # Half-close and wait for the receiver to close: everything sent has been read.
            try:
                self.sock.shutdown(socket.SHUT_WR)
                self.sock.settimeout(300)
                while self.sock.recv(65536):
                    pass
            except OSError:
                pass
        self.sock.close()


def _tls_connect(dest: tuple[str, int]) -> ssl.SSLSocket:
    """A TLS client socket. The benchmark's certificate is a throwaway made for the run, so it
    is not verified: what is measured is the cost of the encrypted stream, not of trust."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(dest)
    try:
        return ctx.wrap_socket(raw, server_hostname=dest[0])
    except BaseException:
        raw.close()
        raise


def run_sender(plan: Plan, slot: int, progress, ready, start_evt, results) -> None:
    """Entry point of a sender process (spawned): load the pool and connect, release `ready`,
    wait for `start_evt`, send, report on `results`."""
    stream = _Stream(plan.pool)
    try:
        conn = _Conn(plan, stream.bounds)
    except OSError as exc:
        results.put(
            {
                "slot": slot,
                "error": f"cannot connect: {exc}",
                "first": 0.0,
                "last": 0.0,
                "sent": 0,
                "probes": 0,
                "errors": 0,
            }
        )
        ready.release()
        return
    conn.prepare(stream, plan.count)
    ready.release()
    probe_fmt = "json" if plan.proto in HTTP_PROTOS else "syslog"
    most = plan.batch if plan.proto in HTTP_PROTOS else CHUNK
    start_evt.wait()
    t0 = time.time()
    sent = probes = 0
    next_probe = t0 if plan.probe_interval_s else float("inf")
    try:
        while sent < plan.count:
            now = time.time()
            if now >= next_probe:
                probe = frame_one(generate.probe(probes, time.time_ns(), probe_fmt), plan.proto)
                conn.send(probe, -1, 1)
                probes += 1
                next_probe += plan.probe_interval_s
            if plan.rate:
                todo = min(plan.count, int((now - t0) * plan.rate) + 1) - sent
                if todo <= 0:
                    next_due = t0 + (sent + 1) / plan.rate
                    time.sleep(max(0.0, min(TICK_S, next_probe - now, next_due - now)))
                    continue
                todo = min(todo, 8 * most)
            else:
                todo = min(plan.count - sent, most)
            for view, first, count in stream.chunks(sent, sent + todo, most):
                conn.send(view, first, count)
                sent += count
            progress[slot] = sent + probes
        t_last = time.time()
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        results.put(
            {
                "slot": slot,
                "error": f"{type(exc).__name__}: {exc}",
                "first": t0,
                "last": time.time(),
                "sent": sent,
                "probes": probes,
                "errors": plan.count - sent,
            }
        )
        return
    results.put({"slot": slot, "first": t0, "last": t_last, "sent": sent, "probes": probes, "errors": conn.errors})


def send_direct(
    pool: Pool,
    proto: str,
    host: str,
    port: int,
    count: int,
    probes: int = 0,
    access: HttpAccess = HttpAccess(),
    batch: int = HTTP_BATCH,
) -> int:
    """Send the first `count` pool messages, and `probes` messages shaped like latency probes,
    from this process: a warm-up before the timed run, so the target's first-batch costs (such
    as loading compiled kernels for a message shape it has not seen) are not timed. The probes
    carry no send time, so `bench.latency` ignores them. Returns the messages sent."""
    stream = _Stream(pool)
    count = min(count, stream.n)
    conn = _Conn(Plan(proto, host, port, count, 0.0, 0.0, pool, access, batch), stream.bounds)
    most = batch if proto in HTTP_PROTOS else CHUNK
    fmt = "json" if proto in HTTP_PROTOS else "syslog"
    probes_left = probes
    try:
        for view, first, k in stream.chunks(0, count, most):
            conn.send(view, first, k)
            for i in range(probes_left):
                conn.send(frame_one(generate.probe(i, None, fmt), proto), -1, 1)
            probes_left = 0
            if proto == "udp":
                time.sleep(0.002)  # a burst this small must not be dropped
    finally:
        conn.close()
    return count + probes
