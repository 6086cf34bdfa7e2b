"""The tokenizer shared by indexing and word search: rows of bytes to 64-bit token hashes.

A token is a maximal run of ASCII letters, digits and `_`, or bytes >= 0x80 (so a UTF-8 word
stays whole, whatever script it is in); every other byte separates tokens. Matching is
case-insensitive: ASCII letters are lowercased before hashing (non-ASCII bytes are hashed as
they are, so `É` and `é` are different tokens).

The hash of a token is `hash_bytes` (native_kernels.dictionary) of its lowercased bytes, so
`hash_token(b"Failed") == hash_token(b"failed")` equals what `token_hashes` gives every row that
contains the word. Token hashes are stored on disk in bloom filters: changing the rule or the
hash is a format change.

How the kernel goes fast (it runs on every message the engine takes in). Per row, it reads
64 bytes at a time as eight 8-byte words and classifies each word with SWAR arithmetic (a few
adds and masks find the token bytes of all eight lanes at once), giving a 64-bit token mask; the
token starts and ends are then the set bits of `mask & ~(mask << 1)` and `~mask`, taken with
trailing-zero counts, so the branches it takes are per token, not per byte. A token that runs
past the 64 bytes is finished in the next block. Tokens are then hashed one 8-byte word at a
time, lowercased with SWAR too. The hash steps are written out inline rather than by calling
`hash_bytes`: numba adds an atomic reference-count pair to every call that passes an array,
which costs as much as hashing a short token. Near the end of `data`, where an 8-byte read
would run past it, the same work is done a byte at a time through `_FOLD`.
"""

from __future__ import annotations

import re

import numpy as np

from native_kernels.dictionary import HASH_SEED, check_spans, hash_bytes, hash_finish, hash_mix
from native_kernels.intrinsics import trailing_zeros
from native_kernels.jit import kernel


def _make_fold_table() -> np.ndarray:
    # 0 = separator, otherwise the byte as it is hashed (ASCII letters lowercased).
    table = np.zeros(256, np.uint8)
    for b in range(256):
        c = bytes([b])
        if c.isalnum() or c == b"_" or b >= 0x80:
            table[b] = ord(c.lower())
    return table


_FOLD = _make_fold_table()
# Passed as `cased` to ask `_token_hashes` for case signatures (its type is what matters).
_CASED = np.empty(0, np.uint64)

# The same rule as _FOLD, for the plain-Python side (query parsing).
_TOKEN_RE = re.compile(rb"[A-Za-z0-9_\x80-\xff]+")

# SWAR constants: one byte value repeated in all eight lanes. numba turns a mix of uint64 and
# int literals into float64, so every constant is a uint64.
_LANES_HI = np.uint64(0x8080808080808080)  # the top bit of each lane
_LANES_LO7 = np.uint64(0x7F7F7F7F7F7F7F7F)  # the other seven bits
# x + c sets a lane's top bit exactly when its 7-bit value is >= 0x80 - c (no lane overflows,
# as 7-bit values plus c stay under 0x100), so (x + c1) & ~(x + c2) tests a range.
_GE_0 = np.uint64(0x5050505050505050)  # >= '0' (0x30)
_GT_9 = np.uint64(0x4646464646464646)  # >  '9' (0x39)
_GE_A = np.uint64(0x3F3F3F3F3F3F3F3F)  # >= 'A' (0x41)
_GT_Z = np.uint64(0x2525252525252525)  # >  'Z' (0x5A)
_GE_LA = np.uint64(0x1F1F1F1F1F1F1F1F)  # >= 'a' (0x61)
_GT_LZ = np.uint64(0x0505050505050505)  # >  'z' (0x7A)
_CASE = np.uint64(0x2020202020202020)  # the ASCII case bit
_UNDERSCORE = np.uint64(0x5F5F5F5F5F5F5F5F)
# Multiplying the top-bit-per-lane word by this gathers the eight bits into the top byte.
_GATHER = np.uint64(0x0002040810204081)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_EIGHT = np.uint64(8)
_FIFTY_SIX = np.uint64(56)
_SIXTY_FOUR = np.uint64(64)


@kernel
def _token_lanes(x):
    # 8-bit mask of the lanes of word x that are token bytes (bit j = byte j).
    low = x & _LANES_LO7
    digit = (low + _GE_0) & ~(low + _GT_9)
    folded = low | _CASE
    letter = (folded + _GE_LA) & ~(folded + _GT_LZ)
    underscore = ~((low ^ _UNDERSCORE) + _LANES_LO7)
    lanes = (x | digit | letter | underscore) & _LANES_HI
    return (lanes * _GATHER) >> _FIFTY_SIX


