"""Durations, sizes, times and HOST:PORT as people type them; the typed `Duration` and `ByteSize`."""

from __future__ import annotations

import pickle

import pytest

from engine.errors import LogjetError
from engine.units import ByteSize, Duration, UnitError, parse_duration_ns, parse_hostport, parse_size, parse_time_ns


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


def test_bad_text_raises_a_unit_error_that_is_still_a_value_error():
    for parse, text in ((parse_duration_ns, "soon"), (parse_size, "lots"), (parse_time_ns, "x"), (parse_hostport, "h")):
        with pytest.raises(UnitError) as info:
            parse(text)
        assert isinstance(info.value, ValueError) and isinstance(info.value, LogjetError)
        assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    "value, ns",
    [
        ("250ms", 250_000_000),
        ("5s", 5 * 10**9),
        ("1h", 3600 * 10**9),
        (" 7d ", 7 * 86400 * 10**9),
        (2, 2 * 10**9),
        (0.5, 5 * 10**8),
        ("0", 0),
    ],
)
def test_duration_reads_the_duration_grammar(value, ns):
    d = Duration.parse(value)
    assert d == ns and d.ns == ns and type(d.ns) is int
    assert d.seconds == ns / 1e9 and type(d.seconds) is float


@pytest.mark.parametrize(
    "value, n", [("64MiB", 64 << 20), ("1G", 10**9), ("4kb", 4000), (65536, 65536), ("0", 0), ("1.5KiB", 1536)]
)
def test_byte_size_reads_the_size_grammar(value, n):
    b = ByteSize.parse(value)
    assert b == n and b.bytes == n and type(b.bytes) is int


@pytest.mark.parametrize("value", ["soon", "-5s", "5 parsecs", "", -1, True, float("nan")])
def test_duration_refuses_what_is_not_a_duration(value):
    with pytest.raises(UnitError, match="not a duration"):
        Duration.parse(value)


@pytest.mark.parametrize("value", ["lots", "-1", "5XB", -1, [1]])
def test_byte_size_refuses_what_is_not_a_size(value):
    with pytest.raises(UnitError, match="not a size"):
        ByteSize.parse(value)


def test_typed_values_print_as_written():
    assert str(Duration.parse("120s")) == "120s" and f"{Duration.parse('7d')}" == "7d"
    assert str(ByteSize.parse("16MiB")) == "16MiB" and str(ByteSize.parse(65536)) == "65536"
    assert repr(Duration.parse("5ms")) == "Duration('5ms')" and repr(ByteSize.parse("1G")) == "ByteSize('1G')"


@pytest.mark.parametrize(
    "value, text",
    [
        (Duration(0), "0s"),
        (Duration(7 * 86400 * 10**9), "7d"),
        (Duration(90 * 10**9), "90s"),
        (Duration(1_500_000), "1500us"),
        (Duration(3), "3ns"),
        (ByteSize(0), "0"),
        (ByteSize(64 << 20), "64MiB"),
        (ByteSize(2 * 10**9), "2GB"),
        (ByteSize(65536), "64KiB"),
        (ByteSize(1000), "1KB"),
        (ByteSize(1001), "1001"),
    ],
)
def test_values_built_from_numbers_print_their_shortest_exact_spelling(value, text):
    assert str(value) == text
    assert type(value).parse(text) == value


def test_typed_values_pickle_with_their_text():
    for value in (Duration.parse("1500ms"), ByteSize.parse("2GB"), Duration(3)):
        back = pickle.loads(pickle.dumps(value))
        assert type(back) is type(value) and back == value and str(back) == str(value)


def test_times_are_exact_to_the_nanosecond():
    # A float holds 15-16 digits; epoch nanoseconds have 19.
    assert parse_time_ns("1796237069.000000001") == 1_796_237_069_000_000_001
    assert parse_time_ns("2026-12-02T18:40:00.123456789Z") - parse_time_ns("2026-12-02T18:40:00Z") == 123_456_789
    assert parse_time_ns("-1.5") == -1_500_000_000
