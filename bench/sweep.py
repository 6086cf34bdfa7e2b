"""`logjet bench ingest --rates 10000,50000,200000,max`: the ingest comparison at several rates.

Each rate is one `bench ingest` series (`bench.ingest.run_series`: logjet and every `--peer`,
interleaved, `--repeat` times, on the same pre-rendered pool): at a fixed rate for `--duration`
seconds (default 10), with latency probes; `max` sends `--messages` as fast as the target takes
them. Per rate and target it reports achieved msgs/s, CPU seconds per million messages (every
process of the target, from /proc: `bench.targets`) and, for logjet, send -> visible p50/p95/p99
(`bench.latency`). Before the rates each target is started once, warmed up, and left without
traffic for `--idle-seconds` (10): its idle CPU, in cores. Output: a Markdown table, a JSON result and an SVG
plot (`bench.svg`, no plotting dependency).
"""

from __future__ import annotations

import copy
import os
import shutil
import sys
import tempfile
import time

from bench import ingest, report, svg
from bench.measure import Load, warm_up
from bench.peers import PEERS
from bench.send import Pool, write_pool
from bench.targets import LogjetTarget, PeerTarget

DEFAULT_DURATION_S = 10.0
IDLE_SETTLE_S = 2.0  # after the warm-up is stored, before the idle clock starts
MAX = "max"


def parse_rates(text: str) -> list[float]:
    """'10000,50000,max' -> [10000.0, 50000.0, 0.0] (0: full speed). Raises SystemExit naming a bad item."""
    rates = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == MAX:
            rates.append(0.0)
            continue
        try:
            value = float(item)
        except ValueError:
            value = -1.0
        if value <= 0:
            raise SystemExit(f"logjet bench ingest: --rates: {item!r} is neither a positive rate nor 'max'")
        rates.append(value)
    if not rates:
        raise SystemExit("logjet bench ingest: --rates needs at least one rate")
    return rates


def rate_label(rate: float) -> str:
    return MAX if not rate else f"{rate / 1000:g}k"


def run_sweep(args) -> int:
    result, json_path, svg_path = sweep(args)
    print(markdown_sweep(result))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"result: {json_path}\nplot:   {svg_path}", file=sys.stderr)
    ok = all(o in ("complete", "settled") for row in result["rows"] for o in row["outcomes"])
    return 0 if ok else 1


def sweep(args) -> tuple[dict, str, str]:
    """Idle CPU, then one series per rate; writes the JSON and SVG. Returns (result, paths)."""
    if args.url:
        raise SystemExit("logjet bench ingest: --rates starts its own targets (no --url)")
    rates = parse_rates(args.rates)
    duration = args.duration or DEFAULT_DURATION_S
    notes: list[str] = []
    peers = ingest.make_peers(args, notes)
    tmp = tempfile.mkdtemp(prefix="logjet-sweep-")
    machine = report.machine()
    rows: list[dict] = []
    try:
        pool = write_pool(tmp, ingest.pool_messages(args), args.proto)
        idle = {name: idle_cores(args, tmp, pool, name) for name in ["logjet", *peers]}
        for rate in rates:
            a = copy.copy(args)
            a.rate = rate
            a.duration = None
            a.messages = int(rate * duration) if rate else args.messages
            a.probes = (args.probes if args.probes is not None else ingest.DEFAULT_PROBES_PER_S) if rate else 0
            load = Load(
                a.proto, a.messages, a.senders, rate, float(a.probes), float(a.timeout), a.warmup, batch=a.batch
            )
            if not args.quiet:
                print(f"rate {rate_label(rate)}: {a.messages:,} messages", file=sys.stderr)
            series = ingest.run_series(a, tmp, pool, load, peers)
            notes += series.get("notes", [])
            rows += rows_of(rate, series)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        **report.heading("ingest-sweep", machine),
        "config": {
            "rates": rates,
            "duration_s": duration,
            "max_messages": args.messages,
            "proto": args.proto,
            "senders": args.senders,
            "repeat": args.repeat,
            "warmup": args.warmup,
            "peers": peers,
            "idle_s": args.idle_seconds,
        },
        "idle_cores": idle,
        "rows": rows,
        "notes": notes,
    }
    out = args.out or ingest.default_out()
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, f"ingest-sweep-{args.proto}-{time.strftime('%Y%m%d-%H%M%S')}")
    with open(stem + ".svg", "w") as f:
        f.write(plot_sweep(result))
    result["plot"] = os.path.basename(stem + ".svg")
    import json

    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
    return result, stem + ".json", stem + ".svg"


