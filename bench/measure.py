"""One measured run: sender processes against one target, its stored count polled until every
message sent has arrived, or the count stops moving.

The clock runs from the first byte sent to the poll that first saw the final stored count, so
a target's flush delay is part of its figure (data must be stored to count). With UDP, a lossy
protocol, the run ends once the senders are done and the stored count has settled: what the
target took is stored, what it dropped is counted, and what the kernel dropped is `lost`.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from typing import NamedTuple

from bench.progress import Progress
from bench.send import HTTP_BATCH, IngestRefused, Plan, Pool, run_sender, send_direct

POLL_S = 0.02
STALL_S = 15.0  # an incomplete run ends when nothing moved for this long after the senders finished
SETTLE_S = 1.0  # a lossy (UDP) run ends when the stored count has not moved for this long
READY_TIMEOUT_S = 120.0
WARMUP_TIMEOUT_S = 120.0
WARMUP_PROBES = 100  # probe-shaped messages in the warm-up, when the run has probes
TIMELINE_POINTS = 400


class Load(NamedTuple):
    proto: str
    messages: int
    senders: int
    rate: float  # messages per second in all, 0 = as fast as the target takes them
    probes_per_s: float  # latency probes per second in all, 0 = none
    timeout_s: float
    warmup: int = 0  # messages sent and stored before the timed run
    warmup_timeout_s: float = WARMUP_TIMEOUT_S  # more for targets with slow first batches (alert rules)
    batch: int = HTTP_BATCH  # messages per HTTP request


def warm_up(target, pool: Pool, load: Load) -> None:
    """Send `load.warmup` messages and wait until they are stored (or the timeout)."""
    if not load.warmup:
        return
    base = target.poll().stored
    try:
        n = send_direct(
            pool,
            load.proto,
            "127.0.0.1",
            target.port(load.proto),
            load.warmup,
            probes=WARMUP_PROBES if load.probes_per_s else 0,
            access=target.access,
            batch=load.batch,
        )
    except IngestRefused as exc:
        # A token missing or without the ingest role: every request would be refused alike.
        raise SystemExit(f"logjet bench ingest: {target.name} refused the load: {exc}") from None
    deadline = time.monotonic() + load.warmup_timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline and target.alive():
        p = target.poll()
        if p.stored - base >= n:
            return
        if p.stored != last:
            last, since = p.stored, time.monotonic()
        elif load.proto == "udp" and p.stored > base and time.monotonic() - since > SETTLE_S:
            return  # datagrams the kernel dropped never come: settled is done
        time.sleep(POLL_S)
    raise RuntimeError(f"{target.name}: warm-up messages not stored in {load.warmup_timeout_s:.0f}s")


def measure(target, pool: Pool, load: Load, quiet: bool = False) -> dict:
    ctx = multiprocessing.get_context("spawn")
    n = max(1, min(load.senders, load.messages))
    shares = [load.messages // n + (1 if i < load.messages % n else 0) for i in range(n)]
    rate = load.rate / n if load.rate else 0.0
    probe_interval = n / load.probes_per_s if load.probes_per_s else 0.0
    port = target.port(load.proto)
    progress = ctx.RawArray("q", n)
    ready, start_evt, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=run_sender,
            name=f"bench-sender-{i}",
            daemon=True,
            args=(
                Plan(load.proto, "127.0.0.1", port, shares[i], rate, probe_interval, pool, target.access, load.batch),
                i,
                progress,
                ready,
                start_evt,
                results,
            ),
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    try:
        warm_up(target, pool, load)
        for _ in procs:
            if not ready.acquire(timeout=READY_TIMEOUT_S):
                raise RuntimeError("senders did not get ready")
        return _run(target, load, procs, progress, start_evt, results, quiet)
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)


def _run(target, load: Load, procs, progress, start_evt, results, quiet: bool) -> dict:
    before = target.snapshot()
    # CPU from /proc, read apart from the snapshots: a /metrics scrape costs the engine CPU of
    # its own, which must not count as ingest work.
    cpu_before = target.cpu_seconds()
    base = target.poll()
    ticks = _host_ticks()
    bar = Progress(target.name, load.messages, enabled=not quiet)
    reports: dict[int, dict] = {}
    timeline: list[tuple[float, int, int]] = []
    outcome = "complete"
    stored = sent = 0
    t0 = time.time()
    start_evt.set()
    last_change = t0
    seen = (0, 0)
    while True:
        time.sleep(POLL_S)
        now = time.time()
        p = target.poll()
        stored = p.stored - base.stored
        sent = sum(progress)
        while True:
            try:
                r = results.get_nowait()
            except queue.Empty:
                break
            reports[r["slot"]] = r
        received = p.received - base.received
        if (stored, received) != seen:
            seen, last_change = (stored, received), now
        timeline.append((round(now - t0, 3), stored, sent))
        bar.update(sent, stored)
        senders_done = len(reports) == len(procs) or not any(pr.is_alive() for pr in procs)
        if senders_done:
            expected = sum(r["sent"] + r["probes"] - r["errors"] for r in reports.values())
            if stored >= expected:
                break
            accounted = stored + p.dropped - base.dropped >= received
            if load.proto == "udp" and accounted and now - last_change > SETTLE_S:
                outcome = "settled"
                break
            if now - last_change > STALL_S:
                outcome = "stalled"
                break
        if not target.alive():
            outcome = "target died"
            break
        if now - t0 > load.timeout_s:
            outcome = "timeout"
            break
    bar.close(sent, stored)
    ticks_after = _host_ticks()
    cpu_after = target.cpu_seconds()
    after = target.snapshot()
    p = target.poll()
    first = min((r["first"] for r in reports.values() if r["first"]), default=t0)
    last = max((r["last"] for r in reports.values()), default=t0)
    sent_total = sum(r["sent"] + r["probes"] for r in reports.values())
    seconds = max(1e-9, last_change - first)
    cpu = after["cpu_s"] - before["cpu_s"] if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    result = {
        "target": target.name,
        "version": target.version,
        "outcome": outcome,
        "sent": sent_total,
        "probes": sum(r["probes"] for r in reports.values()),
        "stored": stored,
        "received": p.received - base.received,
        "dropped": p.dropped - base.dropped,
        "lost": max(0, sent_total - stored - (p.dropped - base.dropped)),
        "send_errors": sum(r["errors"] for r in reports.values()),
        "sender_failures": [r["error"] for r in reports.values() if "error" in r],
        "seconds": round(seconds, 3),
        "send_seconds": round(last - first, 3),
        "msgs_per_s": round(stored / seconds, 1),
        "send_rate": round(sent_total / max(1e-9, last - first), 1),
        "cpu_s": round(cpu, 3),
        "cpu_s_per_million": round(cpu / max(stored, 1) * 1e6, 3),
        "host_cpu": host_cpu(ticks, ticks_after, time.time() - t0),
        "timeline": _thin([(round(t - (first - t0), 3), s, m) for t, s, m in timeline]),
    }
    if "cpu_by_role" in after:
        result["cpu_by_role"] = {
            k: round(v - before["cpu_by_role"].get(k, 0.0), 3) for k, v in after["cpu_by_role"].items()
        }
        result["rss_by_role_mb"] = {k: round(v / 2**20, 1) for k, v in after["rss_by_role"].items()}
        result["dropped_by_reason"] = {
            k: int(v - before["dropped_by_reason"].get(k, 0.0)) for k, v in after["dropped_by_reason"].items() if v
        }
    if "alert_matches" in after:
        result["alert_matches"] = int(after["alert_matches"] - before["alert_matches"])
    return result


def _host_ticks() -> list[int]:
    """The machine's CPU time so far from /proc/stat: [user, nice, system, idle, iowait, irq,
    softirq, steal] in clock ticks (empty where /proc/stat is missing)."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return []


def host_cpu(before: list[int], after: list[int], seconds: float) -> dict:
    """How busy the whole machine was during a run, in cores: everything (this run's target and
    senders, and anyone else on the machine) and the time a hypervisor stole. On a shared machine
    a busy figure well above target + senders means the run had neighbours."""
    if not before or not after or seconds <= 0:
        return {}
    d = [b - a for a, b in zip(before, after)]
    tck = os.sysconf("SC_CLK_TCK")
    busy = d[0] + d[1] + d[2] + d[5] + d[6]
    return {
        "busy_cores": round(busy / tck / seconds, 2),
        "steal_cores": round(d[7] / tck / seconds, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _thin(points: list, most: int = TIMELINE_POINTS) -> list:
    step = max(1, len(points) // most)
    thinned = points[::step]
    if thinned and thinned[-1] != points[-1]:
        thinned.append(points[-1])
    return thinned
