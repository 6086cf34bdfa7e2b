"""rsyslog as a peer: `rsyslogd -n` (foreground) with bench/peers/rsyslog.conf.

Install: `apt-get install rsyslog` (Debian/Ubuntu); the package's own service need not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.peers.base import LOCAL_PEERS, Peer, first_existing


class Rsyslog(Peer):
    name = "rsyslog"
    conf_name = "rsyslog.conf"

    @classmethod
    def find(cls) -> str | None:
        return first_existing(
            [
                shutil.which("rsyslogd"),
                "/usr/sbin/rsyslogd",
                os.path.join(LOCAL_PEERS, "rsyslog", "usr", "sbin", "rsyslogd"),
            ]
        )

    @classmethod
    def version(cls, binary: str) -> str:
        out = subprocess.run([binary, "-v"], capture_output=True, timeout=10).stdout.decode(errors="replace")
        first = out.splitlines()[0] if out else "unknown"
        return " ".join(first.split(" compiled with")[0].split())

    def command(self, conf_path: str) -> list[str]:
        return [self.binary, "-n", "-f", conf_path, "-i", os.path.join(self.workdir, "rsyslogd.pid")]
