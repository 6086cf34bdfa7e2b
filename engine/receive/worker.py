"""Receiver worker: binds the syslog ports with SO_REUSEPORT and moves frames into the rings.

One asyncio (uvloop) loop per process. TCP frames, TLS frames (decrypted by
`engine.receive.syslog_tls`) and UDP datagrams go to one `Batcher` per protocol; a batch is
written when it is full or `batch_delay` after its first frame (twice that while frames come
slower than 25,000 a second: `engine.receive.batch_delay`). When every ring to the parsers
is full, reading pauses on all TCP and TLS connections until a write succeeds (back-pressure),
while UDP batches are dropped and counted: `dropped_messages_total{reason="disk_full"}` while the
writer says the disk is low (its FLAG_DISK_LOW in the control table: the rings are full because
nothing can be written), else `reason="ring_full"`. What the kernel drops before the receiver
reads it (a full UDP socket buffer) is read from /proc once a second (`engine.receive.udp_drops`).

Read pacing. A connection's first small read after its held reads were framed pauses its
reading until PACE_LEAD_S before the batch falls due; then it reads what the kernel holds (and
anything more until the batch is framed). A framed batch waits `batch_delay` anyway, so reading
sooner gains nothing, and a paced sender (a few lines a write) would otherwise wake the loop for
each write: at 10,000 lines a second over two connections, 3,700 reads a second, a third of the
receiver's CPU. A read of FRAME_NOW_BYTES or more (a sender at full speed) is framed at once and
never pauses. At the drain, paced connections read what their kernel buffers hold first.

Stream connections are accepted by `engine.receive.acceptor` (the cap of `ingest.max_connections`,
accept errors counted) and held in one `ConnectionTable`, swept once a second for connections
idle longer than `ingest.idle_timeout`.

SIGHUP (forwarded by the supervisor): the TLS certificate and key files are read again; new
connections use the new context, open ones keep theirs; files that do not load are logged and
the context in force stays.

Drain (`engine.worker.process.DRAIN_SIGNAL`): stop accepting, stop reading, hand over each connection's
unterminated tail, write every pending batch (waiting for ring space up to the drain deadline),
then exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import time
from typing import Callable

import numpy as np
import uvloop

from engine.ipc import control
from engine.ipc.raw_batch import PROTOCOLS
from engine.config import Settings
from engine.worker.process import DRAIN_SIGNAL, BootError, WorkerSpec
from engine.receive.acceptor import AcceptErrors, Acceptor
from engine.receive.batcher import Batcher
from engine.receive.batch_delay import BatchDelay
from engine.receive.connection_table import SWEEP_INTERVAL_S, ConnectionTable, StreamConnection
from engine.receive.framing import FRAMING_FALLBACK, FRAMING_LF, FRAMING_OCTET
from engine.receive.syslog_tcp import SyslogTcpProtocol
from engine.receive.rate_limited_log import RateLimitedLog
from engine.receive.syslog_tls import FAILED, OK, OUTCOMES, SyslogTlsProtocol
from engine.receive.syslog_udp import SyslogUdpProtocol, udp_frames
from engine.receive.udp_drops import KernelDrops
from engine.receive.tls_context import TlsConfigError, build_context
from engine.ipc.ring import RingProducer
from engine.receive.listen_sockets import tcp_listener, udp_socket
from engine.units import parse_hostport
from engine.worker.loop import WorkerShm
from native_kernels.framing import TRUNCATED

log = logging.getLogger("logjet.receive")

TCP, UDP, TLS = PROTOCOLS.index("tcp"), PROTOCOLS.index("udp"), PROTOCOLS.index("tls")
# While back-pressured, how often to retry the ring: short, since the parser frees space fast.
RETRY_S = 0.001
HEARTBEAT_S = 0.25
# The kernel's UDP drop counts are read every this many heartbeats (once a second): reading
# /proc/net/udp costs a line per UDP socket of the host.
KERNEL_DROPS_EVERY = 4
# Paced connections read again this long before their batch is framed (see the docstring):
# enough for the loop to run their reads first, even when it is a little late.
PACE_LEAD_S = 0.002
# At the drain, paced connections read this long before reading stops: the loop's next turns.
DRAIN_READ_S = 0.02


class Receiver:
    """The state of one receiver process; protocols call its `tcp_frames` / `udp_ready`."""

    def __init__(self, settings: Settings, spec: WorkerSpec, shm: WorkerShm, rings: list[RingProducer]):
        self.settings = settings
        self.spec = spec
        self.shm = shm
        self.loop = asyncio.get_event_loop()
        batch_bytes = settings.ingest.batch_bytes
        self.tcp = Batcher(TCP, rings, batch_bytes)
        self.tls = Batcher(TLS, rings, batch_bytes)
        self.udp = Batcher(UDP, rings, batch_bytes)
        self.delay = BatchDelay(settings.ingest.batch_delay.ns, time.monotonic_ns())
        self.connections: set[SyslogTcpProtocol] = set()  # those reading (TLS: once handshaken)
        self.paused = False
        self.stopping = False
        self._wake = asyncio.Event()
        m = shm.metrics
        protocols = (TCP, UDP, TLS) if "syslog_tls" in spec.ports else (TCP, UDP)
        self.m_msgs = {p: m.counter("received_messages_total", protocol=PROTOCOLS[p]) for p in protocols}
        self.m_bytes = {p: m.counter("received_bytes_total", protocol=PROTOCOLS[p]) for p in protocols}
        self.m_trunc = m.counter("truncated_messages_total")
        self.m_ring_full = m.counter("dropped_messages_total", reason="ring_full")
        self.m_disk_full = m.counter("dropped_messages_total", reason="disk_full")
        self.writer_flags = control.WriterFlags(shm.control, spec.all_slots)
        self.m_socket_err = m.counter("dropped_messages_total", reason="socket_error")
        self.kernel_drops = KernelDrops(m.counter("udp_kernel_drops_total"))
        self._fallback_log = RateLimitedLog(log)  # one broken sender must not flood the log
        self.m_framing = {
            f: m.counter("tcp_framing_total", framing=f) for f in (FRAMING_LF, FRAMING_OCTET, FRAMING_FALLBACK)
        }
        self.batches = 0
        self.udp_truncated = 0  # datagrams cut to max_message_bytes since the last UDP batch
        self.udp_protocols: list[SyslogUdpProtocol] = []
        self._udp_since = 0  # when the oldest datagram not yet taken from a protocol arrived
        # Stream connections holding reads not framed yet (`SyslogTcpProtocol.frame_pending`),
        # and when the first of them arrived: the batch delay counts from then.
        self._pending_streams: dict[SyslogTcpProtocol, None] = {}
        self._pending_since = 0
        self._paced: dict[SyslogTcpProtocol, None] = {}  # reading paused until the batch's lead
        self.max_len = settings.ingest.max_message_bytes
        self.tls_context: ssl.SSLContext | None = None  # the one new TLS connections get (see load_tls)
        if "syslog_tls" in spec.ports:
            self.m_tls_handshakes = {o: m.counter("tls_handshakes_total", outcome=o) for o in OUTCOMES}
            self.m_tls_reloads = {o: m.counter("tls_reloads_total", outcome=o) for o in (OK, FAILED)}
        self._tls_log = RateLimitedLog(log)
        streams = [name for port, name in (("syslog_tcp", "tcp"), ("syslog_tls", "tls")) if port in spec.ports]
        self.streams = ConnectionTable(  # every stream connection from accept to close
            settings.ingest.max_connections,
            settings.ingest.idle_timeout.seconds,
            {p: m.counter("idle_connections_closed_total", protocol=p) for p in streams},
        )

    # --- called by the protocols -------------------------------------------------------------
    def connection_opened(self, proto: SyslogTcpProtocol) -> None:
        if self.stopping:  # a TLS handshake that finished during the drain: too late to read
            proto.transport.abort()
            return
        self.connections.add(proto)
        if self.paused:
            proto.transport.pause_reading()

    def connection_closed(self, proto: SyslogTcpProtocol) -> None:
        self.connections.discard(proto)
        self._paced.pop(proto, None)

    def stream_closed(self, conn: StreamConnection) -> None:
        self.streams.discard(conn)

    def framing_decided(self, framing: str, source: str) -> None:
        self.m_framing[framing].inc()
        if framing == FRAMING_FALLBACK:
            self._fallback_log.warning(
                "%s: octet-counted stream broke off (no MSG-LEN SP where a frame should "
                "start); reading the rest of the connection as LF-delimited lines",
                source,
            )

    def stream_pending(self, proto: SyslogTcpProtocol) -> None:
        self._pending_streams[proto] = None
        if not self.paused and not self.stopping:
            proto.transport.pause_reading()
            self._paced[proto] = None
        if not self._pending_since:
            self._pending_since = time.monotonic_ns()
            self._wake.set()

    def _resume_paced(self) -> None:
        """Let the paced connections read again (not while the rings hold reading back)."""
        paced, self._paced = self._paced, {}
        if not self.paused:
            for proto in paced:
                if not proto.transport.is_closing():
                    proto.transport.resume_reading()

    def _frame_pending(self) -> None:
        """Frame what every stream connection holds, into the batchers."""
        streams = self._pending_streams
        if streams:
            self._pending_streams = {}
            self._pending_since = 0
            for proto in streams:
                proto.frame_pending()

    def tcp_frames(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray, source: str, nbytes: int
    ) -> None:
        self._stream_frames(self.tcp, TCP, buf, starts, ends, flags, source, nbytes)

    def tls_frames(
        self, buf: bytes, starts: np.ndarray, ends: np.ndarray, flags: np.ndarray, source: str, nbytes: int
    ) -> None:
        """Frames of a TLS connection (`nbytes`: decrypted bytes, framing included)."""
        self._stream_frames(self.tls, TLS, buf, starts, ends, flags, source, nbytes)

    def _stream_frames(
        self,
        batcher: Batcher,
        protocol: int,
        buf: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        flags: np.ndarray,
        source: str,
        nbytes: int,
    ) -> None:
        k = len(starts)
        if k:
            batcher.add(buf, starts, ends, flags, source)
            self.m_msgs[protocol].inc(k)
            self.delay.note(k, time.monotonic_ns())
            truncated = int((flags & TRUNCATED).sum())
            if truncated:
                self.m_trunc.inc(truncated)
        if nbytes:
            self.m_bytes[protocol].inc(nbytes)
        if batcher.pending_bytes >= batcher.batch_bytes:
            self._flush_tcp()
        elif k:
            self._wake.set()

    def tls_handshake(self, outcome: str, source: str, reason: str) -> None:
        """Counted once per TLS connection; failures are logged, rate limited."""
        self.m_tls_handshakes[outcome].inc()
        if outcome != OK:
            self._tls_log.warning(
                "TLS handshake with %s %s: %s", source, "failed" if outcome == FAILED else "timed out", reason
            )

    def tls_error(self, source: str, reason: str) -> None:
        """A TLS error after the handshake (a corrupt record): the connection is dropped."""
        self._tls_log.warning("TLS connection from %s broken (%s); closing it", source, reason)

    def load_tls(self) -> None:
        """Build the server context from the [tls] files. Raises TlsConfigError."""
        self.tls_context = build_context(self.settings.tls)

    def tcp_connection(self) -> SyslogTcpProtocol:
        """The protocol of a new TCP connection."""
        return SyslogTcpProtocol(self, self.max_len)

    def tls_connection(self) -> SyslogTlsProtocol:
        """The protocol of a new TLS connection, under the context in force now (so a SIGHUP
        reload applies from the next connection on)."""
        if self.tls_context is None:
            raise TlsConfigError("no TLS certificate loaded")  # load_tls runs before listening
        return SyslogTlsProtocol(self, self.max_len, self.tls_context)

    def reload_tls(self) -> None:
        """SIGHUP: new files for new connections; on failure the context in force stays."""
        try:
            self.load_tls()
        except TlsConfigError as exc:
            self.m_tls_reloads[FAILED].inc()
            log.error("SIGHUP: TLS certificate not reloaded, keeping the one in force: %s", exc)
            return
        self.m_tls_reloads[OK].inc()
        log.info("SIGHUP: TLS certificate and key reloaded from %s", self.settings.tls.cert_file)

    def udp_started(self) -> None:
        """The first datagram of a bulk arrived: start its batch-delay clock."""
        if not self._udp_since:
            self._udp_since = time.monotonic_ns()
        self._wake.set()

    def udp_ready(self, proto: SyslogUdpProtocol) -> None:
        """A full bulk of datagrams: into the batcher now."""
        self._take_udp(proto)
        if self.udp.pending_bytes >= self.udp.batch_bytes:
            self._flush_udp()

    def _take_udp(self, proto: SyslogUdpProtocol) -> None:
        datagrams, addrs = proto.take()
        self._udp_since = 0
        if not datagrams:
            return
        buf, starts, ends, flags, src, sources = udp_frames(datagrams, addrs, self.max_len)
        self.udp.add_many(buf, starts, ends, flags, src, sources)
        self.udp_truncated += int(flags.sum())

    def udp_error(self, exc: Exception) -> None:
        self.m_socket_err.inc()

    # --- moving batches into the rings --------------------------------------------------------
    def _flush_tcp(self) -> None:
        """Write the stream protocols' batches (TCP and TLS); pause or resume their reading."""
        if self.tcp.flush() and self.tls.flush():
            self.batches += 1
            if self.paused:
                self.paused = False
                for proto in self.connections:
                    proto.transport.resume_reading()
        elif not self.paused:
            self.paused = True
            for proto in self.connections:
                proto.transport.pause_reading()
            self._wake.set()  # the flusher may be asleep; it owns the retries from now on

    def _flush_udp(self) -> None:
        for proto in self.udp_protocols:
            self._take_udp(proto)
        frames = self.udp.pending_frames
        nbytes = self.udp.pending_bytes
        if not frames:
            return
        if not self.udp.flush():
            dropped, _ = self.udp.drop_all()
            self._count_dropped(dropped)
        self.batches += 1
        # Counted once the batch's fate is known: received includes what was then dropped.
        self.m_msgs[UDP].inc(frames)
        self.delay.note(frames, time.monotonic_ns())
        self.m_bytes[UDP].inc(nbytes)
        if self.udp_truncated:
            self.m_trunc.inc(self.udp_truncated)
            self.udp_truncated = 0

    def _count_dropped(self, frames: int) -> None:
        """Frames that found every ring full: the disk's fault when the writer says it is low."""
        (self.m_disk_full if self.writer_flags.disk_low() else self.m_ring_full).inc(frames)

    async def flusher(self) -> None:
        """Writes batches `batch_delay` (by load: `self.delay`) after their first frame, and
        retries while paused."""
        while True:
            if self.paused:
                await asyncio.sleep(RETRY_S)
                self._flush_tcp()
                # Datagrams do not wait for TCP: those the rings cannot take are dropped and
                # counted now, not held until the rings have room.
                if self._udp_due():
                    self._flush_udp()
                continue
            clocks = (
                self.tcp.oldest_ns(),
                self.tls.oldest_ns(),
                self.udp.oldest_ns(),
                self._udp_since,
                self._pending_since,
            )
            oldest = min((t for t in clocks if t), default=0)
            if not oldest:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic_ns()
            delay_ns = self.delay.ns(now)
            wait = (oldest + delay_ns - now) / 1e9
            if self._paced and wait <= PACE_LEAD_S:
                self._resume_paced()
            if wait > 0:
                # (still paced here means wait > PACE_LEAD_S: wake at the lead, then again)
                await asyncio.sleep(min(wait - PACE_LEAD_S if self._paced else wait, delay_ns / 1e9))
                continue
            self._frame_pending()
            if self._paced:  # paused in the lead: nothing pending of theirs is left to wake us
                self._resume_paced()
            if self.tcp.pending_frames or self.tls.pending_frames:
                self._flush_tcp()
            if self.udp.pending_frames or self._udp_since:
                self._flush_udp()

    def _udp_due(self) -> bool:
        oldest = min((t for t in (self.udp.oldest_ns(), self._udp_since) if t), default=0)
        now = time.monotonic_ns()
        return bool(oldest) and now - oldest >= self.delay.ns(now)

    async def idle_sweeper(self) -> None:
        """Once a second: close the stream connections idle for longer than ingest.idle_timeout."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            if self.paused:
                self.streams.all_read_now(now)
            elif not self.stopping:
                self.streams.sweep(now)

    async def heartbeat(self) -> None:
        beats = 0
        while True:
            self.shm.beat(self.batches)
            if beats % KERNEL_DROPS_EVERY == 0:
                self.kernel_drops.poll()
            beats += 1
            await asyncio.sleep(HEARTBEAT_S)

    async def drain(self, deadline: float) -> None:
        """Everything read so far into the rings, waiting for space until `deadline`."""
        if self._paced:
            # What paced connections left in the kernel's buffers was sent before the drain.
            self._resume_paced()
            await asyncio.sleep(DRAIN_READ_S)
        self.stopping = True
        for proto in list(self.connections):
            proto.transport.pause_reading()
            proto.finish(cut=True)
        self._flush_udp()
        while not (self.tcp.flush() and self.tls.flush()):
            if time.monotonic() > deadline:
                frames = self.tcp.drop_all()[0] + self.tls.drop_all()[0]
                log.error("drain deadline passed: %d frames could not be written", frames)
                self._count_dropped(frames)
                break
            await asyncio.sleep(RETRY_S)
        for proto in list(self.connections):
            proto.transport.abort()


async def _serve(settings: Settings, spec: WorkerSpec) -> None:
    shm = WorkerShm(spec)
    rings = [RingProducer(shm.dir.ring(name)) for name in spec.raw_rings]
    receiver = Receiver(settings, spec, shm, rings)
    loop = asyncio.get_running_loop()
    accept_errors = AcceptErrors(shm.metrics)
    acceptors: list[Acceptor] = []
    transports: list[asyncio.DatagramTransport] = []

    def accept(key: str, factory: Callable[[], StreamConnection], protocol: str) -> None:
        host, _ = parse_hostport(getattr(settings.listen, key))
        sock = tcp_listener(host, spec.ports[key], settings.listen.tcp_backlog)
        acceptors.append(Acceptor(sock, factory, protocol, receiver.streams, shm.metrics, accept_errors))

    try:
        if "syslog_tcp" in spec.ports:
            accept("syslog_tcp", receiver.tcp_connection, "tcp")
        if "syslog_tls" in spec.ports:
            try:
                receiver.load_tls()
            except TlsConfigError as exc:  # checked by the supervisor; changed since?
                raise BootError(str(exc)) from None
            accept("syslog_tls", receiver.tls_connection, "tls")
            loop.add_signal_handler(signal.SIGHUP, receiver.reload_tls)
        if "syslog_udp" in spec.ports:
            host, _ = parse_hostport(settings.listen.syslog_udp)
            sock = udp_socket(host, spec.ports["syslog_udp"], settings.listen.udp_recv_buffer.bytes)
            receiver.kernel_drops.watch(sock)
            transport, proto = await loop.create_datagram_endpoint(lambda: SyslogUdpProtocol(receiver), sock=sock)
            receiver.udp_protocols.append(proto)
            transports.append(transport)
    except OSError as exc:
        raise BootError(f"cannot listen: {exc}") from exc

    for acceptor in acceptors:
        acceptor.start()
    stop = asyncio.Event()
    loop.add_signal_handler(DRAIN_SIGNAL, stop.set)
    tasks = [asyncio.ensure_future(receiver.flusher()), asyncio.ensure_future(receiver.heartbeat())]
    if receiver.streams.idle_timeout_s:
        tasks.append(asyncio.ensure_future(receiver.idle_sweeper()))
    shm.set_state(control.READY)
    log.info("listening on %s", spec.ports)
    await stop.wait()

    shm.set_state(control.DRAINING)
    deadline = time.monotonic() + settings.supervisor.drain_timeout.seconds
    for acceptor in acceptors:
        acceptor.close()
    receiver.kernel_drops.poll()  # the last count, while the sockets still exist
    for transport in transports:
        transport.close()
    await receiver.drain(deadline)
    for task in tasks:
        task.cancel()
    shm.set_state(control.STOPPED)


def run(settings: Settings, spec: WorkerSpec) -> None:
    uvloop.run(_serve(settings, spec))
