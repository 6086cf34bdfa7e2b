"""Realistic syslog traffic, pre-rendered: templates of what busy hosts log (sshd, nginx, kernel,
cron, postgres, an app logging key=value), filled with varying hosts, apps, pids, IPs, users and
durations from a seeded random generator, so runs are repeatable and the sender never becomes
the bottleneck (it only replays bytes).

Also a loghub replay: the lines of `../shared/corpus/loghub/*_2k.log` wrapped in syslog headers.
"""

from __future__ import annotations

import pathlib
import random
import time

USERS = ["root", "admin", "deploy", "alice", "bob", "carol", "postgres", "www-data", "ubuntu", "git"]
PATHS = ["/", "/api/v1/users", "/api/v1/orders", "/login", "/static/app.js", "/healthz", "/metrics", "/search"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
STATUS = [200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503]
LEVELS = ["info", "info", "info", "debug", "warn", "error"]

# (app, severity, template); fields in {} are filled per message.
TEMPLATES = [
    ("sshd", 6, "Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{hash}"),
    ("sshd", 4, "Failed password for {user} from {ip} port {port} ssh2"),
    ("sshd", 6, "pam_unix(sshd:session): session opened for user {user} by (uid=0)"),
    ("sshd", 5, "Invalid user {user} from {ip} port {port}"),
    ("nginx", 6, '{ip} - - "{method} {path} HTTP/1.1" {status} {bytes} "-" "Mozilla/5.0" rt={dur}'),
    ("kernel", 4, "[{uptime}] TCP: request_sock_TCP: Possible SYN flooding on port {port}. Sending cookies."),
    ("kernel", 3, "[{uptime}] Out of memory: Killed process {pid2} (java) total-vm:{bytes}kB"),
    ("CRON", 6, "({user}) CMD (run-parts /etc/cron.hourly)"),
    ("postgres", 6, "LOG:  duration: {dur} ms  statement: SELECT * FROM orders WHERE id = {num}"),
    ("app", 6, "level={level} msg=\"request done\" method={method} path={path} status={status} duration_ms={dur} user={user} trace_id={hash}"),
    ("app", 3, "level=error msg=\"upstream timeout\" upstream={ip}:{port} attempt={small} duration_ms={dur}"),
    ("systemd", 6, "Started Session {num} of user {user}."),
    ("dockerd", 6, "time=\"2026-11-22T10:00:00Z\" level={level} msg=\"container {hash} exited with code {small}\""),
]


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        user=rng.choice(USERS),
        ip=f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        port=rng.randint(1024, 65535),
        hash="%016x" % rng.getrandbits(64),
        method=rng.choice(METHODS),
        path=rng.choice(PATHS),
        status=rng.choice(STATUS),
        bytes=rng.randint(100, 500000),
        dur=rng.randint(1, 3000),
        uptime=f"{rng.uniform(1, 900000):.6f}",
        pid2=rng.randint(100, 99999),
        num=rng.randint(1, 10_000_000),
        level=rng.choice(LEVELS),
        small=rng.randint(0, 9),
    )


def messages(count: int, seed: int = 42, rfc5424: bool = False, hosts: int = 50,
             now: float | None = None) -> list[bytes]:
    """`count` distinct syslog messages (without framing). Timestamps advance from `now`."""
    rng = random.Random(seed)
    start = time.time() if now is None else now
    host_names = [f"web-{i:02d}.prod.example.com" if i % 3 else f"db-{i:02d}" for i in range(hosts)]
    out = []
    for i in range(count):
        app, sev, template = TEMPLATES[rng.randrange(len(TEMPLATES))]
        host = host_names[rng.randrange(hosts)]
        pid = rng.randint(100, 65000)
        pri = (rng.choice((1, 3, 4, 10, 16)) * 8) + sev
        t = start + i * 1e-4
        body = _fill(rng, template)
        if rfc5424:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1e6) % 1_000_000:06d}Z"
            out.append(f"<{pri}>1 {stamp} {host} {app} {pid} - - {body}".encode())
        else:
            stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(t))
            out.append(f"<{pri}>{stamp} {host} {app}[{pid}]: {body}".encode())
    return out


def loghub_messages(corpus: pathlib.Path, rfc5424: bool = True) -> list[bytes]:
    """Every loghub line as the MSG of a syslog message (app = the system's name)."""
    out = []
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        system = path.name.split("_")[0].encode()
        for line in path.read_bytes().split(b"\r\n"):
            if line:
                if rfc5424:
                    out.append(b"<14>1 %s loghub %s - - - %s" % (stamp.encode(), system, line))
                else:
                    out.append(b"<14>%s loghub %s: %s" % (time.strftime("%b %d %H:%M:%S").encode(), system, line))
    return out


def frame(messages_: list[bytes], framing: str) -> bytes:
    """A TCP stream: LF-terminated lines or RFC 6587 octet counting."""
    if framing == "octet":
        return b"".join(b"%d %s" % (len(m), m) for m in messages_)
    return b"\n".join(messages_) + b"\n"
