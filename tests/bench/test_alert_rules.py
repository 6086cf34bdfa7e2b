"""The alert rules the benchmark generates: repeatable, N distinct rules in the documented format,
every pattern compiled by hyperscan as the engine compiles them, and about 3% of the synthetic
traffic matching some rule whatever N; and `bench ingest --alert-rules` reporting the cost.
(Compile times are printed, never asserted.)"""

from __future__ import annotations

import json
import pathlib
import re
import time
import tomllib
from argparse import Namespace

import hyperscan
import pytest

from bench import alert_cost, alert_rules, generate, tomlw, variants
from engine.cli import main
from engine.config import load
from engine.query.language.parser import parse
from engine.units import parse_duration_ns

# The keys config/alerts.toml documents for a rule.
RULE_KEYS = {
    "name",
    "pattern",
    "query",
    "where",
    "threshold",
    "window",
    "group_by",
    "absent",
    "severity",
    "labels",
    "annotations",
    "notifiers",
}
NAME = re.compile(r"[A-Za-z0-9_.:-]+")
# Share of synthetic messages that match at least one rule: measured 3.0% for 10 and 1,000 rules
# and 3.1% for 10,000 (seed 42, 20,000 messages); the band leaves room for other seeds.
MATCH_BAND = (0.01, 0.05)
SAMPLE = 20_000


def compile_db(patterns: list[str]) -> hyperscan.Database:
    # The flags the engine's matcher uses: one report per rule per message, ^ and $ per line.
    db = hyperscan.Database()
    db.compile(
        expressions=[p.encode() for p in patterns],
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_MULTILINE,
    )
    return db


def bodies(count: int) -> list[str]:
    """The MSG part of the benchmark's synthetic messages: what a rule's pattern is searched in."""
    return [r.body for r in generate.records(count, seed=42, now=0)]


def hyperscan_matched(db: hyperscan.Database, texts: list[str]) -> list[set[int]]:
    out = []
    for text in texts:
        got: set[int] = set()
        db.scan(text.encode(), match_event_handler=lambda rule, _from, _to, _flags, _ctx: got.add(rule))
        out.append(got)
    return out


@pytest.fixture(scope="module")
def rules_10k() -> list[dict]:
    return tomllib.loads(alert_rules.text(10_000))["rules"]


@pytest.fixture(scope="module")
def compiled_10k(rules_10k) -> tuple[hyperscan.Database, float]:
    """The 10,000 patterns compiled once for the module, and how long that took."""
    started = time.perf_counter()
    db = compile_db([r["pattern"] for r in rules_10k])
    return db, time.perf_counter() - started


def test_same_seed_same_file_and_smaller_sets_are_prefixes():
    assert alert_rules.text(300, seed=7) == alert_rules.text(300, seed=7)
    assert alert_rules.text(300, seed=7) != alert_rules.text(300, seed=8)
    assert alert_rules.rules(300, seed=7)[:50] == alert_rules.rules(50, seed=7)
    assert [r["name"] for r in alert_rules.rules(3)] == [h["name"] for h in alert_rules.HITS[:3]]


@pytest.mark.parametrize("n", [1, 10, 1000])
def test_n_distinct_rules_with_documented_keys_only(n):
    check_rules(tomllib.loads(alert_rules.text(n))["rules"], n)


@pytest.mark.slow  # 10k rules
def test_10k_distinct_rules_with_documented_keys_only(rules_10k):
    check_rules(rules_10k, 10_000)
    # Mostly plain pattern rules, some with thresholds, grouping and filters, as in real files.
    with_threshold = sum("threshold" in r for r in rules_10k) / len(rules_10k)
    assert 0.1 < with_threshold < 0.3
    assert 0.2 < sum("group_by" in r for r in rules_10k) / len(rules_10k) < 0.5
    assert sum("where" in r for r in rules_10k) > 500
    # Patterns with a single quote are written as basic strings, and read back the same.
    assert sum("'" in r["pattern"] for r in rules_10k) > 50


