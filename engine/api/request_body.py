"""The one body reader of every HTTP ingest route (ingest, Elasticsearch bulk, Loki, OTLP): the
wire bytes, then their Content-Encoding undone by us under ingest.http_max_body.

The HTTP server does not decompress (the app is built with `auto_decompress` off): aiohttp
inflates while it parses, so a body that does not inflate broke the connection or logged
"Unhandled exception", a gzip body cut short was taken as the part that came, and a deflate
body cut short inside its stream left the handler waiting for an end that never came. Read
whole and inflated here, each of those is a prompt 400 (`engine.push.bodies.inflate`).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from engine.push.bodies import PushRefused, inflate, too_large


class Body:
    """A request body: `data` with its Content-Encoding undone, `wire` the bytes that came."""

    __slots__ = ("data", "wire")

    def __init__(self, data: bytes, wire: int) -> None:
        self.data = data
        self.wire = wire


async def read_body(request: web.Request, limit: int) -> Body:
    """The whole body, inflated; raises PushRefused (400 not readable or not decodable, 413
    over `limit` on the wire or inflated, 415 an encoding we do not speak)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large("the body", limit) from None
    except RequestPayloadError as exc:  # e.g. chunked framing that breaks off
        raise PushRefused(400, "bad_encoding", f"the body cannot be read: {exc}") from None
    return Body(inflate(raw, request.headers.get("Content-Encoding", ""), limit), len(raw))
