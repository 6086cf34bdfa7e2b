"""`logjet bench query`: a fixed query suite over 10M rows of realistic data, timed, plus the
data's compression.

Data. Made once in `--data-dir` and reused while its marker (`bench-query.json`: rows, seed,
what was made) matches: bench/generate.py traffic (seeded) through the engine's parser
(`bench.rows`), written as flush parts of FLUSH_ROWS rows with indexes, each flush followed by
the merges the writer's merge thread would do (`engine.write.merge.plan_merges` with the default
storage settings), and at the end those it makes once the data has been quiet SETTLE_S (every
flushed part merged, so indexed). So the parts are what a writer that kept up leaves once its
source stops: a few big merged parts and some smaller ones, every one indexed. The rows are 0.1
ms apart and end a minute before the data was made. 10M rows take several minutes to make on two
cores.

Queries (SUITE), each as `... | stats count()` where it is a filter, so that the time is the
filter's over every row rather than the first page's: count of everything, a field filter (a
column, and a key=value field), a rare word, a common word, a phrase, a regex, a group-by, a
histogram. Each runs over all the data and over its last 5 minutes (the 5 minutes before its
newest row, the data's own "now", so that a reused data dir still has a last 5 minutes). One
warm-up run, then the median of `--runs` runs (default 10).

The executor is `engine.query.execute.run_to_objects(data_dir, query, start_ns, end_ns, limit)`;
without it the bench says so and exits with status 2.

Output: a table on stdout, JSON and a PNG plot in bench/results/query-<time>.json/.png.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time

from bench import report
from engine.config import Storage
from engine.store.index_build import make_index_builder
from engine.store.layout import part_name
from engine.store.live import live_parts
from engine.store.part_reader import read_head
from engine.write.merge import (
    LEVEL0_MERGE_AFTER_S,
    SETTLE_S,
    merge_parts,
    merge_zstd_level,
    plan_merges,
    remove_replaced,
)
from engine.write.flush_writer import FlushWriter

MARKER = "bench-query.json"
INSTANCE = "bec4"
GEN_CHUNK = 200_000  # messages generated at a time (memory: the pre-rendered lines)
FLUSH_ROWS = 100_000  # rows per flush part, about a busy writer's flush
LAST_S = 300
STEP_S = 1e-4  # bench.generate spaces messages 0.1 ms apart

# (name, query); {rare} is filled with a token that occurs once in the data.
SUITE = [
    ("count all", "* | stats count()"),
    ("field filter (column)", "host:db-03 | stats count()"),
    ("field filter (kv)", "status:503 | stats count()"),
    ("rare word", "{rare} | stats count()"),
    ("common word", "user | stats count()"),
    ("phrase", '"Failed password" | stats count()'),
    ("regex", "message:/Out of memory: Killed process 9[0-9]+/ | stats count()"),
    ("stats by host", "* | stats count() by (host)"),
    ("histogram 1m", "* | histogram(1m)"),
]
_HASH_RE = re.compile(rb"SHA256:([0-9a-f]{16})")


def _executor():
    try:
        from engine.query.execute import run_to_objects
    except ImportError:
        return None
    return run_to_objects


def _merge_caught_up(data_dir: str, storage: Storage, builder, writer: FlushWriter, settled: bool = False) -> None:
    """The merges the merge thread would make now, until none is left (flushed parts as if
    LEVEL0_MERGE_AFTER_S had passed, as it has for a writer that kept up); `settled`: as if
    SETTLE_S had passed too, as it has once the data is made (a `logjet serve` started on it
    would make these merges first, while it is being timed)."""
    ahead_s = SETTLE_S + 1 if settled else LEVEL0_MERGE_AFTER_S
    while True:
        heads = {p: read_head(p) for p in live_parts(data_dir)}
        now_ns = time.time_ns() + int(ahead_s * 1e9)
        groups = plan_merges(heads, storage.merge_min_parts, storage.max_part_rows, now_ns)
        if not groups:
            return
        for group in groups:
            inputs = [(p, heads[p]) for p in group]
            level = max(h.level for _, h in inputs) + 1
            first = min(h.min_time for _, h in inputs)
            out = os.path.join(os.path.dirname(group[0]), part_name(level, first, INSTANCE, writer.next_seq()))
            merge_parts(
                inputs,
                out,
                instance=INSTANCE,
                zstd_level=merge_zstd_level(storage, inputs),
                block_rows=storage.block_rows,
                index_builder=builder,
                fsync=False,
                derive_fields=storage.derive_fields,
            )
            remove_replaced(group, fsync=False)


def make_data(data_dir: str, rows: int, seed: int, log=print, dataset: str = "synthetic", corpus=None) -> dict:
    """Generate, parse, flush and merge `rows` rows into `data_dir`; returns the marker.
    `dataset`: "synthetic" (bench.generate's templates) or "loghub" (the loghub samples of
    `corpus` replayed, bench.generate.loghub_replay)."""
    from bench.generate import loghub_replay, messages
    from bench.rows import iter_rows
    from engine.store.rows import concat

    os.makedirs(data_dir, exist_ok=True)
    storage = Storage(fsync=False)
    builder = make_index_builder(storage)
    writer = FlushWriter(
        data_dir,
        INSTANCE,
        storage.block_rows,
        storage.zstd_level,
        False,
        index_builder=builder,
        derive_fields=storage.derive_fields,
    )
    start_s = time.time() - rows * STEP_S - 60
    rare = None
    pending, pending_rows = [], 0
    t0 = time.time()
    for k, lo in enumerate(range(0, rows, GEN_CHUNK)):
        n = min(GEN_CHUNK, rows - lo)
        if dataset == "loghub":
            lines = loghub_replay(corpus, n, offset=lo, now=start_s + lo * STEP_S)
        else:
            lines = messages(n, seed=seed + k, now=start_s + lo * STEP_S)
        if rare is None and dataset == "synthetic" and lo + n > rows // 2:
            rare = _HASH_RE.search(b"\n".join(lines[rows // 2 - lo :])).group(1).decode()
        for batch in iter_rows(lines, recv_ns=int((start_s + (lo + n) * STEP_S) * 1e9)):
            pending.append(batch)
            pending_rows += len(batch)
            if pending_rows >= FLUSH_ROWS:
                writer.write_flush(concat(pending), {"bench": lo})
                pending, pending_rows = [], 0
                _merge_caught_up(data_dir, storage, builder, writer)
        log(f"  {lo + n:,} of {rows:,} rows made ({time.time() - t0:.0f}s)")
    if pending:
        writer.write_flush(concat(pending), {"bench": rows})
    _merge_caught_up(data_dir, storage, builder, writer, settled=True)
    marker = {
        "rows": rows,
        "seed": seed,
        "rare": rare,
        "data": dataset,
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.time() - t0, 1),
        "settled": True,  # the merges of a quiet store made (SETTLE_S)
    }
    with open(os.path.join(data_dir, MARKER), "w") as f:
        json.dump(marker, f)
    return marker


def load_or_make(data_dir: str, rows: int, seed: int, log=print, dataset: str = "synthetic", corpus=None) -> dict:
    try:
        with open(os.path.join(data_dir, MARKER)) as f:
            marker = json.load(f)
        same = marker.get("rows") == rows and marker.get("seed") == seed
        if same and marker.get("data", "synthetic") == dataset and live_parts(data_dir):
            if marker.get("settled"):
                return marker
            # Made before the settling merges: this bench's own data (its marker says so), made again.
            log(f"{data_dir} was made without the merges of a quiet store; making it again")
            for path in live_parts(data_dir):
                os.remove(path)
            os.remove(os.path.join(data_dir, MARKER))
    except (OSError, ValueError):
        pass
    if live_parts(data_dir):
        raise SystemExit(f"logjet: {data_dir} holds other data; give an empty or bench-made --data-dir")
    log(f"making {rows:,} rows in {data_dir} (once; later runs reuse them)")
    return make_data(data_dir, rows, seed, log, dataset, corpus)


def storage_figures(data_dir: str) -> dict:
    paths = live_parts(data_dir)
    heads = [read_head(p) for p in paths]
    disk = sum(os.path.getsize(p) for p in paths)
    raw = sum(h.raw_bytes for h in heads)
    data = sum(h.data_bytes for h in heads)
    index = sum(h.index_bytes for h in heads)
    return {
        "rows": sum(h.rows for h in heads),
        "parts": len(heads),
        "levels": sorted(h.level for h in heads),
        "raw_bytes": raw,
        "disk_bytes": disk,
        "ratio": round(raw / disk, 2) if disk else None,
        "index_bytes": index,
        "index_share": round(index / data, 4) if data else None,
        "newest_ns": max((h.max_time for h in heads), default=0),
    }


def time_query(run, data_dir: str, query: str, start_ns, end_ns, runs: int) -> dict:
    answer = list(run(data_dir, query, start_ns, end_ns, None))  # warm-up: caches, numba
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        answer = list(run(data_dir, query, start_ns, end_ns, None))
        times.append(time.perf_counter() - t0)
    return {
        "median_ms": round(1000 * statistics.median(times), 2),
        "min_ms": round(1000 * min(times), 2),
        "max_ms": round(1000 * max(times), 2),
        "answer": _summary(answer),
    }


def _summary(answer: list) -> object:
    """What to print of an answer: a single count, or the number of objects."""
    if len(answer) == 1 and isinstance(answer[0], dict) and len(answer[0]) == 1:
        return next(iter(answer[0].values()))
    return f"{len(answer)} objects"


def run_query_bench(args) -> int:
    run = _executor()
    if run is None:
        print(
            "logjet: the query executor (engine.query.execute.run_to_objects) is not in this build yet; "
            "`logjet bench query` needs it",
            file=sys.stderr,
        )
        return 2
    data_dir = args.data_dir or os.path.join(os.getcwd(), "bench", "data", f"query-{args.rows}")
    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    marker = load_or_make(data_dir, args.rows, args.seed, log)
    figures = storage_figures(data_dir)
    newest = figures["newest_ns"]
    windows = {"all": (None, None), "last 5m": (newest - LAST_S * 1_000_000_000, newest + 1)}
    results = []
    for name, query in SUITE:
        query = query.format(rare=marker["rare"])
        entry = {"name": name, "query": query}
        for window, (start, end) in windows.items():
            entry[window] = time_query(run, data_dir, query, start, end, args.runs)
        results.append(entry)
        log(f"  {name}: {entry['all']['median_ms']} ms, last 5m {entry['last 5m']['median_ms']} ms")
    finish("query", args, data_dir, marker, figures, results, print_table, report.plot_query)
    return 0


def finish(bench: str, args, data_dir: str, marker: dict, figures: dict, results: list, table, plot, extra=None) -> str:
    """A query bench's result: printed as `table` prints it, written as JSON with `plot`'s PNG
    (`extra`: more top-level keys); returns the JSON's path."""
    out = {
        "bench": bench,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": report.machine(),
        "versions": report.versions(),
        "config": {"rows": args.rows, "seed": args.seed, "runs": args.runs, "data_dir": data_dir},
        "data": marker,
        "storage": figures,
        "results": results,
        **(extra or {}),
    }
    table(out)
    path, png = report.write(out, args.out or os.path.join(os.getcwd(), "bench", "results"), bench, plot)
    print(f"result: {path}" + (f"\nplot:   {png}" if png else ""), file=sys.stderr)
    return path


def print_table(out: dict) -> None:
    s = out["storage"]
    print(
        f"{s['rows']:,} rows in {s['parts']} parts (levels {s['levels']}): {s['raw_bytes'] / 1e6:,.0f} MB raw, "
        f"{s['disk_bytes'] / 1e6:,.0f} MB on disk, {s['ratio']}:1, "
        f"index {100 * (s['index_share'] or 0):.1f}% of data"
    )
    print(f"{'query':<24} {'all: median ms':>15} {'last 5m: ms':>12}  answer (all / last 5m)")
    for r in out["results"]:
        print(
            f"{r['name']:<24} {r['all']['median_ms']:>15.1f} {r['last 5m']['median_ms']:>12.1f}  "
            f"{r['all']['answer']} / {r['last 5m']['answer']}"
        )
