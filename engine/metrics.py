"""Counters, gauges and histograms in shared memory, one file per worker slot, merged on scrape.

Each worker slot owns one file (`<worker>.metrics` in the instance folder) and is its only
writer, so updates are plain stores into the map: no locks, no syscalls. A restarted worker
re-attaches to its slot's file and keeps counting from where its predecessor stopped, so
counters never go backwards. The HTTP API merges all files into Prometheus families
(`MetricsCollector`) and prometheus-client renders the text format.

Counters move once per batch, never per message, so their cost does not grow with the message rate.

File layout: a 64-byte header (magic b"LJMETR\\x00\\x01", capacity u64, entry count u64), then
`capacity` entries of 128 bytes: `key` (112 bytes, UTF-8 `name|label=value|...`), `value` f64,
8 reserved. A new entry's key is written before the count is raised, so a reader sees only
whole entries.
"""

from __future__ import annotations

import bisect
import mmap
import os
from typing import Iterable, Iterator, TypedDict

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

MAGIC = b"LJMETR\x00\x01"
HEADER_BYTES = 64
CAPACITY = 16384  # entries per worker: metrics × label sets × histogram buckets, and one per alert rule (2 MiB)
ENTRY_DTYPE = np.dtype([("key", "S112"), ("value", "<f8"), ("reserved", "<f8")])
PREFIX = "logjet_"

# Histogram buckets (seconds). Latencies span sub-millisecond flushes to multi-second stalls.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# The catalog: every metric logjet exports, its type and help text (README, "Prometheus").
CATALOG: dict[str, tuple[str, str]] = {
    "received_messages_total": ("counter", "Messages read off sockets, by protocol."),
    "received_bytes_total": ("counter", "Bytes of messages read off sockets, by protocol."),
    "parsed_messages_total": ("counter", "Messages turned into rows, by detected format."),
    "dropped_messages_total": ("counter", "Messages dropped, by reason."),
    "time_adjusted_total": (
        "counter",
        "Rows stored at their receive time because their own time was out of range, by reason "
        "(too_old: before storage.retention; too_new: past parse.max_future).",
    ),
    "truncated_messages_total": ("counter", "Messages cut to max_message_bytes."),
    "udp_kernel_drops_total": (
        "counter",
        "Datagrams the kernel dropped on the syslog UDP sockets before logjet read them (receive buffer full), "
        "from /proc/net/udp.",
    ),
    "tcp_framing_total": (
        "counter",
        "TCP connections by framing: lf, octet_counted, and lf_fallback when an octet-counted stream broke off.",
    ),
    "tls_handshakes_total": ("counter", "TLS handshakes on the syslog TLS listener, by outcome (ok, failed, timeout)."),
    "tls_reloads_total": (
        "counter",
        "Reloads of the TLS certificate and key on SIGHUP, by outcome (ok, failed: the old ones stay).",
    ),
    "rejected_connections_total": (
        "counter",
        "Syslog TCP and TLS connections accepted and closed at once, by protocol and reason "
        "(max_connections: the receiver held ingest.max_connections).",
    ),
    "idle_connections_closed_total": (
        "counter",
        "Syslog TCP and TLS connections closed after reading nothing for ingest.idle_timeout, by protocol.",
    ),
    "accept_errors_total": (
        "counter",
        "Failed accepts on the syslog TCP and TLS listeners, by reason (emfile, enfile, enobufs, enomem: "
        "accepting pauses a second; other errno names).",
    ),
    "http_auth_total": (
        "counter",
        "HTTP requests by access outcome: token, anonymous, open (a route needing none), unauthorized (401), "
        "forbidden (403).",
    ),
    "written_rows_total": ("counter", "Rows written into parts on disk."),
    "written_parts_total": ("counter", "Parts written, by origin (flush or merge)."),
    "quarantined_parts_total": ("counter", "Damaged parts moved aside."),
    "merges_total": ("counter", "Background merges done (each writes one part from several)."),
    "merged_rows_total": ("counter", "Rows rewritten by merges."),
    "deleted_parts_total": ("counter", "Parts deleted, by reason (retention)."),
    "storage_bytes": ("gauge", "Bytes of stored data: compressed on disk, or raw as received."),
    "parts": ("gauge", "Parts on disk, by merge level."),
    "storage_free_bytes": ("gauge", "Free bytes on the data dir's volume (statvfs, as df shows)."),
    "storage_min_free_bytes": ("gauge", "storage.min_free_bytes as resolved for the data dir's volume."),
    "storage_disk_low": (
        "gauge",
        "1 while the writer is not writing for want of room: free space below storage.min_free_bytes, "
        "or a write failed with ENOSPC or EDQUOT.",
    ),
    "storage_disk_full_errors_total": (
        "counter",
        "Writes that failed with ENOSPC or EDQUOT, by op (flush, merge); nothing is lost, they are retried.",
    ),
    "merges_skipped_total": (
        "counter",
        "Merges put off, by reason (disk_space: free space below their inputs' size plus storage.min_free_bytes).",
    ),
    "flush_duration_seconds": ("histogram", "Time to write one flush of rows to disk."),
    "ingest_to_visible_seconds": ("histogram", "From receipt of a batch to its rows being on disk."),
    "query_duration_seconds": ("histogram", "Time to answer one query."),
    "loki_requests_total": (
        "counter",
        "Requests to the Loki read API (/loki/api/v1/...), by endpoint and outcome "
        "(ok, bad_request, too_many, timeout, failed).",
    ),
    "ingest_requests_rejected_total": (
        "counter",
        "Push requests (Loki push, OTLP/HTTP logs) refused with none of their entries stored, by route and "
        "reason (too_large, bad_encoding, bad_content_type, bad_protobuf, bad_json, bad_labels, undecodable, "
        "unavailable: rings full or disk low, answered 503 with Retry-After).",
    ),
    "push_requests_total": (
        "counter",
        "Push requests (Loki push, OTLP/HTTP logs) accepted, by route and where their entries were decoded "
        "(parser: handed to the parsers, whole or in pieces, the fast path; api: decoded in the API process, "
        "for JSON bodies and shapes the parsers' walk does not take).",
    ),
    "alert_matches_total": ("counter", "Rows matching an alert rule's pattern, by rule."),
    "alerts_firing": ("gauge", "Alerts firing now, by rule."),
    "alert_notifications_total": (
        "counter",
        "Alert notifications, by notifier and outcome (sent, retried, failed, dropped).",
    ),
    "alert_count_records_dropped_total": (
        "counter",
        "Batches' alert counts dropped, by reason (ring_full: the evaluator's ring; damaged: undecodable).",
    ),
    "alert_fire_latency_seconds": (
        "histogram",
        "From receipt of the batch that made an alert fire to its notifications being queued.",
    ),
    "alert_rules": ("gauge", "Alert rules in force."),
    "alert_groups_dropped_total": (
        "counter",
        "Match counts of new groups dropped because a rule tracked MAX_GROUPS_PER_RULE groups.",
    ),
    "worker_restarts_total": ("counter", "Workers the supervisor restarted, by role."),
    "recovered_rows_total": (
        "counter",
        "Rows written at start-up from the rings a killed instance of the same data dir left in shared memory.",
    ),
    "ring_used_bytes": ("gauge", "Bytes in use in a ring."),
    "ring_capacity_bytes": ("gauge", "Data bytes of a ring."),
    "process_cpu_seconds_total": ("counter", "CPU seconds used by the processes of a role."),
    "process_resident_memory_bytes": ("gauge", "Resident memory of the processes of a role."),
}


