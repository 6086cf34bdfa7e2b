"""Running a peer collector (rsyslog, syslog-ng) as a child process for a side-by-side run.

A peer gets a fresh work folder, its configuration from `bench/peers/<name>.conf` with the
at-sign placeholders filled in (`@PORT@`, `@OUT@`, `@WORKDIR@`, `@TRANSPORT@`), a free loopback
port, and is started in the foreground as our child. It is stopped by its PID (SIGTERM, then
SIGKILL), never by name. "Stored" for a peer is the number of lines in its output file, read
incrementally; its CPU time comes from /proc/<pid>/stat (all its threads).

A peer whose binary is not installed is reported as missing (`find` returns None) and the
benchmark skips it with a note; nothing here installs anything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

from engine.errors import LogjetError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Where a peer extracted with `dpkg -x` lives (rsyslog and syslog-ng-core conflict as packages).
LOCAL_PEERS = os.path.join(REPO, ".peers")
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class PeerError(LogjetError):
    """The peer could not be started; the message says why (with its log)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_child(proc: subprocess.Popen | None, timeout_s: float) -> None:
    """SIGTERM our child `proc` (by its PID, through Popen), SIGKILL it after `timeout_s`."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def log_tail(path: str, chars: int = 4000) -> str:
    """The end of a peer's log, for an error message ("" when there is none)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-chars:]
    except OSError:
        return ""


def first_existing(paths) -> str | None:
    """The first executable file of `paths`, made absolute: a peer starts in its own folder, where
    a path relative to ours names nothing."""
    for path in paths:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    return None


class Peer:
    """One peer process. Subclasses say how to find, configure and start the binary."""

    name = ""
    conf_name = ""

    def __init__(self, binary: str, workdir: str):
        self.binary = binary
        self.workdir = workdir
        self.port = 0
        self.out_path = os.path.join(workdir, "out.log")
        self.log_path = os.path.join(workdir, "peer.log")
        self.proc: subprocess.Popen | None = None
        self._lines = 0
        self._offset = 0

    # --- what subclasses provide --------------------------------------------------------------
    @classmethod
    def find(cls) -> str | None:
        """The binary's path, or None when the peer is not installed."""
        raise NotImplementedError

    @classmethod
    def version(cls, binary: str) -> str:
        raise NotImplementedError

    def command(self, conf_path: str) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def placeholders(self, framing: str) -> dict[str, str]:
        return {"@PORT@": str(self.port), "@OUT@": self.out_path, "@WORKDIR@": self.workdir}

    def render_config(self, framing: str) -> str:
        """bench/peers/<conf_name> with the placeholders filled in."""
        with open(os.path.join(HERE, self.conf_name)) as f:
            conf = f.read()
        for key, value in self.placeholders(framing).items():
            conf = conf.replace(key, value)
        return conf

    # --- life cycle ---------------------------------------------------------------------------
    def start(self, framing: str = "lf") -> "Peer":
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        conf_path = os.path.join(self.workdir, self.conf_name)
        with open(conf_path, "w") as f:
            f.write(self.render_config(framing))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command(conf_path),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=self.env(),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise PeerError(f"{self.name} exited at start-up (code {self.proc.returncode}):\n{self.log_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise PeerError(
                    f"{self.name} did not listen on port {self.port} in {START_TIMEOUT_S:.0f}s:\n{self.log_text()}"
                )
            time.sleep(0.05)

    def stored(self) -> int:
        """Lines in the output file so far (read incrementally)."""
        try:
            fd = os.open(self.out_path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            os.lseek(fd, self._offset, os.SEEK_SET)
            while True:
                chunk = os.read(fd, 1 << 22)
                if not chunk:
                    break
                self._offset += len(chunk)
                self._lines += chunk.count(b"\n")
        finally:
            os.close(fd)
        return self._lines

    def cpu_seconds(self) -> float:
        if self.proc is None:
            return 0.0
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def stop(self) -> None:
        stop_child(self.proc, STOP_TIMEOUT_S)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return log_tail(self.log_path)

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
