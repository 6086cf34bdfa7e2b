"""API worker: serves the HTTP port (aiohttp on uvloop), bound with SO_REUSEPORT.

Routes are assembled from one module per concern (health, metrics, query, tail, context, ingest,
Elasticsearch bulk, Loki and OTLP push, alerts, web UI); this module only wires them to the
shared memory, puts the access check (engine.auth) in front of them, and runs the server (over
TLS with `listen.http_tls`) until the drain signal. SIGHUP re-reads the auth file and the TLS
certificate (a bad file keeps what is in force) and reloads the alert rules.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from typing import TYPE_CHECKING

import msgspec

import uvloop
from aiohttp import web

from engine import metrics
from engine.ipc import control
from engine.api import es_routes, health, metrics_route
from engine.api import ingest_routes as ingest
from engine.api import push_routes
from engine.api.auth_middleware import auth_middleware
from engine.api.disk_readiness import DiskReadiness
from engine.auth.policy import Anonymous, Authenticator
from engine.auth.tokens import AuthFileError, load_tokens
from engine.config import Settings, whole_request_bytes
from engine.worker.process import DRAIN_SIGNAL, BootError, WorkerSpec
from engine.ipc.ring import Ring, RingProducer
from engine.ipc.shm import column_ring_name
from engine.receive.listen_sockets import tcp_listener
from engine.receive.tls_context import TlsConfigError, build_context
from engine.units import parse_hostport
from engine.worker.loop import WorkerShm

if TYPE_CHECKING:  # imported when the app is built
    from engine.api.alert_routes import AlertService

log = logging.getLogger("logjet.api")
HEARTBEAT_S = 0.25
# The `query_duration_seconds` histogram of this process; query routes observe into it.
QUERY_DURATION = web.AppKey("query_duration", metrics.Histogram)
ALERTS: web.AppKey[AlertService] = web.AppKey("alerts")


def _all_rings(shm: WorkerShm) -> dict[str, Ring]:
    import os

    rings = {}
    for name in sorted(os.listdir(shm.dir.path)):
        if name.endswith(".ring"):
            rings[name[:-5]] = Ring(os.path.join(shm.dir.path, name))
    return rings


def configured_tokens(settings: Settings) -> Authenticator:
    """The access check for `settings.auth`; raises AuthFileError (at boot: the supervisor
    checked the same files just before, so only a file changed in between fails here)."""
    inline = [msgspec.structs.asdict(t) for t in settings.auth.tokens]
    tokens = load_tokens(settings.auth.file, inline)
    return Authenticator(tokens, Anonymous(settings.auth.anonymous), settings.auth.metrics)


def reload_tokens(settings: Settings, auth: Authenticator) -> None:
    """SIGHUP: the auth file again; a file that does not load leaves the tokens in force."""
    inline = [msgspec.structs.asdict(t) for t in settings.auth.tokens]
    try:
        tokens = load_tokens(settings.auth.file, inline)
    except AuthFileError as exc:
        log.error("SIGHUP: tokens not reloaded, keeping the %d in force: %s", auth.token_count, exc)
        return
    auth.replace_tokens(tokens)
    log.info("SIGHUP: %d API tokens loaded", len(tokens))


def https_context(settings: Settings) -> ssl.SSLContext:
    """The HTTP API's TLS context: the [tls] certificate and key; no client certificates (the
    client CA is the syslog listener's: API clients authenticate with tokens)."""
    return build_context(msgspec.structs.replace(settings.tls, client_ca_file=""))