def _key(name: str, labels: dict[str, str]) -> bytes:
    if name not in CATALOG and not name.endswith(("_bucket", "_sum", "_count")):
        raise KeyError(f"metric {name!r} is not in the catalog")
    parts = [name] + [f"{k}={v}" for k, v in sorted(labels.items())]
    key = "|".join(parts).encode()
    if len(key) > ENTRY_DTYPE["key"].itemsize:
        raise ValueError(f"metric key too long: {key!r}")
    return key


Labels = tuple[tuple[str, str], ...]  # (name, value) pairs, sorted by name


def _label(text: str) -> tuple[str, str]:
    name, _, value = text.partition("=")
    return name, value


def _parse_key(key: bytes) -> tuple[str, Labels]:
    name, *labels = key.decode().split("|")
    return name, tuple(_label(lab) for lab in labels)


class Value:
    """One number in shared memory (a counter or gauge sample); `inc` for counters, `set` for gauges."""

    __slots__ = ("_values", "_i")

    def __init__(self, values: np.ndarray, index: int):
        self._values = values
        self._i = index

    def inc(self, amount: float = 1.0) -> None:
        self._values[self._i] += amount

    def set(self, value: float) -> None:
        self._values[self._i] = value

    def get(self) -> float:
        return float(self._values[self._i])


