"""engine.query.pool.ordered_map: results in order, cheap and lone items computed in the calling
thread, the rest on the pool's threads."""

from __future__ import annotations

import threading

from engine.query.pool import ordered_map


def _where(item: int) -> tuple[int, str]:
    return item * 2, threading.current_thread().name


def test_results_come_in_order_and_blocks_go_to_the_pool():
    got = list(ordered_map(_where, list(range(20))))
    assert [r for r, _ in got] == [2 * i for i in range(20)]
    assert all(name.startswith("logjet-query") for _, name in got)


def test_cheap_and_lone_items_stay_in_the_calling_thread():
    here = threading.current_thread().name
    got = list(ordered_map(_where, [1, 2, 3, 4], inline=lambda i: i % 2 == 0))
    assert [name == here for _, name in got] == [False, True, False, True]
    assert list(ordered_map(_where, [7])) == [(14, here)]
    assert list(ordered_map(_where, iter([7])))[0][1] != here  # not sized: not known to be alone