def build_app(settings: Settings, spec: WorkerSpec, shm: WorkerShm, auth: Authenticator) -> web.Application:
    rings = _all_rings(shm)
    slots = spec.all_slots
    # The ingest routes undo Content-Encoding themselves (engine.api.request_body): aiohttp's
    # inflating while it parses breaks on bad or cut-short bodies in ways no route can answer.
    app = web.Application(
        client_max_size=settings.ingest.http_max_body.bytes,
        middlewares=[auth_middleware(auth, shm.metrics)],
        handler_args={"auto_decompress": False},
    )
    sup = settings.supervisor
    writer_rings = tuple(column_ring_name(q) for q in range(settings.workers.parsers))
    writer_flags = control.WriterFlags(shm.control, slots)
    disk = DiskReadiness(writer_flags, settings.data_dir, settings.storage.min_free_bytes)
    readiness = health.Readiness(
        shm.control, slots, rings, sup.heartbeat_timeout.ns, sup.stall_after.ns, writer_rings, disk
    )
    app.add_routes(health.routes(readiness))
    collector = metrics_route.EngineCollector(shm.dir, shm.control, slots, rings)
    app.add_routes(metrics_route.routes(collector))
    # Query routes observe into this; created here so the series exists before the first query.
    app[QUERY_DURATION] = shm.metrics.histogram("query_duration_seconds")
    producers = [RingProducer(shm.dir.ring(name)) for name in spec.raw_rings]
    # One way into the rings for every ingest route: one batcher, one lock.
    intake = ingest.Ingest(
        producers,
        settings.ingest.max_message_bytes,
        shm.metrics,
        settings.ingest.batch_bytes,
        writer_flags,
        max_body=settings.ingest.http_max_body.bytes,
    )
    app.add_routes(ingest.routes(intake))
    app.add_routes(es_routes.routes(es_routes.ElasticsearchApi(intake)))
    push = push_routes.Push(intake, shm.metrics, settings.ingest.http_max_body.bytes, whole_request_bytes(settings))
    app.add_routes(push_routes.routes(push))
    try:
        from engine.api import query_routes
    except ImportError:
        pass
    else:
        from engine.api import context_routes, loki_routes

        queries = query_routes.install(app, settings, spec, shm)
        context_routes.install(app, queries)
        loki_routes.install(app, queries, shm.metrics)
    from engine.api import alert_routes, ui_routes

    ui_routes.install(app)

    app[ALERTS] = alert_routes.install(app, settings, spec, shm)
    return app


async def _serve(settings: Settings, spec: WorkerSpec) -> None:
    shm = WorkerShm(spec)
    try:
        auth = configured_tokens(settings)
        tls = https_context(settings) if settings.listen.http_tls else None
    except (AuthFileError, TlsConfigError) as exc:
        raise BootError(str(exc)) from exc
    app = build_app(settings, spec, shm, auth)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, _ = parse_hostport(settings.listen.http)
    try:
        sock = tcp_listener(host, spec.ports["http"], settings.listen.tcp_backlog)
    except OSError as exc:
        raise BootError(f"cannot listen on http port {spec.ports['http']}: {exc}") from exc
    # aiohttp calls listen() again with its own backlog (128 unless told): pass the configured one.
    site = web.SockSite(runner, sock, ssl_context=tls, backlog=settings.listen.tcp_backlog)
    await site.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(DRAIN_SIGNAL, stop.set)

    def on_hup() -> None:
        reload_tokens(settings, auth)
        if tls is not None:
            try:
                tls.load_cert_chain(settings.tls.cert_file, settings.tls.key_file)
            except (OSError, ssl.SSLError) as exc:
                log.error("SIGHUP: HTTPS certificate not reloaded, keeping the one in force: %s", exc)
        app[ALERTS].request_reload()

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    async def heartbeat() -> None:
        while True:
            shm.beat()
            await asyncio.sleep(HEARTBEAT_S)

    beat = asyncio.ensure_future(heartbeat())
    app[ALERTS].start()
    shm.set_state(control.READY)
    await stop.wait()
    shm.set_state(control.DRAINING)
    await app[ALERTS].stop()
    on_drain = app.get("on_drain")
    if on_drain:
        await on_drain()
    await runner.cleanup()
    beat.cancel()
    shm.set_state(control.STOPPED)


def run(settings: Settings, spec: WorkerSpec) -> None:
    uvloop.run(_serve(settings, spec))