def check_rules(rules: list[dict], n: int) -> None:
    assert len(rules) == n
    assert len({r["name"] for r in rules}) == n and len({r["pattern"] for r in rules}) == n
    for r in rules:
        assert set(r) <= RULE_KEYS and NAME.fullmatch(r["name"]), r
        assert r["pattern"] and "query" not in r and "absent" not in r
        if "threshold" in r:
            assert isinstance(r["threshold"], int) and r["threshold"] >= 1
        if "window" in r:
            assert 0 < parse_duration_ns(r["window"]) <= parse_duration_ns("24h")
        if "where" in r:
            parse(r["where"])
        assert all(isinstance(f, str) for f in r.get("group_by", []))
        assert r["severity"] in ("critical", "warning", "info")
        for table in ("labels", "annotations"):
            assert all(isinstance(v, str) for v in r.get(table, {}).values())


@pytest.mark.slow  # compiles 10k rules
def test_every_pattern_of_10k_rules_compiles_with_hyperscan(rules_10k, compiled_10k, record_property):
    started = time.perf_counter()
    compile_db([r["pattern"] for r in rules_10k[:1000]])
    for n, seconds in ((1000, time.perf_counter() - started), (10_000, compiled_10k[1])):
        record_property(f"hyperscan_compile_s_{n}", round(seconds, 2))
        print(f"hyperscan compile of {n:,} patterns: {seconds:.2f} s")


@pytest.mark.parametrize("n", [10, 1000])
def test_python_re_and_hyperscan_agree_on_the_matching_share(n):
    """Measured with `re` over a sample (hyperscan syntax is a subset of it here), and hyperscan
    must find the very same messages."""
    patterns = [r["pattern"] for r in alert_rules.rules(n)]
    texts = bodies(2000 if n > 100 else SAMPLE)
    compiled = [re.compile(p, re.MULTILINE) for p in patterns]
    by_re = [{i for i, c in enumerate(compiled) if c.search(t)} for t in texts]
    assert by_re == hyperscan_matched(compile_db(patterns), texts)
    share = sum(bool(m) for m in by_re) / len(texts)
    assert MATCH_BAND[0] <= share <= MATCH_BAND[1], share


@pytest.mark.slow  # compiles 10k rules
def test_matching_share_stays_in_the_band_with_10k_rules(compiled_10k):
    matched = hyperscan_matched(compiled_10k[0], bodies(SAMPLE))
    share = sum(bool(m) for m in matched) / SAMPLE
    rules_hit = set().union(*matched)
    print(f"10,000 rules: {share:.2%} of {SAMPLE:,} messages match, {len(rules_hit)} rules match something")
    assert MATCH_BAND[0] <= share <= MATCH_BAND[1]
    # The four HITS carry most matches; a few dozen others match narrow slices of the traffic.
    assert set(range(len(alert_rules.HITS))) <= rules_hit and len(rules_hit) < 200


def test_cli_writes_the_rules_file(tmp_path):
    out = tmp_path / "rules.toml"
    assert main(["bench", "alert-rules", "25", "--seed", "3", "--out", str(out)]) == 0
    assert out.read_text() == alert_rules.text(25, seed=3)


@pytest.mark.parametrize("s", ["plain", r"a\d+ 'quoted' \"x\"", "tab\there", "new\nline", "bell\x07", "ünï €"])
def test_toml_strings_read_back_as_written(s):
    for literal in (False, True):
        text = tomlw.table(
            "t", {"v": s, "list": [s, 1, True], "inline": {"k": s, "odd key": s}}, literal=("v",) if literal else ()
        )
        assert tomllib.loads(text)["t"] == {"v": s, "list": [s, 1, True], "inline": {"k": s, "odd key": s}}


def test_rules_targets_share_one_config_and_differ_by_the_rules_file(tmp_path):
    args = Namespace(alert_rules=[10, 1000, 10], url=None, seed=42)
    specs = variants.logjet_specs(args, str(tmp_path), ["--parsers", "1"])
    assert [s.name for s in specs] == ["logjet", "logjet+10 rules", "logjet+1000 rules"]
    assert [s.rules for s in specs] == [0, 10, 1000]
    base = specs[0].engine_args
    for spec in specs[1:]:
        assert spec.engine_args[: len(base)] == base and spec.engine_args[len(base)] == "--alert-rules"
        [path] = spec.engine_args[len(base) + 1 :]
        assert len(tomllib.loads(pathlib.Path(path).read_text())["rules"]) == spec.rules
        assert spec.start_timeout > variants.RULES_START_TIMEOUT_S
    config = base[base.index("--config") + 1]
    assert str(load(config).supervisor.start_timeout) == f"{variants.RULES_START_TIMEOUT_S:.0f}s"
    assert variants.logjet_specs(Namespace(alert_rules=None, url=None, seed=42), str(tmp_path), []) == [
        variants.LogjetSpec("logjet", [], 0, None)
    ]
    with pytest.raises(SystemExit):
        variants.logjet_specs(Namespace(alert_rules=[10], url="http://127.0.0.1:8080", seed=42), str(tmp_path), [])


