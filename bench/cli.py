"""`logjet bench` sub-commands: argument definitions and dispatch."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", required=True)
    i = sub.add_parser("ingest", help="end-to-end ingest throughput (first byte sent → last row on disk)")
    i.add_argument("--messages", type=int, default=1_000_000, help="messages to send (default 1,000,000)")
    i.add_argument("--proto", choices=("tcp", "tcp-octet", "udp"), default="tcp",
                   help="tcp (LF framing), tcp-octet (RFC 6587 octet counting) or udp")
    i.add_argument("--senders", type=int, default=2, help="sender processes, one connection each")
    i.add_argument("--receivers", type=int, default=0, help="engine receivers (default: the engine's)")
    i.add_argument("--parsers", type=int, default=0, help="engine parsers (default: the engine's)")
    i.add_argument("--rfc5424", action="store_true", help="send RFC 5424 instead of RFC 3164")
    i.add_argument("--seed", type=int, default=42, help="seed of the message generator")
    i.add_argument("--url", help="measure a running engine (its HTTP URL) instead of starting one")
    i.add_argument("--syslog-port", type=int, default=5514, help="with --url: its syslog port")
    i.add_argument("--out", help="folder for the JSON result (default ./bench/results)")
    c = sub.add_parser("compression", help="raw bytes in / bytes on disk (indexes included), loghub and synthetic")
    c.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1,000,000; 0 = none)")
    c.add_argument("--corpus", help="the shared corpus folder (default: found beside the checkout)")
    c.add_argument("--zstd-level", type=int, help="flush parts' zstd level (default: the engine's storage.zstd_level)")
    c.add_argument("--merge-zstd-level", type=int, help="merged parts' zstd level (default: the engine's)")
    c.add_argument("--derive-fields", action="store_true", help="storage.derive_fields = true")
    c.add_argument("--out", help="folder for the JSON result (default ./bench/results)")
    q = sub.add_parser("query", help="a fixed query suite over 10M rows (made once, then reused), medians")
    q.add_argument("--rows", type=int, default=10_000_000, help="rows of data (default 10,000,000)")
    q.add_argument("--data-dir", help="where the data is made and kept (default ./bench/data/query-ROWS)")
    q.add_argument("--runs", type=int, default=10, help="timed runs per query after one warm-up (default 10)")
    q.add_argument("--seed", type=int, default=42, help="seed of the data generator")
    q.add_argument("--out", help="folder for the JSON result (default ./bench/results)")


def run_bench(args) -> int:
    if args.bench == "ingest":
        from bench.ingest import run_ingest

        return run_ingest(args)
    if args.bench == "query":
        from bench.query import run_query_bench

        return run_query_bench(args)
    if args.bench == "compression":
        from bench.compression import run_compression

        return run_compression(args)
    raise SystemExit(f"unknown bench {args.bench}")
