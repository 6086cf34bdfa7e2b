"""Rules files: the shipped example loads; every kind of mistake is refused naming the rule."""

from __future__ import annotations

import pathlib

import pytest

from engine.alert.rules import RulesError, compile_rules, label_name, load_rules, parse_rules

REPO = pathlib.Path(__file__).resolve().parents[3]


def test_the_shipped_example_loads_and_compiles():
    rs = load_rules(str(REPO / "config" / "alerts.toml"))
    names = [r.name for r in rs.rules]
    assert "ssh-brute-force" in names and "cron-heartbeat-missing" in names
    assert compile_rules(rs) is not None
    ssh = rs.by_name()["ssh-brute-force"]
    assert ssh.spec.threshold == 50 and ssh.window_ns == 60 * 10**9 and ssh.where is not None
    assert ssh.label_names == ("host",) and ssh.notifiers == ("local-file",)
    assert rs.by_name()["cron-heartbeat-missing"].spec.absent


def _rules(body: str):
    rs = parse_rules(body.encode())
    compile_rules(rs)
    return rs


@pytest.mark.parametrize(
    "body, needle",
    [
        ('[[rules]]\nname = "r1"\n', "rule 'r1': give exactly one of `pattern` or `query`"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nquery = "b"\n', "exactly one"),
        ('[[rules]]\nname = "bad name"\npattern = "a"\n', "rule 'bad name': the name"),
        ('[[rules]]\nname = "r1"\npattern = "(a)\\\\1"\n', "rule 'r1': pattern '(a)\\\\1': Back-references"),
        ('[[rules]]\nname = "r1"\npattern = "x*"\n', "rule 'r1': pattern 'x*': Pattern matches empty buffer"),
        ('[[rules]]\nname = "r1"\nquery = "app:("\n', "rule 'r1': query 'app:('"),
        ('[[rules]]\nname = "r1"\nquery = "a | stats count()"\n', "without `|` stages"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nwhere = "host:"\n', "rule 'r1': where"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nwindow = "soon"\n', "rule 'r1': window"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nwindow = "2d"\n', "at most 24h"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nthreshold = 0\n', "rule 'r1'"),
        ('[[rules]]\nname = "r1"\npattern = "a"\ntreshold = 5\n', "rule 'r1'"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nnotifiers = ["pager"]\n', "no notifier named 'pager'"),
        ('[[rules]]\nname = "r1"\npattern = "a"\nabsent = true\nthreshold = 3\n', "absence rule takes no threshold"),
        ('[[rules]]\nname = "r1"\npattern = "a"\n[[rules]]\nname = "r1"\npattern = "b"\n', "rule 'r1': defined twice"),
        ('[notifiers.w]\ntype = "webhook"\n', "needs url"),
        ('[notifiers.w]\ntype = "pager"\n', "notifiers"),
        ('[settings]\nevaluation_interval = "often"\n', "settings.evaluation_interval"),
        ("rules = [", "not valid TOML"),
    ],
)
def test_mistakes_are_refused_with_the_rule_and_the_reason(body, needle):
    with pytest.raises(RulesError) as err:
        _rules(body)
    assert needle in str(err.value)


def test_digest_changes_only_with_the_definition():
    a = _rules('[[rules]]\nname = "r"\npattern = "a"\n[[rules]]\nname = "s"\npattern = "b"\n')
    b = _rules('[[rules]]\nname = "s"\npattern = "b"\n[[rules]]\nname = "r"\npattern = "a"\nthreshold = 2\n')
    assert a.by_name()["s"].digest == b.by_name()["s"].digest
    assert a.by_name()["r"].digest != b.by_name()["r"].digest


def test_group_by_fields_become_label_names():
    rs = _rules('[[rules]]\nname = "r"\npattern = "a"\ngroup_by = ["host", "meta.sequenceId"]\n')
    assert rs.rules[0].label_names == ("host", "meta_sequenceId")
    assert label_name("9x") == "_9x"


def test_unreadable_file_is_refused(tmp_path):
    with pytest.raises(RulesError, match="cannot read rules file"):
        load_rules(str(tmp_path / "missing.toml"))
