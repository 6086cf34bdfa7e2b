"""sd_notify over real unix datagram sockets: path and abstract addresses, the variables systemd
sets, the watchdog's half period, and no harm outside systemd or when the socket is gone."""

from __future__ import annotations

import os
import socket

import pytest

from engine.lifecycle.sd_notify import Notifier, socket_address


@pytest.fixture
def listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(2)
    yield path, sock
    sock.close()


def test_notifications_arrive_as_one_datagram_of_lines(listener):
    path, sock = listener
    notifier = Notifier(path)
    notifier.ready("serving syslog_tcp=5514")
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving syslog_tcp=5514"
    notifier.status("starting 4 workers")
    assert sock.recv(4096) == b"STATUS=starting 4 workers"
    notifier.stopping("draining: receiver, api")
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=draining: receiver, api"
    notifier.close()


def test_abstract_socket_names_start_with_at():
    name = f"logjet-test-{os.getpid()}-{os.urandom(3).hex()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        notifier = Notifier("@" + name)
        assert notifier.send("READY=1")
        assert sock.recv(4096) == b"READY=1"
        notifier.close()


def test_names_systemd_would_not_give_are_ignored():
    assert socket_address("@") is None
    assert socket_address("relative/notify.sock") is None
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@x") == b"\0x"
    assert not Notifier("relative").enabled


def test_outside_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier(None)
    assert not notifier.enabled
    assert not notifier.send("READY=1")
    assert not notifier.watchdog_due(1e9)


def test_a_socket_gone_is_reported_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "absent.sock"))
    assert not notifier.send("READY=1")
    assert not notifier.send("STATUS=x")
    assert sum("cannot notify" in r.message for r in caplog.records) == 1
    notifier.close()


def test_from_environ_takes_the_variables_away_from_children(listener):
    path, sock = listener
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4242", "OTHER": "x"}
    notifier = Notifier.from_environ(env, pid=4242)
    assert env == {"OTHER": "x"}
    assert notifier.watchdog_s == 2.0
    # Keep-alives every half period, from the first loop turn on.
    assert notifier.watchdog_due(100.0)
    notifier.ping(100.0)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert not notifier.watchdog_due(100.9)
    assert notifier.watchdog_due(101.0)
    notifier.close()


def test_watchdog_meant_for_another_process_or_malformed_is_off(listener):
    path, _ = listener
    other = Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, pid=4242)
    assert other.enabled and not other.watchdog_due(1e9)
    bad = Notifier.from_environ({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "soon"}, pid=4242)
    assert bad.enabled and not bad.watchdog_due(1e9)
