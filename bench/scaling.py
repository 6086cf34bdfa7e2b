"""`logjet bench scaling`: ingest throughput over a grid of R receivers × P parsers.

Each cell starts a fresh engine with `--receivers R --parsers P` and measures one ingest run
(`--repeat` for a median) of the same pre-rendered pool, with at least R sender connections so
SO_REUSEPORT has connections to spread. The counts default to 1, 2, 4, ... up to the usable
cores; `--diagonal` runs only R = P, the quick way on a big machine. The result is a JSON file
and a PNG of msgs/s against P, one line per R, beside the linear ideal from the 1 × 1 cell.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from bench import report
from bench.ingest import default_out, pool_messages
from bench.measure import Load, measure
from bench.send import write_pool
from bench.targets import LogjetTarget
from bench.tlscert import engine_tls_args


def default_counts() -> list[int]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    counts, c = [], 1
    while c < cores:
        counts.append(c)
        c *= 2
    return counts + [cores]


def run_scaling(args) -> int:
    result, json_path, png_path = scaling(args)
    print(markdown_scaling(result))
    print(f"result: {json_path}" + (f"\nplot:   {png_path}" if png_path else ""), file=sys.stderr)
    return 0 if all(r["outcome"] == "complete" for c in result["cells"] for r in c["runs"]) else 1


def scaling(args) -> tuple[dict, str, str | None]:
    """Run the grid; write the JSON and PNG. Returns (result, JSON path, PNG path)."""
    counts = [int(x) for x in args.counts.split(",") if x.strip()] if args.counts else default_counts()
    cells = [(r, p) for r in counts for p in counts if not args.diagonal or r == p]
    args.rfc5424 = getattr(args, "rfc5424", False)
    tmp = tempfile.mkdtemp(prefix="logjet-scaling-")
    results = []
    try:
        pool = write_pool(tmp, pool_messages(args), args.proto)
        tls = engine_tls_args(tmp) if args.proto == "tls" else []
        for r, p in cells:
            senders = max(args.senders, r)
            load = Load(
                args.proto, args.messages, senders, 0.0, 0.0, float(args.timeout), args.warmup, batch=args.batch
            )
            runs = []
            for rep in range(args.repeat):
                target = LogjetTarget(
                    os.path.join(tmp, f"r{r}p{p}-{rep}"), ["--receivers", str(r), "--parsers", str(p), *tls]
                )
                target.start()
                try:
                    run = measure(target, pool, load, quiet=args.quiet)
                finally:
                    target.stop()
                    target.remove()
                runs.append({k: v for k, v in run.items() if k != "timeline"})
            cell = {
                "receivers": r,
                "parsers": p,
                "senders": senders,
                "msgs_per_s": report.median([x["msgs_per_s"] for x in runs]),
                "runs": runs,
            }
            results.append(cell)
            print(f"R={r} P={p}: {cell['msgs_per_s']:,.0f} msgs/s", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        **report.heading("scaling"),
        "config": {
            "messages": args.messages,
            "proto": args.proto,
            "data": args.data,
            "senders_min": args.senders,
            "counts": counts,
            "diagonal": args.diagonal,
            "repeat": args.repeat,
            "seed": args.seed,
            "warmup": args.warmup,
        },
        "cells": results,
    }
    json_path, png_path = report.write(result, args.out or default_out(), f"scaling-{args.proto}", plot_scaling)
    return result, json_path, png_path


def markdown_scaling(result: dict) -> str:
    cells = {(c["receivers"], c["parsers"]): c["msgs_per_s"] for c in result["cells"]}
    rs = sorted({r for r, _ in cells})
    ps = sorted({p for _, p in cells})
    lines = ["| receivers \\ parsers | " + " | ".join(f"P={p}" for p in ps) + " |", "|---|" + "---:|" * len(ps)]
    for r in rs:
        row = [f"{cells[(r, p)]:,.0f}" if (r, p) in cells else "" for p in ps]
        lines.append(f"| R={r} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_scaling(result: dict, path: str) -> None:
    import matplotlib.pyplot as plt

    cells = result["cells"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=75)
    lines: dict[str, list[tuple[int, float]]] = {}
    for c in cells:
        label = "R = P" if result["config"]["diagonal"] else f"R={c['receivers']}"
        lines.setdefault(label, []).append((c["parsers"], c["msgs_per_s"] / 1000))
    for label, points in lines.items():
        points.sort()
        ax.plot([p for p, _ in points], [v for _, v in points], marker="o", label=label)
    if result["config"]["diagonal"]:
        ax.set_xlabel("R = P (receivers = parsers)")
    else:
        ax.set_xlabel("parsers (P)")
    base = next((c["msgs_per_s"] / 1000 for c in cells if c["receivers"] == 1 and c["parsers"] == 1), None)
    if base:
        ps = sorted({c["parsers"] for c in cells})
        ax.plot(ps, [base * p for p in ps], ls=":", color="#777777", label="linear from 1×1")
    m = result["machine"]
    ax.set_title(
        f"logjet ingest scaling ({result['config']['proto']}) on {m.get('cpu_model', '?')}, {m['cpus']} CPUs",
        fontsize=8,
    )
    ax.set_ylabel("thousand msgs/s")
    ax.set_xticks(sorted({c["parsers"] for c in cells}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
