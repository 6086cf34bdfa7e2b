"""End to end: the `[query]` limits of a real `logjet serve`, provoked with real HTTP clients over
200k rows in 20 parts: the default row limit and max_rows_limit, the response byte cap, the group
cap naming the field, 429 with Retry-After under concurrency (and none for a client asking
again at once), 503 on timeout, and the API process's memory coming back after big queries."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest

from bench.engine import EngineProcess
from engine.api.query_routes import TRIM_AFTER_IDLE_S
from tests.e2e.clients import send_tcp, wait_written, worker_pids

pytestmark = pytest.mark.e2e

N = 200_000
BURSTS = 20  # one part each: merges are off, so queries read many parts
USERS = 15_000  # more groups than query.max_rows: aggregations are not cut by it
BASE = dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc)
MAX_RESPONSE = 32 << 20
CONFIG = f"""
[storage]
merge_min_parts = 1000
flush_interval = "100ms"
[query]
max_concurrent = 2
max_response_bytes = {MAX_RESPONSE}
"""


def _line(i: int) -> bytes:
    stamp = (BASE + dt.timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (
        f"<14>1 {stamp} host{i % 7} app{i % 13} - - - limtest seq={i} user=u{i % USERS} "
        "some more words so that a row looks like a log line\n"
    ).encode()


def _send(engine: EngineProcess, start: int, count: int, bursts: int) -> None:
    per = count // bursts
    for k in range(bursts):
        send_tcp(engine.ports["syslog_tcp"], b"".join(_line(i) for i in range(start + k * per, start + (k + 1) * per)))
        assert wait_written(engine.url, start + (k + 1) * per) >= start + (k + 1) * per
        time.sleep(0.15)  # past the flush interval: the next burst makes a new part


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("limits")
    config = tmp / "logjet.toml"
    config.write_text(CONFIG)
    eng = EngineProcess(
        str(tmp / "data"), "--retention", "0", "--config", str(config), log_path=str(tmp / "engine.log")
    )
    eng.start()
    try:
        _send(eng, 0, N, BURSTS)
        yield eng
    finally:
        eng.stop()


def _get(url: str, **params: str) -> tuple[int, dict[str, str], bytes]:
    full = url + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(full, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _lines(body: bytes) -> list[dict]:
    return [json.loads(line) for line in body.splitlines() if line]


def test_default_row_limit_and_max_rows_limit(engine):
    status, _, body = _get(engine.url, q="limtest")
    rows = _lines(body)
    assert status == 200 and len(rows) == 10_000  # query.max_rows: the newest 10,000
    assert [int(r["fields"]["seq"]) for r in rows] == list(range(N - 1, N - 10_001, -1))
    status, _, body = _get(engine.url, q="limtest", limit="20000")
    assert status == 200 and len(_lines(body)) == 20_000
    status, _, body = _get(engine.url, q="limtest | stats count() by (user)")
    assert status == 200 and len(_lines(body)) == USERS  # aggregations are not cut
    status, headers, body = _get(engine.url, q="limtest", limit="1000001")
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {
        "error": "limit: 1000001 is more than query.max_rows_limit = 1000000; "
        "ask for fewer rows, or narrow the query (a filter or a shorter time range)",
        "position": None,
    }


def test_response_byte_cap_ends_the_stream_with_an_error_line(engine):
    status, _, body = _get(engine.url, q="limtest", limit=str(N))
    assert status == 200
    *rows, last = body.splitlines()
    assert len(body) - len(last) - 1 <= MAX_RESPONSE
    assert 50_000 < len(rows) < N and json.loads(rows[-1])["fields"]["seq"]  # whole rows, then the error
    error = json.loads(last)
    assert error["position"] is None and f"query.max_response_bytes = {MAX_RESPONSE}" in error["error"]


@pytest.mark.parametrize(
    "q, what",
    [("* | stats count() by (seq)", "stats by (seq)"), ("limtest | top 5 by (host, seq)", "top by (host, seq)")],
)
def test_group_cap_names_the_field(engine, q, what):
    status, _, body = _get(engine.url, q=q)
    assert status == 400
    assert json.loads(body) == {
        "error": f"{what} holds more than 100000 groups (query.max_groups); "
        "group by a field with fewer values, or narrow the query",
        "position": q.index("| ") + 2,
    }


async def _timed_get(session: aiohttp.ClientSession, url: str, q: str) -> tuple[int, str | None, bytes, float]:
    """(status, Retry-After, body, when the answer was complete: monotonic seconds)."""
    async with session.get(url + "/api/v1/query", params={"q": q}) as resp:
        body = await resp.read()
        return resp.status, resp.headers.get("Retry-After"), body, time.monotonic()


def test_queries_past_max_concurrent_get_429_at_once(engine):
    slow = "* | sort by (seq) | limit 1"  # every row's key: about a second here

    async def burst() -> list[tuple[int, str | None, bytes, float]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            return await asyncio.gather(*(_timed_get(session, engine.url, slow) for _ in range(12)))

    results = asyncio.run(burst())
    statuses = sorted(r[0] for r in results)
    assert set(statuses) <= {200, 429} and 200 in statuses and statuses.count(429) >= 6, statuses
    # Refused at once, not queued: every 429 is answered before the first running query is done.
    first_done = min(done for status, _, _, done in results if status == 200)
    for status, retry_after, body, done in results:
        if status == 429:
            assert retry_after == "1" and done < first_done, (retry_after, done - first_done)
            assert json.loads(body) == {
                "error": "too many queries at once: 2 are running (query.max_concurrent); retry in 1 s",
                "position": None,
            }
        else:
            assert _lines(body)[0]["fields"]["seq"] == "0"
    deadline = time.monotonic() + 30  # the slots come back
    while _get(engine.url, q="limtest", limit="1")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _get(engine.url, q="limtest", limit="1")[0] == 200


def _rss_anon_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/PID/status")


BIG_QUERIES = [
    {"q": "limtest", "limit": str(N)},  # streams until query.max_response_bytes
    {"q": "* | stats count() by (seq)"},  # stops at query.max_groups
    {"q": "* | sort by (message) | limit 10"},  # every message interned: 200k values
    {"q": "* | stats count(), count_uniq(user), quantile(0.5, seq) by (host)"},
]


def test_api_memory_comes_back_after_big_queries(engine):
    """RssAnon, not VmRSS: the API maps part files, and those pages are the kernel's page cache."""
    (api,) = worker_pids(engine, "api")
    for params in BIG_QUERIES:  # first use: lazily compiled kernels, the catalog's part caches
        _get(engine.url, **params)
    # Freed memory is kept for the next query and goes back once none ran for a while.
    settle_s = TRIM_AFTER_IDLE_S + 1.0
    time.sleep(settle_s)
    baseline = _rss_anon_mib(api)
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.01):
            peak = max(peak, _rss_anon_mib(api))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for _ in range(3):
            for params in BIG_QUERIES:
                assert _get(engine.url, **params)[0] in (200, 400)
    finally:
        stop.set()
        sampler.join(5)
    time.sleep(settle_s)
    after = _rss_anon_mib(api)
    told = f"API RssAnon: baseline {baseline:.0f} MiB, peak {peak:.0f} MiB, after {after:.0f} MiB"
    assert peak - baseline > 40, "the queries were not big enough to tell: " + told
    # Memory kept after each query (glibc arenas not trimmed, a decoded block cached per part and
    # thread, an exception's frames in a cycle) puts `after` near the peak; allocator slack is small.
    assert after - baseline < 0.5 * (peak - baseline), told


