"""`field:>N`, `>=`, `<`, `<=`, `field:[A TO B]`: numeric comparisons.

A value takes part when it is a number (native_kernels.numbers: the whole value, decimal);
others never match. Timestamps compare as int64 ns, exactly. Bounds are inclusive in `[A TO B]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.filters.base import Predicate
from native_kernels.numbers import parse_number, parse_numbers

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Range(Predicate):
    lo: float | int | None = None
    hi: float | int | None = None
    lo_incl: bool = True
    hi_incl: bool = True
    by_number = True  # a class attribute (unannotated), not a field

    def test(self, x: np.ndarray) -> Mask:
        ok: Mask = np.ones(x.shape, np.bool_) if self.lo is None else (x >= self.lo if self.lo_incl else x > self.lo)
        if self.hi is not None:
            ok &= x <= self.hi if self.hi_incl else x < self.hi
        return ok  # NaN fails every comparison, so non-numbers never match

    def on_numbers(self, x: np.ndarray) -> Mask:
        return self.test(x)

    def on_values(self, values: list[bytes]) -> Mask:
        nums = np.array([np.nan if (n := parse_number(v)) is None else n for v in values], np.float64)
        return self.test(nums)

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        return self.test(parse_numbers(spans.data, spans.starts, spans.ends)) & cand

    def block_may_match(self, bmin: np.ndarray, bmax: np.ndarray) -> Mask:
        """Blocks whose [min, max] time range meets the range."""
        ok = np.ones(bmin.shape, np.bool_)
        if self.lo is not None:
            ok &= bmax >= self.lo if self.lo_incl else bmax > self.lo
        if self.hi is not None:
            ok &= bmin <= self.hi if self.hi_incl else bmin < self.hi
        return ok
