"""Micro-benchmark of the syslog kernels: 100k realistic mixed lines (~150 bytes) per batch.

Run with `make bench-kernels` (pytest-benchmark). The target is well under 50 ms per 100k-line
batch after JIT warm-up; no timing is asserted here (speed is reported by benchmarks, never asserted)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from native_kernels.sd import extract_sd
from native_kernels.syslog import FORMAT_RFC3164, FORMAT_RFC5424, parse_frames, warm_up
from native_kernels.timestamps import TimeZone

pytestmark = pytest.mark.slow  # microbenchmarks; under make test each runs once, as a smoke test

LOGHUB = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "loghub"
N_LINES = 100_000
RECV_NS = 1_700_000_000 * 10**9


def mixed_lines(n: int = N_LINES, seed: int = 1) -> list[bytes]:
    """RFC 5424 with SD (30%), RFC 3164 with PRI (40%), PRI-less BSD lines (15%), JSON (5%),
    plain text (10%); messages are loghub lines where the corpus is present."""
    rng = np.random.default_rng(seed)
    texts = []
    if LOGHUB.exists():
        for name in ("Linux", "OpenSSH", "HDFS", "Apache", "Zookeeper", "Spark"):
            texts += (LOGHUB / f"{name}_2k.log").read_bytes().replace(b"\r", b"").split(b"\n")
    texts = [t for t in texts if t] or [b"session opened for user root by (uid=0) on tty1 " * 2]
    hosts = [b"web-%02d.example.com" % k for k in range(20)]
    apps = [b"sshd", b"nginx", b"kernel", b"cron", b"postfix/smtpd", b"app-server"]
    out = []
    for i in range(n):
        r = rng.random()
        msg = texts[int(rng.integers(len(texts)))][-90:]
        host = hosts[i % len(hosts)]
        app = apps[i % len(apps)]
        pri = int(rng.integers(0, 192))
        if r < 0.30:
            out.append(
                b'<%d>1 2023-11-14T22:13:%02d.%06dZ %s %s %d ID%d [meta seq="%d" '
                b'src="x\\"y"] %s' % (pri, i % 60, i % 1000000, host, app, 1000 + i % 9000, i % 50, i, msg)
            )
        elif r < 0.70:
            out.append(b"<%d>Nov 14 22:13:%02d %s %s[%d]: %s" % (pri, i % 60, host, app, 100 + i % 30000, msg))
        elif r < 0.85:
            out.append(b"Nov %2d 22:13:%02d %s %s: %s" % (1 + i % 28, i % 60, host, app, msg))
        elif r < 0.90:
            out.append(b'{"level":"info","host":"%s","msg":"request %d done","dur_ms":%d}' % (host, i, i % 500))
        else:
            out.append(msg + b" " + msg[:50])
    return out


@pytest.fixture(scope="module")
def batch():
    lines = mixed_lines()
    lens = np.array([len(x) for x in lines], np.int64)
    ends = np.cumsum(lens)
    data = np.frombuffer(b"".join(lines), np.uint8)
    warm_up()
    return data, ends - lens, ends


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_bench_parse_frames(benchmark, batch, zone):
    data, starts, ends = batch
    tz = TimeZone.from_name(zone)
    cols = benchmark(parse_frames, data, starts, ends, RECV_NS, tz)
    assert len(cols.format) == N_LINES
    assert np.count_nonzero(cols.format == FORMAT_RFC5424) > N_LINES // 4
    assert np.count_nonzero(cols.format == FORMAT_RFC3164) > N_LINES // 2


def test_bench_extract_sd(benchmark, batch):
    data, starts, ends = batch
    cols = parse_frames(data, starts, ends, RECV_NS, TimeZone.from_name("UTC"))
    params = benchmark(extract_sd, data, cols.sd_s, cols.sd_e)
    assert len(params.row) == 2 * np.count_nonzero(cols.sd_s >= 0)
