"""`field:*`: the row has a non-empty value for the field (severity/facility: not "none")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.filters.base import Predicate, values_mask

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Exists(Predicate):
    cost = 1

    def on_values(self, values: list[bytes]) -> Mask:
        return values_mask(values, len)

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        present: Mask = (spans.ends > spans.starts) & cand
        return present

    def on_numbers(self, x: np.ndarray) -> Mask:
        return np.ones(x.shape, np.bool_)
