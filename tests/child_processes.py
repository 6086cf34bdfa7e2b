"""Which child processes a test starts, so the conftest can hold every process-starting test to
its marker: `e2e` for `logjet serve` and engine workers, `e2e` or `slow` for any other process
but the few fixture tools that run in milliseconds."""

from __future__ import annotations

import multiprocessing.process
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

# Audit events (PEP 578) raised when the interpreter starts a process.
SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "os.spawn", "os.system"}
)

# Programs that make test fixtures (the TLS tests' throwaway certificates) in milliseconds: they
# need no marker.
FIXTURE_TOOLS = frozenset({"openssl"})


@dataclass(frozen=True)
class Child:
    """One started process: what it runs, whether that is the engine or a fixture tool."""

    what: str
    is_engine: bool
    is_fixture_tool: bool = False


def command_child(argv: object) -> Child:
    """A process started from a command line: the engine when it is `... serve` that serves (a
    `serve --check-config` only reads the configuration and exits)."""
    words = [str(w) for w in argv] if isinstance(argv, (list, tuple)) else str(argv).split()
    program = os.path.basename(words[0]) if words else ""
    return Child(" ".join(words), "serve" in words and "--check-config" not in words, program in FIXTURE_TOOLS)


def python_child(target: object) -> Child:
    """A multiprocessing process: the engine when its target is engine code (a worker)."""
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", repr(target))
    return Child(f"multiprocessing target {module}.{name}", module.split(".")[0] == "engine")


@dataclass
class ChildProcessLog:
    """Records the children started while `recording` is set. `install` hooks it in once per
    session: an audit hook for commands, and `BaseProcess.start` for multiprocessing (whose
    spawn start raises no audit event)."""

    recording: bool = False
    started: list[Child] = field(default_factory=list)
    _original_start: Callable[[multiprocessing.process.BaseProcess], None] | None = None

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if not self.recording or event not in SPAWN_EVENTS:
            return
        if event in ("subprocess.Popen", "os.posix_spawn", "os.posix_spawnp"):
            self.started.append(command_child(args[1]))
        elif event == "os.spawn":
            self.started.append(command_child(args[2]))
        elif event == "os.system":
            self.started.append(command_child(args[0]))
        else:  # a bare fork runs this interpreter's code: what it does next is not known here
            self.started.append(Child(event, False))

    def install(self) -> None:
        sys.addaudithook(self.audit)
        original = multiprocessing.process.BaseProcess.start
        self._original_start = original

        def start(process: multiprocessing.process.BaseProcess) -> None:
            if self.recording:
                self.started.append(python_child(getattr(process, "_target", None)))
            original(process)

        setattr(multiprocessing.process.BaseProcess, "start", start)

    def uninstall(self) -> None:
        """Put `BaseProcess.start` back (an audit hook cannot be removed; it stops recording)."""
        self.recording = False
        if self._original_start is not None:
            setattr(multiprocessing.process.BaseProcess, "start", self._original_start)
            self._original_start = None


def marker_problem(children: list[Child], markers: set[str]) -> str | None:
    """Why a test with `markers` may not start `children`, or None when it may."""
    children = [c for c in children if not c.is_fixture_tool]
    if not children:
        return None
    listed = "; ".join(c.what for c in children)
    if any(c.is_engine for c in children) and "e2e" not in markers:
        return f"starts the engine ({listed}) but is not marked e2e"
    if not markers & {"e2e", "slow"}:
        return f"starts a child process ({listed}) but is marked neither e2e nor slow"
    return None
