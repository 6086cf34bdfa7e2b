"""The `logjet` command: serve, query, and the commands other packages plug in (`logjet bench`).
Nothing else imports this module."""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import entry_points
from typing import Callable

from engine import __version__

# Entry point group of plug-in commands: each entry point names a `register(commands)` that adds
# its sub-parser to `commands` and sets `func`. The benchmark harness is one
# (pyproject.toml: bench = "bench.cli:register"), so the engine never imports bench.
COMMANDS_GROUP = "logjet.commands"

log = logging.getLogger("logjet")


def _serve_overrides(args: argparse.Namespace) -> dict[str, object]:
    o: dict[str, object] = {}
    if args.data_dir:
        o["data_dir"] = args.data_dir
    for flag, key in (
        ("syslog_tcp", "listen.syslog_tcp"),
        ("syslog_udp", "listen.syslog_udp"),
        ("syslog_tls", "listen.syslog_tls"),
        ("http", "listen.http"),
        ("receivers", "workers.receivers"),
        ("parsers", "workers.parsers"),
        ("retention", "storage.retention"),
        ("alert_rules", "alerts.rules_file"),
        ("auth_file", "auth.file"),
        ("http_tls", "listen.http_tls"),
    ):
        value = getattr(args, flag)
        if value is not None:
            o[key] = value
    return o


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.config import ConfigError, load

    try:
        settings = load(args.config, _serve_overrides(args))
    except ConfigError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        if settings.alerts.rules_file:
            from engine.alert.rules import RulesError, compile_rules, load_rules

            try:
                rs = load_rules(settings.alerts.rules_file)
                compile_rules(rs)
            except RulesError as exc:
                print(f"logjet: alert rules refused: {exc}", file=sys.stderr)
                return 2
            print(f"alert rules ok: {len(rs.rules)} rules", file=sys.stderr)
        if settings.listen.syslog_tls:
            from engine.receive.tls_context import TlsConfigError, build_context

            try:
                build_context(settings.resolved().tls)
            except TlsConfigError as exc:
                print(f"logjet: syslog TLS listener refused: {exc}", file=sys.stderr)
                return 2
            print("tls files ok", file=sys.stderr)
        if settings.auth.file:
            from engine.auth.tokens import AuthFileError, load_auth_file

            try:
                tokens = load_auth_file(settings.auth.file)
            except AuthFileError as exc:
                print(f"logjet: API tokens refused: {exc}", file=sys.stderr)
                return 2
            print(f"auth file ok: {len(tokens)} tokens", file=sys.stderr)
        print("configuration ok", file=sys.stderr)
        return 0
    from engine.lifecycle.forkserver import launch_early
    from engine.lifecycle.sd_notify import Notifier

    # systemd's variables leave the environment before the fork server is exec'd: a forked
    # worker's environment block is the fork server's, and the socket is the supervisor's alone.
    notifier = Notifier.from_environ()
    # Before the supervisor's own imports (numpy, numba, hyperscan: seconds on a loaded machine),
    # so that they and the fork server's preloading run side by side.
    launch_early(settings)
    from engine.lifecycle.supervisor import serve

    return serve(settings, notifier)


def cmd_new_token(args: argparse.Namespace) -> int:
    from engine.auth.tokens import AuthFileError, new_token

    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    try:
        token, entry = new_token(args.name, roles)
    except AuthFileError as exc:
        print(f"logjet: {exc}", file=sys.stderr)
        return 2
    print(
        f"Token for {args.name!r} (shown once; logjet keeps only its hash):\n\n  {token}\n\n"
        "Add these lines to the auth file (auth.file, or --auth-file), then send SIGHUP to logjet:\n",
        file=sys.stderr,
    )
    sys.stdout.write(entry)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from engine.query.cli_query import run_query

    return run_query(args)


def cmd_tail(args: argparse.Namespace) -> int:
    from engine.query.cli_tail import run_tail

    return run_tail(args)


