"""Settings: frozen msgspec structs, loaded from one TOML file and overridden by command-line flags.

Built once by the CLI and passed down (they pickle, so they cross the spawn boundary as they
are); nothing below reads the environment or a global. Every key is documented in
`config/logjet.toml`. Durations and sizes are read once, at load, into `Duration` and
`ByteSize` (engine.units), which print as they were written. Unknown keys and bad values are
refused with the key's path (msgspec names it: "Expected `int`, got `str` - at `$.workers.parsers`").
"""

from __future__ import annotations

import os
import tomllib
from typing import Annotated, Any, Callable, Literal

import msgspec

from engine.errors import LogjetError
from engine.json_field_names import ROLE_NAMES, check_names
from engine.units import AutoByteSize, ByteSize, Duration, parse_hostport, parse_size, units_dec_hook


class ConfigError(LogjetError):
    """The configuration cannot be used; the message names the key and what was expected."""


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A table of the config: immutable, unknown keys refused. Each section repeats
    `frozen=True`, since type checkers do not carry it over from this base."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _check(value: str, parse: Callable[[str], object], key: str) -> None:
    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


class Listen(_Section, frozen=True):
    """Where the engine listens. A port of 0 picks a free one; an empty string turns a listener off."""

    syslog_tcp: str = "0.0.0.0:5514"
    syslog_udp: str = "0.0.0.0:5514"
    syslog_tls: str = ""  # RFC 5425; off by default since it needs [tls] cert_file and key_file
    http: str = "0.0.0.0:8080"
    udp_recv_buffer: ByteSize = ByteSize.parse("8MiB")
    tcp_backlog: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1024
    http_tls: bool = False  # serve the HTTP API over TLS with the [tls] certificate

    def __post_init__(self) -> None:
        for key in ("syslog_tcp", "syslog_udp", "syslog_tls", "http"):
            value = getattr(self, key)
            if value:
                _check(value, parse_hostport, key)


class Workers(_Section, frozen=True):
    """How many processes of each role. 0 = derive from the core count (see `resolved`)."""

    receivers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0
    parsers: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0


class Ingest(_Section, frozen=True):
    """Receiving: message size limit, how receivers cut batches, and the bounds on stream
    connections (engine.receive.connection_table)."""

    max_message_bytes: Annotated[int, msgspec.Meta(ge=256, le=16 << 20)] = 65536
    read_bytes: Annotated[int, msgspec.Meta(ge=4096, le=16 << 20)] = 262144
    batch_bytes: Annotated[int, msgspec.Meta(ge=4096, le=64 << 20)] = 1 << 20
    # Twice this while frames come slower than 25,000 a second (engine.receive.batch_delay).
    batch_delay: Duration = Duration.parse("20ms")
    http_max_body: ByteSize = ByteSize.parse("64MiB")
    max_connections: Annotated[int, msgspec.Meta(ge=0, le=1 << 24)] = 10000  # per receiver; 0 = no cap
    idle_timeout: Duration = Duration.parse("5m")  # "0": never

    def __post_init__(self) -> None:
        # The idle sweep runs once a second, so a shorter timeout could not be kept.
        if 0 < self.idle_timeout.ns < 10**9:
            raise ValueError(f"idle_timeout: {self.idle_timeout} is below 1s (use 0 for no timeout)")


class Rings(_Section, frozen=True):
    """Shared-memory ring sizes (each rounded up to a power of two)."""

    raw_ring_bytes: ByteSize = ByteSize.parse("16MiB")
    column_ring_bytes: ByteSize = ByteSize.parse("64MiB")

    def __post_init__(self) -> None:
        for key in ("raw_ring_bytes", "column_ring_bytes"):
            if getattr(self, key) < 1 << 20:
                raise ValueError(f"{key}: must be at least 1MiB")


