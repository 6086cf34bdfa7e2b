"""`logjet bench query --peer victorialogs`: logjet and VictoriaLogs side by side on the same
rows, each query of the suite (bench/query_twins.py) asked of both, answers checked equal.

1. The data is `bench query`'s (bench/query.py: generated traffic, or `--data loghub`, the loghub
   samples replayed; parsed, flushed and merged as the writer would, made once and reused).
2. VictoriaLogs (bench/peers/victorialogs.py) starts on a loopback port with a temporary
   storage folder and gets those very rows, read back from the parts
   (bench/victorialogs_rows.py), through /insert/jsonline; then force_flush and force_merge,
   and the bench waits until no merge runs and it counts every row.
3. logjet is asked over HTTP (a `logjet serve` on the data, `--logjet-via http`, the default)
   or in this process (`--logjet-via process`, engine.query). Both HTTP clients keep their
   connection alive.
4. Per query: one warm-up each, whose answers are compared (bench/query_answers.py; a mismatch
   is printed loudly, marks the query not equal and makes the exit status 1), then `--runs`
   rounds alternating which store goes first, medians. The ratio is logjet / VictoriaLogs
   (below 1: logjet is faster).

Without the binary the peer is skipped with a note and logjet's side is still measured.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bench import query_answers as qa
from bench.engine import EngineProcess
from bench.generate import loghub_lines
from bench.http_client import KeepAlive
from bench.peers import victorialogs as vl
from bench.query import LAST_S, finish, load_or_make, storage_figures
from bench.query_twins import LAST_5M, Twin, loghub_suite, synthetic_suite
from bench.victorialogs_rows import data_dir_json
from engine.store.live import live_parts

Log = Callable[[str], None]
LogjetAsk = Callable[[str, "int | None", "int | None", "int | None"], list[dict]]


def _seconds(ns: int) -> str:
    """Epoch seconds with all nine decimals (logjet's API time form), exact."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


class HttpLogjet:
    """logjet asked over /api/v1/query (a keep-alive connection)."""

    def __init__(self, port: int):
        self.http = KeepAlive(port)

    def __call__(self, query: str, start_ns: int | None, end_ns: int | None, limit: int | None) -> list[dict]:
        params = {"q": query}
        if start_ns is not None:
            params["start"] = _seconds(start_ns)
        if end_ns is not None:
            params["end"] = _seconds(end_ns)
        if limit is not None:
            params["limit"] = str(limit)
        objects = [json.loads(line) for line in self.http.get("/api/v1/query", params).splitlines() if line.strip()]
        if objects and "error" in objects[-1] and len(objects[-1]) <= 2:
            raise qa.AnswerError(f"logjet: {objects[-1]['error']}")
        return objects


def process_logjet(data_dir: str) -> LogjetAsk:
    """logjet asked in this process (engine.query.execute)."""
    from engine.query.execute import run_to_objects

    def ask(query: str, start_ns: int | None, end_ns: int | None, limit: int | None) -> list[dict]:
        return list(run_to_objects(data_dir, query, start_ns, end_ns, limit))

    return ask


def suite_for(marker: dict) -> list[Twin]:
    return loghub_suite() if marker.get("data") == "loghub" else synthetic_suite(marker["rare"])


def load_peer(peer: vl.VictoriaLogs, data_dir: str, rows: int, log: Log) -> dict:
    """Send every row of `data_dir` to the peer, settle it; what it took and what differs."""
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    # One request in flight while the next batch is encoded: the encoding (Python) and the
    # peer's ingest (Go, its own threads) then overlap on the two cores.
    with ThreadPoolExecutor(1) as sender:
        pending: Future[None] | None = None
        for lines in data_dir_json(data_dir, counts):
            if pending is not None:
                pending.result()
            pending = sender.submit(peer.ingest, lines)
            if counts["rows"] % 1_000_000 < len(lines):
                log(f"  victoria-logs: {counts['rows']:,} of {rows:,} rows encoded ({time.perf_counter() - t0:.0f}s)")
        if pending is not None:
            pending.result()
    sent_s = time.perf_counter() - t0
    metrics = peer.settle(rows, log=log)
    return {
        "send_s": round(sent_s, 1),
        "settle_s": round(time.perf_counter() - t0 - sent_s, 1),
        "rows": counts.pop("rows", 0),
        "differences": {k: v for k, v in counts.items() if v},
        "disk_bytes": peer.disk_bytes(),
        "parts": {k: v for k, v in metrics.items() if k.startswith("vl_storage_parts")},
    }


def wait_parts_settled(data_dir: str, log: Log, quiet_s: float = 3.0, timeout_s: float = 600.0) -> list[str]:
    """Wait until the data dir's live parts stay the same for `quiet_s`: a `logjet serve` started
    on bench-made data may merge its parts first, and a merge during the timed runs would load
    the machine and change the layout under the queries. Returns the parts."""
    t0 = time.monotonic()
    parts, since = live_parts(data_dir), time.monotonic()
    while time.monotonic() - since < quiet_s:
        if time.monotonic() - t0 > timeout_s:
            log(f"  logjet's parts still changing after {timeout_s:.0f}s; timing anyway")
            break
        time.sleep(0.5)
        now = live_parts(data_dir)
        if now != parts:
            parts, since = now, time.monotonic()
    if time.monotonic() - t0 > quiet_s + 1:
        log(f"  logjet serve merged its parts first ({len(parts)} now, {time.monotonic() - t0:.0f}s)")
    return parts


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _ms(values: list[float]) -> dict:
    if not values:
        return {"median_ms": None}
    return {
        "median_ms": round(1000 * statistics.median(values), 2),
        "min_ms": round(1000 * min(values), 2),
        "max_ms": round(1000 * max(values), 2),
    }


def members_at(ask: LogjetAsk) -> Callable[[int], set[str]]:
    """The messages logjet holds at one time (ns), for comparing rows that tie on time."""

    def at(t: int) -> set[str]:
        return {str(o["message"]) for o in ask("* | stats count() as n by (message)", t, t + 1, None)}

    return at


def run_twin(twin: Twin, ask: LogjetAsk, peer: vl.VictoriaLogs | None, window: tuple, runs: int, log: Log) -> dict:
    start, end = window
    entry: dict = {"name": twin.name, "window": twin.window, "logjet": twin.logjet, "logsql": twin.logsql}
    ours = qa.canonical(twin.answer, ask(twin.logjet, start, end, twin.limit), "logjet", twin.by)
    entry["answer"] = qa.summary(twin.answer, ours)

    def run_ours() -> object:
        return ask(twin.logjet, start, end, twin.limit)

    def run_theirs() -> object:
        assert peer is not None
        return peer.query_raw(twin.logsql, start, end, twin.limit)

    times: dict[str, list[float]] = {"logjet": [], "peer": []}
    if peer is not None:
        theirs = qa.canonical(twin.answer, peer.query(twin.logsql, start, end, twin.limit), "victorialogs", twin.by)
        equal, note = qa.compare(twin.answer, ours, theirs, members_at(ask))
        entry.update(equal=equal, note=note, peer_answer=qa.summary(twin.answer, theirs))
        if not equal:
            log(f"  !!! MISMATCH on {twin.name!r}: {note}\n      logjet: {twin.logjet}\n      LogsQL: {twin.logsql}")
    for k in range(runs):
        order = ("logjet", "peer") if k % 2 == 0 else ("peer", "logjet")
        for side in order:
            if side == "logjet":
                times["logjet"].append(_timed(run_ours))
            elif peer is not None:
                times["peer"].append(_timed(run_theirs))
    entry["logjet_ms"] = _ms(times["logjet"])
    entry["peer_ms"] = _ms(times["peer"])
    a, b = entry["logjet_ms"]["median_ms"], entry["peer_ms"]["median_ms"]
    entry["ratio"] = round(a / b, 3) if a is not None and b else None
    return entry


def run_query_peer(args) -> int:
    log: Log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    dataset = getattr(args, "data", "synthetic")
    corpus = _corpus(args) if dataset == "loghub" else None
    label = f"query-loghub-{args.rows}" if dataset == "loghub" else f"query-{args.rows}"
    data_dir = args.data_dir or os.path.join(os.getcwd(), "bench", "data", label)
    marker = load_or_make(data_dir, args.rows, args.seed, log, dataset, corpus)
    figures = storage_figures(data_dir)
    newest = figures["newest_ns"]
    windows = {"all": (None, None), LAST_5M: (newest - LAST_S * 10**9, newest + 1)}
    binary = vl.find() if getattr(args, "peer", None) else None
    peer_info: dict = {"name": "victorialogs", "binary": binary}
    if getattr(args, "peer", None) and binary is None:
        peer_info["skipped"] = vl.missing_note()
        log(peer_info["skipped"])
    via = getattr(args, "logjet_via", "http")
    results = []
    with tempfile.TemporaryDirectory(prefix="logjet-bench-vl-") as tmp:
        peer = vl.VictoriaLogs(binary, os.path.join(tmp, "victorialogs")) if binary else None
        engine = None
        logjet_http: HttpLogjet | None = None
        try:
            if peer is not None:
                peer_info["version"] = vl.version(binary)
                peer.start()
                log(f"loading {figures['rows']:,} rows into {peer_info['version']} ...")
                peer_info["load"] = load_peer(peer, data_dir, figures["rows"], log)
                if peer_info["load"]["differences"]:
                    log(f"  what the JSON lines could not carry: {peer_info['load']['differences']}")
            if via == "http":
                engine = EngineProcess(data_dir, "--retention", "0", log_path=os.path.join(tmp, "engine.log")).start()
                wait_parts_settled(data_dir, log)
                figures = storage_figures(data_dir)  # what the queries run on, merges included
                logjet_http = HttpLogjet(engine.ports["http"])
                ask: LogjetAsk = logjet_http
            else:
                ask = process_logjet(data_dir)
            for twin in suite_for(marker):
                entry = run_twin(twin, ask, peer, windows[twin.window], args.runs, log)
                results.append(entry)
                log(
                    f"  {twin.name}: logjet {entry['logjet_ms']['median_ms']} ms, "
                    f"VictoriaLogs {entry['peer_ms']['median_ms']} ms, ratio {entry['ratio']}, "
                    f"equal {entry.get('equal')}"
                )
        finally:
            if logjet_http is not None:
                logjet_http.http.close()
            if engine is not None:
                engine.stop()
            if peer is not None:
                peer.stop()
    extra = {"peer": peer_info, "logjet_via": via, "dataset": dataset}
    finish("query-peer", args, data_dir, marker, figures, results, print_table, plot, extra)
    bad = [r["name"] for r in results if r.get("equal") is False]
    if bad:
        log(f"!!! answers differ on {len(bad)} queries: {', '.join(bad)} (marked equal=false, not comparable)")
        return 1
    return 0


def _corpus(args):
    import pathlib

    from bench.compression import find_corpus

    corpus = pathlib.Path(args.corpus) if getattr(args, "corpus", None) else find_corpus()
    if corpus is None:
        raise SystemExit("logjet: no loghub corpus found; give --corpus (a folder holding loghub/)")
    loghub_lines(corpus)  # refuses a folder without samples, naming it
    return corpus


def _fmt(ms) -> str:
    return "-" if ms is None else f"{ms:,.1f}"


def print_table(out: dict) -> None:
    s, peer = out["storage"], out["peer"]
    print(
        f"{s['rows']:,} rows ({out['dataset']}), {s['parts']} logjet parts; logjet via {out['logjet_via']}; "
        f"peer: {peer.get('version') or peer.get('skipped') or 'none'}; medians of {out['config']['runs']} runs"
    )
    print(f"{'query':<36} {'window':<8} {'logjet ms':>10} {'VL ms':>9} {'logjet/VL':>10} {'equal':>6}  answer")
    for r in out["results"]:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        equal = {True: "yes", False: "NO", None: "-"}[r.get("equal")]
        print(
            f"{r['name']:<36} {r['window']:<8} {_fmt(r['logjet_ms']['median_ms']):>10} "
            f"{_fmt(r['peer_ms']['median_ms']):>9} {ratio:>10} {equal:>6}  {r['answer']}"
        )


def markdown(out: dict) -> str:
    """The table for BENCHMARKS.md."""
    lines = [
        "| query | logjet | LogsQL | logjet ms | VictoriaLogs ms | logjet / VL | equal | answer |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in out["results"]:
        ratio = "-" if r["ratio"] is None else f"**{r['ratio']:.2f}**"
        equal = {True: "yes", False: "**no**", None: "-"}[r.get("equal")]
        lj, lq = r["logjet"].replace("|", "\\|"), r["logsql"].replace("|", "\\|")
        name = r["name"] + ("" if r["window"] == "all" else f" ({r['window']})" if "5m" not in r["name"] else "")
        lines.append(
            f"| {name} | `{lj}` | `{lq}` | {_fmt(r['logjet_ms']['median_ms'])} | "
            f"{_fmt(r['peer_ms']['median_ms'])} | {ratio} | {equal} | {r['answer']} |"
        )
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    """Bars: each query's logjet and VictoriaLogs medians (log scale)."""
    import matplotlib.pyplot as plt

    rows = result["results"]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.5))
    ys = range(len(rows))
    ax.barh([y - 0.2 for y in ys], [r["logjet_ms"]["median_ms"] or 0 for r in rows], 0.4, label="logjet")
    ax.barh([y + 0.2 for y in ys], [r["peer_ms"]["median_ms"] or 0 for r in rows], 0.4, label="VictoriaLogs")
    ax.set_yticks(list(ys), [r["name"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"median ms of {result['config']['runs']} runs (log scale)")
    ax.set_title(f"logjet bench query --peer victorialogs, {result['storage']['rows']:,} rows", fontsize=9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
