"""`GET /metrics`: every process's counters merged, plus what is read at scrape time
(ring fill from the ring headers, CPU and memory of each role from /proc)."""

from __future__ import annotations

import os
from typing import Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CollectorRegistry, Metric
from prometheus_client.exposition import generate_latest

from engine import metrics
from engine.ipc.control import ControlTable
from engine.ipc.ring import Ring
from engine.ipc.shm import InstanceDir

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """The live children of `pid`, forked by any of its threads."""
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def _proc_usage(pid: int, children: bool = False) -> tuple[float, int] | None:
    """(cpu seconds, resident bytes) of a live process, from /proc; with `children`, its
    children's too (the writer's merge process), reaped ones' CPU included, so the role's
    counter does not drop when one is replaced (pages it shares with its parent count twice)."""
    fields = _stat(pid)
    if fields is None:
        return None
    # After the command name: state is field 3; utime 14, stime 15, cutime 16, cstime 17, rss 24
    # (1-based in proc(5)).
    ticks = int(fields[11]) + int(fields[12])
    rss = int(fields[21]) * _PAGE
    if children:
        ticks += int(fields[13]) + int(fields[14])
        for child in _children(pid):
            cf = _stat(child)
            if cf is not None:
                ticks += int(cf[11]) + int(cf[12])
                rss += int(cf[21]) * _PAGE
    return ticks / _CLK_TCK, rss


class EngineCollector:
    """A prometheus-client collector over the instance's shared memory."""

    def __init__(
        self, instance: InstanceDir, ctl: ControlTable, slots: tuple[tuple[str, int], ...], rings: dict[str, Ring]
    ):
        self.instance = instance
        self.ctl = ctl
        self.slots = slots
        self.rings = rings
        # CPU of processes that died (restarted workers) is kept so the counter never drops.
        self._dead_cpu: dict[str, float] = {}
        self._last_cpu: dict[tuple[str, int], float] = {}

    def collect(self) -> Iterator[Metric]:
        samples = metrics.read_all(self.instance.metrics_files())
        for name, ring in self.rings.items():
            samples[("ring_used_bytes", (("ring", name),))] = float(ring.used_bytes)
            samples[("ring_capacity_bytes", (("ring", name),))] = float(ring.capacity)
        cpu: dict[str, float] = dict(self._dead_cpu)
        rss: dict[str, float] = {}
        # The supervisor is not this worker's parent (a fork server is): ask the control table.
        pids = [("supervisor", self.ctl.supervisor_pid)] + [
            (name.rsplit("-", 1)[0], int(self.ctl.slots[slot]["pid"])) for name, slot in self.slots
        ]
        for role, pid in pids:
            # A worker's children are its own (the writer's merge process); the supervisor's
            # are the workers' fork server, counted under their roles.
            usage = _proc_usage(pid, children=role != "supervisor") if pid else None
            key = (role, pid)
            if usage is None:
                continue
            self._last_cpu[key] = usage[0]
            cpu[role] = cpu.get(role, 0.0) + usage[0]
            rss[role] = rss.get(role, 0.0) + usage[1]
        for key in list(self._last_cpu):
            if key[1] not in {p for _, p in pids}:
                self._dead_cpu[key[0]] = self._dead_cpu.get(key[0], 0.0) + self._last_cpu.pop(key)
        for role, value in cpu.items():
            samples[("process_cpu_seconds_total", (("role", role),))] = value
        for role, value in rss.items():
            samples[("process_resident_memory_bytes", (("role", role),))] = value
        yield from metrics.families(samples)


def routes(collector: EngineCollector) -> list[web.RouteDef]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    async def handler(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [web.get("/metrics", handler)]
