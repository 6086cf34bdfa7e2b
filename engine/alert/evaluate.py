"""The evaluator: turns the parsers' match counts into alert states and notifications.

Counts arrive per (rule, group) per batch, stamped with the batch's receive time; each group
keeps them in time buckets covering its rule's window (1/600 of the window, at least 1 s), so a
window's count is a sum over at most ~600 numbers, not a scan of rows.

States per (rule, group): inactive → firing when the window's count reaches the threshold
(absence rules: when no row matched for the whole window) and has held for the rule's `for`
(pending meanwhile; 0 by default) → resolved when it falls back. Each change is notified once
per notifier; an alert still firing is re-sent to Alertmanager every
`resend_interval` (it expires alerts that are not re-sent) and to other notifiers every
`repeat_interval`. A silenced alert is listed as suppressed and notifies nobody; its resolution
is still sent to whoever heard it fire.

Single-threaded (the API worker's event loop calls it); no I/O of its own: notifications go to
`Notifiers.send`, which never blocks.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from engine.alert.model import Alert, CountsRecord
from engine.alert.rules import EMPTY, Rule, RuleSet

if TYPE_CHECKING:
    from engine.alert.notify import Notifiers
    from engine.alert.silences import Silences
    from engine.metrics import MetricsFile, Value

log = logging.getLogger("logjet.alert")
BUCKETS_PER_WINDOW = 600
# Groups one rule may track at once. A group_by on a field with unbounded values (a source port,
# a request id) would otherwise grow memory and fire an alert per value; past the cap new groups
# are dropped and counted (`alert_groups_dropped_total{rule}`), and a warning names the rule.
MAX_GROUPS_PER_RULE = 10_000
TEMPLATE_RE = re.compile(r"\{\{\s*\$(labels\.([A-Za-z_][A-Za-z0-9_]*)|value)\s*\}\}")


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9 // 10**6:03d}Z"


def render_template(text: str, labels: dict[str, str], value: float) -> str:
    """Prometheus-style `{{ $labels.host }}` and `{{ $value }}` in annotations and labels."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "value":
            return str(int(value)) if float(value).is_integer() else f"{value:g}"
        return labels.get(m.group(2), "")

    return TEMPLATE_RE.sub(sub, text)


def fingerprint(labels: dict[str, str]) -> str:
    h = hashlib.sha1()
    for k in sorted(labels):
        h.update(k.encode() + b"\xff" + labels[k].encode() + b"\xff")
    return h.hexdigest()[:16]


GroupKey = tuple[str, ...]  # a rule's group_by values as text ("" where a row has none)


class AlertState(TypedDict):
    """One alert as `GET /api/v1/alerts` lists it."""

    rule: str
    state: Literal["firing", "suppressed", "pending"]
    labels: dict[str, str]
    annotations: dict[str, str]
    startsAt: str
    value: float
    fingerprint: str
    silencedBy: list[str]
    generatorURL: str


@dataclass
class Window:
    """Counts in buckets of `bucket_ns` by receive time."""

    bucket_ns: int
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, t_ns: int, n: int) -> None:
        b = t_ns // self.bucket_ns
        self.buckets[b] = self.buckets.get(b, 0) + n

    def total(self, now_ns: int, window_ns: int) -> int:
        """Rows in the buckets that overlap (now - window, now]; drops older ones."""
        first = (now_ns - window_ns) // self.bucket_ns + 1
        old = [b for b in self.buckets if b < first]
        for b in old:
            del self.buckets[b]
        return sum(self.buckets.values())


@dataclass
class Group:
    key: GroupKey
    window: Window
    last_seen_ns: int = 0  # receive time of the last match (absence rules: or rule start)
    last_recv_ns: int = 0  # receive time of the newest batch counted, for fire latency
    firing: bool = False
    pending_ns: int = 0  # since when the condition holds without firing yet (rule `for`)
    starts_ns: int = 0
    value: float = 0.0
    sent: dict[str, int] = field(default_factory=dict)  # notifier -> when last notified (firing)
    silenced_by: list[str] = field(default_factory=list)


