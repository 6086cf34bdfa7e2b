"""The alert side of the API worker: runs the evaluator on the event loop (reading the parsers'
alert rings every evaluation interval), owns the notifiers and silences, and serves
`GET /api/v1/alerts`, `GET /api/v1/rules`, `GET|POST /api/v1/silences` and
`DELETE /api/v1/silences/{id}`.

SIGHUP (forwarded by the supervisor after it checked the file) reloads the rule snapshot;
unchanged rules keep their counts. A restarted API worker resumes reading the rings where its
predecessor stopped, but the window counts it held are gone: alerts start from empty windows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from engine.alert import snapshot
from engine.alert.evaluate import Evaluator
from engine.alert.model import decode_counts
from engine.alert.notify import Notifiers
from engine.alert.silences import SilenceError, Silences
from engine.ipc.record_kinds import KIND_ALERT_COUNTS
from engine.ipc.ring import RingConsumer
from engine.units import parse_hostport

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.metrics import Value
    from engine.worker.loop import WorkerShm
    from engine.worker.process import WorkerSpec

log = logging.getLogger("logjet.alert")
_json = msgspec.json.Encoder()


def _reply(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(obj), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> web.Response:
    return _reply({"error": message, "position": None}, status)


class AlertService:
    def __init__(self, settings: Settings, spec: WorkerSpec, shm: WorkerShm, external_url: str):
        self.shm = shm
        self.snapshot_path = shm.dir.alert_rules
        self.rings = [RingConsumer(shm.dir.ring(name)) for name in spec.input_rings]
        m = shm.metrics
        self._outcomes: dict[tuple[str, str], Value] = {}
        self.notifiers = Notifiers({}, self._on_outcome)
        self.silences = _open_silences(os.path.join(settings.data_dir, "alerts", "silences.json"))
        self.evaluator = Evaluator(self.notifiers, self.silences, m, external_url)
        self.generation = -1
        self.interval = 0.25
        self._reload = True
        self._task: asyncio.Task[None] | None = None
        self.m_bad = m.counter("alert_count_records_dropped_total", reason="damaged")

    def _on_outcome(self, notifier: str, outcome: str, n: int) -> None:
        key = (notifier, outcome)
        c = self._outcomes.get(key)
        if c is None:
            c = self._outcomes[key] = self.shm.metrics.counter(
                "alert_notifications_total", notifier=notifier, outcome=outcome
            )
        c.inc(n)

    def request_reload(self) -> None:
        self._reload = True

    async def _load(self) -> None:
        self._reload = False
        try:
            generation, rules, _ = snapshot.read(self.snapshot_path)
        except Exception as exc:
            log.error("cannot load the alert rules snapshot: %s; keeping the rules in force", exc)
            return
        if generation == self.generation:
            return
        await self.notifiers.reload(dict(rules.notifiers))
        self.evaluator.set_rules(rules)
        self.interval = rules.settings.evaluation_interval.seconds
        self.generation = generation

    def _drain_rings(self) -> None:
        for ring in self.rings:
            for _ in range(10_000):  # bounded: one tick never starves the HTTP server
                rec = ring.read()
                if rec is None:
                    break
                if rec.kind == KIND_ALERT_COUNTS:
                    try:
                        self.evaluator.add_counts(decode_counts(rec.payload))
                    except (msgspec.DecodeError, ValueError, TypeError) as exc:
                        log.error("damaged alert count record: %s", exc)
                        self.m_bad.inc()
                ring.release(rec.end_pos)

    async def run(self) -> None:
        await self.notifiers.start()
        while True:
            try:
                if self._reload:
                    await self._load()
                self._drain_rings()
                self.evaluator.tick()
            except Exception:  # a bug here must not take the API down with it
                log.exception("alert evaluation failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        # SIGHUP reaches `request_reload` through the API worker, which also reloads other files.
        self._task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            try:  # a last look: counts that arrived during the drain still notify
                self._drain_rings()
                self.evaluator.tick()
            except Exception:
                log.exception("alert evaluation failed")
        await self.notifiers.close(5.0)

    # --- routes -------------------------------------------------------------------------------
    async def get_alerts(self, request: web.Request) -> web.Response:
        return _reply({"alerts": self.evaluator.firing()})

    async def get_rules(self, request: web.Request) -> web.Response:
        return _reply({"rules": self.evaluator.rules_json(), "generation": self.generation})

    async def get_silences(self, request: web.Request) -> web.Response:
        return _reply({"silences": self.silences.as_json()})

    async def post_silence(self, request: web.Request) -> web.Response:
        try:
            s = self.silences.add(await request.read())
        except SilenceError as exc:
            return _error(str(exc))
        return _reply({"silenceID": s.id})

    async def delete_silence(self, request: web.Request) -> web.Response:
        if not self.silences.expire(request.match_info["id"], time.time_ns()):
            return _error("no silence with that id", 404)
        return _reply({"silenceID": request.match_info["id"], "status": "expired"})


def _open_silences(path: str) -> Silences:
    try:
        return Silences(path)
    except SilenceError as exc:  # a damaged file must not keep the API down: set it aside
        log.error("%s; moving it to %s.damaged and starting without silences", exc, path)
        os.replace(path, path + ".damaged")
        return Silences(path)


def install(app: web.Application, settings: Settings, spec: WorkerSpec, shm: WorkerShm) -> AlertService:
    host, _ = parse_hostport(settings.listen.http)
    shown = "127.0.0.1" if host in ("", "0.0.0.0", "::") else f"[{host}]" if ":" in host else host
    service = AlertService(settings, spec, shm, f"http://{shown}:{spec.ports.get('http', 0)}")
    app.router.add_get("/api/v1/alerts", service.get_alerts)
    app.router.add_get("/api/v1/rules", service.get_rules)
    app.router.add_get("/api/v1/silences", service.get_silences)
    app.router.add_post("/api/v1/silences", service.post_silence)
    app.router.add_delete("/api/v1/silences/{id}", service.delete_silence)
    return service