class Parse(_Section, frozen=True):
    """Parsing choices."""

    timezone: str = "UTC"
    extract_kv: bool = True
    json: bool = True
    host_from_source: bool = True
    max_fields_per_row: Annotated[int, msgspec.Meta(ge=0, le=1024)] = 64
    # A row stamped further ahead of its receipt than this, or older than storage.retention,
    # is out of range (engine.parse.time_bounds): "adjust" stores it at its receive time with
    # the sender's time in a field, "drop" drops and counts it. "0": no limit ahead.
    max_future: Duration = Duration.parse("1d")
    out_of_range: Literal["adjust", "drop"] = "adjust"
    # JSON keys tried first, in this order, for a JSON row's columns (engine.parse.json_keys);
    # a dotted name also reaches into nested objects. The built-in names come after these.
    json_msg_fields: tuple[str, ...] = ()
    json_time_fields: tuple[str, ...] = ()
    json_host_fields: tuple[str, ...] = ()
    json_app_fields: tuple[str, ...] = ()
    json_severity_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.json_field_names()  # refuses names that cannot be field names (a ValueError)
        if self.timezone == "UTC":
            return  # the default, valid as it is: checking it would import numba, on the start's path
        from native_kernels.timestamps import TimeZone

        try:
            TimeZone.from_name(self.timezone)
        except Exception as exc:  # zoneinfo raises several kinds
            raise ValueError(f"timezone: unknown zone {self.timezone!r} ({exc})") from None

    def json_field_names(self) -> dict[str, list[str]]:
        """The configured JSON field names by column role ("msg", "time", ...)."""
        return {role: check_names(f"json_{role}_fields", getattr(self, f"json_{role}_fields")) for role in ROLE_NAMES}


class Storage(_Section, frozen=True):
    """Parts on disk: flushing, compression, merging, retention."""

    flush_interval: Duration = Duration.parse("200ms")
    block_rows: Annotated[int, msgspec.Meta(ge=1024, le=1 << 20)] = 65536
    zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 1
    merge_zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 9
    # A merge whose inputs hold at most `small_merge_bytes` raw bytes and have settled (30 s
    # quiet) is compressed at `small_merge_zstd_level` instead
    # (engine.write.merge.merge_zstd_level); "0": never.
    small_merge_zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 19
    small_merge_bytes: ByteSize = ByteSize.parse("4MiB")
    # A merge of live traffic whose output will be merged again (engine.write.merge.
    # merge_compression) is compressed at this level; the merge that makes the part that stays
    # recompresses it at merge_zstd_level. With `interim_index` off, one of flushed parts is
    # written as a flush is, at the lower of this and zstd_level, without an index
    # (engine.write.merge.merge_form).
    interim_merge_zstd_level: Annotated[int, msgspec.Meta(ge=1, le=19)] = 3
    # Whether interim merges of flushed parts build an index: on, queries over the last 30-40 s
    # of a busy source use it; off, each row is indexed once (about a third less merge CPU at
    # 50,000 rows a second) and those rows are read unindexed, as flushed parts are.
    interim_index: bool = True
    retention: Duration = Duration.parse("7d")
    max_disk_bytes: ByteSize = ByteSize.parse("0")
    # Below this much free space on the data dir's volume the writer stops writing (rows wait
    # in the rings) and merges are skipped (engine.write.disk_guard); "auto": the smaller of
    # 1GiB and 5% of the volume (engine.store.free_space.min_free_bytes); "0": no minimum.
    min_free_bytes: AutoByteSize = AutoByteSize.parse("auto")
    index_max_values: Annotated[int, msgspec.Meta(ge=0, le=1 << 20)] = 1024
    merge_min_parts: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 8
    max_part_rows: Annotated[int, msgspec.Meta(ge=1024)] = 2_000_000
    derive_fields: bool = False
    fsync: bool = True


class Supervisor(_Section, frozen=True):
    """Process supervision: liveness and shutdown deadlines."""

    heartbeat_timeout: Duration = Duration.parse("15s")
    start_timeout: Duration = Duration.parse("120s")
    drain_timeout: Duration = Duration.parse("60s")
    max_restarts_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 10
    # /readyz says 503 when the writer has flushed nothing for this long while rows wait in its
    # rings, or a worker has sent no heartbeat for this long (engine.api.health).
    stall_after: Duration = Duration.parse("10s")
    # How workers are started (engine.lifecycle.forkserver): forked from a fork server that has
    # loaded every module and kernel once, or each in a fresh interpreter that loads them itself.
    worker_start: Literal["forkserver", "spawn"] = "forkserver"

    def __post_init__(self) -> None:
        if self.stall_after <= 0:
            raise ValueError("stall_after: must be more than 0")


