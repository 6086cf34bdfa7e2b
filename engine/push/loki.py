"""Loki push bodies (`POST /loki/api/v1/push`), protobuf or JSON, to row frames.

Protobuf is Loki's `PushRequest` (engine/push/proto/push.proto, decoded by the protobuf
library), snappy-compressed as Promtail, Grafana Alloy and Fluent Bit send it; JSON is
`{"streams": [{"stream": {labels}, "values": [["<ns>", "<line>", {metadata}?], ...]}]}`.

Each entry becomes a row: its line the message, its nanosecond timestamp the time (none: the
receive time), every stream label and structured metadata pair a field. Labels also fill the
row's columns, the first one present of:

    host      host, hostname, instance
    app       app, service_name, job, application
    severity  severity, level, detected_level   (names as logjet reads them: warn, error, ...)

A label named like its column (`host`) is that column; the others stay fields as well, so a
LogQL selector on them (`{job="varlogs"}`) still finds the rows. A metadata pair whose name
a label or column already has is kept as `metadata.<name>`.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
import numpy as np

from engine.push.bodies import PushRefused, parse_protobuf
from engine.push.proto import push_pb2
from engine.push.rows import NS_AS_INTEGER, Frames, Shared, encode_text, none_cut, pairs_json, time_json
from native_kernels.loki_wire import E_SIZE, E_STREAM, walk
from native_kernels.protobuf_wire import WALK_OK

COLUMN_LABELS = {
    "host": ("host", "hostname", "instance"),
    "app": ("app", "service_name", "job", "application"),
    "severity": ("severity", "level", "detected_level"),
}
LABEL_PREFIX = "label."
METADATA_PREFIX = "metadata."
# Streams whose label text was parsed (Promtail sends the same few streams in every push);
# cleared when it holds this many, so a sender inventing labels cannot grow it.
MAX_CACHED_STREAMS = 4096

# One `name="value"` pair of Prometheus' label text; values escape \\, \" and \n.
_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)', re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}


class _Stream(msgspec.Struct):
    stream: dict[str, str] = {}
    values: list[list[Any]] = []


class _Push(msgspec.Struct):
    streams: list[_Stream]


_json_push = msgspec.json.Decoder(_Push)


def parse_labels(text: str) -> dict[str, str]:
    """`{a="b", c="d"}` as a dict; raises PushRefused for anything else."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise PushRefused(400, "bad_labels", f'stream labels {text!r} are not of the form {{name="value", ...}}')
    body = body[1:-1].strip()
    labels: dict[str, str] = {}
    at = 0
    while at < len(body):
        m = _PAIR.match(body, at)
        if m is None:
            raise PushRefused(400, "bad_labels", f"stream labels {text!r}: cannot read a label at character {at + 1}")
        value = m.group(2)
        if "\\" in value:
            value = _UNESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), "\\" + e.group(1)), value)
        labels[m.group(1)] = value
        at = m.end()
    return labels


def stream_shared(labels: dict[str, str]) -> Shared:
    """The encoded columns and fields every entry of a stream with `labels` carries."""
    columns = {col: next((labels[k] for k in names if k in labels), None) for col, names in COLUMN_LABELS.items()}
    fields = {k: v for k, v in labels.items() if k not in COLUMN_LABELS}
    return Shared(columns, fields, LABEL_PREFIX)


def parser_takes(body: bytes, stream_bytes: list[int], max_len: int) -> bool:
    """Whether a parser can make the rows of the PushRequest `body` (un-snappied) without cutting
    any (engine.parse.loki_rows, or the general path's frames there): the wire walk takes it,
    and no entry's frame could reach `max_len`. `stream_bytes` are the bytes each stream's
    labels add to its entries' frames, in order."""
    w = walk(np.frombuffer(body, np.uint8))
    if w.status != WALK_OK or len(w.streams) != len(stream_bytes):
        return False
    if not len(w.entries):
        return True
    own = w.entries[:, E_SIZE] + np.array(stream_bytes, np.int64)[w.entries[:, E_STREAM]]
    return none_cut(int(own.max()), max_len)


class LokiDecoder:
    """Loki push bodies to frames; keeps the parsed labels of recent streams."""

    def __init__(self) -> None:
        self._streams: dict[str, Shared] = {}

    def _shared(self, text: str) -> Shared:
        shared = self._streams.get(text)
        if shared is None:
            if len(self._streams) >= MAX_CACHED_STREAMS:
                self._streams.clear()
            shared = self._streams[text] = stream_shared(parse_labels(text))
        return shared

    def stream_bytes(self, text: str) -> int:
        """The bytes a stream's labels add to each of its entries' frames; raises PushRefused
        when its label text does not parse (as `protobuf` would)."""
        shared = self._shared(text)
        return len(shared.head) + len(shared.tail)

    def protobuf(self, body: bytes, now: int | None = None) -> Frames:
        """A PushRequest (already un-snappied) as frames; `now` (ns) is the time of entries
        without one (None: the clock's)."""
        request = parse_protobuf(push_pb2.PushRequest(), body, "a Loki PushRequest")
        frames = Frames()
        # The per-entry loop is the route's cost: Frames.add and time_json are inlined.
        append, join, enc = frames.items.append, b"".join, encode_text
        now = time.time_ns() if now is None else now
        for stream in request.streams:
            shared = self._shared(stream.labels)
            taken, head, tail = shared.taken, shared.head, shared.tail
            for entry in stream.entries:
                ts = entry.timestamp
                ns = ts.seconds * 1_000_000_000 + ts.nanos or now
                metadata = entry.structuredMetadata
                own = pairs_json({p.name: p.value for p in metadata}, taken, METADATA_PREFIX) if metadata else b""
                stamp = b"%d" % ns if ns >= NS_AS_INTEGER else time_json(ns)
                append(join((b'{"time":', stamp, b',"message":', enc(entry.line), head, own, tail)))
        return frames

    def json(self, body: bytes) -> Frames:
        """A JSON push body as frames."""
        try:
            request = _json_push.decode(body)
        except msgspec.DecodeError as exc:
            raise PushRefused(400, "bad_json", f"the body is not a Loki push request: {exc}") from None
        frames = Frames()
        add = frames.add
        now = time.time_ns()
        for s, stream in enumerate(request.streams):
            shared = stream_shared(stream.stream)
            taken = shared.taken
            for k, value in enumerate(stream.values):
                try:
                    ns, line, own = _json_entry(value, taken)
                except (ValueError, TypeError):
                    raise PushRefused(
                        400,
                        "bad_json",
                        f'streams[{s}].values[{k}] is not ["<unix ns>", "<line>"] or '
                        f'["<unix ns>", "<line>", {{metadata}}]',
                    ) from None
                add(ns or now, encode_text(line), shared, own)
        return frames


def _json_entry(value: list[Any], taken: frozenset[str]) -> tuple[int, str, bytes]:
    """(ns, line, own pairs) of one JSON entry; ValueError or TypeError when it is none."""
    if len(value) not in (2, 3):
        raise ValueError
    ts, line = value[0], value[1]
    if type(line) is not str or type(ts) not in (str, int):
        raise TypeError
    ns = int(ts)
    if not 0 <= ns < 2**63:
        raise ValueError
    own = b""
    if len(value) == 3:
        metadata = value[2]
        if type(metadata) is not dict or any(type(v) is not str for v in metadata.values()):
            raise TypeError
        own = pairs_json(metadata, taken, METADATA_PREFIX)
    return ns, line, own
