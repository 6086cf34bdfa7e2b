"""Durations, sizes, times and HOST:PORT as people type them."""

from __future__ import annotations

import pytest

from engine.units import parse_duration_ns, parse_hostport, parse_size, parse_time_ns


def test_durations():
    assert parse_duration_ns("500ms") == 500_000_000
    assert parse_duration_ns("7d") == 7 * 86400 * 10**9
    assert parse_duration_ns("0") == 0
    with pytest.raises(ValueError):
        parse_duration_ns("soon")


def test_sizes():
    assert parse_size("64MiB") == 64 << 20 and parse_size("2GB") == 2 * 10**9 and parse_size(1024) == 1024
    with pytest.raises(ValueError):
        parse_size("lots")


def test_times():
    now = 1_000_000 * 10**9
    assert parse_time_ns("15m", now) == now - 900 * 10**9
    assert parse_time_ns("1700000000") == 1_700_000_000 * 10**9
    assert parse_time_ns("2023-11-14T22:13:20Z") == 1_700_000_000 * 10**9
    assert parse_time_ns("2023-11-14T23:13:20+01:00") == 1_700_000_000 * 10**9
    with pytest.raises(ValueError):
        parse_time_ns("yesterday-ish")


def test_hostport():
    assert parse_hostport("0.0.0.0:5514") == ("0.0.0.0", 5514)
    assert parse_hostport("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        parse_hostport("localhost")
