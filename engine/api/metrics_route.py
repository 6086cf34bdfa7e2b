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


def _proc_usage(pid: int) -> tuple[float, int] | None:
    """(cpu seconds, resident bytes) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()
    # After the command name: state is field 3; utime 14, stime 15, rss 24 (1-based in proc(5)).
    cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK
    rss = int(fields[21]) * _PAGE
    return cpu, rss


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
            usage = _proc_usage(pid) if pid else None
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
