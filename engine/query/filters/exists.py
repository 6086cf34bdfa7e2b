"""`field:*`: the row has a non-empty value for the field (severity/facility: not "none")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.query.filters.base import Predicate, values_mask


@dataclass(frozen=True)
class Exists(Predicate):
    cost = 1

    def on_values(self, values):
        return values_mask(values, len)

    def on_spans(self, spans, cand):
        return (spans.ends > spans.starts) & cand

    def on_numbers(self, x):
        return np.ones(x.shape, np.bool_)