def test_timeout_is_a_503_and_frees_the_slot(start_engine, tmp_path):
    config = tmp_path / "timeout.toml"
    config.write_text('[query]\ntimeout = "1ms"\nmax_concurrent = 1\n')
    eng = start_engine("--config", str(config), name="timeout")
    _send(eng, 0, 20_000, 1)
    statuses = []
    for _ in range(5):  # a query whose slot was kept would make the next one a 429
        deadline = time.monotonic() + 10
        status, _, body = _get(eng.url, q="* | stats count() by (user)")
        while status == 429 and time.monotonic() < deadline:  # the last one's thread is closing
            time.sleep(0.05)
            status, _, body = _get(eng.url, q="* | stats count() by (user)")
        statuses.append(status)
        assert status == 503, body
        assert json.loads(body) == {"error": "query timed out after 0.0 s (query.timeout)", "position": None}
    assert statuses == [503] * 5


def test_a_query_asked_again_at_once_finds_its_slot_free(start_engine, tmp_path):
    """With one slot, a client that asks again as soon as it has read an answer is never
    refused: a query run on the threads is closed in the trip that made its last chunk, so its
    slot is free before the answer goes out (whole, or streamed: 10,000 rows)."""
    config = tmp_path / "one.toml"
    config.write_text("[query]\nmax_concurrent = 1\n")
    eng = start_engine("--config", str(config), name="one-slot")
    _send(eng, 0, 20_000, 2)
    queries = ["limtest | stats count() by (user)", "host:host3 | stats count() by (app)", "limtest", "seq:7"]
    conn = http.client.HTTPConnection("127.0.0.1", eng.ports["http"], timeout=60)
    try:
        for _ in range(25):
            for q in queries:
                conn.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"q": q}))
                resp = conn.getresponse()
                body = resp.read()
                assert resp.status == 200, (q, body[:200])
    finally:
        conn.close()
