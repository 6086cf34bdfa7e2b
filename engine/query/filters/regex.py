"""`/regex/`, `field:/regex/`: Python `re` syntax over the bytes, `re.search` semantics.

Dictionary values are tested in Python (a handful per part); the message and field values go
through `native_kernels.regex.SpanRegex` (one hyperscan scan per block, `re` only where the
pattern needs checking).

On the message a regex narrows by the index as a phrase does: the tokens every match must hold
whole (`required_tokens`: `Out of memory: Killed process 9[0-9]+` gives `of memory killed
process`) pick blocks by bloom and rows by token bitmap; the regex then runs on those rows only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.query.filters.base import Predicate
from native_kernels.regex import SpanRegex, required_tokens
from native_kernels.tokens import hash_token


@dataclass(frozen=True)
class Regex(Predicate):
    pattern: bytes
    compiled: SpanRegex = field(compare=False, repr=False, default=None)
    tokens: tuple[bytes, ...] = field(compare=False, repr=False, default=None)
    cost = 5

    def __post_init__(self):
        if self.compiled is None:
            object.__setattr__(self, "compiled", SpanRegex(self.pattern))  # raises re.error
        if self.tokens is None:
            object.__setattr__(self, "tokens", tuple(required_tokens(self.pattern, self.compiled.py.flags)))

    def on_values(self, values):
        return self.compiled.search_values(values)

    def on_spans(self, spans, cand):
        return self.compiled.search_spans(spans.data, spans.starts, spans.ends, cand)

    def message_tokens(self):
        return [hash_token(t) for t in self.tokens]

    def index_tokens(self):
        # Holding the tokens only narrows the rows: the regex still decides.
        return list(self.tokens), False
