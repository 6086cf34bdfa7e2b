"""A Loki protobuf push request (a frame the API flagged `LOKI_REQUEST`, un-snappied) straight to
the row columns the JSON row decoder would make of its JSON frames (engine.push.loki), without them.

The wire walk (native_kernels.loki_wire) finds each entry's parts; strings stay spans of the
body. An entry's frame has the keys `time`, `message`, its stream's column labels, its own
structured metadata names and its stream's other labels, so all the entries of one stream with
the same metadata names share one shape: the decoder's own plan for that shape
(engine.parse.json_shapes) says which key fills which column and which stay fields, and the
stream's labels are worked out once, by the general path's `stream_shared`. Anything the
shortcut does not cover returns None and the caller takes the general path: a time before
1973, a severity value that is not a level, a key twice in a frame, a frame that might pass the
frame length limit, labels that do not parse.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from engine.parse.json_keys import DEFAULT_ROLES
from engine.parse.json_rows import _plan_for, _severity
from engine.parse.otlp_rows import OtlpRows, _distinct, _Pieces
from engine.push.bodies import PushRefused
from engine.push.loki import METADATA_PREFIX, parse_labels, stream_shared
from engine.push.rows import NS_AS_INTEGER, none_cut
from native_kernels.gather import take_spans
from native_kernels.loki_wire import (
    E_LINE_E,
    E_LINE_S,
    E_META_0,
    E_META_1,
    E_NANOS,
    E_SECONDS,
    E_SIZE,
    E_STREAM,
    M_NAME_E,
    M_NAME_S,
    M_VAL_E,
    M_VAL_S,
    ST_LABELS_E,
    ST_LABELS_S,
    walk,
)
from native_kernels.protobuf_wire import WALK_OK
from native_kernels.syslog import NO_VALUE

_decode = msgspec.json.Decoder(dict[str, str]).decode
# Seconds past this make nanoseconds past what an int64 holds: the general path's business.
MAX_SECONDS = 9_000_000_000
# Streams whose labels were worked out, by their label text (a sender pushes the same few every
# time); cleared when it holds this many, so a sender inventing labels cannot grow it.
MAX_CACHED_STREAMS = 4096


class _Stream(NamedTuple):
    """A stream's labels as its entries' frames carry them: the column keys (`head`), the other
    labels (`tail`), each as {key: value}, and the names an entry's metadata must not take."""

    head: dict[str, str]
    tail: dict[str, str]
    taken: frozenset[str]
    size: int  # bytes of its JSON pieces


_streams: dict[bytes, _Stream | None] = {}


def _stream(labels: bytes) -> _Stream | None:
    """The stream of `labels`, by the general path's own `stream_shared` and a JSON round trip of
    its pieces; None: the labels do not parse."""
    got = _streams.get(labels, False)
    if got is not False:
        return got  # type: ignore[return-value]
    if len(_streams) >= MAX_CACHED_STREAMS:
        _streams.clear()
    try:
        shared = stream_shared(parse_labels(labels.decode()))
    except (PushRefused, UnicodeDecodeError):
        got = None
    else:
        head = _decode(b"{" + shared.head[1:] + b"}") if shared.head else {}
        tail = _decode(b"{" + shared.tail[1:]) if len(shared.tail) > 1 else {}
        got = _Stream(head, tail, shared.taken, len(shared.head) + len(shared.tail))
    _streams[labels] = got
    return got


# Where a frame key's value comes from: the entry's time or line, a stream constant, or the
# entry's k-th metadata value.
_TIME, _LINE, _CONST, _META = range(4)


