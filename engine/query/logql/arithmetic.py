"""LogQL's arithmetic operators (`+ - * / % ^`) on numbers and arrays, as Prometheus computes
them: IEEE results (x/0 is ±Inf, 0/0 NaN), `%` with the sign of the dividend."""

from __future__ import annotations

import numpy as np

_UFUNCS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "%": np.fmod, "^": np.power}


def apply(op: str, a: np.ndarray | np.float64, b: np.ndarray | np.float64) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(_UFUNCS[op](a, b), np.float64)


def fold(op: str, a: float, b: float) -> float:
    """`1 + 2` and the like, on two numbers."""
    return float(apply(op, np.float64(a), np.float64(b)))
