"""N realistic alert rules as the text of a rules file (config/alerts.toml's format), the same
for the same N and seed: `logjet bench alert-rules N`, and the rules of `bench ingest --alert-rules N`.

The first four rules (`HITS`) match about 3% of `bench.generate`'s synthetic messages (nginx
502-504, failed root logins, last-retry upstream timeouts, slow queries). The rest come from the
templates of `bench.alert_templates`: things that traffic never logs, or narrow slices of it (an
address prefix, a path), so the share of messages that match some rule stays near 3% for 10 or
10,000 rules and `bench ingest --alert-rules` compares rule counts, not match rates
(tests/bench/test_alert_rules.py measures it). Like a real rules file, most rules fire on one
match; a fifth count to a threshold in a window, a third group by host, some have a `where`.
"""

from __future__ import annotations

import random
import re

from bench import tomlw
from bench.alert_templates import FAMILIES, Family

# Always the first rules of a file, in this order. The shares are of bench.generate's traffic,
# where each of its 13 templates is 1/13 of the messages.
HITS = [
    # 2 of its 15 statuses (502, 503) of the nginx template: 1.03%
    {
        "name": "nginx-5xx-gateway",
        "pattern": r'" 50[234] \d+ ',
        "where": "app:nginx",
        "threshold": 20,
        "window": "1m",
        "group_by": ["host"],
        "severity": "critical",
        "annotations": {"summary": "{{ $value }} bad-gateway answers in a minute on {{ $labels.host }}"},
    },
    # 1 of its 10 users: 0.77%
    {
        "name": "sshd-root-password",
        "pattern": r"Failed password for root from \S+ port \d+",
        "where": "app:sshd",
        "threshold": 5,
        "window": "5m",
        "group_by": ["host"],
        "severity": "warning",
        "labels": {"team": "security"},
    },
    # 1 of its 10 attempt numbers: 0.77%
    {
        "name": "app-upstream-timeout-last-attempt",
        "pattern": r'msg="upstream timeout" upstream=\S+ attempt=9 ',
        "severity": "warning",
    },
    # durations of 2,900 ms and up, of 1-3,000: 0.26%
    {
        "name": "postgres-slow-query",
        "pattern": r"duration: (29\d\d|[3-9]\d{3}|\d{5,})(\.\d+)? ms",
        "where": "app:postgres",
        "group_by": ["host"],
        "severity": "info",
    },
]
THRESHOLDS = [3, 5, 10, 20, 50, 100]
WINDOWS = ["30s", "1m", "5m", "10m", "15m"]
MAX_TRIES_PER_RULE = 100  # distinct patterns get rarer as families fill up; stop well before looping forever


def _slug(text: str) -> str:
    # Slugs are made from regex pieces: drop the escapes, keep the words.
    return re.sub(r"[^A-Za-z0-9_.:-]+", "-", text.replace("\\", "")).strip("-.")[:40] or "rule"


def _extras(rng: random.Random, family: Family, slug: str, rule: dict) -> None:
    """Optional keys, in the proportions of a real rules file: most rules alert on one match."""
    x = rng.random()
    if x < 0.2:
        rule["threshold"] = rng.choice(THRESHOLDS)
        rule["window"] = rng.choice(WINDOWS)
        rule["group_by"] = ["host"] if rng.random() < 0.8 else ["host", "app"]
    elif x < 0.35:
        rule["group_by"] = ["host"]
    if family.app and rng.random() < 0.25:
        rule["where"] = f"app:{family.app}"
    rule["severity"] = family.severity
    if rng.random() < 0.3:
        rule["labels"] = {"team": family.team}
    if rng.random() < 0.2:
        what = f"{family.name.replace('-', ' ')} ({slug})"
        rule["annotations"] = {
            "summary": (f"{{{{ $value }}}} times {what} in {rule['window']}" if "window" in rule else what)
            + (" on {{ $labels.host }}" if "group_by" in rule else "")
        }


def rules(n: int, seed: int = 42) -> list[dict]:
    """`n` rules: `HITS` first, then generated ones with distinct patterns. The list for n is a
    prefix of the list for any larger n (same seed)."""
    out = [dict(h) for h in HITS[:n]]
    seen = {r["pattern"] for r in out}
    rng = random.Random(seed)
    weights = [f.weight for f in FAMILIES]
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > MAX_TRIES_PER_RULE * n:
            raise ValueError(f"only {len(out)} distinct patterns found for {n} rules")
        family = rng.choices(FAMILIES, weights)[0]
        slug, pattern = family.make(rng)
        if pattern in seen:
            continue
        seen.add(pattern)
        slug = _slug(slug)
        rule = {"name": f"{family.name}-{slug}-{len(out)}", "pattern": pattern}
        _extras(rng, family, slug, rule)
        out.append(rule)
    return out


def render(rule_list: list[dict], header: str = "") -> str:
    head = "".join(f"# {line}\n" for line in header.splitlines())
    return head + "\n" + tomlw.array_of_tables("rules", rule_list, literal=("pattern",))


def text(n: int, seed: int = 42) -> str:
    """The rules file for `n` rules."""
    return render(
        rules(n, seed),
        f"{n:,} alert rules made by `logjet bench alert-rules {n} --seed {seed}`\n"
        "(bench/alert_rules.py); the format is documented in config/alerts.toml.",
    )


def write(path: str, n: int, seed: int = 42) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text(n, seed))
    return path


def run_alert_rules(args) -> int:
    """`logjet bench alert-rules N [--out FILE] [--seed S]`."""
    if args.count < 1:
        raise SystemExit("logjet bench alert-rules: N must be at least 1")
    if args.out and args.out != "-":
        write(args.out, args.count, args.seed)
    else:
        print(text(args.count, args.seed), end="")
    return 0