BUILT_IN_COMMANDS = ("serve", "query", "tail", "auth")


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """The `logjet` command's parser; `plugins`: with the plug-in commands (their loading is
    imports only a plug-in needs: `logjet serve` leaves them out, to start sooner)."""
    p = argparse.ArgumentParser(prog="logjet", description="Log collector and store for one busy host.")
    p.add_argument("--version", action="version", version=f"logjet {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "serve",
        help="run the engine in the foreground until SIGINT/SIGTERM",
        description="Run the engine until SIGINT/SIGTERM, then drain: everything accepted is "
        "written before exit. Prints the bound ports as one JSON line on stdout.",
    )
    s.add_argument("--config", help="TOML configuration file (see config/logjet.toml)")
    s.add_argument("--data-dir", help="where parts are stored (default ./data)")
    s.add_argument(
        "--syslog-tcp",
        metavar="HOST:PORT",
        help="syslog TCP listener (default 0.0.0.0:5514; port 0 = any free port; '' = off)",
    )
    s.add_argument("--syslog-udp", metavar="HOST:PORT", help="syslog UDP listener (default 0.0.0.0:5514)")
    s.add_argument(
        "--syslog-tls",
        metavar="HOST:PORT",
        help="syslog over TLS (RFC 5425, usually port 6514; default off); needs [tls] cert_file "
        "and key_file in the config",
    )
    s.add_argument("--http", metavar="HOST:PORT", help="HTTP API (default 0.0.0.0:8080)")
    s.add_argument("--receivers", type=int, help="receiver processes (default: from the core count)")
    s.add_argument("--parsers", type=int, help="parser processes (default: from the core count)")
    s.add_argument(
        "--retention", metavar="DURATION", help="keep rows this long by their _time (default 7d; 0 = keep everything)"
    )
    s.add_argument("--alert-rules", metavar="FILE", help="alert rules file (TOML, see config/alerts.toml)")
    s.add_argument("--auth-file", metavar="FILE", help="API tokens (TOML [[token]] tables; re-read on SIGHUP)")
    s.add_argument(
        "--http-tls", action="store_true", default=None, help="serve the HTTP API over TLS with the [tls] certificate"
    )
    s.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    s.set_defaults(func=cmd_serve)

    q = sub.add_parser(
        "query",
        help="query stored rows; prints NDJSON",
        description="Print matching rows (newest first) as NDJSON, or the aggregation result. "
        "The query language (filters, `| stats`, `| sort`, ..., LogsQL spellings) is in docs/query.md; "
        "the HTTP API that --url calls in docs/http-api.md. "
        "Example: logjet query --start 1h 'app:sshd \"Failed password\" | stats count() by (host)'",
    )
    src = q.add_mutually_exclusive_group()
    src.add_argument("--data-dir", help="read parts from this data dir (default ./data)")
    src.add_argument("--url", help="ask a running engine, e.g. http://127.0.0.1:8080")
    q.add_argument("--start", help="RFC 3339, epoch seconds, or relative (15m, 2h, 7d)")
    q.add_argument("--end", help="RFC 3339, epoch seconds, or relative")
    q.add_argument("--limit", type=int, help="at most this many rows")
    q.add_argument("--token", help="API token for --url (or the LOGJET_TOKEN environment variable)")
    q.add_argument("--ca-file", help="CA certificate(s) to verify an https --url with (PEM)")
    q.add_argument(
        "--context",
        type=int,
        metavar="N",
        help="print each hit with the N rows before and after it from the same host and app, in "
        "arrival order, groups separated by '--' (overlapping ones merged) and hits marked \"_hit\": true "
        "(like grep -C); "
        "lists the first 100 hits unless --limit says otherwise",
    )
    q.add_argument("query", nargs="?", default="*", help="the query (default: everything; see docs/query.md)")
    q.set_defaults(func=cmd_query)

    t = sub.add_parser(
        "tail",
        help="follow new matching rows of a running engine; prints NDJSON until Ctrl-C",
        description="Print the rows matching QUERY as they arrive at a running engine "
        "(/api/v1/tail, see docs/http-api.md), one NDJSON line each, until Ctrl-C. The query is a "
        "filter, optionally with stages that take one row at a time (fields, extract, unpack_json, "
        "unpack_logfmt, math, filter; see docs/query.md). "
        'Example: logjet tail \'app:sshd "Failed password" | extract "from <ip> " | fields _time, host, ip\'',
    )
    t.add_argument("--url", help="the engine, e.g. http://127.0.0.1:8080 (default: $LOGJET_URL or that)")
    t.add_argument("--token", help="API token (or the LOGJET_TOKEN environment variable)")
    t.add_argument("--ca-file", help="CA certificate(s) to verify an https --url with (PEM)")
    t.add_argument("query", nargs="?", default="*", help="the query (default: every row; see docs/query.md)")
    t.set_defaults(func=cmd_tail)

    a = sub.add_parser("auth", help="manage API tokens")
    auth_cmds = a.add_subparsers(dest="auth_command", required=True)
    nt = auth_cmds.add_parser(
        "new-token",
        help="make a token: prints it once (stderr) and its auth file entry (stdout)",
        description="Make an API token. The token is printed once on stderr; the auth file entry "
        "(name, scrypt hash, roles) on stdout, e.g. `logjet auth new-token grafana --roles query >> auth.toml`.",
    )
    nt.add_argument("name", help="who the token is for (letters, digits, '-', '_')")
    nt.add_argument("--roles", required=True, help="comma-separated: ingest, query, admin (admin implies all)")
    nt.set_defaults(func=cmd_new_token)

    if plugins:
        add_plugin_commands(sub)
    return p


def add_plugin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the commands installed under COMMANDS_GROUP, by name. One that does not load (its
    package broken or half installed) is left out with a warning: `serve` and `query` must not
    depend on it."""
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name):
        try:
            register = ep.load()
            register(commands)
        except Exception as exc:  # a plug-in's own failure, whatever it is
            log.warning("command %r (%s) not available: %s: %s", ep.name, ep.value, type(exc).__name__, exc)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s logjet[%(process)d] %(levelname)s %(message)s", stream=sys.stderr
    )
    words = sys.argv[1:] if argv is None else argv
    args = build_parser(plugins=not (words and words[0] in BUILT_IN_COMMANDS)).parse_args(argv)
    try:
        command: Callable[[argparse.Namespace], int] = args.func  # set by the subcommand's parser
        return command(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
