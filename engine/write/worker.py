"""Writer worker: reads column batches from every parser ring and flushes them as parts.

The writer reads ahead in its rings but releases a record only after the part holding its rows
is on disk (renamed and the folder fsynced): the rings are the write-ahead log, so a writer
crash loses nothing. A flush happens when a ring is half full, when enough rows are pending, or
when the oldest pending row would otherwise be visible later than `flush_interval` after its
receipt: the clock starts at the row's receive time (not when the writer took its batch, which
is later by the parser's share), and the flush starts early by the time flushes have recently
taken (`FlushClock`), so the part is renamed by the deadline whatever the load. With nothing
pending the writer sleeps on its rings' doorbells (`engine.worker.loop.RingSleep`); once rows
wait for a flush it sleeps until the flush is due, deaf to the bells while its rings have room
(`Writer.holding`), so at a low rate it wakes about twice per flush, not once per parser batch.

Parts are merged and old ones deleted by a background thread (`engine.write.merge`), which
gets each flush's parts once the flush is whole.

Disk full (`engine.write.disk_guard`): below `storage.min_free_bytes`, or after a write got
ENOSPC or EDQUOT, the writer neither flushes nor reads its rings. A failed flush leaves no part
behind and keeps its rows pending (their ring records are not released), so nothing is lost;
rings fill and receivers hold back TCP senders. Writing resumes when space comes back.

Drain (the drain signal, sent after every parser has exited): read the rings dry, stop the merge thread
(a merge in progress is abandoned; its temporary file is removed), flush, exit. A disk below its
minimum at shutdown: from the moment the supervisor begins the drain (receivers draining) the
writer writes into the `min_free_bytes` margin, so the parsers can empty their rings; a flush
that gets ENOSPC even so is retried until DRAIN_GIVE_UP of `supervisor.drain_timeout`; rows still
unwritten then are lost, logged, counted (`dropped_messages_total{reason="disk_full"}`) and the
writer exits with an error (so does `logjet serve`).
"""

from __future__ import annotations

import logging
import os
import time

from engine.errors import LogjetError
from engine.ipc import control
from engine.ipc.record_kinds import KIND_COLUMNS
from engine.config import Settings
from engine.worker.process import BootError, StopFlag, WorkerSpec
from engine.ipc.ring import Record, RingConsumer
from engine.store.part_writer import IndexBuilder
from engine.store.free_space import describe, is_disk_full
from engine.store.rows import Rows, concat
from engine.worker.loop import IDLE_WAKE_S, RingSleep, WorkerShm, idle_wake_s
from engine.write.disk_guard import RETRY_S, DiskGuard
from engine.write.intake import DictionaryLog, RingIntake
from engine.write.merge import Merger
from engine.write.flush_writer import FlushWriter
from engine.write.recovery import recover_positions, remove_replaced_parts, remove_temporaries
from engine.write.storage_stats import StorageStats

log = logging.getLogger("logjet.write")

# Flush before a ring is this full: the rest is headroom for the parsers while we write.
RING_FLUSH_SHARE = 0.5
# Upper bound on rows in one flush, to bound the writer's memory and flush time.
MAX_FLUSH_ROWS = 2_000_000
# While rows wait for their flush and every ring is at most this full, the writer sleeps until
# the flush is due instead of waking for each batch a parser publishes (see `Writer.holding`).
HOLD_SHARE = 0.125
# Records read from one ring before looking at the others (fairness).
READS_PER_TURN = 64
# A drain that cannot write (disk full) gives up after this share of supervisor.drain_timeout,
# so that it can count and log what it loses before the supervisor kills it.
DRAIN_GIVE_UP = 0.75
# The loop's nap while the disk is low (nothing to do but heartbeats and free-space checks).
LOW_DISK_NAP_S = 0.05


# How much of flush_interval a flush may be started early by (the rest is the rows' wait).
MAX_LEAD_SHARE = 0.5
# Weight of the newest flush in the running estimate of flush duration.
LEAD_WEIGHT = 0.25


