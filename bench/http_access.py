"""How a benchmark reaches logjet's HTTP API: plain HTTP or HTTPS (and the CA that verifies the
engine's certificate), and the API token it sends as `Authorization: Bearer`."""

from __future__ import annotations

import http.client
import ssl
import urllib.request
from typing import NamedTuple


class HttpAccess(NamedTuple):
    """Crosses the spawn boundary to the sender processes, so plain values only."""

    tls: bool = False
    ca_file: str = ""  # with tls: the CA (or self-signed certificate) to verify with; "" = the system's
    token: str = ""  # "" = send none

    @classmethod
    def for_url(cls, url: str, token: str | None, ca_file: str | None) -> "HttpAccess":
        return cls(url.startswith("https://"), ca_file or "", token or "")

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client context of an HTTPS target: the certificate is verified (hostname included),
        so the figure is of TLS as a client should use it."""
        return ssl.create_default_context(cafile=self.ca_file or None) if self.tls else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def connection(self, host: str, port: int, timeout: float) -> http.client.HTTPConnection:
        """A keep-alive connection to the API (one per sender)."""
        if self.tls:
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self.ssl_context())
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def get(self, url: str, timeout: float) -> bytes:
        """The body of GET `url` (urllib's errors on a failure status)."""
        request = urllib.request.Request(url, headers=self.headers())
        with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as resp:
            body: bytes = resp.read()
            return body
