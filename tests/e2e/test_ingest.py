"""End to end: real `logjet serve`, real sockets and clients, rows read back from the parts.

Every TCP message must come back exactly once with the right fields. Each test tags its rows
with a field `t=<test>` so the tests of this module can share one engine.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import logging.handlers
import shutil
import socket
import subprocess
import time

import pytest

from tests.e2e.clients import (
    all_rows,
    column_values,
    field_column,
    messages,
    octet_frames,
    send_tcp,
    send_udp,
    wait_written,
)

pytestmark = pytest.mark.e2e

# A yearless RFC 3164 stamp a few days back, so the year the engine infers is this year's (or,
# early in January, last year's) whatever the date of the run.
_STAMP = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
TS_3164 = f"{_STAMP:%b} {_STAMP.day:2d} 10:00:00"
N_TCP = 200_000
N_UDP = 20_000


def rows_of(engine, tag: str):
    rows = all_rows(engine.data_dir)
    tags = field_column(rows, b"t")
    keep = [i for i, t in enumerate(tags) if t == tag.encode()]
    import numpy as np

    return rows.take(np.asarray(keep, dtype=np.int64))


def assert_exactly_once(rows, n: int) -> list[int]:
    seqs = [int(s) for s in field_column(rows, b"seq")]
    counts = collections.Counter(seqs)
    dups = [s for s, c in counts.items() if c > 1]
    missing = n - len(counts)
    assert not dups and missing == 0, f"{len(dups)} duplicated, {missing} missing of {n}"
    assert sorted(counts) == list(range(n))
    return seqs


def test_tcp_lf_framing_200k(shared_engine):
    lines = [
        f"<{(i % 24) * 8 + i % 8}>{TS_3164} host{i % 37} app{i % 5}[{1000 + i % 97}]: user=u{i % 11} seq={i} t=lf "
        f"connection from 10.0.{i % 256}.{i % 13} took {i % 1000}ms"
        for i in range(N_TCP)
    ]
    before = wait_written(shared_engine.url, 0)
    send_tcp(shared_engine.ports["syslog_tcp"], ("\n".join(lines) + "\n").encode())
    assert wait_written(shared_engine.url, before + N_TCP) >= before + N_TCP
    rows = rows_of(shared_engine, "lf")
    seqs = assert_exactly_once(rows, N_TCP)
    hosts, apps, procids = (column_values(rows, c) for c in ("host", "app", "procid"))
    for r, i in enumerate(seqs):
        assert (hosts[r], apps[r], procids[r]) == (
            f"host{i % 37}".encode(),
            f"app{i % 5}".encode(),
            f"{1000 + i % 97}".encode(),
        )
        assert rows.severity[r] == i % 8 and rows.facility[r] == i % 24
    want_time = int(_STAMP.timestamp()) * 10**9
    assert set(rows.time.tolist()) == {want_time}
    assert set(rows.format.tolist()) == {2}  # rfc3164


def test_tcp_octet_counting_200k(shared_engine):
    msgs = [
        (
            f"<165>1 2026-11-22T10:00:{i % 60:02d}.{i:06d}Z host{i % 37} app{i % 5} {i % 4000} ID{i % 3} "
            f'[meta@32473 seq="{i}" note="a \\"quoted\\" \\]"] seq={i} t=octet multi\nline message {i}'
        ).encode()
        for i in range(N_TCP)
    ]
    before = wait_written(shared_engine.url, 0)
    send_tcp(shared_engine.ports["syslog_tcp"], octet_frames(msgs))
    assert wait_written(shared_engine.url, before + N_TCP) >= before + N_TCP
    rows = rows_of(shared_engine, "octet")
    seqs = assert_exactly_once(rows, N_TCP)
    msgids, procids, msg = column_values(rows, "msgid"), column_values(rows, "procid"), messages(rows)
    sd_seq = field_column(rows, b"meta@32473.seq")
    sd_note = field_column(rows, b"meta@32473.note")
    for r, i in enumerate(seqs):
        assert msgids[r] == f"ID{i % 3}".encode() and procids[r] == str(i % 4000).encode()
        assert msg[r] == f"seq={i} t=octet multi\nline message {i}".encode()
        assert sd_seq[r] == str(i).encode() and sd_note[r] == b'a "quoted" ]'
        want = int(dt.datetime(2026, 11, 22, 10, 0, i % 60, tzinfo=dt.timezone.utc).timestamp()) * 10**9 + i * 1000
        assert rows.time[r] == want


def test_udp_20k(shared_engine):
    msgs = [f"<13>{TS_3164} udphost udpapp: seq={i} t=udp datagram {i}".encode() for i in range(N_UDP)]
    before = wait_written(shared_engine.url, 0)
    send_udp(shared_engine.ports["syslog_udp"], msgs, url=shared_engine.url)
    wait_written(shared_engine.url, before + N_UDP, timeout=30)
    rows = rows_of(shared_engine, "udp")
    assert_exactly_once(rows, N_UDP)
    assert set(column_values(rows, "host")) == {b"udphost"}


def _loghub_files(corpus):
    files = sorted((corpus / "loghub").glob("*_2k.log"))
    assert len(files) == 10
    return files


def test_loghub_wrapped_in_syslog_headers(shared_engine, corpus):
    """Each loghub line as the MSG of an RFC 5424 message, sent with the file's own CRLF line
    ends and, like the files, no newline after the last record."""
    expected = {}
    for path in _loghub_files(corpus):
        system = path.name.split("_")[0]
        lines = path.read_bytes().split(b"\r\n")
        if lines[-1] == b"":
            lines.pop()
        expected[system] = lines
        payload = b"\r\n".join(
            b'<14>1 2026-11-22T10:00:00Z loghub %s - - [t@1 t="loghub"] %s' % (system.encode(), line) for line in lines
        )
        send_tcp(shared_engine.ports["syslog_tcp"], payload)
    total = sum(len(v) for v in expected.values())
    assert total == 20_000
    deadline = time.monotonic() + 60
    while True:
        rows = all_rows(shared_engine.data_dir)
        apps = column_values(rows, "app")
        hosts = column_values(rows, "host")
        msg = messages(rows)
        got = collections.defaultdict(list)
        for a, h, m in zip(apps, hosts, msg):
            if h == b"loghub":
                got[a.decode()].append(m)
        if sum(len(v) for v in got.values()) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    for system, lines in expected.items():
        assert collections.Counter(got[system]) == collections.Counter(lines), system


def test_loghub_raw_files_lose_no_line(shared_engine, corpus):
    """The raw files as they are (CRLF, no final newline): every record becomes one row whose
    message is the record or, where the parser found a syslog header in it, the record's end."""
    sources = {}
    for path in _loghub_files(corpus):
        raw = path.read_bytes()
        with socket.create_connection(("127.0.0.1", shared_engine.ports["syslog_tcp"])) as s:
            sources[f"127.0.0.1:{s.getsockname()[1]}".encode()] = path
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30)
            while s.recv(4096):
                pass
    deadline = time.monotonic() + 60
    while True:
        rows = all_rows(shared_engine.data_dir)
        src = column_values(rows, "source")
        msg = messages(rows)
        by_source = collections.defaultdict(list)
        for s, m in zip(src, msg):
            if s in sources:
                by_source[s].append(m)
        if sum(len(v) for v in by_source.values()) >= 20_000 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    for source, path in sources.items():
        lines = path.read_bytes().split(b"\r\n")
        if lines[-1] == b"":
            lines.pop()
        got = by_source[source]
        assert len(got) == len(lines), path.name
        by_tail = collections.defaultdict(list)
        for line in lines:
            by_tail[line[-12:]].append(line)
        for m in got:
            assert not m.endswith(b"\r"), "CR of CRLF must not stay in the message"
            candidates = by_tail.get(m[-12:], []) if len(m) >= 12 else lines
            assert any(line.endswith(m) for line in candidates), (path.name, m[:80])
        assert got and any(lines[-1].endswith(m) and m for m in got), "the unterminated last record"


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger not installed")
def test_real_logger_client(shared_engine):
    port = str(shared_engine.ports["syslog_tcp"])
    for i, mode in enumerate(("--octet-count", None)):
        args = ["logger", "-n", "127.0.0.1", "-P", port, "--tcp", "--rfc5424", "-t", "loggertest", "-p", "local3.err"]
        if mode:
            args.append(mode)
        subprocess.run(args + [f"hello from logger seq={i} t=logger"], check=True, timeout=30)
    subprocess.run(
        [
            "logger",
            "-n",
            "127.0.0.1",
            "-P",
            str(shared_engine.ports["syslog_udp"]),
            "--udp",
            "--rfc3164",
            "-t",
            "loggertest",
            "-p",
            "user.warning",
            "hello over udp seq=2 t=logger",
        ],
        check=True,
        timeout=30,
    )
    deadline = time.monotonic() + 30
    while True:
        rows = rows_of(shared_engine, "logger")
        if len(rows) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert_exactly_once(rows, 3)
    assert set(column_values(rows, "app")) == {b"loggertest"}
    by_seq = dict(zip((int(s) for s in field_column(rows, b"seq")), range(len(rows))))
    assert rows.facility[by_seq[0]] == 19 and rows.severity[by_seq[0]] == 3
    assert rows.format[by_seq[0]] == 1 and rows.format[by_seq[2]] == 2
    assert messages(rows)[by_seq[0]] == b"hello from logger seq=0 t=logger"


def test_python_syslog_handler(shared_engine):
    """The standard library's handler: TCP frames end with NUL, UDP sends one per datagram."""
    tcp = logging.handlers.SysLogHandler(("127.0.0.1", shared_engine.ports["syslog_tcp"]), socktype=socket.SOCK_STREAM)
    udp = logging.handlers.SysLogHandler(("127.0.0.1", shared_engine.ports["syslog_udp"]))
    logger = logging.getLogger("e2e-syslog")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for h in (tcp, udp):
        h.setFormatter(logging.Formatter("pyapp[%(process)d]: %(message)s"))
        logger.addHandler(h)
    try:
        for i in range(100):
            logger.warning("python says seq=%d t=pyhandler", i)
    finally:
        for h in (tcp, udp):
            logger.removeHandler(h)
            h.close()
    deadline = time.monotonic() + 30
    while True:
        rows = rows_of(shared_engine, "pyhandler")
        if len(rows) >= 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    seqs = collections.Counter(int(s) for s in field_column(rows, b"seq"))
    assert seqs == collections.Counter({i: 2 for i in range(100)})  # once per transport
    assert set(column_values(rows, "app")) == {b"pyapp"}
    assert set(rows.severity.tolist()) == {4}
