"""The marker rules for tests that start processes: what counts as the engine, what each marker allows."""

from __future__ import annotations

import sys

from engine.units import parse_duration_ns
from tests.child_processes import Child, ChildProcessLog, command_child, marker_problem, python_child


def test_serving_is_the_engine_and_checking_a_config_is_not() -> None:
    assert command_child([sys.executable, "-m", "engine.cli", "serve", "--config", "x.toml"]).is_engine
    assert command_child(["logjet", "serve"]).is_engine
    assert not command_child(["logjet", "serve", "--check-config"]).is_engine
    assert not command_child([sys.executable, "-c", "print('serve')"]).is_engine
    assert command_child("logjet serve --http 127.0.0.1:0").is_engine


def test_openssl_is_a_fixture_tool_that_needs_no_marker() -> None:
    tool = command_child(["/usr/bin/openssl", "genpkey", "-algorithm", "EC"])
    assert tool.is_fixture_tool and not tool.is_engine
    assert marker_problem([tool], set()) is None
    assert not command_child([sys.executable, "-c", "pass"]).is_fixture_tool


def test_a_multiprocessing_target_in_engine_is_the_engine() -> None:
    assert python_child(parse_duration_ns).is_engine
    assert python_child(parse_duration_ns).what == "multiprocessing target engine.units.parse_duration_ns"
    assert not python_child(print).is_engine
    assert not python_child(None).is_engine


def test_each_marker_allows_its_children() -> None:
    engine, other = Child("logjet serve", True), Child("python -c pass", False)
    assert marker_problem([], set()) is None
    assert marker_problem([other], {"slow"}) is None
    assert marker_problem([other], {"e2e"}) is None
    assert marker_problem([engine, other], {"e2e"}) is None
    assert "neither e2e nor slow" in (marker_problem([other], set()) or "")
    assert "not marked e2e" in (marker_problem([engine], {"slow"}) or "")


def test_the_log_records_audit_events_only_while_recording() -> None:
    log = ChildProcessLog()
    popen = (sys.executable, [sys.executable, "-m", "engine.cli", "serve"], None, None)
    log.audit("subprocess.Popen", popen)
    assert log.started == []
    log.recording = True
    log.audit("subprocess.Popen", popen)
    log.audit("os.system", ("ls -l",))
    log.audit("open", ("/etc/hosts", "r", 0))
    log.audit("os.fork", ())
    assert [c.is_engine for c in log.started] == [True, False, False]
    assert log.started[1].what == "ls -l" and log.started[2].what == "os.fork"
