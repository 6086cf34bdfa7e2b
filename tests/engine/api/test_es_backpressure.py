"""The Elasticsearch bulk route under back-pressure, on real rings and a real control table:
rings that stay full give 429 with Retry-After (what every shipper retries) and store nothing;
a low disk gives 503 at once; once the rings have room the same body is stored whole, with the
request's field names in its raw batch."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.api.es_routes import ElasticsearchApi, routes
from engine.api.ingest_routes import DISK_FULL_RETRY_AFTER_S, RETRY_AFTER_S, Ingest
from engine.ipc.control import FLAG_DISK_LOW, ControlTable, WriterFlags
from engine.ipc.raw_batch import RawBatch
from engine.ipc.record_kinds import KIND_RAW
from engine.ipc.ring import Ring, RingConsumer, RingProducer
from engine.metrics import MetricsFile

SLOTS = (("writer-0", 0), ("api-0", 1))
BODY = b'{"create":{}}\n{"text":"one"}\n{"create":{}}\n{"text":"two"}\n'


def test_full_rings_are_429_a_low_disk_503_and_a_retry_stores_it_all(shm_dir):
    ControlTable.create(str(shm_dir / "control"), len(SLOTS))
    ctl = ControlTable(str(shm_dir / "control"))
    path = str(shm_dir / "raw-api-p0.ring")
    Ring.create(path, 1 << 16)
    ring = RingProducer(path)
    for size in (1024, 64, 1):  # to the last byte
        while ring.try_write(KIND_RAW, b"x" * size):
            pass
    ingest = Ingest([ring], 1024, MetricsFile(str(shm_dir / "api.metrics")), 4096, WriterFlags(ctl, SLOTS), 0.2)

    async def post(client: TestClient) -> tuple[int, str | None, dict]:
        r = await client.post("/insert/elasticsearch/_bulk?msg_field=text", data=BODY)
        assert r.headers["X-Elastic-Product"] == "Elasticsearch"
        return r.status, r.headers.get("Retry-After"), await r.json()

    async def main() -> list[tuple[int, str | None, dict]]:
        app = web.Application()
        app.add_routes(routes(ElasticsearchApi(ingest)))
        async with TestClient(TestServer(app)) as client:
            full = await post(client)
            ctl.set_flag(0, FLAG_DISK_LOW, True)
            disk = await post(client)
            ctl.set_flag(0, FLAG_DISK_LOW, False)
            consumer = RingConsumer(path)
            while (rec := consumer.read()) is not None:  # the parser catches up
                consumer.release(rec.end_pos)
            return [full, disk, await post(client)]

    (s1, r1, b1), (s2, r2, b2), (s3, r3, b3) = asyncio.run(main())
    assert (s1, r1, b1["error"]["type"]) == (429, str(RETRY_AFTER_S), "es_rejected_execution_exception")
    assert (s2, r2, b2["error"]["type"]) == (503, str(DISK_FULL_RETRY_AFTER_S), "cluster_block_exception")
    assert "disk full" in b2["error"]["reason"]
    assert s3 == 200 and r3 is None and b3["errors"] is False
    assert [it["create"]["status"] for it in b3["items"]] == [201, 201]
    consumer = RingConsumer(path)
    rec = consumer.read()
    assert rec is not None and rec.kind == KIND_RAW and consumer.read() is None  # one batch: the retry
    raw = RawBatch.decode(rec.payload)
    frames = [raw.data[s:e].tobytes() for s, e in zip(raw.starts.tolist(), raw.ends.tolist())]
    assert frames == [b'{"text":"one"}', b'{"text":"two"}']
    assert raw.field_names == b'{"msg":["text"]}'