@kernel
def _digit_lanes(x):
    # The top bit of each lane of word x that is an ASCII digit (bytes >= 0x80 are not).
    low = x & _LANES_LO7
    return (low + _GE_0) & ~(low + _GT_9) & ~x & _LANES_HI


@kernel
def _lower_lanes(x):
    # Word x with its ASCII upper-case lanes lowercased; other lanes unchanged.
    low = x & _LANES_LO7
    upper = ((low + _GE_A) ^ (low + _GT_Z)) & ~x & _LANES_HI
    return x | (upper >> _TWO)


@kernel
def _case_bits(up, offset):
    # The case signature bits of one 8-byte word `offset` bytes into a token, from `up`: the
    # word lowercased XOR the word as written, 0x20 in each lane that was an upper-case letter.
    if up == 0 or offset >= _SIXTY_FOUR:
        return np.uint64(0)
    return (((up << _TWO) * _GATHER) >> _FIFTY_SIX) << offset


@kernel
def _word_at(data, q, end):
    # The bytes [q, min(q + 8, end)) of `data` as a little-endian word (zeros past `end`).
    w = np.uint64(0)
    j = np.uint64(0)
    while j < _EIGHT and q + j < end:
        w |= np.uint64(data[q + j]) << (_EIGHT * j)
        j += _ONE
    return w