class Alerts(_Section, frozen=True):
    """Alert rules: a TOML file of rules (see config/alerts.toml); empty = no rules."""

    rules_file: str = ""


class Tls(_Section, frozen=True):
    """Certificates of the syslog TLS listener (listen.syslog_tls), PEM files re-read on SIGHUP.
    Whether the files load is checked at start-up (engine.receive.tls_context), not here."""

    cert_file: str = ""  # the server certificate, optionally followed by its chain
    key_file: str = ""  # its private key, unencrypted
    client_ca_file: str = ""  # set: clients must present a certificate signed by one of these CAs


class TokenSpec(_Section, frozen=True):
    """One API token given in the config file (`[[auth.tokens]]`), as in an auth file."""

    name: str
    hash: str
    roles: list[str]


class Auth(_Section, frozen=True):
    """Who may use the HTTP API (engine.auth.policy): tokens from `file` and `tokens`."""

    anonymous: Literal["loopback", "none", "any"] = "loopback"
    file: str = ""  # TOML file of [[token]] tables; re-read on SIGHUP
    metrics: bool = False  # true: /metrics needs a token with the query role
    tokens: list[TokenSpec] = []

    def __post_init__(self) -> None:
        from engine.auth.tokens import AuthFileError, parse_entries

        try:
            parse_entries([msgspec.structs.asdict(t) for t in self.tokens], "auth.tokens")
        except AuthFileError as exc:
            raise ValueError(str(exc)) from None


class Query(_Section, frozen=True):
    """Limits of the query API (engine.query.limits): each refuses or stops a query with an error
    naming the setting."""

    timeout: Duration = Duration.parse("30s")  # a query running longer is stopped: 503
    max_concurrent: Annotated[int, msgspec.Meta(ge=0, le=1024)] = 0  # 0 = 2 x usable cores; beyond: 429
    max_tails: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 16  # live tails at once; beyond: 429
    max_rows: Annotated[int, msgspec.Meta(ge=1)] = 10_000  # the row limit of a request giving none
    max_rows_limit: Annotated[int, msgspec.Meta(ge=1)] = 1_000_000  # a larger `limit` is a 400
    max_response_bytes: ByteSize = ByteSize.parse("256MiB")  # an answer is cut past this
    max_groups: Annotated[int, msgspec.Meta(ge=1)] = 100_000  # groups an aggregation may hold

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout: must be more than 0")
        if self.max_response_bytes < 1024:
            raise ValueError("max_response_bytes: must be at least 1KiB")
        if self.max_rows > self.max_rows_limit:
            raise ValueError(f"max_rows = {self.max_rows} is more than max_rows_limit = {self.max_rows_limit}")

    def concurrency(self) -> int:
        """`max_concurrent`, with 0 read as twice the usable cores."""
        return self.max_concurrent or 2 * usable_cores()


