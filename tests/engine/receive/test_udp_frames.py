"""A bulk of datagrams becomes frames: limits, trailing newlines, empty datagrams, senders."""

from __future__ import annotations

from engine.receive.syslog_udp import udp_frames


def test_bulk_to_frames():
    datagrams = [b"<13>one\n", b"<13>two\r\n", b"", b"\n", b"<13>" + b"x" * 50, b"<13>nul\x00"]
    addrs = [
        ("10.0.0.1", 514),
        ("10.0.0.2", 514),
        ("10.0.0.1", 514),
        ("::1", 9, 0, 0),
        ("10.0.0.1", 514),
        ("::1", 9, 0, 0),
    ]
    buf, starts, ends, flags, src, sources = udp_frames(datagrams, addrs, max_len=20)
    frames = [buf[s:e] for s, e in zip(starts.tolist(), ends.tolist())]
    assert frames == [b"<13>one", b"<13>two", b"<13>" + b"x" * 16, b"<13>nul"]
    assert flags.tolist() == [0, 0, 1, 0]
    assert [sources[i] for i in src.tolist()] == ["10.0.0.1:514", "10.0.0.2:514", "10.0.0.1:514", "[::1]:9"]
