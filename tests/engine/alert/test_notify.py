"""Notifiers against real endpoints: an aiohttp server on 127.0.0.1, a refused port, real files.

Tests wait for outcomes (never for time); `asyncio.timeout` only keeps a broken test from hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.alert.model import Alert, NotifierConfig
from engine.alert.notify import Notifiers, retry_delays
from engine.alert.notify_format import rfc3339
from engine.units import units_dec_hook

T0 = 1795975200.123  # 2026-11-29T18:00:00.123Z
HANG_GUARD_S = 10
LABELS = {"alertname": "segfault", "severity": "critical", "host": "web-1"}


def alert(rule="segfault", status="firing", host="web-1") -> Alert:
    return Alert(
        rule=rule,
        status=status,
        labels={"alertname": rule, "severity": "critical", "host": host},
        annotations={"summary": f"crash on {host}"},
        starts_at=T0,
        ends_at=T0 + 60.5 if status == "resolved" else None,
        value=3.0,
        fingerprint=f"{rule}-{host}",
        generator_url="http://logjet:8080/q",
    )


def notifier(**table) -> NotifierConfig:
    """A `[notifiers.NAME]` table read as the rules file's are (durations from their text)."""
    return msgspec.convert(table, NotifierConfig, dec_hook=units_dec_hook)


def webhook(url, **kw) -> NotifierConfig:
    return notifier(**{"type": "webhook", "url": url, "backoff": "10ms", "max_backoff": "40ms", **kw})


def file_notifier(path, **kw) -> NotifierConfig:
    return notifier(type="file", path=str(path), **kw)


class Outcomes:
    """The `on_outcome` callback: records (name, outcome, n); tests await a condition on it.
    `hook` runs inside the callback, i.e. at the exact point the notifier reports."""

    def __init__(self, hook=None):
        self.log: list[tuple[str, str, int]] = []
        self._changed = asyncio.Event()
        self._hook = hook

    def __call__(self, name: str, outcome: str, n: int) -> None:
        self.log.append((name, outcome, n))
        if self._hook:
            self._hook(name, outcome, n)
        self._changed.set()

    def of(self, name: str) -> list[tuple[str, int]]:
        return [(o, n) for who, o, n in self.log if who == name]

    def total(self, name: str, outcome: str) -> int:
        return sum(n for o, n in self.of(name) if o == outcome)

    async def until(self, cond) -> None:
        async with asyncio.timeout(HANG_GUARD_S):
            while not cond():
                self._changed.clear()
                await self._changed.wait()


class Hook:
    """A real HTTP endpoint: records each request; answers with `statuses` in turn, then 200.
    While `gate` is clear, requests wait in the handler (a slow receiver)."""

    def __init__(self, statuses=()):
        self.requests: list[tuple[str, dict, object]] = []
        self.statuses = list(statuses)
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.headers), json.loads(await request.read())))
        self.arrived.set()
        await self.gate.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200, text="nope")

    def bodies(self) -> list:
        return [body for _, _, body in self.requests]

    def hosts(self) -> list[list[str]]:
        """Per request (webhook format), the host label of each alert."""
        return [[a["labels"]["host"] for a in body["alerts"]] for body in self.bodies()]


@contextlib.asynccontextmanager
async def serve(hook: Hook):
    app = web.Application()
    app.router.add_post("/{tail:.*}", hook.handle)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield str(server.make_url("/hook"))