@kernel
def _token_hashes(data, starts, ends, fold, cased):
    # `cased`: None (no case signatures: numba prunes every `cased is not None` branch from
    # that compilation) or any uint64 array (signatures wanted, and which tokens are digits
    # only: the index keeps those apart, engine/store/index_build.py).
    n = starts.shape[0]
    size = data.shape[0]
    total = 0
    longest = 0
    for i in range(n):
        if starts[i] >= 0:
            total += ends[i] - starts[i]
            longest = max(longest, ends[i] - starts[i])
    # A guess at the token count (loghub averages a token per 6 bytes), grown by doubling.
    hashes = np.empty(total // 4 + 16, np.uint64)
    # Tokens written with an upper-case letter (most are not): their numbers and signatures.
    cased_at = np.empty(hashes.shape[0] if cased is not None else 0, np.int64)
    cased_sig = np.empty(cased_at.shape[0], np.uint64)
    nc = 0
    # Per token: made of ASCII digits only (a byte a token: the flag is dense, unlike the case).
    digits = np.empty(cased_at.shape[0], np.bool_)
    row_offsets = np.empty(n + 1, np.int64)
    row_offsets[0] = 0
    # Token spans of the current row; a row of L bytes has at most (L + 1) // 2 tokens.
    tok_s = np.empty(longest // 2 + 2, np.int64)
    tok_e = np.empty(longest // 2 + 2, np.int64)
    m = 0
    for i in range(n):
        s = starts[i]
        e = ends[i]
        if s < 0:
            row_offsets[i + 1] = m
            continue
        # 1. Find the row's tokens, 64 bytes at a time.
        k = 0
        open_token = False  # tok_s[k - 1] runs into the next block; its end is not known yet
        p = s
        while p < e:
            nb = e - p
            mask = np.uint64(0)
            if p + 64 <= size:
                for c in range(8):
                    q = np.uint64(p + 8 * c)
                    x = np.uint64(0)
                    for j in range(8):
                        x |= np.uint64(data[q + np.uint64(j)]) << (_EIGHT * np.uint64(j))
                    mask |= _token_lanes(x) << np.uint64(8 * c)
            else:
                for j in range(min(nb, 64)):
                    if fold[data[np.uint64(p + j)]] != 0:
                        mask |= _ONE << np.uint64(j)
            if nb < 64:
                mask &= ~(_ALL << np.uint64(nb))  # bytes past the row are separators
            gaps = ~mask
            if open_token:
                if gaps != 0:
                    tok_e[k - 1] = p + np.int64(trailing_zeros(gaps))
                    open_token = False
                firsts = mask & ~((mask << _ONE) | _ONE)
            else:
                firsts = mask & ~(mask << _ONE)
            while firsts != 0:
                b = trailing_zeros(firsts)
                tok_s[k] = p + np.int64(b)
                after = gaps & (_ALL << np.uint64(b))
                if after != 0:
                    tok_e[k] = p + np.int64(trailing_zeros(after))
                else:
                    open_token = True
                k += 1
                firsts &= firsts - _ONE
            p += 64
        if open_token:
            tok_e[k - 1] = e
        # 2. Hash them.
        if m + k > hashes.shape[0]:
            grown = hashes.shape[0] * 2
            while m + k > grown:
                grown *= 2
            bigger = np.empty(grown, np.uint64)
            bigger[:m] = hashes[:m]
            hashes = bigger
            if cased is not None:  # room for every token to be cased, as for `hashes`
                more_at = np.empty(grown, np.int64)
                more_at[:nc] = cased_at[:nc]
                cased_at = more_at
                more_sig = np.empty(grown, np.uint64)
                more_sig[:nc] = cased_sig[:nc]
                cased_sig = more_sig
                more_digits = np.empty(grown, np.bool_)
                more_digits[:m] = digits[:m]
                digits = more_digits
        for t in range(k):
            ts = tok_s[t]
            te = tok_e[t]
            h = HASH_SEED
            sig = np.uint64(0)  # the case signature: bit j set when byte j is an upper-case letter
            numeric = True  # every byte so far is an ASCII digit
            q = np.uint64(ts)
            end = np.uint64(te)
            if te + 8 <= size:
                # Whole words; the last one masked down to the token's bytes.
                while True:
                    raw = np.uint64(0)
                    for j in range(8):
                        raw |= np.uint64(data[q + np.uint64(j)]) << (_EIGHT * np.uint64(j))
                    w = _lower_lanes(raw)
                    if q + _EIGHT >= end:
                        keep = _ALL >> (_EIGHT * (q + _EIGHT - end))
                        w &= keep
                        if cased is not None:
                            sig |= _case_bits(w ^ (raw & keep), q - np.uint64(ts))
                            token = keep & _LANES_HI
                            numeric = numeric and (_digit_lanes(raw) & token) == token
                        h = hash_mix(h, w)
                        break
                    if cased is not None:
                        up = w ^ raw
                        if up != 0:  # written inline: this is the hot path of the cased pass
                            sig |= _case_bits(up, q - np.uint64(ts))
                        numeric = numeric and _digit_lanes(raw) == _LANES_HI
                    h = hash_mix(h, w)
                    q += _EIGHT
            else:
                while q + _EIGHT <= end:
                    w = np.uint64(0)
                    for j in range(8):
                        w |= np.uint64(fold[data[q + np.uint64(j)]]) << (_EIGHT * np.uint64(j))
                    if cased is not None:
                        raw = _word_at(data, q, end)
                        sig |= _case_bits(w ^ raw, q - np.uint64(ts))
                        numeric = numeric and _digit_lanes(raw) == _LANES_HI
                    h = hash_mix(h, w)
                    q += _EIGHT
                if q < end:
                    w = np.uint64(0)
                    shift = np.uint64(0)
                    start = q
                    while q < end:
                        w |= np.uint64(fold[data[q]]) << shift
                        shift += _EIGHT
                        q += _ONE
                    if cased is not None:
                        raw = _word_at(data, start, end)
                        sig |= _case_bits(w ^ raw, start - np.uint64(ts))
                        token = _ALL >> (_EIGHT * (start + _EIGHT - end)) & _LANES_HI
                        numeric = numeric and (_digit_lanes(raw) & token) == token
                    h = hash_mix(h, w)
            hashes[m + t] = hash_finish(h, te - ts)
            if cased is not None:
                digits[m + t] = numeric
                if sig != 0:
                    cased_at[nc] = m + t
                    cased_sig[nc] = sig
                    nc += 1
        m += k
        row_offsets[i + 1] = m
    return row_offsets, hashes[:m], cased_at[:nc], cased_sig[:nc], digits[:m]


def token_hashes(data, starts, ends) -> tuple[np.ndarray, np.ndarray]:
    """Hash every token of every row of a batch.

    Returns (row_offsets int64[n + 1], hashes uint64[m]): the hashes of row i are
    `hashes[row_offsets[i]:row_offsets[i + 1]]`, in the order the tokens appear, duplicates
    kept (a bloom filter does not care and dropping them would cost a set per row). A row with
    no value (-1/-1) or no token has none. `hashes` may be a view of a slightly larger buffer.
    """
    data, starts, ends = check_spans(data, starts, ends)
    row_offsets, hashes, _, _, _ = _token_hashes(data, starts, ends, _FOLD, None)
    return row_offsets, hashes


def token_hashes_cased(data, starts, ends) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`token_hashes`, the case of the tokens written with an upper-case letter, and which
    tokens are digits only: (row_offsets, hashes, at int64[k], signatures uint64[k], digits
    bool[m]), token `hashes[at[i]]` (ascending `at`) having case signature `signatures[i]`: bit
    j set when byte j of the token (j < 64) is an ASCII upper-case letter; every other token has
    signature 0 (written in lower case). The hash and the signature together tell a spelling (of
    a token of up to 64 bytes: past that the signature does not see the case). Most tokens are
    lower case, hence the sparse form: a signature per token cost a third of the pass in writes
    alone. `digits[j]`: token j is made of ASCII digits `0`-`9` only (`is_number`)."""
    data, starts, ends = check_spans(data, starts, ends)
    result: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] = _token_hashes(
        data, starts, ends, _FOLD, _CASED
    )
    return result


def is_number(token: bytes) -> bool:
    """Whether `token` is made of ASCII digits only (a process id, a port, a count): what
    `token_hashes_cased` flags in `digits`. The index keeps such tokens in a filter of their
    own (index version 6)."""
    return token.isdigit()  # bytes.isdigit: ASCII 0-9 only, and not empty


def tokenize(text: bytes) -> list[bytes]:
    """Split `text` into its tokens, lowercased (ASCII only), in order, duplicates kept."""
    return [t.lower() for t in _TOKEN_RE.findall(text)]


def tokens_as_written(text: bytes) -> list[bytes]:
    """Split `text` into its tokens, case kept, in order, duplicates kept."""
    return list(_TOKEN_RE.findall(text))


def is_token(text: bytes) -> bool:
    """Whether `text` is exactly one token."""
    return _TOKEN_RE.fullmatch(text) is not None


def hash_token(word: bytes) -> int:
    """The hash `token_hashes` gives `word`; `word` must be exactly one token (any case)."""
    if not is_token(word):
        raise ValueError(f"{word!r} is not a single token (letters, digits, _ or bytes >= 0x80)")
    folded = np.frombuffer(word.lower(), np.uint8)
    return int(hash_bytes(folded, 0, folded.size))


# The bytes of a token whose case its signature records (one bit each in a uint64).
CASE_SIGNATURE_BYTES = 64
# Mixes a case signature into a token hash (an odd 64-bit constant; then fmix64, hash_finish).
_CASE_MIX = np.uint64(0xD6E8FEB86659FD93)


def case_signature(token: bytes) -> int:
    """The case signature `token_hashes_cased` gives `token`: bit j set when byte j (j < 64) is
    an ASCII upper-case letter."""
    sig = 0
    for j, c in enumerate(token[:64]):
        if 0x41 <= c <= 0x5A:
            sig |= 1 << j
    return sig


def spelling(folded: bytes, signature: int) -> bytes:
    """The token `folded` (lower case) spelled with the upper-case letters `signature` names."""
    return bytes(c - 0x20 if j < 64 and signature >> j & 1 and 0x61 <= c <= 0x7A else c for j, c in enumerate(folded))


def cased_hashes(hashes: np.ndarray, cases: np.ndarray) -> np.ndarray:
    """The spelling hash of tokens with an upper-case letter (signature `cases` != 0): their
    folded hash mixed with their case signature. A bloom that holds these beside the folded
    hashes can rule out a spelling (`"Error"` where the block only says `error`)."""
    return _cased_hashes(np.ascontiguousarray(hashes, np.uint64), np.ascontiguousarray(cases, np.uint64))


@kernel
def _cased_hashes(hashes, cases):
    out = np.empty(hashes.shape[0], np.uint64)
    for i in range(hashes.shape[0]):
        out[i] = hash_finish(hashes[i] ^ (cases[i] * _CASE_MIX), 0)
    return out


def exact_hash(word: bytes) -> int | None:
    """The spelling hash (`cased_hashes`) of one token `word`; None when it has no upper-case
    letter (its spelling hash would be its folded hash, which says nothing of its case)."""
    sig = case_signature(word)
    if not sig:
        return None
    # Through the kernel's Python function (numpy wraps uint64 arithmetic as numba does): a query
    # computes one or two, where the first call of `_cased_hashes` in an API worker loads it
    # (2-3 ms from the cache, ~0.2 s when the cache is cold).
    h = np.array([hash_token(word)], np.uint64) ^ (np.array([sig], np.uint64) * _CASE_MIX)
    return int(hash_finish.py_func(h, 0)[0])
