"""Accepting syslog stream connections over real sockets in a uvloop loop: the connection cap
(one more is accepted and closed, counted, logged), the idle sweep (a silent connection is
closed by the server with its partial last line kept), and accept errors (EMFILE with a lowered
descriptor limit: counted, logged, and the waiting connections taken once descriptors free up)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import socket
import time

import pytest
import uvloop

from engine.metrics import MetricsFile
from engine.receive import acceptor as acceptor_module
from engine.receive.acceptor import AcceptErrors, Acceptor
from engine.receive.connection_table import ConnectionTable, StreamConnection
from engine.receive.listen_sockets import tcp_listener
from engine.receive.syslog_tcp import SyslogTcpProtocol

WAIT_S = 5.0  # every wait below polls until its condition holds, at most this long


class Sink:
    """The receiver as the TCP protocol sees it: records frames and closes."""

    def __init__(self, table: ConnectionTable):
        self.table = table
        self.frames: list[bytes] = []
        self.flags: list[int] = []
        self.protocols: list[SyslogTcpProtocol] = []

    def tcp_frames(self, buf, starts, ends, flags, source, nbytes) -> None:
        self.frames += [bytes(buf[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]
        self.flags += flags.tolist()

    def connection_opened(self, proto) -> None:
        self.protocols.append(proto)

    def connection_closed(self, proto) -> None:
        pass

    def stream_closed(self, conn: StreamConnection) -> None:
        self.table.discard(conn)

    def framing_decided(self, framing, source) -> None:
        pass

    def stream_pending(self, proto) -> None:
        proto.frame_pending()  # no batch tick here: frames as they are read


class Server:
    """One listener with its acceptor and connection table, as a receiver runs them, and the
    test's clients; `close` drops them all."""

    def __init__(self, tmp_path, max_connections: int = 0, idle_timeout_s: float = 0.0):
        self.metrics = MetricsFile(str(tmp_path / "receiver.metrics"))
        idle = {"tcp": self.metrics.counter("idle_connections_closed_total", protocol="tcp")}
        self.table = ConnectionTable(max_connections, idle_timeout_s, idle)
        self.sink = Sink(self.table)
        listener = tcp_listener("127.0.0.1", 0, backlog=64)
        self.port = listener.getsockname()[1]
        self.acceptor = Acceptor(
            listener,
            lambda: SyslogTcpProtocol(self.sink, 1 << 16),
            "tcp",
            self.table,
            self.metrics,
            AcceptErrors(self.metrics),
        )
        self.clients: list[asyncio.StreamWriter | socket.socket] = []

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.clients.append(writer)
        return reader, writer

    def connect_blocking(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port))
        self.clients.append(sock)
        return sock

    def counter(self, name: str, **labels: str) -> float:
        return self.metrics.counter(name, **labels).get()

    async def close(self) -> None:
        self.acceptor.close()
        for client in self.clients:
            client.close()
        for proto in self.sink.protocols:
            proto.transport.abort()
        await asyncio.sleep(0.05)  # the transports' closes run on the loop


def serve(tmp_path, body, **limits) -> None:
    """Run `body(server)` in a uvloop loop (as the receiver runs), always closing everything."""

    async def main():
        server = Server(tmp_path, **limits)
        try:
            await body(server)
        finally:
            await server.close()

    uvloop.run(main())


