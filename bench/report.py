"""Benchmark reports: the machine, a JSON result file, a PNG plot and Markdown table rows.

Every bench writes `<out>/<bench>-<label>-<time>.json` (machine, versions, config, figures)
and a PNG beside it with the same stem. Plots use matplotlib's Agg backend (no display needed);
when matplotlib is missing the PNG is skipped with a note, never the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

from bench import alert_cost, auth_cost

# Peers' bars and lines keep one colour each across plots.
COLOURS = {"logjet": "#1f77b4", "logjet+auth": "#9467bd", "rsyslog": "#d62728", "syslog-ng": "#2ca02c"}
# logjet with alert rules: lighter and darker blues, by the rule counts' order in the run.
RULES_COLOURS = ["#6baed6", "#08519c", "#9ecae1", "#3182bd"]


def colour(name: str, alert_rules: dict) -> str:
    if name in alert_rules:
        return RULES_COLOURS[list(alert_rules).index(name) % len(RULES_COLOURS)]
    return COLOURS.get(name, "#7f7f7f")


def machine() -> dict:
    """Where the figures were taken: CPU model and counts (from lscpu), memory, OS, Python."""
    info = {
        "hostname": platform.node(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, timeout=10, text=True).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    wanted = {
        "Model name": "cpu_model",
        "Socket(s)": "sockets",
        "Core(s) per socket": "cores_per_socket",
        "Thread(s) per core": "threads_per_core",
        "CPU max MHz": "cpu_max_mhz",
        "L3 cache": "l3_cache",
        "Hypervisor vendor": "hypervisor",
    }
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in wanted:
            info[wanted[key.strip()]] = value.strip()
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    info["load_avg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions() -> dict:
    import numba
    import numpy

    from engine import __version__

    return {
        "logjet": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "numba": numba.__version__,
    }


def heading(bench: str, machine_info: dict | None = None, versions_info: dict | None = None) -> dict:
    """The keys every ingest-side result starts with: what ran, when, how it was invoked, on
    what (`machine_info`: taken before the runs, when the caller has it; else now), with which
    versions (`versions_info`: the caller's, peers' included; else logjet's own)."""
    return {
        "bench": bench,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "logjet " + " ".join(sys.argv[1:]),
        "machine": machine_info if machine_info is not None else machine(),
        "versions": versions_info if versions_info is not None else versions(),
    }


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def write(result: dict, out_dir: str, stem: str, plot) -> tuple[str, str | None]:
    """Write `<stem>.json` and, via `plot(result, path)`, `<stem>.png`; returns both paths."""
    os.makedirs(out_dir, exist_ok=True)
    stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    json_path = os.path.join(out_dir, stem + ".json")
    png_path = os.path.join(out_dir, stem + ".png")
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'logjet[bench]')", file=sys.stderr)
        png_path = None
    result["plot"] = os.path.basename(png_path) if png_path else None
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    if png_path:
        plot(result, png_path)
    return json_path, png_path


