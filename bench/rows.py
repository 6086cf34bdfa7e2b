"""Lines of log text → `Rows`, exactly as the engine makes them: raw frame batches through the
parser's `BatchParser`, the column batch encoding and the writer's `RingIntake`.

Used by the storage benchmarks (`logjet bench query`, compression figures) and the storage tests,
which need realistic parts without starting an engine. Nothing here is on the engine's path.
"""

from __future__ import annotations

import pathlib
import time
from typing import Iterable, Iterator

import numpy as np

from engine.config import Parse
from engine.ipc.raw_batch import RawBatch, raw_batch_of
from engine.parse.batch_parser import BatchParser
from engine.store.rows import Rows, concat
from engine.write.intake import RingIntake

# Lines per raw batch: about what a receiver cuts at its default 1 MiB batch size.
BATCH_LINES = 8192
SOURCE = "127.0.0.1:5514"


def _raw_batch(lines: list[bytes], recv_ns: int) -> RawBatch:
    return raw_batch_of(lines, recv_ns, SOURCE)


def iter_rows(
    lines: Iterable[bytes],
    recv_ns: int | None = None,
    recv_step_ns: int = 0,
    batch_lines: int = BATCH_LINES,
    settings: Parse | None = None,
) -> Iterator[Rows]:
    """One `Rows` per batch of `batch_lines` lines (without line terminators). Batch i is
    received at `recv_ns + i * recv_step_ns` (default: now)."""
    parser = BatchParser(settings or Parse())
    intake = RingIntake()
    recv = time.time_ns() if recv_ns is None else recv_ns
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) == batch_lines:
            yield _parse(parser, intake, batch, recv)
            recv += recv_step_ns
            batch = []
    if batch:
        yield _parse(parser, intake, batch, recv)


def _parse(parser: BatchParser, intake: RingIntake, lines: list[bytes], recv_ns: int) -> Rows:
    batch = parser.parse(_raw_batch(lines, recv_ns))
    # Through the ring encoding and the writer's intake, so the rows are what a writer gets.
    _, rows = intake.decode(batch.encode())
    # The intake returns views into the payload and shares its dictionary lists: copy both, as
    # the writer's `concat` does.
    return concat([rows])


def rows_from_lines(lines: Iterable[bytes], **kw) -> Rows:
    """All the lines as one `Rows`, in line order (not yet sorted by `_time`)."""
    return concat(list(iter_rows(lines, **kw)))


def loghub_lines(corpus: pathlib.Path) -> dict[str, list[bytes]]:
    """{system: its lines} from `corpus/loghub/*_2k.log`: CRLF stripped, the unterminated last
    record kept."""
    out = {}
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        text = path.read_bytes()
        lines = text.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        out[path.name.split("_")[0]] = lines
    return out


def loghub_file_bytes(corpus: pathlib.Path) -> int:
    """Bytes of the loghub files as they are on disk (line terminators included)."""
    return sum(p.stat().st_size for p in (corpus / "loghub").glob("*_2k.log"))


def sort_by_time(rows: Rows) -> Rows:
    if len(rows) > 1 and np.any(np.diff(rows.time) < 0):
        return rows.take(np.argsort(rows.time, kind="stable"))
    return rows


def synthetic_rows(count: int, seed: int = 42, start_s: float = 1_700_000_000.0, rfc5424: bool = False) -> Rows:
    """`count` rows of `bench.generate` traffic (0.1 ms apart from `start_s`), sorted by time."""
    from bench.generate import messages

    lines = messages(count, seed=seed, rfc5424=rfc5424, now=start_s)
    return sort_by_time(rows_from_lines(lines, recv_ns=int(start_s * 1e9)))
