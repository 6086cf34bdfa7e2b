"""`logjet bench suite FILE`: run the benchmark cases a TOML file declares, and write one
Markdown summary of them (the tables BENCHMARKS.md is made of).

A suite file has a `goal`, then `[[case]]` tables: `name`, `goal` (what the case shows),
`bench` ("ingest" or "scaling") and `args`, a table of that bench's command-line options
(`messages = 1000000`, `peer = ["rsyslog", "syslog-ng"]`, `rfc5424 = true`). The options go
through the same argument parser as the command line, so defaults and checks are the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from typing import Any

from bench import report


def case_argv(case: dict[str, Any]) -> list[str]:
    argv = ["bench", case["bench"]]
    for key, value in case.get("args", {}).items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False:
            continue
        elif isinstance(value, list):
            for v in value:
                argv += [flag, str(v)]
        else:
            argv += [flag, str(value)]
    return argv


def run_suite(args: argparse.Namespace) -> int:
    from bench.arguments import bench_parser

    with open(args.file, "rb") as f:
        suite = tomllib.load(f)
    out = args.out or os.path.join(os.getcwd(), "bench", "results")
    name = os.path.splitext(os.path.basename(args.file))[0]
    sections = [
        f"# Suite `{name}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        suite.get("goal", ""),
        "",
        machine_line(report.machine()),
        "",
    ]
    code = 0
    for case in suite["case"]:
        if args.only and case["name"] not in args.only:
            continue
        argv = case_argv(case) + ["--out", out]
        print(f"== {case['name']}: logjet {' '.join(argv)}", file=sys.stderr)
        cargs = bench_parser().parse_args(argv[1:])  # argv[0] is "bench"
        if case["bench"] == "ingest":
            from bench.ingest import ingest

            result, json_path, png_path = ingest(cargs)
            table = report.markdown_ingest(result)
            code |= (
                0 if all(r["outcome"] in ("complete", "settled") for rs in result["runs"].values() for r in rs) else 1
            )
        elif case["bench"] == "scaling":
            from bench.scaling import markdown_scaling, scaling

            result, json_path, png_path = scaling(cargs)
            table = markdown_scaling(result)
        else:
            raise SystemExit(f"{args.file}: case {case['name']}: unknown bench {case['bench']!r}")
        notes = "".join(f"\nNote: {n}" for n in result.get("notes", []))
        sections += [
            f"## {case['name']}",
            "",
            case.get("goal", ""),
            "",
            f"`logjet {' '.join(case_argv(case))}`",
            "",
            table,
            notes,
            "",
            f"Result: `{os.path.basename(json_path)}`"
            + (f", plot: `{os.path.basename(png_path)}`" if png_path else ""),
            "",
        ]
    md_path = os.path.join(out, f"suite-{name}-{time.strftime('%Y%m%d-%H%M%S')}.md")
    with open(md_path, "w") as f:
        f.write("\n".join(sections))
    print("\n".join(sections))
    print(f"summary: {md_path}", file=sys.stderr)
    return code


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"Machine: {m.get('cpu_model', m.get('machine'))}, {m['cpus']} CPUs "
        f"({m.get('sockets', '?')} socket, {m.get('cores_per_socket', '?')} cores/socket, "
        f"{m.get('threads_per_core', '?')} threads/core), {m.get('memory_gib', '?')} GiB, "
        f"{m['platform']}, Python {m['python']}; load average at start {m.get('load_avg_at_start')}."
    )
