"""Imported only by the fork server that forks the workers (`forkserver.PRELOAD`): loads once
what every worker would otherwise load itself. Importing it acts, on purpose: an import is the
one thing a multiprocessing fork server can be asked to do before it serves.

- SIGTERM and SIGHUP are ignored: a SIGTERM sent to the whole process group or cgroup (systemd's
  stop, timeout(1)) is for the supervisor, which drains the workers in order; a fork server it
  killed would report every worker dead while they were still draining.
- Every role's worker module is imported (numpy, numba, hyperscan, zstandard, aiohttp, ...).
- Every kernel is loaded, or compiled and cached on a first start (`kernel_warmup`), and the
  cache folder marked warm with what that took (`start_report.mark_warm`).

Nothing here may leave a thread running: the workers are forked from this process.
"""

from __future__ import annotations

import importlib
import logging
import signal
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _preload() -> None:
    from engine.worker.process import ROLE_MODULES

    t0 = time.perf_counter()
    for module in ROLE_MODULES.values():
        importlib.import_module(module)
    imports_s = time.perf_counter() - t0

    from engine.lifecycle import kernel_warmup, start_report
    from native_kernels.jit import CACHE_FOLDER

    took = kernel_warmup.warm_all()
    start_report.mark_warm(CACHE_FOLDER, {"imports": imports_s, **took})


try:
    _preload()
except Exception:
    # The fork server must serve even so: each worker imports and warms what it needs itself.
    logging.getLogger("logjet.warmup").exception("preloading the workers failed; each worker loads its own")
