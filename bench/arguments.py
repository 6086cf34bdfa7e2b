"""The arguments of `logjet bench` and its sub-commands (`add_arguments`), shared by the command
(bench/cli.py) and the suites (bench/suite.py, which parse each case as the command would)."""

from __future__ import annotations

import argparse

from bench.peers import PEERS
from bench.send import HTTP_BATCH, PROTOS


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_load(p: argparse.ArgumentParser, messages: int) -> None:
    p.add_argument("--messages", type=int, default=messages, help=f"messages to send (default {messages:,})")
    p.add_argument(
        "--proto",
        choices=PROTOS,
        default="tcp",
        help="tcp (LF framing), tcp-octet (RFC 6587 octet counting), tls (RFC 5425: octet "
        "counting over TLS, with a throwaway certificate), udp, http (NDJSON to POST "
        "/api/v1/ingest), es-bulk (Filebeat-shaped documents in Elasticsearch bulk bodies to "
        "POST /insert/elasticsearch/_bulk), loki (snappy protobuf to POST /loki/api/v1/push) or "
        "otlp (protobuf to POST /v1/logs); es-bulk, loki and otlp bodies hold 1,000 entries, built "
        "before timing",
    )
    p.add_argument(
        "--beside-proto",
        choices=PROTOS,
        help="also feed the same engine over this protocol, interleaved with --proto in the same "
        "invocation, each from its own pool rendered before timing (e.g. --proto es-bulk "
        "--beside-proto http: both send the same Filebeat-shaped documents); the table gives the ratio",
    )
    p.add_argument("--senders", type=int, default=2, help="sender processes, one connection each (default 2)")
    p.add_argument(
        "--batch",
        type=_positive,
        default=HTTP_BATCH,
        help=f"messages per HTTP request for http, es-bulk, loki and otlp (default {HTTP_BATCH:,}; Promtail and "
        "Alloy send up to 1 MiB of lines per push: about 8,000 of the synthetic data's)",
    )
    p.add_argument(
        "--data",
        choices=("synthetic", "loghub"),
        default="synthetic",
        help="synthetic: templates with varying hosts, apps, pids, IPs, users, durations; "
        "loghub: replay the loghub samples (default synthetic)",
    )
    p.add_argument("--corpus", help="folder holding loghub/ (default ../shared/corpus)")
    p.add_argument("--rfc5424", action="store_true", help="send RFC 5424 instead of RFC 3164")
    p.add_argument("--seed", type=int, default=42, help="seed of the message (and alert rule) generators")
    p.add_argument(
        "--warmup",
        type=int,
        default=20_000,
        help="messages sent and stored before each timed run, not counted (default 20,000)",
    )
    p.add_argument("--timeout", type=float, default=600, help="give up a run after this many seconds")
    p.add_argument("--out", help="folder for the JSON result and PNG plot (default ./bench/results)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def bench_parser() -> argparse.ArgumentParser:
    """The parser of `logjet bench`'s arguments (those after "bench")."""
    p = argparse.ArgumentParser(prog="logjet bench")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", required=True)
    i = sub.add_parser(
        "ingest",
        help="end-to-end ingest throughput (first byte sent → last row on disk), "
        "latency at a fixed rate, peers side by side",
        description="Send pre-rendered messages from sender processes and time them until "
        "stored. Writes a JSON result and a PNG plot.",
    )
    _add_load(i, 1_000_000)
    i.add_argument(
        "--rate",
        type=float,
        default=0,
        help="messages per second in all (default: as fast as the target takes them); turns on latency probes",
    )
    i.add_argument("--duration", type=float, help="with --rate or --rates: seconds to send (sets --messages)")
    i.add_argument(
        "--rates",
        help="a sweep: comma-separated rates (msgs/s) and 'max', e.g. 10000,50000,200000,max; each rate "
        "runs --duration seconds (default 10), 'max' sends --messages; plus idle CPU; writes a table, JSON and SVG",
    )
    i.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="with --rates: how long each target is watched without traffic for its idle CPU (default 10)",
    )
    i.add_argument(
        "--probes", type=float, default=None, help="latency probes per second in all (default 200 with --rate, else 0)"
    )
    i.add_argument(
        "--peer",
        action="append",
        choices=sorted(PEERS),
        help="also run this collector on the same data (TCP only; repeatable); skipped with a note when not installed",
    )
    i.add_argument(
        "--alert-rules",
        type=int,
        action="append",
        metavar="N",
        help="also run logjet with N generated alert rules (`bench alert-rules N`), on the same "
        "data, interleaved, and report throughput with rules / without (repeatable)",
    )
    i.add_argument("--repeat", type=int, default=1, help="runs per target; the figures are medians")
    i.add_argument("--receivers", type=int, default=0, help="engine receivers (default: the engine's)")
    i.add_argument("--parsers", type=int, default=0, help="engine parsers (default: the engine's)")
    i.add_argument(
        "--with-auth",
        action="store_true",
        help='also run logjet with API auth on (anonymous = "none" and a token made for the run, sent by '
        "the HTTP senders), interleaved, and report throughput with auth on / off",
    )
    i.add_argument(
        "--http-tls",
        action="store_true",
        help="the engines started serve their HTTP API over HTTPS (a certificate made for the run, "
        "verified by the senders); with --proto http the load goes over HTTPS",
    )
    i.add_argument("--url", help="measure a running engine (its HTTP or HTTPS URL) instead of starting one")
    i.add_argument("--syslog-port", type=int, default=5514, help="with --url: its syslog port")
    i.add_argument("--token", help="with --url: the API token to send (or the LOGJET_TOKEN environment variable)")
    i.add_argument("--ca-file", help="with an https --url: CA certificate(s) to verify it with (PEM)")

    s = sub.add_parser(
        "scaling",
        help="throughput over a grid of receivers × parsers",
        description="One ingest run (or --repeat) per (receivers, parsers) pair; writes a JSON "
        "result and a PNG of the scaling curve.",
    )
    _add_load(s, 1_000_000)
    s.add_argument(
        "--counts",
        default="",
        help="comma-separated process counts to try for both R and P (default: 1, 2, 4, ... up to the core count)",
    )
    s.add_argument("--diagonal", action="store_true", help="only R = P (a faster run on big machines)")
    s.add_argument("--repeat", type=int, default=1, help="runs per cell; the figure is the median")

    a = sub.add_parser(
        "alert-latency",
        help="send-to-webhook latency of alerts under background load",
        description="Starts the engine with one rule and a loopback webhook, sends probes that "
        "each fire a new alert, and reports latency percentiles.",
    )
    a.add_argument("--probes", type=int, default=200, help="probe messages, one alert each (default 200)")
    a.add_argument("--interval", type=float, default=0.05, help="seconds between probes (default 0.05)")
    a.add_argument(
        "--rate", type=float, default=50_000, help="background messages per second (default 50,000; 0 = none)"
    )
    a.add_argument("--out", help="folder for the JSON result (default ./bench/results)")

    # Start time: see bench/start_time.py for what is measured.
    t = sub.add_parser("start", help="`logjet serve` start to ready, and the first row's time to be queryable")
    t.add_argument("--runs", type=int, default=5, help="starts per method (default 5)")
    t.add_argument(
        "--methods",
        default="spawn,forkserver",
        help="worker start methods to compare, in turn (default spawn,forkserver)",
    )
    t.add_argument("--out", help="folder for the JSON result (default: none written)")

    k = sub.add_parser("suite", help="run a declarative benchmark suite (bench/suites/*.toml)")
    k.add_argument("file", help="suite file, e.g. bench/suites/benchmarks.toml")
    k.add_argument("--out", help="folder for results (default ./bench/results)")
    k.add_argument("--only", action="append", help="run only the case with this name (repeatable)")
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
    q.add_argument(
        "--peer",
        choices=("victorialogs",),
        help="also load the same rows into this store and run each query's twin there, interleaved, "
        "answers checked equal (bench/query_peer.py); skipped with a note when not installed",
    )
    q.add_argument(
        "--data",
        choices=("synthetic", "loghub"),
        default="synthetic",
        help="synthetic: generated traffic (default); loghub: the loghub samples replayed to --rows "
        "(default data dir ./bench/data/query-loghub-ROWS)",
    )
    q.add_argument("--corpus", help="with --data loghub: the folder holding loghub/ (default ../shared/corpus)")
    q.add_argument(
        "--logjet-via",
        choices=("http", "process"),
        default="http",
        help="with --peer or --data loghub: ask logjet over HTTP (a `logjet serve` on the data, as the "
        "peer is asked; default) or in this process (engine.query)",
    )
    lq = sub.add_parser(
        "loki-query", help="the Loki read API beside the native query API, same data (bench query's), medians"
    )
    lq.add_argument("--rows", type=int, default=2_000_000, help="rows of data (default 2,000,000)")
    lq.add_argument("--data-dir", help="where the data is made and kept (default ./bench/data/query-ROWS)")
    lq.add_argument("--runs", type=int, default=10, help="timed runs per request after one warm-up (default 10)")
    lq.add_argument("--seed", type=int, default=42, help="seed of the data generator")
    lq.add_argument("--out", help="folder for the JSON result (default ./bench/results)")
    a = sub.add_parser(
        "alert-rules",
        help="write N realistic alert rules (a rules file, see config/alerts.toml)",
        description="The rules `bench ingest --alert-rules N` uses: regexes over kernel, sshd, "
        "nginx, database, TLS, systemd, container and exception vocabulary; the "
        "first four match about 3% of the synthetic traffic.",
    )
    a.add_argument("count", type=int, metavar="N", help="number of rules")
    a.add_argument("--out", help="the file to write (default: standard output)")
    a.add_argument("--seed", type=int, default=42, help="seed of the rule generator")
