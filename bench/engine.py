"""Start and stop a real `logjet serve` as a child process (for benchmarks and end-to-end tests).

`EngineProcess` starts the engine on port 0 with a data dir of the caller's, reads the ports
line, and on `stop()` sends SIGTERM and waits for the drain; if that fails it kills the engine's
processes by PID (the supervisor and every process under it: its fork server and the workers,
read from /proc) and removes the
instance's shared memory, so a failed test leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

from engine.ipc.shm import PREFIX, SHM_ROOT


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`: workers are children of the fork server the supervisor starts."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            out.append(kid)
            out.extend(descendants(kid))
    return out


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): with the PID it
    identifies a process, so a reused PID is never signalled by mistake."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _cpu_ticks(pid: int, reaped: bool = False) -> int:
    """utime + stime of a live process, all its threads (with `reaped`, plus what its waited-for
    children used: the CPU of workers that exited is counted in their parent)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and every process below it, read from /proc: all the processes
    of one side of a comparison, whatever roles they have."""
    ticks = _cpu_ticks(pid, reaped=True) + sum(_cpu_ticks(child) for child in set(descendants(pid)))
    return ticks / os.sysconf("SC_CLK_TCK")


def _kill_if_same(pid: int, started: int | None) -> None:
    if started is not None and _start_time(pid) == started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class EngineProcess:
    def __init__(
        self,
        data_dir: str,
        *extra_args: str,
        log_path: str | None = None,
        start_timeout: float = 180.0,
        env: dict | None = None,
        new_session: bool = False,
    ):
        self.data_dir = data_dir
        self.args = [
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            "--data-dir",
            data_dir,
            "--syslog-tcp",
            "127.0.0.1:0",
            "--syslog-udp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            *extra_args,
        ]
        self.log_path = log_path or os.path.join(
            os.path.dirname(os.path.abspath(data_dir)), f"engine-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        self.start_timeout = start_timeout
        self.env = env
        self.new_session = new_session  # its own process group, for tests that signal the group
        self.proc: subprocess.Popen | None = None
        self.ports: dict = {}
        self.instance = ""
        self.worker_pids: dict[int, int | None] = {}  # pid → start time

    def start(self) -> "EngineProcess":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **(self.env or {})},
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"logjet serve did not start (exit {self.proc.returncode}); log:\n{self.log_text()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                line += chunk
        info = json.loads(line.decode())
        self.instance = info.get("instance", "")
        self.ports = {k: info[k] for k in ("syslog_tcp", "syslog_udp", "syslog_tls", "http") if k in info}
        self._note_workers()
        return self

    def _note_workers(self) -> None:
        for pid in descendants(self.proc.pid):
            self.worker_pids.setdefault(pid, _start_time(pid))

    def __enter__(self) -> "EngineProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def log_text(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-20000:]
        except OSError:
            return ""

    def terminate(self, timeout: float = 120.0) -> int:
        """SIGTERM and wait for the drain; returns the exit code (kills on timeout)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self._note_workers()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def kill(self) -> None:
        """SIGKILL the supervisor and every worker it started, by PID."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._note_workers()
            self.proc.kill()
        for pid, started in self.worker_pids.items():
            _kill_if_same(pid, started)
        self.proc.wait(10)

    def stop(self) -> int:
        code = self.terminate()
        # Workers are the supervisor's children; if it died first they may linger.
        for pid, started in self.worker_pids.items():
            _kill_if_same(pid, started)
        if self.instance:
            shutil.rmtree(os.path.join(SHM_ROOT, PREFIX + self.instance), ignore_errors=True)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if getattr(self, "_log", None):
            self._log.close()
        return code

    def cpu_seconds(self) -> float:
        """CPU seconds of the supervisor and every worker so far (`tree_cpu_seconds`)."""
        return tree_cpu_seconds(self.proc.pid) if self.proc is not None else 0.0

    def shm_path(self) -> str:
        return os.path.join(SHM_ROOT, PREFIX + self.instance)
