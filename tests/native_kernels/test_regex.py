"""SpanRegex.search_spans agrees with re.search per row, on every path (exact hyperscan,
hyperscan + check, Python only), on copied candidates and on lines scanned in place;
`required_tokens` against the tokens of the corpus lines each regex matches."""

import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.match import candidate_lines
from native_kernels.regex import SpanRegex, required_literal, required_tokens
from native_kernels.tokens import tokenize

PATTERNS = [
    rb"fo+",
    rb"(?i)FOO",
    rb"a.b",
    rb"(?s)a.b",
    rb"a\sb",
    rb"a[^x]b",
    rb"^a",
    rb"b$",
    rb"\Aa",
    rb"a\Z",
    rb"\bab\b",
    rb"\Bb",
    rb"(a|bc)+d",
    rb"a{2,}",
    rb"a{,2}b",
    rb"[a-c]{2}\d",
    rb"x*",
    rb"(?=a)ab",
    rb"(a)\1",
    rb"(?<=a)b",
    rb"[\n]",
    rb"(?i:a)B",
    rb"\d+\.\d+",
    rb"\W",
    rb"a\nb",
    rb"(?m)^b",
]
rows = st.lists(
    st.one_of(st.none(), st.lists(st.sampled_from(list(b"abcdfoFOx1.2 \n")), max_size=12).map(bytes)), max_size=25
)


@pytest.mark.slow  # 26 patterns, 60 generated batches each
@pytest.mark.parametrize("pattern", PATTERNS)
@settings(deadline=None, max_examples=60)
@given(vals=rows, data=st.data())
def test_search_spans(pattern, vals, data):
    rx = SpanRegex(pattern)
    d, s, e = naive.batch(vals, b"ab\n")
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    got = rx.search_spans(d, s, e, cand)
    want = [bool(c) and v is not None and re.search(pattern, v) is not None for v, c in zip(vals, cand)]
    assert got.tolist() == want


def test_paths():
    assert SpanRegex(rb"fo+").exact and SpanRegex(rb"fo+").db is not None
    assert not SpanRegex(rb"a\sb").exact
    assert SpanRegex(rb"(a)\1").db is None
    assert SpanRegex(rb"x*").db is None
    assert SpanRegex(rb"fo+").row_end and not SpanRegex(rb"a\sb").row_end


def _lines(values):
    """The `lines` layout: values back to back, each followed by `\\n` (in-place scans)."""
    data = np.frombuffer(b"".join(v + b"\n" for v in values), np.uint8)
    ends = np.cumsum([len(v) + 1 for v in values], dtype=np.int64) - 1
    return data, ends - np.array([len(v) for v in values], np.int64), ends


@pytest.mark.slow  # 26 patterns, 60 generated batches each
@pytest.mark.parametrize("pattern", PATTERNS)
@settings(deadline=None, max_examples=60)
@given(
    vals=st.lists(st.lists(st.sampled_from(list(b"abcdfoFOx1.2 \n")), max_size=12).map(bytes), max_size=25),
    data=st.data(),
)
def test_search_spans_in_place(pattern, vals, data):
    # Lines layout, mostly every row a candidate (the in-place scan) and sometimes a few.
    rx = SpanRegex(pattern)
    d, s, e = _lines(vals)
    everything = data.draw(st.booleans())
    cand = (
        np.ones(len(vals), bool)
        if everything
        else np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    )
    got = rx.search_spans(d, s, e, cand)
    want = [bool(c) and re.search(pattern, v) is not None for v, c in zip(vals, cand)]
    assert got.tolist() == want


def _framed(values, order, junk):
    """The `lines` layout of a part's frames: the values each followed by `\\n`, laid out in
    `order` (rows of several frames interleave), with the lines `junk` (rows of frames read but
    not asked about) after every value."""
    starts = np.full(len(values), -1, np.int64)
    ends = np.full(len(values), -1, np.int64)
    buf = bytearray()
    for k, i in enumerate(order):
        starts[i] = len(buf)
        buf += values[i]
        ends[i] = len(buf)
        buf += b"\n" + (b"".join(j + b"\n" for j in junk[k % len(junk)]) if junk else b"")
    return np.frombuffer(bytes(buf), np.uint8), starts, ends


