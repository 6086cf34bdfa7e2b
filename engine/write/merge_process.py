"""The merge process: a child of the writer that runs the merges its merge thread plans, so that
a merge's Python work never holds the GIL the writer's flushes need.

Why a process. A merge spends most of its time in zstd and numba kernels, which release the GIL,
but not all: merging dictionaries, sorting a part's values, choosing index sets and encoding its
footer are C calls that hold the GIL for tens of milliseconds at a time on a 1.6M-row merge, and
the merge runs at a lower CPU priority, so while the cores are busy it can be preempted while
holding the GIL, and a flush waits until the scheduler comes back to it. In its own process the
merge has its own GIL, and its priority applies to all of it. The merge thread stays in the
writer (the registry of parts, planning, naming, retention, metrics) and hands each merge over
here, waiting for the answer with the GIL released.

Lifecycle. Forked by the merger's `start` (before its thread exists); one that died is replaced
by the next merge (forked then by the merge thread: a fork beside other threads, as
multiprocessing's "fork" does).
It closes every inherited descriptor but its socket (the instance lock stays the writer's), asks
the kernel to kill it when the thread that forked it ends (PR_SET_PDEATHSIG), ignores SIGINT and
SIGTERM (the writer ends it), and lowers its priority by `nice`. `stop` kills it with SIGKILL: a
merge in progress is abandoned, and its temporary file removed.

Protocol: one `MergeJob` → one `MergeReply`, msgpack, each preceded by its length (u32).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import struct
import threading
import time
import traceback

import msgspec

from engine.errors import LogjetError
from engine.store.layout import tmp_path
from engine.store.part_format import PartHead, WriteCancelled, head_of
from engine.store.part_writer import IndexBuilder
from engine.worker import heap
from engine.worker.process import set_process_name
from engine.write.part_merge import InputDamaged, MergeJob, merge_job

log = logging.getLogger("logjet.merge")

_LEN = struct.Struct("<I")
_READY = b"R"  # the child's first byte: set up
_PR_SET_PDEATHSIG = 1


class MergeReply(msgspec.Struct, array_like=True):
    """What came of a job: the output's head, or the error to raise in the writer."""

    head: PartHead | None = None
    damaged: str = ""  # InputDamaged: the input's path (and `message` its reason)
    errno: int = 0  # OSError
    message: str = ""  # the error's text; alone: an unexpected failure (a traceback)
    cpu_s: float = 0.0  # CPU seconds the child spent on the job (for the merge log)


class MergeFailed(LogjetError):
    """A merge failed in the merge process for a reason other than a damaged input or an OS
    error (a bug: the message holds its traceback)."""


class MergeProcessGone(LogjetError):
    """The merge process exited during a merge without being stopped (killed from outside, out
    of memory); the next merge starts another."""


_job_encoder = msgspec.msgpack.Encoder()
_job_decoder = msgspec.msgpack.Decoder(MergeJob)
_reply_decoder = msgspec.msgpack.Decoder(MergeReply)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LEN.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket) -> bytes | None:
    """One framed message; None when the other side closed (or died)."""
    head = _recv_exact(sock, _LEN.size)
    if head is None:
        return None
    return _recv_exact(sock, _LEN.unpack(head)[0])


