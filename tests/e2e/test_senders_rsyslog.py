"""End to end: a real rsyslogd, reading files with imfile, forwards varied lines to `logjet serve`
with omfwd (TCP octet-counted, TCP LF, UDP, TLS); every row must be the line sent, field by field."""

from __future__ import annotations

import glob
import importlib.util
import re
import shutil
import subprocess

import pytest

from bench.peers.rsyslog import Rsyslog
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
    require,
    varied_lines,
    wait_rows,
    write_lines,
)

pytestmark = pytest.mark.e2e

N = 300
HOST = "rsyslog-e2e"
# One imfile input per group: its own file, tag (app and procid) and priority.
GROUPS = (("rsapp0", 4242, "local3", "warning"), ("rsapp1", 77, "daemon", "err"), ("rsapp2", 1, "local7", "debug"))


def rsyslog_conf(work, action: str, global_extra: str = "") -> str:
    inputs = "\n".join(
        f'input(type="imfile" File="{work}/in-{g}.log" Tag="{app}[{pid}]:" Facility="{fac}" Severity="{sev}" '
        f'ruleset="fwd")'
        for g, (app, pid, fac, sev) in enumerate(GROUPS)
    )
    # A private work folder (imfile's state files), a fixed hostname, no imuxsock/imklog, and a
    # ruleset that only the files feed, so rsyslogd's own messages are not forwarded.
    return f"""
global(workDirectory="{work}" maxMessageSize="64k" localHostname="{HOST}" {global_extra})
module(load="imfile" mode="inotify")
{inputs}
ruleset(name="fwd") {{
    {action}
}}
"""


def expectations(lines_by_group, fmt: str, procid_in_header: bool = True) -> dict:
    expected = {}
    for (app, pid, fac, sev), lines in zip(GROUPS, lines_by_group):
        expected.update(
            expect_all(
                lines,
                Expect(
                    host=HOST.encode(),
                    app=app.encode(),
                    procid=str(pid).encode() if procid_in_header else None,
                    severity=SEVERITY[sev],
                    facility=FACILITY[fac],
                    format=fmt,
                ),
            )
        )
    return expected


def run_rsyslog(tmp_path, engine, action: str, lines, fmt: str, global_extra: str = ""):
    work = tmp_path / "rsyslog"
    work.mkdir()
    by_group = groups(lines, len(GROUPS))
    # The files are complete before rsyslogd starts: imfile reads them from the start.
    for g, part in enumerate(by_group):
        write_lines(work / f"in-{g}.log", part)
    daemon = Daemon(Rsyslog, work, rsyslog_conf(work, action, global_extra))
    try:
        daemon.start()
        rows = wait_rows(engine, len(lines), sender=daemon)
    finally:
        daemon.stop()
    check_rows(rows, expectations(by_group, fmt))
    check_status_queries(engine, lines)


def test_rsyslog_tcp_octet_counted_rfc5424(start_engine, tmp_path):
    """omfwd octet-counted with RSYSLOG_SyslogProtocol23Format: each frame ends in LF, which is
    framing, not message."""
    engine = start_engine()
    lines = varied_lines(N, seed=1)
    action = (
        f'action(type="omfwd" Target="127.0.0.1" Port="{engine.ports["syslog_tcp"]}" Protocol="tcp" '
        f'TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format")'
    )
    run_rsyslog(tmp_path, engine, action, lines, "rfc5424")
    framing = framing_counts(engine)
    assert framing["octet_counted"] >= 1 and framing["lf"] == 0 and framing["lf_fallback"] == 0, framing


