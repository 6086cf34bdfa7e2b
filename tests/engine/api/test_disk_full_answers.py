"""What the API says while the writer's disk is low (its FLAG_DISK_LOW in a real control table):
HTTP ingest into full rings gets 503 at once, with "disk full" and Retry-After; /readyz names the
free space and the minimum."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api.disk_readiness import DiskReadiness
from engine.api.ingest_routes import DISK_FULL_RETRY_AFTER_S, Ingest, routes
from engine.ipc.control import FLAG_DISK_LOW, ControlTable, WriterFlags
from engine.ipc.record_kinds import KIND_RAW
from engine.ipc.ring import Ring, RingProducer
from engine.metrics import MetricsFile
from engine.units import AutoByteSize
from tests.tmpfs import fill, small_tmpfs

MIB = 1 << 20
SLOTS = (("receiver-0", 0), ("writer-0", 1), ("api-0", 2))


def _flags(shm_dir) -> tuple[ControlTable, WriterFlags]:
    ControlTable.create(str(shm_dir / "control"), len(SLOTS))
    ctl = ControlTable(str(shm_dir / "control"))
    return ctl, WriterFlags(ctl, SLOTS)


def test_ingest_into_full_rings_gets_503_at_once_when_the_disk_is_low(shm_dir):
    ctl, flags = _flags(shm_dir)
    ctl.set_flag(1, FLAG_DISK_LOW, True)
    Ring.create(str(shm_dir / "raw-api-p0.ring"), 1 << 16)
    ring = RingProducer(str(shm_dir / "raw-api-p0.ring"))
    for size in (1024, 64, 1):  # to the last byte
        while ring.try_write(KIND_RAW, b"x" * size):
            pass
    # Waiting for ring space would outlast the client (an hour against its minute): an answer
    # at all shows the request did not wait for rings that will not empty while the disk is low.
    ingest = Ingest([ring], 1024, MetricsFile(str(shm_dir / "api.metrics")), 4096, flags, wait_s=3600)
    used = ring.used_bytes

    async def main() -> tuple[int, str, dict[str, str]]:
        app = web.Application()
        app.add_routes(routes(ingest))
        async with TestClient(TestServer(app)) as client:
            r = await client.post("/api/v1/ingest", data=b'{"message": "m"}\n', timeout=aiohttp.ClientTimeout(total=60))
            return r.status, r.headers["Retry-After"], await r.json()

    status, retry_after, body = asyncio.run(main())
    assert status == 503 and retry_after == str(DISK_FULL_RETRY_AFTER_S)
    assert body["error"].startswith("disk full:") and "storage.min_free_bytes" in body["error"]
    assert ring.used_bytes == used, "answered while the rings were still full, and nothing of it kept"


def test_readiness_names_free_space_and_minimum_while_the_flag_is_set(tmp_path, shm_dir):
    ctl, flags = _flags(shm_dir)
    with small_tmpfs(str(tmp_path / "disk"), 4 * MIB) as disk:
        fill(disk, leave_free=MIB)
        below = DiskReadiness(flags, disk, AutoByteSize.parse("2MiB"))
        quota = DiskReadiness(flags, disk, AutoByteSize.parse("0"))
        assert below.problem() is None, "the writer decides; the API only reports"
        ctl.set_flag(1, FLAG_DISK_LOW, True)
        assert below.problem() == "disk below storage.min_free_bytes (free 1.0 MiB, minimum 2.0 MiB)"
        assert quota.problem() == "disk full: writes fail with ENOSPC or EDQUOT (free 1.0 MiB, minimum 0 B)"
        ctl.set_flag(1, FLAG_DISK_LOW, False)
        assert below.problem() is None and ctl.flags(1) == 0
    assert not WriterFlags(ctl, (("receiver-0", 0),)).disk_low(), "no writer slot: never low"