def test_cost_summary_pairs_runs_by_repeat():
    def run(rate, cpu, matches=0, stored=1000):
        return {"msgs_per_s": rate, "cpu_s_per_million": cpu, "alert_matches": matches, "stored": stored}

    runs = {
        "logjet": [run(100.0, 4.0), run(200.0, 4.0)],
        "logjet+10 rules": [run(90.0, 5.0, 30), run(150.0, 5.0, 30)],
        "logjet+1000 rules": [run(0.0, 0.0), run(0.0, 0.0)],
    }  # did not start
    targets = {
        name: {"msgs_per_s": sorted(r["msgs_per_s"] for r in rs)[1], "cpu_s_per_million": rs[0]["cpu_s_per_million"]}
        for name, rs in runs.items()
    }
    specs = [
        variants.LogjetSpec("logjet", [], 0, None),
        variants.LogjetSpec("logjet+10 rules", [], 10, 1.0),
        variants.LogjetSpec("logjet+1000 rules", [], 1000, 1.0),
    ]
    s = alert_cost.summarize(runs, targets, specs)
    assert s["logjet+10 rules"] == {
        "rules": 10,
        "msgs_per_s": 150.0,
        "without_rules_msgs_per_s": 200.0,
        "ratio": 0.75,
        "cost_pct": 25.0,
        "paired_ratios": [0.9, 0.75],
        "cpu_ratio": 1.25,
        "matches_per_message": 0.03,
    }
    assert s["logjet+1000 rules"]["ratio"] is None and s["logjet+1000 rules"]["paired_ratios"] == []
    table = "\n".join(alert_cost.markdown(s))
    assert "| 10 | 200 | 150 | **0.75** | **25.0%** | 1.25 | 0.90, 0.75 | 0.030 |" in table
    assert alert_cost.notes(s) == []  # the one that ran matched; the one that did not start has no figure


@pytest.mark.e2e
def test_bench_ingest_with_alert_rules_reports_both_figures_and_the_ratio(tmp_path):
    out = tmp_path / "results"
    code = main(
        [
            "bench",
            "ingest",
            "--messages",
            "20000",
            "--alert-rules",
            "10",
            "--senders",
            "2",
            "--warmup",
            "1000",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    [result_path] = out.glob("ingest-tcp-*.json")
    result = json.loads(result_path.read_text())
    assert (out / result["plot"]).stat().st_size > 1000
    assert result["config"]["alert_rules"] == [10]
    for name in ("logjet", "logjet+10 rules"):
        [run] = result["runs"][name]
        assert run["outcome"] == "complete" and run["stored"] == run["sent"] == 20000
    cost = result["summary"]["alert_rules"]["logjet+10 rules"]
    without = result["summary"]["targets"]["logjet"]["msgs_per_s"]
    with_rules = result["summary"]["targets"]["logjet+10 rules"]["msgs_per_s"]
    assert cost["without_rules_msgs_per_s"] == without > 0 and cost["msgs_per_s"] == with_rules > 0
    assert cost["ratio"] == round(with_rules / without, 3) and cost["cost_pct"] == round(100 * (1 - cost["ratio"]), 1)
    assert result["summary"]["ratio_logjet_to"] == {}  # rule targets are not peers
    # Either the engine applied the rules (about 3% of messages match one) or the result says not.
    if cost["matches_per_message"]:
        assert MATCH_BAND[0] <= cost["matches_per_message"] <= MATCH_BAND[1] * 1.5
    else:
        assert any("applied no rules" in n for n in result["notes"])
