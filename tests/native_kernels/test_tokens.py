"""token_hashes, hash_token and tokenize against the references in naive.py."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive
from native_kernels.tokens import (
    case_signature,
    cased_hashes,
    exact_hash,
    hash_token,
    spelling,
    token_hashes,
    is_number,
    token_hashes_cased,
    tokenize,
    tokens_as_written,
)

LOGHUB = Path("/work/shared/corpus/loghub")

# The first example of a test compiles kernels (or loads them from numba's cache): no deadline.
jit_settings = settings(deadline=None)

# Bytes that matter to the rule: both cases, digits, `_`, separators, UTF-8 and high bytes.
text_bytes = st.sampled_from(list(b"aZz09_ -.=:\t\x00\x7f\x80\xc3\xa9\xffAQ"))
messages = st.one_of(
    st.binary(max_size=200),
    st.lists(text_bytes, max_size=200).map(bytes),
    # Long runs, so that tokens cross the kernel's 64-byte blocks and 8-byte words.
    st.lists(
        st.sampled_from([b"a" * 63, b"B" * 64, b"c9" * 40, b"1234567890" * 7, b"7" * 8, b" ", b"-", b"\xc3\xa9"]),
        max_size=8,
    ).map(b"".join),
)


def check(values, junk=b"", order=None):
    data, starts, ends = naive.batch(values, junk, order)
    offsets, hashes = token_hashes(data, starts, ends)
    assert offsets.dtype == np.int64 and hashes.dtype == np.uint64
    assert offsets.shape == (len(values) + 1,) and offsets[0] == 0
    for i, v in enumerate(values):
        want = [] if v is None else naive.token_hashes_row(v)
        assert hashes[offsets[i] : offsets[i + 1]].tolist() == want, (i, v)
    assert offsets[-1] == hashes.size
    # The cased variant: the same hashes, and each token's upper-case letters (first 64 bytes).
    offsets_c, hashes_c, at, signatures, digits = token_hashes_cased(data, starts, ends)
    assert (offsets_c == offsets).all() and (hashes_c == hashes).all() and signatures.dtype == np.uint64
    assert (np.diff(at) > 0).all() and (signatures != 0).all()
    cases = np.zeros(len(hashes), np.uint64)
    cases[at] = signatures
    for i, v in enumerate(values):
        written = [] if v is None else re.findall(rb"[A-Za-z0-9_\x80-\xff]+", v)
        want = [sum(1 << j for j, c in enumerate(t[:64]) if c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ") for t in written]
        assert cases[offsets[i] : offsets[i + 1]].tolist() == want, (i, v)
        # And which tokens are digits only (the index's number filter).
        assert digits[offsets[i] : offsets[i + 1]].tolist() == [is_number(t) for t in written], (i, v)
        assert [is_number(t) for t in written] == [all(c in b"0123456789" for c in t) for t in written]


@jit_settings
@given(st.lists(st.one_of(st.none(), messages), max_size=20), st.sampled_from([b"", b"x", b" ", b"\xff" * 9]))
def test_token_hashes_match_reference(values, junk):
    check(values, junk)


@jit_settings
@given(st.lists(messages, min_size=1, max_size=10), st.randoms())
def test_spans_in_any_order(values, rnd):
    order = list(range(len(values)))
    rnd.shuffle(order)
    check(values, b"q", order)


@pytest.mark.parametrize("length", [1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200])
def test_token_lengths_around_word_and_block_sizes(length):
    word = bytes(b"aB9_\xc3"[i % 5] for i in range(length))
    # At the end of data (the byte-at-a-time path) and far from it (the word path), in rows
    # that start at every offset within a block.
    for shift in range(0, 9):
        check([b" " * shift + word, b" " * shift + word + b" x" + b" " * 80])
        check([b" " * 80, b" " * shift + word])


def test_hash_token_is_case_insensitive_and_matches_rows():
    data, starts, ends = naive.batch([b"Failed password for ROOT from 10.0.0.1"])
    _, hashes = token_hashes(data, starts, ends)
    words = [b"FAILED", b"password", b"for", b"root", b"From", b"10", b"0", b"0", b"1"]
    assert hashes.tolist() == [hash_token(w) for w in words]
    assert hash_token(b"Failed") == hash_token(b"failed") == naive.hash_bytes(b"failed")
    assert hash_token("é".encode()) != hash_token("É".encode())  # non-ASCII is not case-folded


@pytest.mark.parametrize("word", [b"", b"two words", b"a-b", b"x.y", b" a"])
def test_hash_token_refuses_what_is_not_one_token(word):
    with pytest.raises(ValueError):
        hash_token(word)


def test_tokenize():
    want = [b"get", b"api", b"v1", b"q", b"error_42", b"caf\xc3\xa9", b"bar"]
    assert tokenize(b"GET /api/v1?q=Error_42 caf\xc3\xa9-bar") == want
    assert tokenize(b"") == [] and tokenize(b" -- ") == []


@jit_settings
@given(messages)
def test_tokenize_and_hash_token_agree_with_token_hashes(msg):
    _, hashes = token_hashes(*naive.batch([msg]))
    assert hashes.tolist() == [hash_token(t) for t in tokenize(msg)]


def test_no_value_and_empty_rows_have_no_tokens():
    offsets, hashes = token_hashes(*naive.batch([None, b"", b" -,", None]))
    assert offsets.tolist() == [0, 0, 0, 0, 0] and hashes.size == 0
    offsets, hashes = token_hashes(*naive.batch([]))
    assert offsets.tolist() == [0] and hashes.size == 0


def test_more_tokens_than_the_first_guess_grow_the_output():
    # The kernel first guesses a token per 4 bytes; one per 2 bytes makes it grow.
    check([b"a " * 1000, b"b-" * 3000, b"c"])


@pytest.mark.slow  # the whole corpus
def test_loghub_corpus():
    rows = [line for path in sorted(LOGHUB.glob("*_2k.log")) for line in path.read_bytes().splitlines()]
    assert len(rows) > 10_000
    check(rows)


@pytest.mark.parametrize(
    "word", [b"user", b"User", b"USER", b"uSeR_9", b"\xc3\xa9T\xc3\xa9", b"A" * 64, b"x" * 70 + b"Y"]
)
def test_spelling_round_trip_and_exact_hash(word):
    sig = case_signature(word)
    assert spelling(word.lower(), sig) == (word if len(word) <= 64 else word.lower())
    h = exact_hash(word)
    if word == word.lower() or len(word) > 64 and not sig:
        assert h is None
    else:
        assert h is not None and h != hash_token(word)
        assert h == int(cased_hashes(np.array([hash_token(word)], np.uint64), np.array([sig], np.uint64))[0])
    assert tokens_as_written(b"Failed password for " + word) == [b"Failed", b"password", b"for", word]


def test_spelling_hashes_tell_spellings_apart():
    words = [b"user", b"User", b"USER", b"uSER", b"usER"]
    hashes = {exact_hash(w) for w in words[1:]}
    assert len(hashes) == 4 and hash_token(b"user") not in hashes
