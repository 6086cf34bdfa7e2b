"""`logjet bench ingest`: end-to-end ingest throughput and latency, logjet beside its peers.

A pool of realistic messages (`bench.generate`: templates, or a loghub replay) is rendered and
framed once; sender processes (`bench.send`) replay it over TCP (LF or octet counting), TLS
(octet counting, against a throwaway certificate made for the run: `bench.tlscert`), UDP,
HTTP NDJSON (over HTTPS with `--http-tls`), Loki push or OTLP/HTTP logs (protobuf bodies of
1,000 entries, built before timing: `bench.push_bodies`), at full speed or at a fixed `--rate`. Each run
starts a fresh target (a logjet engine, then one per `--alert-rules N` and one with API auth on
for `--with-auth` (`bench.variants`), then each `--peer`, in turn, `--repeat` times,
interleaved so drift hits all alike) and is measured from the first byte sent to the last
message stored (`bench.measure`). At a fixed rate, probes carrying their send time give
send-to-visible latency (`bench.latency`). The result (JSON + PNG, `bench.report`) holds the
medians, the ratio logjet / peer and, with rules, with rules / without (`bench.alert_cost`);
with auth, auth on / off (`bench.auth_cost`).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import sys
import tempfile

from bench import alert_cost, auth_cost, generate, latency, report, variants
from bench.measure import Load, measure
from bench.peers import PEERS, PeerError
from bench.send import HTTP_PROTOS, write_pool
from bench.targets import LogjetTarget, PeerTarget

POOL = 200_000  # distinct messages; longer runs replay the pool
DEFAULT_PROBES_PER_S = 200  # with --rate: enough probes for a p99 in a few seconds
REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


def pool_messages(args, proto: str = "") -> list[bytes]:
    """The messages of the pool for `proto` (default --proto). Whenever es-bulk is in the run,
    both HTTP protocols send the same Filebeat-shaped documents, so --beside-proto compares the
    protocols on equal documents."""
    proto = proto or args.proto
    if args.data == "loghub":
        corpus = pathlib.Path(args.corpus or DEFAULT_CORPUS)
        if proto in HTTP_PROTOS:
            return generate.loghub_json(corpus)
        return generate.loghub_messages(corpus, rfc5424=args.rfc5424)
    count = min(args.messages, POOL)
    if proto in HTTP_PROTOS and "es-bulk" in (args.proto, getattr(args, "beside_proto", None)):
        return generate.ecs_documents(count, seed=args.seed)
    if proto in HTTP_PROTOS:  # NDJSON, or the records push bodies are built from
        return generate.json_messages(count, seed=args.seed)
    return generate.messages(count, seed=args.seed, rfc5424=args.rfc5424)


def engine_args(args) -> list[str]:
    extra = []
    if args.receivers:
        extra += ["--receivers", str(args.receivers)]
    if args.parsers:
        extra += ["--parsers", str(args.parsers)]
    return extra


def resolve_messages(args) -> None:
    """--duration with --rate sets --messages; --rate 0 means full speed."""
    if args.duration:
        if not args.rate:
            raise SystemExit("logjet bench ingest: --duration needs --rate")
        args.messages = int(args.rate * args.duration)
    if args.probes is None:
        args.probes = DEFAULT_PROBES_PER_S if args.rate else 0


def make_peers(args, notes: list[str]) -> list[str]:
    usable = []
    for name in args.peer or []:
        cls = PEERS[name]
        if args.proto not in ("tcp", "tcp-octet"):
            notes.append(f"{name}: skipped, peers are compared over TCP only (not {args.proto})")
        elif cls.find() is None:
            notes.append(f"{name}: not installed, skipped (see README, 'Benchmarks')")
        else:
            usable.append(name)
    return usable


def run_ingest(args) -> int:
    result, json_path, png_path = ingest(args)
    print_summary(result, json_path, png_path)
    ok = all(r["outcome"] in ("complete", "settled") for runs in result["runs"].values() for r in runs)
    return 0 if ok else 1


def ingest(args) -> tuple[dict, str, str | None]:
    """Run the series; write the JSON and PNG. Returns (result, JSON path, PNG path)."""
    resolve_messages(args)
    notes: list[str] = []
    peers = make_peers(args, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="logjet-bench-")
    try:
        specs = variants.logjet_specs(args, tmp, engine_args(args))
        pool = write_pool(tmp, pool_messages(args), args.proto)
        # A pool per other protocol (--beside-proto), rendered before any timing, as the first is.
        pools = {
            spec.proto: write_pool(tmp, pool_messages(args, spec.proto), spec.proto) for spec in specs if spec.proto
        }
        load = Load(
            args.proto,
            args.messages,
            args.senders,
            float(args.rate or 0),
            float(args.probes),
            float(args.timeout),
            args.warmup,
            batch=args.batch,
        )
        result = run_series(args, tmp, pool, load, peers, specs, pools)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["notes"] = notes + result.get("notes", [])
    json_path, png_path = report.write(result, args.out or default_out(), f"ingest-{args.proto}", report.plot_ingest)
    return result, json_path, png_path


def default_out() -> str:
    return os.path.join(os.getcwd(), "bench", "results")


def run_series(
    args,
    tmp: str,
    pool,
    load: Load,
    peers: list[str],
    specs: list[variants.LogjetSpec] | None = None,
    pools: dict | None = None,
) -> dict:
    """`--repeat` rounds of each logjet target (without rules, then with each rule count, then
    over the --beside-proto protocol from `pools`), then each peer; returns the result without
    the report bits."""
    framing = "octet" if args.proto == "tcp-octet" else "lf"
    specs = specs or [variants.LogjetSpec("logjet", engine_args(args))]
    logjets = {spec.name: spec for spec in specs}
    runs: dict[str, list[dict]] = {name: [] for name in logjets}
    runs.update({name: [] for name in peers})
    notes: list[str] = []
    probe_times: dict[int, tuple[int, int]] = {}
    probes_sent = 0
    versions = report.versions()
    machine = report.machine()
    for rep in range(args.repeat):
        for name in runs:
            workdir = os.path.join(tmp, f"{name.replace('+', '-').replace(' ', '-')}-{rep}")
            spec = logjets.get(name)
            if spec:
                target = LogjetTarget(
                    workdir,
                    spec.engine_args,
                    url=args.url,
                    syslog_port=args.syslog_port,
                    name=name,
                    start_timeout=spec.start_timeout,
                    access=spec.access,
                )
            else:
                cls = PEERS[name]
                target = PeerTarget(cls(cls.find(), workdir))
            rules = spec.rules if spec else 0
            try:
                target.start(framing)
            except (PeerError, RuntimeError) as exc:
                # An engine that refuses its rules file must not cost the other figures; the
                # engine without rules failing to start stays an error.
                if isinstance(exc, RuntimeError) and not rules:
                    raise
                print(f"note: {exc}", file=sys.stderr)
                notes.append(f"{name} run {rep + 1}: did not start: {str(exc).splitlines()[0]}")
                runs[name].append(
                    {
                        "target": name,
                        "outcome": "did not start",
                        "msgs_per_s": 0.0,
                        "timeline": [],
                        "cpu_s_per_million": 0.0,
                    }
                )
                continue
            versions[name] = target.version
            # Thousands of rules may be compiled at the first batch rather than at start-up.
            run_load = load._replace(warmup_timeout_s=variants.RULES_START_TIMEOUT_S) if rules else load
            run_pool = pool
            if spec and spec.proto:  # --beside-proto: the same engine, another protocol and pool
                run_load, run_pool = run_load._replace(proto=spec.proto), (pools or {})[spec.proto]
            watcher = latency.ProbeWatcher(target.data_dir) if load.probes_per_s and target.data_dir else None
            try:
                with watcher or contextlib.nullcontext():
                    run = measure(target, run_pool, run_load, quiet=args.quiet)
            finally:
                target.stop()
            run["repeat"] = rep
            if watcher:
                times = watcher.times()
                run["latency"] = {
                    k: v for k, v in latency.summarize(times, run["probes"]).items() if not k.endswith("_sorted_ms")
                }
                if not rules:  # the run's latency figures are of logjet as it ships, without rules
                    probe_times.update(times)
                    probes_sent += run["probes"]
            target.remove()
            runs[name].append(run)
            if not args.quiet:
                print(
                    f"  {name} run {rep + 1}/{args.repeat}: {run['msgs_per_s']:,.0f} msgs/s ({run['outcome']})",
                    file=sys.stderr,
                )
    result = {
        **report.heading("ingest", machine, versions),
        "config": {
            "messages": args.messages,
            "proto": args.proto,
            "senders": args.senders,
            "batch": args.batch,
            "rate": args.rate,
            "probes_per_s": args.probes,
            "data": args.data,
            "rfc5424": args.rfc5424,
            "seed": args.seed,
            "warmup": args.warmup,
            "receivers": args.receivers,
            "parsers": args.parsers,
            "repeat": args.repeat,
            "peers": peers,
            "alert_rules": [spec.rules for spec in specs if spec.rules],
            "with_auth": any(spec.name == variants.AUTH_TARGET for spec in specs),
            "http_tls": bool(getattr(args, "http_tls", False)),
            "bytes_per_message": round(pool.bytes_per_message, 1),
            "pool_messages": pool.count,
            "target": args.url or "started",
        },
        "runs": runs,
    }
    result["summary"] = summarize(runs, specs)
    notes += alert_cost.notes(result["summary"]["alert_rules"])
    if notes:
        result["notes"] = notes
    if load.probes_per_s:
        if args.url:
            result.setdefault("notes", []).append("latency needs a local engine (no --url): not measured")
        else:
            result["latency"] = latency.summarize(probe_times, probes_sent)
    return result


def summarize(runs: dict[str, list[dict]], specs: list[variants.LogjetSpec] = ()) -> dict:
    targets = {}
    for name, rs in runs.items():
        rates = [r["msgs_per_s"] for r in rs]
        targets[name] = {
            "msgs_per_s": report.median(rates),
            "all_msgs_per_s": rates,
            "cpu_s_per_million": report.median([r["cpu_s_per_million"] for r in rs]),
            "host_busy_cores": report.median([r.get("host_cpu", {}).get("busy_cores", 0.0) for r in rs]),
            "stored_share": sum(r.get("stored", 0) for r in rs) / max(1, sum(r.get("sent", 0) for r in rs)),
            "outcomes": [r["outcome"] for r in rs],
        }
        proto = next((spec.proto for spec in specs if spec.name == name and spec.proto), "")
        if proto:
            targets[name]["proto"] = proto
    logjet = targets["logjet"]["msgs_per_s"]
    ours = {spec.name for spec in specs} | {"logjet"}
    ratios = {
        name: round(logjet / t["msgs_per_s"], 3)
        for name, t in targets.items()
        if (name not in ours or "proto" in t) and t["msgs_per_s"]
    }
    return {
        "targets": targets,
        "ratio_logjet_to": ratios,
        "alert_rules": alert_cost.summarize(runs, targets, specs),
        "auth": auth_cost.summarize(runs, targets),
    }


def print_summary(result: dict, json_path: str, png_path: str | None) -> None:
    print(report.markdown_ingest(result))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"result: {json_path}" + (f"\nplot:   {png_path}" if png_path else ""), file=sys.stderr)
