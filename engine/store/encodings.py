"""Column encodings inside a part block: how an array becomes the bytes zstd compresses.

Encodings (the names appear in the part footer, so they are part of the format):

    name     for                         stored as
    delta    sorted int64 (`_time`)      first value as base, then the differences in the
                                         narrowest unsigned type that holds them
    for      any int64 (`_recv` - `_time`, row numbers)   frame of reference: the minimum as
                                         base, the values minus it in the narrowest unsigned type
    ids      dictionary ids, u8 columns  the narrowest unsigned type that holds the maximum
    bytes    variable-length values      two streams: lengths (as `ids`) and the concatenated data
    lines    variable-length values      one stream: each value followed by LINE_SEP; chosen when
                                         no value of the block holds that byte (nearly always)

Narrow types plus zstd beat zstd on raw int64 by a wide margin on timestamps and ids, at no cost
on decode (one `astype`). `lines` beats `bytes` because zstd folds a separator into the match
around it, while a length stream costs 3-4 bits a value (loghub: 8.8 KB of 255 KB).
"""

from __future__ import annotations

import numpy as np

from native_kernels.gather import join_terminated, split_terminated

# The encodings' names, as stored in a part's footer (`StreamMeta.encoding`).
DELTA, FOR, IDS, BYTES, LINES = "delta", "for", "ids", "bytes", "lines"
# The `lines` separator: log messages are lines, so a value holding it is the rare exception.
LINE_SEP = 0x0A

_UNSIGNED = (np.uint8, np.uint16, np.uint32, np.uint64)


def narrowest(max_value: int) -> np.dtype:
    for t in _UNSIGNED:
        if max_value <= np.iinfo(t).max:
            return np.dtype(t)
    raise ValueError(f"{max_value} does not fit in 64 bits")


def encode_ids(values: np.ndarray) -> tuple[np.ndarray, int]:
    """(narrow array, base 0)."""
    top = int(values.max()) if len(values) else 0
    return np.ascontiguousarray(values, dtype=narrowest(top)), 0


def encode_for(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Frame of reference: (values - min as narrow unsigned, min)."""
    if not len(values):
        return np.empty(0, np.uint8), 0
    v = values.astype(np.int64, copy=False)
    base = int(v.min())
    span = int(v.max()) - base
    return (v - base).astype(narrowest(span)), base


def encode_delta(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Sorted int64: (differences as narrow unsigned, first value)."""
    if not len(values):
        return np.empty(0, np.uint8), 0
    v = values.astype(np.int64, copy=False)
    diffs = np.diff(v, prepend=v[0])
    if len(diffs) and diffs.min() < 0:
        raise ValueError("delta encoding needs sorted values")
    return diffs.astype(narrowest(int(diffs.max()) if len(diffs) else 0)), int(v[0])


def decode(encoding: str, raw: np.ndarray, base: int) -> np.ndarray:
    """Inverse of the encoders; returns int64 for delta/for, the stored type for ids."""
    if encoding == DELTA:
        out = np.cumsum(raw, dtype=np.int64)
        out += base
        return out
    if encoding == FOR:
        out = raw.astype(np.int64)
        out += base
        return out
    if encoding == IDS:
        return raw
    raise ValueError(f"unknown column encoding {encoding!r}")


def offsets_from_lengths(lengths: np.ndarray) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def encode_values(offsets: np.ndarray, data: np.ndarray) -> tuple[str, np.ndarray, np.ndarray | None]:
    """Values `data[offsets[i]:offsets[i + 1]]` (offsets may start past 0) as
    (encoding, data stream, lengths stream or None): `lines` when no value holds LINE_SEP."""
    body = data[int(offsets[0]) : int(offsets[-1])]
    if not (body == LINE_SEP).any():
        return LINES, join_terminated(offsets, data, LINE_SEP), None
    return BYTES, body, encode_ids(np.diff(offsets))[0]


def decode_lines(raw: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data) of `n` values stored as `lines`; ValueError when the stream is damaged."""
    return split_terminated(raw, n, LINE_SEP)
