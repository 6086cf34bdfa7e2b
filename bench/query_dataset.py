"""A query benchmark data set: generated syslog messages parsed by the engine's own parser and
written as parts with `write_part`, so that a query benchmark needs no running engine.

`rows_from_messages` turns raw messages into `Rows` exactly as the ingest path does (raw batch →
`BatchParser` → column batch → `RingIntake`); `write_dataset` spreads `count` generated rows
evenly over `span_s` seconds ending at `end_ns`, in parts of `part_rows` rows, one partition
per UTC day as the writer lays them out.

    python -m bench.query_dataset DATA_DIR --rows 10000000 --span 86400
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from engine.ipc.raw_batch import raw_batch_of
from engine.config import Parse
from engine.parse.batch_parser import BatchParser
from engine.store.layout import part_name, partition_of
from engine.store.part_reader import PartOptions, write_part
from engine.store.rows import Rows, compact, concat
from engine.write.intake import RingIntake

BATCH = 50_000  # messages per parsed batch, about what a parser sees from a busy ring


def rows_from_messages(
    messages: list[bytes],
    recv_ns: int,
    parser: BatchParser | None = None,
    intake: RingIntake | None = None,
    source: str = "10.0.0.7:40514",
) -> Rows:
    """`Rows` of raw syslog/JSON/plain messages, as the engine would store them."""
    parser = parser or BatchParser(Parse())
    intake = intake or RingIntake()
    out = []
    for lo in range(0, len(messages), BATCH):
        batch = parser.parse(raw_batch_of(messages[lo : lo + BATCH], recv_ns, source))
        _, rows = intake.decode(batch.encode())
        out.append(rows)
    return concat(out) if len(out) > 1 else out[0]


def write_dataset(
    data_dir: str,
    count: int,
    span_s: float,
    end_ns: int | None = None,
    part_rows: int = 1_000_000,
    seed: int = 42,
    block_rows: int = 65536,
    index_builder=None,
) -> list[str]:
    """Write `count` generated rows, evenly spread over the `span_s` seconds before `end_ns`;
    returns the part paths. Rows keep their generated content; only `_time` is rewritten."""
    from bench.generate import messages

    end_ns = time.time_ns() if end_ns is None else end_ns
    step = int(span_s * 1e9) // max(1, count)
    first = end_ns - step * count
    parser, intake = BatchParser(Parse()), RingIntake()
    paths = []
    for k, lo in enumerate(range(0, count, part_rows)):
        n = min(part_rows, count - lo)
        rows = rows_from_messages(messages(n, seed=seed + k), end_ns, parser, intake)
        rows.time = first + step * np.arange(lo, lo + n, dtype=np.int64)
        rows.recv = rows.time + 1_000_000
        days = rows.time // 86_400_000_000_000
        cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), n]
        for a, b in zip(cuts[:-1], cuts[1:]):
            part = compact(rows.take(np.arange(a, b))) if (a, b) != (0, n) else compact(rows)
            folder = os.path.join(data_dir, partition_of(int(part.time[0])))
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, part_name(1, int(part.time[0]), "bench", len(paths) + 1))
            write_part(
                path,
                part,
                PartOptions(
                    level=1,
                    instance="bench",
                    flush_id=f"bench-{len(paths)}",
                    block_rows=block_rows,
                    fsync=False,
                    index_builder=index_builder,
                ),
            )
            paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir")
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--span", type=float, default=86400.0, help="seconds the rows cover, ending now")
    p.add_argument("--part-rows", type=int, default=1_000_000)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    paths = write_dataset(args.data_dir, args.rows, args.span, part_rows=args.part_rows)
    print(f"{len(paths)} parts, {args.rows} rows in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
