"""Datagrams the kernel dropped on this receiver's UDP sockets (receive buffer full, before logjet
read them), read from /proc/net/udp and /proc/net/udp6 and added to
`logjet_udp_kernel_drops_total`.

Why /proc rather than SO_RXQ_OVFL: the latter arrives as ancillary data of each recvmsg, which
the event loop's datagram transport does not hand over. The "drops" column of /proc/net/udp is
the same per-socket counter (sk_drops), one row per socket, found by the socket's inode. With
SO_REUSEPORT every receiver has a socket of its own, so each counts its own and the sum over
receivers counts every drop once. A socket's count starts at 0 when it is created, so a
restarted receiver adds what its new socket drops to the counter its predecessor left.
"""

from __future__ import annotations

import logging
import os
import socket

from engine.metrics import Value

log = logging.getLogger("logjet.receive")

PROC_FILES = ("/proc/net/udp", "/proc/net/udp6")
# Columns of a socket's row (proc(5)): sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
_INODE, _DROPS = 9, 12


def socket_inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def read_drops(inodes: set[int], paths: tuple[str, ...] = PROC_FILES) -> dict[int, int]:
    """The kernel's drop count of each socket in `inodes` found in `paths`."""
    found: dict[int, int] = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue  # no IPv6 on this host, or no /proc
        for line in lines:
            cols = line.split()
            if len(cols) > _DROPS and int(cols[_INODE]) in inodes:
                found[int(cols[_INODE])] = int(cols[_DROPS])
    return found


class KernelDrops:
    """Adds the growth of the kernel's drop counts of some sockets to a counter, on each `poll`."""

    def __init__(self, counter: Value, paths: tuple[str, ...] = PROC_FILES):
        self.counter = counter
        self.paths = paths
        self.seen: dict[int, int] = {}  # inode → drops already counted
        self._warned = False

    def watch(self, sock: socket.socket) -> None:
        self.seen[socket_inode(sock)] = 0

    def poll(self) -> int:
        """Count the drops since the last poll; returns them."""
        if not self.seen:
            return 0
        now = read_drops(set(self.seen), self.paths)
        if len(now) < len(self.seen) and not self._warned:
            self._warned = True
            log.warning("UDP sockets not found in %s: kernel drops are not counted", ", ".join(self.paths))
        new = 0
        for inode, drops in now.items():
            if drops > self.seen[inode]:
                new += drops - self.seen[inode]
                self.seen[inode] = drops
        if new:
            self.counter.inc(new)
        return new