async def until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closed the connection (EOF or reset) within WAIT_S."""
    try:
        return await asyncio.wait_for(reader.read(1), WAIT_S) == b""
    except ConnectionResetError:
        return True


def test_a_connection_beyond_the_cap_is_closed_at_accept_and_counted(tmp_path, caplog):
    async def body(server: Server) -> None:
        server.acceptor.start()
        _, first = await server.connect()
        await server.connect()
        await until(lambda: len(server.table) == 2, "two connections")

        reader, _ = await server.connect()
        assert await closed_by_server(reader)
        rejected = server.counter("rejected_connections_total", protocol="tcp", reason="max_connections")
        assert rejected == 1 and len(server.table) == 2

        # A slot freed by a close is taken by the next connection, which is read as usual.
        first.close()
        await until(lambda: len(server.table) == 1, "the close to free a slot")
        _, writer = await server.connect()
        writer.write(b"<13>let in\n")
        await until(lambda: server.sink.frames == [b"<13>let in"], "the line of the admitted connection")
        assert len(server.table) == 2

    with caplog.at_level(logging.WARNING, "logjet.receive"):
        serve(tmp_path, body, max_connections=2)
    assert any("2 connections open (ingest.max_connections)" in r.getMessage() for r in caplog.records)


def test_an_idle_connection_is_closed_by_the_sweep_and_its_partial_line_kept(tmp_path):
    async def body(server: Server) -> None:
        server.acceptor.start()
        quiet_reader, quiet = await server.connect()
        busy_reader, busy = await server.connect()
        silent_reader, _ = await server.connect()  # sends nothing: what a half-open one looks like
        quiet.write(b"<13>whole\n<14>partial")
        await until(lambda: server.sink.frames == [b"<13>whole"], "the whole line")
        await until(lambda: len(server.table) == 3, "three connections")

        t0 = time.monotonic()
        server.table.sweep(t0)  # the reads so far are seen here
        busy.write(b"<15>still here\n")
        await until(lambda: len(server.sink.frames) == 2, "the busy line")
        assert server.table.sweep(t0 + 0.5) == 0  # not idle long enough
        assert server.table.sweep(t0 + 1.0) == 2  # the quiet and the silent one; busy read since
        assert await closed_by_server(quiet_reader) and await closed_by_server(silent_reader)
        await until(lambda: len(server.sink.frames) == 3, "the partial line")
        assert server.sink.frames[-1] == b"<14>partial" and server.sink.flags[-1] == 0  # as on a close
        assert server.counter("idle_connections_closed_total", protocol="tcp") == 2
        assert len(server.table) == 1

        # While the receiver pauses reading, nobody is idle.
        server.table.all_read_now(t0 + 1.5)
        assert server.table.sweep(t0 + 2.4) == 0
        assert server.table.sweep(t0 + 2.5) == 1 and await closed_by_server(busy_reader)

    serve(tmp_path, body, idle_timeout_s=1.0)


def test_no_idle_timeout_and_no_cap_leave_connections_alone(tmp_path):
    async def body(server: Server) -> None:
        server.acceptor.start()
        clients = [await server.connect() for _ in range(5)]
        await until(lambda: len(server.table) == 5, "five connections")
        assert server.table.sweep(time.monotonic() + 86400) == 0 and not server.table.full()
        for _, writer in clients:
            writer.close()
        await until(lambda: len(server.table) == 0, "the closes")

    serve(tmp_path, body)


def test_emfile_is_counted_and_logged_and_waiting_connections_are_taken_later(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(acceptor_module, "ACCEPT_RETRY_S", 0.2)
    waiting = 6

    async def body(server: Server) -> None:
        # Connected before accepting starts: they wait in the listen backlog.
        clients = [server.connect_blocking() for _ in range(waiting)]
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # A file or socket of an earlier test finalized by the garbage collector in the middle
        # would free a descriptor number, and the acceptor would take more than the two planned.
        gc.collect()
        gc.disable()
        highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 3, hard))
        fillers = _fill_descriptor_table()  # the limit bounds numbers, and lower ones may be free
        try:
            for fd in fillers[-2:]:  # room for two accepted connections
                os.close(fd)
            server.acceptor.start()
            await until(lambda: server.counter("accept_errors_total", reason="emfile") >= 1, "EMFILE")
            assert len(server.table) == 2
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            for fd in fillers[:-2]:
                os.close(fd)
            gc.enable()
        await until(lambda: len(server.table) == waiting, "the waiting connections")  # none was reset
        clients[-1].sendall(b"<13>after the shortage\n")
        await until(lambda: server.sink.frames == [b"<13>after the shortage"], "a line read")

    with caplog.at_level(logging.WARNING, "logjet.receive"):
        serve(tmp_path, body)
    emfile = [r.getMessage() for r in caplog.records if "accept failed (emfile)" in r.getMessage()]
    assert len(emfile) == 1, emfile  # once a minute at most, however often it failed
    assert "Too many open files" in emfile[0]


def _fill_descriptor_table() -> list[int]:
    """Open /dev/null until the descriptor limit is reached; the descriptors opened."""
    fds: list[int] = []
    while True:
        try:
            fds.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return fds


@pytest.mark.parametrize("text, seconds", [("0", 0.0), ("1s", 1.0), ("5m", 300.0)])
def test_idle_timeout_of_zero_or_at_least_a_second(text, seconds):
    from engine.config import load

    assert load(None, {"ingest.idle_timeout": text}).ingest.idle_timeout.seconds == seconds
