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


def _shares(counts: list[int], pieces: int) -> list[list[tuple[int, int, int]]]:
    """For each of `pieces` even pieces of the items of groups of `counts` items, in order:
    (group, first item, end item) of each group it takes a share of (none of an empty group)."""
    total = sum(counts)
    bounds = [total * p // pieces for p in range(pieces + 1)]
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(pieces)]
    first = 0  # the global index of the group's first item
    p = 0
    for g, count in enumerate(counts):
        last = first + count
        while p < pieces and bounds[p] < last:
            lo, hi = max(first, bounds[p]), min(last, bounds[p + 1])
            if hi > lo:
                out[p].append((g, lo - first, hi - first))
            if bounds[p + 1] > last:
                break  # this piece goes on into the next group
            p += 1
        first = last
    return out


def otlp_pieces(request: ExportLogsServiceRequest, pieces: int) -> list[bytes]:
    """`request` as `pieces` serialized requests of about the same number of log records."""
    groups = [(rl, sl) for rl in request.resource_logs for sl in rl.scope_logs]
    out = []
    for shares in _shares([len(sl.log_records) for _, sl in groups], pieces):
        piece = ExportLogsServiceRequest()
        for g, lo, hi in shares:
            rl, sl = groups[g]
            piece_rl = piece.resource_logs.add(schema_url=rl.schema_url)
            piece_rl.resource.CopyFrom(rl.resource)
            piece_sl = piece_rl.scope_logs.add(schema_url=sl.schema_url)
            piece_sl.scope.CopyFrom(sl.scope)
            piece_sl.log_records.extend(sl.log_records[lo:hi])
        out.append(piece.SerializeToString())
    return out


def loki_pieces(request: push_pb2.PushRequest, pieces: int) -> list[bytes]:
    """`request` (a PushRequest) as `pieces` serialized requests of about the same number of
    entries."""
    streams = list(request.streams)
    out = []
    for shares in _shares([len(s.entries) for s in streams], pieces):
        piece = push_pb2.PushRequest()
        for g, lo, hi in shares:
            piece.streams.add(labels=streams[g].labels).entries.extend(streams[g].entries[lo:hi])
        out.append(piece.SerializeToString())
    return out
