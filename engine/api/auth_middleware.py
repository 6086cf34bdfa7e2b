"""The aiohttp middleware that applies `engine.auth.policy` to every request before its handler.

Refusals are JSON like every other API error (`{"error": ..., "position": null}`): 401 with a
`WWW-Authenticate` challenge for Bearer and Basic, 403 when the token lacks the role. Each
outcome is counted in `logjet_http_auth_total{outcome}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware

from engine.auth.policy import Authenticator
from engine.metrics import MetricsFile

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Who made the request: a token's name, "anonymous", or "" on open routes (for logs and handlers).
CALLER = web.RequestKey("caller", str)
OUTCOMES = ("token", "anonymous", "open", "unauthorized", "forbidden")
_encoder = msgspec.json.Encoder()
_CHALLENGE = 'Bearer realm="logjet", Basic realm="logjet"'


def _peer(request: web.Request) -> str | None:
    peername = request.transport.get_extra_info("peername") if request.transport is not None else None
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return None


def _route_path(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


def auth_middleware(auth: Authenticator, metrics: MetricsFile) -> Middleware:
    counters = {o: metrics.counter("http_auth_total", outcome=o) for o in OUTCOMES}

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        decision = await auth.decide(
            request.method, _route_path(request), _peer(request), request.headers.get("Authorization")
        )
        if decision.status:
            counters["unauthorized" if decision.status == 401 else "forbidden"].inc()
            headers = {"WWW-Authenticate": _CHALLENGE} if decision.status == 401 else None
            body = _encoder.encode({"error": decision.reason, "position": None})
            return web.Response(body=body, status=decision.status, content_type="application/json", headers=headers)
        counters["open" if not decision.who else "anonymous" if decision.who == "anonymous" else "token"].inc()
        request[CALLER] = decision.who
        return await handler(request)

    return check
