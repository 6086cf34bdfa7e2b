"""`GET /metrics` under load: the counters of every process merged, scraped while messages flow.

An engine with two receivers and two parsers takes TCP (two connections, one over-long line),
UDP and HTTP NDJSON; /metrics is scraped again and again while the senders run. Every scrape must parse as
Prometheus text, counters must never go backwards, and once everything is written the counters
must add up to exactly what was sent. Ring gauges, histograms and per-role CPU/RSS must be there.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.clients import send_tcp, send_udp, wait_written

pytestmark = pytest.mark.e2e

N_TCP = 100_000  # per connection
N_UDP = 5_000
N_HTTP = 2_000  # per request
HTTP_REQUESTS = 5
LONG = 70_000  # bytes: over the default max_message_bytes (64 KiB), so truncated and counted
MAX_SCRAPES = 400
ROLES = ("supervisor", "receiver", "parser", "writer", "api")


def post_ndjson(url: str, bodies: list[bytes]) -> None:
    for body in bodies:
        req = urllib.request.Request(
            url + "/api/v1/ingest", data=body, method="POST", headers={"Content-Type": "application/x-ndjson"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            assert resp.status == 200


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return resp.read().decode()


def parse(text: str) -> tuple[dict, dict]:
    """({(sample name, sorted labels): value}, {family name: type})."""
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in samples.items() if n == name and set(labels.items()) <= set(lab))


def label_values(samples: dict, name: str, label: str) -> set[str]:
    return {dict(lab)[label] for (n, lab) in samples if n == name and label in dict(lab)}


def test_metrics_add_up_under_load(start_engine):
    engine = start_engine("--receivers", "2", "--parsers", "2")
    payloads = []
    for c in range(2):
        lines = [
            f"<14>Nov 22 10:00:00 host{i % 7} app{c}[{i % 50}]: conn={c} seq={i} took {i % 900}ms".encode()
            for i in range(N_TCP)
        ]
        if c == 0:
            lines.append(b"<14>Nov 22 10:00:00 host0 big: " + b"x" * LONG)
        payloads.append(b"\n".join(lines) + b"\n")
    udp = [f"<13>Nov 22 10:00:00 udphost udpapp: seq={i}".encode() for i in range(N_UDP)]
    http = [
        b"".join(
            b'{"app":"web","host":"h%d","msg":"request %d of %d","level":"info"}\n' % (i % 5, i, k)
            for i in range(N_HTTP)
        )
        for k in range(HTTP_REQUESTS)
    ]
    n_http = N_HTTP * HTTP_REQUESTS
    sent = 2 * N_TCP + 1 + N_UDP + n_http

    senders = [threading.Thread(target=send_tcp, args=(engine.ports["syslog_tcp"], p)) for p in payloads]
    senders.append(threading.Thread(target=send_udp, args=(engine.ports["syslog_udp"], udp)))
    senders.append(threading.Thread(target=post_ndjson, args=(engine.url, http)))
    for t in senders:
        t.start()
    scrapes = []
    try:
        while any(t.is_alive() for t in senders) and len(scrapes) < MAX_SCRAPES:
            scrapes.append(parse(scrape_text(engine.url))[0])
            time.sleep(0.02)
    finally:
        for t in senders:
            t.join(120)
    assert scrapes, "no scrape happened while the senders ran"

    assert wait_written(engine.url, sent, timeout=120) >= sent
    text = scrape_text(engine.url)
    final, types = parse(text)
    scrapes.append(final)

    # Counters never go backwards, whichever process they live in.
    counters = [
        key
        for key in final
        if types.get(key[0].removesuffix("_total")) == "counter" or key[0].endswith(("_bucket", "_count", "_sum"))
    ]
    assert counters
    for prev, cur in zip(scrapes, scrapes[1:]):
        for key in counters:
            assert cur.get(key, 0.0) >= prev.get(key, 0.0), key

    # What was sent is what was received, parsed and written: nothing lost, nothing twice.
    assert total(final, "logjet_received_messages_total", protocol="tcp") == 2 * N_TCP + 1
    assert total(final, "logjet_received_messages_total", protocol="udp") == N_UDP
    assert total(final, "logjet_received_messages_total", protocol="http") == n_http
    assert total(final, "logjet_received_bytes_total", protocol="http") == sum(len(b) for b in http)
    assert total(final, "logjet_received_bytes_total", protocol="tcp") == sum(len(p) for p in payloads)
    assert total(final, "logjet_parsed_messages_total") == sent
    assert total(final, "logjet_parsed_messages_total", format="rfc3164") == sent - n_http
    assert total(final, "logjet_parsed_messages_total", format="json") == n_http
    assert total(final, "logjet_written_rows_total") == sent
    assert total(final, "logjet_dropped_messages_total") == 0
    assert total(final, "logjet_truncated_messages_total") == 1
    assert {"ring_full", "duplicate", "damaged_batch"} <= label_values(final, "logjet_dropped_messages_total", "reason")

    # Ring fill: one gauge pair per ring (2 receivers + the API into 2 parsers, 2 parsers into
    # the writer, and each parser's alert counts to the evaluator).
    rings = label_values(final, "logjet_ring_capacity_bytes", "ring")
    assert rings == (
        {f"raw-{p}-p{q}" for p in ("r0", "r1", "api") for q in (0, 1)} | {"col-p0", "col-p1"} | {"alert-p0", "alert-p1"}
    )
    assert label_values(final, "logjet_ring_used_bytes", "ring") == rings
    for ring in rings:
        cap = total(final, "logjet_ring_capacity_bytes", ring=ring)
        assert cap > 0 and 0 <= total(final, "logjet_ring_used_bytes", ring=ring) <= cap

    # Histograms, with buckets that are cumulative and end in +Inf = count.
    for name in ("flush_duration_seconds", "ingest_to_visible_seconds", "query_duration_seconds"):
        assert types["logjet_" + name] == "histogram", name
        buckets = sorted(((float(dict(lab)["le"]), v) for (n, lab), v in final.items() if n == f"logjet_{name}_bucket"))
        assert buckets and buckets[-1][0] == float("inf"), name
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), name
        assert buckets[-1][1] == total(final, f"logjet_{name}_count"), name
    assert total(final, "logjet_flush_duration_seconds_count") >= 1
    assert total(final, "logjet_ingest_to_visible_seconds_count") == sent  # one observation per row

    # Per-role CPU and memory, from every process.
    for role in ROLES:
        assert total(final, "logjet_process_cpu_seconds_total", role=role) > 0, role
        assert total(final, "logjet_process_resident_memory_bytes", role=role) > 1 << 20, role
    assert label_values(final, "logjet_worker_restarts_total", "role") >= {"receiver", "parser", "writer", "api"}
    assert total(final, "logjet_worker_restarts_total") == 0
    assert total(final, "logjet_storage_bytes", kind="compressed") > 0
    assert total(final, "logjet_storage_bytes", kind="raw") > 0
    assert total(final, "logjet_parts") >= 1

    promtool = shutil.which("promtool")
    if promtool:  # Prometheus's own linter, where the machine has it; not required
        lint = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
        assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()
