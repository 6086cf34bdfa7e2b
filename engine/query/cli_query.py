"""`logjet query`: run a query on a data dir (in this process) or against a running engine
(`--url`), and print NDJSON to stdout."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

import msgspec

from engine.units import parse_time_ns

_json = msgspec.json.Encoder()


def _query_url(args: argparse.Namespace) -> int:
    params = {"q": args.query}
    for key in ("start", "end", "limit"):
        value = getattr(args, key)
        if value is not None:
            params[key] = str(value)
    url = args.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    request = urllib.request.Request(url)
    token = args.token or os.environ.get("LOGJET_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    try:
        with urllib.request.urlopen(request, context=context) as resp:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                sys.stdout.buffer.write(chunk)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        print(f"logjet: query failed ({exc.code}): {body}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"logjet: cannot reach {args.url}: {exc.reason}", file=sys.stderr)
        return 1
    return 0


def run_query(args: argparse.Namespace) -> int:
    if args.url:
        return _query_url(args)
    try:
        start = parse_time_ns(args.start) if args.start else None
        end = parse_time_ns(args.end) if args.end else None
    except ValueError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
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
        out.write(_json.encode(obj))
        out.write(b"\n")
    out.flush()
    return 0
