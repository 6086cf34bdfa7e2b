"""Rows → Loki streams: `[{"stream": {labels}, "values": [["<ns>", "<line>"], ...]}, ...]`.

A row's stream is its label set (see labels.py): the stream labels, and its fields after
`| json` or `| logfmt` (a field named like a stream label becomes `<name>_extracted`, as in
Loki). The line is the row's message. Rows keep the order they come in (the query's
direction) within their stream; streams come in the order their first row came.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from engine.query.logql.labels import STREAM_LABELS, code_label, sanitize
from engine.query.logql.translate import LabelView
from engine.query.objects import JsonObject
from engine.store.rows import FIELD_KEYS, KV_FIELD, Rows


class StreamBuilder:
    def __init__(self, view: LabelView):
        self.view = view
        self.streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        self.entries = 0
        self.bytes = 0

    def add(self, rows: Rows) -> None:
        n = len(rows)
        if not n:
            return
        base = self._stream_labels(rows)
        off = rows.msg_off
        data = rows.msg_data
        times = rows.time.tolist()
        for i in range(n):
            labels = base[i] if not self.view.parsed else self._with_fields(base[i], rows, i)
            line = data[off[i] : off[i + 1]].tobytes()
            self.bytes += len(line)
            self.streams.setdefault(labels, []).append([str(times[i]), line.decode("utf-8", "replace")])
        self.entries += n

    def _stream_labels(self, rows: Rows) -> list[tuple[tuple[str, str], ...]]:
        """Per row, its stream labels, worked out once per distinct combination."""
        cols = np.stack(
            [rows.ids["host"].astype(np.int64), rows.ids["app"].astype(np.int64), rows.severity, rows.facility], axis=1
        )
        uniq, inverse = np.unique(cols, axis=0, return_inverse=True)
        made = []
        for host, app, sev, fac in uniq.tolist():
            values = {
                "host": rows.dicts["host"][host - 1].decode("utf-8", "replace") if host else None,
                "app": rows.dicts["app"][app - 1].decode("utf-8", "replace") if app else None,
                "severity": code_label("severity", sev),
                "facility": code_label("facility", fac),
                "detected_level": code_label("detected_level", sev),
            }
            made.append(tuple((k, v) for k in STREAM_LABELS if (v := values[k]) and self.view.shows(k)))
        return [made[k] for k in inverse.reshape(-1).tolist()]

    def _with_fields(self, base: tuple[tuple[str, str], ...], rows: Rows, i: int) -> tuple[tuple[str, str], ...]:
        labels = dict(base)
        keys = rows.dicts[FIELD_KEYS]
        for j in range(int(rows.kv_ptr[i]), int(rows.kv_ptr[i + 1])):
            if rows.kv_kind[j] != KV_FIELD:
                continue
            name = sanitize(keys[int(rows.kv_key[j]) - 1].decode("utf-8", "replace"))
            if name in STREAM_LABELS:
                name += "_extracted"
            if name in labels or not self.view.shows(name):
                continue  # the first value of a key wins, as in row output
            value = rows.kv_data[rows.kv_off[j] : rows.kv_off[j + 1]].tobytes().decode("utf-8", "replace")
            if value:
                labels[name] = value
        return tuple(sorted(labels.items()))

    def result(self) -> list[JsonObject]:
        return [{"stream": dict(labels), "values": values} for labels, values in self.streams.items()]


def build_streams(batches: Iterable[Rows], view: LabelView) -> StreamBuilder:
    builder = StreamBuilder(view)
    for rows in batches:
        builder.add(rows)
    return builder
