"""AND, OR, NOT and `*` over filters, with per-part constant folding and block pruning.

Binding folds constants (a leaf that is FALSE for a part makes an AND FALSE, so the part is
skipped unread), AND intersects its children's candidate blocks and OR unites them (only when
every child names its blocks). Evaluation narrows: AND hands each child the rows the previous
ones kept, cheapest child first; OR hands each child only the rows not matched yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

import numpy as np

from engine.query.filters.base import FALSE, TRUE, Bound, Filter


@dataclass(frozen=True)
class All(Filter):
    """`*`, or an empty filter: every row."""

    def bind(self, scope):
        return TRUE


@dataclass(frozen=True)
class And(Filter):
    children: tuple[Filter, ...]

    def bind(self, scope):
        bound = []
        for c in self.children:
            b = c.bind(scope)
            if b.const is False:
                return FALSE
            if b.const is None:
                bound.append(b)
        if not bound:
            return TRUE
        return bound[0] if len(bound) == 1 else _AndBound(bound)


@dataclass(frozen=True)
class Or(Filter):
    children: tuple[Filter, ...]

    def bind(self, scope):
        bound = []
        for c in self.children:
            b = c.bind(scope)
            if b.const is True:
                return TRUE
            if b.const is None:
                bound.append(b)
        if not bound:
            return FALSE
        return bound[0] if len(bound) == 1 else _OrBound(bound)


@dataclass(frozen=True)
class Not(Filter):
    child: Filter

    def bind(self, scope):
        b = self.child.bind(scope)
        if b.const is not None:
            return FALSE if b.const else TRUE
        return _NotBound(b)


class _AndBound(Bound):
    def __init__(self, children: list[Bound]):
        self.children = sorted(children, key=lambda b: b.cost)
        self.cost = sum(b.cost for b in children)

    def blocks(self):
        named = [b for b in (c.blocks() for c in self.children) if b is not None]
        return reduce(np.intersect1d, named) if named else None

    def eval(self, blk, cand):
        for c in self.children:
            cand = c.eval(blk, cand)
            if not cand.any():
                break
        return cand


class _OrBound(Bound):
    def __init__(self, children: list[Bound]):
        self.children = sorted(children, key=lambda b: b.cost)
        self.cost = sum(b.cost for b in children)

    def blocks(self):
        named = [c.blocks() for c in self.children]
        if any(b is None for b in named):
            return None
        return reduce(np.union1d, named)

    def eval(self, blk, cand):
        out = np.zeros_like(cand)
        rest = cand
        for c in self.children:
            hit = c.eval(blk, rest)
            out |= hit
            rest = rest & ~hit
            if not rest.any():
                break
        return out


class _NotBound(Bound):
    def __init__(self, child: Bound):
        self.child = child
        self.cost = child.cost

    def eval(self, blk, cand):
        return cand & ~self.child.eval(blk, cand)
