"""`logjet bench loki-query`: what the Loki read API costs beside the native query API, over the
same data and the same plans.

The data is `logjet bench query`'s (bench/query.py: generated traffic parsed, flushed and merged
as the writer would leave it, made once and reused). A `logjet serve` is started on it, and each
pair below, a LogQL request to /loki/api/v1/... and the native request that runs the same plan
(the LogQL translation's own filter and stage), is timed over HTTP from this process: one
warm-up each, then `--runs` rounds alternating the two (so that a busy neighbour slows both),
medians. The ratio Loki / native is the API's overhead (target: below 1.10).

- rows: a selector and a line filter, the newest 1000 rows (native: the same filter, whole
  row objects as NDJSON);
- count_over_time: `sum by (app) (count_over_time(...[1m]))` over the hour before the newest
  row, step 1m (native: `| histogram(1m) by (app)` over the same hour);
- logs volume: what Grafana's Explore asks beside every log query.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from bench.engine import EngineProcess
from bench.query import finish, load_or_make, storage_figures

MINUTE_NS = 60 * 10**9
# (name, LogQL for /loki/api/v1/query_range, the native query running the same plan)
PAIRS = [
    ("rows: selector + line filter", '{app="sshd"} |= "Failed password"', 'app:"sshd" /Failed password/'),
    ("rows: selector", '{host="db-03"}', 'host:"db-03"'),
    (
        "count_over_time by app, 1h, step 1m",
        'sum by (app) (count_over_time({app=~".+"}[1m]))',
        "app:* | histogram(1m) by (app)",
    ),
    (
        "logs volume (Grafana), 1h, step 1m",
        'sum by (level, detected_level) (count_over_time({app=~".+"} | drop __error__ [1m]))',
        "app:* | histogram(1m) by (severity)",
    ),
]


def _fetch(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as resp:
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"logjet: {url} answered {resp.status}: {body[:300]!r}")
    return time.perf_counter() - t0, len(body)


def _seconds(ns: int) -> str:
    """Epoch seconds with all nine decimals (the native API's time form), exact."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def _urls(base: str, logql: str, native: str, start_ns: int, end_ns: int) -> tuple[str, str]:
    loki = {"query": logql, "start": str(start_ns), "end": str(end_ns), "limit": "1000", "step": "60"}
    ours = {"q": native, "start": _seconds(start_ns), "end": _seconds(end_ns), "limit": "1000"}
    if "histogram" in native:
        del ours["limit"]
    return (
        f"{base}/loki/api/v1/query_range?{urllib.parse.urlencode(loki)}",
        f"{base}/api/v1/query?{urllib.parse.urlencode(ours)}",
    )


def time_pair(base: str, pair: tuple[str, str, str], start_ns: int, end_ns: int, runs: int) -> dict:
    name, logql, native = pair
    loki_url, native_url = _urls(base, logql, native, start_ns, end_ns)
    sizes = {"loki": _fetch(loki_url)[1], "native": _fetch(native_url)[1]}  # warm-up
    times: dict[str, list[float]] = {"loki": [], "native": []}
    for k in range(runs):
        order = ("loki", "native") if k % 2 == 0 else ("native", "loki")
        for which in order:
            times[which].append(_fetch(loki_url if which == "loki" else native_url)[0])
    loki_ms = 1000 * statistics.median(times["loki"])
    native_ms = 1000 * statistics.median(times["native"])
    return {
        "name": name,
        "logql": logql,
        "native": native,
        "loki_median_ms": round(loki_ms, 2),
        "native_median_ms": round(native_ms, 2),
        "ratio": round(loki_ms / native_ms, 3) if native_ms else None,
        "answer_bytes": sizes,
    }


def run_loki_query_bench(args) -> int:
    data_dir = args.data_dir or os.path.join(os.getcwd(), "bench", "data", f"query-{args.rows}")
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    marker = load_or_make(data_dir, args.rows, args.seed, log)
    figures = storage_figures(data_dir)
    end_ns = figures["newest_ns"] + 1
    start_ns = end_ns - 60 * MINUTE_NS
    results = []
    with tempfile.TemporaryDirectory(prefix="logjet-bench-loki-") as tmp:
        # --retention 0: the made data may be older than the default retention.
        engine = EngineProcess(data_dir, "--retention", "0", log_path=os.path.join(tmp, "engine.log"))
        with engine:
            for pair in PAIRS:
                entry = time_pair(engine.url, pair, start_ns, end_ns, args.runs)
                results.append(entry)
                log(f"  {entry['name']}: Loki {entry['loki_median_ms']} ms, native {entry['native_median_ms']} ms")
    finish("loki-query", args, data_dir, marker, figures, results, print_table, plot)
    return 0


def plot(result: dict, path: str) -> None:
    """Bars: each pair's Loki and native medians."""
    import matplotlib.pyplot as plt

    rows = result["results"]
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["loki_median_ms"] for r in rows], 0.4, label="/loki/api/v1")
    ax.bar([x + 0.2 for x in xs], [r["native_median_ms"] for r in rows], 0.4, label="/api/v1/query")
    ax.set_xticks(list(xs), [r["name"] for r in rows], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("median ms")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def print_table(out: dict) -> None:
    print(f"{out['storage']['rows']:,} rows; medians of {out['config']['runs']} runs each, interleaved")
    print(f"{'query':<40} {'Loki ms':>9} {'native ms':>10} {'Loki/native':>12}")
    for r in out["results"]:
        print(f"{r['name']:<40} {r['loki_median_ms']:>9.1f} {r['native_median_ms']:>10.1f} {r['ratio']:>12.3f}")
