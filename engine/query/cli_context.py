"""`logjet query --context N`: each hit with the N rows before and after it from the same host
and app, in arrival order, printed in groups as `grep -C` does: NDJSON rows, the hit marked
`"_hit": true`, a line `--` between groups. Over `--url` the rows come from
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
    """Print each hit's group; returns how many hits there were."""
    count = 0
    for obj in hits:
        at, rows = lookup(hit_id(obj))
        if count:
            out.write(b"--\n")
        for k, row in enumerate(rows):
            out.write(_json.encode({"_hit": True, **row} if k == at else row))
            out.write(b"\n")
        out.flush()
        count += 1
    return count
