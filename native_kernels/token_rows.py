"""Frequent message tokens and the rows holding them, from `token_hashes` output.

Two steps, both over (row_offsets, hashes) as `native_kernels.tokens.token_hashes` gives them:

- `distinct_row_counts`: every token hash of a batch with the number of distinct rows holding
  it (a token repeated within a row counts once). Run on a sample of a part's rows, it names the
  candidate frequent tokens; its table grows with the distinct tokens seen, which is why it is
  given a sample, not the part.
- `CandidateTable(hashes).rows`: for a few candidate hashes, the ascending rows of a batch
  holding each one, exactly (each row once): a counting pass, then a filling one, as CSR
  (`ptr`, `rows`); the table is built once and reused for every block of a part. Given the
  tokens' case signatures (`token_hashes_cased`), the counting pass also tells whether every
  occurrence of a candidate is spelled the same way (`rows_spelled`).

Both dedupe a row's repeats with "the last row counted" per hash instead of a per-row set:
rows are visited in order, so a hash whose last counted row is the current one is a repeat.
Tables are open addressing with linear probing; token hashes end with fmix64, so their low bits
are already uniform and pick the slot directly.
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel


def _table_size(n: int, per_entry: int = 2) -> int:
    # A power of two at least per_entry * n: probes stay short (load <= 1 / per_entry).
    size = 16
    while size < per_entry * n:
        size *= 2
    return size


# The candidate table is probed by every token of a part and holds few entries (at most
# ~128): at load 1/8 a token that is no candidate (nearly all) mostly stops at its first
# probe, where at 1/2 it walked a run of them; the candidate rows took half the time.
_CANDIDATE_SLOTS_PER_ENTRY = 8


@kernel
def _distinct_row_counts(row_offsets, hashes, size):
    mask = np.uint64(size - 1)
    keys = np.zeros(size, np.uint64)
    used = np.zeros(size, np.bool_)
    counts = np.zeros(size, np.int64)
    last = np.full(size, -1, np.int64)
    n = row_offsets.shape[0] - 1
    for i in range(n):
        for t in range(row_offsets[i], row_offsets[i + 1]):
            h = hashes[t]
            s = h & mask
            while used[s] and keys[s] != h:
                s = (s + np.uint64(1)) & mask
            if not used[s]:
                used[s] = True
                keys[s] = h
            if last[s] != i:
                last[s] = i
                counts[s] += 1
    return keys[used], counts[used]


def distinct_row_counts(row_offsets: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint64[k], rows int64[k]): each distinct token hash and how many rows hold it."""
    row_offsets = np.ascontiguousarray(row_offsets, np.int64)
    hashes = np.ascontiguousarray(hashes, np.uint64)
    return _distinct_row_counts(row_offsets, hashes, _table_size(len(hashes)))


@kernel
def _candidate_rows(row_offsets, hashes, cased, cased_at, cased_sig, row0, slot_key, slot_cand, size, n_cand):
    mask = np.uint64(size - 1)
    n = row_offsets.shape[0] - 1
    last = np.full(n_cand, -1, np.int64)
    counts = np.zeros(n_cand, np.int64)
    ptr = np.zeros(n_cand + 1, np.int64)
    rows = np.empty(0, np.uint32)
    fill = np.zeros(n_cand, np.int64)
    spelled = np.zeros(n_cand, np.uint64)  # the case signature seen first
    state = np.zeros(n_cand, np.int8)  # NOT_SEEN, ONE_SPELLING, MIXED
    # The same walk twice: first counting each candidate's distinct rows, then (their runs laid
    # out) writing each row once into its candidate's run, ascending as rows come in order.
    for writing in range(2):
        last[:] = -1
        p = 0  # where token t stands among the cased tokens
        for i in range(n):
            for t in range(row_offsets[i], row_offsets[i + 1]):
                h = hashes[t]
                s = h & mask
                while slot_cand[s] >= 0 and slot_key[s] != h:
                    s = (s + np.uint64(1)) & mask
                c = slot_cand[s]
                if c >= 0 and cased and not writing:  # every occurrence, not once a row
                    # The signature of token t: the next cased token's, if it is t (both ascend).
                    while p < cased_at.shape[0] and cased_at[p] < t:
                        p += 1
                    sig = cased_sig[p] if p < cased_at.shape[0] and cased_at[p] == t else np.uint64(0)
                    if state[c] == 0:
                        state[c] = 1
                        spelled[c] = sig
                    elif state[c] == 1 and spelled[c] != sig:
                        state[c] = 2
                if c >= 0 and last[c] != i:
                    last[c] = i
                    if writing:
                        rows[fill[c]] = np.uint32(row0 + i)
                        fill[c] += 1
                    else:
                        counts[c] += 1
        if not writing:
            for c in range(n_cand):
                ptr[c + 1] = ptr[c] + counts[c]
            rows = np.empty(ptr[n_cand], np.uint32)
            fill[:] = ptr[:n_cand]
    return ptr, rows, spelled, state