class FlushClock:
    """When pending rows must be flushed: `flush_interval` after the oldest one's receipt, less
    the time a flush takes (a running estimate, at most MAX_LEAD_SHARE of the interval), so
    that rows are visible by their deadline at any rate. Monotonic ns throughout; receive times
    (wall clock) are turned into ages once, when a batch is taken, so a clock step moves nothing."""

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self.lead_ns = 0.0
        self.oldest = 0  # monotonic ns at which the oldest pending row was received; 0: none

    def took(self, oldest_recv_ns: int, now_mono: int, now_wall: int) -> None:
        """A batch whose oldest row was received at wall time `oldest_recv_ns` is pending."""
        age = min(max(0, now_wall - oldest_recv_ns), self.interval_ns)
        received = now_mono - age
        self.oldest = received if not self.oldest else min(self.oldest, received)

    def due_in_ns(self, now_mono: int) -> int:
        """Nanoseconds until the flush is due (<= 0: now)."""
        return int(self.oldest + self.interval_ns - self.lead_ns - now_mono)

    def flushed(self, took_ns: int) -> None:
        self.lead_ns += LEAD_WEIGHT * (min(took_ns, self.interval_ns * MAX_LEAD_SHARE) - self.lead_ns)
        self.oldest = 0


class DiskFullAtShutdown(LogjetError):
    """The drain could not write the rows it held: the disk stayed full."""


