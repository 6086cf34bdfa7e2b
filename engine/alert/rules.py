"""The rules file: reading, validating and compiling it into a `RuleSet` (see config/alerts.toml).

Every check runs before a rule set is used, so a bad file is refused whole with the rule's name
and the reason, at start-up or on reload. Each rule has a `digest` of its definition: a reload
keeps the counts and firing state of rules whose name and digest are unchanged.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import msgspec

from engine.alert.model import NotifierConfig
from engine.errors import LogjetError
from engine.query.errors import QueryError
from engine.query.field_names import Field, resolve
from engine.query.filters.base import Filter
from engine.query.language.parser import parse
from engine.units import Duration, parse_duration_ns, units_dec_hook

if TYPE_CHECKING:
    from native_kernels.patterns import PatternSet

NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_WINDOW_NS = 24 * 3600 * 10**9
ALERT_KEY = b"alert"  # the field key rows carry their matched rules' names under


class RulesError(LogjetError):
    """The rules file cannot be used; the message names the rule (or key) and the reason."""


class RuleSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `[[rules]]` entry as written."""

    name: str
    pattern: str = ""
    query: str = ""
    where: str = ""
    threshold: Annotated[int, msgspec.Meta(ge=1)] = 1
    window: str = "1m"
    group_by: list[str] = []
    absent: bool = False
    for_: str = msgspec.field(name="for", default="0s")
    severity: str = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    notifiers: list[str] | None = None


class EvalSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`[settings]` of the rules file."""

    evaluation_interval: Duration = Duration.parse("250ms")
    repeat_interval: Duration = Duration.parse("4h")
    resend_interval: Duration = Duration.parse("1m")
    external_url: str = ""


class RulesFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    settings: EvalSettings = EvalSettings()
    notifiers: dict[str, NotifierConfig] = {}
    rules: list[RuleSpec] = []


@dataclass(frozen=True)
class Rule:
    """A checked rule, ready for matching and evaluation."""

    spec: RuleSpec
    index: int  # position in the rule set; patterns' hyperscan ids map to it
    digest: str
    window_ns: int
    for_ns: int  # how long the condition must hold before the alert fires
    filter: Filter | None  # `query` rules: the filter that selects rows
    where: Filter | None
    group_fields: tuple[Field, ...]
    label_names: tuple[str, ...]  # the label each group_by field is reported under
    notifiers: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    notifiers: dict[str, NotifierConfig]
    settings: EvalSettings
    source: bytes  # the file's bytes, so workers can load exactly what was checked

    @property
    def pattern_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.spec.pattern]

    def by_name(self) -> dict[str, Rule]:
        return {r.name: r for r in self.rules}


EMPTY = RuleSet((), {}, EvalSettings(), b"")


def _filter(text: str, what: str, rule: str) -> Filter:
    try:
        q = parse(text)
    except QueryError as exc:
        raise RulesError(f"rule {rule!r}: {what} {text!r}: {exc}") from None
    if q.stages:
        raise RulesError(f"rule {rule!r}: {what} takes a filter only, without `|` stages")
    return q.filter


def label_name(field_name: str) -> str:
    """Alertmanager label names are [A-Za-z_][A-Za-z0-9_]*; SD keys such as `meta.id` become `meta_id`."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", field_name)
    return out if LABEL_RE.match(out) else "_" + out


def _check_rule(i: int, spec: RuleSpec, notifiers: dict[str, NotifierConfig]) -> Rule:
    name = spec.name
    if not NAME_RE.match(name):
        raise RulesError(f"rule {name!r}: the name must be 1-100 of A-Z a-z 0-9 _ . : -")
    if bool(spec.pattern) == bool(spec.query):
        raise RulesError(f"rule {name!r}: give exactly one of `pattern` or `query`")
    try:
        window = parse_duration_ns(spec.window)
    except ValueError as exc:
        raise RulesError(f"rule {name!r}: window: {exc}") from None
    if not 0 < window <= MAX_WINDOW_NS:
        raise RulesError(f"rule {name!r}: window must be more than 0 and at most 24h")
    try:
        for_ns = parse_duration_ns(spec.for_)
    except ValueError as exc:
        raise RulesError(f"rule {name!r}: for: {exc}") from None
    if spec.absent and spec.threshold != 1:
        raise RulesError(f"rule {name!r}: an absence rule takes no threshold")
    flt = _filter(spec.query, "query", name) if spec.query else None
    where = _filter(spec.where, "where", name) if spec.where else None
    fields: list[Field] = []
    for f in spec.group_by:
        if not f or f.startswith("_"):
            raise RulesError(f"rule {name!r}: cannot group by {f!r}")
        fields.append(resolve(f))
    labels = tuple(label_name(f.name) for f in fields)
    reserved = {"alertname", "severity"}
    for key in list(spec.labels) + list(labels):
        if not LABEL_RE.match(key) or key in reserved and key in spec.labels:
            raise RulesError(f"rule {name!r}: bad label name {key!r}")
    names = tuple(spec.notifiers) if spec.notifiers is not None else tuple(notifiers)
    for n in names:
        if n not in notifiers:
            raise RulesError(f"rule {name!r}: no notifier named {n!r} (have: {', '.join(notifiers) or 'none'})")
    digest = hashlib.sha1(msgspec.json.encode(spec)).hexdigest()[:16]
    return Rule(spec, i, digest, window, for_ns, flt, where, tuple(fields), labels, names)


def parse_rules(source: bytes, path: str = "<rules>") -> RuleSet:
    """Check a rules file's contents. Raises RulesError. Patterns are checked by `compile_rules`."""
    try:
        raw = tomllib.loads(source.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path} is not valid TOML: {exc}") from None
    # Name the rule in errors msgspec reports by position (`$.rules[3].window`).
    try:
        rf = msgspec.convert(raw, RulesFile, dec_hook=units_dec_hook)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        m = re.search(r"\$\.rules\[(\d+)\]", msg)
        rules = raw.get("rules") if isinstance(raw, dict) else None
        if m and isinstance(rules, list) and int(m.group(1)) < len(rules) and isinstance(rules[int(m.group(1))], dict):
            msg = f"rule {rules[int(m.group(1))].get('name', '?')!r}: {msg}"
        raise RulesError(f"{path}: {msg}") from None
    seen: set[str] = set()
    rules = []
    for i, spec in enumerate(rf.rules):
        if spec.name in seen:
            raise RulesError(f"rule {spec.name!r}: defined twice")
        seen.add(spec.name)
        rules.append(_check_rule(i, spec, rf.notifiers))
    return RuleSet(tuple(rules), dict(rf.notifiers), rf.settings, source)


def compile_rules(rs: RuleSet) -> PatternSet | None:
    """The hyperscan database of the rule set's patterns (pattern k = k-th pattern rule), or None
    when there are none. Raises RulesError naming the rule whose pattern is refused."""
    from native_kernels.patterns import PatternError, compile_patterns

    rules = rs.pattern_rules
    if not rules:
        return None
    try:
        return compile_patterns([r.spec.pattern.encode() for r in rules], [False] * len(rules))
    except PatternError as exc:
        if exc.index < 0:
            raise RulesError(f"the patterns cannot be compiled together: {exc.reason}") from None
        rule = rules[exc.index]
        raise RulesError(f"rule {rule.name!r}: pattern {rule.spec.pattern!r}: {exc.reason}") from None


def load_rules(path: str) -> RuleSet:
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        raise RulesError(f"cannot read rules file {path}: {exc.strerror or exc}") from None
    return parse_rules(source, path)