def loki_rows(frame: bytes, now: int, max_len: int) -> OtlpRows | None:
    """The rows of the PushRequest `frame` (un-snappied); None: take the general path."""
    body = np.frombuffer(frame, np.uint8)
    w = walk(body)
    if w.status != WALK_OK or not len(w.entries):
        return None
    ent, meta = w.entries, w.meta
    n = len(ent)
    seconds = ent[:, E_SECONDS]
    if bool(((seconds < 0) | (seconds > MAX_SECONDS)).any()):
        return None
    t = seconds * 1_000_000_000 + ent[:, E_NANOS]
    t = np.where(t != 0, t, now)
    if bool((t < NS_AS_INTEGER).any()):  # before 1973: the frame has RFC 3339 text
        return None
    streams: list[_Stream] = []
    for s, e in w.streams[:, [ST_LABELS_S, ST_LABELS_E]].tolist():
        got = _stream(frame[s:e])
        if got is None:
            return None
        streams.append(got)
    e_stream = ent[:, E_STREAM]
    stream_size = np.array([s.size for s in streams], np.int64)
    if not none_cut(int((ent[:, E_SIZE] + stream_size[e_stream]).max()), max_len):
        return None

    # Entries grouped by (stream, metadata names in order): one frame shape each.
    counts = ent[:, E_META_1] - ent[:, E_META_0]
    width = int(counts.max()) if len(meta) else 0
    key = np.full((n, width + 1), -1, np.int64)
    key[:, 0] = e_stream
    names: list[bytes] = []
    if width:
        name_id, names = _distinct(body, meta[:, M_NAME_S], meta[:, M_NAME_E])
        m_row = np.repeat(np.arange(n, dtype=np.int64), counts)
        m_pos = np.arange(len(meta), dtype=np.int64) - np.repeat(ent[:, E_META_0], counts)
        key[m_row, 1 + m_pos] = name_id
    shapes, group = np.unique(key, axis=0, return_inverse=True)
    group = group.reshape(-1)

    pieces = _Pieces(len(frame))
    spans = {col: np.full((n, 2), -1, np.int64) for col in ("host", "app", "message")}
    severity = np.full(n, NO_VALUE, np.uint8)
    f_row: list[npt.NDArray[np.int64]] = []
    f_slot: list[npt.NDArray[np.int64]] = []
    f_spans: list[npt.NDArray[np.int64]] = []
    line = ent[:, [E_LINE_S, E_LINE_E]]
    for g, shape in enumerate(shapes.tolist()):
        stream = streams[shape[0]]
        own = [names[i].decode() for i in shape[1:] if i >= 0]
        if len(set(own)) != len(own):
            return None  # a name twice: the general path keeps the last value
        keys = ["time", "message", *stream.head]
        sources: dict[str, tuple[int, str | int]] = {"time": (_TIME, 0), "message": (_LINE, 0)}
        sources.update((k, (_CONST, v)) for k, v in stream.head.items())
        for j, name in enumerate(own):
            keys.append(METADATA_PREFIX + name if name in stream.taken else name)
            sources[keys[-1]] = (_META, j)
        keys += stream.tail
        sources.update((k, (_CONST, v)) for k, v in stream.tail.items())
        if len(sources) != len(keys):
            return None  # a key twice in the frame: the decoder keeps the last
        plan = _plan_for(DEFAULT_ROLES.plans, tuple(keys))
        if plan is None or plan.time != ("time",) or plan.message is None:
            return None
        rows = np.flatnonzero(group == g)
        first_meta = ent[rows, E_META_0]

        def value_spans(path: tuple[str, ...]) -> npt.NDArray[np.int64]:
            """The spans of the value at `path` (a top-level key: the shape is flat) in `rows`."""
            kind, arg = sources[path[0]]
            if kind == _LINE:
                return line[rows]
            if kind == _META:
                values: npt.NDArray[np.int64] = meta[first_meta + int(arg)][:, [M_VAL_S, M_VAL_E]]
                return values
            if kind == _CONST:
                return np.broadcast_to(np.array(pieces.span(str(arg).encode()), np.int64), (len(rows), 2))
            raise ValueError("a time value reached by another column")  # the plan rules it out

        for col, path in (("message", plan.message), ("host", plan.host), ("app", plan.app)):
            if path is not None:
                spans[col][rows] = value_spans(path)
        if plan.severity is not None:
            kind, arg = sources[plan.severity[0]]
            if kind == _CONST:
                texts, sev_id = [str(arg).encode()], np.zeros(len(rows), np.int64)
            else:  # the line or a metadata value: spans of the body
                sev = value_spans(plan.severity)
                sev_id, texts = _distinct(body, sev[:, 0], sev[:, 1])
            levels = np.array([_severity(text.decode()) for text in texts], np.uint8)
            if bool((levels == NO_VALUE).any()):
                return None  # not a level: the general path keeps it a field
            severity[rows] = levels[sev_id]
        for slot, path in enumerate(plan.fields):
            key_span = np.array(pieces.span(plan.names[slot]), np.int64)
            vals = value_spans(path)
            f_row.append(rows)
            f_slot.append(np.full(len(rows), slot, np.int64))
            f_spans.append(np.concatenate([np.broadcast_to(key_span, vals.shape), vals], axis=1))

    data = np.frombuffer(frame + b"".join(pieces.parts), np.uint8)
    message = spans["message"]
    if f_row:
        rows = np.concatenate(f_row)
        order = np.lexsort((np.concatenate(f_slot), rows))
        rows, all_spans = rows[order], np.concatenate(f_spans)[order]
        keys_packed = take_spans(data, all_spans[:, 0], all_spans[:, 1])
        values_packed = take_spans(data, all_spans[:, 2], all_spans[:, 3])
    else:
        rows = np.empty(0, np.int64)
        keys_packed = values_packed = (np.zeros(1, np.int64), np.empty(0, np.uint8))
    host, app = spans["host"], spans["app"]
    return OtlpRows(
        data,
        t,
        severity,
        (host[:, 0].copy(), host[:, 1].copy()),
        (app[:, 0].copy(), app[:, 1].copy()),
        (message[:, 0].copy(), message[:, 1].copy()),
        rows,
        keys_packed,
        values_packed,
    )


def warm_up_request() -> bytes:
    """A small request with every kind of part the shortcut takes, for kernel warm-ups."""
    from engine.push.proto import push_pb2

    request = push_pb2.PushRequest()
    stream = request.streams.add(labels='{app="warm-up", env="warm-up"}')
    entry = stream.entries.add(line="warm-up")
    entry.timestamp.seconds, entry.timestamp.nanos = NS_AS_INTEGER // 10**9, 1
    entry.structuredMetadata.add(name="level", value="info")
    return request.SerializeToString()
