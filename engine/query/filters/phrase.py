"""`"exact phrase"`, `field:"phrase"`: the exact bytes, case-sensitive.

On the message the phrase must appear as it is written, and where it starts or ends with a
token byte that end must fall on a token boundary (`"ssh"` does not match `ssh2`). On any other
field the value must equal the phrase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING


from engine.query.filters.base import ExactText
from native_kernels.match import TOKEN_BYTE, find_in_spans
from native_kernels.tokens import is_token, tokenize, tokens_as_written

if TYPE_CHECKING:
    from engine.query.block import Mask, Spans


@dataclass(frozen=True)
class Phrase(ExactText):
    def on_message(self, spans: Spans, cand: Mask) -> Mask:
        t = self.text
        if not t:
            return cand & (spans.starts >= 0)
        return find_in_spans(
            spans.data, spans.starts, spans.ends, cand, t, False, bool(TOKEN_BYTE[t[0]]), bool(TOKEN_BYTE[t[-1]])
        )

    def index_tokens(self) -> tuple[list[bytes], bool]:
        # Case-sensitive: the folded tokens' rows only narrow the rows to test.
        return tokenize(self.text), False

    def spelled_tokens(self) -> tuple[list[bytes], bool]:
        # Every token of a phrase is whole in a match (its ends fall on token boundaries) and
        # written as in the phrase; a phrase of one token is exactly the rows holding it so.
        return tokens_as_written(self.text), is_token(self.text)
