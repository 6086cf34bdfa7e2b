"""Turns column batches from one parser's ring into `Rows`, keeping that parser's dictionaries.

A parser sends each dictionary value once (with its parser-local id) and bumps an epoch when it
resets its table; `RingIntake` keeps the values per (column, epoch) so that ids in later
batches resolve. On an epoch change a new list is started rather than the old one cleared:
batches still pending a flush keep referring to the list they were decoded with.

Duplicates: a parser that crashed after writing a batch but before releasing its input re-parses
that input. Every batch names the raw ring record it came from (`in`: ring name and end
position); a batch at or before the last position seen from that ring is a duplicate.
"""

from __future__ import annotations

import numpy as np

from engine.batch import decode_columns
from engine.store.rows import DICT_COLUMNS, Rows

DICT_KEYS = DICT_COLUMNS + ("fieldkey",)


class RingIntake:
    """Dictionary state of one parser ring."""

    def __init__(self):
        self.epochs: dict[str, int] = {c: -1 for c in DICT_KEYS}
        self.values: dict[str, list[bytes]] = {c: [] for c in DICT_KEYS}

    def _apply_dicts(self, updates: dict) -> None:
        for col, (epoch, entries) in updates.items():
            if epoch != self.epochs[col]:
                self.epochs[col] = epoch
                self.values[col] = []
            values = self.values[col]
            for vid, value in entries:
                if vid != len(values) + 1:
                    raise ValueError(f"{col}: dictionary id {vid} out of sequence (have {len(values)})")
                values.append(value)

    def decode(self, payload) -> tuple[dict, Rows]:
        header, a = decode_columns(payload)
        self._apply_dicts(header.get("dicts", {}))
        rows = Rows(
            time=a["time"], recv=a["recv"],
            severity=a["severity"], facility=a["facility"], format=a["format"], flags=a["flags"],
            ids={c: a[c] for c in DICT_COLUMNS},
            dicts=dict(self.values),
            msg_off=a["msg_off"].astype(np.int64), msg_data=a["msg_data"],
            sd_off=a["sd_off"].astype(np.int64), sd_data=a["sd_data"],
            kv_ptr=a["kv_ptr"].astype(np.int64), kv_key=a["kv_key"], kv_kind=a["kv_kind"],
            kv_off=a["kv_off"].astype(np.int64), kv_data=a["kv_data"],
            extra={"raw_bytes": header.get("raw_bytes", 0)},
        )
        return header, rows
