"""End to end: the senders of a single host, util-linux `logger` (TCP, octet-counted TCP, UDP;
RFC 5424 and 3164) and Python's SysLogHandler (TCP, UDP), into `logjet serve`, row by row."""

from __future__ import annotations

import logging
import logging.handlers
import os
import random
import shutil
import socket
import subprocess
import time

import pytest

from tests.e2e.senders import (
    FACILITY,
    SEVERITY,
    Expect,
    check_rows,
    check_status_queries,
    expect_all,
    framing_counts,
    groups,
    require,
    varied_lines,
    wait_rows,
)

pytestmark = pytest.mark.e2e

N = 300
# One logger run per group: its own tag and priority.
LOGGER_GROUPS = (("lgapp0", "local5", "info"), ("lgapp1", "user", "err"), ("lgapp2", "local1", "debug"))
LOGGER_PID = "4242"


def _logger_host(rfc: str) -> bytes:
    # logger sends gethostname(): whole for RFC 5424, cut at the first dot for RFC 3164.
    name = socket.gethostname()
    return (name if rfc == "rfc5424" else name.split(".")[0]).encode()


def _run_logger(args: list[str], lines: list[str], paced: bool) -> None:
    """One logger process reading the lines from stdin (one message per line). For UDP the
    lines are fed in small bursts, which paces the datagrams: a burst of 7 KB datagrams can fill
    a default-sized socket buffer on a slow CI machine."""
    # TZ=UTC: RFC 3164 stamps are local time without a zone, and logjet reads them as UTC.
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TZ": "UTC"})
    try:
        data = [(line + "\n").encode() for line in lines]
        step = 10 if paced else len(data)
        for i in range(0, len(data), step):
            proc.stdin.write(b"".join(data[i : i + step]))
            proc.stdin.flush()
            if paced:
                time.sleep(0.01)
        proc.stdin.close()
        assert proc.wait(30) == 0, proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child, by its PID
            proc.wait(10)
        proc.stderr.close()


@pytest.mark.parametrize(
    "transport,rfc",
    [
        ("tcp", "rfc5424"),
        ("tcp", "rfc3164"),
        ("tcp-octet", "rfc5424"),
        ("tcp-octet", "rfc3164"),
        ("udp", "rfc5424"),
        ("udp", "rfc3164"),
    ],
)
def test_logger(start_engine, transport, rfc):
    logger = require(shutil.which("logger"), "logger (util-linux/bsdutils)")
    engine = start_engine()
    lines = varied_lines(N, seed=21 + len(transport) + len(rfc))
    if transport == "udp":
        net = ["-d", "-P", str(engine.ports["syslog_udp"])]
    else:
        net = ["--tcp", "-P", str(engine.ports["syslog_tcp"])] + (["--octet-count"] if transport == "tcp-octet" else [])
    expected = {}
    by_group = groups(lines, len(LOGGER_GROUPS))
    for (tag, fac, sev), part in zip(LOGGER_GROUPS, by_group):
        # --size: the default (1 KiB) would split the long lines into several messages.
        args = [
            logger,
            "-n",
            "127.0.0.1",
            *net,
            f"--{rfc}",
            "-t",
            tag,
            "-p",
            f"{fac}.{sev}",
            f"--id={LOGGER_PID}",
            "--size",
            "65536",
        ]
        if rfc == "rfc5424":
            args += ["--msgid", f"MSG{tag[-1]}"]
        _run_logger(args, part, paced=transport == "udp")
        expected.update(
            expect_all(
                part,
                Expect(
                    host=_logger_host(rfc),
                    app=tag.encode(),
                    procid=LOGGER_PID.encode(),
                    msgid=f"MSG{tag[-1]}".encode() if rfc == "rfc5424" else None,
                    severity=SEVERITY[sev],
                    facility=FACILITY[fac],
                    format=rfc,
                    # logger's RFC 5424 structured data: [timeQuality tzKnown="1" isSynced="..."]
                    sd_keys=(b"timeQuality.tzKnown",) if rfc == "rfc5424" else (),
                ),
            )
        )
    rows = wait_rows(engine, len(lines))
    check_rows(rows, expected)
    check_status_queries(engine, lines)
    if transport != "udp":
        framing = framing_counts(engine)
        want = "octet_counted" if transport == "tcp-octet" else "lf"
        assert framing[want] == len(LOGGER_GROUPS) and framing["lf_fallback"] == 0, framing


PY_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
PY_SEVERITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


@pytest.mark.parametrize("socktype", ["tcp", "udp"])
def test_python_syslog_handler(start_engine, socktype):
    """logging.handlers.SysLogHandler: `<PRI>` + ident + message + NUL, no timestamp and no
    hostname, so the row's host is the sender's address (flagged host_from_source). Over TCP
    the NUL is the only frame end; over UDP it trails the datagram."""
    engine = start_engine()
    lines = varied_lines(N, seed=31 if socktype == "tcp" else 32)
    port = engine.ports["syslog_tcp" if socktype == "tcp" else "syslog_udp"]
    handler = logging.handlers.SysLogHandler(
        ("127.0.0.1", port),
        facility=logging.handlers.SysLogHandler.LOG_LOCAL6,
        socktype=socket.SOCK_STREAM if socktype == "tcp" else socket.SOCK_DGRAM,
    )
    handler.ident = f"pyapp[{os.getpid()}]: "
    log = logging.getLogger(f"e2e-senders-{socktype}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    rng = random.Random(33)
    expected = {}
    try:
        for i, line in enumerate(lines):
            level = rng.choice(PY_LEVELS)
            log.log(level, "%s", line)
            expected[line.encode()] = Expect(
                host=b"127.0.0.1",
                app=b"pyapp",
                procid=str(os.getpid()).encode(),
                severity=PY_SEVERITY[level],
                facility=FACILITY["local6"],
                format="rfc3164",
                flags=("host_from_source",),
            )
            if socktype == "udp" and i % 20 == 19:
                time.sleep(0.005)  # paced, as loopback UDP drops what a full socket buffer cannot take
    finally:
        log.removeHandler(handler)
        handler.close()
    rows = wait_rows(engine, len(lines))
    check_rows(rows, expected)
    check_status_queries(engine, lines)
    if socktype == "tcp":
        framing = framing_counts(engine)
        assert framing["lf"] == 1 and framing["octet_counted"] == 0 and framing["lf_fallback"] == 0, framing
