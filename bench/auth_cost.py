"""The API-auth side of `logjet bench ingest --with-auth`: what checking a token on every ingest
request costs, as throughput with auth on / the engine as it ships (tokens from loopback not needed)."""

from __future__ import annotations

from bench import variants

# The target: auth on costs at most 5% of HTTP ingest throughput.
TARGET_COST_PCT = 5.0


def summarize(runs: dict[str, list[dict]], targets: dict[str, dict]) -> dict:
    """The auth target against "logjet", or {} when the run had none."""
    if variants.AUTH_TARGET not in targets:
        return {}
    return variants.compare(runs, targets, variants.AUTH_TARGET)


def markdown(summary: dict) -> list[str]:
    """A table row of the comparison, then the verdict against the target."""
    if not summary:
        return []
    ratio = f"**{summary['ratio']:.3f}**" if summary["ratio"] is not None else "-"
    cpu = f"{summary['cpu_ratio']:.3f}" if summary["cpu_ratio"] is not None else "-"
    lines = [
        "| msgs/s, auth off | msgs/s, auth on | on / off | on / off per run | CPU per msg, on / off |",
        "|---:|---:|---:|---:|---:|",
        f"| {summary['base_msgs_per_s']:,.0f} | {summary['msgs_per_s']:,.0f} | {ratio} "
        f"| {', '.join(f'{r:.3f}' for r in summary['paired_ratios'])} | {cpu} |",
    ]
    if summary["cost_pct"] is not None:
        # The cost is judged on the ratio of medians; a negative cost is noise in auth's favour.
        met = summary["cost_pct"] <= TARGET_COST_PCT
        lines += [
            "",
            f"Target: auth on costs at most {TARGET_COST_PCT:.0f}% of throughput: "
            f"{'met' if met else 'missed'} ({summary['cost_pct']:+.1f}%).",
        ]
    return lines
