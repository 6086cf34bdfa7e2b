"""Extraction of `key=value` pairs from messages (the `fields` of logfmt-ish lines), one batch at a time.

The rule, for `user=root rhost=218.188.2.4 uid=0 msg="a b c"`:
- A key is `[A-Za-z_][A-Za-z0-9_.-]*`, at the start of the message or right after a delimiter
  (space, tab, `,` `;` `(` `[` `{` `|`), immediately followed by `=`. A key followed by `==`
  (a comparison, not an assignment) or longer than MAX_KEY_BYTES is not a key.
- The value is either a double-quoted string (the span inside the quotes; `\\"` and `\\\\` do not
  end it; nothing is unescaped) or the bytes up to the next space, tab, `,` `;` `)` `]` `}` or
  the end of the message, possibly none (`logname= uid=0` gives logname = b"").
- A quote that is never closed is not a quoted value: the value is then read as unquoted,
  opening quote included (`msg="abc` gives b'"abc').
- Scanning resumes after the value, so `=` inside a value (URL query strings, `a=b=c`, quoted
  text) never starts another pair: `url=/x?a=1` is one pair, url = b"/x?a=1".

The kernel looks for the next `=` and walks back over key bytes to find where the key starts,
instead of testing every byte as a possible key start: both give the same pairs (a delimiter is
never a key byte, so a key is always a whole run of key bytes), and most bytes of a message
are then read once by a tight search loop. Spans point into `data`; nothing is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from native_kernels.dictionary import check_spans
from native_kernels.intrinsics import trailing_zeros
from native_kernels.jit import kernel

# Longer "keys" are base64 blobs or garbage that happens to contain `=`, not field names, and a
# field name must stay short enough to be a column name in a part's metadata.
MAX_KEY_BYTES = 128

# Byte classes, as bit flags in one 256-entry table.
_KEY_FIRST = 1  # may start a key: A-Z a-z _
_KEY_BYTE = 2  # may continue a key: A-Z a-z 0-9 _ . -
_BEFORE_KEY = 4  # may come right before a key: space tab , ; ( [ { |
_VALUE_END = 8  # ends an unquoted value: space tab , ; ) ] }


def _make_classes() -> np.ndarray:
    table = np.zeros(256, np.uint8)
    for b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_":
        table[b] |= _KEY_FIRST | _KEY_BYTE
    for b in b"0123456789.-":
        table[b] |= _KEY_BYTE
    for b in b" \t,;([{|":
        table[b] |= _BEFORE_KEY
    for b in b" \t,;)]}":
        table[b] |= _VALUE_END
    return table


_CLASSES = _make_classes()
_EQ = np.uint8(ord("="))
_EQ_LANES = np.uint64(0x3D3D3D3D3D3D3D3D)  # "=" in each of eight byte lanes
_LANES_01 = np.uint64(0x0101010101010101)
_LANES_80 = np.uint64(0x8080808080808080)
_QUOTE = np.uint8(ord('"'))
_BACKSLASH = np.uint8(ord("\\"))


@dataclass(frozen=True, slots=True)
class KvPairs:
    """The pairs found in a batch, m of them, in row order then position order.

    Every span is [start, end) in absolute offsets into the batch's `data` (so the pairs are
    only meaningful together with that buffer, which the caller keeps alive).
    """

    row: np.ndarray  # uint32[m]: the row each pair was found in
    key_s: np.ndarray  # int64[m]
    key_e: np.ndarray  # int64[m]
    val_s: np.ndarray  # int64[m]: inside the quotes for a quoted value
    val_e: np.ndarray  # int64[m]

    def __len__(self) -> int:
        return self.row.shape[0]


@kernel
def _grown(a, used):
    # Double an output array, keeping its first `used` items (only on overflow, so rare).
    bigger = np.empty(a.shape[0] * 2, a.dtype)
    bigger[:used] = a[:used]
    return bigger


@kernel
def _extract_kv(data, starts, ends, max_pairs, classes, max_key):
    n = starts.shape[0]
    cap = n + 16
    row = np.empty(cap, np.uint32)
    key_s = np.empty(cap, np.int64)
    key_e = np.empty(cap, np.int64)
    val_s = np.empty(cap, np.int64)
    val_e = np.empty(cap, np.int64)
    m = 0
    for i in range(n):
        s = starts[i]
        e = ends[i]
        found = 0
        p = s  # bytes before p are done: a key may not start before it
        while found < max_pairs:
            # Find the next `=`, 8 bytes at a time (SWAR: a lane of x ^ "========" is zero
            # where the byte is `=`; the lowest flagged lane is exact), then byte by byte.
            q = p
            while q + 8 <= e:
                x = np.uint64(0)
                for j in range(8):
                    x |= np.uint64(data[np.uint64(q + j)]) << np.uint64(8 * j)
                x ^= _EQ_LANES
                hit = (x - _LANES_01) & ~x & _LANES_80
                if hit != 0:
                    q += np.int64(trailing_zeros(hit)) >> 3
                    break
                q += 8
            else:
                while q < e and data[q] != _EQ:
                    q += 1
            if q >= e:
                break
            k = q  # walk back over key bytes to the start of the run
            while k > p and (classes[data[k - 1]] & _KEY_BYTE) != 0:
                k -= 1
            is_key = (
                k < q
                and (classes[data[k]] & _KEY_FIRST) != 0
                and (k == s or (classes[data[k - 1]] & _BEFORE_KEY) != 0)
                and q - k <= max_key
                and not (q + 1 < e and data[q + 1] == _EQ)
            )
            if not is_key:
                p = q + 1
                continue
            v = q + 1
            vs = v
            ve = -1
            if v < e and data[v] == _QUOTE:
                r = v + 1
                while r < e and data[r] != _QUOTE:
                    r += 2 if data[r] == _BACKSLASH else 1
                if r < e:
                    vs = v + 1
                    ve = r
                    p = r + 1
            if ve < 0:  # unquoted, or a quote never closed
                r = v
                while r < e and (classes[data[r]] & _VALUE_END) == 0:
                    r += 1
                ve = r
                p = r
            if m == row.shape[0]:
                row = _grown(row, m)
                key_s = _grown(key_s, m)
                key_e = _grown(key_e, m)
                val_s = _grown(val_s, m)
                val_e = _grown(val_e, m)
            row[m] = i
            key_s[m] = k
            key_e[m] = q
            val_s[m] = vs
            val_e[m] = ve
            m += 1
            found += 1
    return row[:m], key_s[:m], key_e[:m], val_s[:m], val_e[:m]


def extract_kv(data, starts, ends, max_pairs_per_row: int = 64) -> KvPairs:
    """Find the key=value pairs of every row of a batch (see the module docstring for the rule).

    `data` uint8[...], `starts`/`ends` int64[n] spans into it (-1/-1 = no value, no pairs).
    At most `max_pairs_per_row` pairs are taken from a row, the first ones.
    """
    data, starts, ends = check_spans(data, starts, ends)
    if max_pairs_per_row < 0:
        raise ValueError(f"max_pairs_per_row must be >= 0, got {max_pairs_per_row}")
    return KvPairs(*_extract_kv(data, starts, ends, int(max_pairs_per_row), _CLASSES, MAX_KEY_BYTES))
