"""The thread pool queries read blocks on, and an ordered map over it with bounded look-ahead.

Block work is zstd decompression, numba kernels and numpy, which all release the GIL, so
threads give real parallelism; one pool per process, one thread per core, shared by every
query (HTTP requests run their query generators on their own threads and submit blocks here).
`ordered_map` keeps at most `ahead` blocks in flight, so memory stays bounded by a few
decompressed blocks, and cancels what is left when the consumer stops early (a `limit`) or
its deadline passes (`query.timeout`: checked before each block is handed out and taken),
waiting for the blocks already being read.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, Generator, Generic, Iterable, Sized, TypeVar

from engine.query.limits import Deadline

T = TypeVar("T")
R = TypeVar("R")

WORKERS = max(1, os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="logjet-query")
    return _pool


def shut_down() -> None:
    """Stop the pool's threads (a later query starts a new pool). A process must call it before
    it forks: threads do not survive a fork, and a child would wait on them forever."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def _no_deadline() -> None:
    pass


class _Done(Generic[R]):
    """A result computed in the calling thread, with the face of a `Future`."""

    __slots__ = ("value",)

    def __init__(self, value: R):
        self.value = value

    def result(self) -> R:
        return self.value

    def cancel(self) -> bool:
        return False


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    ahead: int = 2 * WORKERS,
    inline: Callable[[T], bool] | None = None,
    deadline: Deadline | None = None,
) -> Generator[R, None, None]:
    """fn(item) for every item, in order, computed up to `ahead` items in advance. Items for
    which `inline(item)` is true are computed in the calling thread (when a task costs less
    than handing it to a thread), and so is a lone item (a sized `items` of one: nothing runs
    beside it, so the trip to a thread and back would only add to it). Past `deadline` it
    raises QueryTimeout."""
    inflight: collections.deque[Future[R] | _Done[R]] = collections.deque()
    ex = pool()
    check = deadline.check if deadline is not None else _no_deadline
    lone = isinstance(items, Sized) and len(items) == 1
    try:
        for item in items:
            check()
            here = lone or (inline is not None and inline(item))
            inflight.append(_Done(fn(item)) if here else ex.submit(fn, item))
            if len(inflight) >= ahead:
                yield inflight.popleft().result()
        while inflight:
            check()
            yield inflight.popleft().result()
    finally:
        # Blocks already being read are waited for: once the consumer is done, so is the work it
        # started (the memory a query frees is all freed when its run is closed).
        running = [fut for fut in inflight if not fut.cancel() and isinstance(fut, Future)]
        wait(running)
