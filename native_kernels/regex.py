"""Regex search over many byte spans: hyperscan finds the rows, Python's `re` has the last word.

A query regex is Python `re` syntax on bytes; what a row matches is what `re.search` says on
that row's bytes. Python's engine costs a call per row, so `SpanRegex` scans all candidate rows
in one hyperscan call instead:

1. The pattern is parsed with `re._parser` and written out again as a PCRE pattern for
   hyperscan from the parse tree (never passed through as text: the two syntaxes differ in
   corners such as `{,n}`). Constructs hyperscan lacks (back-references, look-arounds,
   possessive repeats, conditionals) make the pattern "Python only".
2. The candidate spans are copied into one buffer, each followed by `\\n`, and scanned once in
   block mode with HS_FLAG_MULTILINE; every reported match end maps to its row with a
   `searchsorted` over the row starts.
3. Whether a reported row needs checking with `re.search` is decided once per pattern: a match
   can only be wrong when it might cross the `\\n` between two rows (the pattern can match a
   newline: `\\s`, `[^x]`, `\\n`, DOTALL) or when it relies on `^`, `$`, `\\A`, `\\Z`, `\\B`
   (which multiline mode widens to every line). Otherwise hyperscan's rows are exact and no
   Python runs per row. `\\b` needs no check: a newline is a non-word byte, as the string edge
   is. A pattern that can match the empty string (hyperscan refuses those) also takes the
   Python path.

The Python path is a loop over candidate rows; it is correct for everything and is only taken
for patterns hyperscan cannot hold.
"""

from __future__ import annotations

import re
import re._constants as _c
import re._parser as _p

import hyperscan
import numpy as np

from native_kernels.match import join_candidates

_SEP = 0x0A


class _Unsupported(Exception):
    pass


def _esc(c: int) -> str:
    return f"\\x{c:02x}"


_CATEGORIES = {  # PCRE spelling, may match a newline
    _c.CATEGORY_DIGIT: ("\\d", False), _c.CATEGORY_NOT_DIGIT: ("\\D", True),
    _c.CATEGORY_SPACE: ("\\s", True), _c.CATEGORY_NOT_SPACE: ("\\S", False),
    _c.CATEGORY_WORD: ("\\w", False), _c.CATEGORY_NOT_WORD: ("\\W", True),
}


class _Writer:
    """Writes a parse tree as PCRE and notes whether hyperscan's answer needs checking."""

    def __init__(self):
        self.exact = True

    def seq(self, items, dotall: bool) -> str:
        return "".join(self.node(op, av, dotall) for op, av in items)

    def node(self, op, av, dotall: bool) -> str:
        if op is _c.LITERAL:
            if av == _SEP:
                self.exact = False
            return _esc(av)
        if op is _c.NOT_LITERAL:
            self.exact = False
            return f"[^{_esc(av)}]"
        if op is _c.ANY:
            if dotall:
                self.exact = False
            return "."
        if op is _c.IN:
            return self.charset(av)
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            lo, hi, sub = av
            body = self.seq(sub, dotall)
            bound = f"{{{lo},}}" if hi is _c.MAXREPEAT else f"{{{lo},{hi}}}"
            return f"(?:{body}){bound}" + ("?" if op is _c.MIN_REPEAT else "")
        if op is _c.SUBPATTERN:
            _group, add, dele, sub = av
            flags = ""
            if add & re.IGNORECASE:
                flags += "i"
            if add & re.DOTALL:
                flags += "s"
            off = ""
            if dele & re.IGNORECASE:
                off += "i"
            if dele & re.DOTALL:
                off += "s"
            if (add | dele) & ~(re.IGNORECASE | re.DOTALL | re.MULTILINE | re.VERBOSE | re.ASCII):
                raise _Unsupported("inline flags")
            if (add | dele) & re.MULTILINE:
                self.exact = False
            inner_dotall = (dotall or bool(add & re.DOTALL)) and not dele & re.DOTALL
            mode = flags + (f"-{off}" if off else "")
            return f"(?{mode}:{self.seq(sub, inner_dotall)})"
        if op is _c.BRANCH:
            return "(?:" + "|".join(self.seq(alt, dotall) for alt in av[1]) + ")"
        if op is _c.AT:
            if av is _c.AT_BOUNDARY:
                return "\\b"
            self.exact = False
            return {_c.AT_BEGINNING: "^", _c.AT_BEGINNING_STRING: "^", _c.AT_END: "$",
                    _c.AT_END_STRING: "$", _c.AT_NON_BOUNDARY: "\\B"}[av]
        raise _Unsupported(str(op))

    def charset(self, items) -> str:
        out = []
        negate = False
        newline = False
        for op, av in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                newline |= av == _SEP
                out.append(_esc(av))
            elif op is _c.RANGE:
                newline |= av[0] <= _SEP <= av[1]
                out.append(f"{_esc(av[0])}-{_esc(av[1])}")
            elif op is _c.CATEGORY:
                text, nl = _CATEGORIES[av]
                newline |= nl
                out.append(text)
            else:
                raise _Unsupported(str(op))
        if negate or newline:
            self.exact = False
        return "[" + ("^" if negate else "") + "".join(out) + "]"


