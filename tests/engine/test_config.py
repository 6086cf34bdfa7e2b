"""Settings: defaults, TOML loading, flag overrides, and errors that name the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.config import ConfigError, Settings, load


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
    assert s.data_dir == "/x" and s.workers.parsers == 5 and s.storage.retention == "0"


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


def test_resolved_fills_worker_counts():
    s = Settings().resolved()
    assert s.workers.receivers >= 1 and s.workers.parsers >= 1
