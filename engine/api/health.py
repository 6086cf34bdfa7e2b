"""`/healthz` (the API process answers) and `/readyz` (503 with the reasons while the engine
cannot take and store rows as it should: a worker down, silent or restarting in a loop, the
writer stalled with rows waiting or stopped by a full disk, a ring wedged)."""

from __future__ import annotations

import time
from collections import deque

from aiohttp import web

from engine.api.disk_readiness import DiskReadiness
from engine.ipc import control
from engine.ipc.ring import Ring

# A ring is wedged when it is nearly full and its consumer has not moved for this long.
WEDGED_S = 10.0
WEDGED_FILL = 0.9
# A worker restarted this many times within RESTART_LOOP_WINDOW_S is restarting in a loop: each
# restart loses what the worker held, and the supervisor gives up at max_restarts_per_minute.
RESTART_LOOP_COUNT = 3
RESTART_LOOP_WINDOW_S = 60.0
WRITER = "writer-0"


class _Progress:
    """How long one worker's progress counter has stood still while it had work waiting, as seen
    by the looks `/readyz` takes: the clock starts at the first look that finds work waiting and
    restarts whenever the counter moves or nothing waits. Never early: between two looks that
    find the same count with work waiting, that work waited at least as long."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.waiting_since: float | None = None

    def stalled_for(self, count: int, waiting: bool, now: float) -> float:
        if count != self.count or not waiting:
            self.count = count
            self.waiting_since = now if waiting else None
            return 0.0
        if self.waiting_since is None:
            self.waiting_since = now
        return now - self.waiting_since


class _Restarts:
    """When one slot's restart count went up, as seen by the looks `/readyz` takes (the count at
    the first look is the baseline: restarts before this API process started are not known)."""

    def __init__(self) -> None:
        self.count: int | None = None
        self.times: deque[float] = deque()

    def within(self, count: int, now: float, window: float) -> int:
        """Restarts seen in the last `window` seconds at monotonic time `now`."""
        if self.count is not None and count > self.count:
            self.times.extend([now] * (count - self.count))
        self.count = count
        while self.times and now - self.times[0] > window:
            self.times.popleft()
        return len(self.times)


class Readiness:
    """The checks behind `/readyz`, one method per reason; `problems` runs them all. Each takes the
    clocks as arguments (`now_ns` wall clock, as heartbeats are written; `mono` monotonic)."""

    def __init__(
        self,
        ctl: control.ControlTable,
        slots: tuple[tuple[str, int], ...],
        rings: dict[str, Ring],
        heartbeat_timeout_ns: int,
        stall_ns: int,
        writer_rings: tuple[str, ...] = (),
        disk: DiskReadiness | None = None,
    ):
        self.disk = disk
        self.ctl = ctl
        self.slots = slots
        self.rings = rings
        self.heartbeat_timeout_ns = heartbeat_timeout_ns
        self.stall_ns = stall_ns
        self.writer_rings = writer_rings
        self._last_read: dict[str, tuple[int, float]] = {}
        self._writer = _Progress()
        self._restarts = {name: _Restarts() for name, _ in slots}

    def problems(self, now_ns: int | None = None, mono: float | None = None) -> list[str]:
        now_ns = time.time_ns() if now_ns is None else now_ns
        mono = time.monotonic() if mono is None else mono
        return [
            *self.workers_down(),
            *self.missed_heartbeats(now_ns),
            *self.writer_stalled(mono),
            *self.restart_loops(mono),
            *self.wedged_rings(mono),
            *self.disk_low(),
        ]

    def workers_down(self) -> list[str]:
        out = []
        for name, slot in self.slots:
            state = int(self.ctl.slots[slot]["state"])
            if state != control.READY:
                out.append(f"{name} is {control.STATE_NAMES.get(state, 'unknown')}")
        return out

    def missed_heartbeats(self, now_ns: int) -> list[str]:
        """Workers that have not beaten for `stall_after` (they beat several times a second):
        stopped (SIGSTOP), stuck, or starved of CPU. The supervisor aborts them only later, at
        `heartbeat_timeout`, so /readyz says it first."""
        limit = min(self.stall_ns, self.heartbeat_timeout_ns)
        out = []
        for name, slot in self.slots:
            s = self.ctl.slots[slot]
            silent = now_ns - int(s["heartbeat_ns"])
            if int(s["state"]) == control.READY and silent > limit:
                out.append(
                    f"{name} (pid {int(s['pid'])}) has sent no heartbeat for {silent / 1e9:.0f}s: stopped or stuck "
                    f"(the supervisor restarts it after supervisor.heartbeat_timeout = "
                    f"{self.heartbeat_timeout_ns / 1e9:g}s)"
                )
        return out

    def writer_stalled(self, mono: float) -> list[str]:
        """The writer has flushed nothing for `stall_after` while rows wait in its rings: rows
        are not reaching the disk (back-pressure holds the senders, nothing is lost yet)."""
        slot = dict(self.slots).get(WRITER)
        if slot is None or not self.writer_rings:
            return []
        waiting = sum(self.rings[name].used_bytes for name in self.writer_rings if name in self.rings)
        progress = int(self.ctl.slots[slot]["progress"])
        stalled = self._writer.stalled_for(progress, waiting > 0, mono)
        if stalled * 1e9 <= self.stall_ns:
            return []
        return [
            f"{WRITER} has flushed nothing for {stalled:.0f}s while {waiting / 2**20:.1f} MiB of rows wait in "
            f"its rings (supervisor.stall_after = {self.stall_ns / 1e9:g}s)"
        ]

    def restart_loops(self, mono: float) -> list[str]:
        out = []
        for name, slot in self.slots:
            n = self._restarts[name].within(int(self.ctl.slots[slot]["restarts"]), mono, RESTART_LOOP_WINDOW_S)
            if n >= RESTART_LOOP_COUNT:
                out.append(f"{name} is restarting in a loop: {n} restarts in the last {RESTART_LOOP_WINDOW_S:.0f}s")
        return out

    def wedged_rings(self, mono: float) -> list[str]:
        out = []
        for name, ring in self.rings.items():
            pos = ring.read_pos
            last = self._last_read.get(name)
            if last is None or last[0] != pos:
                self._last_read[name] = (pos, mono)
            elif ring.used_bytes > WEDGED_FILL * ring.capacity and mono - last[1] > WEDGED_S:
                out.append(f"ring {name} is full and its consumer has not moved for {mono - last[1]:.0f}s")
        return out

    def disk_low(self) -> list[str]:
        """The writer has stopped writing: the data dir is below storage.min_free_bytes, or writes fail."""
        problem = self.disk.problem() if self.disk is not None else None
        return [problem] if problem else []


def routes(readiness: Readiness) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        problems = readiness.problems()
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
