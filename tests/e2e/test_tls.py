"""End to end: syslog over TLS (RFC 5425) into a real `logjet serve`, with Python `ssl` clients.

Messages come back exactly, field by field; refused clients (no certificate, a certificate from
another CA, plain text on the TLS port) are counted and leave the listener working; SIGHUP
reloads the certificate for new connections while open ones carry on; bad files stop the start.
"""

from __future__ import annotations

import datetime as dt
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.e2e.clients import all_rows, column_values, field_column, messages, metric, octet_frames, wait_written
from tests.tlsca import make_tls_files

pytestmark = pytest.mark.e2e

N_OCTET = 300
N_LF = 200


def write_config(path, tls, client_ca: bool = False):
    ca = f'client_ca_file = "{tls.ca_cert}"\n' if client_ca else ""
    path.write_text(f'[tls]\ncert_file = "{tls.server_cert}"\nkey_file = "{tls.server_key}"\n{ca}')
    return str(path)


def client_context(ca_file, cert=None, key=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def connect(port: int, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def close_tls(s: ssl.SSLSocket) -> None:
    """close_notify, and wait for the server's: it answers once it has read everything before."""
    try:
        s.unwrap().close()
    finally:
        s.close()


def send_tls(port: int, ctx: ssl.SSLContext, payload: bytes, chunk: int = 50_000) -> None:
    s = connect(port, ctx)
    view = memoryview(payload)
    for i in range(0, len(view), chunk):
        s.sendall(view[i : i + chunk])
    close_tls(s)


def refused(port: int, ctx: ssl.SSLContext) -> bool:
    """Whether the server turns this client away (in TLS 1.3 the client's handshake completes
    before the server has judged its certificate: the alert comes on the first read)."""
    try:
        s = connect(port, ctx)
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        s.sendall(b"<13>1 2026-11-22T10:00:00Z refused app - - - t=refused must not be stored\n")
        return s.recv(100) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        s.close()


def wait_metric(url: str, name: str, want: float, timeout: float = 20.0, **labels) -> float:
    deadline = time.monotonic() + timeout
    while True:
        got = metric(url, name, **labels)
        if got >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def rows_tagged(data_dir: str, tag: bytes):
    rows = all_rows(data_dir)
    keep = [i for i, t in enumerate(field_column(rows, b"t")) if t == tag]
    return rows.take(np.asarray(keep, dtype=np.int64))


def rfc5424(i: int, tag: str) -> tuple[bytes, dict]:
    """A varied RFC 5424 message and the fields it must come back with."""
    host, app = f"host-{i % 13}.example.net", ["sshd", "cron", "kernel", "nginx"][i % 4]
    procid = "-" if i % 5 == 0 else str(100 + i)
    msgid = "-" if i % 7 == 0 else f"ID{i % 3}"
    sd = "-" if i % 3 == 0 else f'[meta@32473 seq="{i}" note="a \\"q\\" \\]"][origin ip="10.0.0.{i % 250}"]'
    text = f"seq={i} t={tag} user=u{i % 11} pid-ish {i} ünïcödé ✓ " + "x" * (i % 200)
    pri = (i % 24) * 8 + i % 8
    line = f"<{pri}>1 2026-11-22T10:{i % 60:02d}:00.{i:06d}Z {host} {app} {procid} {msgid} {sd} {text}"
    want = {
        "host": host.encode(),
        "app": app.encode(),
        "procid": None if procid == "-" else procid.encode(),
        "msgid": None if msgid == "-" else msgid.encode(),
        "message": text.encode(),
        "severity": i % 8,
        "facility": i % 24,
        "time": int(dt.datetime(2026, 11, 22, 10, i % 60, tzinfo=dt.timezone.utc).timestamp()) * 10**9 + i * 1000,
        "sd_seq": None if sd == "-" else str(i).encode(),
    }
    return line.encode(), want


def check_rows(data_dir: str, tag: str, expected: dict[int, dict]) -> None:
    rows = rows_tagged(data_dir, tag.encode())
    seqs = [int(s) for s in field_column(rows, b"seq")]
    assert sorted(seqs) == sorted(expected), f"{tag}: {len(seqs)} rows for {len(expected)} messages"
    cols = {c: column_values(rows, c) for c in ("host", "app", "procid", "msgid")}
    msg = messages(rows)
    sd_seq = field_column(rows, b"meta@32473.seq")
    for r, i in enumerate(seqs):
        want = expected[i]
        got = {c: cols[c][r] for c in cols} | {
            "message": msg[r],
            "severity": int(rows.severity[r]),
            "facility": int(rows.facility[r]),
            "time": int(rows.time[r]),
            "sd_seq": sd_seq[r],
        }
        assert got == want, i


def test_tls_ingest_client_certificates_and_bad_clients(start_engine, tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    engine = start_engine("--syslog-tls", "127.0.0.1:0", "--config", write_config(tmp_path / "tls.toml", tls, True))
    port, url = engine.ports["syslog_tls"], engine.url
    good = client_context(tls.ca_cert, tls.client_cert, tls.client_key)

    # Turned away, counted, and the listener keeps working for the clients after them.
    assert refused(port, client_context(tls.ca_cert))
    assert refused(port, client_context(tls.ca_cert, tls.rogue_cert, tls.rogue_key))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as plain:
        plain.sendall(b"<13>1 2026-11-22T10:00:00Z plain app - - - t=refused plain text on the TLS port\n")
        while plain.recv(4096):  # the server closes (after an alert): nothing is stored
            pass
    assert wait_metric(url, "logjet_tls_handshakes_total", 3, outcome="failed") == 3

    octet = {i: rfc5424(i, "tlsoct") for i in range(N_OCTET)}
    lf = {i: rfc5424(i, "tlslf") for i in range(N_LF)}
    send_tls(port, good, octet_frames([m for m, _ in octet.values()]), chunk=997)
    send_tls(port, good, b"".join(m + b"\n" for m, _ in lf.values()))
    assert wait_written(url, N_OCTET + N_LF) >= N_OCTET + N_LF
    check_rows(engine.data_dir, "tlsoct", {i: w for i, (_, w) in octet.items()})
    check_rows(engine.data_dir, "tlslf", {i: w for i, (_, w) in lf.items()})
    assert not len(rows_tagged(engine.data_dir, b"refused"))

    assert metric(url, "logjet_tls_handshakes_total", outcome="ok") == 2
    assert metric(url, "logjet_tls_handshakes_total", outcome="failed") == 3
    assert metric(url, "logjet_received_messages_total", protocol="tls") == N_OCTET + N_LF
    assert metric(url, "logjet_tcp_framing_total", framing="octet_counted") == 1
    assert metric(url, "logjet_received_messages_total", protocol="tcp") == 0
    assert engine.proc.poll() is None


def _fingerprint(s: ssl.SSLSocket) -> bytes:
    return s.getpeercert(binary_form=True)


def test_sighup_reloads_the_certificate_for_new_connections(start_engine, tmp_path):
    first = make_tls_files(tmp_path / "first")
    second = make_tls_files(tmp_path / "second")
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.crt", live / "server.key"
    shutil.copy(first.server_cert, cert)
    shutil.copy(first.server_key, key)
    conf = tmp_path / "tls.toml"
    conf.write_text(f'[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n')
    engine = start_engine("--syslog-tls", "127.0.0.1:0", "--config", str(conf), "--receivers", "2")
    port, url = engine.ports["syslog_tls"], engine.url

    old = connect(port, client_context(first.ca_cert))
    assert _fingerprint(old) == ssl.PEM_cert_to_DER_cert(first.server_cert.read_text())
    old.sendall(b"<13>1 2026-11-22T10:00:00Z h app - - - t=reload seq=0 before\n")

    # Replace the files, as certbot would, and reload: two receivers, two reloads.
    shutil.copy(second.server_cert, cert)
    shutil.copy(second.server_key, key)
    engine.proc.send_signal(signal.SIGHUP)
    assert wait_metric(url, "logjet_tls_reloads_total", 2, outcome="ok") == 2
    new = connect(port, client_context(second.ca_cert))
    assert _fingerprint(new) == ssl.PEM_cert_to_DER_cert(second.server_cert.read_text())
    new.sendall(b"<13>1 2026-11-22T10:00:00Z h app - - - t=reload seq=1 new connection\n")
    close_tls(new)
    old.sendall(b"<13>1 2026-11-22T10:00:00Z h app - - - t=reload seq=2 old connection after the reload\n")
    close_tls(old)

    # A key that does not match: refused, and the certificate in force stays.
    shutil.copy(first.server_key, key)
    engine.proc.send_signal(signal.SIGHUP)
    assert wait_metric(url, "logjet_tls_reloads_total", 2, outcome="failed") == 2
    again = connect(port, client_context(second.ca_cert))
    assert _fingerprint(again) == ssl.PEM_cert_to_DER_cert(second.server_cert.read_text())
    close_tls(again)

    assert wait_written(url, 3) >= 3
    rows = rows_tagged(engine.data_dir, b"reload")
    assert sorted(messages(rows)) == [
        b"t=reload seq=0 before",
        b"t=reload seq=1 new connection",
        b"t=reload seq=2 old connection after the reload",
    ]
    assert "TLS certificate not reloaded" in engine.log_text()


def _serve(tmp_path, conf: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            "--data-dir",
            str(tmp_path / "data"),
            "--syslog-tcp",
            "127.0.0.1:0",
            "--syslog-udp",
            "",
            "--http",
            "",
            "--syslog-tls",
            "127.0.0.1:0",
            "--config",
            conf,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("case", ["missing cert", "key of another cert", "not PEM", "missing cert_file key"])
def test_bad_certificate_files_stop_the_start(tmp_path, case):
    tls = make_tls_files(tmp_path / "tls")
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cert, key, named, code = {
        "missing cert": (tmp_path / "nope.crt", tls.server_key, "nope.crt", 3),
        "key of another cert": (tls.server_cert, tls.client_key, "client.key", 3),
        "not PEM": (junk, tls.server_key, "junk.pem", 3),
        "missing cert_file key": (None, tls.server_key, "tls.cert_file", 2),
    }[case]
    conf = tmp_path / "tls.toml"
    conf.write_text("[tls]\n" + (f'cert_file = "{cert}"\n' if cert else "") + f'key_file = "{key}"\n')
    proc = _serve(tmp_path, str(conf))
    assert proc.returncode == code, proc.stderr
    assert named in proc.stderr and not proc.stdout
    check = _serve(tmp_path, str(conf), "--check-config")
    assert check.returncode == 2 and named in check.stderr
