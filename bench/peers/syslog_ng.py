"""syslog-ng as a peer: `syslog-ng -F` (foreground) with bench/peers/syslog-ng.conf.

Install: `apt-get install syslog-ng-core`. On Debian it conflicts with the rsyslog package; to
have both, install rsyslog and unpack syslog-ng-core beside the repository:
`apt-get download syslog-ng-core && dpkg -x syslog-ng-core_*.deb .peers/syslog-ng` (plus its
libraries: `apt-get install libivykis0 libnet1 libpcre3 libwrap0`). Such an unpacked copy is run
with its own library and module folders.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from bench.peers.base import LOCAL_PEERS, Peer, first_existing

UNPACKED = os.path.join(LOCAL_PEERS, "syslog-ng")


def _unpacked_dirs(binary: str) -> tuple[str, str] | None:
    """(library folder, module folder) of an unpacked copy, None for an installed binary."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(binary)))
    if os.path.realpath(root) != os.path.realpath(UNPACKED):
        return None
    libdir = os.path.join(root, "usr", "lib", "syslog-ng")
    modules = sorted(glob.glob(os.path.join(libdir, "[0-9]*")))
    return libdir, modules[-1] if modules else libdir


class SyslogNg(Peer):
    name = "syslog-ng"
    conf_name = "syslog-ng.conf"

    @classmethod
    def find(cls) -> str | None:
        return first_existing(
            [shutil.which("syslog-ng"), "/usr/sbin/syslog-ng", os.path.join(UNPACKED, "usr", "sbin", "syslog-ng")]
        )

    @classmethod
    def _env_for(cls, binary: str) -> dict[str, str]:
        env = dict(os.environ)
        dirs = _unpacked_dirs(binary)
        if dirs:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [dirs[0], env.get("LD_LIBRARY_PATH")]))
        return env

    @classmethod
    def version(cls, binary: str) -> str:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=10, env=cls._env_for(binary)
        ).stdout.decode(errors="replace")
        return out.splitlines()[0].strip() if out else "unknown"

    def env(self) -> dict[str, str]:
        return self._env_for(self.binary)

    def placeholders(self, framing: str) -> dict[str, str]:
        return {**super().placeholders(framing), "@TRANSPORT@": "framed" if framing == "octet" else "tcp"}

    def command(self, conf_path: str) -> list[str]:
        w = self.workdir
        cmd = [
            self.binary,
            "-F",
            "--no-caps",
            "-f",
            conf_path,
            "-p",
            os.path.join(w, "syslog-ng.pid"),
            "-R",
            os.path.join(w, "syslog-ng.persist"),
            "-c",
            os.path.join(w, "syslog-ng.ctl"),
        ]
        dirs = _unpacked_dirs(self.binary)
        if dirs:
            cmd.append(f"--module-path={dirs[1]}")
        return cmd