@contextlib.contextmanager
def refused_url():
    """A URL whose port is bound but not listening: connections are refused, and no other test
    can take the port while we hold it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/hook"


@contextlib.asynccontextmanager
async def started(configs: dict[str, NotifierConfig], out: Outcomes):
    """Started Notifiers, closed on the way out (also when the test fails)."""
    n = Notifiers(configs, out)
    await n.start()
    try:
        yield n
    finally:
        await n.close()


def run(main):
    asyncio.run(asyncio.wait_for(main(), HANG_GUARD_S * 2))


# --- payloads -------------------------------------------------------------------------------------


def test_rfc3339_and_retry_delays():
    assert rfc3339(T0) == "2026-11-29T18:00:00.123Z"
    assert rfc3339(T0 - 0.123) == "2026-11-29T18:00:00.000Z"
    cfg = file_notifier("x", backoff="500ms", max_backoff="3s", max_attempts=6)
    assert retry_delays(cfg) == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry_delays(file_notifier("x", max_attempts=1)) == []


def test_webhook_payload_firing_then_resolved():
    async def main():
        hook, out = Hook(), Outcomes()
        async with serve(hook) as url:
            cfg = webhook(url, headers={"Authorization": "Bearer s3cret"})
            async with started({"ops": cfg}, out) as n:
                n.send("ops", [alert()])
                await out.until(lambda: out.of("ops") == [("sent", 1)])
                n.send("ops", [alert(status="resolved")])
                await out.until(lambda: out.total("ops", "sent") == 2)
        (path, headers, firing), (_, _, resolved) = hook.requests
        assert path == "/hook"
        assert headers["Authorization"] == "Bearer s3cret"
        assert headers["Content-Type"] == "application/json"
        item = {
            "status": "firing",
            "labels": LABELS,
            "annotations": {"summary": "crash on web-1"},
            "startsAt": "2026-11-29T18:00:00.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://logjet:8080/q",
            "fingerprint": "segfault-web-1",
            "value": 3.0,
        }
        expect = {
            "version": "4",
            "groupKey": '{}:{alertname="segfault"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "ops",
            "groupLabels": {"alertname": "segfault"},
            "commonLabels": LABELS,
            "commonAnnotations": {"summary": "crash on web-1"},
            "externalURL": "",
            "alerts": [item],
        }
        assert firing == expect
        expect.update(status="resolved", alerts=[dict(item, status="resolved", endsAt="2026-11-29T18:01:00.623Z")])
        assert resolved == expect

    run(main)


def test_webhook_sends_one_request_per_rule():
    async def main():
        hook, out = Hook(), Outcomes()
        async with serve(hook) as url, started({"ops": webhook(url)}, out) as n:
            n.send("ops", [alert(host="a"), alert("oom"), alert(host="b", status="resolved")])
            await out.until(lambda: out.total("ops", "sent") == 3)
        seg, oom = hook.bodies()
        assert out.of("ops") == [("sent", 2), ("sent", 1)]
        assert hook.hosts() == [["a", "b"], ["web-1"]]
        assert seg["status"] == "firing"  # one of its alerts still fires
        assert seg["commonLabels"] == {"alertname": "segfault", "severity": "critical"}
        assert seg["commonAnnotations"] == {}
        assert oom["groupLabels"] == {"alertname": "oom"}

    run(main)


def test_alertmanager_payload_and_path():
    async def main():
        hook, out = Hook(), Outcomes()
        async with serve(hook) as url:
            cfg = NotifierConfig(type="alertmanager", url=url.removesuffix("hook"))  # ends in "/"
            async with started({"am": cfg}, out) as n:
                before = time.time()
                n.send("am", [alert(), alert(host="web-2", status="resolved")])
                await out.until(lambda: out.of("am") == [("sent", 2)])
                after = time.time()
        [(path, headers, body)] = hook.requests
        assert path == "/api/v2/alerts" and headers["Content-Type"] == "application/json"
        firing_ends = body[0].pop("endsAt")
        assert rfc3339(before + 300) <= firing_ends <= rfc3339(after + 300)
        assert body == [
            {
                "labels": LABELS,
                "annotations": {"summary": "crash on web-1"},
                "startsAt": "2026-11-29T18:00:00.123Z",
                "generatorURL": "http://logjet:8080/q",
            },
            {
                "labels": dict(LABELS, host="web-2"),
                "annotations": {"summary": "crash on web-2"},
                "startsAt": "2026-11-29T18:00:00.123Z",
                "endsAt": "2026-11-29T18:01:00.623Z",
                "generatorURL": "http://logjet:8080/q",
            },
        ]

    run(main)


def test_file_appends_ndjson(tmp_path):
    target = tmp_path / "new-dir" / "alerts.ndjson"

    async def main():
        out = Outcomes()
        async with started({"disk": file_notifier(target)}, out) as n:
            n.send("disk", [alert(), alert(status="resolved")])
            await out.until(lambda: out.total("disk", "sent") == 2)
            n.send("disk", [alert("oom")])
            await out.until(lambda: out.total("disk", "sent") == 3)

    before = time.time()
    run(main)
    after = time.time()
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert rfc3339(before) <= line.pop("time") <= rfc3339(after)
    assert lines[0] == {
        "notifier": "disk",
        "status": "firing",
        "rule": "segfault",
        "labels": LABELS,
        "annotations": {"summary": "crash on web-1"},
        "startsAt": "2026-11-29T18:00:00.123Z",
        "endsAt": None,
        "value": 3.0,
        "fingerprint": "segfault-web-1",
        "generatorURL": "http://logjet:8080/q",
    }
    assert lines[1]["status"] == "resolved" and lines[1]["endsAt"] == "2026-11-29T18:01:00.623Z"
    assert lines[2]["rule"] == "oom"


# --- failures and retries -------------------------------------------------------------------------


def test_5xx_is_retried_with_the_same_body():
    async def main():
        hook, out = Hook(statuses=[503, 503]), Outcomes()
        async with serve(hook) as url, started({"ops": webhook(url)}, out) as n:
            n.send("ops", [alert()])
            await out.until(lambda: out.total("ops", "sent") == 1)
        assert out.of("ops") == [("retried", 1), ("retried", 1), ("sent", 1)]
        first, *rest = hook.bodies()
        assert rest == [first, first]

    run(main)


def test_400_is_final_429_is_retried():
    async def main():
        hook, out = Hook(statuses=[400, 429]), Outcomes()
        async with serve(hook) as url, started({"ops": webhook(url)}, out) as n:
            n.send("ops", [alert()])
            await out.until(lambda: out.of("ops") == [("failed", 1)])
            n.send("ops", [alert("oom")])
            await out.until(lambda: out.total("ops", "sent") == 1)
        assert out.of("ops") == [("failed", 1), ("retried", 1), ("sent", 1)]
        assert [b["groupLabels"]["alertname"] for b in hook.bodies()] == ["segfault", "oom", "oom"]

    run(main)


def test_dead_endpoint_fails_alone_and_warns_once(caplog):
    async def main():
        hook, out = Hook(), Outcomes()
        with refused_url() as dead:
            async with serve(hook) as url:
                configs = {"dead": webhook(dead, max_attempts=3), "live": webhook(url)}
                async with started(configs, out) as n:
                    n.send("dead", [alert()])
                    n.send("live", [alert()])
                    await out.until(lambda: out.total("dead", "failed") == 1)
                    await out.until(lambda: out.total("live", "sent") == 1)
        assert out.of("dead") == [("retried", 1), ("retried", 1), ("failed", 1)]
        assert out.of("live") == [("sent", 1)]

    with caplog.at_level(logging.WARNING, logger="logjet.alert"):
        run(main)
    [warning] = caplog.records
    assert "'dead'" in warning.getMessage() and "ClientConnector" in warning.getMessage()


def test_file_in_the_way_is_retried_until_it_is_gone(tmp_path):
    target = tmp_path / "alerts.ndjson"
    target.mkdir()  # a directory where the file should be: IsADirectoryError

    def clear_the_way(name, outcome, n):
        if outcome == "retried":
            target.rmdir()

    async def main():
        out = Outcomes(hook=clear_the_way)
        async with started({"disk": file_notifier(target, backoff="10ms")}, out) as n:
            n.send("disk", [alert()])
            await out.until(lambda: out.total("disk", "sent") == 1)
        assert out.of("disk") == [("retried", 1), ("sent", 1)]

    run(main)
    assert json.loads(target.read_text())["rule"] == "segfault"


def test_full_queue_drops_the_oldest():
    async def main():
        hook, out = Hook(), Outcomes()
        hook.gate.clear()  # the receiver holds the first request, so the queue fills up
        async with serve(hook) as url, started({"ops": webhook(url, queue_size=3)}, out) as n:
            n.send("ops", [alert(host="h0")])
            await hook.arrived.wait()  # h0 is in flight, outside the queue
            n.send("ops", [alert(host=f"h{i}") for i in (1, 2)])
            n.send("ops", [alert(host=f"h{i}") for i in (3, 4, 5, 6)])
            assert out.of("ops") == [("dropped", 3)]
            hook.gate.set()
            await out.until(lambda: out.total("ops", "sent") == 4)
        assert hook.hosts() == [["h0"], ["h4", "h5", "h6"]]

    run(main)


def test_send_resolved_false_filters_resolved():
    async def main():
        hook, out = Hook(), Outcomes()
        async with serve(hook) as url, started({"ops": webhook(url, send_resolved=False)}, out) as n:
            n.send("ops", [alert(host="a"), alert(host="b", status="resolved")])
            n.send("ops", [alert(host="c", status="resolved")])
            n.send("ops", [alert(host="d")])
            await out.until(lambda: out.total("ops", "sent") == 2)
        assert out.log == [("ops", "sent", 2)]
        assert hook.hosts() == [["a", "d"]]

    run(main)


# --- lifecycle ------------------------------------------------------------------------------------


def test_names_kind_and_unknown_notifier():
    async def main():
        configs = {"ops": webhook("http://127.0.0.1:9/"), "disk": file_notifier("x")}
        n = Notifiers(configs, Outcomes())  # never started: nothing to deliver
        assert n.names() == ["ops", "disk"] and n.kind("disk") == "file"
        with pytest.raises(KeyError):
            n.send("nope", [alert()])
        await n.close()

    run(main)


def test_reload_keeps_unchanged_replaces_changed_removes_and_adds(tmp_path):
    async def main():
        hook, out = Hook(), Outcomes()
        hook.gate.clear()
        with refused_url() as dead:
            async with serve(hook) as url:
                slow = webhook(dead, backoff="1h", max_backoff="1h", max_attempts=2)
                async with started({"kept": webhook(url), "moved": slow, "gone": slow}, out) as n:
                    n.send("kept", [alert(host="k0")])
                    await hook.arrived.wait()  # k0 in flight, held by the receiver
                    n.send("kept", [alert(host="k1")])  # queued behind it
                    n.send("moved", [alert(host="m0")])
                    n.send("gone", [alert(host="g0")])
                    await out.until(lambda: out.of("moved") == out.of("gone") == [("retried", 1)])
                    n.send("moved", [alert(host="m1")])  # m0 waits an hour to retry; m1 queued
                    n.send("gone", [alert(host="g1")])

                    disk = file_notifier(tmp_path / "a.ndjson")
                    await n.reload({"kept": webhook(url), "moved": webhook(url), "disk": disk})
                    assert n.names() == ["kept", "moved", "disk"] and n.kind("disk") == "file"
                    assert out.of("gone") == [("retried", 1), ("dropped", 2)]
                    assert out.of("moved") == [("retried", 1), ("dropped", 1)]  # m0, in flight
                    n.send("disk", [alert(host="d0")])
                    hook.gate.set()
                    await out.until(
                        lambda: (
                            (out.total("kept", "sent"), out.total("moved", "sent"), out.total("disk", "sent"))
                            == (2, 1, 1)
                        )
                    )
        assert sorted(sum(hook.hosts(), [])) == ["k0", "k1", "m1"]
        assert json.loads((tmp_path / "a.ndjson").read_text())["labels"]["host"] == "d0"

    run(main)


def test_close_delivers_what_is_queued_then_drops_the_rest():
    async def main():
        hook, out = Hook(), Outcomes()
        async with serve(hook) as url, started({"ops": webhook(url)}, out) as n:
            # the sender has not run yet: all 150 are still queued when close() begins
            n.send("ops", [alert(host=f"h{i}") for i in range(150)])
            await n.close()
            n.send("ops", [alert(host="late")])
        assert out.of("ops") == [("sent", 100), ("sent", 50), ("dropped", 1)]
        assert sum(len(hosts) for hosts in hook.hosts()) == 150

        with refused_url() as dead:
            slow = webhook(dead, backoff="1h", max_backoff="1h")
            async with started({"dead": slow}, out) as n:
                n.send("dead", [alert()])
                await out.until(lambda: out.of("dead") == [("retried", 1)])
                await n.close(timeout=0.05)  # it waits an hour to retry: the deadline cuts it short
        assert out.of("dead") == [("retried", 1), ("dropped", 1)]

    run(main)
