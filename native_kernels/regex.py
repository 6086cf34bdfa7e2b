"""Regex search over many byte spans: hyperscan finds the rows, Python's `re` has the last word.

A query regex is Python `re` syntax on bytes; what a row matches is what `re.search` says on
that row's bytes. Python's engine costs a call per row, so `SpanRegex` scans all candidate rows
in one hyperscan call instead:

1. The pattern is parsed with `re._parser` and written out again as a PCRE pattern for
   hyperscan from the parse tree (never passed through as text: the two syntaxes differ in
   corners such as `{,n}`). Constructs hyperscan lacks (back-references, look-arounds,
   possessive repeats, conditionals) make the pattern "Python only".
2. The candidate rows are scanned in one hyperscan call in block mode with HS_FLAG_MULTILINE,
   each between `\\n`s. Where every candidate's span already lies so (the `lines` layout of a
   part's values: each value followed by `\\n`, whatever frames and order the rows' spans come
   in) the bytes from the first candidate to the last are scanned where they lie, unless the
   candidates hold under three quarters of them; otherwise the candidates are first copied into one
   buffer, each followed by `\\n`. A row holds a match when a reported position falls in its
   span or on the `\\n` after it (`rows_holding`, a bisection per candidate row); positions in
   rows that are no candidates are ignored.
3. Whether a reported row needs checking with `re.search` is decided once per pattern: a match
   can only be wrong when it might cross the `\\n` between two rows (the pattern can match a
   newline: `\\s`, `[^x]`, `\\n`, DOTALL) or when it relies on `^`, `$`, `\\A`, `\\Z`, `\\B`
   (which multiline mode widens to every line). Otherwise hyperscan's rows are exact and no
   Python runs per row. `\\b` needs no check: a newline is a non-word byte, as the string edge
   is. A pattern that can match the empty string (hyperscan refuses those) also takes the
   Python path.
4. Hyperscan calls back into Python for every match end it reports (~0.2 us each), and a
   pattern like `port \\d+` ends a match at every digit: several per row. An exact pattern
   is therefore compiled as `(?:P)[^\\n]*$`, which ends only at the `\\n` closing a row that
   holds a match of P (P cannot match a newline, so the two agree row by row): one callback
   per matching row, whatever the number of matches in it.

The Python path is a loop over candidate rows; it is correct for everything and is only taken
for patterns hyperscan cannot hold. Before it, the rows that lack the pattern's longest
literal run (`required_literal`: `(?<=Out )of memory: Killed` must hold `of memory: Killed`,
in any case under `(?i)`) are dropped by one byte search: a row costs a few nanoseconds there
against a microsecond in `re`.

`required_tokens` reads the same parse tree for the index: the tokens every match must hold
as whole tokens (so a message without one of them cannot match, and its block or row need not
be read).
"""

from __future__ import annotations

import re
import re._constants as _c
import re._parser as _p

import hyperscan
import numpy as np

from engine.errors import LogjetError
from native_kernels.dictionary import check_spans
from native_kernels.match import TOKEN_BYTE, candidate_lines, find_in_spans, join_candidates, rows_holding
from native_kernels.tokens import tokenize

_SEP = 0x0A
# Scan the spans where they lie when the candidates hold at least this share of the bytes
# between the first and the last; below it, copying them out is cheaper than scanning the
# rest. Over a block's 4.9 MB of messages the copy took 0.34-0.41 ms, hyperscan's scan
# 0.56 ms (`Out of memory: Killed process 9[0-9]+`) to 3.9 ms (`port \d+`).
_IN_PLACE_SHARE = 0.75


class _Unsupported(LogjetError):
    pass


def _esc(c: int) -> str:
    return f"\\x{c:02x}"


