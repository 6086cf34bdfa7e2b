"""`field:=value`, `="whole message"`, `field:="prefix"*`, `field:i(value)`: the whole value.

The value (on the message: the whole message, not a word of it) must equal the text, or start
with it when `prefix`; case-sensitive, or in any ASCII case when `ignore_case`. On the message
the index narrows by the text's tokens (every one is a whole token of a matching message, except
a prefix's last, which may go on), then the message itself decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.query.filters.base import Predicate, values_mask
from native_kernels.match import TOKEN_BYTE, find_in_spans, spans_equal
from native_kernels.tokens import tokenize

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Exact(Predicate):
    text: bytes
    prefix: bool = False
    ignore_case: bool = False

    def on_values(self, values: list[bytes]) -> Mask:
        fold = bytes.lower if self.ignore_case else bytes
        text = fold(self.text)
        if self.prefix:
            return values_mask(values, lambda v: fold(v).startswith(text))
        return values_mask(values, lambda v: fold(v) == text)

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        if not self.ignore_case:
            return spans_equal(spans.data, spans.starts, spans.ends, cand, self.text, prefix=self.prefix)
        # In any case: a span of the right length whose first len(text) bytes hold the text,
        # folded; the substring kernel over spans cut to that length is exactly that test.
        m = len(self.text)
        lengths = spans.ends - spans.starts
        fits: Mask = cand & (spans.starts >= 0) & ((lengths >= m) if self.prefix else (lengths == m))
        if not m:
            return fits
        cut = np.where(fits, spans.starts + m, spans.ends)
        hit: Mask = find_in_spans(spans.data, spans.starts, cut, fits, self.text, True, False, False)
        return hit

    def _tokens(self) -> list[bytes]:
        tokens = tokenize(self.text)
        if self.prefix and tokens and TOKEN_BYTE[self.text[-1]]:
            tokens = tokens[:-1]  # the last token may continue in the value
        return tokens

    def message_tokens(self) -> list[bytes]:
        return self._tokens()

    def index_tokens(self) -> tuple[list[bytes], bool]:
        # Holding the tokens only narrows the rows: the whole message still decides.
        return self._tokens(), False
