"""config/logjet.service: the settings the engine's restart and recovery rely on, and systemd's own
check of the file (`systemd-analyze verify`, where installed)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

UNIT = pathlib.Path(__file__).resolve().parent.parent / "config" / "logjet.service"
INSTALLED = "/opt/logjet/bin/logjet"


def _settings() -> dict[str, list[str]]:
    """Every `Key=value` of the unit (a key may repeat), comments left out."""
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_keeps_the_rings_and_restarts_what_dies():
    s = _settings()
    assert s["Type"] == ["notify"] and s["Restart"] == ["on-failure"]
    assert s["ExecStart"][0].startswith(INSTALLED + " serve ") and "--data-dir /var/lib/logjet" in s["ExecStart"][0]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "/var/lib/logjet" in s["ReadWritePaths"] and s["StateDirectory"] == ["logjet"]
    # The rings a crash leaves in /dev/shm must survive until the restart writes them out.
    assert "DynamicUser" not in s and s.get("RemoveIPC", ["no"]) == ["no"] and "PrivateDevices" not in s
    # The watchdog must not fire while the supervisor replaces a hung worker itself (15 s + 5 s).
    assert int(s["WatchdogSec"][0].removesuffix("s")) > 20
    # Kernels compile once per install, into the cache systemd keeps for the unit.
    assert s["CacheDirectory"] == ["logjet"] and "LOGJET_KERNEL_CACHE=/var/cache/logjet/numba" in s["Environment"]


@pytest.mark.slow  # runs systemd-analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    logjet = os.path.join(os.path.dirname(sys.executable), "logjet")
    if not os.access(logjet, os.X_OK):
        pytest.skip(f"no logjet command beside {sys.executable}")
    # verify checks that ExecStart's program exists: point it at this checkout's.
    unit = tmp_path / "logjet.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, logjet))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
