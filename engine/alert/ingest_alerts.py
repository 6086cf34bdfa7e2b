"""Alert rules at ingest, in each parser: match a batch against every rule, mark the matching rows
(field `alert` = rule name, so `alert:NAME` finds them) and count matches per (rule, group) for
the evaluator.

Per batch: one hyperscan pass for all pattern rules (`native_kernels.patterns`), then the query
engine's filters for `where` and `query` rules over the batch as in-memory rows, then counts per
group with numpy. Python runs per rule that matched and per distinct group, never per row.

The counts go to the evaluator as one record per batch in the parser's alert ring, stamped with
the batch's receive time (windows are over receipt, not over the timestamps senders wrote). A
full ring (evaluator gone) drops the record and counts it: alerts must never hold up ingest.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np

from engine.alert import snapshot
from engine.alert.model import CountsRecord, RuleCounts, encode_counts
from engine.alert.rules import EMPTY, Rule, RuleSet
from engine.ipc.column_batch import ColumnBatch
from engine.ipc.record_kinds import KIND_ALERT_COUNTS
from engine.query.block import Block, RowsBlock
from engine.query.field_names import DICT
from engine.query.filters.base import Filter
from engine.query.grouping import Grouper
from engine.query.scope import RowsScope
from engine.store.rows import DICTIONARIES, KV_ALERT
from native_kernels.gather import csr_append, take_spans

if TYPE_CHECKING:
    from engine.ipc.ring import RingProducer
    from engine.metrics import MetricsFile, Value
    from native_kernels.patterns import Matches, PatternMatcher

log = logging.getLogger("logjet.alert")


class IngestAlerts:
    """One parser's view of the rules: reloads on request, matches batches."""

    def __init__(self, snapshot_path: str, metrics: MetricsFile | None, ring: RingProducer | None = None):
        self.path = snapshot_path
        self.metrics = metrics
        self.ring = ring
        self.generation = -1
        self.rules: RuleSet = EMPTY
        self.matcher: PatternMatcher | None = None
        self._pattern_rules: list[Rule] = []
        self._query_rules: list[tuple[Rule, Filter]] = []  # with the filter of each
        # Whether filters or groups read rows' values (then the parser keeps its dictionaries'
        # values); fixed per rule set, so worked out at load, not per batch over every rule.
        self.needs_values = False
        self._m_matches: dict[str, Value | Literal[False]] = {}  # False: cannot be exported
        self.m_dropped = metrics.counter("alert_count_records_dropped_total", reason="ring_full") if metrics else None

    @property
    def active(self) -> bool:
        return bool(self.rules.rules)

    def load(self) -> bool:
        """(Re)load the snapshot if it changed; False when it could not be read (old rules stay)."""
        from native_kernels.patterns import PatternMatcher, load

        try:
            generation, rules, db = snapshot.read(self.path)
        except Exception as exc:
            log.error("cannot load the alert rules snapshot %s: %s; keeping the old rules", self.path, exc)
            return False
        if generation == self.generation:
            return True
        self.matcher = PatternMatcher(load(db)) if db else None
        self.rules = rules
        self.generation = generation
        self._pattern_rules = rules.pattern_rules
        self._query_rules = [(r, r.filter) for r in rules.rules if r.filter is not None]
        self.needs_values = any(r.filter or r.where or r.group_fields for r in rules.rules)
        if rules.rules:
            log.info(
                "alert rules generation %d: %d rules (%d patterns)",
                generation,
                len(rules.rules),
                len(self._pattern_rules),
            )
        return True

    def patterns(self, msg_off: np.ndarray, msg_data: np.ndarray) -> Matches | None:
        """Pattern matches of the batch's messages (before fields are built)."""
        if self.matcher is None:
            return None
        return self.matcher.match(msg_off, msg_data)

    def finish(
        self,
        batch: ColumnBatch,
        dicts: dict[str, list[bytes]] | None,
        alert_key: int,
        hits: Matches | None,
        recv_ns: int,
    ) -> ColumnBatch:
        """Apply `where`/`query` filters, send the counts; returns `batch` with the alert pairs
        of the rows that matched added."""
        n = batch.rows
        rows_block: RowsBlock | None = None

        def block() -> RowsBlock:  # the batch as one block, built when a filter or group needs it
            nonlocal rows_block
            if rows_block is None:
                d = dicts or {}
                rows_block = RowsScope(batch.to_rows({c: d.get(c, []) for c in DICTIONARIES})).block(0)
            return rows_block

        matched: list[tuple[Rule, np.ndarray]] = []
        if hits is not None and len(hits.rows):
            order = np.argsort(hits.ids, kind="stable")
            ids, rows = hits.ids[order], hits.rows[order]
            cuts = np.flatnonzero(np.diff(ids)) + 1
            for lo, hi in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [len(ids)]]).tolist()):
                rule = self._pattern_rules[int(ids[lo])]
                idx = rows[lo:hi]
                if rule.where is not None:
                    idx = _filtered(rule.where, block(), idx, n)
                if len(idx):
                    matched.append((rule, idx))
        for rule, flt in self._query_rules:
            blk = block()
            idx = _filtered(flt, blk, None, n)
            if rule.where is not None and len(idx):
                idx = _filtered(rule.where, blk, idx, n)
            if len(idx):
                matched.append((rule, idx))
        if not matched:
            return batch
        counts: list[RuleCounts] = []
        for rule, idx in matched:
            counts.append((rule.name, rule.digest, *_groups(rule, idx, batch, dicts, block)))
            self._count(rule.name, len(idx))
        self._send((recv_ns, counts))
        return _add_pairs(batch, alert_key, matched)

    def _count(self, name: str, n: int) -> None:
        m = self._m_matches.get(name)
        if m is None and self.metrics is not None:
            try:
                m = self._m_matches[name] = self.metrics.counter("alert_matches_total", rule=name)
            except (RuntimeError, ValueError) as exc:  # metrics file full, or a name too long
                log.warning("alert_matches_total{rule=%r} not exported: %s", name, exc)
                m = self._m_matches[name] = False
        if m:
            m.inc(n)

    def _send(self, record: CountsRecord) -> None:
        if self.ring is None:
            return
        if not self.ring.try_write(KIND_ALERT_COUNTS, encode_counts(record)) and self.m_dropped is not None:
            self.m_dropped.inc()