_BYTES = list(b"abcdfoFOx1.2 ") + [0x0A, 0x00, 0xC3, 0xA9, 0xFF]


@pytest.mark.slow  # 26 patterns, 60 generated batches each
@pytest.mark.parametrize("pattern", PATTERNS)
@settings(deadline=None, max_examples=60)
@given(
    vals=st.lists(st.lists(st.sampled_from(_BYTES), max_size=12).map(bytes), max_size=25),
    junk=st.lists(st.lists(st.lists(st.sampled_from(_BYTES), max_size=6).map(bytes), max_size=2), max_size=3),
    data=st.data(),
)
def test_search_spans_in_frames(pattern, vals, junk, data):
    # Spans as value_spans hands them out: lines of several frames, rows in any order, lines
    # of other rows among them (which may match, and must not count), empty values, bytes that
    # are no UTF-8; candidates dense (scanned in place) or sparse (copied out).
    rx = SpanRegex(pattern)
    order = data.draw(st.permutations(range(len(vals))))
    d, s, e = _framed(vals, order, [[j.replace(b"\n", b"") for j in js] for js in junk])
    dense = data.draw(st.booleans())
    cand = np.array(
        data.draw(st.lists(st.booleans() if not dense else st.just(True), min_size=len(vals), max_size=len(vals))),
        bool,
    )
    got = rx.search_spans(d, s, e, cand)
    want = [bool(c) and re.search(pattern, v) is not None for v, c in zip(vals, cand)]
    assert got.tolist() == want


@pytest.mark.parametrize(
    ("pattern", "hits"),
    [
        (rb"^ab", [True, False, False, True]),
        (rb"ab$", [False, True, False, True]),
        (rb"b\nc", [False, False, True, False]),  # only inside a value: never across two rows
        (rb"\xff\xfe", [False, False, True, False]),
        (rb"x*", [True, True, True, True]),  # matches the empty string: re alone
        (rb"cab", [False, True, False, False]),
    ],
)
def test_search_spans_in_place_keeps_each_row_to_itself(pattern, hits):
    # Rows scanned where they lie: a match may not run from one row into the next, nor anchors
    # see the row before, and the lines between candidates that match count for nothing.
    vals = [b"abx", b"cab", b"b\nc\xff\xfe", b"ab"]
    d, s, e = _framed(vals, [2, 0, 3, 1], [[b"ab", b"b\nc"]])
    assert candidate_lines(d, s, e, np.ones(4, bool))[2] > 0 or pattern == rb"x*"
    got = SpanRegex(pattern).search_spans(d, s, e, np.ones(4, bool))
    assert got.tolist() == hits


CORPUS_PATTERNS = [
    rb"Failed password for \w+",
    rb"(?i)error",
    rb"\d+\.\d+\.\d+\.\d+",
    rb"port \d+",
    rb"user=\S+",
    rb"blk_-?\d+",
    rb"[A-Z]{4,}",
    rb"session (opened|closed)",
    rb"\bINFO\b",
    rb"^\w+ \d+",
    rb"\d$",
    rb"(?i)kernel:\s+\w+",
    rb"(\d+)\s\1",
    rb"[^ ]+\.java:\d+",
    rb"(?i:warn)\w*",
    rb"\w+@\w+",
    rb"Exception",
    rb"zzz[0-9]+",
]