def test_rsyslog_tcp_lf_forward_format(start_engine, tmp_path):
    """omfwd with LF framing and RSYSLOG_ForwardFormat (RFC 3164 header with an RFC 3339 stamp)."""
    engine = start_engine()
    # The template's `%msg:::sp-if-no-1st-sp%` adds the space after the tag only when the message
    # has none, so a message's own leading space does not survive this format: send none.
    lines = varied_lines(N, seed=2, leading_space=False)
    action = (
        f'action(type="omfwd" Target="127.0.0.1" Port="{engine.ports["syslog_tcp"]}" Protocol="tcp" '
        f'Template="RSYSLOG_ForwardFormat")'
    )
    run_rsyslog(tmp_path, engine, action, lines, "rfc3164")
    framing = framing_counts(engine)
    assert framing["lf"] >= 1 and framing["octet_counted"] == 0 and framing["lf_fallback"] == 0, framing


def test_rsyslog_udp(start_engine, tmp_path):
    """omfwd over UDP, one datagram per message (paced: loopback UDP drops what a full buffer
    cannot take)."""
    engine = start_engine()
    lines = varied_lines(N, seed=3, leading_space=False)
    action = (
        f'action(type="omfwd" Target="127.0.0.1" Port="{engine.ports["syslog_udp"]}" Protocol="udp" '
        f'UDP.SendDelay="200" Template="RSYSLOG_ForwardFormat")'
    )
    run_rsyslog(tmp_path, engine, action, lines, "rfc3164")


def _cert_name(openssl: str, cert) -> str:
    """A DNS name of the server certificate (SAN, else CN), for rsyslog's x509/name check."""
    out = subprocess.run(
        [openssl, "x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", str(cert)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    names = re.findall(r"DNS:([^,\s]+)", out) or re.findall(r"CN\s*=\s*([^,/\n]+)", out)
    return names[0].strip() if names else "localhost"


@pytest.mark.parametrize("framing", ["octet", "lf"])
def test_rsyslog_tls(start_engine, tmp_path, framing):
    """omfwd over TLS (rsyslog-openssl, StreamDriver="ossl"), the server's certificate checked
    against a throwaway CA by name; octet-counted with a client certificate the listener
    requires (client_ca_file), and LF-framed without one."""
    require(
        next(iter(glob.glob("/usr/lib/*/rsyslog/lmnsd_ossl.so") + glob.glob("/usr/lib/rsyslog/lmnsd_ossl.so")), None),
        "rsyslog-openssl (lmnsd_ossl.so)",
    )
    openssl = require(shutil.which("openssl"), "openssl")
    if importlib.util.find_spec("tests.tlsca") is None:
        pytest.fail(
            "tests/tlsca.py (the TLS listener's throwaway CA helper) is missing: the TLS listener has not landed"
        )
    from tests.tlsca import make_tls_files

    tls = make_tls_files(tmp_path / "tls")
    conf = tmp_path / "logjet.toml"
    client_ca = f'client_ca_file = "{tls.ca_cert}"\n' if framing == "octet" else ""
    conf.write_text(f'[tls]\ncert_file = "{tls.server_cert}"\nkey_file = "{tls.server_key}"\n{client_ca}')
    engine = start_engine("--syslog-tls", "127.0.0.1:0", "--config", str(conf))
    assert "syslog_tls" in engine.ports, engine.ports
    lines = varied_lines(N, seed=4 if framing == "octet" else 5, leading_space=framing == "octet")
    tcp = (
        'TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format"'
        if framing == "octet"
        else 'Template="RSYSLOG_ForwardFormat"'
    )
    action = (
        f'action(type="omfwd" Target="127.0.0.1" Port="{engine.ports["syslog_tls"]}" Protocol="tcp" '
        f'StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" '
        f'StreamDriverPermittedPeers="{_cert_name(openssl, tls.server_cert)}" {tcp})'
    )
    # The CA that signed the listener's certificate, and the client's own certificate and key.
    global_tls = (
        f'DefaultNetstreamDriverCAFile="{tls.ca_cert}" DefaultNetstreamDriverCertFile="{tls.client_cert}" '
        f'DefaultNetstreamDriverKeyFile="{tls.client_key}"'
    )
    run_rsyslog(tmp_path, engine, action, lines, "rfc5424" if framing == "octet" else "rfc3164", global_tls)
