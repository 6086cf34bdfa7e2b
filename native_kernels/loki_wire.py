"""A walk over a Loki `PushRequest` (engine/push/proto/push.proto) in protobuf wire format: its
streams' label texts and its entries' parts as spans of the body and numbers, for the parser to
make rows of without JSON (engine.parse.loki_rows).

A message field given twice (which protobuf merges) or a group makes the walk give up with
WALK_GENERAL; the caller then takes the general path (engine.push.loki). Strings are not checked
for UTF-8 here: the API parsed the body with the protobuf library before it was accepted.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from native_kernels.jit import kernel
from native_kernels.protobuf_wire import WALK_DAMAGED, WALK_GENERAL, WALK_OK, length, skip, tag, varint

# Columns of `entries` (int64 each).
E_STREAM = 0  # index into streams
E_SECONDS = 1  # Timestamp.seconds (int64)
E_NANOS = 2  # Timestamp.nanos (int32)
E_LINE_S = 3  # the line's span (empty when absent)
E_LINE_E = 4
E_META_0 = 5  # the entry's structured metadata: meta[E_META_0:E_META_1]
E_META_1 = 6
E_SIZE = 7  # the entry's bytes on the wire
ENTRY_COLUMNS = 8

# Columns of `meta`: a structured metadata pair's name and value spans.
M_NAME_S = 0
M_NAME_E = 1
M_VAL_S = 2
M_VAL_E = 3
META_COLUMNS = 4

# Columns of `streams`: the label text's span (empty when absent).
ST_LABELS_S = 0
ST_LABELS_E = 1
STREAM_COLUMNS = 2


class LokiWalk(NamedTuple):
    """What `walk` found: `status` (otlp_wire's WALK_*), and the tables above, cut to their rows."""

    status: int
    streams: npt.NDArray[np.int64]
    entries: npt.NDArray[np.int64]
    meta: npt.NDArray[np.int64]


@kernel
def _pair(buf, pos, end, meta, m):
    """LabelPairAdapter buf[pos:end] into meta[m]; returns a status."""
    names = values = 0
    meta[m, M_NAME_S] = meta[m, M_NAME_E] = meta[m, M_VAL_S] = meta[m, M_VAL_E] = pos
    while pos < end:
        field, wire, pos = tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED
        if wire == 2 and (field == 1 or field == 2):
            ln, pos = length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED
            if field == 1:
                names += 1
                meta[m, M_NAME_S], meta[m, M_NAME_E] = pos, pos + ln
            else:
                values += 1
                meta[m, M_VAL_S], meta[m, M_VAL_E] = pos, pos + ln
            pos += ln
        else:
            pos = skip(buf, pos, end, wire)
            if pos < 0:
                return WALK_DAMAGED if pos == -1 else WALK_GENERAL
    return WALK_OK if names <= 1 and values <= 1 else WALK_GENERAL


@kernel
def _timestamp(buf, pos, end, entry):
    """google.protobuf.Timestamp buf[pos:end] into entry's seconds and nanos; a status."""
    while pos < end:
        field, wire, pos = tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED
        if (field == 1 or field == 2) and wire == 0:
            v, pos = varint(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED
            if field == 1:
                entry[E_SECONDS] = v
            else:
                v &= 0xFFFFFFFF  # an int32
                entry[E_NANOS] = v - (1 << 32) if v >= (1 << 31) else v
        else:
            pos = skip(buf, pos, end, wire)
            if pos < 0:
                return WALK_DAMAGED if pos == -1 else WALK_GENERAL
    return WALK_OK


@kernel
def _entry(buf, pos, end, entry, meta, n_meta):
    """EntryAdapter buf[pos:end] into entry (a row of entries); returns (status, pairs used)."""
    for c in range(ENTRY_COLUMNS):
        entry[c] = 0
    entry[E_META_0] = entry[E_META_1] = n_meta
    entry[E_SIZE] = end - pos
    stamps = lines = 0
    while pos < end:
        field, wire, pos = tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, n_meta
        if wire == 2 and (field == 1 or field == 2 or field == 3):
            ln, pos = length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED, n_meta
            if field == 1:
                stamps += 1
                if stamps > 1:
                    return WALK_GENERAL, n_meta
                status = _timestamp(buf, pos, pos + ln, entry)
                if status != WALK_OK:
                    return status, n_meta
            elif field == 2:
                lines += 1
                entry[E_LINE_S], entry[E_LINE_E] = pos, pos + ln
            else:
                status = _pair(buf, pos, pos + ln, meta, n_meta)
                if status != WALK_OK:
                    return status, n_meta
                n_meta += 1
                entry[E_META_1] = n_meta
            pos += ln
        else:  # `parsed` (4), which Loki's push handler ignores too, and newer fields
            pos = skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), n_meta
    return (WALK_OK if lines <= 1 else WALK_GENERAL), n_meta


@kernel
def _stream(buf, pos, end, s, streams, entries, n_entries, meta, n_meta):
    """StreamAdapter buf[pos:end] into streams[s]; returns (status, entries used, pairs used)."""
    streams[s, ST_LABELS_S] = streams[s, ST_LABELS_E] = 0
    labels = 0
    while pos < end:
        field, wire, pos = tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, n_entries, n_meta
        if wire == 2 and (field == 1 or field == 2):
            ln, pos = length(buf, pos, end)
            if pos < 0:
                return WALK_DAMAGED, n_entries, n_meta
            if field == 1:
                labels += 1
                if labels > 1:
                    return WALK_GENERAL, n_entries, n_meta
                streams[s, ST_LABELS_S], streams[s, ST_LABELS_E] = pos, pos + ln
            else:
                status, n_meta = _entry(buf, pos, pos + ln, entries[n_entries], meta, n_meta)
                if status != WALK_OK:
                    return status, n_entries, n_meta
                entries[n_entries, E_STREAM] = s
                n_entries += 1
            pos += ln
        else:  # `hash` (3)
            pos = skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), n_entries, n_meta
    return WALK_OK, n_entries, n_meta


@kernel
def _walk(buf, streams, entries, meta):
    """Returns (status, streams, entries, pairs) found."""
    end = buf.shape[0]
    pos = 0
    n_streams = n_entries = n_meta = 0
    while pos < end:
        field, wire, pos = tag(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, 0, 0, 0
        if not (field == 1 and wire == 2):  # `format` (2), and newer fields
            pos = skip(buf, pos, end, wire)
            if pos < 0:
                return (WALK_DAMAGED if pos == -1 else WALK_GENERAL), 0, 0, 0
            continue
        ln, pos = length(buf, pos, end)
        if pos < 0:
            return WALK_DAMAGED, 0, 0, 0
        status, n_entries, n_meta = _stream(buf, pos, pos + ln, n_streams, streams, entries, n_entries, meta, n_meta)
        if status != WALK_OK:
            return status, 0, 0, 0
        n_streams += 1
        pos += ln
    return WALK_OK, n_streams, n_entries, n_meta


def walk(body: npt.NDArray[np.uint8]) -> LokiWalk:
    """The streams and entries of the PushRequest in `body` (see the module docstring)."""
    # Every stream, entry and pair takes at least two bytes (a tag and a length).
    bound = len(body) // 2 + 1
    streams = np.empty((bound, STREAM_COLUMNS), np.int64)
    entries = np.empty((bound, ENTRY_COLUMNS), np.int64)
    meta = np.empty((bound, META_COLUMNS), np.int64)
    status, n_streams, n_entries, n_meta = _walk(body, streams, entries, meta)
    return LokiWalk(int(status), streams[:n_streams], entries[:n_entries], meta[:n_meta])