def _to_hyperscan(pattern: bytes, flags: int) -> tuple[bytes, int, bool] | None:
    """(PCRE pattern, hyperscan flags, exact) or None when hyperscan cannot hold it."""
    try:
        tree = _p.parse(pattern, flags)
        w = _Writer()
        text = w.seq(list(tree), bool(tree.state.flags & re.DOTALL))
    except (_Unsupported, KeyError):
        return None
    hs_flags = hyperscan.HS_FLAG_MULTILINE
    if tree.state.flags & re.IGNORECASE:
        hs_flags |= hyperscan.HS_FLAG_CASELESS
    if tree.state.flags & re.DOTALL:
        hs_flags |= hyperscan.HS_FLAG_DOTALL
    if tree.state.flags & re.MULTILINE:
        w.exact = False
    return text.encode(), hs_flags, w.exact


class SpanRegex:
    """One compiled query regex. Raises `re.error` for a bad pattern. Thread-safe: each
    search takes its own hyperscan scratch."""

    def __init__(self, pattern: bytes):
        self.pattern = pattern
        self.py = re.compile(pattern)
        self.db = None
        self.exact = False
        if self.py.search(b"") is None:
            compiled = _to_hyperscan(pattern, self.py.flags)
            if compiled is not None:
                text, hs_flags, self.exact = compiled
                db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
                try:
                    db.compile(expressions=[text], ids=[0], elements=1, flags=[hs_flags])
                    self.db = db
                except hyperscan.error:
                    self.db = None  # too big or a corner hyperscan refuses: Python path

    def search_values(self, values: list[bytes]) -> np.ndarray:
        """bool per value (small sets: dictionary values)."""
        return np.fromiter((self.py.search(v) is not None for v in values), np.bool_, len(values))

    def search_spans(self, data, starts, ends, cand) -> np.ndarray:
        """bool[n]: candidate row i's span matches; non-candidate rows and rows with no value
        are False."""
        cand = np.asarray(cand, dtype=np.bool_) & (np.asarray(starts) >= 0)
        out = np.zeros(len(cand), np.bool_)
        rows = np.flatnonzero(cand)
        if not len(rows):
            return out
        if self.db is None:
            return self._python(data, starts, ends, rows, out)
        buf, row_start = join_candidates(data, starts, ends, cand, _SEP)
        hit_ends: list[int] = []

        def on_match(_id, _from, to, _flags, _ctx):
            hit_ends.append(to)

        self.db.scan(buf, match_event_handler=on_match, scratch=hyperscan.Scratch(self.db))
        if not hit_ends:
            return out
        firsts = row_start[rows]
        last_byte = np.asarray(hit_ends, np.int64) - 1
        hit_rows = np.unique(rows[np.searchsorted(firsts, last_byte, side="right") - 1])
        if self.exact:
            out[hit_rows] = True
            return out
        return self._python(data, starts, ends, hit_rows, out)

    def _python(self, data, starts, ends, rows, out) -> np.ndarray:
        blob = data if isinstance(data, bytes) else np.asarray(data).tobytes()
        search = self.py.search
        # search(blob, a, b) equals searching blob[a:b] (without the copy) unless the pattern
        # looks before its start: `^`, `\A`, `\b`, `\B` and look-behinds see the real string
        # start and the bytes before a. Such patterns search a copy of the row.
        src = self.pattern
        windowed = not any(t in src for t in (b"^", b"\\A", b"(?<", b"\\b", b"\\B"))
        s = np.asarray(starts)[rows].tolist()
        e = np.asarray(ends)[rows].tolist()
        for r, a, b in zip(rows.tolist(), s, e):
            m = search(blob, a, b) if windowed else search(blob[a:b])
            if m is not None:
                out[r] = True
        return out
