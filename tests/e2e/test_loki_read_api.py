"""Loki's HTTP read API against a real `logjet serve` holding known rows: a contract suite taken
from Loki's HTTP API documentation (docs/sources/reference/loki-http-api.md: each endpoint's
parameters and response shape), with the values those rows must give, behind API tokens as
Grafana sends them (Bearer or basic auth with the token as password), and the live tail over a
WebSocket with aiohttp's client."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest

from bench.engine import EngineProcess
from engine.auth.tokens import new_token
from tests.e2e.clients import metric, send_tcp, wait_written

pytestmark = pytest.mark.e2e

N = 60
S = 10**9
BASE_NS = (time.time_ns() // (60 * S) - 30) * 60 * S  # half an hour ago, on a minute


def _line(i: int) -> str:
    """Row i: second i after BASE_NS, hosts web-1/web-2 alternating, app api every third row
    (else nginx), an error with status 500 every tenth row (else info, 200)."""
    error = i % 10 == 0
    pri = 16 * 8 + (3 if error else 6)  # local0
    stamp = dt.datetime.fromtimestamp((BASE_NS + i * S) / S, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    app = "api" if i % 3 == 0 else "nginx"
    status = 500 if error else 200
    method = "GET" if i % 2 else "POST"
    return f"<{pri}>1 {stamp} web-{i % 2 + 1} {app} {1000 + i} - - lokitest seq={i} status={status} method={method}"


LINES = [_line(i) for i in range(N)]


@pytest.fixture(scope="module")
def loki(tmp_path_factory):
    """(engine, tokens): one engine with auth on for remote and local clients alike."""
    tmp = tmp_path_factory.mktemp("loki")
    tokens, entries = {}, []
    for role in ("query", "ingest"):
        token, entry = new_token(f"{role}-bot", [role])
        tokens[role] = token
        entries.append(entry)
    (tmp / "auth.toml").write_text("\n".join(entries))
    (tmp / "logjet.toml").write_text('[auth]\nanonymous = "none"\n')
    engine = EngineProcess(
        str(tmp / "data"),
        "--retention",
        "0",
        "--auth-file",
        str(tmp / "auth.toml"),
        "--config",
        str(tmp / "logjet.toml"),
        log_path=str(tmp / "engine.log"),
    )
    engine.start()
    try:
        send_tcp(engine.ports["syslog_tcp"], ("\n".join(LINES) + "\n").encode())
        wait_written(engine.url, N)
        yield engine, tokens
    finally:
        engine.stop()


def _get(engine, tokens, path: str, params=(), token: str | None = "query", basic: bool = False):
    """(status, content type, body as JSON or text)."""
    url = engine.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url)
    if token:
        if basic:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"grafana:{tokens[token]}".encode()).decode())
        else:
            req.add_header("Authorization", f"Bearer {tokens[token]}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, ctype, body = resp.status, resp.headers.get_content_type(), resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, ctype, body = exc.code, exc.headers.get_content_type(), exc.read().decode()
    return status, ctype, json.loads(body) if ctype == "application/json" else body


RANGE = {"start": str(BASE_NS - S), "end": str(BASE_NS + 120 * S)}


def test_query_range_streams(loki):
    engine, tokens = loki
    status, ctype, got = _get(
        engine, tokens, "/loki/api/v1/query_range", {"query": '{app="nginx"} |= "status=500"', **RANGE}, basic=True
    )
    assert (status, ctype, got["status"]) == (200, "application/json", "success")
    data = got["data"]
    assert data["resultType"] == "streams" and "summary" in data["stats"]
    entries = sorted(
        (int(ts), line, tuple(sorted(s["stream"].items()))) for s in data["result"] for ts, line in s["values"]
    )
    want = [i for i in range(N) if i % 10 == 0 and i % 3 != 0]
    assert [ts for ts, _, _ in entries] == [BASE_NS + i * S for i in want]
    assert [line for _, line, _ in entries] == [LINES[i].split(" - - ", 1)[1] for i in want]
    assert dict(entries[0][2]) == {
        "host": "web-1",
        "app": "nginx",
        "severity": "err",
        "facility": "local0",
        "detected_level": "error",
    }
    # Each stream's values come newest first (direction=backward, the default).
    for s in data["result"]:
        times = [int(ts) for ts, _ in s["values"]]
        assert times == sorted(times, reverse=True)


def test_direction_limit_and_parsed_labels(loki):
    engine, tokens = loki
    params = {"query": '{host="web-2"} | logfmt | status == 200', "direction": "forward", "limit": "3", **RANGE}
    _, _, got = _get(engine, tokens, "/loki/api/v1/query_range", params)
    values = [(int(ts), s["stream"]) for s in got["data"]["result"] for ts, _ in s["values"]]
    assert sorted(ts for ts, _ in values) == [BASE_NS + i * S for i in (1, 3, 5)]
    assert all(labels["status"] == "200" and labels["method"] == "GET" for _, labels in values)


def test_metric_queries(loki):
    engine, tokens = loki
    params = {
        "query": 'sum by (host) (count_over_time({app=~".+"} |= "lokitest" [1m]))',
        "start": str(BASE_NS // S + 60),
        "end": str(BASE_NS // S + 120),
        "step": "60",
    }
    _, _, got = _get(engine, tokens, "/loki/api/v1/query_range", params)
    assert got["data"]["resultType"] == "matrix"
    by_host = {r["metric"]["host"]: r["values"] for r in got["data"]["result"]}
    # The window (t - 1m, t] at t = BASE + 60 s holds rows 1..59 (row 0 sits on the open edge).
    assert by_host == {"web-1": [[BASE_NS / S + 60, "29"]], "web-2": [[BASE_NS / S + 60, "30"]]}
    params = {"query": 'sum(count_over_time({app="api"} |= "lokitest" [1h]))', "time": str(BASE_NS + 120 * S)}
    _, _, got = _get(engine, tokens, "/loki/api/v1/query", params)
    assert got["data"]["resultType"] == "vector"
    assert got["data"]["result"] == [{"metric": {}, "value": [(BASE_NS + 120 * S) / S, "20"]}]
    params = {"query": 'sum by (detected_level) (count_over_time({app=~".+"} | drop __error__ [1h]))'}
    _, _, got = _get(engine, tokens, "/loki/api/v1/query", {**params, "time": str(BASE_NS + 120 * S)})
    levels = {r["metric"]["detected_level"]: r["value"][1] for r in got["data"]["result"]}
    assert levels == {"error": "6", "info": "54"}
    # What Grafana's "Save & test" asks (its 4 s in ns has 10 digits: Loki, and logjet, read seconds).
    _, _, got = _get(engine, tokens, "/loki/api/v1/query", {"query": "vector(1)+vector(1)", "time": "4000000000"})
    assert got["data"]["result"] == [{"metric": {}, "value": [4e9, "2"]}]


def test_metadata(loki):
    engine, tokens = loki
    _, _, got = _get(engine, tokens, "/loki/api/v1/labels", RANGE)
    assert got == {"status": "success", "data": ["app", "detected_level", "facility", "host", "severity"]}
    _, _, got = _get(engine, tokens, "/loki/api/v1/label/app/values", RANGE)
    assert got["data"] == ["api", "nginx"]
    _, _, got = _get(engine, tokens, "/loki/api/v1/label/severity/values", {**RANGE, "query": '{app="nginx"}'})
    assert got["data"] == ["err", "info"]
    _, _, got = _get(engine, tokens, "/loki/api/v1/series", [("match[]", '{app="api", host="web-1"}'), *RANGE.items()])
    assert got["data"] == [
        {"app": "api", "detected_level": "error", "facility": "local0", "host": "web-1", "severity": "err"},
        {"app": "api", "detected_level": "info", "facility": "local0", "host": "web-1", "severity": "info"},
    ]
    _, _, got = _get(engine, tokens, "/loki/api/v1/index/stats", {"query": '{app="api"}', **RANGE})
    assert got["entries"] == 20 and got["streams"] == 3 and got["bytes"] > 0  # web-2 has no api error
    _, _, got = _get(engine, tokens, "/loki/api/v1/index/volume", {"query": '{app=~".+"}', **RANGE})
    assert {r["metric"]["app"] for r in got["data"]["result"]} == {"api", "nginx"}
    status, _, got = _get(engine, tokens, "/loki/api/v1/status/buildinfo")
    assert status == 200 and got["version"]


def test_errors_auth_and_counters(loki):
    engine, tokens = loki
    status, ctype, text = _get(engine, tokens, "/loki/api/v1/query_range", {"query": '{app="x"} | unwrap x'})
    assert (status, ctype) == (400, "text/plain") and "`| unwrap`" in text and text.startswith("parse error at")
    status, _, _ = _get(engine, tokens, "/loki/api/v1/labels", token=None)
    assert status == 401
    status, _, _ = _get(engine, tokens, "/loki/api/v1/labels", token="ingest")
    assert status == 403
    status, _, _ = _get(engine, tokens, "/loki/api/v2alpha/tail", token="query")
    assert status != 400  # Grafana would take a 400 here for Loki's v2 tail protocol
    with urllib.request.urlopen(engine.url + "/metrics", timeout=30):
        pass
    assert metric(engine.url, "logjet_loki_requests_total", endpoint="query_range", outcome="bad_request") >= 1


def test_tail_websocket(loki):
    engine, tokens = loki
    fresh = [f"<134>1 - web-9 tailtest 1 - - tail line {i}" for i in range(3)]

    async def run():
        headers = {"Authorization": f"Bearer {tokens['query']}"}
        url = engine.url + "/loki/api/v1/tail?" + urllib.parse.urlencode({"query": '{app="tailtest"}'})
        got: list[str] = []
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.ws_connect(url) as ws:
                await asyncio.sleep(0.5)
                await asyncio.to_thread(send_tcp, engine.ports["syslog_tcp"], ("\n".join(fresh) + "\n").encode())
                deadline = time.monotonic() + 30
                while len(got) < len(fresh) and time.monotonic() < deadline:
                    msg = await ws.receive(timeout=deadline - time.monotonic())
                    for s in json.loads(msg.data)["streams"]:
                        assert s["stream"]["host"] == "web-9"
                        got += [line for _, line in s["values"]]
        return got

    assert asyncio.run(run()) == ["tail line 0", "tail line 1", "tail line 2"]
