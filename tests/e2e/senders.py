"""Shared parts of the real-sender e2e tests (rsyslog, syslog-ng, logger, Python's handler):
varied lines, the sender as a child process, and a field-by-field check of the rows read back.

A sender that is not installed makes its test skip with the way to install it; with
LOGJET_E2E_REQUIRE_SENDERS=1 (set by .ci/run, which installs them all) it fails instead.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import random
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import pytest

from bench.peers.base import Peer
from engine.store.rows import FLAG_NAMES, FORMATS, KV_FIELD, KV_SD, NO_VALUE, Rows
from tests.e2e.clients import all_rows, column_values, field_column, messages, metric, wait_written
from tests.native_kernels.naive import extract_kv_row

INSTALL_HINT = "run .ci/install-senders as root"
SEVERITY = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
FACILITY = {"user": 1, "daemon": 3, **{f"local{i}": 16 + i for i in range(8)}}


def require(path: str | None, what: str) -> str:
    """`path`, or skip (fail under LOGJET_E2E_REQUIRE_SENDERS=1) saying what is missing."""
    if path:
        return path
    reason = f"{what} not found ({INSTALL_HINT})"
    if os.environ.get("LOGJET_E2E_REQUIRE_SENDERS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


# --- lines ---------------------------------------------------------------------------------

WORDS = (
    "alpha",
    "beta",
    "gamma",
    "delta",
    "kernel",
    "disk",
    "cache",
    "worker",
    "queue",
    "flush",
    "timeout",
    "retry",
    "socket",
    "accept",
    "close",
    "session",
    "token",
    "user",
    "node",
    "block",
)
UNICODE = (
    "Grüße aus Köln",
    "日本語のログ",
    "Ελληνικά γράμματα",
    "emoji 🚀 liftoff",
    "naïve café crème",
    "Привет мир",
    "中文 消息 测试",
    "ümlaut-ßtraße",
)
STATUSES = (200, 201, 203, 204, 301, 302, 400, 403, 404, 500, 503)
# Short lines: each is sent once, so every message names its row.
SHORT = ("x", "ok", "-", ".", "é", "0", "y z", "[]")


def varied_lines(n: int, seed: int, *, leading_space: bool = True, plain_safe: bool = False) -> list[str]:
    """`n` distinct lines, reproducible from `seed`, of the kinds that trip up framing and
    parsing: key=value at the end, UTF-8, digits first, JSON-looking text, brackets and quotes,
    `[` first, long lines (2-7 KB), one-word lines, TABs. No other control character (senders
    escape or drop them), and none ends in a space.

    leading_space=False: no line starts with a space (rsyslog's RSYSLOG_ForwardFormat puts its
    own space after the tag only when the message has none, so a leading one is lost there).
    plain_safe=True: no line starts with what logjet takes for a header when a line comes without
    one (`{` JSON, `<` PRI, a timestamp), for senders that forward bare lines.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    seen: set[str] = set()
    short = list(SHORT)
    while len(lines) < n:
        w = lambda k=3: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
        status = rng.choice(STATUSES)
        kind = rng.randrange(12)
        if kind == 0 and short:
            line = short.pop(0)
        elif kind == 1:
            # HPC/BGL-style: digits then a space, as on a fresh connection it looks like an octet count.
            line = (
                f"{rng.randrange(10_000, 999_999)} node-{rng.randrange(1000)} unix.hw state_change.unavailable "
                f"{rng.randrange(10**9, 2 * 10**9)} 1 Component State Change: {w(2)} status={status}"
            )
        elif kind == 2:
            user = rng.choice(["jürgen", "åsa", "太郎", "bob"])
            line = f"{rng.choice(UNICODE)} {w(2)} user={user} status={status}"
        elif kind == 3 and not plain_safe:
            obj = {
                "user": rng.choice(["bob", "ann"]),
                "n": rng.randrange(100),
                "tags": [w(1), w(1)],
                "nested": {"ok": rng.random() < 0.5, "why": 'quoted "text" [x]'},
            }
            line = json.dumps(obj, ensure_ascii=False)
        elif kind == 3:
            obj = {"user": rng.choice(["bob", "ann"]), "n": rng.randrange(100)}
            line = f"payload {json.dumps(obj)} status={status}"
        elif kind == 4:
            line = (
                f'[{rng.choice(["INFO", "WARN", "ERROR"])}] {w(2)} said "hello [world]" ({rng.randrange(99)}) '
                f'msg="a quoted, value; here" path=/api/v1/x?a=1&b={rng.randrange(9)} status={status}'
            )
        elif kind == 5:
            # Long, still well under 8 KB with any sender's header (rsyslog's default maxMessageSize).
            size = rng.randrange(2000, 7000)
            body = []
            while sum(len(b) + 1 for b in body) < size:
                body.append(rng.choice([w(1), f"k{len(body)}=v{rng.randrange(1000)}", "Grüße", "[x]", '"q"']))
            line = "long " + " ".join(body) + f" status={status}"
        elif kind == 6:
            line = f"{w(3)}  double  spaces   kept user={w(1)} took={rng.randrange(5000)}ms status={status}"
        elif kind == 7:
            line = f"C:\\Program Files\\app\\{w(1)}.exe exited code={rng.randrange(3)} sql='SELECT * FROM t WHERE a>=1'"
        elif kind == 8 and leading_space:
            line = f" leading space {w(2)} status={status}"
        elif kind == 9:
            line = f"{w(2)} a==b is not a pair, k= is empty, url=http://h/p?q=1&r=2 ok=yes status={status}"
        elif kind == 10 and rng.random() < 0.5:
            # TAB: rsyslog escapes control characters (as #011) only where it parses network input
            # (escapeControlCharactersOnReceive), not in what imfile reads; the others pass it as is.
            line = f"{w(1)}\tcolumn two\tuser={w(1)}\tstatus={status}"
        elif kind == 10:
            line = f"<not a pri> {w(2)} status={status}" if not plain_safe else f"{w(1)} <not a pri> status={status}"
        else:
            line = f"GET /item/{rng.randrange(10**6)} {w(2)} id={rng.randrange(10**9)} status={status}"
        if line in seen:
            continue
        seen.add(line)
        lines.append(line)
    if plain_safe:
        # Bare lines: the first one on the connection starts with digits and a space.
        first = next(k for k, line in enumerate(lines) if line[0].isdigit() and " " in line[:8])
        lines.insert(0, lines.pop(first))
    return lines


