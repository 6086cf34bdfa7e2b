"""Peer collectors run side by side with logjet: name → class (see base.py for the contract)."""

from __future__ import annotations

from bench.peers.base import Peer, PeerError
from bench.peers.rsyslog import Rsyslog
from bench.peers.syslog_ng import SyslogNg

PEERS: dict[str, type[Peer]] = {"rsyslog": Rsyslog, "syslog-ng": SyslogNg}

__all__ = ["PEERS", "Peer", "PeerError"]
