"""engine.alert.publish: the rules file is compiled (or refused with RulesError), and each
publish writes a snapshot the parsers and the evaluator read back, one generation further."""

from __future__ import annotations

import pathlib

import pytest

from engine.alert import snapshot
from engine.alert.publish import RulesPublisher, compile_rules_file
from engine.alert.rules import EMPTY, RulesError
from engine.config import load
from engine.metrics import MetricsFile, read_all

RULES = '[[rules]]\nname = "oom"\npattern = "Out of memory"\n\n[[rules]]\nname = "errors"\nquery = "severity:<=3"\n'


def test_no_rules_file_is_no_rules(tmp_path: pathlib.Path) -> None:
    compiled = compile_rules_file(load(None, {"data_dir": str(tmp_path)}).resolved())
    assert compiled == (EMPTY, b"", "")


def test_a_bad_rules_file_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rules]]\nname = "r1"\n')
    with pytest.raises(RulesError, match="exactly one of `pattern` or `query`"):
        compile_rules_file(load(None, {"alerts.rules_file": str(path)}).resolved())


def test_publish_writes_generations_readers_load(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULES)
    settings = load(None, {"data_dir": str(tmp_path / "data"), "alerts.rules_file": str(path)}).resolved()
    compiled = compile_rules_file(settings)
    assert compiled.path == str(path) and [r.name for r in compiled.rules.rules] == ["oom", "errors"]
    assert compiled.database  # one pattern rule: a hyperscan database
    metrics_path = str(tmp_path / "supervisor.metrics")
    publisher = RulesPublisher(str(tmp_path / "alert-rules"), MetricsFile(metrics_path))
    assert publisher.publish(compiled) == 1
    generation, rules, database = snapshot.read(publisher.snapshot_path)
    assert (generation, [r.name for r in rules.rules], database) == (1, ["oom", "errors"], compiled.database)
    assert read_all([metrics_path])[("alert_rules", ())] == 2
    assert publisher.publish(compile_rules_file(load(None, {}).resolved())) == 2
    assert snapshot.read(publisher.snapshot_path)[:2] == (2, EMPTY)
    assert read_all([metrics_path])[("alert_rules", ())] == 0
