"""A throwaway CA for the TLS tests: server and client certificates it signs, and a rogue
self-signed pair it does not (made with the `openssl` command line via bench.tlscert)."""

from __future__ import annotations

import pathlib
from typing import NamedTuple

from bench.tlscert import make_ca, make_cert, make_self_signed


class TlsFiles(NamedTuple):
    ca_cert: pathlib.Path
    server_cert: pathlib.Path  # CN=localhost, SAN DNS:localhost and IP:127.0.0.1
    server_key: pathlib.Path
    client_cert: pathlib.Path  # signed by the CA, for clientAuth
    client_key: pathlib.Path
    rogue_cert: pathlib.Path  # self-signed, not signed by the CA
    rogue_key: pathlib.Path


def make_tls_files(folder: pathlib.Path) -> TlsFiles:
    """Make a fresh CA and its certificates under `folder` (created if needed)."""
    folder = pathlib.Path(folder)
    ca = make_ca(folder)
    server = make_cert(folder, "server", ca, "localhost")
    client = make_cert(folder, "client", ca, "logjet-test-client", client=True, san="DNS:logjet-test-client")
    rogue = make_self_signed(folder, "rogue", "logjet-test-client", san="DNS:logjet-test-client")
    return TlsFiles(ca.cert, server.cert, server.key, client.cert, client.key, rogue.cert, rogue.key)
