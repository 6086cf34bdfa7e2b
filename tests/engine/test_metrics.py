"""Shared-memory metrics: per-worker files, merged on read, rendered by prometheus-client."""

from __future__ import annotations

import numpy as np
from prometheus_client.core import CollectorRegistry
from prometheus_client.exposition import generate_latest

from engine import metrics


def test_files_merge_and_survive_reopen(tmp_path):
    a = metrics.MetricsFile(str(tmp_path / "a.metrics"))
    b = metrics.MetricsFile(str(tmp_path / "b.metrics"))
    a.counter("received_messages_total", protocol="tcp").inc(5)
    b.counter("received_messages_total", protocol="tcp").inc(7)
    b.counter("received_messages_total", protocol="udp").inc(1)
    # A restarted worker reopens its file and keeps counting.
    again = metrics.MetricsFile(str(tmp_path / "a.metrics"))
    again.counter("received_messages_total", protocol="tcp").inc(1)
    merged = metrics.read_all([str(tmp_path / "a.metrics"), str(tmp_path / "b.metrics")])
    assert merged[("received_messages_total", (("protocol", "tcp"),))] == 13
    assert merged[("received_messages_total", (("protocol", "udp"),))] == 1


def test_histogram_and_exposition(tmp_path):
    m = metrics.MetricsFile(str(tmp_path / "w.metrics"))
    h = m.histogram("flush_duration_seconds")
    h.observe_many(np.array([0.0005, 0.02, 0.02, 3.0]))
    m.gauge("storage_bytes", kind="compressed").set(1234)

    class C:
        def collect(self):
            yield from metrics.families(metrics.read_all([str(tmp_path / "w.metrics")]))

    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    text = generate_latest(reg).decode()
    assert 'logjet_flush_duration_seconds_bucket{le="0.001"} 1.0' in text
    assert 'logjet_flush_duration_seconds_bucket{le="0.025"} 3.0' in text
    assert 'logjet_flush_duration_seconds_bucket{le="+Inf"} 4.0' in text
    assert "logjet_flush_duration_seconds_count 4.0" in text
    assert 'logjet_storage_bytes{kind="compressed"} 1234.0' in text


def test_damaged_file_is_skipped(tmp_path):
    (tmp_path / "bad.metrics").write_bytes(b"garbage" * 100)
    assert metrics.read_all([str(tmp_path / "bad.metrics")]) == {}
