"""`logjet bench start`: how long `logjet serve` takes to start, and how soon the first row sent
after it is ready can be read back.

Each run starts the engine on a fresh data dir (port 0, kernels already cached: run it once
first) and records: the ports line on stdout (every worker ready), the first `/readyz` 200, and
the time from sending one syslog line over TCP to the first query that returns it. Runs of the
worker start methods (`supervisor.worker_start`) alternate, so a shared machine's load falls on
each alike; the figures are medians, with the machine's busy share over the whole bench.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from bench.engine import EngineProcess
from bench.measure import _host_ticks, host_cpu

READY_LINE = re.compile(r"ready in ([0-9.]+) s")
# The fork server's warm-up steps in that line: "(kernels loaded: imports 1.02, framing 0.31 s)".
STEP = re.compile(r"(\w+) ([0-9.]+)(?:,| s\))")
POLL_S = 0.01


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def one_start(method: str, folder: str, run: int) -> dict[str, float]:
    """Start, measure, stop one engine started with worker start `method`."""
    config = os.path.join(folder, f"{method}-{run}.toml")
    with open(config, "w") as f:
        f.write(f'[supervisor]\nworker_start = "{method}"\n')
    engine = EngineProcess(
        os.path.join(folder, f"data-{method}-{run}"),
        "--config",
        config,
        log_path=os.path.join(folder, f"{method}-{run}.log"),
    )
    t0 = time.monotonic()
    engine.start()
    try:
        ports_s = time.monotonic() - t0
        while _get(engine.url + "/readyz")[0] != 200:
            time.sleep(POLL_S)
        readyz_s = time.monotonic() - t0
        token = "first" + uuid.uuid4().hex[:12]
        sent = time.monotonic()
        line = f"<13>1 - bench start - - - {token}\n".encode()
        with socket.create_connection(("127.0.0.1", engine.ports["syslog_tcp"])) as s:
            s.sendall(line)
        url = engine.url + "/api/v1/query?" + urllib.parse.urlencode({"q": token})
        while True:
            status, body = _get(url)
            if status == 200 and token.encode() in body:
                break
            time.sleep(POLL_S)
        visible_s = time.monotonic() - sent
    finally:
        engine.stop()
    log = engine.log_text()
    said = READY_LINE.findall(log)
    last = log[log.rfind("ready in ") :].split("\n", 1)[0]
    steps = {f"fork_server_{k}_s": float(v) for k, v in STEP.findall(last[last.find("(") :])} if "(" in last else {}
    return {
        "ports_s": ports_s,
        "readyz_s": readyz_s,
        "first_row_s": visible_s,
        "said_ready_s": float(said[-1]) if said else float("nan"),
        **steps,
    }


def run_start_time(args: argparse.Namespace) -> int:
    methods = [m for m in args.methods.split(",") if m]
    results: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    ticks = _host_ticks()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="logjet-bench-start-") as folder:
        for run in range(args.runs):
            for method in methods if run % 2 == 0 else list(reversed(methods)):
                got = one_start(method, folder, run)
                results[method].append(got)
                print(f"{method:10s} run {run}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items()), flush=True)
    load = host_cpu(ticks, _host_ticks(), time.monotonic() - t0)
    summary = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for m, rs in results.items() if rs}
    print(f"medians of {args.runs} runs each (machine busy: {json.dumps(load)}, load average {os.getloadavg()[0]:.1f})")
    for m, med in summary.items():
        print(f"  {m:10s} " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    if len(methods) == 2 and all(summary.get(m) for m in methods):
        a, b = methods
        print(f"  {b}/{a} ready ratio: {summary[b]['ports_s'] / summary[a]['ports_s']:.2f}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, f"start-{int(time.time())}.json")
        with open(path, "w") as f:
            json.dump({"runs": results, "medians": summary, "host": load}, f, indent=1)
        print(f"wrote {path}")
    return 0