@pytest.mark.slow  # every corpus line
@pytest.mark.parametrize("pattern", CORPUS_PATTERNS)
def test_in_place_equals_copy_and_re_on_corpus(pattern, corpus):
    values = []
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        values += path.read_bytes().split(b"\n")[:-1]
    want = np.array([re.search(pattern, v) is not None for v in values])
    rx = SpanRegex(pattern)
    lines = _lines(values)
    assert candidate_lines(*lines, np.ones(len(values), bool))[2] == len(lines[0])
    # The same rows with two bytes between them: always copied out before the scan.
    apart = naive.batch(values, b"\n-")
    assert candidate_lines(*apart, np.ones(len(values), bool))[2] == -1
    rng = np.random.default_rng(7)
    for cand in (np.ones(len(values), bool), rng.random(len(values)) < 0.95, rng.random(len(values)) < 0.3):
        in_place = rx.search_spans(*lines, cand)
        copied = rx.search_spans(*apart, cand)
        assert in_place.tolist() == copied.tolist() == (want & cand).tolist()


# --- required_tokens ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, tokens",
    [
        (rb"Out of memory: Killed process 9[0-9]+", [b"of", b"memory", b"killed", b"process"]),
        (rb"(?i)FAILED Password for \w+ from", [b"password", b"for"]),
        (rb"^sshd\[\d+\]: error", [b"sshd"]),  # `^`: the message starts there
        (rb"session (opened|closed) for user root$", [b"for", b"user", b"root"]),
        (rb"user\s+root\s", [b"root"]),  # a run of spaces is a separator
        (rb"(?:foo bar baz)+ x", [b"bar"]),  # inside a repeat: cut off from what is around it
        (rb"a|b c d", []),
        (rb"x (?:y z )?w ", []),
        (rb"[Ee]rror: disk", []),
        (rb"\Aabc def\Z", [b"abc", b"def"]),
        (rb"x\b y \bz", [b"y"]),  # \b is no token edge: a byte >= 0x80 is a token byte but not \w
        (rb"\xc3\xa9t\xc3\xa9 d", []),
        (rb" \xc3\xa9t\xc3\xa9 ", [b"\xc3\xa9t\xc3\xa9"]),
        (rb" [Aa]b ", [b"ab"]),
        (rb"(a)\1 b c", [b"b"]),
        (rb"(?L) abc ", []),
        (rb"(", []),
    ],
)
def test_required_tokens_examples(pattern, tokens):
    assert required_tokens(pattern) == tokens


def _corpus_regexes(lines: list[bytes], count: int) -> list[bytes]:
    """Regexes cut from real lines: a window of a line, escaped, with some of its parts made
    into classes, repeats, optional groups, alternations, anchors and case-insensitivity."""
    rng = random.Random(5)
    out = []
    while len(out) < count:
        line = rng.choice(lines)
        if len(line) < 12:
            continue
        a = rng.randrange(0, len(line) - 8)
        window = line[a : a + rng.randrange(8, 60)]
        caseless = rng.random() < 0.2
        if caseless:
            window = window.swapcase()
        parts = re.split(rb"([A-Za-z0-9_\x80-\xff]+)", window)
        pattern = b""
        for part in parts:
            roll = rng.random()
            if part.isdigit() and roll < 0.5:
                pattern += rb"\d+"
            elif roll < 0.08:
                pattern += rb"\w+" if part[:1].isalnum() else rb"\W*"
            elif roll < 0.12:
                pattern += b"(?:" + re.escape(part) + b")?"
            elif roll < 0.15:
                pattern += b"(?:" + re.escape(part) + b"|zz)"
            elif roll < 0.18 and part.strip() == b"":
                pattern += rb"\s+"
            elif roll < 0.21 and len(part) > 1:
                pattern += re.escape(part[:1]) + b"." + re.escape(part[2:])
            else:
                pattern += re.escape(part)
        if caseless:
            pattern = b"(?i)" + pattern
        if rng.random() < 0.1 and a == 0:
            pattern = b"^" + pattern
        out.append(pattern)
    return out


