"""A pushed protobuf request too big for a parser to take whole, cut into requests that each are
smaller: the same resources and scopes (OTLP) or stream labels (Loki), every record or entry once,
in order, spread evenly over the pieces.

The pieces are built by the protobuf library from the parsed request (records and entries are
copied as messages, never re-encoded by hand), so each is a request like any shipper's, and
the rows made from the pieces are the rows the whole request makes. A stream or scope whose
entries fall into two pieces is repeated in both, with its own share of them.
"""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from engine.push.proto import push_pb2


def _bounds(total: int, pieces: int) -> list[int]:
    """Where each of `pieces` even pieces of `total` items starts, and the end."""
    return [total * p // pieces for p in range(pieces + 1)]


def otlp_pieces(request: ExportLogsServiceRequest, pieces: int) -> list[bytes]:
    """`request` as `pieces` serialized requests of about the same number of log records."""
    groups = [(rl, sl) for rl in request.resource_logs for sl in rl.scope_logs]
    bounds = _bounds(sum(len(sl.log_records) for _, sl in groups), pieces)
    out = [ExportLogsServiceRequest() for _ in range(pieces)]
    first = 0  # the global index of the group's first record
    p = 0
    for rl, sl in groups:
        records = sl.log_records
        last = first + len(records)
        while p < pieces and bounds[p] < last:
            lo, hi = max(first, bounds[p]), min(last, bounds[p + 1])
            if hi > lo:
                piece_rl = out[p].resource_logs.add(schema_url=rl.schema_url)
                piece_rl.resource.CopyFrom(rl.resource)
                piece_sl = piece_rl.scope_logs.add(schema_url=sl.schema_url)
                piece_sl.scope.CopyFrom(sl.scope)
                piece_sl.log_records.extend(records[lo - first : hi - first])
            if bounds[p + 1] > last:
                break  # this piece goes on into the next group
            p += 1
        first = last
    return [piece.SerializeToString() for piece in out]


def loki_pieces(request: push_pb2.PushRequest, pieces: int) -> list[bytes]:
    """`request` (a PushRequest) as `pieces` serialized requests of about the same number of
    entries."""
    streams = list(request.streams)
    bounds = _bounds(sum(len(s.entries) for s in streams), pieces)
    out = [push_pb2.PushRequest() for _ in range(pieces)]
    first = 0
    p = 0
    for stream in streams:
        entries = stream.entries
        last = first + len(entries)
        while p < pieces and bounds[p] < last:
            lo, hi = max(first, bounds[p]), min(last, bounds[p + 1])
            if hi > lo:
                out[p].streams.add(labels=stream.labels).entries.extend(entries[lo - first : hi - first])
            if bounds[p + 1] > last:
                break
            p += 1
        first = last
    return [piece.SerializeToString() for piece in out]
