"""The `logjet` command finds its plug-in commands through the "logjet.commands" entry points:
`logjet bench` comes from the installed metadata (the engine imports no bench module), and a
plug-in that does not load leaves `serve` and `query` working, with a warning."""

from __future__ import annotations

import logging
import pathlib

import pytest

from bench.cli import run_bench
from engine.cli import COMMANDS_GROUP, build_parser, main


def test_bench_is_a_plugin_command() -> None:
    args = build_parser().parse_args(["bench", "alert-rules", "3", "--seed", "7"])
    assert args.func is run_bench
    assert (args.bench, args.count, args.seed) == ("alert-rules", 3, 7)


def _broken_plugin(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real distribution on sys.path whose entry point names a module that does not exist."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{COMMANDS_GROUP}]\nbroken = no_such_module_here:register\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_plugin_that_does_not_load_is_left_out(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _broken_plugin(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="logjet"):
        parser = build_parser()
    assert "'broken' (no_such_module_here:register) not available: ModuleNotFoundError" in caplog.text
    assert parser.parse_args(["query", "--data-dir", "d", "x"]).query == "x"
    assert parser.parse_args(["bench", "alert-rules", "1"]).func is run_bench
    with pytest.raises(SystemExit):
        parser.parse_args(["broken"])


def test_query_help_points_at_the_language_docs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["query", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    root = pathlib.Path(__file__).resolve().parents[2]
    for doc in ("docs/query.md", "docs/http-api.md"):
        assert doc in text and (root / doc).is_file()


def test_serve_starts_without_loading_the_plugin_commands(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A broken plug-in shows whether plug-ins were loaded at all: `logjet serve` does not try.
    _broken_plugin(tmp_path, monkeypatch)
    with caplog.at_level(logging.WARNING, logger="logjet"):
        assert main(["serve", "--check-config", "--data-dir", str(tmp_path / "data")]) == 0
    assert "not available" not in caplog.text
    with pytest.raises(SystemExit):
        build_parser(plugins=False).parse_args(["bench", "alert-rules", "1"])
