"""End to end: syslog over TCP into a real `logjet serve`, then the stages that make fields
through `/api/v1/query`, and the CLI's `logjet query --context N` (against `--url` and on the
data dir) and `logjet tail` (its rows, Ctrl-C and a reader that goes away)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.clients import query_api, send_tcp

pytestmark = pytest.mark.e2e

USERS = ("root", "admin", "bob")


def _get(url: str, **params: str) -> tuple[int, list[dict]]:
    return query_api(url, params)


def _wait_rows(url: str, q: str, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        _, rows = _get(url, q=q, limit="10000")
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    return rows


def _lines() -> list[str]:
    out = []
    for i in range(60):
        user, port = USERS[i % 3], 40000 + i
        out.append(
            f"<38>Nov 22 10:00:{i:02d} web-{i % 2} sshd[{100 + i}]: stg Failed password for {user} "
            f"from 10.0.0.{i % 4} port {port} ssh2"
        )
        out.append(
            f'<134>Nov 22 10:00:{i:02d} api-1 api: stg req {{"status": {200 + (i % 4) * 100}, '
            f'"req": {{"path": "/p{i % 2}"}}, "ms": {i}}} level=info msg="served in {i} ms"'
        )
    # A quiet source for context: ten lines, two hits.
    for i in range(10):
        word = "CTXHIT" if i in (3, 8) else "ctxline"
        out.append(f"<14>Nov 22 10:01:{i:02d} ctxhost ctxapp: {word} n={i}")
    return out


@pytest.fixture(scope="module")
def engine(shared_engine):
    lines = _lines()
    send_tcp(shared_engine.ports["syslog_tcp"], ("\n".join(lines) + "\n").encode())
    rows = _wait_rows(shared_engine.url, "stg OR ctxline OR CTXHIT", len(lines))
    assert len(rows) == len(lines)
    return shared_engine


def test_stages_through_the_query_api(engine):
    url = engine.url
    status, out = _get(url, q='app:sshd stg | extract "for <user> from <ip> port <port> " | stats count() by (user)')
    assert status == 200 and out == [{"user": u, "count()": 20} for u in sorted(USERS)]
    _, out = _get(url, q='app:sshd stg | extract "port <port> " | math port - 40000 as k | filter k:<3 | fields k')
    assert sorted(o["k"] for o in out) == [0, 1, 2]
    _, out = _get(
        url,
        q='app:api stg | extract "req <j> level=" | unpack_json from j fields (status, req) '
        "| filter status:>=400 | stats count() by (status, req.path)",
    )
    # status 400 on rows i % 4 == 2 (even: /p0), 500 on i % 4 == 3 (odd: /p1)
    assert out == [
        {"status": "400", "req.path": "/p0", "count()": 15},
        {"status": "500", "req.path": "/p1", "count()": 15},
    ]
    _, out = _get(url, q='app:api stg | unpack_logfmt fields (msg) | extract "in <ms> ms" from msg | stats max(ms)')
    assert out == [{"max(ms)": 59.0}]
    _, out = _get(url, q="app:api stg | stats count() as n by (host) | math n * 2 as twice")
    assert out == [{"host": "api-1", "n": 60, "twice": 120}]


@pytest.mark.parametrize(
    "q, named",
    [
        ('stg | extract "no placeholder"', "no <field> placeholder"),
        ("stg | unpack_json junk", "unexpected 'junk' in unpack_json"),
        ("stg | math a +", "math"),
        ("stg | frobnicate", "unknown stage 'frobnicate'"),
    ],
)
def test_bad_stages_are_400s_naming_them(engine, q, named):
    status, out = _get(engine.url, q=q)
    assert status == 400 and named in out[0]["error"] and isinstance(out[0]["position"], int)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, timeout=timeout)


def _groups(stdout: bytes) -> list[list[dict]]:
    groups: list[list[dict]] = [[]]
    for line in stdout.decode().splitlines():
        if line == "--":
            groups.append([])
        elif line:
            groups[-1].append(json.loads(line))
    return groups


@pytest.mark.parametrize("where", ["url", "data-dir"])
def test_query_context(engine, where):
    source = ["--url", engine.url] if where == "url" else ["--data-dir", engine.data_dir]
    res = _cli("query", *source, "--context", "2", "CTXHIT")
    assert res.returncode == 0, res.stderr.decode()
    groups = _groups(res.stdout)
    # Newest hit first; each with two rows each side, in arrival order, the hit marked.
    assert [[r["fields"]["n"] for r in g] for g in groups] == [["6", "7", "8", "9"], ["1", "2", "3", "4", "5"]]
    assert [[r.get("_hit", False) for r in g] for g in groups] == [
        [False, False, True, False],
        [False, False, True, False, False],
    ]
    assert all(r["host"] == "ctxhost" and r["app"] == "ctxapp" for g in groups for r in g)
    # Wider, the two groups overlap: one group, both hits marked.
    res = _cli("query", *source, "--context", "3", "CTXHIT")
    assert res.returncode == 0, res.stderr.decode()
    [group] = _groups(res.stdout)
    assert [(r["fields"]["n"], r.get("_hit", False)) for r in group] == [(str(i), i in (3, 8)) for i in range(10)]
    res = _cli("query", *source, "--context", "1", "CTXHIT | stats count()")
    assert res.returncode == 1 and b"--context needs rows with their _id" in res.stderr


def _start_tail(engine, q: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "tail", "--url", engine.url, q],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _send_until_read(engine, proc: subprocess.Popen, line: str) -> bytes:
    """Send `line` until the tail prints a line (it may still be connecting at first); reads
    the pipe's file descriptor directly, so the test can close it afterwards."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    got = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        send_tcp(engine.ports["syslog_tcp"], (line + "\n").encode())
        end = time.monotonic() + 3
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise AssertionError(f"the tail ended: {proc.stderr.read() if proc.stderr else ''}")
                got += chunk
                if b"\n" in got:
                    return got.split(b"\n", 1)[0]
    raise AssertionError("the tail printed nothing")


def test_tail_prints_rows_and_stops_on_ctrl_c(engine):
    proc = _start_tail(engine, 'tailone | extract "n=<n> " | fields host, n')
    try:
        out = json.loads(_send_until_read(engine, proc, "<14>Nov 22 10:02:00 tailhost tapp: tailone n=7 end"))
        assert out == {"host": "tailhost", "n": "7"}
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        _stop(proc)


def test_tail_ends_quietly_when_its_reader_goes(engine):
    proc = _start_tail(engine, "tailtwo")
    try:
        assert b"tailtwo first" in _send_until_read(engine, proc, "<14>Nov 22 10:02:00 tailhost tapp: tailtwo first")
        assert proc.stdout is not None
        proc.stdout.close()
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            send_tcp(engine.ports["syslog_tcp"], b"<14>Nov 22 10:02:01 tailhost tapp: tailtwo more\n")
            time.sleep(0.5)
        assert proc.wait(5) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        _stop(proc)


def test_tail_refuses_a_bad_query(engine):
    res = _cli("tail", "--url", engine.url, "x | sort by (host)", timeout=60)
    assert res.returncode == 1 and b"a tail takes a filter" in res.stderr
