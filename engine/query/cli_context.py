"""`logjet query --context N`: each hit with the N rows before and after it from the same host
and app, in arrival order, printed in groups as `grep -C` does: NDJSON rows, the hit marked
`"_hit": true`, a line `--` between groups, a group that overlaps the one before it merged
into it. Over `--url` the rows come from
`/api/v1/context`; over a data dir from engine.query.context in this process."""

from __future__ import annotations

import argparse
from typing import BinaryIO, Callable, Iterable

import msgspec

from engine.errors import LogjetError
from engine.query.cli_http import open_url
from engine.query.objects import JsonObject

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder().decode
DEFAULT_HITS = 100  # hits a --context query lists without --limit: each costs a context lookup


class NoRowId(LogjetError):
    """A hit without `_id` (an aggregation, or `| fields` without `_id`): it has no context."""


def hit_id(obj: JsonObject) -> str:
    rid = obj.get("_id")
    if not isinstance(rid, str):
        raise NoRowId(
            "--context needs rows with their _id: a query without stats/top/uniq/histogram, "
            "and with _id among its `| fields` if it has them"
        )
    return rid


def url_context(args: argparse.Namespace, rid: str, n: int) -> tuple[int, list[JsonObject]]:
    """(the hit's index, the rows) from /api/v1/context."""
    with open_url(args, "/api/v1/context", {"row": rid, "before": str(n), "after": str(n)}) as resp:
        answer = _decode(resp.read())
    return int(answer["hit"]), list(answer["rows"])


def dir_context(data_dir: str, rid: str, n: int) -> tuple[int, list[JsonObject]]:
    """(the hit's index, the rows) read from the parts in `data_dir`."""
    from engine.query.catalog import Catalog
    from engine.query.context import around
    from engine.query.row_id import parse_id

    found = around(Catalog.get(data_dir), parse_id(rid), n, n)
    return found.hit, found.rows


Lookup = Callable[[str], tuple[int, list[JsonObject]]]


def print_groups(hits: Iterable[JsonObject], lookup: Lookup, out: BinaryIO) -> int:
    """Print each hit's group; a group that overlaps the one before it (hits close together
    in the same source) is merged into it, as grep merges them. Returns how many hits there were."""
    count = 0
    group: list[JsonObject] = []
    marked: set[str] = set()
    printed = 0
    for obj in hits:
        rid = hit_id(obj)
        _, rows = lookup(rid)
        marked.add(rid)
        merged = merge(group, rows)
        if merged is None:
            printed += _write(group, marked, out, printed)
            merged = rows
        group = merged
        count += 1
    _write(group, marked, out, printed)
    return count


def merge(a: list[JsonObject], b: list[JsonObject]) -> list[JsonObject] | None:
    """Two windows of one arrival order as one, or None when they share no row."""
    ids_a = [r.get("_id") for r in a]
    ids_b = [r.get("_id") for r in b]
    if not set(ids_a) & set(ids_b):
        return None
    if ids_b[0] in ids_a:  # b starts inside a
        k = ids_a.index(ids_b[0])
        return a + b[len(a) - k :]
    k = ids_b.index(ids_a[0])  # a starts inside b
    return b + a[len(b) - k :]


def _write(group: list[JsonObject], marked: set[str], out: BinaryIO, printed: int) -> int:
    """Write a group (after a `--` unless it is the first); returns 1 if it wrote one."""
    if not group:
        return 0
    if printed:
        out.write(b"--\n")
    for row in group:
        out.write(_json.encode({"_hit": True, **row} if row.get("_id") in marked else row))
        out.write(b"\n")
    out.flush()
    return 1
