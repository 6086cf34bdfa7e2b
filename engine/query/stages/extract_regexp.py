"""`| extract_regexp "REGEX" [from FIELD]`: fields from the named groups of a regex
(`(?P<name>...)`), found anywhere in the text (Python `re.search` on the text).

A group that takes part in the match sets its field; when the regex does not match, the object
is left as it is. A regex without named groups is refused. Cost: one regex search per row, in
Python, on rendered rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.query.stages.transform import FieldMaker


@dataclass(frozen=True)
class ExtractRegexp(FieldMaker):
    regex: re.Pattern[str]

    def found(self, text: str) -> dict[str, str] | None:
        m = self.regex.search(text)
        return None if m is None else {k: v for k, v in m.groupdict().items() if v is not None}
