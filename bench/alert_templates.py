"""Alert rule templates by topic (kernel, sshd, nginx, databases, TLS, ...): each family draws
one (slug, regex) at a time from its templates, filled with words from `bench.alert_vocab`.

Regexes keep to what hyperscan compiles: no back-references, no look-around, nothing that can
match the empty string. Words are escaped with `_e` (metacharacters only, so the patterns read
like hand-written ones).
"""

from __future__ import annotations

import functools
import random
import re
import string
from typing import NamedTuple

from bench.alert_vocab import (
    APP_EXCEPTIONS,
    DATABASES,
    DEVS,
    DOMAINS,
    EXIT_CODES,
    GO_PANICS,
    HTTP_METHODS,
    HUNG_TASK_SECONDS,
    JAVA_EXCEPTIONS,
    K8S_REASONS,
    KERNEL_PANICS,
    LIBS,
    MOUNTS,
    NIC_DRIVERS,
    NICS,
    PORTS,
    PROCS,
    PY_EXCEPTIONS,
    PY_KEYS,
    RESOURCES,
    SEGV_ERRORS,
    SERVICES,
    SIGNALS,
    TABLES,
    TLS_ERRORS,
    UNIT_RESULTS,
    UNITS,
    USERS,
)

_META = re.compile(r"([.^$*+?()\[\]{}|\\])")


def _e(word) -> str:
    """A word as a regex literal."""
    return _META.sub(r"\\\1", str(word))


def _ip_prefix(rng: random.Random) -> str:
    """An address prefix as operators write them: a private range or a public /16 or /24. (No /8:
    the traffic's addresses are uniform over the first octet, so /8 rules would match often
    enough, summed over thousands of rules, to make the match rate grow with the rule count.)"""
    a, b, c, p = rng.randint(1, 223), rng.randrange(256), rng.randrange(256), rng.randint(16, 31)
    return rng.choice([rf"10\.{b}\.", rf"192\.168\.{c}\.", rf"172\.{p}\.", rf"{a}\.{b}\.", rf"{a}\.{b}\.{c}\."])


def _host(rng: random.Random) -> str:
    return _e(f"{rng.choice(SERVICES)}.{rng.choice(DOMAINS)}")


def _pick(values: list, escape: bool = True):
    return lambda rng: _e(rng.choice(values)) if escape else str(rng.choice(values))


# How each template field is drawn, as regex text; only the fields a template names are drawn.
FIELDS = {
    "proc": _pick(PROCS),
    "lib": _pick(LIBS),
    "segv": _pick(SEGV_ERRORS),
    "dev": _pick(DEVS),
    "nic": _pick(NICS),
    "drv": _pick(NIC_DRIVERS),
    "secs": _pick(HUNG_TASK_SECONDS),
    "kpanic": _pick(KERNEL_PANICS),
    "syn_port": lambda rng: str(rng.choice(PORTS + [rng.randint(1024, 65535)])),
    "dimm": lambda rng: f"{rng.choice('ABCDEFGH')}{rng.randint(1, 4)}",
    "user": _pick(USERS),
    "ipp": _ip_prefix,
    "host": _host,
    "svc": _pick(SERVICES),
    "dep": _pick(SERVICES),
    "dom": _pick(DOMAINS),
    "port": _pick(PORTS),
    "table": _pick(TABLES),
    "db": _pick(DATABASES),
    "mount": _pick(MOUNTS),
    "tls_err": _pick(TLS_ERRORS),
    "method": _pick(HTTP_METHODS),
    "path": lambda rng: _e(f"/api/v{rng.randint(1, 3)}/{rng.choice(RESOURCES)}"),
    "status": _pick([r"5\d\d", "50[234]", "500", "502", "503", "504"], escape=False),
    "java": _pick(JAVA_EXCEPTIONS),
    "pyexc": _pick(PY_EXCEPTIONS),
    "app_exc": _pick(APP_EXCEPTIONS),
    "pykey": _pick(PY_KEYS),
    "gopanic": _pick(GO_PANICS, escape=False),
    "unit": _pick(UNITS),
    "sig": _pick(SIGNALS),
    "unit_result": _pick(UNIT_RESULTS),
    "code": _pick(EXIT_CODES),
    "reason": _pick(K8S_REASONS),
}


