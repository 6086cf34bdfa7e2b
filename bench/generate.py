"""Realistic syslog traffic, pre-rendered: templates of what busy hosts log (sshd, nginx, kernel,
cron, postgres, an app logging key=value), filled with varying hosts, apps, pids, IPs, users and
durations from a seeded random generator, so runs are repeatable and the sender never becomes
the bottleneck (it only replays bytes).

Also a loghub replay: the lines of `../shared/corpus/loghub/*_2k.log` wrapped in syslog headers
(or JSON objects, for HTTP), and latency probes that carry their send time.
"""

from __future__ import annotations

import functools
import json
import pathlib
import random
import string
import time
from typing import NamedTuple

USERS = ["root", "admin", "deploy", "alice", "bob", "carol", "postgres", "www-data", "ubuntu", "git"]
PATHS = ["/", "/api/v1/users", "/api/v1/orders", "/login", "/static/app.js", "/healthz", "/metrics", "/search"]
METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
STATUS = [200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 500, 502, 503]
LEVELS = ["info", "info", "info", "debug", "warn", "error"]
FACILITIES = (1, 3, 4, 10, 16)  # user, daemon, auth, authpriv, local0
SEVERITY_NAMES = ["emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"]
# App name of latency probes: rare enough that no generated or replayed message uses it.
PROBE_APP = "ljprobe"

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
    (
        "app",
        6,
        'level={level} msg="request done" method={method} path={path} status={status} duration_ms={dur} '
        "user={user} trace_id={hash}",
    ),
    ("app", 3, 'level=error msg="upstream timeout" upstream={ip}:{port} attempt={small} duration_ms={dur}'),
    ("systemd", 6, "Started Session {num} of user {user}."),
    ("dockerd", 6, 'time="2026-11-22T10:00:00Z" level={level} msg="container {hash} exited with code {small}"'),
]


def _int(lo: int, hi: int):
    span = hi - lo + 1
    return lambda rng: lo + int(rng.random() * span)


def _pick(values: list):
    return lambda rng: values[int(rng.random() * len(values))]


# How each template field is drawn; only the fields a template names are drawn for it.
FIELDS = {
    "user": _pick(USERS),
    "ip": lambda rng: (
        "%d.%d.%d.%d"
        % (1 + int(rng.random() * 223), int(rng.random() * 256), int(rng.random() * 256), 1 + int(rng.random() * 254))
    ),
    "port": _int(1024, 65535),
    "hash": lambda rng: "%016x" % rng.getrandbits(64),
    "method": _pick(METHODS),
    "path": _pick(PATHS),
    "status": _pick(STATUS),
    "bytes": _int(100, 500000),
    "dur": _int(1, 3000),
    "uptime": lambda rng: "%.6f" % (1 + rng.random() * 900000),
    "pid2": _int(100, 99999),
    "num": _int(1, 10_000_000),
    "level": _pick(LEVELS),
    "small": _int(0, 9),
}
_TEMPLATE_FIELDS = {t: [f for _, f, _, _ in string.Formatter().parse(t) if f] for _, _, t in TEMPLATES}


def _fill(rng: random.Random, template: str) -> str:
    return template.format(**{f: FIELDS[f](rng) for f in _TEMPLATE_FIELDS[template]})


class Record(NamedTuple):
    """One generated log event, before it is rendered as syslog or JSON."""

    time: float
    pri: int
    host: str
    app: str
    pid: int
    level: str
    body: str


def records(count: int, seed: int = 42, hosts: int = 50, now: float | None = None) -> list[Record]:
    """`count` distinct events from the templates; timestamps advance 0.1 ms apart from `now`."""
    rng = random.Random(seed)
    start = time.time() if now is None else now
    host_names = [f"web-{i:02d}.prod.example.com" if i % 3 else f"db-{i:02d}" for i in range(hosts)]
    out = []
    for i in range(count):
        app, sev, template = TEMPLATES[int(rng.random() * len(TEMPLATES))]
        host = host_names[int(rng.random() * hosts)]
        pid = 100 + int(rng.random() * 64901)
        pri = FACILITIES[int(rng.random() * len(FACILITIES))] * 8 + sev
        out.append(Record(start + i * 1e-4, pri, host, app, pid, SEVERITY_NAMES[sev], _fill(rng, template)))
    return out


@functools.lru_cache(maxsize=4096)
def _stamp(second: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(second))


def _rfc3339(t: float) -> str:
    return _stamp(int(t), "%Y-%m-%dT%H:%M:%S") + f".{int(t * 1e6) % 1_000_000:06d}Z"


def render_syslog(r: Record, rfc5424: bool) -> bytes:
    if rfc5424:
        return f"<{r.pri}>1 {_rfc3339(r.time)} {r.host} {r.app} {r.pid} - - {r.body}".encode()
    return f"<{r.pri}>{_stamp(int(r.time), '%b %d %H:%M:%S')} {r.host} {r.app}[{r.pid}]: {r.body}".encode()


