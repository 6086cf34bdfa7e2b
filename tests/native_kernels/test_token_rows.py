"""native_kernels.token_rows against Python sets over random rows: distinct-row counts (a token
repeated in a row counts once), exact candidate rows across blocks, and the table's edge cases."""

import random

import numpy as np
import pytest

from native_kernels.token_rows import CandidateTable, distinct_row_counts
from native_kernels.tokens import hash_token, token_hashes, tokenize

VOCAB = [b"user", b"User", b"USER", b"failed", b"x", b"0", b"a_b", b"\xc3\xa9t\xc3\xa9", b"port", b"z9"]


def _messages(n, seed):
    rng = random.Random(seed)
    return [rng.choice([b" ", b"=", b"..", b"\n"]).join(rng.choices(VOCAB, k=rng.randrange(0, 9))) for _ in range(n)]


def _spans(msgs):
    data = np.frombuffer(b"".join(msgs) or b"\0", np.uint8)
    ends = np.cumsum([len(m) for m in msgs]).astype(np.int64)
    return data, ends - np.array([len(m) for m in msgs], np.int64), ends


def _truth(msgs):
    rows = {}
    for i, m in enumerate(msgs):
        for t in set(tokenize(m)):
            rows.setdefault(hash_token(t), []).append(i)
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_distinct_row_counts(seed):
    msgs = _messages(500, seed)
    ro, hashes = token_hashes(*_spans(msgs))
    keys, counts = distinct_row_counts(ro, hashes)
    assert dict(zip(keys.tolist(), counts.tolist())) == {h: len(r) for h, r in _truth(msgs).items()}


def test_candidate_rows_across_blocks():
    msgs = _messages(700, 4)
    truth = _truth(msgs)
    wanted = [hash_token(b"user"), hash_token(b"0"), hash_token(b"nowhere"), hash_token(b"\xc3\xa9t\xc3\xa9")]
    table = CandidateTable(np.array(wanted, np.uint64))
    got = [[] for _ in wanted]
    data, starts, ends = _spans(msgs)
    for lo in range(0, len(msgs), 256):  # as the index builder: one block at a time
        ro, hashes = token_hashes(data, starts[lo : lo + 256], ends[lo : lo + 256])
        ptr, rows = table.rows(ro, hashes, lo)
        assert rows.dtype == np.uint32
        for c in range(len(wanted)):
            got[c] += rows[ptr[c] : ptr[c + 1]].tolist()
    for c, h in enumerate(wanted):
        assert got[c] == truth.get(h, [])


def test_empty_and_repeated_candidates():
    ro, hashes = token_hashes(*_spans([b"", b"a a a"]))
    keys, counts = distinct_row_counts(ro, hashes)
    assert keys.tolist() == [hash_token(b"a")] and counts.tolist() == [1]
    ptr, rows = CandidateTable(np.empty(0, np.uint64)).rows(ro, hashes)
    assert ptr.tolist() == [0] and len(rows) == 0
    with pytest.raises(ValueError):
        CandidateTable(np.array([5, 5], np.uint64))


def test_candidate_spellings_across_blocks():
    """`rows_spelled`: a candidate every occurrence of which is written one way says so, with
    that way's case signature; one written two ways (within a row or across rows) is MIXED."""
    from native_kernels.token_rows import MIXED, NOT_SEEN, ONE_SPELLING
    from native_kernels.tokens import case_signature, token_hashes_cased, tokens_as_written

    msgs = _messages(700, 5) + [b"Failed x failed", b"Only Only"]
    data, starts, ends = _spans(msgs)
    words = [b"user", b"failed", b"x", b"only", b"nowhere", b"z9"]
    table = CandidateTable(np.array([hash_token(w) for w in words], np.uint64))
    for lo in range(0, len(msgs), 256):
        block = msgs[lo : lo + 256]
        ro, hashes, at, signatures, _ = token_hashes_cased(data, starts[lo : lo + 256], ends[lo : lo + 256])
        ptr, rows, sig, state = table.rows_spelled(ro, hashes, at, signatures, lo)
        plain_ptr, plain_rows = table.rows(ro, hashes, lo)
        assert (ptr == plain_ptr).all() and (rows == plain_rows).all()
        for c, w in enumerate(words):
            seen = {t for m in block for t in tokens_as_written(m) if t.lower() == w}
            want = NOT_SEEN if not seen else ONE_SPELLING if len(seen) == 1 else MIXED
            assert state[c] == want, (lo, w, seen)
            if want == ONE_SPELLING:
                assert sig[c] == case_signature(seen.pop())
    with pytest.raises(ValueError):
        table.rows_spelled(ro, hashes, at, signatures[:-1], 0)