def plot_ingest(result: dict, path: str) -> None:
    import matplotlib.pyplot as plt

    summary = result["summary"]
    rules = summary.get("alert_rules", {})
    latency = result.get("latency")
    panels = 2 + (1 if latency and latency.get("send_to_visible") else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), dpi=75)
    c = result["config"]
    title = f"{c['proto']}, {c['messages']:,} msgs, {c['senders']} senders" + (
        f", rate {c['rate']:,.0f}/s" if c.get("rate") else ", max rate"
    )
    fig.suptitle(
        f"logjet bench ingest ({title}) on {result['machine'].get('cpu_model', '?')}, {result['machine']['cpus']} CPUs",
        fontsize=9,
    )

    ax = axes[0]
    for name, runs in result["runs"].items():
        run = _median_run(runs)
        if run and run["timeline"]:
            t = [p[0] for p in run["timeline"]]
            col = colour(name, rules)
            ax.plot(t, [p[1] / 1e6 for p in run["timeline"]], label=f"{name} stored", color=col)
            ax.plot(
                t, [p[2] / 1e6 for p in run["timeline"]], ls="--", lw=0.8, color=col, alpha=0.6, label=f"{name} sent"
            )
    ax.set_title("messages over time (median run; slope = rate)", fontsize=9)
    ax.set_xlabel("seconds since first send")
    ax.set_ylabel("million messages")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = axes[1]
    names = list(summary["targets"])
    meds = [summary["targets"][n]["msgs_per_s"] / 1000 for n in names]
    lows = [m - min(r / 1000 for r in summary["targets"][n]["all_msgs_per_s"]) for n, m in zip(names, meds)]
    highs = [max(r / 1000 for r in summary["targets"][n]["all_msgs_per_s"]) - m for n, m in zip(names, meds)]
    ax.bar(names, meds, yerr=[lows, highs], color=[colour(n, rules) for n in names], capsize=4)
    for i, (n, m) in enumerate(zip(names, meds)):
        label = f"{m:,.0f}k"
        if rules.get(n, {}).get("ratio") is not None:  # with rules / without, like the peers' ratio in the table
            label += f"\n×{rules[n]['ratio']:.2f} ({-rules[n]['cost_pct']:+.0f}%)"
        ax.annotate(label, (i, m), ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    if rules and meds:
        ax.set_ylim(0, max(m + h for m, h in zip(meds, highs)) * 1.3)  # room for the two-line labels
    if len(names) > 3:
        ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    ax.set_title(f"median of {c['repeat']} (min-max bars)", fontsize=9)
    ax.set_ylabel("thousand msgs/s")
    ax.grid(axis="y", alpha=0.3)

    if panels == 3:
        ax = axes[2]
        lat = latency["send_to_visible_sorted_ms"]
        ax.plot([100 * i / max(1, len(lat) - 1) for i in range(len(lat))], lat, color=COLOURS["logjet"])
        for p in ("p50", "p95", "p99"):
            v = latency["send_to_visible"][p]
            ax.axhline(v, ls=":", color="#555555", lw=0.8)
            ax.annotate(f"{p} {v:,.0f} ms", (2, v), fontsize=8, va="bottom")
        ax.set_title(f"send → visible latency ({latency['probes_found']:,} probes)", fontsize=9)
        ax.set_xlabel("percentile")
        ax.set_ylabel("ms")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _median_run(runs: list[dict]) -> dict | None:
    ok = sorted(runs, key=lambda r: r["msgs_per_s"])
    return ok[len(ok) // 2] if ok else None


def markdown_ingest(result: dict) -> str:
    """Table rows for BENCHMARKS.md: one per target, with the ratio logjet / peer; then, with alert
    rules, what they cost (`bench.alert_cost`)."""
    c = result["config"]
    load = f"{c['proto']}, {c['data']}{' RFC 5424' if c.get('rfc5424') else ''}, " + (
        f"{c['rate']:,.0f}/s" if c.get("rate") else "max rate"
    )
    lines = [
        f"| target | load | msgs/s (median of {c['repeat']}) | min-max | stored / sent | CPU s per M msgs "
        "| machine busy (cores) | logjet / target |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    logjet = result["summary"]["targets"].get("logjet", {}).get("msgs_per_s")
    rules = result["summary"].get("alert_rules", {})
    for name, s in result["summary"]["targets"].items():
        peer = not name.startswith("logjet") or "proto" in s  # another protocol compares too
        ratio = f"{logjet / s['msgs_per_s']:.2f}" if logjet and s["msgs_per_s"] and peer else ""
        row_load = load.replace(c["proto"], s["proto"], 1) if "proto" in s else load
        lines.append(
            f"| {name} | {row_load} | {s['msgs_per_s']:,.0f} | {min(s['all_msgs_per_s']):,.0f}-"
            f"{max(s['all_msgs_per_s']):,.0f} | {s['stored_share']:.1%} | {s['cpu_s_per_million']:.2f} "
            f"| {s.get('host_busy_cores', 0):.2f} | {ratio} |"
        )
    if rules:
        lines += [""] + alert_cost.markdown(rules)
    if result["summary"].get("auth"):
        lines += [""] + auth_cost.markdown(result["summary"]["auth"])
    lat = result.get("latency", {}).get("send_to_visible")
    if lat:
        lines.append("")
        lines.append(
            f"send → visible at {c['rate']:,.0f} msgs/s: p50 {lat['p50']:,.0f} ms, "
            f"p95 {lat['p95']:,.0f} ms, p99 {lat['p99']:,.0f} ms "
            f"({result['latency']['probes_found']:,} probes)"
        )
    return "\n".join(lines)


def plot_query(result: dict, path: str) -> None:
    """Median ms per query, over all rows and over the last 5 minutes (log scale)."""
    import matplotlib.pyplot as plt

    rows = result["results"]
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    y = range(len(names))
    ax.barh(
        [i + 0.2 for i in y],
        [r["all"]["median_ms"] for r in rows],
        height=0.4,
        label=f"all {result['config']['rows']:,} rows",
    )
    ax.barh([i - 0.2 for i in y], [r["last 5m"]["median_ms"] for r in rows], height=0.4, label="last 5 minutes")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"median ms of {result['config']['runs']} runs (log scale)")
    ax.set_title(
        f"logjet bench query on {result['machine'].get('cpu_model', '')}, {result['machine'].get('cpus')} CPUs"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_compression(result: dict, path: str) -> None:
    """Raw bytes ÷ bytes on disk per data set, flushed and merged."""
    import matplotlib.pyplot as plt

    sets = [d for d in ("loghub", "loghub-live", "synthetic") if d in result]
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, stage in enumerate(("flushed", "merged")):
        values = [result[d][stage]["ratio"] for d in sets]
        bars = ax.bar([i + (k - 0.5) * 0.4 for i in range(len(sets))], values, width=0.4, label=stage)
        ax.bar_label(bars, fmt="%.2f")
    ax.set_xticks(range(len(sets)), sets)
    ax.set_ylabel("raw bytes ÷ bytes on disk (indexes included)")
    ax.set_title("logjet bench compression")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_alert_latency(result: dict, path: str) -> None:
    """The distribution of send → webhook latencies, sorted."""
    import matplotlib.pyplot as plt

    lat = sorted(result["latencies_ms"])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([100 * (i + 1) / len(lat) for i in range(len(lat))], lat)
    ax.set_xlabel("percentile of probes")
    ax.set_ylabel("send → webhook (ms)")
    p = result["latency_s"]
    ax.set_title(
        f"alert fire latency: p50 {p['p50'] * 1e3:.0f} ms, p99 {p['p99'] * 1e3:.0f} ms "
        f"({result['background_rate']:,.0f} msgs/s background)"
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