class Writer:
    def __init__(self, settings: Settings, spec: WorkerSpec, shm: WorkerShm):
        self.settings = settings
        self.spec = spec
        self.shm = shm
        self.data_dir = settings.data_dir
        st = settings.storage
        self.clock = FlushClock(st.flush_interval.ns)
        self.consumers = [RingConsumer(shm.dir.ring(name)) for name in spec.input_rings]
        self.intakes = [RingIntake(DictionaryLog(shm.dir.dictionary_log(name))) for name in spec.input_rings]
        index_builder = _index_builder(settings)
        self.parts = FlushWriter(
            self.data_dir,
            spec.instance,
            st.block_rows,
            st.zstd_level,
            st.fsync,
            index_builder=index_builder,
            derive_fields=st.derive_fields,
        )
        slot = spec.slot
        self.disk = DiskGuard(
            self.data_dir,
            st.min_free_bytes,
            shm.metrics,
            publish=lambda low: shm.control.set_flag(slot, control.FLAG_DISK_LOW, low),
        )
        # Merges and retention, on their own thread (see engine.write.merge for why).
        self.merger = Merger(
            settings, spec.instance, self.parts, index_builder, shm.metrics, min_free_bytes=self.disk.minimum
        )
        self.pending: list[Rows] = []
        self.pending_rows = 0
        self.release_to: dict[int, tuple[int, int]] = {}  # consumer index → (end_pos, records)
        self.positions: dict[str, int] = {}  # ring name → last end position read (on disk after flush)
        self.skip_until: dict[str, int] = {}
        m = shm.metrics
        self.m_rows = m.counter("written_rows_total")
        self.m_parts = m.counter("written_parts_total", origin="flush")
        self.m_dups = m.counter("dropped_messages_total", reason="duplicate")
        self.m_damaged = m.counter("dropped_messages_total", reason="damaged_batch")
        self.m_disk_full = m.counter("dropped_messages_total", reason="disk_full")
        self.h_flush = m.histogram("flush_duration_seconds")
        self.h_visible = m.histogram("ingest_to_visible_seconds")
        self.stats = StorageStats(self.data_dir, m)
        self.flushes = 0
        # perf_counter at the end of a sleep through the bells (see `holding`), else None: the
        # batches that came meanwhile are read on the flush's path, so their reading counts
        # towards the flush's duration and the clock starts later flushes that much earlier.
        self.held_until: float | None = None

    def recover(self) -> None:
        """On a restart, or when draining a dead instance's rings: skip what that instance's
        writers already put on disk."""
        positions, max_seq = recover_positions(self.data_dir, self.spec.instance)
        self.parts.seq = max(self.parts.seq, max_seq)
        self.positions.update(positions)
        for name in self.spec.input_rings:
            if name in positions:
                self.skip_until[name] = positions[name]

    def poll(self) -> int:
        """Read what the rings hold; returns records read."""
        got = 0
        for i, consumer in enumerate(self.consumers):
            name = self.spec.input_rings[i]
            for _ in range(READS_PER_TURN):
                rec = consumer.read()
                if rec is None:
                    break
                got += 1
                self._take(i, name, rec)
        return got

    def _take(self, i: int, name: str, rec: Record) -> None:
        prev = self.release_to.get(i, (0, 0))
        self.release_to[i] = (rec.end_pos, prev[1] + 1)
        if rec.kind != KIND_COLUMNS:
            return
        try:
            if rec.end_pos <= self.skip_until.get(name, 0):
                # Its rows are on disk already (a predecessor's flush), but its dictionary
                # entries may be the only copy of values later batches refer to.
                self.intakes[i].take_dictionaries(rec.payload)
                return
            batch, rows = self.intakes[i].decode(rec.payload)
        except (ValueError, KeyError) as exc:
            log.error("damaged column batch in %s at %d: %s", name, rec.end_pos, exc)
            self.m_damaged.inc()
            return
        src, src_end = batch.origin or ("", 0)
        if src and src_end <= self.positions.get(src, -1):
            self.m_dups.inc(len(rows))
            return
        if src:
            self.positions[src] = src_end
        self.positions[name] = rec.end_pos
        if len(rows):
            self.clock.took(int(rows.recv.min()), time.monotonic_ns(), time.time_ns())
        self.pending.append(rows)
        self.pending_rows += len(rows)

    def next_due_s(self) -> float:
        """Seconds until the pending rows' flush is due by the clock (IDLE_WAKE_S with none)."""
        if not self.pending:
            return IDLE_WAKE_S
        if not self.clock.oldest:
            return 0.0
        return max(0.0, min(IDLE_WAKE_S, self.clock.due_in_ns(time.monotonic_ns()) / 1e9))

    def holding(self) -> bool:
        """Whether the writer may sleep through its doorbells until the pending rows' flush is
        due: it has rows waiting on the flush clock and every ring has room to spare. A batch
        read at once or at the flush goes into the same part, so waking for each one (fifty a
        second at the default batch_delay, whatever the rate) would be CPU spent for nothing;
        the flush reads whatever came meanwhile. The room test bounds what can pile up unread:
        a ring past HOLD_SHARE brings back a wake-up per batch, so RING_FLUSH_SHARE is still
        seen in time."""
        if not self.pending or not self.clock.oldest:
            return False
        return all(c.used_bytes <= c.capacity * HOLD_SHARE for c in self.consumers)

    def due(self) -> bool:
        if not self.pending:
            return bool(self.release_to)  # only skipped records: give their space back now
        if self.pending_rows >= MAX_FLUSH_ROWS:
            return True
        if not self.clock.oldest or self.clock.due_in_ns(time.monotonic_ns()) <= 0:
            return True  # (no clock: only empty batches are pending, nothing to wait for)
        return any(c.used_bytes > c.capacity * RING_FLUSH_SHARE for c in self.consumers)

    def flush(self) -> bool:
        """Write what is pending and release its ring records; False when the disk was full
        (nothing written, everything still pending)."""
        if self.pending:
            t0 = time.perf_counter() if self.held_until is None else self.held_until
            rows = concat(self.pending)
            try:
                written = self.parts.write_flush(rows, dict(self.positions))
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                self.disk.write_failed(exc)
                return False
            self.disk.write_succeeded()
            now = time.time_ns()
            took = time.perf_counter() - t0
            self.clock.flushed(int(took * 1e9))
            self.h_flush.observe(took)
            self.h_visible.observe_many((now - rows.recv) / 1e9)
            self.m_rows.inc(len(rows))
            self.m_parts.inc(len(written))
            self.stats.added(written)
            self.merger.add(written)
            self.pending = []
            self.pending_rows = 0
            self.held_until = None
            self.flushes += 1
        # Only now may the parsers reuse the ring space: the rows are on disk, and the
        # dictionary entries of the batches in the shared-memory log (see engine.write.intake).
        for intake in self.intakes:
            intake.persist()
        for i, (pos, records) in self.release_to.items():
            self.consumers[i].release(pos, records)
        self.release_to = {}
        return True

    def may_flush(self, use_margin: bool = False) -> bool:
        """Whether `flush` may run now: always when nothing is pending (it only releases
        records whose rows are on disk already), else when the disk has room (read now, unless
        known to be low: then at its usual pace)."""
        return not self.pending or self.disk.may_write(use_margin=use_margin, force=not self.disk.low)

    def drain_begun(self) -> bool:
        """Whether the supervisor has begun draining the engine (a receiver or the API is
        draining or stopped): the parsers can finish only if the writer takes their rows, so
        from now on the disk's margin may be used, as in the writer's own drain."""
        states = self.shm.control.slots["state"]
        return any(
            int(states[slot]) in (control.DRAINING, control.STOPPED)
            for name, slot in self.spec.all_slots
            if name.startswith(("receiver-", "api-"))
        )

    def rings_empty(self) -> bool:
        return all(c.pending_bytes() == 0 for c in self.consumers)


