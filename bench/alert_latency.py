"""`logjet bench alert-latency`: how long from a matching message's send to its alert arriving at
a webhook, under background load: percentiles over many probes, each firing a new alert."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time

import numpy as np

from bench import generate, report
from bench.engine import EngineProcess
from bench.hooks import HookReceiver

RULES = """
[notifiers.hook]
type = "webhook"
url = "{url}/hook"

[[rules]]
name = "probe"
pattern = 'lj-probe-[0-9]+ segfault at [0-9a-f]+'
group_by = ["host"]
severity = "critical"
"""


def _background(port: int, rate: float, stop: threading.Event, sent: list) -> None:
    """Realistic lines at about `rate` per second over one connection, until `stop`."""
    lines = [m + b"\n" for m in generate.messages(20_000, seed=7)]
    block = max(1, int(rate / 100))  # 100 writes a second
    with socket.create_connection(("127.0.0.1", port)) as s:
        i, t0 = 0, time.monotonic()
        while not stop.is_set():
            chunk = b"".join(lines[(i + k) % len(lines)] for k in range(block))
            s.sendall(chunk)
            i += block
            sent[0] = i
            ahead = i / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)


def run_alert_latency(args) -> int:
    out_dir = args.out or os.path.join(os.getcwd(), "bench", "results")
    with tempfile.TemporaryDirectory(prefix="logjet-alert-lat-") as tmp, HookReceiver() as hook:
        rules = os.path.join(tmp, "rules.toml")
        with open(rules, "w") as f:
            f.write(RULES.format(url=hook.url))
        engine = EngineProcess(
            os.path.join(tmp, "data"), "--alert-rules", rules, log_path=os.path.join(tmp, "engine.log")
        ).start()
        try:
            port = engine.ports["syslog_tcp"]
            stop, bg_sent = threading.Event(), [0]
            bg = threading.Thread(target=_background, args=(port, args.rate, stop, bg_sent), daemon=True)
            if args.rate:
                bg.start()
                time.sleep(1.0)
            sent_at: dict[str, float] = {}
            with socket.create_connection(("127.0.0.1", port)) as s:
                for i in range(args.probes):
                    host = f"probe{i}"
                    sent_at[host] = time.time()
                    s.sendall(f"<11>Nov 29 10:00:00 {host} kernel: lj-probe-{i} segfault at {i:x} ip 0\n".encode())
                    time.sleep(args.interval)
            got = hook.wait_for(lambda r: sum(len(b["alerts"]) for _, b, _ in r) >= args.probes, timeout=60)
            stop.set()
            if args.rate:
                bg.join(10)
        finally:
            engine.stop()
    lat = []
    for _, body, t in got:
        for a in body["alerts"]:
            lat.append(t - sent_at[a["labels"]["host"]])
    arr = np.sort(np.asarray(lat))
    result = {
        "bench": "alert-latency",
        "machine": report.machine(),
        "versions": report.versions(),
        "probes": args.probes,
        "interval_s": args.interval,
        "background_rate": args.rate,
        "background_sent": bg_sent[0],
        "latency_s": {
            "p50": float(np.percentile(arr, 50)),
            "p95": float(np.percentile(arr, 95)),
            "p99": float(np.percentile(arr, 99)),
            "max": float(arr[-1]),
        },
        "latencies_ms": [round(x * 1e3, 2) for x in arr.tolist()],
    }
    path, png = report.write(result, out_dir, "alert-latency", report.plot_alert_latency)
    lat = result["latency_s"]
    print(
        f"alert fire latency, send → webhook, {args.probes} probes, background {args.rate:.0f} msgs/s: "
        f"p50 {lat['p50'] * 1e3:.0f} ms, p95 {lat['p95'] * 1e3:.0f} ms, "
        f"p99 {lat['p99'] * 1e3:.0f} ms, max {lat['max'] * 1e3:.0f} ms"
    )
    print(f"result: {path}" + (f"\nplot:   {png}" if png else ""))
    return 0