@dataclass
class RuleState:
    rule: Rule
    loaded_ns: int
    groups: dict[GroupKey, Group] = field(default_factory=dict)
    dropped_groups: int = 0

    def group(self, key: GroupKey, now_ns: int) -> Group:
        g = self.groups.get(key)
        if g is None:
            bucket = max(10**9, self.rule.window_ns // BUCKETS_PER_WINDOW)
            g = self.groups[key] = Group(key, Window(bucket), last_seen_ns=now_ns)
        return g


class Evaluator:
    def __init__(
        self,
        notifiers: Notifiers,
        silences: Silences | None,
        metrics: MetricsFile | None = None,
        external_url: str = "",
    ):
        self.notifiers = notifiers
        self.silences = silences
        self.metrics = metrics
        self.external_url = external_url.rstrip("/")
        self.rules: RuleSet = EMPTY
        self.states: dict[str, RuleState] = {}
        self.repeat_ns = EMPTY.settings.repeat_interval.ns
        self.resend_ns = EMPTY.settings.resend_interval.ns
        self._firing_gauges: dict[str, Value | Literal[False]] = {}  # False: cannot be exported
        self._dropped: dict[str, Value] = {}
        self._latency = metrics.histogram("alert_fire_latency_seconds") if metrics is not None else None

    # --- rules --------------------------------------------------------------------------------
    def set_rules(self, rs: RuleSet, now_ns: int | None = None) -> None:
        """Adopt a rule set: unchanged rules (same name and definition) keep their counts and
        states; alerts of rules removed or changed are resolved."""
        now = now_ns or time.time_ns()
        new: dict[str, RuleState] = {}
        for rule in rs.rules:
            old = self.states.get(rule.name)
            if old is not None and old.rule.digest == rule.digest:
                old.rule = rule
                new[rule.name] = old
            else:
                new[rule.name] = self._fresh(rule, now)
        for name, st in self.states.items():
            if name not in new or new[name] is not st:
                for g in st.groups.values():
                    if g.firing:
                        self._resolve(st.rule, g, now)
                self._set_firing_gauge(name, 0)
        self.states = new
        self.rules = rs
        self.repeat_ns = rs.settings.repeat_interval.ns
        self.resend_ns = rs.settings.resend_interval.ns
        if rs.settings.external_url:
            self.external_url = rs.settings.external_url.rstrip("/")

    def _fresh(self, rule: Rule, now: int) -> RuleState:
        st = RuleState(rule, now)
        if rule.spec.absent and not rule.group_fields:
            st.group((), now)  # the one group exists from the start: silence from now on counts
        return st

    # --- counts -------------------------------------------------------------------------------
    def add_counts(self, record: CountsRecord) -> None:
        """One parser record: (recv_ns, [(rule, digest, groups, counts), ...])."""
        recv_ns, entries = record
        for name, digest, groups, counts in entries:
            st = self.states.get(name)
            if st is None or st.rule.digest != digest:
                continue  # counted under rules that have since changed
            for values, n in zip(groups, counts):
                key = tuple(values)
                if key not in st.groups and len(st.groups) >= MAX_GROUPS_PER_RULE:
                    self._drop_group(st, n)
                    continue
                g = st.group(key, recv_ns)
                g.window.add(recv_ns, n)
                g.last_seen_ns = max(g.last_seen_ns, recv_ns)
                g.last_recv_ns = max(g.last_recv_ns, recv_ns)

    def _drop_group(self, st: RuleState, n: int) -> None:
        if not st.dropped_groups:
            log.warning(
                "alert rule %r tracks %d groups already; new groups are dropped (group_by %s)",
                st.rule.name,
                MAX_GROUPS_PER_RULE,
                ", ".join(st.rule.spec.group_by),
            )
        st.dropped_groups += 1
        if self.metrics is not None:
            m = self._dropped.get(st.rule.name)
            if m is None:
                m = self._dropped[st.rule.name] = self.metrics.counter("alert_groups_dropped_total", rule=st.rule.name)
            m.inc()

    # --- evaluation ---------------------------------------------------------------------------
    def tick(self, now_ns: int | None = None) -> None:
        now = now_ns or time.time_ns()
        for st in self.states.values():
            rule = st.rule
            firing = 0
            for key in list(st.groups):
                g = st.groups[key]
                count = g.window.total(now, rule.window_ns)
                g.value = float(count)
                if rule.spec.absent:
                    should = now - g.last_seen_ns >= rule.window_ns
                else:
                    should = count >= rule.spec.threshold
                if not should:
                    g.pending_ns = 0
                elif not g.firing and not g.pending_ns:
                    g.pending_ns = now  # the condition holds from now: it fires after `for`
                if should and not g.firing and now - g.pending_ns >= rule.for_ns:
                    g.firing = True
                    g.starts_ns = now
                    g.sent = {}
                    if self._latency is not None and g.last_recv_ns and not rule.spec.absent:
                        self._latency.observe(max(0.0, (now - g.last_recv_ns) / 1e9))
                elif not should and g.firing:
                    self._resolve(rule, g, now)
                if g.firing:
                    firing += 1
                    self._notify_firing(rule, g, now)
                elif not g.window.buckets and not g.pending_ns and not (rule.spec.absent and not rule.group_fields):
                    del st.groups[key]  # nothing left to remember about this group
            self._set_firing_gauge(rule.name, firing)

    def _labels(self, rule: Rule, g: Group) -> dict[str, str]:
        labels = {"alertname": rule.name, "severity": rule.spec.severity}
        labels.update({k: v for k, v in zip(rule.label_names, g.key) if v != ""})
        for k, v in rule.spec.labels.items():
            labels[k] = render_template(v, labels, g.value)
        return labels

    def alert(self, rule: Rule, g: Group, now: int, resolved: bool = False) -> Alert:
        labels = self._labels(rule, g)
        ann = {k: render_template(v, labels, g.value) for k, v in rule.spec.annotations.items()}
        return Alert(
            rule=rule.name,
            status="resolved" if resolved else "firing",
            labels=labels,
            annotations=ann,
            starts_at=g.starts_ns / 1e9,
            ends_at=now / 1e9 if resolved else None,
            value=g.value,
            fingerprint=fingerprint(labels),
            generator_url=self._url(rule),
        )

    def _url(self, rule: Rule) -> str:
        if not self.external_url:
            return ""
        from urllib.parse import quote

        q = f"alert:{rule.name}" if rule.spec.pattern else rule.spec.query
        return f"{self.external_url}/api/v1/query?q={quote(q)}&start={rule.spec.window}"

    def _notify_firing(self, rule: Rule, g: Group, now: int) -> None:
        labels = self._labels(rule, g)
        g.silenced_by = self.silences.matching(labels, now) if self.silences else []
        if g.silenced_by:
            return
        alert = None
        for name in rule.notifiers:
            last = g.sent.get(name)
            every = self.resend_ns if self.notifiers.kind(name) == "alertmanager" else self.repeat_ns
            if last is None or now - last >= every:
                alert = alert or self.alert(rule, g, now)
                self.notifiers.send(name, [alert])
                g.sent[name] = now

    def _resolve(self, rule: Rule, g: Group, now: int) -> None:
        g.firing = False
        if g.sent:
            alert = self.alert(rule, g, now, resolved=True)
            for name in list(g.sent):
                if name in self.notifiers.names():
                    self.notifiers.send(name, [alert])
        g.sent = {}
        g.silenced_by = []

    def _set_firing_gauge(self, name: str, n: int) -> None:
        if self.metrics is None:
            return
        m = self._firing_gauges.get(name)
        if m is None:
            if not n:
                return  # a series only for rules that ever fired: thousands of zeros help nobody
            try:
                m = self._firing_gauges[name] = self.metrics.gauge("alerts_firing", rule=name)
            except (RuntimeError, ValueError):
                m = self._firing_gauges[name] = False
        if m:
            m.set(n)

    # --- reading ------------------------------------------------------------------------------
    def firing(self, now_ns: int | None = None) -> list[AlertState]:
        """Alerts for `GET /api/v1/alerts`: firing, suppressed (silenced) or pending (waiting out
        the rule's `for`)."""
        now = now_ns or time.time_ns()
        out: list[AlertState] = []
        for st in self.states.values():
            for g in st.groups.values():
                if not g.firing and not g.pending_ns:
                    continue
                a = self.alert(st.rule, g, now)
                silenced = self.silences.matching(a.labels, now) if self.silences else []
                state: Literal["firing", "suppressed", "pending"] = (
                    "pending" if not g.firing else "suppressed" if silenced else "firing"
                )
                out.append(
                    {
                        "rule": a.rule,
                        "state": state,
                        "labels": a.labels,
                        "annotations": a.annotations,
                        "startsAt": _rfc3339(g.starts_ns if g.firing else g.pending_ns),
                        "value": a.value,
                        "fingerprint": a.fingerprint,
                        "silencedBy": silenced,
                        "generatorURL": a.generator_url,
                    }
                )
        out.sort(key=lambda a: (a["rule"], a["fingerprint"]))
        return out

    def rules_json(self, now_ns: int | None = None) -> list[dict[str, object]]:
        """Every rule with its window counts, for `GET /api/v1/rules`."""
        now = now_ns or time.time_ns()
        out: list[dict[str, object]] = []
        for st in self.states.values():
            r = st.rule
            out.append(
                {
                    "name": r.name,
                    "kind": "absence" if r.spec.absent else "threshold",
                    "pattern": r.spec.pattern or None,
                    "query": r.spec.query or None,
                    "where": r.spec.where or None,
                    "threshold": r.spec.threshold,
                    "window": r.spec.window,
                    "group_by": list(r.spec.group_by),
                    "severity": r.spec.severity,
                    "notifiers": list(r.notifiers),
                    "firing": sum(1 for g in st.groups.values() if g.firing),
                    "groups": [
                        {
                            "group": dict(zip(r.label_names, g.key)),
                            "count": g.window.total(now, r.window_ns),
                            "firing": g.firing,
                        }
                        for g in list(st.groups.values())[:100]
                    ],
                }
            )
        return out
