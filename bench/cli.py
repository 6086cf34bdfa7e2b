"""`logjet bench`: a plug-in command of engine/cli.py (pyproject.toml, entry point group
"logjet.commands": `register`), and the dispatch to each benchmark."""

from __future__ import annotations

import argparse

from bench.arguments import add_arguments


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `logjet bench` to the `logjet` command's sub-commands."""
    b = commands.add_parser("bench", help="benchmark harness", add_help=True)
    add_arguments(b)
    b.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark `args.bench` names; its exit code."""
    if args.bench == "ingest" and args.rates:
        from bench.sweep import run_sweep

        return run_sweep(args)
    if args.bench == "ingest":
        from bench.ingest import run_ingest

        return run_ingest(args)
    if args.bench == "scaling":
        from bench.scaling import run_scaling

        return run_scaling(args)
    if args.bench == "alert-latency":
        from bench.alert_latency import run_alert_latency

        return run_alert_latency(args)
    if args.bench == "start":
        from bench.start_time import run_start_time

        return run_start_time(args)
    if args.bench == "suite":
        from bench.suite import run_suite

        return run_suite(args)
    if args.bench == "query" and (args.peer or args.data != "synthetic"):
        from bench.query_peer import run_query_peer

        return run_query_peer(args)
    if args.bench == "query":
        from bench.query import run_query_bench

        return run_query_bench(args)
    if args.bench == "loki-query":
        from bench.loki_query import run_loki_query_bench

        return run_loki_query_bench(args)
    if args.bench == "compression":
        from bench.compression import run_compression

        return run_compression(args)
    if args.bench == "alert-rules":
        from bench.alert_rules import run_alert_rules

        return run_alert_rules(args)
    raise SystemExit(f"unknown bench {args.bench}")
