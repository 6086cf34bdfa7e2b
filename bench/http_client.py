"""A keep-alive HTTP client for query benchmarks: one connection per server, reused for every
request, so that logjet and a peer are asked the same way and neither pays a TCP handshake."""

from __future__ import annotations

import http.client
import urllib.parse

from engine.errors import LogjetError


class HttpError(LogjetError):
    """A server answered with a failure status; the message holds the URL and the body's start."""


class KeepAlive:
    """GET and POST on one persistent connection to 127.0.0.1:`port` (reopened when dropped)."""

    def __init__(self, port: int, timeout: float = 600.0):
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, params: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
        """The body of a 2xx answer; raises HttpError on any other status."""
        url = path + ("?" + urllib.parse.urlencode(params) if params else "")
        for attempt in (0, 1):
            conn = self._conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self._conn = conn
            try:
                conn.request(
                    method, url, body=body, headers={"Content-Type": "application/octet-stream"} if body else {}
                )
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A server may close an idle keep-alive connection between two requests: once more
                # on a new one. A second failure is real.
                self.close()
                if attempt:
                    raise
                continue
            if not 200 <= resp.status < 300:
                raise HttpError(f"{method} {url} answered {resp.status}: {data[:500]!r}")
            return data
        raise AssertionError("unreachable")

    def get(self, path: str, params: dict[str, str] | None = None) -> bytes:
        return self.request("GET", path, params)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