_CATEGORIES = {  # PCRE spelling, may match a newline
    _c.CATEGORY_DIGIT: ("\\d", False),
    _c.CATEGORY_NOT_DIGIT: ("\\D", True),
    _c.CATEGORY_SPACE: ("\\s", True),
    _c.CATEGORY_NOT_SPACE: ("\\S", False),
    _c.CATEGORY_WORD: ("\\w", False),
    _c.CATEGORY_NOT_WORD: ("\\W", True),
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
            return {
                _c.AT_BEGINNING: "^",
                _c.AT_BEGINNING_STRING: "^",
                _c.AT_END: "$",
                _c.AT_END_STRING: "$",
                _c.AT_NON_BOUNDARY: "\\B",
            }[av]
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


def _compile(text: bytes, hs_flags: int):
    """A block-mode database of the one pattern, or None when hyperscan refuses it."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[text], ids=[0], elements=1, flags=[hs_flags])
    except hyperscan.error:
        return None
    return db


class SpanRegex:
    """One compiled query regex. Raises `re.error` for a bad pattern. Thread-safe: each
    search takes its own hyperscan scratch."""

    def __init__(self, pattern: bytes):
        self.pattern = pattern
        self.py = re.compile(pattern)
        self.db = None
        self.exact = False
        self.row_end = False  # matches are reported at the `\n` ending the row (step 4)
        self.literal = required_literal(pattern, self.py.flags)  # step 0
        if self.py.search(b"") is None:
            compiled = _to_hyperscan(pattern, self.py.flags)
            if compiled is not None:
                text, hs_flags, self.exact = compiled
                if self.exact:
                    self.db = _compile(b"(?:" + text + b")[^\\n]*$", hs_flags)
                    self.row_end = self.db is not None
                if self.db is None:
                    self.db = _compile(text, hs_flags)  # None: a corner hyperscan refuses

    def search_values(self, values: list[bytes]) -> np.ndarray:
        """bool per value (small sets: dictionary values)."""
        return np.fromiter((self.py.search(v) is not None for v in values), np.bool_, len(values))

    def search_spans(self, data, starts, ends, cand) -> np.ndarray:
        """bool[n]: candidate row i's span matches; non-candidate rows and rows with no value
        are False."""
        data, starts, ends = np.ascontiguousarray(data), np.asarray(starts), np.asarray(ends)
        cand = np.asarray(cand, dtype=np.bool_) & (starts >= 0)
        out = np.zeros(len(cand), np.bool_)
        if not cand.any():
            return out
        if self.db is None:
            data, starts, ends = check_spans(data, starts, ends)
            return self._python_only(data, starts, ends, cand, out)
        # No `check_spans` pass over every row here: `candidate_lines` checks the candidates'
        # spans (the only ones read in place), and `join_candidates` checks them all.
        lo, hi, held = candidate_lines(data, starts, ends, cand, _SEP)
        if held > 0 and held >= _IN_PLACE_SHARE * (hi - lo):
            # Scanned where they lie: the match positions are positions in `data` already.
            found = rows_holding(starts, ends, cand, self._scan(data[lo:hi]) + lo)
        else:
            buf, row_start = join_candidates(data, starts, ends, cand, _SEP)
            found = rows_holding(row_start, row_start + (ends - starts), cand, self._scan(buf))
        if self.exact:
            return found
        return self._python(data, starts, ends, np.flatnonzero(found), out)

    def _scan(self, buf) -> np.ndarray:
        """Ascending positions in `buf` that tell the rows holding a match (see
        `rows_holding`): the `\\n` ending each row holding one (row_end), else the last byte
        of every match."""
        hit_ends: list[int] = []

        def on_match(_id, _from, to, _flags, _ctx):
            hit_ends.append(to)

        assert self.db is not None  # only patterns hyperscan holds are scanned
        self.db.scan(buf, match_event_handler=on_match, scratch=hyperscan.Scratch(self.db))
        at = np.asarray(hit_ends, np.int64) - (0 if self.row_end else 1)
        # Block mode reports in the order of the match ends; sorting costs nothing if so.
        return np.sort(at)

    def _python_only(self, data, starts, ends, cand, out) -> np.ndarray:
        """A pattern hyperscan cannot hold: `re` row by row, after the byte search for its
        longest literal run (step 0)."""
        if self.literal is not None:
            # Rows without the pattern's longest literal cannot match: one byte search drops
            # them before the loop of `re` calls (hyperscan needs no help: it looks for the
            # literals itself, and the search measured no faster in front of it).
            text, any_case = self.literal
            cand = find_in_spans(data, starts, ends, cand, text, any_case, False, False)
        rows = np.flatnonzero(cand)
        if not len(rows):
            return out
        return self._python(data, starts, ends, rows, out)

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


# --- tokens every match holds (for the index) ----------------------------------------------

# The bytes a category matches in a bytes pattern, as `re` itself says.
_CATEGORY_BYTES = {
    cat: frozenset(b for b in range(256) if re.fullmatch(text, bytes([b])))
    for cat, text in (
        (_c.CATEGORY_DIGIT, rb"\d"),
        (_c.CATEGORY_NOT_DIGIT, rb"\D"),
        (_c.CATEGORY_SPACE, rb"\s"),
        (_c.CATEGORY_NOT_SPACE, rb"\S"),
        (_c.CATEGORY_WORD, rb"\w"),
        (_c.CATEGORY_NOT_WORD, rb"\W"),
    )
}
# Stands for what is known to be no token byte (a separator, the message's start or end): a
# token of a literal that reaches it ends there.
_EDGE = b" "
_ANCHORS = (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING, _c.AT_END, _c.AT_END_STRING)
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)


def _charset_bytes(items) -> frozenset | None:
    """The bytes a `[...]` matches, or None for a form not read here."""
    got = set()
    negate = False
    for op, av in items:
        if op is _c.NEGATE:
            negate = True
        elif op is _c.LITERAL:
            got.add(av)
        elif op is _c.RANGE:
            got.update(range(av[0], av[1] + 1))
        elif op is _c.CATEGORY and av in _CATEGORY_BYTES:
            got |= _CATEGORY_BYTES[av]
        else:
            return None
    return frozenset(set(range(256)) - got if negate else got)


def _pieces(items, out: list) -> None:
    """Append what the sequence `items` matches, in order: bytes (literal bytes every match has
    there, _EDGE for a known separator) or None (anything, of any length)."""
    for op, av in items:
        if op is _c.LITERAL:
            out.append(bytes([av]))
        elif op is _c.SUBPATTERN:
            _pieces(av[3], out)  # a group is its contents, in line
        elif op is _c.ATOMIC_GROUP:
            _pieces(av, out)
        elif op is _c.AT:
            if av in _ANCHORS:  # `^` `$` `\A` `\Z`: the message's edge or a `\n` is there
                out.append(_EDGE)
            # `\b`, `\B`: no bytes, and no token edge (a byte >= 0x80 is a token byte, not \w)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            pass  # look-arounds match no bytes
        elif op is _c.IN:
            found = _charset_bytes(av)
            lowered = {bytes([b]).lower() for b in found} if found is not None else ()
            if found and not any(TOKEN_BYTE[b] for b in found):
                out.append(_EDGE)
            elif len(lowered) == 1:  # `[Aa]`: one byte as far as (lowercased) tokens go
                out.append(lowered.pop())
            else:
                out.append(None)
        elif op in _REPEATS and av[0] >= 1:
            # Present at least once: its own pieces hold, cut off from what is around them
            # (a second copy, or none, may follow). A run of separators (`\s+`) is one.
            inner: list = []
            _pieces(av[2], inner)
            joined = b"".join(p for p in inner if p is not None)
            if None not in inner and joined and not any(TOKEN_BYTE[b] for b in joined):
                out.append(_EDGE)
            else:
                out += [None, *inner, None]
        else:
            out.append(None)  # alternation, optional repeat, `.`, back-reference, ...


def _literal_runs(items, out: list) -> None:
    """Append the literal runs of the sequence `items`: bytes every match holds exactly there
    (in the pattern's case), with None between runs that need not touch."""
    for op, av in items:
        if op is _c.LITERAL:
            out.append(bytes([av]))
        elif op is _c.SUBPATTERN and not (av[1] or av[2]):
            _literal_runs(av[3], out)  # a plain group is its contents, in line
        elif op is _c.AT or op in (_c.ASSERT, _c.ASSERT_NOT):
            out.append(None)  # no bytes, yet what is on either side need not be adjacent
        elif op in _REPEATS and av[0] >= 1:
            out.append(None)  # present at least once, cut off from what is around it
            _literal_runs(av[2], out)
            out.append(None)
        else:
            out.append(None)  # a class, alternation, optional part, a group changing flags, ...


def required_literal(pattern: bytes, flags: int = 0) -> tuple[bytes, bool] | None:
    """(the longest run of literal bytes every match of `pattern` holds, whether it is to be
    found in any ASCII case), or None when no run has at least 3 bytes.

    A match holds the run, so a row without it cannot match: a byte search for it (cheaper
    per row than joining the rows up for the regex engine) narrows the rows first. Read from
    the top-level sequence only, as `required_tokens` is; groups that set or clear flags give
    nothing, and a locale-dependent pattern gives nothing."""
    try:
        tree = _p.parse(pattern, flags)
    except re.error:
        return None
    state = tree.state.flags
    if state & re.LOCALE:  # case folding by locale, beyond the ASCII one searched for here
        return None
    pieces: list = []
    _literal_runs(list(tree), pieces)
    best = b""
    run = bytearray()
    for piece in [*pieces, None]:
        if piece is not None:
            run += piece
            continue
        if len(run) > len(best):
            best = bytes(run)
        run.clear()
    if len(best) < 3:
        return None
    return best, bool(state & re.IGNORECASE)


def required_tokens(pattern: bytes, flags: int = 0) -> list[bytes]:
    """Tokens (lowercased, as `tokenize` gives them) that every string `pattern` matches holds as
    whole tokens, for narrowing a search by a token index.

    Only the top-level sequence is read: literal runs (through groups, and inside repeats that
    match at least once); alternation and optional parts give nothing. A token of a run is
    taken only when the run has a non-token byte on both its sides: the search is unanchored,
    so a literal's first or last token may be the end of a longer token of the message (`Out`
    of `WithOut`, `9` of `912`). `^`, `$` and runs of separators (`\\s+`) count as such bytes.
    Case-insensitive patterns give the same: tokens are compared lowercased."""
    try:
        tree = _p.parse(pattern, flags)
    except re.error:
        return []
    if tree.state.flags & re.LOCALE:  # case folding by locale, beyond the tokens' ASCII one
        return []
    pieces: list = []
    _pieces(list(tree), pieces)
    found: dict[bytes, None] = {}
    run = bytearray()
    for piece in [*pieces, None]:
        if piece is not None:
            run += piece
            continue
        tokens = tokenize(bytes(run))
        first = 1 if run and TOKEN_BYTE[run[0]] else 0
        last = len(tokens) - 1 if run and TOKEN_BYTE[run[-1]] else len(tokens)
        found.update(dict.fromkeys(tokens[first:last]))
        run.clear()
    return list(found)