class MergeProcess:
    """The writer's side: `merge` runs one job in the child (started on demand), `stop` ends it."""

    def __init__(self, index_builder: IndexBuilder | None, nice: int):
        self.index_builder = index_builder  # inherited by the child, which runs it
        self.nice = nice
        self.pid = 0
        self._sock: socket.socket | None = None
        self._stopping = False
        self._lock = threading.Lock()  # `stop` (writer's thread) against reaping in `merge`
        self.last_cpu_s = 0.0  # CPU seconds of the last job, as the child measured them

    def start(self) -> None:
        """Fork the child now (call while the writer has no thread that might hold a lock)."""
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            parent.close()
            _child_main(child, self.index_builder, self.nice)
        child.close()
        self.pid, self._sock = pid, parent
        # Set up (descriptors closed, priority lowered) before it is handed a merge.
        if parent.recv(1) != _READY:
            self._reap()
            raise MergeProcessGone("the merge process exited as it started")

    def merge(self, job: MergeJob) -> PartHead:
        """Run `job` in the child; returns the output's head. Raises what `merge_parts` would
        (InputDamaged, OSError with its errno, WriteCancelled when `stop` ended the child),
        MergeProcessGone when the child died on its own, MergeFailed on a bug in it."""
        if self._stopping:
            raise WriteCancelled(job.out_path)
        if self.pid and os.waitpid(self.pid, os.WNOHANG)[0]:
            self.pid = 0  # died between merges (killed from outside): reaped just now
            self._reap()
        if not self.pid:
            self.start()
        assert self._sock is not None
        try:
            _send(self._sock, _job_encoder.encode(job))
            raw = _recv(self._sock)
        except OSError:
            raw = None
        if raw is None:
            self._reap()
            try:
                os.unlink(tmp_path(job.out_path))
            except FileNotFoundError:
                pass
            if self._stopping:
                raise WriteCancelled(job.out_path)
            raise MergeProcessGone("the merge process exited during a merge; starting another")
        reply = _reply_decoder.decode(raw)
        self.last_cpu_s = reply.cpu_s
        if reply.head is not None:
            return reply.head
        if reply.damaged:
            raise InputDamaged(reply.damaged, reply.message)
        if reply.errno:
            raise OSError(reply.errno, reply.message)  # OSError picks the subclass (ENOENT, ...)
        raise MergeFailed(reply.message)

    def stop(self) -> None:
        """Kill the child (a merge in progress is abandoned) and reap it."""
        self._stopping = True
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reap()

    def _reap(self) -> None:
        with self._lock:
            if self.pid:
                try:
                    os.waitpid(self.pid, 0)
                except ChildProcessError:
                    pass
                self.pid = 0
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _keep_freed_memory() -> None:
    """Let glibc keep the memory a merge frees for the next merge. By default an array over
    32 MiB (a merge's columns) is its own mapping, unmapped when freed, so every merge faulted
    its whole working set in afresh, page by page: a third of the merge process's CPU at 50,000
    rows a second was system time. Held instead: the child's peak (a merge's, bounded by
    max_part_rows; ~700 MB at 2M rows, most of which it held between merges anyway)."""
    heap.keep_freed(1 << 30, (1 << 31) - 1)


def _detach(keep: int, nice: int) -> None:
    """The child's setup: only its socket open, killed with the thread that forked it, deaf to
    the signals the writer handles, at a lower priority, named in `ps`, keeping the memory
    merges free."""
    _keep_freed_memory()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 4096)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the writer's stop still kills it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.nice(nice)
    except OSError:
        pass
    set_process_name("lj-merge")


def _child_main(sock: socket.socket, builder: IndexBuilder | None, nice: int) -> None:
    code = 0
    try:
        _detach(sock.fileno(), nice)
        sock.sendall(_READY)
        while True:
            raw = _recv(sock)
            if raw is None:
                break  # the writer closed its end
            _send(sock, msgspec.msgpack.encode(_run(_job_decoder.decode(raw), builder)))
    except BaseException:  # the child must never return into the writer's code
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def _run(job: MergeJob, builder: IndexBuilder | None) -> MergeReply:
    started = time.process_time()
    reply = _outcome(job, builder)
    reply.cpu_s = time.process_time() - started
    return reply


def _outcome(job: MergeJob, builder: IndexBuilder | None) -> MergeReply:
    try:
        meta = merge_job(job, builder)
    except InputDamaged as exc:
        return MergeReply(damaged=exc.path, message=exc.reason)
    except OSError as exc:
        return MergeReply(errno=exc.errno or 0, message=str(exc) if exc.errno else traceback.format_exc())
    except Exception:
        return MergeReply(message=traceback.format_exc())
    return MergeReply(head=head_of(meta))