def render_json(r: Record) -> bytes:
    """One NDJSON object in the shape of a structured application log."""
    return json.dumps(
        {"time": _rfc3339(r.time), "host": r.host, "app": r.app, "level": r.level, "pid": r.pid, "msg": r.body},
        separators=(",", ":"),
    ).encode()


def render_ecs(r: Record) -> bytes:
    """One document as Filebeat sends it to Elasticsearch: ECS names, nested objects."""
    return json.dumps(
        {
            "@timestamp": _rfc3339(r.time),
            "message": r.body,
            "log": {"level": r.level, "file": {"path": f"/var/log/{r.app}.log"}},
            "host": {"name": r.host},
            "service": {"name": r.app},
            "process": {"pid": r.pid},
            "agent": {"type": "filebeat", "version": "8.17.0"},
            "ecs": {"version": "8.0.0"},
        },
        separators=(",", ":"),
    ).encode()


def messages(
    count: int, seed: int = 42, rfc5424: bool = False, hosts: int = 50, now: float | None = None
) -> list[bytes]:
    """`count` distinct syslog messages (without framing). Timestamps advance from `now`."""
    return [render_syslog(r, rfc5424) for r in records(count, seed, hosts, now)]


def json_messages(count: int, seed: int = 42, hosts: int = 50, now: float | None = None) -> list[bytes]:
    """`count` distinct NDJSON lines (without the newline) for HTTP ingest."""
    return [render_json(r) for r in records(count, seed, hosts, now)]


def ecs_documents(count: int, seed: int = 42, hosts: int = 50, now: float | None = None) -> list[bytes]:
    """`count` distinct Filebeat-shaped documents (without the newline) for Elasticsearch bulk."""
    return [render_ecs(r) for r in records(count, seed, hosts, now)]


def loghub_lines(corpus: pathlib.Path) -> list[tuple[str, bytes]]:
    """(system, line) of every line of every loghub sample, in file order."""
    out = []
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        system = path.name.split("_")[0]
        out.extend((system, line) for line in path.read_bytes().split(b"\r\n") if line)
    if not out:
        raise FileNotFoundError(f"no loghub samples (*_2k.log) under {corpus / 'loghub'}")
    return out


def loghub_messages(corpus: pathlib.Path, rfc5424: bool = True) -> list[bytes]:
    """Every loghub line as the MSG of a syslog message (app = the system's name)."""
    out = []
    if rfc5424:
        head = "<14>1 %s loghub {} - - - " % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    else:
        head = "<14>%s loghub {}: " % time.strftime("%b %d %H:%M:%S", time.gmtime())
    for system, line in loghub_lines(corpus):
        out.append(head.format(system).encode() + line)
    return out


@functools.lru_cache(maxsize=2)
def _loghub_cached(corpus: pathlib.Path) -> tuple[tuple[str, bytes], ...]:
    return tuple(loghub_lines(corpus))


REPLAY_HOSTS = 10  # each pass over the samples comes from the next of these hosts


def loghub_replay(corpus: pathlib.Path, count: int, offset: int = 0, now: float | None = None) -> list[bytes]:
    """`count` loghub lines from line `offset` of the samples on (starting over at their end),
    each the MSG of an RFC 3164 message stamped 0.1 ms after the one before from `now`, app = the
    system's name, host `replay-NN` (NN = the pass over the samples, modulo REPLAY_HOSTS)."""
    lines = _loghub_cached(corpus)
    start = time.time() if now is None else now
    out = []
    for i in range(count):
        k = offset + i
        system, line = lines[k % len(lines)]
        host = "replay-%02d" % (k // len(lines) % REPLAY_HOSTS)
        stamp = _stamp(int(start + i * 1e-4), "%b %d %H:%M:%S")
        out.append(f"<14>{stamp} {host} {system}: ".encode() + line)
    return out


def loghub_json(corpus: pathlib.Path) -> list[bytes]:
    """Every loghub line as an NDJSON object (host "loghub", app = the system's name)."""
    return [
        json.dumps(
            {"host": "loghub", "app": system, "msg": line.decode("utf-8", "replace")}, separators=(",", ":")
        ).encode()
        for system, line in loghub_lines(corpus)
    ]


def probe(seq: int, sent_ns: int | None, fmt: str) -> bytes:
    """A latency probe (unframed): app `PROBE_APP`, its send time in the message as `sent_ns=`
    (`warmup=1` instead when `sent_ns` is None). `fmt` is "syslog" or "json"; `bench.latency`
    finds probes by app and reads `sent_ns` back."""
    stamp = b"warmup=1" if sent_ns is None else b"sent_ns=%d" % sent_ns
    if fmt == "json":
        return b'{"app":"%s","host":"bench","msg":"probe seq=%d %s"}' % (PROBE_APP.encode(), seq, stamp)
    return b"<14>1 - bench %s - - - probe seq=%d %s" % (PROBE_APP.encode(), seq, stamp)


def frame(messages_: list[bytes], framing: str) -> bytes:
    """A TCP stream: LF-terminated lines or RFC 6587 octet counting."""
    if framing == "octet":
        return b"".join(b"%d %s" % (len(m), m) for m in messages_)
    return b"\n".join(messages_) + b"\n"
