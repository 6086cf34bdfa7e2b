"""`/regex/`, `field:/regex/`: Python `re` syntax over the bytes, `re.search` semantics.

Dictionary values are tested in Python (a handful per part); the message and field values go
through `native_kernels.regex.SpanRegex` (one hyperscan scan per block, `re` only where the
pattern needs checking).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.query.filter_base import Predicate
from native_kernels.regex import SpanRegex


@dataclass(frozen=True)
class Regex(Predicate):
    pattern: bytes
    compiled: SpanRegex = field(compare=False, repr=False, default=None)
    cost = 5

    def __post_init__(self):
        if self.compiled is None:
            object.__setattr__(self, "compiled", SpanRegex(self.pattern))  # raises re.error

    def on_values(self, values):
        return self.compiled.search_values(values)

    def on_spans(self, spans, cand):
        return self.compiled.search_spans(spans.data, spans.starts, spans.ends, cand)