class Settings(_Section, frozen=True):
    """Everything `logjet serve` needs."""

    data_dir: str = "./data"
    listen: Listen = Listen()
    workers: Workers = Workers()
    ingest: Ingest = Ingest()
    rings: Rings = Rings()
    parse: Parse = Parse()
    storage: Storage = Storage()
    supervisor: Supervisor = Supervisor()
    alerts: Alerts = Alerts()
    tls: Tls = Tls()
    auth: Auth = Auth()
    query: Query = Query()

    def __post_init__(self) -> None:
        _check_ring_sizes(self)
        if self.supervisor.stall_after <= self.storage.flush_interval:
            # A healthy writer holds rows up to a flush interval: that is not a stall.
            raise ValueError(
                f"supervisor.stall_after = {self.supervisor.stall_after} must be longer than "
                f"storage.flush_interval = {self.storage.flush_interval}"
            )
        for listener, on in (
            ("listen.syslog_tls", bool(self.listen.syslog_tls)),
            ("listen.http_tls", self.listen.http_tls),
        ):
            for key in ("cert_file", "key_file"):
                if on and not getattr(self.tls, key):
                    raise ValueError(f"{listener} is set, so tls.{key} is needed (a PEM file)")

    def resolved(self) -> "Settings":
        """Fill derived values: worker counts from the core count, an absolute data dir."""
        cores = usable_cores()
        # A receiver moves bytes and a parser does the heavy lifting; the writer, the API and
        # the sender (often on the same host) need cores too, hence the quarters.
        workers = Workers(
            receivers=self.workers.receivers or max(1, cores // 4),
            parsers=self.workers.parsers or max(1, cores // 4),
        )
        # Absolute paths: workers and SIGHUP reloads read them, and error messages name them.
        paths = {
            k: os.path.abspath(getattr(self.tls, k))
            for k in ("cert_file", "key_file", "client_ca_file")
            if getattr(self.tls, k)
        }
        tls = msgspec.structs.replace(self.tls, **paths)
        auth = msgspec.structs.replace(self.auth, file=os.path.abspath(self.auth.file)) if self.auth.file else self.auth
        return msgspec.structs.replace(
            self, workers=workers, data_dir=os.path.abspath(self.data_dir), tls=tls, auth=auth
        )


# A column batch takes at most this many times the bytes of the raw batch it was parsed from
# (fixed per-row columns and field pairs around short lines), plus room for its header.
COLUMN_BATCH_GROWTH = 8
COLUMN_HEADER_ROOM = 1 << 16


def raw_batch_bytes(settings: "Settings") -> int:
    """The size receivers and HTTP ingest cut raw batches at: `ingest.batch_bytes`, or half of
    what a raw ring takes in one record if that is less (see engine.receive.batcher)."""
    from engine.ipc.ring import Ring

    return min(settings.ingest.batch_bytes, Ring.record_limit(settings.rings.raw_ring_bytes.bytes) // 2)


def whole_request_bytes(settings: "Settings") -> int:
    """The largest pushed request (Loki or OTLP protobuf) the API hands to a parser whole, as one
    frame: what half a raw ring record holds, and what a column ring record holds of the column
    batch made of it (at most COLUMN_BATCH_GROWTH times the raw batch its rows would have made);
    never less than a raw batch. Shippers batch more than `ingest.batch_bytes` (Promtail and
    Alloy up to 1 MiB of lines, the OpenTelemetry Collector 8,192 records): such a request still
    goes to a parser, rather than being decoded in the API process."""
    from engine.ipc.ring import Ring

    raw_limit = Ring.record_limit(settings.rings.raw_ring_bytes.bytes)
    col_limit = Ring.record_limit(settings.rings.column_ring_bytes.bytes)
    fits = min(raw_limit // 2, (col_limit - COLUMN_HEADER_ROOM) // COLUMN_BATCH_GROWTH)
    return max(raw_batch_bytes(settings), fits)


def _check_ring_sizes(s: "Settings") -> None:
    """A ring too small for one message, or for what one raw batch becomes, is refused here
    rather than failing at run time."""
    from engine.ipc.raw_batch import FRAME_OVERHEAD, batch_overhead
    from engine.ipc.ring import Ring

    raw_limit = Ring.record_limit(parse_size(s.rings.raw_ring_bytes))
    one = s.ingest.max_message_bytes + FRAME_OVERHEAD + batch_overhead(1)
    if one > raw_limit // 2:
        raise ValueError(
            f"rings.raw_ring_bytes = {s.rings.raw_ring_bytes} is too small for "
            f"ingest.max_message_bytes = {s.ingest.max_message_bytes}: a ring record "
            f"holds at most {raw_limit} bytes, and a raw batch may take half of that; "
            f"use at least {Ring.rounded_capacity(8 * one)} bytes"
        )
    col_limit = Ring.record_limit(parse_size(s.rings.column_ring_bytes))
    need = COLUMN_BATCH_GROWTH * max(raw_batch_bytes(s), one) + COLUMN_HEADER_ROOM
    if need > col_limit:
        raise ValueError(
            f"rings.column_ring_bytes = {s.rings.column_ring_bytes} is too small for raw "
            f"batches of {raw_batch_bytes(s)} bytes: a parsed batch may need {need} bytes "
            f"and a record holds at most {col_limit}; raise it, or lower ingest.batch_bytes"
        )


def load(path: str | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (if any), apply `overrides` ({"section.key": value} or {"key": value}),
    validate, and read durations and sizes into typed values (the file's and the overrides' alike).
    Raises ConfigError with the key's path and the reason."""
    raw: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return msgspec.convert(raw, Settings, dec_hook=units_dec_hook)
    except msgspec.ValidationError as exc:
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid configuration{where}: {exc}") from None
