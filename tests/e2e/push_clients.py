"""What the push route tests share: raw POSTs, reading rows back through the query API, counters."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from tests.e2e.clients import metric, wait_until
from tests.e2e.senders import query


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of a POST, error statuses included."""
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def rows_of(engine, q: str, n: int, timeout: float = 30.0) -> list[dict]:
    """The rows matching `q` once there are `n` of them (sorted by message); for n = 0, those
    there are after `timeout` seconds."""
    if n == 0:
        time.sleep(timeout)
        return query(engine, q)
    rows = wait_until(lambda: (r := query(engine, q)) and len(r) >= n and r, timeout, f"{n} rows for {q!r}")
    assert len(rows) == n, f"{len(rows)} rows for {q!r}, wanted {n}"
    return sorted(rows, key=lambda r: r["message"])


def refused(url: str, path: str, body: bytes, headers: dict[str, str], status: int, reason: str) -> str:
    """POST a body the route must refuse with `status`, counted under `reason`; returns its error."""
    labels = {"route": path, "reason": reason}
    before = metric(url, "logjet_ingest_requests_rejected_total", **labels)
    got, answer, _ = post(url + path, body, headers)
    assert got == status, (got, answer)
    error = json.loads(answer)["error"]
    assert error
    assert metric(url, "logjet_ingest_requests_rejected_total", **labels) == before + 1
    return str(error)
