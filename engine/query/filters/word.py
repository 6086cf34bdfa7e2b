"""`word`, `field:word`: a whole token of the message, case-insensitive; elsewhere the value.

On the message a word matches where its bytes appear, any case, starting and ending on token
boundaries (so `fail` does not match `failed`; a word of several tokens, `10.0.0.1`, matches
them in sequence). On any other field the value must equal the word exactly: `host:web-01`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING


from engine.query.filters.base import ExactText
from native_kernels.match import TOKEN_BYTE, find_in_spans
from native_kernels.tokens import is_token, tokenize

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Word(ExactText):
    def on_message(self, spans: Spans, cand: Mask) -> Mask:
        t = self.text
        return find_in_spans(
            spans.data, spans.starts, spans.ends, cand, t, True, bool(TOKEN_BYTE[t[0]]), bool(TOKEN_BYTE[t[-1]])
        )

    def index_tokens(self) -> tuple[list[bytes], bool]:
        # A word that is one whole token matches exactly the rows holding that token; one of
        # several (`10.0.0.1`) or with separators at an end (`-user`) needs them in sequence.
        return tokenize(self.text), is_token(self.text)
