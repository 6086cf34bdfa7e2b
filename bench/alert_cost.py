"""The alert-rules side of `logjet bench ingest --alert-rules N`: what the rules cost, as
throughput with rules / without (the targets themselves are made by `bench.variants`)."""

from __future__ import annotations

from bench import variants
from bench.variants import LogjetSpec

# The target: 1,000 rules cost less than 20% of throughput.
TARGET_RULES, TARGET_COST_PCT = 1000, 20.0


def summarize(runs: dict[str, list[dict]], targets: dict[str, dict], specs: list[LogjetSpec]) -> dict:
    """{target name: figures} for every target with rules, against "logjet" (no rules). The
    headline ratio is of the medians; `paired_ratios` are per repeat."""
    out = {}
    for spec in specs:
        if not spec.rules:
            continue
        c = variants.compare(runs, targets, spec.name)
        matches = sum(r.get("alert_matches", 0) for r in runs[spec.name])
        stored = sum(r.get("stored", 0) for r in runs[spec.name])
        out[spec.name] = {
            "rules": spec.rules,
            "msgs_per_s": c["msgs_per_s"],
            "without_rules_msgs_per_s": c["base_msgs_per_s"],
            "ratio": c["ratio"],
            "cost_pct": c["cost_pct"],
            "paired_ratios": c["paired_ratios"],
            "cpu_ratio": c["cpu_ratio"],
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
