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


def run_bench(args) -> int:
    if args.bench == "ingest":
        from bench.ingest import run_ingest

        return run_ingest(args)
    raise SystemExit(f"unknown bench {args.bench}")
