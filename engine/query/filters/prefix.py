"""`prefix*`, `field:prefix*`, `"phrase prefix"*`: a token that starts with the text, or a value.

On the message, `fail*` matches a token starting with `fail` in any case (`"Failed pass"*`,
quoted, keeps the case); the match must start on a token boundary. On any other field the value
must start with the text (`host:web-*`), case-sensitive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING


from engine.query.filters.base import Predicate, values_mask
from native_kernels.match import TOKEN_BYTE, find_in_spans, spans_equal
from native_kernels.tokens import tokenize, tokens_as_written

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Prefix(Predicate):
    text: bytes
    ignore_case: bool = True

    def on_values(self, values: list[bytes]) -> Mask:
        return values_mask(values, lambda v: v.startswith(self.text))

    def on_spans(self, spans: Spans, cand: Mask) -> Mask:
        return spans_equal(spans.data, spans.starts, spans.ends, cand, self.text, prefix=True)

    def on_message(self, spans: Spans, cand: Mask) -> Mask:
        t = self.text
        if not t:
            return cand & (spans.starts >= 0)
        return find_in_spans(
            spans.data, spans.starts, spans.ends, cand, t, self.ignore_case, bool(TOKEN_BYTE[t[0]]), False
        )

    def message_tokens(self) -> list[bytes]:
        return self._whole(tokenize(self.text))

    def spelled_tokens(self) -> tuple[list[bytes], bool]:
        return ([], False) if self.ignore_case else (self._whole(tokens_as_written(self.text)), False)

    def _whole(self, tokens: list[bytes]) -> list[bytes]:
        """`tokens` (of the text) less the last when it may continue in the row."""
        if tokens and self.text and TOKEN_BYTE[self.text[-1]]:
            return tokens[:-1]
        return tokens