def rows_of(rate: float, series: dict) -> list[dict]:
    """One row per target of one rate's series (medians over its runs)."""
    rows = []
    for name, t in series["summary"]["targets"].items():
        runs = series["runs"][name]
        loads = [r.get("host_cpu", {}).get("load_avg_1m", 0.0) for r in runs]
        row = {
            "rate": rate,
            "target": name,
            "msgs_per_s": t["msgs_per_s"],
            "cpu_s_per_million": t["cpu_s_per_million"],
            "cores": round(t["cpu_s_per_million"] * t["msgs_per_s"] / 1e6, 3),
            "host_busy_cores": t["host_busy_cores"],
            "load_avg_1m": report.median(loads),
            "stored_share": t["stored_share"],
            "outcomes": t["outcomes"],
        }
        lat = [r["latency"]["send_to_visible"] for r in runs if r.get("latency", {}).get("send_to_visible")]
        if lat:
            row["visible_ms"] = {p: report.median([x[p] for x in lat]) for p in ("p50", "p95", "p99", "max")}
        rows.append(row)
    return rows


def idle_cores(args, tmp: str, pool: Pool, name: str) -> float:
    """Cores `name` uses over `--idle-seconds` without traffic, after a warm-up is stored."""
    workdir = os.path.join(tmp, f"idle-{name}")
    framing = "octet" if args.proto == "tcp-octet" else "lf"
    if name == "logjet":
        target: LogjetTarget | PeerTarget = LogjetTarget(workdir, ingest.engine_args(args))
    else:
        cls = PEERS[name]
        target = PeerTarget(cls(cls.find(), workdir))
    target.start(framing)
    try:
        warm_up(target, pool, Load(args.proto, 0, 1, 0.0, 0.0, float(args.timeout), max(1000, args.warmup)))
        time.sleep(IDLE_SETTLE_S)
        before = _cpu(target)
        time.sleep(args.idle_seconds)
        cores = (_cpu(target) - before) / args.idle_seconds
    finally:
        target.stop()
        target.remove()
    if not args.quiet:
        print(f"  {name} idle: {cores:.3f} cores", file=sys.stderr)
    return round(cores, 4)


def _cpu(target: LogjetTarget | PeerTarget) -> float:
    return target.cpu_seconds() or 0.0


def markdown_sweep(result: dict) -> str:
    c = result["config"]
    lines = [
        f"| rate | target | msgs/s (median of {c['repeat']}) | CPU s per M msgs | cores | "
        "visible p50 / p95 / p99 ms | load avg 1m | logjet CPU / target's |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_rate: dict[float, dict[str, dict]] = {}
    for row in result["rows"]:
        by_rate.setdefault(row["rate"], {})[row["target"]] = row
    for rate, targets in by_rate.items():
        ours = targets.get("logjet", {}).get("cpu_s_per_million")
        for name, row in targets.items():
            vis = row.get("visible_ms")
            vis_text = f"{vis['p50']:,.0f} / {vis['p95']:,.0f} / {vis['p99']:,.0f}" if vis else ""
            ratio = f"{ours / row['cpu_s_per_million']:.2f}" if ours and name != "logjet" else ""
            lines.append(
                f"| {rate_label(rate)} | {name} | {row['msgs_per_s']:,.0f} | {row['cpu_s_per_million']:.2f} | "
                f"{row['cores']:.2f} | {vis_text} | {row['load_avg_1m']:.1f} | {ratio} |"
            )
    idle = ", ".join(f"{name} {cores:.3f}" for name, cores in result["idle_cores"].items())
    lines += ["", f"idle ({c['idle_s']:.0f} s without traffic, after a warm-up), cores: {idle}"]
    return "\n".join(lines)


def plot_sweep(result: dict) -> str:
    rates = sorted({row["rate"] for row in result["rows"]}, key=lambda r: (r == 0, r))
    labels = [rate_label(r) for r in rates]
    targets = list(dict.fromkeys(row["target"] for row in result["rows"]))
    cell = {(row["rate"], row["target"]): row for row in result["rows"]}

    def values(target: str, key: str) -> list[float | None]:
        return [cell[(r, target)][key] if (r, target) in cell else None for r in rates]

    cpu = svg.Panel(
        "CPU seconds per million messages",
        "CPU s / M msgs",
        labels,
        {t: values(t, "cpu_s_per_million") for t in targets},
    )
    thr = svg.Panel("achieved msgs/s", "msgs/s", labels, {t: values(t, "msgs_per_s") for t in targets})
    vis = {
        p: [cell[(r, "logjet")].get("visible_ms", {}).get(p) if (r, "logjet") in cell else None for r in rates]
        for p in ("p50", "p95", "p99")
    }
    lat = svg.Panel(
        "logjet send -> visible", "ms", labels, {f"visible {p}": v for p, v in vis.items()}, [(250.0, "250 ms")]
    )
    m = result["machine"]
    title = (
        f"logjet bench ingest --rates ({result['config']['proto']}, {result['time']}) on "
        f"{m.get('cpu_model', '?')}, {m.get('cpus')} CPUs; idle cores: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result["idle_cores"].items())
    )
    return svg.bar_panels(title, [cpu, thr, lat])
