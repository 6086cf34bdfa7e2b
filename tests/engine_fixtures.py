"""Fixtures that start the real `logjet serve` (port 0, temp data dir) and always stop it; the
conftest of each folder of engine tests (tests/e2e, tests/faults) takes them from here."""

from __future__ import annotations

import pytest

from bench.engine import EngineProcess


@pytest.fixture
def start_engine(tmp_path):
    """A factory: `start_engine(*extra_args)` → a running EngineProcess, stopped after the test."""
    started: list[EngineProcess] = []

    def start(
        *extra: str,
        name: str = "engine",
        new_session: bool = False,
        log: str = "",
        env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
    ) -> EngineProcess:
        # `log`: another engine on the same data dir (same `name`) logs to its own file.
        data, log_path = tmp_path / f"{name}-data", tmp_path / f"{log or name}.log"
        engine = EngineProcess(
            str(data),
            "--retention",
            "0",
            *extra,
            log_path=str(log_path),
            new_session=new_session,
            env=env,
            start_timeout=start_timeout,
        )
        started.append(engine)
        return engine.start()

    yield start
    for engine in started:
        engine.stop()


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory):
    """One engine for the tests of a module that only send and read back (distinct apps keep
    their rows apart)."""
    tmp = tmp_path_factory.mktemp("shared")
    engine = EngineProcess(str(tmp / "data"), "--retention", "0", log_path=str(tmp / "engine.log"))
    engine.start()
    yield engine
    engine.stop()