# How a candidate is spelled in a batch (`CandidateTable.rows_spelled`).
NOT_SEEN, ONE_SPELLING, MIXED = 0, 1, 2


class CandidateTable:
    """A lookup table of candidate token hashes (each hash once), for `candidate_rows`."""

    def __init__(self, candidates: np.ndarray):
        self.candidates = np.ascontiguousarray(candidates, np.uint64)
        self.size = _table_size(len(self.candidates), _CANDIDATE_SLOTS_PER_ENTRY)
        self.slot_key = np.zeros(self.size, np.uint64)
        self.slot_cand = np.full(self.size, -1, np.int64)
        mask = self.size - 1
        for c, h in enumerate(self.candidates.tolist()):
            s = h & mask
            while self.slot_cand[s] >= 0:
                if self.slot_key[s] == h:
                    raise ValueError(f"candidate hash {h:#x} given twice")
                s = (s + 1) & mask
            self.slot_key[s] = h
            self.slot_cand[s] = c

    def rows(self, row_offsets: np.ndarray, hashes: np.ndarray, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(ptr int64[c + 1], rows uint32): candidate c is held by rows `rows[ptr[c]:ptr[c + 1]]`
        (ascending, each once), numbered from `row0`."""
        ptr, rows, _, _ = self._walk(row_offsets, hashes, None, row0)
        return ptr, rows

    def rows_spelled(
        self, row_offsets: np.ndarray, hashes: np.ndarray, cased_at: np.ndarray, cased_sig: np.ndarray, row0: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`rows`, and how each candidate is written, given the tokens written with an upper-case
        letter (`cased_at`, ascending, and their signatures `cased_sig`, as
        native_kernels.tokens.token_hashes_cased gives them): (ptr, rows, signature uint64[c],
        state int8[c]), state NOT_SEEN, ONE_SPELLING (every occurrence has `signature`) or
        MIXED."""
        cased_at = np.ascontiguousarray(cased_at, np.int64)
        cased_sig = np.ascontiguousarray(cased_sig, np.uint64)
        if len(cased_at) != len(cased_sig) or (len(cased_at) and not 0 <= cased_at[0] <= cased_at[-1] < len(hashes)):
            raise ValueError("the cased tokens do not match the tokens")
        return self._walk(row_offsets, hashes, (cased_at, cased_sig), row0)

    def _walk(
        self, row_offsets: np.ndarray, hashes: np.ndarray, cased: tuple[np.ndarray, np.ndarray] | None, row0: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        row_offsets = np.ascontiguousarray(row_offsets, np.int64)
        hashes = np.ascontiguousarray(hashes, np.uint64)
        at, sig = cased if cased is not None else (np.empty(0, np.int64), np.empty(0, np.uint64))
        result: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = _candidate_rows(
            row_offsets,
            hashes,
            cased is not None,
            at,
            sig,
            np.int64(row0),
            self.slot_key,
            self.slot_cand,
            self.size,
            len(self.candidates),
        )
        return result
