"""`/regex/`, `field:/regex/`: Python `re` syntax over the bytes, `re.search` semantics.

Dictionary values are tested in Python (a handful per part); the message and field values go
through `native_kernels.regex.SpanRegex` (one hyperscan scan per block, `re` only where the
pattern needs checking).

On the message a regex narrows by the index as a phrase does: the tokens every match must hold
whole (`required_tokens`: `Out of memory: Killed process 9[0-9]+` gives `of memory killed
process`) pick blocks by bloom and rows by token bitmap; the regex then runs on those rows only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING


from engine.query.filters.base import Predicate
from native_kernels.regex import SpanRegex, required_tokens

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@functools.lru_cache(maxsize=256)
def _compiled(pattern: bytes) -> tuple[SpanRegex, tuple[bytes, ...]]:
    """The pattern compiled (hyperscan and `re`) and its required tokens, kept for the queries
    that come again (a dashboard's, every few seconds): compiling costs more than a small
    query's scan. SpanRegex is thread-safe, so one object serves every query."""
    compiled = SpanRegex(pattern)
    return compiled, tuple(required_tokens(pattern, compiled.py.flags))


@dataclass(frozen=True)
class Regex(Predicate):
    pattern: bytes
    compiled: SpanRegex = field(init=False, compare=False, repr=False)
    tokens: tuple[bytes, ...] = field(init=False, compare=False, repr=False)
    cost = 5

    def __post_init__(self) -> None:
        compiled, tokens = _compiled(self.pattern)  # raises re.error
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "tokens", tokens)

    def on_values(self, values: list[bytes]) -> Mask:
        return self.compiled.search_values(values)

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        return self.compiled.search_spans(spans.data, spans.starts, spans.ends, cand)

    def message_tokens(self) -> list[bytes]:
        return list(self.tokens)

    def index_tokens(self) -> tuple[list[bytes], bool]:
        # Holding the tokens only narrows the rows: the regex still decides.
        return list(self.tokens), False
