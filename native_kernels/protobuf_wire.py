"""Protobuf wire-format primitives (varints, tags, lengths, skipping a field) for the kernels that
walk a request body without the protobuf library (native_kernels.otlp_wire, native_kernels.loki_wire).

Each returns a next position of -1 when what it reads runs past `end` (a damaged body).
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel

# What a walk of a request body returns: the body has the common shape, or not (take the general
# path), or is damaged.
WALK_OK = 0
WALK_GENERAL = 1
WALK_DAMAGED = 2


@kernel
def varint(buf, pos, end):
    """(value, next position); next position -1 when the varint runs past `end`."""
    result = np.int64(0)
    shift = 0
    while pos < end and shift < 64:
        b = np.int64(buf[pos])
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    return result, -1


@kernel
def tag(buf, pos, end):
    """A field's (number, wire type, next position); next position -1 past `end`."""
    t, pos = varint(buf, pos, end)
    return t >> 3, t & 7, pos


@kernel
def length(buf, pos, end):
    """A length-delimited field's (length, start); start -1 when it runs past `end`."""
    ln, pos = varint(buf, pos, end)
    if pos < 0 or ln < 0 or ln > end - pos:
        return 0, -1
    return ln, pos


@kernel
def skip(buf, pos, end, wire):
    """The position past a field of wire type `wire` at `pos`; -1 damaged, -2 a group."""
    if wire == 0:
        _, nxt = varint(buf, pos, end)
        return nxt
    if wire == 1:
        return pos + 8 if pos + 8 <= end else -1
    if wire == 5:
        return pos + 4 if pos + 4 <= end else -1
    if wire == 2:
        ln, nxt = length(buf, pos, end)
        return -1 if nxt < 0 else nxt + ln
    return -2