class Histogram:
    """Cumulative-free bucket counts plus sum and count; `observe_many` takes a whole batch."""

    def __init__(self, metrics: "MetricsFile", name: str, buckets: tuple[float, ...], labels: dict[str, str]):
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._bounds_list = [float(b) for b in buckets]
        self._buckets = [metrics.value(f"{name}_bucket", {**labels, "le": repr(b)}) for b in buckets]
        self._buckets.append(metrics.value(f"{name}_bucket", {**labels, "le": "+Inf"}))
        self._sum = metrics.value(f"{name}_sum", labels)
        self._count = metrics.value(f"{name}_count", labels)

    def observe(self, value: float) -> None:
        # One value (a request's duration): a bisection, not numpy's per-call overhead.
        self._buckets[bisect.bisect_left(self._bounds_list, value)].inc(1.0)
        self._sum.inc(float(value))
        self._count.inc(1.0)

    def observe_many(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        idx = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(idx, minlength=len(self._buckets))
        for i in np.flatnonzero(counts):
            self._buckets[i].inc(float(counts[i]))
        self._sum.inc(float(np.sum(values)))
        self._count.inc(float(len(values)))


class MetricsFile:
    """The metrics file of one worker slot, opened for writing by that worker."""

    def __init__(self, path: str):
        if not os.path.exists(path):
            with open(path, "wb") as f:
                header = bytearray(HEADER_BYTES)
                header[:8] = MAGIC
                header[8:16] = CAPACITY.to_bytes(8, "little")
                f.write(header)
                f.write(bytes(ENTRY_DTYPE.itemsize * CAPACITY))
        self._mm, self._count, self._entries = _map(path)
        self._index = {bytes(self._entries["key"][i]): i for i in range(int(self._count[0]))}
        self._values = self._entries["value"]

    def value(self, name: str, labels: dict[str, str] | None = None) -> Value:
        key = _key(name, labels or {})
        i = self._index.get(key)
        if i is None:
            i = int(self._count[0])
            if i >= len(self._entries):
                raise RuntimeError("metrics file is full; raise metrics.CAPACITY")
            self._entries["key"][i] = key
            self._count[0] = i + 1  # published after the key is in place
            self._index[key] = i
        return Value(self._values, i)

    def counter(self, name: str, **labels: str) -> Value:
        return self.value(name, labels)

    def gauge(self, name: str, **labels: str) -> Value:
        return self.value(name, labels)

    def histogram(self, name: str, buckets: tuple[float, ...] = LATENCY_BUCKETS, **labels: str) -> Histogram:
        return Histogram(self, name, buckets, labels)


def _map(path: str) -> tuple[mmap.mmap, np.ndarray, np.ndarray]:
    fd = os.open(path, os.O_RDWR)
    try:
        mm = mmap.mmap(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)
    if mm[:8] != MAGIC:
        raise ValueError(f"metrics file {path} is damaged")
    capacity = int(np.frombuffer(mm, dtype="<u8", count=1, offset=8)[0])
    count = np.frombuffer(mm, dtype="<u8", count=1, offset=16)
    entries = np.frombuffer(mm, dtype=ENTRY_DTYPE, count=capacity, offset=HEADER_BYTES)
    return mm, count, entries


def read_all(paths: Iterable[str]) -> dict[tuple[str, Labels], float]:
    """Sum every metrics file: {(name, labels): value}. Damaged or vanished files are skipped."""
    totals: dict[tuple[str, Labels], float] = {}
    for path in paths:
        try:
            mm, count, entries = _map(path)
        except (OSError, ValueError):
            continue
        n = min(int(count[0]), len(entries))
        keys = entries["key"][:n].tolist()
        values = entries["value"][:n].tolist()
        del count, entries
        mm.close()
        for key, value in zip(keys, values):
            ident = _parse_key(key)
            totals[ident] = totals.get(ident, 0.0) + value
    return totals


class _HistogramSeries(TypedDict):
    buckets: dict[str, float]  # by upper bound as written in `le`; counts per bucket, not cumulative
    sum: float


def families(samples: dict[tuple[str, Labels], float]) -> Iterator[Metric]:
    """Turn merged samples into prometheus-client metric families (all names prefixed)."""
    by_name: dict[str, dict[Labels, float]] = {}
    hist: dict[str, dict[Labels, _HistogramSeries]] = {}
    for (name, labels), value in samples.items():
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and CATALOG.get(base, ("",))[0] == "histogram":
                plain = tuple(kv for kv in labels if kv[0] != "le")
                entry = hist.setdefault(base, {}).setdefault(plain, {"buckets": {}, "sum": 0.0})
                if suffix == "_bucket":
                    entry["buckets"][dict(labels)["le"]] = value
                elif suffix == "_sum":
                    entry["sum"] = value
                break
        else:
            by_name.setdefault(name, {})[labels] = value
    for name, series in sorted(by_name.items()):
        kind, help_text = CATALOG.get(name, ("gauge", name))
        label_names = sorted({k for labels in series for k, _ in labels})
        cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
        fam_name = PREFIX + (name[: -len("_total")] if kind == "counter" else name)
        family = cls(fam_name, help_text, labels=label_names)
        for labels, value in sorted(series.items()):
            d = dict(labels)
            family.add_metric([d.get(k, "") for k in label_names], value)
        yield family
    for name, histograms in sorted(hist.items()):
        label_names = sorted({k for labels in histograms for k, _ in labels})
        fam = HistogramMetricFamily(PREFIX + name, CATALOG[name][1], labels=label_names)
        for labels, entry in sorted(histograms.items()):
            bounds = sorted(entry["buckets"].items(), key=lambda kv: float(kv[0]))
            cumulative: list[tuple[str, float]] = []
            running = 0.0
            for le, count in bounds:
                running += count
                cumulative.append((le, running))
            d = dict(labels)
            fam.add_metric([d.get(k, "") for k in label_names], cumulative, sum_value=entry["sum"])
        yield fam
