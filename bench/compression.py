"""Compression: raw bytes in ÷ bytes on disk (indexes included), on the loghub corpus and on
bench/generate.py traffic, the way the engine stores them.

Rows are made by the engine's own parser (`bench.rows`), written as flush parts of one raw
batch each (what a writer does when batches arrive slower than its flush interval) at
`storage.zstd_level`, then every partition's parts are merged into one at
`storage.merge_zstd_level` with indexes (what the merge thread ends with once a day is over).
Both stages are reported. Raw bytes are the engine's (the frames as received, without line
ends); for loghub the files' own size (CRLF line ends included, as the zstd figures in
corpus/loghub/SOURCE.md count it) is reported too.

`logjet bench compression` prints the figures and writes them as JSON to bench/results/.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile
import time

from bench import report
from engine.config import Storage
from engine.store.index_build import make_index_builder
from engine.store.layout import part_name
from engine.store.live import live_parts
from engine.store.part_reader import read_head
from engine.write.merge import SETTLE_S, merge_parts, merge_zstd_level, remove_replaced
from engine.write.flush_writer import FlushWriter

INSTANCE = "c0ffee"


def _on_disk(data_dir: str) -> dict:
    heads = [read_head(p) for p in live_parts(data_dir)]
    return {
        "parts": len(heads),
        "bytes": sum(os.path.getsize(p) for p in live_parts(data_dir)),
        "index_bytes": sum(h.index_bytes for h in heads),
        "data_bytes": sum(h.data_bytes for h in heads),
        "rows": sum(h.rows for h in heads),
        "raw_bytes": sum(h.raw_bytes for h in heads),
    }


def merge_all(data_dir: str, storage: Storage, index_builder, writer: FlushWriter) -> None:
    """Merge every partition's live parts into one (the end state of the merge thread, once the
    data has gone quiet: its inputs are SETTLE_S old by then)."""
    settled_ns = time.time_ns() + int(SETTLE_S * 1e9)
    by_folder: dict[str, list[str]] = {}
    for path in live_parts(data_dir):
        by_folder.setdefault(os.path.dirname(path), []).append(path)
    for folder, paths in by_folder.items():
        inputs = [(p, read_head(p)) for p in paths]
        if len(paths) < 2 and inputs[0][1].level > 0:
            continue  # a lone flushed part is rewritten too: that is when it gets its index
        level = max(h.level for _, h in inputs) + 1
        first = min(h.min_time for _, h in inputs)
        out = os.path.join(folder, part_name(level, first, INSTANCE, writer.next_seq()))
        merge_parts(
            inputs,
            out,
            instance=INSTANCE,
            zstd_level=merge_zstd_level(storage, inputs, settled_ns),
            block_rows=storage.block_rows,
            index_builder=index_builder,
            fsync=False,
            derive_fields=storage.derive_fields,
        )
        remove_replaced(paths, fsync=False)


def measure(batches, data_dir: str, storage: Storage) -> dict:
    """Write `batches` (an iterable of Rows) as flush parts, then merge; sizes at both stages."""
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
    t0 = time.perf_counter()
    for k, rows in enumerate(batches):
        writer.write_flush(rows, {"bench": k})
    t1 = time.perf_counter()
    flushed = _on_disk(data_dir)
    merge_all(data_dir, storage, builder, writer)
    t2 = time.perf_counter()
    merged = _on_disk(data_dir)
    for stage in (flushed, merged):
        stage["ratio"] = round(stage["raw_bytes"] / stage["bytes"], 2)
        stage["index_share"] = round(stage["index_bytes"] / stage["data_bytes"], 4)
    flushed["seconds"] = round(t1 - t0, 2)
    merged["seconds"] = round(t2 - t1, 2)
    return {"flushed": flushed, "merged": merged}


def _live_times(batches):
    for rows in batches:
        rows.time = rows.recv.copy()
        yield rows


def loghub(corpus: pathlib.Path, storage: Storage, data_dir: str, live: bool = False) -> dict:
    """The loghub lines as the engine stores them. The Linux sample's own timestamps spread it
    over 44 days, so 44 of the ~46 partitions hold one small part each (a few dozen rows), whose
    fixed costs (~1 KB: footer, head, frames) dominate. `live=True` gives every row its receive
    time instead, as if the lines had been sent as they were logged: one partition, which is
    what steady live traffic looks like."""
    from bench.rows import iter_rows, loghub_file_bytes, loghub_lines

    lines = [line for system in loghub_lines(corpus).values() for line in system]
    batches = iter_rows(lines, recv_ns=time.time_ns(), recv_step_ns=10**9)
    result = measure(_live_times(batches) if live else batches, data_dir, storage)
    file_bytes = loghub_file_bytes(corpus)
    for stage in result.values():
        stage["file_bytes"] = file_bytes
        stage["file_ratio"] = round(file_bytes / stage["bytes"], 2)
    return result


def synthetic(count: int, storage: Storage, data_dir: str, seed: int = 42) -> dict:
    from bench.generate import messages
    from bench.rows import iter_rows

    lines = messages(count, seed=seed)
    return measure(iter_rows(lines, recv_step_ns=10**9), data_dir, storage)


def find_corpus() -> pathlib.Path | None:
    here = pathlib.Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "shared" / "corpus", here / "shared" / "corpus"):
        if (candidate / "loghub").is_dir():
            return candidate
    return None


def run_compression(args) -> int:
    levels = {k: v for k, v in (("zstd_level", args.zstd_level), ("merge_zstd_level", args.merge_zstd_level)) if v}
    storage = Storage(fsync=False, derive_fields=args.derive_fields, **levels)
    out: dict = {
        "bench": "compression",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": report.machine(),
        "versions": report.versions(),
        "config": {
            "zstd_level": storage.zstd_level,
            "merge_zstd_level": storage.merge_zstd_level,
            "small_merge_zstd_level": storage.small_merge_zstd_level,
            "small_merge_bytes": str(storage.small_merge_bytes),
            "derive_fields": storage.derive_fields,
            "block_rows": storage.block_rows,
            "synthetic_rows": args.rows,
        },
    }
    corpus = pathlib.Path(args.corpus) if args.corpus else find_corpus()
    with tempfile.TemporaryDirectory(prefix="logjet-compression-") as tmp:
        if corpus is not None:
            out["loghub"] = loghub(corpus, storage, os.path.join(tmp, "loghub"))
            out["loghub-live"] = loghub(corpus, storage, os.path.join(tmp, "loghub-live"), live=True)
        else:
            print("logjet: loghub corpus not found (use --corpus); measuring synthetic data only", file=sys.stderr)
        if args.rows:
            out["synthetic"] = synthetic(args.rows, storage, os.path.join(tmp, "synthetic"))
    print_table(out)
    path, png = report.write(
        out, args.out or os.path.join(os.getcwd(), "bench", "results"), "compression", report.plot_compression
    )
    print(f"result: {path}" + (f"\nplot:   {png}" if png else ""), file=sys.stderr)
    return 0


def print_table(out: dict) -> None:
    print(
        f"{'data':<11} {'stage':<8} {'rows':>9} {'raw MB':>8} {'disk MB':>8} {'ratio':>6} {'index %':>8} {'parts':>6}"
    )
    for data in ("loghub", "loghub-live", "synthetic"):
        for stage, r in out.get(data, {}).items():
            ratio = f"{r['ratio']:.2f}"
            print(
                f"{data:<11} {stage:<8} {r['rows']:>9,} {r['raw_bytes'] / 1e6:>8.2f} {r['bytes'] / 1e6:>8.2f} "
                f"{ratio:>6} {100 * r['index_share']:>7.1f}% {r['parts']:>6}"
                + (f"   (file bytes: {r['file_ratio']:.2f})" if "file_ratio" in r else "")
            )
