"""`logjet query`: run a query on a data dir (in this process) or against a running engine
(`--url`), and print NDJSON to stdout; with `--context N`, each hit with the rows around it
(engine.query.cli_context)."""

from __future__ import annotations

import argparse
import sys
from typing import Iterator

import msgspec

from engine.query.cli_context import DEFAULT_HITS, NoRowId, dir_context, print_groups, url_context
from engine.query.cli_http import RequestFailed, fail, open_url
from engine.query.objects import JsonObject
from engine.units import parse_time_ns

_decode = msgspec.json.Decoder().decode
MAX_CONTEXT = 1000  # as /api/v1/context allows


class StreamError(RequestFailed):
    """The engine ended an answer it had started with an error line."""


def _params(args: argparse.Namespace, limit: int | None) -> dict[str, str]:
    params = {"q": args.query}
    for key in ("start", "end"):
        value = getattr(args, key)
        if value is not None:
            params[key] = str(value)
    if limit is not None:
        params["limit"] = str(limit)
    return params


def _query_url(args: argparse.Namespace) -> int:
    try:
        with open_url(args, "/api/v1/query", _params(args, args.limit)) as resp:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                sys.stdout.buffer.write(chunk)
    except RequestFailed as exc:
        return fail(exc)
    return 0


def _url_objects(args: argparse.Namespace, limit: int | None) -> Iterator[JsonObject]:
    """The answer's objects, read line by line; an error line raises StreamError."""
    with open_url(args, "/api/v1/query", _params(args, limit)) as resp:
        for line in resp:
            obj = _decode(line)
            if isinstance(obj, dict) and set(obj) == {"error", "position"}:
                raise StreamError(f"query failed: {obj['error']}")
            yield obj


def _with_context(args: argparse.Namespace, start: int | None, end: int | None) -> int:
    n = args.context
    if not 0 <= n <= MAX_CONTEXT:
        print(f"logjet: --context takes 0 to {MAX_CONTEXT} rows, not {n}", file=sys.stderr)
        return 2
    limit = args.limit if args.limit is not None else DEFAULT_HITS
    out = sys.stdout.buffer
    if args.url:
        try:
            print_groups(_url_objects(args, limit), lambda rid: url_context(args, rid, n), out)
        except (RequestFailed, NoRowId) as exc:
            return fail(exc)
        return 0
    from engine.query.execute import QueryError, run_to_objects

    data_dir = args.data_dir or "./data"
    try:
        print_groups(
            run_to_objects(data_dir, args.query, start, end, limit), lambda rid: dir_context(data_dir, rid, n), out
        )
    except QueryError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
    except NoRowId as exc:
        return fail(exc)
    return 0


def run_query(args: argparse.Namespace) -> int:
    if args.url and args.context is None:
        return _query_url(args)
    try:
        start = parse_time_ns(args.start) if args.start else None
        end = parse_time_ns(args.end) if args.end else None
    except ValueError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
    if args.context is not None:
        return _with_context(args, start, end)
    # Imported here: `--url` needs neither the store nor the kernels.
    from engine.query.execute import QueryError, run_to_objects

    data_dir = args.data_dir or "./data"
    out = sys.stdout.buffer
    try:
        objects = run_to_objects(data_dir, args.query, start, end, args.limit)
    except QueryError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
    for obj in objects:
        out.write(msgspec.json.encode(obj))
        out.write(b"\n")
    out.flush()
    return 0