def groups(lines: list[str], k: int) -> list[list[str]]:
    """Round-robin split (each group gets its own tag and priority)."""
    return [lines[g::k] for g in range(k)]


# --- what a row must be --------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """The columns one sent line's row must have (None = no value)."""

    host: bytes | None
    app: bytes | None
    procid: bytes | None = None
    msgid: bytes | None = None
    severity: int = NO_VALUE
    facility: int = NO_VALUE
    format: str = "plain"
    flags: tuple[str, ...] = ()
    sd_keys: tuple[bytes, ...] = ()  # SD params every row has (values not checked)


def expect_all(lines: list[str], expect: Expect) -> dict[bytes, Expect]:
    return {line.encode(): expect for line in lines}


def wait_rows(engine, n: int, timeout: float = 15.0, sender: "Daemon | None" = None) -> Rows:
    """Every row once `n` are written (or the deadline passed); a sender that died fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wait_written(engine.url, n, timeout=0.5) >= n:
            break
        if sender is not None and not sender.alive():
            pytest.fail(f"{sender.name} exited (code {sender.returncode()}):\n{sender.log_text()}")
    time.sleep(0.3)  # a few more would be duplicates or strays: let them arrive too
    return all_rows(engine.data_dir)


def _short(b: bytes | None, n: int = 90) -> str:
    if b is None:
        return "None"
    text = repr(b[:n].decode("utf-8", "backslashreplace"))
    return text + ("..." if len(b) > n else "")


def check_rows(rows: Rows, expected: dict[bytes, Expect], *, time_slack_s: float = 60.0) -> None:
    """Every sent line is exactly one row's message, and that row's columns and fields are right.
    Fails once, with everything that is wrong: lines without their row, then the wrong values of
    the rows whose message is right."""
    got = messages(rows)
    sent = collections.Counter(list(expected))
    have = collections.Counter(got)
    missing, extra = sent - have, have - sent
    report: list[str] = []
    if missing or extra:
        report.append(
            f"{sum(missing.values())} of {len(sent)} sent lines have no row, "
            f"{sum(extra.values())} rows hold something not sent (of {len(got)} rows):"
        )
        for m in list(extra)[:6]:
            near = [s for s in missing if s and (s in m or m in s)]
            report.append(f"  row message {_short(m)}" + (f"  <- sent {_short(near[0])}" if near else ""))
        report += [f"  not found: {_short(s)}" for s in list(missing)[:6]]
    bad_ends = [m for m in got if m.endswith((b"\n", b"\r")) or b"\x00" in m]
    if bad_ends:
        report.append(f"{len(bad_ends)} messages end in LF/CR or hold NUL, e.g. {_short(bad_ends[0][-40:])}")

    cols = {c: column_values(rows, c) for c in ("host", "app", "procid", "msgid", "source")}
    status = field_column(rows, b"status")
    problems: list[str] = []
    for r, m in enumerate(got):
        e = expected.get(m)
        if e is None:
            continue  # reported above
        want = {
            "host": e.host,
            "app": e.app,
            "procid": e.procid,
            "msgid": e.msgid,
            "severity": e.severity,
            "facility": e.facility,
            "format": e.format,
            "flags": sorted(e.flags),
        }
        have_row = {
            "host": cols["host"][r],
            "app": cols["app"][r],
            "procid": cols["procid"][r],
            "msgid": cols["msgid"][r],
            "severity": int(rows.severity[r]),
            "facility": int(rows.facility[r]),
            "format": FORMATS[int(rows.format[r])],
            "flags": sorted(name for bit, name in FLAG_NAMES.items() if int(rows.flags[r]) & bit),
        }
        for key, value in want.items():
            if have_row[key] != value:
                problems.append(f"{key}: want {value!r} got {have_row[key]!r} for {_short(m, 60)}")
        pairs = rows.fields(r)
        kv = [(k, v) for k, kind, v in pairs if kind == KV_FIELD]
        want_kv = extract_kv_row(m)
        if kv != want_kv:
            problems.append(f"fields: want {want_kv[:6]} got {kv[:6]} for {_short(m, 60)}")
        # The field the tests query by, on its own: `... status=203` gives status == b"203".
        if status[r] != dict(want_kv).get(b"status"):
            problems.append(f"status: want {dict(want_kv).get(b'status')!r} got {status[r]!r} for {_short(m, 60)}")
        sd = {k for k, kind, _ in pairs if kind == KV_SD}
        if not set(e.sd_keys) <= sd:
            problems.append(f"sd: want keys {e.sd_keys} got {sorted(sd)} for {_short(m, 60)}")
        if not (cols["source"][r] or b"").startswith(b"127.0.0.1:"):
            problems.append(f"source: {cols['source'][r]!r}")
        if abs(int(rows.time[r]) - int(rows.recv[r])) > time_slack_s * 1e9:
            problems.append(f"_time: {int(rows.time[r])} is far from _recv {int(rows.recv[r])} for {_short(m, 60)}")
    if problems:
        counts = collections.Counter(p.split(":")[0] for p in problems)
        report.append(f"{len(problems)} wrong values in the rows ({dict(counts)}); first ones:")
        report += ["  " + p for p in problems[:12]]
    if report:
        pytest.fail("\n".join(report))


# --- queries -------------------------------------------------------------------------------


def query(engine, q: str, limit: int = 100_000) -> list[dict]:
    full = engine.url + "/api/v1/query?" + urllib.parse.urlencode({"q": q, "limit": limit})
    with urllib.request.urlopen(full, timeout=30) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


def check_status_queries(engine, lines: list[str]) -> None:
    """`stats by (status)` and `status:>=N` answers match the lines sent (through the HTTP API)."""
    statuses = [dict(extract_kv_row(line.encode())).get(b"status") for line in lines]
    want = collections.Counter(s.decode() for s in statuses if s is not None)
    stats = query(engine, "status:* | stats count() by (status)")
    assert {s["status"]: int(s["count()"]) for s in stats} == dict(want)
    ok = sum(c for s, c in want.items() if s.isdigit() and 200 <= int(s) < 300)
    assert query(engine, "status:>=200 status:<300 | stats count()") == [{"count()": ok}]
    assert len(query(engine, "status:203")) == want.get("203", 0)
    assert want.get("203", 0) > 0  # the generator always sends some


def framing_counts(engine) -> dict[str, float]:
    return {
        f: metric(engine.url, "logjet_tcp_framing_total", framing=f) for f in ("octet_counted", "lf", "lf_fallback")
    }


# --- a sender daemon as our child ----------------------------------------------------------


class Daemon:
    """rsyslogd / syslog-ng started in the foreground in its own folder with our configuration,
    through its bench.peers class (binary, command line, environment), stopped by its PID."""

    def __init__(self, peer_cls: type[Peer], workdir: pathlib.Path, conf: str):
        binary = require(peer_cls.find(), f"{peer_cls.name} ({peer_cls.__module__})")
        workdir.mkdir(parents=True, exist_ok=True)
        self.peer = peer_cls(binary, str(workdir))
        self.name = peer_cls.name
        self.conf_path = workdir / peer_cls.conf_name
        self.conf_path.write_text(conf)
        self._log = None

    def start(self) -> "Daemon":
        self._log = open(self.peer.log_path, "wb")
        self.peer.proc = subprocess.Popen(
            self.peer.command(str(self.conf_path)),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.peer.workdir,
            env=self.peer.env(),
        )
        return self

    def alive(self) -> bool:
        return self.peer.proc is not None and self.peer.proc.poll() is None

    def returncode(self) -> int | None:
        return self.peer.proc.returncode if self.peer.proc else None

    def log_text(self) -> str:
        return self.peer.log_text()

    def stop(self) -> None:
        self.peer.stop()  # SIGTERM to its PID, then SIGKILL after a grace period
        if self._log:
            self._log.close()
            self._log = None


def write_lines(path: pathlib.Path, lines: list[str]) -> None:
    path.write_bytes("".join(line + "\n" for line in lines).encode())
