"""Real socket clients and read-back helpers for the end-to-end tests (loopback only)."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from engine.ipc.control import ControlTable
from engine.ipc.shm import SHM_ROOT, InstanceDir
from engine.query.scan import newest_rows
from engine.store.rows import Rows

T = TypeVar("T")


def worker_pids(engine, role: str) -> list[int]:
    """PIDs of a running engine's workers of `role` (receiver, parser, writer, api), from its
    control table."""
    shm = InstanceDir(engine.instance, SHM_ROOT)
    with open(shm.workers) as f:
        workers = json.load(f)
    ctl = ControlTable(shm.control)
    try:
        return [int(ctl.slots["pid"][w["slot"]]) for w in workers if w["role"] == role]
    finally:
        ctl.close()


def query_api(url: str, params: dict[str, str]) -> tuple[int, list[dict]]:
    """GET /api/v1/query: (status, the NDJSON lines, or the error object of a refusal)."""
    full = url + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(full, timeout=30) as resp:
            return resp.status, [json.loads(line) for line in resp.read().decode().splitlines() if line]
    except urllib.error.HTTPError as exc:
        return exc.code, [json.loads(exc.read().decode())]


def send_tcp(port: int, payload: bytes, chunk: int = 1 << 16) -> None:
    """One connection: send everything, then close (FIN) so the last frame is complete."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        view = memoryview(payload)
        for i in range(0, len(view), chunk):
            s.sendall(view[i : i + chunk])
        s.shutdown(socket.SHUT_WR)
        s.settimeout(30)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass


def octet_frames(messages: list[bytes]) -> bytes:
    return b"".join(b"%d %s" % (len(m), m) for m in messages)


def send_udp(port: int, messages: list[bytes], burst: int = 500, pause: float = 0.002, url: str | None = None) -> None:
    """Datagrams at a bounded pace: loopback drops nothing when the receiver keeps up. With the
    engine's `url`, each burst also waits (up to 5 s) until the receivers have read all but one
    burst of what was sent: the kernel drops datagrams the socket buffer cannot hold, and a
    receiver starved of CPU (other tests on the same cores) would fall a whole buffer behind a
    fixed pace."""
    start = metric(url, "logjet_received_messages_total", protocol="udp") if url else 0.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, m in enumerate(messages):
            s.sendto(m, ("127.0.0.1", port))
            if i % burst == burst - 1:
                time.sleep(pause)
                if url:
                    deadline = time.monotonic() + 5.0
                    while (
                        metric(url, "logjet_received_messages_total", protocol="udp") - start < i + 1 - burst
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.002)


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` from /metrics whose labels include `labels` (0 if none)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:]+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        if not all(f'{k}="{v}"' in (m.group(2) or "") for k, v in labels.items()):
            continue
        total += float(m.group(3))
    return total


def wait_until(pred: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll `pred` every 0.1 s until it returns something true, and return that; AssertionError
    naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout} s")


def wait_written(url: str, expected: int, timeout: float = 60.0) -> float:
    """Wait until the writer has written at least `expected` rows in total; returns the count."""
    deadline = time.monotonic() + timeout
    got = 0.0
    while time.monotonic() < deadline:
        got = metric(url, "logjet_written_rows_total")
        if got >= expected:
            return got
        time.sleep(0.2)
    return got


def all_rows(data_dir: str) -> Rows:
    return newest_rows(data_dir, None, None, None)


def field_column(rows: Rows, key: bytes) -> list[bytes | None]:
    """Per row, the value of field `key` (None when absent)."""
    keys = rows.dicts["fieldkey"]
    try:
        kid = keys.index(key) + 1
    except ValueError:
        return [None] * len(rows)
    out: list[bytes | None] = [None] * len(rows)
    hits = np.flatnonzero(rows.kv_key == kid)
    owner = np.searchsorted(rows.kv_ptr, hits, side="right") - 1
    for j, r in zip(hits.tolist(), owner.tolist()):
        out[r] = rows.kv_data[rows.kv_off[j] : rows.kv_off[j + 1]].tobytes()
    return out


def column_values(rows: Rows, column: str) -> list[bytes | None]:
    values = [None] + rows.dicts[column]
    return [values[i] for i in rows.ids[column].tolist()]


def messages(rows: Rows) -> list[bytes]:
    data = rows.msg_data.tobytes()
    off = rows.msg_off.tolist()
    return [data[off[i] : off[i + 1]] for i in range(len(rows))]