@pytest.mark.slow  # every corpus line
def test_required_tokens_are_in_every_matching_corpus_line(corpus):
    lines = []
    for path in sorted((corpus / "loghub").glob("*_2k.log")):
        lines += path.read_bytes().split(b"\n")[:-1]
    line_tokens = [set(tokenize(v)) for v in lines]
    with_tokens = 0
    for pattern in _corpus_regexes(lines, 150) + CORPUS_PATTERNS:
        tokens = set(required_tokens(pattern))
        with_tokens += bool(tokens)
        search = re.compile(pattern).search
        for line, held in zip(lines, line_tokens):
            if not tokens <= held and search(line):
                raise AssertionError(f"{pattern!r} matches {line!r}, which lacks {tokens - held}")
    assert with_tokens > 100  # not vacuous: most regexes yield tokens


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (rb"Out of memory: Killed process 9[0-9]+", (b"Out of memory: Killed process 9", False)),
        (rb"(?i)failed \w+ for", (b"failed ", True)),
        (rb"x\d+abc\s+defg", (b"defg", False)),
        (rb"(?i:Foo)bar", (b"bar", False)),  # the group's case rule is not the pattern's
        (rb"(?:foo bar)+ x", (b"foo bar", False)),  # inside a repeat: cut off from around it
        (rb"ab(cd)+ef", None),
        (rb"a|bcdef", None),
        (rb"abc?d", None),
        (rb"^abc$", (b"abc", False)),
        (rb"ab\bcd", None),
        (rb"(?L)abcd", None),
        (rb"(", None),
    ],
)
def test_required_literal_examples(pattern, literal):
    assert required_literal(pattern) == literal


_PIECES = [
    b"abc",
    b"ABC",
    b"ab",
    b"x",
    b"[a-c]",
    b"\\d+",
    b"(?:bc|xa)",
    b"c?",
    b"a+",
    b"\\s",
    b".",
    b"(?:abc)+",
    b"1",
    b"(?<=a)bc",
    b"(?=ab)",
]


@settings(deadline=None, max_examples=200)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5),
    caseless=st.booleans(),
    vals=st.lists(
        st.one_of(st.none(), st.lists(st.sampled_from(list(b"abcABCx1 \n")), max_size=16).map(bytes)), max_size=25
    ),
    data=st.data(),
)
def test_search_spans_with_a_literal_prefilter_equals_re(pieces, caseless, vals, data):
    # Oracle: with or without the byte search for the required literal first, the rows found
    # are re.search's; and every value a pattern matches holds its literal.
    pattern = (b"(?i)" if caseless else b"") + b"".join(pieces)
    rx = SpanRegex(pattern)
    d, s, e = naive.batch(vals, b"ab\n")
    cand = np.array(data.draw(st.lists(st.booleans(), min_size=len(vals), max_size=len(vals))), bool)
    want = [bool(c) and v is not None and re.search(pattern, v) is not None for v, c in zip(vals, cand)]
    assert rx.search_spans(d, s, e, cand).tolist() == want
    if rx.literal is not None:
        text, any_case = rx.literal
        fold = bytes.lower if any_case else bytes
        assert all(fold(text) in fold(v) for v, hit in zip(vals, want) if hit)


def test_the_literal_prefilter_narrows_the_rows_regex_sees():
    rx = SpanRegex(rb"(a)\1 needle")  # Python only: every row left reaches re
    assert rx.db is None and rx.literal == (b" needle", False)
    vals = [b"aa needle", b"aa Needle", b"bb needle", b"aa haystack"] * 50
    d, s, e = naive.batch(vals, b"\n")
    seen = []
    rx.py = _Counting(rx.py, seen)
    got = rx.search_spans(d, s, e, np.ones(len(vals), bool))
    assert got.tolist() == [True, False, False, False] * 50
    assert len(seen) == 100  # only the rows holding " needle"


class _Counting:
    """A compiled pattern that notes every search it runs."""

    def __init__(self, compiled, seen):
        self._compiled, self._seen = compiled, seen
        self.flags = compiled.flags

    def search(self, *args):
        self._seen.append(args)
        return self._compiled.search(*args)
