"""API access end to end: every route with no token, a wrong role and the right role (aiohttp and
curl), from loopback and as a remote client (the API on 127.0.0.2 with anonymous = "none"),
SIGHUP reloads of the auth file, HTTPS with a CA the test makes, one instance per data dir, and
private file modes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import time

import aiohttp
import pytest

from engine.auth.tokens import new_token
from tests.e2e.clients import wait_written
from tests.tlsca import make_tls_files

pytestmark = pytest.mark.e2e

# (method, path, body, role needed); None: open.
ROUTES = [
    ("GET", "/healthz", None, None),
    ("GET", "/readyz", None, None),
    ("GET", "/metrics", None, None),
    ("POST", "/api/v1/ingest", b'{"message": "auth test", "app": "authtest"}\n', "ingest"),
    ("GET", "/insert/elasticsearch/", None, "ingest"),
    ("POST", "/insert/elasticsearch/_bulk", b'{"create":{}}\n{"message": "auth test"}\n', "ingest"),
    ("PUT", "/insert/elasticsearch/_index_template/t", b"{}", "ingest"),
    ("POST", "/loki/api/v1/push", b"\x00", "ingest"),  # a snappy block of an empty PushRequest
    ("POST", "/v1/logs", b"", "ingest"),
    ("GET", "/api/v1/query?q=*&limit=1", None, "query"),
    ("POST", "/api/v1/query", b"*", "query"),
    ("GET", "/api/v1/alerts", None, "query"),
    ("GET", "/api/v1/rules", None, "query"),
    ("GET", "/api/v1/silences", None, "query"),
    ("POST", "/api/v1/silences", b'{"matchers": {"rule": "x"}, "duration": "1h"}', "admin"),
    ("DELETE", "/api/v1/silences/nonexistent", None, "admin"),
    ("GET", "/api/v1/no-such-route", None, "admin"),
]
ROLES = ("ingest", "query", "admin")


def _tokens(tmp_path) -> tuple[dict[str, str], str]:
    tokens, entries = {}, []
    for role in ROLES:
        token, entry = new_token(f"{role}-bot", [role])
        tokens[role] = token
        entries.append(entry)
    path = tmp_path / "auth.toml"
    path.write_text("\n".join(entries))
    return tokens, str(path)


async def _status(session: aiohttp.ClientSession, base: str, method: str, path: str, body, token, ssl_ctx=None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, base + path, data=body, headers=headers, ssl=ssl_ctx) as resp:
        await resp.read()
        if resp.status == 401:
            assert "Bearer" in resp.headers.get("WWW-Authenticate", "")
        if resp.status in (401, 403):
            assert resp.content_type == "application/json"
            assert "error" in json.loads(await resp.text())
        return resp.status


def _matrix(base: str, tokens: dict[str, str], ssl_ctx=None) -> dict[tuple[str, str, str | None], int]:
    async def run():
        out = {}
        async with aiohttp.ClientSession() as session:
            for method, path, body, _ in ROUTES:
                for who in (None, *ROLES):
                    out[(method, path, who)] = await _status(
                        session, base, method, path, body, tokens[who] if who else None, ssl_ctx
                    )
        return out

    return asyncio.run(run())


def _check_matrix(results, anonymous_allowed: bool) -> None:
    for method, path, _, needed in ROUTES:
        for who in (None, *ROLES):
            got = results[(method, path, who)]
            if needed is None:
                assert got < 400 or path == "/readyz", (method, path, who, got)
                continue
            if who is None:
                allowed = anonymous_allowed
            else:
                allowed = who == needed or who == "admin"
            if allowed:
                assert got not in (401, 403), (method, path, who, got)
            else:
                assert got == (401 if who is None else 403), (method, path, who, got)


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "logjet.toml"
    path.write_text(text)
    return str(path)


def test_remote_client_needs_the_right_role(start_engine, tmp_path):
    tokens, auth_file = _tokens(tmp_path)
    engine = start_engine(
        "--http", "127.0.0.2:0", "--auth-file", auth_file, "--config", _config(tmp_path, '[auth]\nanonymous = "none"\n')
    )
    base = f"http://127.0.0.2:{engine.ports['http']}"
    _check_matrix(_matrix(base, tokens), anonymous_allowed=False)

    # Basic auth with the token as the password (what Grafana and Promtail send), via curl.
    curl = shutil.which("curl")
    if curl:
        out = subprocess.run(
            [
                curl,
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-u",
                f"grafana:{tokens['query']}",
                f"{base}/api/v1/query?q=*",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.stdout == "200"
        out = subprocess.run(
            [curl, "-s", "-w", "\n%{http_code}", f"{base}/api/v1/query?q=*"], capture_output=True, text=True, timeout=30
        )
        body, code = out.stdout.rsplit("\n", 1)
        assert code == "401" and "query role" in json.loads(body)["error"]
    basic = base64.b64encode(f"x:{tokens['ingest']}".encode()).decode()

    async def ingest_basic():
        async with aiohttp.ClientSession() as s:
            async with s.post(
                base + "/api/v1/ingest",
                data=b'{"message": "basic auth row"}\n',
                headers={"Authorization": f"Basic {basic}"},
            ) as r:
                return r.status

    assert asyncio.run(ingest_basic()) == 200

    # A new token is taken on SIGHUP; a broken file then keeps the tokens in force.
    late, entry = new_token("late", ["query"])
    with open(auth_file, "a") as f:
        f.write("\n" + entry)
    os.kill(engine.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while asyncio.run(_once(base, late)) != 200:
        assert time.monotonic() < deadline, "SIGHUP did not load the new token"
        time.sleep(0.2)
    with open(auth_file, "a") as f:
        f.write("\n[[token]]\nname = broken\n")
    os.kill(engine.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "tokens not reloaded" not in engine.log_text():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert asyncio.run(_once(base, late)) == 200


async def _once(base: str, token: str) -> int:
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/api/v1/query?q=*&limit=1", headers={"Authorization": f"Bearer {token}"}) as r:
            await r.read()
            return r.status


def test_loopback_needs_no_token_by_default(start_engine, tmp_path):
    tokens, auth_file = _tokens(tmp_path)
    engine = start_engine("--auth-file", auth_file)
    _check_matrix(_matrix(engine.url, tokens), anonymous_allowed=True)
    # A wrong token from loopback is still refused, never downgraded to anonymous.
    assert asyncio.run(_once(engine.url, "query-bot.wrong")) == 401


def test_https_with_tokens_and_the_cli(start_engine, tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    tokens, auth_file = _tokens(tmp_path)
    config = _config(
        tmp_path,
        f'[tls]\ncert_file = "{tls.server_cert}"\nkey_file = "{tls.server_key}"\n[auth]\nanonymous = "none"\n',
    )
    engine = start_engine("--http-tls", "--auth-file", auth_file, "--config", config)
    base = f"https://127.0.0.1:{engine.ports['http']}"
    ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
    _check_matrix(_matrix(base, tokens, ctx), anonymous_allowed=False)
    # Plain HTTP to the TLS port gets nowhere.
    with pytest.raises(aiohttp.ClientError):
        asyncio.run(_once(f"http://127.0.0.1:{engine.ports['http']}", tokens["query"]))
    cli = [sys.executable, "-m", "engine.cli", "query", "--url", base, "--ca-file", str(tls.ca_cert), "app:authtest"]
    deadline = time.monotonic() + 30
    while True:  # the matrix's ingest rows reach the disk within a flush
        out = subprocess.run([*cli, "--token", tokens["query"]], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        if "auth test" in out.stdout:
            break
        assert time.monotonic() < deadline, "rows ingested over HTTPS never showed up"
        time.sleep(0.3)
    refused = subprocess.run([*cli, "--token", tokens["ingest"]], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "403" in refused.stderr
    unverified = subprocess.run(
        [*cli[:-3], "app:authtest", "--token", tokens["query"]], capture_output=True, text=True, timeout=60
    )
    assert unverified.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr


def test_one_instance_per_data_dir_and_private_modes(start_engine, tmp_path):
    engine = start_engine()
    data = engine.data_dir
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            "--data-dir",
            data,
            "--syslog-tcp",
            "127.0.0.1:0",
            "--syslog-udp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2
    assert f"in use by another logjet (pid {engine.proc.pid})" in second.stderr

    # The first instance is untouched: it still takes and stores rows.
    async def post():
        async with aiohttp.ClientSession() as s:
            async with s.post(engine.url + "/api/v1/ingest", data=b'{"message": "mode check"}\n') as r:
                return r.status

    assert asyncio.run(post()) == 200
    wait_written(engine.url, 1)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    parts = [os.path.join(root, f) for root, _, files in os.walk(data) for f in files if f.endswith(".ljp")]
    assert parts
    for path in parts:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_configured_tcp_backlog_is_used(start_engine):
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    engine = start_engine()
    for key in ("syslog_tcp", "http"):
        out = subprocess.run([ss, "-ltnH", f"sport = :{engine.ports[key]}"], capture_output=True, text=True)
        backlogs = {int(line.split()[2]) for line in out.stdout.splitlines() if line.strip()}
        expected = min(1024, int(pathlib.Path("/proc/sys/net/core/somaxconn").read_text()))
        assert backlogs == {expected}, (key, out.stdout)