def _groups(
    rule: Rule,
    idx: np.ndarray,
    batch: ColumnBatch,
    dicts: dict[str, list[bytes]] | None,
    block: Callable[[], Block],
) -> tuple[list[list[str]], list[int]]:
    """(group keys, counts) of the rows `idx`: a key is the list of the group_by values as text."""
    if not rule.group_fields:
        return [[]], [len(idx)]
    if all(f.kind == DICT for f in rule.group_fields) and dicts is not None:
        # Dictionary columns (host, app, ...): group on the batch's ids, no query machinery.
        tables = [dicts[f.name] for f in rule.group_fields]
        if len(tables) == 1:  # the usual case (by host): a 1-D unique is several times faster
            uniq, counts = np.unique(getattr(batch, rule.group_fields[0].name)[idx], return_counts=True)
            rows = [[v] for v in uniq.tolist()]
        else:
            ids = np.stack([getattr(batch, f.name)[idx].astype(np.int64) for f in rule.group_fields], axis=1)
            uniq, counts = np.unique(ids, axis=0, return_counts=True)
            rows = uniq.tolist()
        keys = [["" if v == 0 else t[v - 1].decode("utf-8", "replace") for v, t in zip(row, tables)] for row in rows]
        return keys, counts.tolist()
    g = Grouper(list(rule.group_fields))
    groups, counts = g.counts(block(), idx)
    keys = []
    for gid in groups.tolist():
        key = g.key(gid)
        keys.append(["" if key.get(f.name) is None else str(key.get(f.name)) for f in rule.group_fields])
    return keys, counts.tolist()


def _filtered(flt: Filter, blk: Block, idx: np.ndarray | None, n: int) -> np.ndarray:
    bound = flt.bind(blk.scope)
    if bound.const is False:
        return np.empty(0, np.int64)
    if bound.const is True:
        return np.arange(n, dtype=np.int64) if idx is None else idx
    cand = np.zeros(n, np.bool_)
    if idx is None:
        cand[:] = True
    else:
        cand[idx] = True
    return np.flatnonzero(bound.eval(blk, cand))


def _add_pairs(batch: ColumnBatch, key_id: int, matched: list[tuple[Rule, np.ndarray]]) -> ColumnBatch:
    """`batch` with (alert, rule name) pairs added to its fields, after each row's own pairs."""
    names = [r.name.encode() for r, _ in matched]
    rows = np.concatenate([idx for _, idx in matched]).astype(np.int64)
    which = np.repeat(np.arange(len(matched)), [len(idx) for _, idx in matched])
    order = np.argsort(rows, kind="stable")  # by row; a row's rules in rule order
    rows, which = rows[order], which[order]
    name_off = np.zeros(len(names) + 1, np.int64)
    np.cumsum([len(x) for x in names], out=name_off[1:])
    blob = np.frombuffer(b"".join(names), np.uint8)
    add_off, add_data = take_spans(blob, name_off[:-1][which], name_off[1:][which])
    ptr, pos_old, pos_new, off, data = csr_append(batch.kv_ptr, batch.kv_off, batch.kv_data, rows, add_off, add_data)
    total = len(pos_old) + len(pos_new)
    key = np.empty(total, np.uint32)
    kind = np.empty(total, np.uint8)
    key[pos_old], key[pos_new] = batch.kv_key, key_id
    kind[pos_old], kind[pos_new] = batch.kv_kind, KV_ALERT
    return replace(
        batch, kv_ptr=ptr.astype(np.uint32), kv_key=key, kv_kind=kind, kv_off=off.astype(np.uint32), kv_data=data
    )
