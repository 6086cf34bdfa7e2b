"""The TLS connection state machine, driven by an in-memory TLS client (`ssl.SSLObject` over
`MemoryBIO`s): handshake outcomes counted once, ciphertext split at awkward places, close_notify
and FIN, client certificates, timeouts, and decrypted data handed on in big pieces."""

from __future__ import annotations

import asyncio
import random
import ssl

import pytest

from engine.config import Tls
from engine.receive.syslog_tls import (
    CLOSED,
    CLOSING,
    FAILED,
    HANDSHAKING,
    OK,
    OPEN,
    TIMEOUT,
    SyslogTlsProtocol,
)
from engine.receive.tls_context import build_context
from tests.tlsca import make_tls_files

MAX_LEN = 1 << 16


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("tls"))


class Wire:
    """The TCP transport under the protocol: what the server wrote, and whether it closed."""

    def __init__(self):
        self.written = bytearray()
        self.closing = False
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after close"
        self.written += data

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 40000)}.get(name, default)

    def take(self) -> bytes:
        out = bytes(self.written)
        self.written.clear()
        return out


class Sink:
    """Records what the protocol tells the receiver."""

    def __init__(self):
        self.frames: list[bytes] = []
        self.frame_calls = 0
        self.nbytes = 0
        self.handshakes: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.framing: list[str] = []
        self.open: set = set()
        self.opened = self.closed = 0
        self.streams_closed: list = []  # outer protocols whose socket closed

    def tls_frames(self, buf, starts, ends, flags, source, nbytes):
        self.frame_calls += 1
        self.nbytes += nbytes
        self.frames += [bytes(buf[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]

    def tls_handshake(self, outcome, source, reason):
        assert source == "127.0.0.1:40000"
        self.handshakes.append((outcome, reason))

    def tls_error(self, source, reason):
        self.errors.append(reason)

    def stream_pending(self, proto):
        proto.frame_pending()  # no batch tick here: frames as they are read

    def framing_decided(self, framing, source):
        self.framing.append(framing)

    def connection_opened(self, proto):
        self.open.add(proto)
        self.opened += 1

    def connection_closed(self, proto):
        self.open.discard(proto)
        self.closed += 1

    def stream_closed(self, conn):
        self.streams_closed.append(conn)


class Client:
    """A TLS client in memory; `pump` moves bytes both ways, the client's cut at `cuts`."""

    def __init__(self, tls, cert=None, key=None, verify=True):
        ctx = ssl.create_default_context(cafile=str(tls.ca_cert))
        if not verify:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if cert:
            ctx.load_cert_chain(str(cert), str(key))
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.ssl = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def handshake(self) -> bool:
        try:
            self.ssl.do_handshake()
            return True
        except ssl.SSLWantReadError:
            return False


def feed(proto: SyslogTlsProtocol, data: bytes, sizes) -> None:
    """`data` to the protocol in pieces of the given sizes (cycled)."""
    i, k = 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        proto.data_received(data[i : i + n])
        i += n
        k += 1


def pump(client: Client, proto: SyslogTlsProtocol, wire: Wire, sizes=(1 << 20,)) -> None:
    """Client → server in pieces, server → client whole."""
    feed(proto, client.outgoing.read(), sizes)
    reply = wire.take()
    if reply:
        client.incoming.write(reply)


def handshake(client: Client, proto: SyslogTlsProtocol, wire: Wire, sizes=(1 << 20,)) -> None:
    for _ in range(10):  # a TLS 1.3 handshake takes two flights each way; bounded anyway
        done = client.handshake()
        pump(client, proto, wire, sizes)
        if done and proto.state != HANDSHAKING:
            return
    raise AssertionError(f"handshake stuck in {proto.state}")


def connect(tls, client_ca: bool = False, **kw):
    sink, wire = Sink(), Wire()
    ctx = build_context(Tls(str(tls.server_cert), str(tls.server_key), str(tls.ca_cert) if client_ca else ""))
    proto = SyslogTlsProtocol(sink, MAX_LEN, ctx, **kw)
    proto.connection_made(wire)
    return sink, wire, proto


def handshaken(tls):
    """A connection past its handshake, with its client."""
    sink, wire, proto = connect(tls)
    client = Client(tls)
    handshake(client, proto, wire)
    return sink, wire, proto, client


def in_loop(fn):
    """Run a test body inside a running event loop (the protocol arms a timer with it)."""

    async def main():
        return fn()

    return asyncio.run(main())


def messages(n: int) -> list[bytes]:
    return [
        (
            f'<{i % 192}>1 2026-11-22T10:00:00Z host{i % 7} app - ID{i} [x@1 k="v{i}"] message {i} ' + "é" * (i % 50)
        ).encode()
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "sizes", [(1,), (3, 1, 5000), (16384 + 22,), (1 << 20,)], ids=["bytewise", "ragged", "record+", "whole"]
)
def test_octet_counted_stream_split_anywhere_then_close_notify(tls, sizes):
    def body():
        sink, wire, proto = connect(tls)
        client = Client(tls)
        assert proto.state == HANDSHAKING
        handshake(client, proto, wire, sizes)
        assert proto.state == OPEN and sink.handshakes == [(OK, "")] and sink.opened == 1
        msgs = messages(3000)
        stream = b"".join(b"%d %s" % (len(m), m) for m in msgs)
        client.ssl.write(stream)
        pump(client, proto, wire, sizes)
        assert sink.frames == msgs and sink.framing == ["octet_counted"]
        assert sink.nbytes == len(stream)
        with pytest.raises(ssl.SSLWantReadError):
            client.ssl.unwrap()  # sends close_notify, waits for ours
        pump(client, proto, wire, sizes)
        assert proto.state == CLOSING and wire.closing and not wire.aborted
        client.ssl.unwrap()  # our close_notify arrived: a clean shutdown both ways
        proto.connection_lost(None)
        assert proto.state == CLOSED and sink.closed == 1 and not sink.open
        assert sink.handshakes == [(OK, "")]

    in_loop(body)


def test_lf_lines_and_fin_without_close_notify_keep_the_last_line(tls):
    def body():
        sink, wire, proto, client = handshaken(tls)
        client.ssl.write(b"<13>first line\r\n<14>second\n<15>no newline at the end")
        pump(client, proto, wire, (7,))
        assert sink.frames == [b"<13>first line", b"<14>second"]
        assert proto.eof_received() is False  # FIN: close our side too
        assert sink.frames[-1] == b"<15>no newline at the end" and proto.state == CLOSING
        proto.connection_lost(None)
        assert proto.state == CLOSED and sink.framing == ["lf"] and sink.closed == 1
        assert sink.streams_closed == [proto]  # the outer protocol reports the socket, once

    in_loop(body)


def test_idle_close_of_an_open_connection_sends_close_notify_and_keeps_the_tail(tls):
    def body():
        sink, wire, proto, client = handshaken(tls)
        client.ssl.write(b"<13>whole\n<14>partial")
        pump(client, proto, wire)
        assert proto.read_since_sweep  # every read marks the connection for the idle sweep
        proto.close_idle(300.0)
        assert proto.state == CLOSING and wire.closing and not wire.aborted
        client.incoming.write(wire.take())
        try:
            end = client.ssl.read(10)  # b"" at our close_notify: a clean end
        except ssl.SSLZeroReturnError:  # how some Python versions report it
            end = b""
        assert end == b""
        proto.connection_lost(None)
        assert sink.frames == [b"<13>whole", b"<14>partial"]  # the tail, as on the peer's close
        assert sink.streams_closed == [proto] and sink.closed == 1

    in_loop(body)


def test_idle_close_while_handshaking_is_a_handshake_timeout(tls):
    def body():
        sink, wire, proto = connect(tls)
        proto.close_idle(2.4)
        assert sink.handshakes == [(TIMEOUT, "no bytes for 2 s (ingest.idle_timeout)")] and wire.closing
        proto.connection_lost(None)
        assert len(sink.handshakes) == 1 and sink.streams_closed == [proto] and sink.opened == 0

    in_loop(body)


def test_decrypted_data_goes_on_in_one_piece_per_read(tls):
    """Many TLS records arriving together are decrypted into one hand-over, not one per record."""

    def body():
        sink, wire, proto = connect(tls)
        client = Client(tls)
        handshake(client, proto, wire)
        msgs = messages(4000)
        for m in msgs:  # one record per message: the worst case for per-record costs
            client.ssl.write(b"%d %s" % (len(m), m))
        proto.data_received(client.outgoing.read())
        assert sink.frames == msgs and sink.frame_calls == 1

    in_loop(body)


def test_plain_text_client_is_a_failed_handshake(tls):
    def body():
        sink, wire, proto = connect(tls)
        proto.data_received(b"<13>1 2026-11-22T10:00:00Z host app - - - plain text on the TLS port\n")
        assert proto.state == CLOSED and wire.closing
        assert [o for o, _ in sink.handshakes] == [FAILED] and "wrong version number" in sink.handshakes[0][1]
        proto.data_received(b"more plain text\n")  # ignored after the failure
        proto.connection_lost(None)
        assert len(sink.handshakes) == 1 and not sink.frames and sink.opened == 0 and sink.closed == 0

    in_loop(body)


def test_garbage_and_eof_mid_handshake_count_once(tls):
    def body():
        sink, wire, proto = connect(tls)
        client = Client(tls)
        client.handshake()
        hello = client.outgoing.read()
        proto.data_received(hello[:40])  # half a ClientHello, then FIN
        assert proto.state == HANDSHAKING
        assert proto.eof_received() is False
        proto.connection_lost(None)
        assert [o for o, _ in sink.handshakes] == [FAILED] and "closed" in sink.handshakes[0][1]

        sink, wire, proto = connect(tls)
        proto.data_received(bytes(random.Random(5).randrange(256) for _ in range(3000)))
        proto.connection_lost(ConnectionResetError("reset"))
        assert [o for o, _ in sink.handshakes] == [FAILED] and wire.closing

        sink, wire, proto = connect(tls)
        proto.connection_lost(ConnectionResetError("reset"))  # reset before any byte
        assert sink.handshakes == [(FAILED, "connection lost during the handshake (reset)")]

    in_loop(body)


@pytest.mark.parametrize(
    "who, accepted, reason",
    [
        ("none", False, "peer did not return a certificate"),
        ("rogue", False, "client certificate refused: self-signed certificate"),
        ("client", True, ""),
    ],
)
def test_client_certificates_when_client_ca_is_set(tls, who, accepted, reason):
    def body():
        sink, wire, proto = connect(tls, client_ca=True)
        cert = {
            "none": (None, None),
            "rogue": (tls.rogue_cert, tls.rogue_key),
            "client": (tls.client_cert, tls.client_key),
        }[who]
        client = Client(tls, *cert)
        for _ in range(4):
            try:
                client.handshake()
            except ssl.SSLError:
                break  # the server's alert
            pump(client, proto, wire)
        # TLS 1.3: the client's handshake is done before the server judges its certificate,
        # so its first message goes out; it must never reach the rings.
        if client.ssl.version():
            client.ssl.write(b"<13>first message\n")
            pump(client, proto, wire)
        if accepted:
            assert proto.state == OPEN and sink.handshakes == [(OK, "")]
            assert sink.frames == [b"<13>first message"]
        else:
            assert proto.state == CLOSED and wire.closing and not sink.frames and sink.opened == 0
            assert [o for o, _ in sink.handshakes] == [FAILED] and reason in sink.handshakes[0][1]
            with pytest.raises(ssl.SSLError):  # the alert tells the client why
                client.ssl.read(100)

    in_loop(body)


def test_handshake_timeout(tls):
    async def body():
        sink, wire, proto = connect(tls, handshake_timeout_s=0.05)
        await asyncio.sleep(0.2)
        assert proto.state == CLOSED and wire.closing
        assert sink.handshakes == [(TIMEOUT, "no handshake within 0.05 s")]
        proto.connection_lost(None)
        assert len(sink.handshakes) == 1

        sink, wire, proto = connect(tls, handshake_timeout_s=0.05)  # a quick handshake disarms it
        handshake(Client(tls), proto, wire)
        await asyncio.sleep(0.2)
        assert proto.state == OPEN and sink.handshakes == [(OK, "")] and not wire.closing

    asyncio.run(body())


def test_corrupt_record_after_handshake_aborts_keeping_what_came_before(tls):
    def body():
        sink, wire, proto = connect(tls)
        client = Client(tls)
        handshake(client, proto, wire)
        client.ssl.write(b"<13>good\n")
        good = client.outgoing.read()
        client.ssl.write(b"<13>tampered\n")
        bad = bytearray(client.outgoing.read())
        bad[-3] ^= 0xFF  # breaks the record's authentication tag
        proto.data_received(good + bytes(bad))
        assert sink.frames == [b"<13>good"] and len(sink.errors) == 1 and wire.aborted
        proto.data_received(b"anything")  # ignored
        proto.connection_lost(None)
        assert sink.closed == 1 and sink.frames[-1] == b"<13>good"  # no tail: the line was whole

    in_loop(body)
