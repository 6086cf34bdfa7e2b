"""Compile (or load from numba's cache) every kernel a query uses, before a worker says ready.

Runs a handful of queries covering each filter kind and stage over two rows in memory; the
first real query then pays no compilation (which costs up to a second per kernel).
"""

from __future__ import annotations

import numpy as np

from engine.query.execute import PreparedQuery
from engine.store.rows import DICT_COLUMNS, KV_FIELD, Rows

QUERIES = [
    'error "Failed password" fail* /fo+/ | stats count() by (host)',
    "host:web-1 user:root duration_ms:>5 | stats sum(duration_ms), count_uniq(user) by (app, host)",
    "_time:[0 TO 9999999999] severity:<=6 | histogram(1m)",
    "user:* | sort by (duration_ms desc) | limit 1",
    "* | top 3 by (user)",
    "* | limit 1",
    "* | fields host, user",
    "* | histogram(1m, bytes) by (host, user)",
]


def _rows() -> Rows:
    msgs = [b"error Failed password for root foo", b"user=root duration_ms=12"]
    msg_off = np.array([0, len(msgs[0]), len(msgs[0]) + len(msgs[1])], np.int64)
    vals = [b"root", b"12"]
    return Rows(
        time=np.array([1, 2], np.int64),
        recv=np.array([1, 2], np.int64),
        severity=np.array([6, 3], np.uint8),
        facility=np.array([1, 1], np.uint8),
        format=np.array([1, 2], np.uint8),
        flags=np.zeros(2, np.uint8),
        ids={c: np.array([1, 0], np.uint32) for c in DICT_COLUMNS},
        dicts={**{c: [b"web-1"] for c in DICT_COLUMNS}, "fieldkey": [b"user", b"duration_ms"]},
        msg_off=msg_off,
        msg_data=np.frombuffer(b"".join(msgs), np.uint8),
        sd_off=np.zeros(3, np.int64),
        sd_data=np.empty(0, np.uint8),
        kv_ptr=np.array([0, 0, 2], np.int64),
        kv_key=np.array([1, 2], np.uint32),
        kv_kind=np.full(2, KV_FIELD, np.uint8),
        kv_off=np.array([0, 4, 6], np.int64),
        kv_data=np.frombuffer(b"".join(vals), np.uint8),
    )


def warm_up() -> None:
    rows = _rows()
    for q in QUERIES:
        for _ in PreparedQuery(q).chunks_over_rows(rows):
            pass
