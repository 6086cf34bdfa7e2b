"""RFC 5424 STRUCTURED-DATA: the grammar check the header parser uses, and the batch extraction
of SD params into flat arrays.

    SD-ELEMENT = "[" SD-ID *(SP PARAM-NAME "=" %d34 PARAM-VALUE %d34) "]"
    SD-ID, PARAM-NAME = 1*32 of PRINTUSASCII except "=", SP, "]", %d34
    PARAM-VALUE: any octets; %d34, "\\" and "]" must be escaped with "\\"

`scan_sd` is strict about that grammar (an unescaped "]" inside a value is an error, as RFC 5424
6.3.3 says and go-syslog holds); a row whose SD fails it keeps the SD text in its message instead
(best effort, see syslog.py). `extract_sd` walks SD spans the header parser accepted and returns
one entry per param, values unescaped (`\\"` `\\\\` `\\]` become `"` `\\` `]`; a backslash before
any other octet stays, as the RFC says). An element without params is one entry whose name span
is (-1, -1) and whose value is empty, so `[sdid]` survives as `{sdid: {}}`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from native_kernels.jit import kernel
from native_kernels.timestamps import readonly

# RFC 5424 6.3.2/6.3.3: SD-NAME = 1*32PRINTUSASCII.
MAX_SD_NAME = 32

_SP, _QUOTE, _EQ, _BSLASH, _LBR, _RBR = 32, 34, 61, 92, 91, 93


@kernel
def _is_name_char(c):
    """SD-NAME octet: PRINTUSASCII except "=", "]" and %d34 (helpers take bytes, not arrays:
    passing an array costs an atomic refcount pair per call)."""
    return 33 <= c <= 126 and c != _EQ and c != _RBR and c != _QUOTE


@kernel
def scan_sd(data, p, end, require_params):
    """Check the SD-ELEMENTs starting at p; return the position after the last "]" or -1.

    `require_params`: every element must hold at least one param. The RFC 3164 parser sets it
    when it looks for SD at the start of a message, so that a kernel line like
    `[12345.678] usb 1-1: ...` is not mistaken for an element `[12345.678]`."""
    n_elements = 0
    while p < end and data[p] == _LBR:
        q = p + 1
        while q < end and _is_name_char(data[q]):
            q += 1
        if q == p + 1 or q - (p + 1) > MAX_SD_NAME:
            return -1
        p = q
        n_params = 0
        while True:
            if p >= end:
                return -1
            c = data[p]
            if c == _RBR:
                p += 1
                break
            if c != _SP:
                return -1
            q = p + 1
            while q < end and _is_name_char(data[q]):
                q += 1
            if q == p + 1 or q - (p + 1) > MAX_SD_NAME:
                return -1
            p = q
            if p + 1 >= end or data[p] != _EQ or data[p + 1] != _QUOTE:
                return -1
            p += 2
            while True:
                if p >= end:
                    return -1
                c = data[p]
                if c == _BSLASH:
                    p += 2
                    continue
                if c == _QUOTE:
                    p += 1
                    break
                if c == _RBR:
                    return -1
                p += 1
            n_params += 1
        if require_params and n_params == 0:
            return -1
        n_elements += 1
    if n_elements == 0 or p > end:
        return -1
    return p


@kernel
def _walk(data, sd_s, sd_e, fill, row, id_s, id_e, name_s, name_e, value_off, values):
    """Count (fill=False) or write (fill=True) the params of every SD span. Returns
    (entries, value bytes). Stops a row at the first grammar error, so spans that did not come
    from the header parser cannot make it read out of bounds."""
    k = 0
    nb = 0
    for r in range(sd_s.shape[0]):
        p = sd_s[r]
        end = sd_e[r]
        if p < 0 or end > data.shape[0] or end <= p:
            continue
        while p < end and data[p] == _LBR:
            q = p + 1
            while q < end and _is_name_char(data[q]):
                q += 1
            if q == p + 1:
                break
            ids = p + 1
            ide = q
            p = q
            n_params = 0
            ok = True
            while True:
                if p >= end or (data[p] != _RBR and data[p] != _SP):
                    ok = False
                    break
                if data[p] == _RBR:
                    p += 1
                    break
                q = p + 1
                while q < end and _is_name_char(data[q]):
                    q += 1
                if q == p + 1 or q + 1 >= end or data[q] != _EQ or data[q + 1] != _QUOTE:
                    ok = False
                    break
                if fill:
                    row[k] = r
                    id_s[k] = ids
                    id_e[k] = ide
                    name_s[k] = p + 1
                    name_e[k] = q
                    value_off[k] = nb
                p = q + 2
                closed = False
                while p < end:
                    c = data[p]
                    if c == _QUOTE:
                        closed = True
                        p += 1
                        break
                    if c == _BSLASH and p + 1 < end:
                        d = data[p + 1]
                        if d == _QUOTE or d == _BSLASH or d == _RBR:
                            c = d
                            p += 1
                    if fill:
                        values[nb] = c
                    nb += 1
                    p += 1
                k += 1
                n_params += 1
                if not closed:
                    ok = False
                    break
            if n_params == 0 and ok:
                if fill:
                    row[k] = r
                    id_s[k] = ids
                    id_e[k] = ide
                    name_s[k] = -1
                    name_e[k] = -1
                    value_off[k] = nb
                k += 1
            if not ok:
                break
    if fill:
        value_off[k] = nb
    return k, nb


class SdParams(NamedTuple):
    """One entry per SD param (or per param-less SD element), in input order.

    `row`: the row the entry belongs to. `id_s/id_e`, `name_s/name_e`: spans into the batch
    buffer (name -1/-1 for an element without params). Entry k's unescaped value is
    `values[value_offsets[k]:value_offsets[k + 1]]` (values is a new buffer; unescaping can
    only shrink, so raw SD bytes bound its size)."""

    row: np.ndarray
    id_s: np.ndarray
    id_e: np.ndarray
    name_s: np.ndarray
    name_e: np.ndarray
    value_offsets: np.ndarray
    values: np.ndarray


def extract_sd(data: np.ndarray, sd_s: np.ndarray, sd_e: np.ndarray) -> SdParams:
    """Extract the params of every row's SD span (rows with sd_s < 0 have none).

    `data` is the batch buffer (1-D uint8), `sd_s`/`sd_e` int64 spans as `parse_frames` returns
    them. Two kernel passes: count, then fill preallocated arrays. Pure; the caller owns all
    arrays, nothing is retained."""
    data = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1)
    sd_s = np.ascontiguousarray(sd_s, dtype=np.int64)
    sd_e = np.ascontiguousarray(sd_e, dtype=np.int64)
    if sd_s.shape != sd_e.shape or sd_s.ndim != 1:
        raise ValueError("sd_s and sd_e must be 1-D arrays of the same length")
    data, sd_s, sd_e = readonly(data), readonly(sd_s), readonly(sd_e)
    i64 = np.empty(0, np.int64)
    n, nb = _walk(data, sd_s, sd_e, False, i64, i64, i64, i64, i64, i64, np.empty(0, np.uint8))
    row = np.empty(n, np.int64)
    id_s = np.empty(n, np.int64)
    id_e = np.empty(n, np.int64)
    name_s = np.empty(n, np.int64)
    name_e = np.empty(n, np.int64)
    value_off = np.empty(n + 1, np.int64)
    values = np.empty(nb, np.uint8)
    _walk(data, sd_s, sd_e, True, row, id_s, id_e, name_s, name_e, value_off, values)
    return SdParams(row, id_s, id_e, name_s, name_e, value_off, values)
