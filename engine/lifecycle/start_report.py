"""What `logjet serve` says on stderr while it starts: that a first start compiles the kernels
and about how long that takes, then "ready in X s" (from the command's start) on every start.

A start is a first one when the kernel cache folder holds no warm marker (`layout.KERNELS_WARM`):
the fork server writes it once every kernel is compiled and cached (`mark_warm`), with what
loading them took, which the ready line repeats.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import time

from engine.store.layout import KERNELS_WARM
from native_kernels import cache_folder

log = logging.getLogger("logjet.supervise")

# Compiling every kernel, measured on a 2-core machine under load (the fork server compiles them
# in one process). Said as "about": a faster machine takes less.
COLD_COMPILE_S = 70


def kernel_cache() -> pathlib.Path | None:
    """The folder this install's kernels are cached in (None: numba's own choice)."""
    return cache_folder.configured(os.environ)


def is_warm(folder: pathlib.Path | None) -> bool:
    """Whether every kernel is compiled and cached in `folder` (unknown folder: no)."""
    return folder is not None and (folder / KERNELS_WARM).is_file()


def mark_warm(folder: pathlib.Path | None, took: dict[str, float]) -> None:
    """Note in `folder` that its kernels are all cached, and what loading them took."""
    if folder is None:
        return
    tmp = folder / (KERNELS_WARM + ".tmp")
    try:
        tmp.write_text(json.dumps({k: round(v, 3) for k, v in took.items()}))
        os.replace(tmp, folder / KERNELS_WARM)
    except OSError:
        pass  # a cache we cannot write to: every start says it compiles, which is true


def load_times(folder: pathlib.Path | None) -> dict[str, float]:
    """What the last warm-up in `folder` took, by step ({} when unknown)."""
    if folder is None:
        return {}
    try:
        got = json.loads((folder / KERNELS_WARM).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in got.items()} if isinstance(got, dict) else {}


def process_age_s() -> float:
    """Seconds since this process started (its interpreter's start included)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        start_ticks = int(stat[stat.rfind(b")") + 2 :].split()[19])
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return time.process_time()
    return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


class StartReport:
    """The start's lines on stderr (through the supervisor's log)."""

    def __init__(self, folder: pathlib.Path | None = None, warm: bool | None = None, forked: bool = True):
        self.folder = kernel_cache() if folder is None and warm is None else folder
        self.warm = is_warm(self.folder) if warm is None else warm
        self.forked = forked  # workers come from the fork server, whose warm-up this start ran

    def begin(self) -> str:
        """Say what this start will do; the message (also the service manager's status)."""
        if self.warm:
            return "starting workers"
        where = f" into {self.folder}" if self.folder is not None else ""
        message = f"compiling kernels (first start, about {COLD_COMPILE_S} s){where} ..."
        log.info("%s", message)
        return message

    def ready(self, age_s: float | None = None) -> str:
        """Say the engine is ready, and how long that took; the message."""
        age_s = process_age_s() if age_s is None else age_s
        if not is_warm(self.folder):
            # Every worker has loaded its kernels by now: spawned workers (no fork server to
            # mark the folder) compiled those they use, so the next start need not say it compiles.
            mark_warm(self.folder, {})
        message = f"ready in {age_s:.1f} s"
        took = load_times(self.folder) if self.forked else {}
        if took:
            steps = ", ".join(f"{k} {v:.2f}" for k, v in took.items())
            message += f" (kernels {'loaded' if self.warm else 'compiled'}: {steps} s)"
        log.info("%s", message)
        return message
