"""Load every kernel the workers run (compiling them the first time) in one process, so the
workers forked from it start with them loaded: the fork server runs `warm_all` once per start.

Each step drives the real code over a few rows, in the order data takes: framing (receivers),
parsing (parsers), a flush and a merge written to a temporary folder and read back (writer),
then the API's query warm-up. A step that fails is logged and skipped: each worker still warms
what it needs itself before it says ready, so a failure here costs time, never correctness.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable

import numpy as np

from engine.config import Settings
from engine.ipc.raw_batch import LOKI_REQUEST, OTLP_REQUEST, raw_batch_of
from engine.parse.batch_parser import BatchParser
from engine.parse import loki_rows, otlp_rows
from engine.parse.time_bounds import TimeBounds
from engine.query import pool
from engine.query.catalog import Catalog
from engine.query.execute import PreparedQuery
from engine.query.warmup import warm_up as warm_queries
from engine.receive.framing import Framer
from engine.store.index_build import make_index_builder
from engine.store.rows import Rows
from engine.write.flush_writer import FlushWriter
from engine.write.intake import RingIntake

log = logging.getLogger("logjet.warmup")

FRAMES = [
    b'<13>1 2003-10-11T22:14:15.003Z h a 1 m [x@1 y="1"] k=v msg',
    b"<13>Oct 11 22:14:15 h a[1]: m user=root",
    b'{"msg": "x", "level": "info", "a": {"b": 1}}',
    b"plain line",
]
# What a query over parts runs that the in-memory query warm-up does not: block decoding,
# index lookups of merged parts.
PART_QUERIES = ["user:root | stats count() by (host)", 'msg "plain line"', "plain", "* | limit 5"]


def warm_framing() -> None:
    """The receivers' framing kernels: LF lines and octet counts."""
    Framer(8192).feed(b"\n".join(FRAMES) + b"\n")
    Framer(8192).feed(b"".join(b"%d %s\n" % (len(f) + 1, f) for f in FRAMES))


def warm_parsing(settings: Settings) -> Rows:
    """The parsers' kernels; returns the rows as the writer would take them from a ring."""

    def parser() -> BatchParser:
        return BatchParser(settings.parse, None, TimeBounds.of(settings), settings.ingest.max_message_bytes)

    # Its own parser: the rows below must be the first its dictionaries see, as the writer's are.
    parser().parse(raw_batch_of([otlp_rows.warm_up_request()], time.time_ns(), flags=OTLP_REQUEST))
    parser().parse(raw_batch_of([loki_rows.warm_up_request()], time.time_ns(), flags=LOKI_REQUEST))
    batch = parser().parse(raw_batch_of(FRAMES, time.time_ns()))
    _, rows = RingIntake().decode(batch.encode())
    return rows


def warm_storage(settings: Settings, rows: Rows) -> None:
    """The writer's: a flush (level 0), a merge (indexed, level 1), both read back by queries."""
    st = settings.storage
    with tempfile.TemporaryDirectory(prefix="logjet-warmup-") as folder:
        parts = FlushWriter(folder, "warmup", st.block_rows, st.zstd_level, False, make_index_builder(st))
        parts.write_flush(rows, {})
        parts.write_flush(rows, {}, level=1)
        # Parts of one row decode through other paths (a block's buffers are not always shared).
        for i in range(len(rows)):
            parts.write_flush(rows.take(np.array([i])), {})
        catalog = Catalog(folder)
        for q in PART_QUERIES:
            for _ in PreparedQuery(q).objects(catalog):
                pass
    # Reading parts started the query thread pool; a process that forks must hold no threads.
    pool.shut_down()


def warm_all(settings: Settings | None = None) -> dict[str, float]:
    """Run every step; the seconds each took (a failed one is logged and absent)."""
    settings = settings or Settings()
    took: dict[str, float] = {}

    def step(name: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        try:
            result = fn()
        except Exception:
            log.exception("kernel warm-up step %s failed; workers will warm it themselves", name)
            return None
        took[name] = time.perf_counter() - t0
        return result

    step("framing", warm_framing)
    got = step("parsing", lambda: warm_parsing(settings))
    if isinstance(got, Rows):
        step("storage", lambda: warm_storage(settings, got))
    step("queries", warm_queries)
    pool.shut_down()
    return took
