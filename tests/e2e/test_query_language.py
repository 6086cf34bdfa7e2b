"""End to end: LogsQL spellings and refused input against a real `logjet serve`. The issue's
example first: `app:~"^lg"` answered 200 with no rows (a word `~` and a phrase); now it is the
regex it looks like, and what the language does not know is a 400 naming it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.clients import query_api, send_tcp

pytestmark = pytest.mark.e2e

APPS = ("lgsvc", "sshd", "cron")
N = 90


def _get(url: str, params: dict[str, str]) -> tuple[int, list[dict]]:
    return query_api(url, params)


def test_logsql_spellings_and_refusals(start_engine):
    engine = start_engine()
    url = engine.url
    lines = [
        f"<38>1 - host{i % 3} {APPS[i % 3]} {100 + i} - - "  # no timestamp: _time is the receive time
        f"e2el {'Failed password for root' if i % 2 else 'Accepted publickey for bob'} n={i}"
        for i in range(N)
    ]
    send_tcp(engine.ports["syslog_tcp"], ("\n".join(lines) + "\n").encode())
    for _ in range(300):  # visible within a second or two; bounded at 30 s
        status, rows = _get(url, {"q": "e2el | count() n"})
        if rows == [{"n": N}]:
            break
        time.sleep(0.1)
    assert rows == [{"n": N}]

    status, rows = _get(url, {"q": 'e2el app:~"^lg"', "limit": "1000"})
    assert status == 200 and len(rows) == N // 3 and {r["app"] for r in rows} == {"lgsvc"}

    want_failed = sum(1 for i in range(N) if i % 3 == 1 and i % 2)
    for q in (
        'e2el app:=sshd i("FAILED PASSWORD") | count() n',
        'e2el {app="sshd"} "Failed password" | stats count() as n',
        'e2el app:in(sshd) ~"Failed pass" | stats by (app) count() n | fields n',
    ):
        status, rows = _get(url, {"q": q})
        assert status == 200 and rows == [{"n": want_failed}], (q, rows)
    status, rows = _get(url, {"q": "e2el | uniq by (app) with hits"})
    assert rows == [{"app": a, "hits": N // 3} for a in sorted(APPS)]
    status, rows = _get(url, {"q": "e2el | stats by (_time:1m, app) count() n | sort by (app) desc"})
    assert sum(r["n"] for r in rows if r["app"] == "sshd") == N // 3 and rows[0]["app"] == "sshd"
    assert all(r["_time"].endswith(":00.000000000Z") for r in rows)  # minute buckets

    status, err = _get(url, {"query": "app:sshd"})
    assert status == 400 and err[0]["error"].startswith("unknown parameter 'query'")
    status, err = _get(url, {"q": "e2el seq(a, b)"})
    assert status == 400 and err == [{"error": err[0]["error"], "position": 5}]
    assert "unknown function seq()" in err[0]["error"]

    res = subprocess.run(
        [sys.executable, "-m", "engine.cli", "query", "--url", url, 'app:foo"bar"'],
        capture_output=True,
        timeout=120,
    )
    assert res.returncode == 1 and b"(400)" in res.stderr and b"right after 'foo'" in res.stderr
