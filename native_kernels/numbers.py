"""Decimal numbers in byte spans to float64, for numeric filters and aggregates over text fields.

A value is a number when the whole span is `[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?`
(no spaces, no `inf`/`nan`, no hex, no `_`); anything else, and "no value", gives NaN. The
result is exactly Python's `float()` of the span: the kernel takes the fast exact path (up to
15 significant digits and a power of ten within 10**22, where one multiply or divide of two
exact doubles is correctly rounded, Clinger 1990), and marks the rest, which the wrapper
re-parses with `float()` (a 16+ digit number is rare in logs; ids are usually short or hex).
"""

from __future__ import annotations

import re

import numpy as np

from native_kernels.dictionary import check_spans
from native_kernels.jit import kernel

NUMBER_RE = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_POW10 = np.array([10.0**k for k in range(23)], np.float64)
_OK, _NAN, _SLOW = 0, 1, 2


@kernel
def _parse(data, starts, ends, pow10, out, slow):
    nslow = 0
    for i in range(starts.shape[0]):
        s = starts[i]
        e = ends[i]
        out[i] = np.nan
        if s < 0 or s >= e:
            continue
        p = s
        neg = False
        if data[p] == 43 or data[p] == 45:  # + -
            neg = data[p] == 45
            p += 1
        mant = np.int64(0)
        sig = 0  # significant digits kept in mant
        exp10 = 0
        digits = 0
        while p < e and 48 <= data[p] <= 57:
            d = data[p] - 48
            if mant != 0 or d != 0:  # leading zeros count for nothing
                if sig < 18:
                    mant = mant * 10 + d
                else:
                    exp10 += 1  # dropped digit; sig > 15 sends the row to float() anyway
                sig += 1
            digits += 1
            p += 1
        if p < e and data[p] == 46:  # .
            p += 1
            while p < e and 48 <= data[p] <= 57:
                d = data[p] - 48
                if mant != 0 or d != 0:
                    if sig < 18:
                        mant = mant * 10 + d
                        exp10 -= 1
                    sig += 1
                else:
                    exp10 -= 1
                digits += 1
                p += 1
        if digits == 0:
            continue
        if p < e and (data[p] == 101 or data[p] == 69):  # e E
            p += 1
            eneg = False
            if p < e and (data[p] == 43 or data[p] == 45):
                eneg = data[p] == 45
                p += 1
            ed = 0
            ev = 0
            while p < e and 48 <= data[p] <= 57:
                if ev < 100000:
                    ev = ev * 10 + (data[p] - 48)
                ed += 1
                p += 1
            if ed == 0:
                continue
            exp10 += -ev if eneg else ev
        if p != e:
            continue
        if mant == 0:
            out[i] = -0.0 if neg else 0.0
            continue
        if sig > 15 or exp10 > 22 or exp10 < -22:
            slow[nslow] = i
            nslow += 1
            continue
        v = np.float64(mant)
        if exp10 >= 0:
            v = v * pow10[exp10]
        else:
            v = v / pow10[-exp10]
        out[i] = -v if neg else v
    return nslow


def parse_numbers(data, starts, ends) -> np.ndarray:
    """float64[n]: the number each span holds, NaN where it holds none (see the module doc)."""
    data, starts, ends = check_spans(data, starts, ends)
    out = np.empty(len(starts), np.float64)
    slow = np.empty(len(starts), np.int64)
    nslow = _parse(data, starts, ends, _POW10, out, slow)
    if nslow:
        raw = data
        for i in slow[:nslow].tolist():
            out[i] = float(raw[starts[i] : ends[i]].tobytes())
    return out


def parse_number(value: bytes) -> float | None:
    """The same rule for one value in Python (dictionary values, query literals)."""
    if NUMBER_RE.fullmatch(value) is None:
        return None
    return float(value)