class Family(NamedTuple):
    name: str
    app: str  # for `where = "app:..."`; "" = its rules never get one
    severity: str
    team: str
    weight: int  # how often it is drawn, roughly how many rules of it a real file has
    slug: str  # the field that names a rule, where its template has it (else its first field)
    templates: list[str]  # regexes with {field}s (str.format: literal braces doubled)

    def make(self, rng: random.Random) -> tuple[str, str]:
        """One (slug, pattern): a template, its fields drawn."""
        template = rng.choice(self.templates)
        names = _fields(template)
        values = {f: FIELDS[f](rng) for f in names}
        pattern = template.format(**values)
        if names:
            field = self.slug if self.slug in values else names[0]
            # A bare number says little in a rule's name: "syn_port-8080", "code-137".
            return (f"{field}-{values[field]}" if values[field].isdigit() else values[field]), pattern
        return "-".join(re.findall(r"[A-Za-z0-9_]+", pattern)[:3]), pattern


@functools.lru_cache(maxsize=None)
def _fields(template: str) -> list[str]:
    return list(dict.fromkeys(f for _, f, _, _ in string.Formatter().parse(template) if f))


FAMILIES = [
    Family(
        "kernel-segfault",
        "kernel",
        "critical",
        "platform",
        3,
        "proc",
        [
            r"{proc}\[\d+\]: segfault at [0-9a-f]+ ip [0-9a-f]+ sp [0-9a-f]+ error {segv}",
            r"{proc}\[\d+\]: segfault at [0-9a-f]+ .* in {lib}\[",
        ],
    ),
    # "java" is not in PROCS: the traffic's OOM line kills java (see bench.alert_vocab).
    Family(
        "kernel-oom",
        "kernel",
        "critical",
        "platform",
        3,
        "proc",
        [
            r"Out of memory: Kill(ed)? process \d+ \({proc}\)",
            r"Memory cgroup out of memory: Kill(ed)? process \d+ \({proc}\)",
            r"oom-kill:constraint=CONSTRAINT_\w+,.*task={proc},",
            r"{proc} invoked oom-killer: gfp_mask=0x[0-9a-f]+",
        ],
    ),
    Family(
        "kernel-io",
        "kernel",
        "critical",
        "storage",
        3,
        "dev",
        [
            r"blk_update_request: (I/O|critical medium) error, dev {dev}, sector \d+",
            r"Buffer I/O error on dev {dev}\d*, logical block \d+",
            r"EXT4-fs error \(device {dev}\d*\): \w+",
            r"XFS \({dev}\d*\): metadata I/O error",
            r"md/raid\d+:md\d+: Disk failure on {dev}\d*, disabling device",
            r"Device: /dev/{dev}( \[SAT\])?, \d+ Currently unreadable \(pending\) sectors",
            r"print_req_error: I/O error, dev {dev}, sector \d+",
        ],
    ),
    Family(
        "kernel-link",
        "kernel",
        "warning",
        "network",
        2,
        "nic",
        [
            r"{nic}: Link is Down",
            r"{drv} [0-9a-f]{{4}}:[0-9a-f]{{2}}:[0-9a-f]{{2}}\.\d {nic}: NIC Link is Down",
            r"bond\d+: (\(slave )?{nic}\)?: link status definitely down",
            r"NETDEV WATCHDOG: {nic} \({drv}\): transmit queue \d+ timed out",
            r"{drv} .*{nic}: (Detected Tx Unit Hang|Reset adapter)",
        ],
    ),
    Family(
        "kernel",
        "kernel",
        "warning",
        "platform",
        2,
        "proc",
        [
            r"INFO: task {proc}:\d+ blocked for more than {secs} seconds",
            r"watchdog: BUG: soft lockup - CPU#\d+ stuck for \d+s! \[{proc}:\d+\]",
            r"Possible SYN flooding on port {syn_port}\. ",
            r"EDAC MC\d: \d+ (CE|UE) .* on DIMM_{dimm}",
            r"Kernel panic - not syncing: {kpanic}",
            r"nf_conntrack: (nf_conntrack: )?table full, dropping packet",
            r"TCP: out of memory -- consider tuning tcp_mem",
            r"neighbour: arp_cache: neighbor table overflow!",
            r"mce: \[Hardware Error\]: Machine check events logged",
        ],
    ),
    Family(
        "sshd",
        "sshd",
        "warning",
        "security",
        7,
        "user",
        [
            r"Failed password for (invalid user )?{user} from {ipp}",
            r"Failed password for {user} from {ipp}",
            r"Invalid user {user} from {ipp}",
            r"Accepted (password|publickey) for {user} from {ipp}",
            r"error: maximum authentication attempts exceeded for (invalid user )?{user} from {ipp}",
            r"Disconnected from (invalid|authenticating) user {user} {ipp}[0-9.]* port \d+ \[preauth\]",
            r"Connection closed by (authenticating|invalid) user {user} {ipp}[0-9.]* port \d+",
            r"Received disconnect from {ipp}[0-9.]* port \d+:11: .*\[preauth\]",
            r"pam_unix\(sshd:auth\): authentication failure; .*rhost={ipp}[0-9.]* +user={user}",
        ],
    ),
    Family(
        "sudo",
        "sudo",
        "warning",
        "security",
        1,
        "user",
        [
            r"{user} : user NOT in sudoers",
            r"{user} : \d+ incorrect password attempts",
            r"pam_unix\(sudo:auth\): authentication failure; .*ruser={user} ",
        ],
    ),
    Family("nginx-5xx", "nginx", "critical", "web", 5, "path", [r'"{method} {path}[^"]* HTTP/[0-9.]+" {status} ']),
    Family(
        "upstream",
        "nginx",
        "warning",
        "web",
        4,
        "host",
        [
            r"upstream timed out \(110: Connection timed out\) while (reading response header from|connecting to) "
            r"upstream, .*server: {host}",
            r'connect\(\) failed \(111: Connection refused\) while connecting to upstream, .*upstream: "http://{ipp}',
            r"no live upstreams while connecting to upstream, .*server: {host}",
            r"recv\(\) failed \(104: Connection reset by peer\) while reading response header from upstream, "
            r".*server: {host}",
            r'limiting requests, excess: [0-9.]+ by zone "{svc}", client: {ipp}',
            r'msg="upstream timeout" upstream={ipp}',
            r"Server {svc}(_backend)?/\S+ is DOWN, reason: Layer(4 timeout|4 connection problem|7 wrong status)",
        ],
    ),
    Family(
        "timeout",
        "",
        "warning",
        "sre",
        4,
        "svc",
        [
            r"{svc}: (request|call) to {dep} timed out after \d+ ?ms",
            r"context deadline exceeded.*{host}",
            r"ReadTimeout: HTTPSConnectionPool\(host='{host}', port={port}\): Read timed out",
            r"java\.net\.SocketTimeoutException: (Read|Connect) timed out.*{svc}",
            r"upstream request timeout.*cluster: {svc}",
            r"Lock wait timeout exceeded; try restarting transaction.*{table}",
        ],
    ),
    Family(
        "conn",
        "",
        "warning",
        "sre",
        4,
        "host",
        [
            r"dial tcp {ipp}[0-9.]*:{port}: connect: connection refused",
            r"dial tcp: lookup {host}( on [0-9.:]+)?: no such host",
            r"read tcp [0-9.]+:\d+->{ipp}[0-9.]*:{port}: read: connection reset by peer",
            r"java\.net\.ConnectException: Connection refused.*{host}",
            r'connection to server at "{svc}-db\.{dom}" \([0-9.]+\), port 5432 failed: Connection refused',
            r"Error: connect ECONNREFUSED {ipp}[0-9.]*:{port}",
            r"ECONNRESET.*{host}",
        ],
    ),
    Family(
        "postgres",
        "postgres",
        "critical",
        "dba",
        3,
        "table",
        [
            r"(ERROR|FATAL): +deadlock detected.*{table}",
            r"ERROR: +could not serialize access due to concurrent update.*{table}",
            r'ERROR: +duplicate key value violates unique constraint "{table}_pkey"',
            r'ERROR: +relation "{table}" does not exist',
            r'null value in column "\w+" of relation "{table}" violates not-null constraint',
            r'FATAL: +too many connections for role "{user}"',
            r'FATAL: +password authentication failed for user "{user}"',
            r'FATAL: +database "{db}" does not exist',
            r"duration: \d{{5,}}(\.\d+)? ms +(statement|execute [^:]+): (UPDATE|DELETE FROM|INSERT INTO) {table}",
            r"remaining connection slots are reserved for non-replication superuser connections",
        ],
    ),
    Family(
        "db",
        "",
        "critical",
        "dba",
        1,
        "db",
        [
            r"Deadlock found when trying to get lock; try restarting transaction.*{table}",
            r"Aborted connection \d+ to db: '{db}' user: '{user}'",
            r"ERROR 1040 \(HY000\): Too many connections",
            r"MISCONF Redis is configured to save RDB snapshots",
            r"OOM command not allowed when used memory > 'maxmemory'",
        ],
    ),
    Family(
        "disk-full",
        "",
        "critical",
        "storage",
        2,
        "mount",
        [
            r"{mount}[^ ]*: No space left on device",
            r"DISK CRITICAL - free space: {mount} \d+ MB \([0-4](\.\d+)?%",
            r"{mount}: write failed, filesystem is full",
            r"EXT4-fs warning \(device {dev}\d*\): ext4_dx_add_entry:.*Directory index full",
            r'could not (write to|extend) file "[^"]+": No space left on device',
            r"failed to register layer: .*no space left on device",
            r"inode usage (9\d|100)% on {mount}",
        ],
    ),
    Family(
        "tls",
        "",
        "warning",
        "security",
        3,
        "host",
        [
            r"x509: certificate has expired or is not yet valid.*{host}",
            r"SSL_do_handshake\(\) failed \(SSL: error:[0-9A-F]+:SSL routines:.*{tls_err}.*server: {host}",
            r"certificate for {host} expires in [0-9] days?",
            r"(?i)ssl certificate .*{host}.* (has expired|expires)",
            r"javax\.net\.ssl\.SSLHandshakeException: PKIX path (building|validation) failed.*{host}",
            r"Failed to renew certificate {host}",
            r"http: TLS handshake error from {ipp}[0-9.]*:\d+: .*{tls_err}",
        ],
    ),
    Family(
        "exception",
        "app",
        "warning",
        "dev",
        6,
        "svc",
        [
            r"{java}",
            r"{java}: .*{svc}",
            r"com\.example\.{svc}\.[A-Za-z.]*{app_exc}Exception",
            r"{pyexc}: .*{svc}",
            r"KeyError: '{pykey}'",  # Python quotes a missing key: a pattern with a single quote
            r'File "/srv/{svc}/[^"]+\.py", line \d+, in \w+',
            r"{svc}(-api|-worker)?: panic: {gopanic}",
            r"UnhandledPromiseRejection.*{svc}",
            r"(?i)license (key )?(for {svc} )?(has )?expired",
            r"Traceback \(most recent call last\)",
            r"fatal error: concurrent map writes",
            r"fatal error: all goroutines are asleep - deadlock!",
            r"FATAL ERROR: .*JavaScript heap out of memory",
        ],
    ),
    Family(
        "systemd",
        "systemd",
        "warning",
        "platform",
        3,
        "unit",
        [
            r"{unit}\.service: Main process exited, code=(killed|dumped), status=\d+/{sig}",
            r"{unit}\.service: Failed with result '{unit_result}'",
            r"{unit}\.service: Start request repeated too quickly",
            r"{unit}\.service: Watchdog timeout \(limit \d+\w*\)",
            r"{unit}\.service: Scheduled restart job, restart counter is at (\d{{2,}}|[5-9])\.",
        ],
    ),
    Family(
        "containers",
        "dockerd",
        "warning",
        "platform",
        3,
        "svc",
        [
            r"container [0-9a-f]+ exited with code {code}",
            r"Back-off restarting failed container {svc}(-\w+)? in pod {svc}-[a-z0-9]+-[a-z0-9]{{5}}",
            r"Liveness probe failed: .*{svc}",
            r"Readiness probe failed: HTTP probe failed with statuscode: 5\d\d.*{svc}",
            r"pod {svc}-[a-z0-9-]+ .*{reason}",
            r"OCI runtime (create|exec) failed: .*{svc}",
        ],
    ),
]
