"""`logjet bench ingest`: end-to-end ingest throughput, first byte sent → last row on disk.

Starts an engine (or targets `--url` plus `--syslog-port`), pre-renders realistic syslog
(`bench.generate`), and has sender processes replay it as fast as the engine takes it. "Stored"
is read from the engine's own `logjet_written_rows_total`, and the engine's CPU from
`logjet_process_cpu_seconds_total`, both from /metrics, before and after.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import socket
import sys
import tempfile
import time
import urllib.request

from bench import generate
from bench.engine import EngineProcess

POOL = 200_000  # distinct messages; longer runs replay the pool
POLL_S = 0.02
STALL_S = 15.0  # give up when the stored count has not moved for this long


def scrape(url: str) -> dict[str, float]:
    """Every sample of /metrics as {'name{labels}': value}."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def total(samples: dict[str, float], name: str, exclude: tuple[str, ...] = ()) -> float:
    return sum(v for k, v in samples.items()
               if (k == name or k.startswith(name + "{")) and not any(x in k for x in exclude))


def _sender(path: str, proto: str, port: int, count: int, pool_n: int, start_evt, result_q) -> None:
    """Replay `count` messages from the framed pool file; reports (first_send, last_send)."""
    with open(path, "rb") as f:
        meta_len = int.from_bytes(f.read(8), "little")
        bounds = json.loads(f.read(meta_len))
        pool = f.read()
    start_evt.wait()
    t0 = time.time()
    if proto == "udp":
        msgs = [pool[bounds[i]:bounds[i + 1]] for i in range(pool_n)]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            dest = ("127.0.0.1", port)
            for i in range(count):
                s.sendto(msgs[i % pool_n], dest)
    else:
        with socket.create_connection(("127.0.0.1", port)) as s:
            full, rest = divmod(count, pool_n)
            view = memoryview(pool)
            for _ in range(full):
                s.sendall(view)
            if rest:
                s.sendall(view[:bounds[rest]])
            s.shutdown(socket.SHUT_WR)
            s.settimeout(300)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
    result_q.put((t0, time.time()))


def _machine() -> dict:
    return {"hostname": platform.node(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "python": sys.version.split()[0], "processor": platform.processor() or platform.machine()}


def run_ingest(args) -> int:
    proto = args.proto
    framing = "octet" if proto == "tcp-octet" else "lf"
    n = args.messages
    senders = args.senders
    tmp = tempfile.mkdtemp(prefix="logjet-bench-")
    pool_msgs = generate.messages(min(n, POOL), seed=args.seed, rfc5424=args.rfc5424)
    framed = [(b"%d %s" % (len(m), m)) if framing == "octet" else (m + b"\n") for m in pool_msgs]
    if proto == "udp":
        framed = pool_msgs
    bounds = [0]
    for m in framed:
        bounds.append(bounds[-1] + len(m))
    pool_path = os.path.join(tmp, "pool.bin")
    meta = json.dumps(bounds).encode()
    with open(pool_path, "wb") as f:
        f.write(len(meta).to_bytes(8, "little"))
        f.write(meta)
        f.write(b"".join(framed))
    bytes_per_msg = bounds[-1] / len(framed)

    engine = None
    if args.url:
        url = args.url.rstrip("/")
        port = args.syslog_port
    else:
        extra = ["--retention", "0"]
        if args.receivers:
            extra += ["--receivers", str(args.receivers)]
        if args.parsers:
            extra += ["--parsers", str(args.parsers)]
        engine = EngineProcess(os.path.join(tmp, "data"), *extra, log_path=os.path.join(tmp, "engine.log")).start()
        url = engine.url
        port = engine.ports["syslog_udp" if proto == "udp" else "syslog_tcp"]
    try:
        result = _measure(url, port, proto, n, senders, pool_path, len(framed), bytes_per_msg)
    finally:
        if engine:
            engine.stop()
    result.update({
        "bench": "ingest", "machine": _machine(),
        "config": {"messages": n, "proto": proto, "senders": senders, "receivers": args.receivers,
                   "parsers": args.parsers, "rfc5424": args.rfc5424, "seed": args.seed,
                   "bytes_per_message": round(bytes_per_msg, 1), "target": args.url or "started"},
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    _report(result, args)
    return 0 if result["stored"] >= n or proto == "udp" else 1


def _measure(url, port, proto, n, senders, pool_path, pool_n, bytes_per_msg) -> dict:
    ctx = multiprocessing.get_context("spawn")
    start_evt = ctx.Event()
    results = ctx.Queue()
    shares = [n // senders + (1 if i < n % senders else 0) for i in range(senders)]
    procs = [ctx.Process(target=_sender, args=(pool_path, proto, port, c, pool_n, start_evt, results))
             for c in shares if c]
    for p in procs:
        p.start()
    time.sleep(0.5)  # senders load their pool
    before = scrape(url)
    rows0 = total(before, "logjet_written_rows_total")
    t0 = time.time()
    start_evt.set()
    stored = 0.0
    last_change = time.time()
    timeline = []
    while True:
        time.sleep(POLL_S)
        now = time.time()
        stored = total(scrape(url), "logjet_written_rows_total") - rows0
        if timeline and stored != timeline[-1][1]:
            last_change = now
        timeline.append((round(now - t0, 3), stored))
        if stored >= n:
            break
        if now - last_change > STALL_S and not any(p.is_alive() for p in procs):
            break
    t_end = time.time()
    send_times = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    after = scrape(url)
    first_send = min(t for t, _ in send_times)
    seconds = t_end - first_send
    cpu = total(after, "logjet_process_cpu_seconds_total", exclude=('role="api"',)) - \
        total(before, "logjet_process_cpu_seconds_total", exclude=('role="api"',))
    cpu_by_role = {}
    for key, value in after.items():
        if key.startswith("logjet_process_cpu_seconds_total{"):
            cpu_by_role[key.split('"')[1]] = round(value - before.get(key, 0.0), 3)
    dropped = total(after, "logjet_dropped_messages_total") - total(before, "logjet_dropped_messages_total")
    return {
        "sent": n, "stored": int(stored), "dropped": int(dropped), "seconds": round(seconds, 3),
        "send_seconds": round(max(t for _, t in send_times) - first_send, 3),
        "msgs_per_s": round(stored / seconds, 1) if seconds > 0 else 0.0,
        "mb_per_s": round(stored * bytes_per_msg / seconds / 1e6, 2) if seconds > 0 else 0.0,
        "cpu_s_per_million": round(cpu / max(stored, 1) * 1e6, 3),
        "cpu_by_role": cpu_by_role,
        "timeline": timeline[:: max(1, len(timeline) // 200)],
    }


def _report(result: dict, args) -> None:
    out_dir = args.out or os.path.join(os.getcwd(), "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"ingest-{result['config']['proto']}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline", "machine")}))
    print(f"sent {result['sent']:,}  stored {result['stored']:,}  in {result['seconds']:.2f}s  "
          f"→ {result['msgs_per_s']:,.0f} msgs/s, {result['mb_per_s']:.1f} MB/s, "
          f"{result['cpu_s_per_million']:.2f} engine CPU s per million  (result: {path})", file=sys.stderr)
