"""Who may call which HTTP route: the role each route needs, anonymous access, and token checks.

    route                                         needs
    GET /healthz, GET /readyz                     nothing
    GET /, GET /ui/{version}/{name}               nothing (the web UI's files: they hold no data)
    GET /metrics                                  nothing, or `query` with auth.metrics = true
    POST /api/v1/ingest                           ingest
    /insert/elasticsearch/... (bulk, probes)       ingest (a shipper sends its one credential to all)
    POST /loki/api/v1/push, POST /v1/logs         ingest (Loki push, OTLP/HTTP logs)
    GET|POST /api/v1/query, GET /api/v1/tail      query
    GET /api/v1/context                           query
    GET /api/v1/alerts, /rules, /silences         query
    GET|POST /loki/api/v1/... (the read API)      query
    POST /api/v1/silences, DELETE /silences/{id}  admin
    any other route                               admin (a route nobody listed is closed)

Anonymous requests (no credentials) are let through by `auth.anonymous`: "loopback" (the default)
for peers in 127.0.0.0/8 and ::1 only, "none" never, "any" always. Credentials that are sent are
always checked, from loopback too: a wrong token is a 401, never a silent downgrade to anonymous.

A token's scrypt check costs tens of milliseconds, so a verified token is remembered (keyed by an
HMAC of its text under a per-process random key, so the cache holds no usable secret) until the
tokens are reloaded. Checks run in a thread, at most MAX_CONCURRENT_CHECKS at once, so a flood
of wrong tokens (never remembered) costs a bounded share of the CPU and never blocks the loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import functools
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from engine.auth.tokens import Role, TokenEntry, split_token, verify_secret

# Routes by (method, canonical path); HEAD is checked as GET.
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/"): None,
    ("GET", "/ui/{version}/{name}"): None,
    ("POST", "/api/v1/ingest"): Role.INGEST,
    ("GET", "/api/v1/query"): Role.QUERY,
    ("POST", "/api/v1/query"): Role.QUERY,
    ("GET", "/api/v1/tail"): Role.QUERY,
    ("GET", "/api/v1/context"): Role.QUERY,
    ("GET", "/api/v1/alerts"): Role.QUERY,
    ("GET", "/api/v1/rules"): Role.QUERY,
    ("GET", "/api/v1/silences"): Role.QUERY,
    ("POST", "/api/v1/silences"): Role.ADMIN,
    ("DELETE", "/api/v1/silences/{id}"): Role.ADMIN,
}
# Loki's read API (engine.api.loki_routes): every route reads, so every one needs `query`.
ROUTE_ROLES.update(
    {
        (method, "/loki/api/v1" + path): Role.QUERY
        for path in (
            "/query_range",
            "/query",
            "/labels",
            "/label/{name}/values",
            "/series",
            "/index/stats",
            "/index/volume",
            "/index/volume_range",
            "/detected_fields",
            "/detected_labels",
            "/patterns",
            "/status/buildinfo",
            "/tail",
        )  # fmt: skip
        for method in ("GET", "POST")
    }
)
# Elasticsearch's ingest API (engine.api.es_routes): a shipper probes the node with the same
# credentials it sends its bulk requests with, so every route there needs `ingest`.
ROUTE_ROLES.update(
    {
        (method, "/insert/elasticsearch" + path): Role.INGEST
        for path, methods in (
            ("", ("GET",)),
            ("/", ("GET",)),
            ("/_bulk", ("POST", "PUT")),
            ("/{index}/_bulk", ("POST", "PUT")),
            ("/{tail}", ("GET", "PUT", "POST", "DELETE")),
        )
        for method in methods
    }
)
# The shippers' push routes (engine.api.push_routes) write, as /api/v1/ingest does.
ROUTE_ROLES.update({("POST", "/loki/api/v1/push"): Role.INGEST, ("POST", "/v1/logs"): Role.INGEST})
METRICS_ROUTE = ("GET", "/metrics")
# Verified tokens remembered at most; past it the cache starts over (a handful of tokens is normal).
MAX_CACHED_TOKENS = 4096
MAX_CONCURRENT_CHECKS = 2


class Anonymous(enum.Enum):
    """Which requests without credentials are let through."""

    LOOPBACK = "loopback"
    NONE = "none"
    ANY = "any"


def required_role(method: str, path: str, metrics_need_auth: bool) -> Role | None:
    """The role a route needs (None: open to everyone)."""
    key = ("GET" if method == "HEAD" else method, path)
    if key == METRICS_ROUTE:
        return Role.QUERY if metrics_need_auth else None
    return ROUTE_ROLES.get(key, Role.ADMIN)


@functools.lru_cache(maxsize=1024)  # asked on every request, most often of the same few peers
def is_loopback(address: str | None) -> bool:
    """Whether a peer address is 127.0.0.0/8 or ::1 (also as an IPv4-mapped IPv6 address)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def token_of(authorization: str | None) -> str | None:
    """The token in an Authorization header: `Bearer <token>`, or Basic with the token as the
    password (or as the user name when the password is empty), which is what Promtail, Vector,
    Fluent Bit and Grafana can send. None when the header is absent; "" when it is unreadable."""
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return password or user
    return ""


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: `status` 0 lets it through; 401/403 refuse it with `reason`."""

    status: int
    reason: str = ""
    who: str = ""  # the token's name, "anonymous" or "" (open route)


ALLOW_OPEN = Decision(0)


class Authenticator:
    """Checks requests against the configured tokens; `replace_tokens` swaps them (SIGHUP)."""

    def __init__(self, tokens: list[TokenEntry], anonymous: Anonymous, metrics_need_auth: bool = False):
        self.anonymous = anonymous
        self.metrics_need_auth = metrics_need_auth
        self._key = secrets.token_bytes(32)
        self._tokens: dict[str, TokenEntry] = {}
        self._verified: dict[bytes, TokenEntry] = {}
        self._checks = asyncio.Semaphore(MAX_CONCURRENT_CHECKS)
        self.replace_tokens(tokens)

    def replace_tokens(self, tokens: list[TokenEntry]) -> None:
        self._tokens = {t.name: t for t in tokens}
        self._verified = {}

    @property
    def token_count(self) -> int:
        return len(self._tokens)

    async def _entry(self, token: str) -> TokenEntry | None:
        digest = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        entry = self._verified.get(digest)
        if entry is not None:
            return entry
        parts = split_token(token)
        if parts is None:
            return None
        candidate = self._tokens.get(parts[0])
        if candidate is None:
            return None
        async with self._checks:
            good = await asyncio.to_thread(verify_secret, parts[1], candidate.hash)
        if not good or self._tokens.get(candidate.name) is not candidate:  # replaced meanwhile
            return None
        if len(self._verified) >= MAX_CACHED_TOKENS:
            self._verified = {}
        self._verified[digest] = candidate
        return candidate

    async def decide(self, method: str, path: str, peer: str | None, authorization: str | None) -> Decision:
        role = required_role(method, path, self.metrics_need_auth)
        if role is None:
            return ALLOW_OPEN
        token = token_of(authorization)
        if token is None:
            if self.anonymous is Anonymous.ANY or (self.anonymous is Anonymous.LOOPBACK and is_loopback(peer)):
                return Decision(0, who="anonymous")
            return Decision(401, f"this route needs a token with the {role.value} role")
        entry = await self._entry(token) if token else None
        if entry is None:
            return Decision(401, "unknown or malformed token")
        if not entry.allows(role):
            return Decision(403, f"token {entry.name!r} lacks the {role.value} role", who=entry.name)
        return Decision(0, who=entry.name)
