"""The logjet targets of one `logjet bench ingest` run: the engine as configured, one more per
`--alert-rules N`, with `--with-auth` one with API auth on, and with `--beside-proto P` the
same engine fed over protocol P (its own pool of messages); and how each is compared with the
first (`compare`).

Every target gets the same engine arguments and, where the run needs one, the same configuration
file (the TLS certificate made for the run, a longer start timeout when there are rules); a
variant adds only what it is about: its rules file, or its token file and `anonymous = "none"`.
Each says how its HTTP API is reached (`HttpAccess`: HTTPS with `--http-tls`, its token).
"""

from __future__ import annotations

import os
import pathlib
import statistics
from typing import NamedTuple

from bench import alert_rules, tlscert, tomlw
from bench.http_access import HttpAccess
from engine.auth.tokens import new_token

# Compiling thousands of patterns (hyperscan) makes start-up slower: about 10 s for 10,000 on one core.
RULES_START_TIMEOUT_S = 600.0
AUTH_TARGET = "logjet+auth"
AUTH_TOKEN_NAME = "bench"


class LogjetSpec(NamedTuple):
    name: str
    engine_args: list[str]
    rules: int = 0  # 0 = no rules file
    start_timeout: float | None = None  # None: EngineProcess's default
    access: HttpAccess = HttpAccess()
    proto: str = ""  # "": the run's --proto; else --beside-proto, the same engine over another protocol


def rules_target(rules: int) -> str:
    return f"logjet+{rules} rules"


def beside_target(proto: str) -> str:
    return f"logjet/{proto}"


def logjet_specs(args, tmp: str, engine_args: list[str]) -> list[LogjetSpec]:
    """The logjet targets of a run, the plain one first. Writes their files (configuration,
    certificate, rules, tokens) into `tmp`."""
    counts = list(dict.fromkeys(getattr(args, "alert_rules", None) or []))  # in the order given, once each
    with_auth = getattr(args, "with_auth", False)
    http_tls = getattr(args, "http_tls", False)
    if any(n < 1 for n in counts):
        raise SystemExit("logjet bench ingest: --alert-rules needs a count of at least 1")
    if args.url:
        if counts or with_auth or http_tls:
            raise SystemExit(
                "logjet bench ingest: --alert-rules, --with-auth and --http-tls need an engine the bench starts "
                "(not --url)"
            )
        token = getattr(args, "token", None) or os.environ.get("LOGJET_TOKEN")
        access = HttpAccess.for_url(args.url, token, args.ca_file)
        return [LogjetSpec("logjet", engine_args, access=access), *_beside(args, engine_args, access)]
    tables: dict[str, dict] = {}
    shared = list(engine_args)  # every target's arguments but the configuration file
    access = HttpAccess()
    if getattr(args, "proto", "") == "tls" or http_tls:
        cert = tlscert.make_self_signed(pathlib.Path(tmp) / "tls", "server")
        tables["tls"] = {"cert_file": str(cert.cert), "key_file": str(cert.key)}
        if args.proto == "tls":
            shared += ["--syslog-tls", "127.0.0.1:0"]
        if http_tls:
            shared.append("--http-tls")
            access = HttpAccess(tls=True, ca_file=str(cert.cert))
    if counts:
        tables["supervisor"] = {"start_timeout": f"{RULES_START_TIMEOUT_S:.0f}s"}
    common = ["--config", _write_config(tmp, "logjet-bench.toml", tables), *shared] if tables else shared
    specs = [LogjetSpec("logjet", common, access=access)]
    # Our own wait is longer than the supervisor's, so a slow start fails with the engine's reason.
    wait = RULES_START_TIMEOUT_S + 60
    for n in counts:
        path = alert_rules.write(os.path.join(tmp, f"alert-rules-{n}.toml"), n, seed=args.seed)
        specs.append(LogjetSpec(rules_target(n), [*common, "--alert-rules", path], n, wait, access))
    if with_auth:
        specs.append(_auth_spec(tmp, tables, shared, access))
    return specs + _beside(args, common, access)


def _beside(args, engine_args: list[str], access: HttpAccess) -> list[LogjetSpec]:
    """The target fed over --beside-proto, if the run has one (and it is not --proto itself)."""
    beside = getattr(args, "beside_proto", None)
    if not beside or beside == args.proto:
        return []
    return [LogjetSpec(beside_target(beside), engine_args, access=access, proto=beside)]


def _auth_spec(tmp: str, tables: dict[str, dict], args: list[str], access: HttpAccess) -> LogjetSpec:
    """The engine with API auth on: tokens required from everyone, loopback included, and a token
    with the ingest role that the senders send."""
    token, entry = new_token(AUTH_TOKEN_NAME, ["ingest"])
    auth_file = os.path.join(tmp, "auth.toml")
    fd = os.open(auth_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(entry)
    config = _write_config(tmp, "logjet-bench-auth.toml", {**tables, "auth": {"anonymous": "none"}})
    return LogjetSpec(
        AUTH_TARGET, ["--config", config, *args, "--auth-file", auth_file], access=access._replace(token=token)
    )


def _write_config(tmp: str, name: str, tables: dict[str, dict]) -> str:
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("\n".join(tomlw.table(header, items) for header, items in tables.items()))
    return path


def compare(runs: dict[str, list[dict]], targets: dict[str, dict], name: str, base: str = "logjet") -> dict:
    """Target `name` against `base`: the ratio of the median throughputs, the ratios per repeat
    (the two runs were neighbours in time, so drift on the machine mostly cancels in each), and
    the ratio of CPU per message. A ratio is None where either figure is missing."""
    t, b = targets[name], targets[base]
    ratio = round(t["msgs_per_s"] / b["msgs_per_s"], 3) if t["msgs_per_s"] and b["msgs_per_s"] else None
    paired = [
        round(w["msgs_per_s"] / o["msgs_per_s"], 3)
        for o, w in zip(runs[base], runs[name])
        if o["msgs_per_s"] and w["msgs_per_s"]
    ]
    cpu = (
        round(t["cpu_s_per_million"] / b["cpu_s_per_million"], 3)
        if t["cpu_s_per_million"] and b["cpu_s_per_million"]
        else None
    )
    return {
        "msgs_per_s": t["msgs_per_s"],
        "base_msgs_per_s": b["msgs_per_s"],
        "ratio": ratio,
        "cost_pct": round(100 * (1 - ratio), 1) if ratio is not None else None,
        "paired_ratios": paired,
        "paired_median": round(statistics.median(paired), 3) if paired else None,
        "cpu_ratio": cpu,
    }
