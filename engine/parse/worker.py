"""Parser worker: takes raw batches from its rings, parses them, writes column batches.

Each input record gives exactly one output record, tagged with the input ring and position
(`in`), and the input is released only after the output is published: a parser killed at any
point loses nothing (its successor re-reads from `read_pos`) and duplicates nothing (the writer
drops outputs whose `in` position it has already seen).

Drain (the drain signal, sent after every receiver has exited): empty the input rings, then exit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from engine.ipc import control
from engine.alert.ingest_alerts import IngestAlerts
from engine.ipc.batch_errors import BatchDecodeError
from engine.ipc.column_batch import ColumnBatch
from engine.ipc.raw_batch import LOKI_REQUEST, OTLP_REQUEST, RawBatch, raw_batch_of
from engine.ipc.record_kinds import KIND_COLUMNS, KIND_RAW
from engine.config import Settings
from engine.parse.batch_parser import BatchParser
from engine.parse import loki_rows, otlp_rows
from engine.parse.time_bounds import REASONS, TOO_NEW, TOO_OLD, TimeBounds
from engine.worker.process import StopFlag, WorkerSpec
from engine.ipc.ring import Record, RingConsumer, RingProducer
from native_kernels.syslog import FORMATS
from engine.worker.loop import Idle, RingSleep, WorkerShm, idle_wake_s

log = logging.getLogger("logjet.parse")


class Parser:
    def __init__(self, settings: Settings, spec: WorkerSpec, shm: WorkerShm):
        self.spec = spec
        self.shm = shm
        self.inputs = [RingConsumer(shm.dir.ring(name)) for name in spec.input_rings]
        self.output = RingProducer(shm.dir.ring(spec.column_ring))
        # The evaluator reads alert counts on its own clock: no doorbell to ring.
        alert_ring = RingProducer(shm.dir.ring(spec.alert_ring), doorbell=False) if spec.alert_ring else None
        self.alerts = IngestAlerts(shm.dir.alert_rules, shm.metrics, alert_ring)
        self.alerts.load()
        self.parser = BatchParser(
            settings.parse, self.alerts, TimeBounds.of(settings), settings.ingest.max_message_bytes
        )
        m = shm.metrics
        self.m_parsed = [m.counter("parsed_messages_total", format=f) for f in FORMATS]
        self.m_damaged = m.counter("dropped_messages_total", reason="damaged_batch")
        self.m_fallback = m.counter("dropped_messages_total", reason="parse_fallback")
        # Rows out of range by their time (too_old, too_new): adjusted or dropped, per the setting.
        counted = "dropped_messages_total" if self.parser.bounds.drop else "time_adjusted_total"
        self.m_out_of_range = [m.counter(counted, reason=REASONS[code]) for code in (TOO_OLD, TOO_NEW)]
        self.batches = 0
        self._next = 0

    def warm_up(self) -> None:
        """Compile (or load from numba's cache) every kernel before reporting ready."""
        frames = [
            b'<13>1 2003-10-11T22:14:15.003Z h a 1 m [x@1 y="1"] k=v msg',
            b"<13>Oct 11 22:14:15 h a[1]: m",
            b'{"msg": "x", "level": "info", "a": {"b": 1}}',
            b"plain",
        ]
        self.parser.alerts = None  # warm-up rows must not count towards alerts
        self.parser.parse(raw_batch_of(frames, time.time_ns()))
        self.parser.parse(raw_batch_of([otlp_rows.warm_up_request()], time.time_ns(), flags=OTLP_REQUEST))
        self.parser.parse(raw_batch_of([loki_rows.warm_up_request()], time.time_ns(), flags=LOKI_REQUEST))
        # Warm-up values must not reach the writer: start the dictionaries afresh.
        self.parser = BatchParser(self.parser.settings, self.alerts, self.parser.bounds, self.parser.max_len)

    def step(self) -> int:
        """Handle at most one record per input ring; returns records handled."""
        done = 0
        count = len(self.inputs)
        for k in range(count):
            i = (self._next + k) % count
            ring = self.inputs[i]
            rec = ring.read()
            if rec is None:
                continue
            if rec.kind == KIND_RAW:
                self._handle(self.spec.input_rings[i], rec)
            ring.release(rec.end_pos)
            done += 1
        self._next = (self._next + 1) % max(1, count)
        return done

    def _handle(self, ring_name: str, rec: Record) -> None:
        try:
            raw = RawBatch.decode(rec.payload)
        except BatchDecodeError as exc:
            log.error("damaged raw batch in %s at %d: %s", ring_name, rec.end_pos, exc)
            self.m_damaged.inc()
            return
        batch = self.parser.parse(raw)
        if batch.fallback:
            self.m_fallback.inc(batch.fallback)
        self._publish(replace(batch, origin=(ring_name, rec.end_pos)))
        for counter, rows in zip(self.m_out_of_range, batch.out_of_range):
            if rows:
                counter.inc(rows)
        counts = np.bincount(batch.format, minlength=len(FORMATS))
        for f, c in enumerate(counts[: len(FORMATS)]):
            if c:
                self.m_parsed[f].inc(int(c))
        self.batches += 1

    def _publish(self, batch: ColumnBatch) -> None:
        layout = batch.layout()
        idle = Idle()
        while True:
            view = self.output.reserve(layout.size)
            if view is not None:
                break
            # The writer frees space only after its next flush; keep proving we are alive.
            self.shm.beat(self.batches)
            idle.wait()
        try:
            batch.write(view, layout)
        finally:
            view.release()
        self.output.commit(KIND_COLUMNS, layout.size)

    def inputs_empty(self) -> bool:
        return all(r.pending_bytes() == 0 for r in self.inputs)


def run(settings: Settings, spec: WorkerSpec) -> None:
    stop = StopFlag()
    stop.install()
    shm = WorkerShm(spec)
    parser = Parser(settings, spec, shm)
    parser.warm_up()
    shm.set_state(control.READY)
    sleep = RingSleep(parser.inputs, idle_wake_s(settings.supervisor.heartbeat_timeout.seconds))
    while True:
        if stop.reload:
            stop.reload = False
            parser.alerts.load()
        done = parser.step()
        shm.beat(parser.batches)
        if done:
            continue
        if stop.stopping and parser.inputs_empty():
            break
        sleep.wait()
    shm.set_state(control.STOPPED)
