"""End to end: a real syslog-ng (installed, or unpacked in .peers/syslog-ng) reads files and
relays varied lines to `logjet serve`; every row must be the line sent, field by field."""

from __future__ import annotations

import pytest

from bench.peers.syslog_ng import SyslogNg
from tests.e2e.senders import (
    FACILITY,
    SEVERITY,
    Daemon,
    Expect,
    check_rows,
    check_status_queries,
    expect_all,
    framing_counts,
    groups,
    varied_lines,
    wait_rows,
    write_lines,
)

pytestmark = pytest.mark.e2e

N = 300
HOST = "sng-e2e"
# One file() source per group: its own program name and priority.
GROUPS = (("sngapp0", "local4", "err"), ("sngapp1", "user", "info"), ("sngapp2", "local0", "notice"))


def syslog_ng_conf(work, destination: str) -> str:
    # flags(no-parse): the message is the line as it is; program/host overrides name the sender.
    sources = "\n".join(
        f'source s_in{g} {{ file("{work}/in-{g}.log" flags(no-parse) program-override("{app}") '
        f'host-override("{HOST}") default-facility({fac}) default-priority({sev}) follow-freq(0.1)); }};'
        for g, (app, fac, sev) in enumerate(GROUPS)
    )
    log_sources = " ".join(f"source(s_in{g});" for g in range(len(GROUPS)))
    # send-time-zone: legacy BSD stamps carry no zone and logjet reads them as UTC (its default).
    return f"""@version: 3.38
options {{ use-dns(no); dns-cache(no); use-fqdn(no); stats-freq(0); keep-hostname(yes); send-time-zone("+00:00"); }};
{sources}
destination d_out {{ {destination} }};
log {{ {log_sources} destination(d_out); flags(flow-control); }};
"""


def run_syslog_ng(tmp_path, engine, destination: str, lines, expect_for_group):
    work = tmp_path / "syslog-ng"
    work.mkdir()
    by_group = groups(lines, len(GROUPS))
    for g, part in enumerate(by_group):
        write_lines(work / f"in-{g}.log", part)
    daemon = Daemon(SyslogNg, work, syslog_ng_conf(work, destination))
    try:
        daemon.start()
        rows = wait_rows(engine, len(lines), sender=daemon)
    finally:
        daemon.stop()
    expected = {}
    for group, part in zip(GROUPS, by_group):
        expected.update(expect_all(part, expect_for_group(*group)))
    check_rows(rows, expected)
    check_status_queries(engine, lines)


def test_syslog_ng_syslog_driver_octet_counted(start_engine, tmp_path):
    """The syslog() destination: RFC 5424 with RFC 6587 octet counting, each frame ending in LF,
    and syslog-ng's `[meta sequenceId="N"]` structured data."""
    engine = start_engine()
    lines = varied_lines(N, seed=11)
    dest = f'syslog("127.0.0.1" port({engine.ports["syslog_tcp"]}) transport("tcp"));'
    run_syslog_ng(
        tmp_path,
        engine,
        dest,
        lines,
        lambda app, fac, sev: Expect(
            host=HOST.encode(),
            app=app.encode(),
            severity=SEVERITY[sev],
            facility=FACILITY[fac],
            format="rfc5424",
            sd_keys=(b"meta.sequenceId",),
        ),
    )
    framing = framing_counts(engine)
    assert framing["octet_counted"] >= 1 and framing["lf"] == 0 and framing["lf_fallback"] == 0, framing


def test_syslog_ng_network_driver_legacy_lf(start_engine, tmp_path):
    """The network() destination: legacy BSD syslog (`<PRI>Mmm dd hh:mm:ss HOST PROGRAM: MSG`),
    one message per LF-terminated line."""
    engine = start_engine()
    lines = varied_lines(N, seed=12)
    dest = f'network("127.0.0.1" port({engine.ports["syslog_tcp"]}) transport("tcp"));'
    run_syslog_ng(
        tmp_path,
        engine,
        dest,
        lines,
        lambda app, fac, sev: Expect(
            host=HOST.encode(), app=app.encode(), severity=SEVERITY[sev], facility=FACILITY[fac], format="rfc3164"
        ),
    )
    framing = framing_counts(engine)
    assert framing["lf"] >= 1 and framing["octet_counted"] == 0 and framing["lf_fallback"] == 0, framing


def test_syslog_ng_bare_lines(start_engine, tmp_path):
    """network() with template("${MSG}\\n"): the bare lines, no header, as a relay of plain
    application logs sends them. The connection opens with a digits-first line (not an octet
    count), and with no host in the message the row's host is the sender's address."""
    engine = start_engine()
    lines = varied_lines(N, seed=13, plain_safe=True)
    # One source only, so the connection's first line is the digits-first one the generator put first.
    dest = f'network("127.0.0.1" port({engine.ports["syslog_tcp"]}) transport("tcp") template("${{MSG}}\\n"));'
    work = tmp_path / "syslog-ng"
    work.mkdir()
    write_lines(work / "in-0.log", lines)
    conf = syslog_ng_conf(work, dest)
    for g in range(1, len(GROUPS)):
        write_lines(work / f"in-{g}.log", [])
    daemon = Daemon(SyslogNg, work, conf)
    try:
        daemon.start()
        rows = wait_rows(engine, len(lines), sender=daemon)
    finally:
        daemon.stop()
    check_rows(
        rows, expect_all(lines, Expect(host=b"127.0.0.1", app=None, format="plain", flags=("host_from_source",)))
    )
    check_status_queries(engine, lines)
    framing = framing_counts(engine)
    assert framing["lf"] >= 1 and framing["octet_counted"] == 0 and framing["lf_fallback"] == 0, framing