def _index_builder(settings: Settings) -> IndexBuilder | None:
    try:
        from engine.store.index_build import make_index_builder
    except ImportError:
        return None
    return make_index_builder(settings.storage)


def run(settings: Settings, spec: WorkerSpec) -> None:
    stop = StopFlag()
    stop.install()
    shm = WorkerShm(spec)
    try:
        os.makedirs(settings.data_dir, exist_ok=True)
        remove_temporaries(settings.data_dir)
        remove_replaced_parts(settings.data_dir)
    except OSError as exc:
        raise BootError(f"data dir {settings.data_dir}: {exc}") from exc
    writer = Writer(settings, spec, shm)
    if spec.restarts or spec.drain_only:
        writer.recover()
    if not spec.drain_only:
        writer.merger.load_existing()
        writer.merger.start()
    shm.set_state(control.READY)
    sleep = RingSleep(writer.consumers, idle_wake_s(settings.supervisor.heartbeat_timeout.seconds))
    give_up_at = 0.0  # set when the drain begins: see final_flush
    while True:
        if stop.stopping and not give_up_at:
            give_up_at = time.monotonic() + settings.supervisor.drain_timeout.seconds * DRAIN_GIVE_UP
        # While the disk is low the rings are left alone (they hold the backlog), except in
        # the drain, which must read them dry.
        margin = stop.stopping or (writer.disk.low and writer.drain_begun())
        writable = writer.disk.may_write(use_margin=margin)
        got = writer.poll() if writable or stop.stopping else 0
        if writer.due() and writer.may_flush(use_margin=margin):
            writer.flush()
        shm.beat(writer.flushes)
        if stop.stopping and not got and writer.rings_empty():
            break
        if got:
            continue
        if not writable and not stop.stopping:
            time.sleep(LOW_DISK_NAP_S)
        else:
            writer.stats.maybe_refresh()
            # Asleep until the pending rows' flush falls due, or (with nothing pending, rings
            # filling up, or in the drain, which reads the rings dry) until a parser publishes.
            held = writer.holding() and not stop.stopping
            sleep.wait(writer.next_due_s(), bells=not held)
            if held and writer.held_until is None:
                writer.held_until = time.perf_counter()
    shm.set_state(control.DRAINING)
    writer.merger.stop()
    final_flush(writer, give_up_at)
    shm.set_state(control.STOPPED)


def final_flush(writer: Writer, give_up_at: float) -> None:
    """The drain's last flush, retried while the disk is full until monotonic time `give_up_at`;
    then what could not be written is counted and logged, and DiskFullAtShutdown raised."""
    while True:
        if writer.may_flush(use_margin=True) and writer.flush():
            return
        if time.monotonic() > give_up_at:
            break
        writer.shm.beat(writer.flushes)
        time.sleep(RETRY_S / 4)
    lost = writer.pending_rows
    writer.m_disk_full.inc(lost)
    message = (
        f"disk full at shutdown: {lost} rows could not be written and are lost "
        f"(free {describe(writer.disk.free)}, storage.min_free_bytes {describe(writer.disk.minimum)})"
    )
    log.error("%s", message)
    raise DiskFullAtShutdown(message)
