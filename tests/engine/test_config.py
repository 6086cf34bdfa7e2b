"""Settings: defaults, TOML loading, flag overrides, and errors that name the key."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from engine.config import ConfigError, Settings, load
from engine.units import ByteSize, Duration


def test_documented_example_is_the_defaults(tmp_path):
    import pathlib

    example = pathlib.Path(__file__).resolve().parents[2] / "config" / "logjet.toml"
    assert load(str(example)) == Settings()


def test_every_key_is_documented_in_the_example():
    import pathlib
    import tomllib

    example = pathlib.Path(__file__).resolve().parents[2] / "config" / "logjet.toml"
    doc = tomllib.loads(example.read_text())
    defaults = Settings()
    for section in Settings.__struct_fields__:
        value = getattr(defaults, section)
        if hasattr(value, "__struct_fields__"):
            assert set(value.__struct_fields__) == set(doc[section]), section
        else:
            assert section in doc


def test_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('data_dir = "/x"\n[workers]\nparsers = 3\n')
    s = load(str(path), {"workers.parsers": 5, "storage.retention": "0"})
    assert s.data_dir == "/x" and s.workers.parsers == 5 and s.storage.retention == 0


def _typed_fields(settings: Settings) -> dict[str, object]:
    """`section.key` → value, for every Duration and ByteSize setting."""
    out = {}
    for section in Settings.__struct_fields__:
        table = getattr(settings, section)
        for key in getattr(table, "__struct_fields__", ()):
            value = getattr(table, key)
            if isinstance(value, (Duration, ByteSize)):
                out[f"{section}.{key}"] = value
    return out


def test_durations_and_sizes_are_typed_from_the_file_and_the_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[storage]\nflush_interval = "250ms"\nmax_disk_bytes = "2GB"\n[ingest]\nbatch_delay = 2\n')
    s = load(str(path), {"storage.retention": "90m", "listen.udp_recv_buffer": 65536})
    assert type(s.storage.flush_interval) is Duration and s.storage.flush_interval.ns == 250_000_000
    assert s.storage.flush_interval.seconds == 0.25
    assert s.ingest.batch_delay.seconds == 2.0  # a bare number is seconds
    assert type(s.storage.retention) is Duration and s.storage.retention.seconds == 5400
    assert type(s.storage.max_disk_bytes) is ByteSize and s.storage.max_disk_bytes.bytes == 2 * 10**9
    assert s.listen.udp_recv_buffer.bytes == 65536
    # they print as written, so messages and dumps show what the user typed
    assert [str(s.storage.retention), str(s.storage.max_disk_bytes), str(s.rings.raw_ring_bytes)] == [
        "90m",
        "2GB",
        "16MiB",
    ]


def test_defaults_are_typed_and_keep_their_values():
    typed = _typed_fields(Settings())
    assert {k: str(v) for k, v in typed.items()} == {
        "listen.udp_recv_buffer": "8MiB",
        "ingest.batch_delay": "20ms",
        "ingest.http_max_body": "64MiB",
        "ingest.idle_timeout": "5m",
        "rings.raw_ring_bytes": "16MiB",
        "rings.column_ring_bytes": "64MiB",
        "parse.max_future": "1d",
        "storage.flush_interval": "200ms",
        "storage.small_merge_bytes": "4MiB",
        "storage.retention": "7d",
        "storage.max_disk_bytes": "0",
        "storage.min_free_bytes": "auto",
        "supervisor.heartbeat_timeout": "15s",
        "supervisor.start_timeout": "120s",
        "supervisor.drain_timeout": "60s",
        "supervisor.stall_after": "10s",
        "query.timeout": "30s",
        "query.max_response_bytes": "256MiB",
    }
    assert Settings().storage.retention.ns == 7 * 86400 * 10**9 and Settings().ingest.http_max_body.bytes == 64 << 20


def test_settings_pickle_with_their_typed_values(tmp_path):
    s = load(None, {"storage.retention": "36h", "rings.column_ring_bytes": "128MiB"}).resolved()
    back = pickle.loads(pickle.dumps(s))
    assert back == s
    assert {k: (type(v), str(v)) for k, v in _typed_fields(back).items()} == {
        k: (type(v), str(v)) for k, v in _typed_fields(s).items()
    }


@pytest.mark.parametrize(
    "overrides, needles",
    [
        ({"storage.retention": "forever"}, ["$.storage.retention", "'forever'", "not a duration"]),
        ({"supervisor.drain_timeout": "-5s"}, ["$.supervisor.drain_timeout", "'-5s'"]),
        ({"ingest.http_max_body": "lots"}, ["$.ingest.http_max_body", "'lots'", "not a size"]),
        ({"storage.max_disk_bytes": -1}, ["$.storage.max_disk_bytes", "'-1'"]),
        ({"storage.flush_interval": True}, ["$.storage.flush_interval", "'True'"]),
        ({"rings.raw_ring_bytes": "512KiB"}, ["raw_ring_bytes", "at least 1MiB"]),
        ({"ingest.idle_timeout": "500ms"}, ["idle_timeout", "500ms is below 1s"]),
        ({"ingest.max_connections": -1}, ["$.ingest.max_connections", ">= 0"]),
    ],
)
def test_bad_durations_and_sizes_name_the_key_and_the_text(overrides, needles):
    with pytest.raises(ConfigError) as info:
        load(None, overrides)
    for needle in needles:
        assert needle in str(info.value)


def test_messages_show_sizes_as_written():
    with pytest.raises(ConfigError, match=r"rings.raw_ring_bytes = 1MiB is too small"):
        load(None, {"rings.raw_ring_bytes": "1MiB", "ingest.max_message_bytes": 16 << 20})


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[workers]\nparsers = 'many'\n", "$.workers.parsers"),
        ("[listen]\nsyslog_tcp = 'nohost'\n", "syslog_tcp"),
        ("[storage]\nretention = 'forever'\n", "retention"),
        ("[storage]\nretentoin = '7d'\n", "retentoin"),
        ("[parse]\ntimezone = 'Mars/Olympus'\n", "timezone"),
        ("[workers]\nparsers = -1\n", "$.workers.parsers"),
        ("[listen]\nsyslog_tls = '127.0.0.1:6514'\n", "tls.cert_file"),
        ("[listen]\nsyslog_tls = '127.0.0.1:6514'\n[tls]\ncert_file = 'a.crt'\n", "tls.key_file"),
        ("[listen]\nsyslog_tls = '6514'\n[tls]\ncert_file = 'a'\nkey_file = 'b'\n", "syslog_tls"),
        ("[tls]\ncert = 'a.crt'\n", "cert"),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load(str(path))
    assert needle in str(info.value)


@pytest.mark.slow  # two Python processes
def test_check_config_command(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[ingest]\nmax_message_bytes = 'big'\n")
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--config", str(path), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "$.ingest.max_message_bytes" in run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--check-config", "--parsers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--check-config", "--retention", "forever"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "$.storage.retention" in run.stderr and "'forever'" in run.stderr


def test_resolved_fills_worker_counts():
    s = Settings().resolved()
    assert s.workers.receivers >= 1 and s.workers.parsers >= 1


def test_stall_after_is_checked():
    assert load(None, {"supervisor.stall_after": "3s"}).supervisor.stall_after.seconds == 3.0
    with pytest.raises(ConfigError, match="stall_after"):
        load(None, {"supervisor.stall_after": "0"})
    with pytest.raises(ConfigError, match="must be longer than storage.flush_interval"):
        load(None, {"supervisor.stall_after": "1s", "storage.flush_interval": "2s"})


def test_time_range_settings_are_checked():
    s = load(None, {"parse.out_of_range": "drop", "parse.max_future": "2h"})
    assert s.parse.out_of_range == "drop" and s.parse.max_future.seconds == 7200
    with pytest.raises(ConfigError, match="out_of_range"):
        load(None, {"parse.out_of_range": "keep"})
