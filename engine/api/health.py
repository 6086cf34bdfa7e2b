"""`/healthz` (the API process answers) and `/readyz` (every worker up, no ring wedged, the
writer not stopped by a full disk)."""

from __future__ import annotations

import time

from aiohttp import web

from engine.api.disk_readiness import DiskReadiness
from engine.ipc import control
from engine.ipc.ring import Ring

# A ring is wedged when it is nearly full and its consumer has not moved for this long.
WEDGED_S = 10.0
WEDGED_FILL = 0.9


class Readiness:
    def __init__(
        self,
        ctl: control.ControlTable,
        slots: tuple[tuple[str, int], ...],
        rings: dict[str, Ring],
        stale_ns: int,
        disk: DiskReadiness | None = None,
    ):
        self.disk = disk
        self.ctl = ctl
        self.slots = slots
        self.rings = rings
        self.stale_ns = stale_ns
        self._last_read: dict[str, tuple[int, float]] = {}

    def problems(self) -> list[str]:
        out = []
        now = time.time_ns()
        for name, slot in self.slots:
            s = self.ctl.slots[slot]
            if s["state"] != control.READY:
                out.append(f"{name} is {control.STATE_NAMES.get(int(s['state']), 'unknown')}")
            elif now - s["heartbeat_ns"] > self.stale_ns:
                out.append(f"{name} missed its heartbeat")
        mono = time.monotonic()
        for name, ring in self.rings.items():
            pos = ring.read_pos
            last = self._last_read.get(name)
            if last is None or last[0] != pos:
                self._last_read[name] = (pos, mono)
            elif ring.used_bytes > WEDGED_FILL * ring.capacity and mono - last[1] > WEDGED_S:
                out.append(f"ring {name} is full and its consumer has not moved for {mono - last[1]:.0f}s")
        disk_problem = self.disk.problem() if self.disk is not None else None
        if disk_problem:
            out.append(disk_problem)
        return out


def routes(readiness: Readiness) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        problems = readiness.problems()
        if problems:
            return web.json_response({"status": "not ready", "problems": problems}, status=503)
        return web.json_response({"status": "ready"})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
