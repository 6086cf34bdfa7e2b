"""The alert-rules side of `logjet bench ingest --alert-rules N`: the logjet targets of the run
(without rules, and with N generated rules for each N) and what the rules cost, as throughput
with rules / without.

All logjet targets of such a run get the same engine arguments and the same configuration file,
save `--alert-rules`. The file only raises the supervisor's start timeout: compiling thousands
of patterns (hyperscan) makes start-up slower, about 10 s for 10,000 on one core.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from bench import alert_rules, tomlw

RULES_START_TIMEOUT_S = 600.0
# The target: 1,000 rules cost less than 20% of throughput.
TARGET_RULES, TARGET_COST_PCT = 1000, 20.0


class LogjetSpec(NamedTuple):
    name: str
    engine_args: list[str]
    rules: int  # 0 = no rules file
    start_timeout: float | None  # None: EngineProcess's default


def target_name(rules: int) -> str:
    return f"logjet+{rules} rules"


def logjet_specs(args, tmp: str, engine_args: list[str]) -> list[LogjetSpec]:
    """The logjet targets of a run, the one without rules first. Writes the rules files (and the
    shared configuration file) into `tmp`."""
    counts = list(dict.fromkeys(args.alert_rules or []))  # in the order given, once each
    if not counts:
        return [LogjetSpec("logjet", engine_args, 0, None)]
    if any(n < 1 for n in counts):
        raise SystemExit("logjet bench ingest: --alert-rules needs a count of at least 1")
    if args.url:
        raise SystemExit("logjet bench ingest: --alert-rules needs an engine the bench starts (not --url)")
    config = os.path.join(tmp, "logjet-bench.toml")
    with open(config, "w") as f:
        f.write(tomlw.table("supervisor", {"start_timeout": f"{RULES_START_TIMEOUT_S:.0f}s"}))
    common = ["--config", config, *engine_args]
    # Our own wait is longer than the supervisor's, so a slow start fails with the engine's reason.
    wait = RULES_START_TIMEOUT_S + 60
    specs = [LogjetSpec("logjet", common, 0, None)]
    for n in counts:
        path = alert_rules.write(os.path.join(tmp, f"alert-rules-{n}.toml"), n, seed=args.seed)
        specs.append(LogjetSpec(target_name(n), [*common, "--alert-rules", path], n, wait))
    return specs


def summarize(runs: dict[str, list[dict]], targets: dict[str, dict], specs: list[LogjetSpec]) -> dict:
    """{target name: figures} for every target with rules, against "logjet" (no rules). The
    headline ratio is of the medians; `paired_ratios` are per repeat (the two runs were
    neighbours in time, so drift on the machine mostly cancels in each)."""
    base = targets["logjet"]
    out = {}
    for spec in specs:
        if not spec.rules:
            continue
        t = targets[spec.name]
        ratio = round(t["msgs_per_s"] / base["msgs_per_s"], 3) if t["msgs_per_s"] and base["msgs_per_s"] else None
        paired = [
            round(w["msgs_per_s"] / b["msgs_per_s"], 3)
            for b, w in zip(runs["logjet"], runs[spec.name])
            if b["msgs_per_s"] and w["msgs_per_s"]
        ]
        cpu = (
            round(t["cpu_s_per_million"] / base["cpu_s_per_million"], 3)
            if t["cpu_s_per_million"] and base["cpu_s_per_million"]
            else None
        )
        matches = sum(r.get("alert_matches", 0) for r in runs[spec.name])
        stored = sum(r.get("stored", 0) for r in runs[spec.name])
        out[spec.name] = {
            "rules": spec.rules,
            "msgs_per_s": t["msgs_per_s"],
            "without_rules_msgs_per_s": base["msgs_per_s"],
            "ratio": ratio,
            "cost_pct": round(100 * (1 - ratio), 1) if ratio is not None else None,
            "paired_ratios": paired,
            "cpu_ratio": cpu,
            # Rule matches (a row matching two rules counts twice) per message stored:
            # about 0.03 with the synthetic data; 0 means the engine applied no rules.
            "matches_per_message": round(matches / stored, 4) if stored else 0.0,
        }
    return out


def notes(summary: dict) -> list[str]:
    return [
        f"{name}: the engine counted no alert matches (logjet_alert_matches_total), so it applied no "
        "rules: the figure is of the engine without them"
        for name, s in summary.items()
        if s["msgs_per_s"] and not s["matches_per_message"]
    ]


def markdown(summary: dict) -> list[str]:
    """Table rows: one per rule count, with the ratio and the cost; then the target's verdict."""
    if not summary:
        return []
    lines = [
        "| alert rules | msgs/s without rules | msgs/s with rules | with / without | throughput cost "
        "| CPU per msg, with / without | with / without per run | rule matches per msg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summary.values():
        ratio = f"**{s['ratio']:.2f}**" if s["ratio"] is not None else "-"
        cost = f"**{s['cost_pct']:.1f}%**" if s["cost_pct"] is not None else "-"
        cpu = f"{s['cpu_ratio']:.2f}" if s["cpu_ratio"] is not None else "-"
        lines.append(
            f"| {s['rules']:,} | {s['without_rules_msgs_per_s']:,.0f} | {s['msgs_per_s']:,.0f} | {ratio} "
            f"| {cost} | {cpu} | {', '.join(f'{r:.2f}' for r in s['paired_ratios'])} "
            f"| {s['matches_per_message']:.3f} |"
        )
    target = [s for s in summary.values() if s["rules"] == TARGET_RULES and s["cost_pct"] is not None]
    if target:
        s = target[0]
        verdict = (
            "not measured: the engine applied no rules"
            if not s["matches_per_message"]
            else f"{'met' if s['cost_pct'] < TARGET_COST_PCT else 'missed'} ({s['cost_pct']:.1f}%)"
        )
        lines += ["", f"Target: {TARGET_RULES:,} rules cost less than {TARGET_COST_PCT:.0f}% of throughput: {verdict}."]
    return lines
