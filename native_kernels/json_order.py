"""Whether JSON objects name exactly the expected keys, in the expected order.

`engine.parse.json_struct` decodes rows of a known shape into msgspec Structs, which check the
set of keys but not their order (the order decides the order of a row's fields). This kernel
reads the order from the bytes: it walks each row (strings skipped with their escapes, nesting
counted) and compares each key's raw bytes with the expected one: the top level's keys, or,
for a nested shape, the keys of every object not inside an array, in the order the bytes hold
them (a nested object's keys right after its own key).

The rows must be JSON that msgspec accepted (the walk trusts the syntax), and the expected
keys must contain no `"`, `\\` or control characters: then a raw match is the key itself, and
a key written with escapes does not match (such a row takes the dict decoder instead). For a flat
shape the walk stops at the last expected key: the caller's Struct refused any other key, so
what follows can only repeat one, which a dict keeps in its first place too (with the last
value, as the Struct does). A key repeated before then is a mismatch; in a nested shape any key
repeated is (a repeated object would replace the whole of the first one).
"""

from __future__ import annotations

import numpy as np

from native_kernels.jit import kernel

# the bytes the walk stops at, as ints for the kernel
_QUOTE, _BACKSLASH, _COMMA, _OPEN_OBJECT, _OPEN_ARRAY, _CLOSE_OBJECT, _CLOSE_ARRAY = b'"\\,{[}]'


@kernel
def _keys_in_order(data, starts, ends, keys, key_ends, nested, out):
    n_keys = key_ends.shape[0]
    for i in range(starts.shape[0]):
        p = starts[i]
        e = ends[i]
        depth = 0
        arrays = 0  # arrays open: objects in them are values, their keys not the shape's
        k = 0
        expect_key = False
        good = True
        while p < e:
            c = data[p]
            if c == _QUOTE:
                if expect_key:
                    if k >= n_keys:
                        good = False
                        break
                    j = key_ends[k - 1] if k else 0
                    stop = key_ends[k]
                    q = p + 1
                    while j < stop and q < e and data[q] == keys[j]:
                        j += 1
                        q += 1
                    if j != stop or q >= e or data[q] != _QUOTE:
                        good = False
                        break
                    k += 1
                    if k == n_keys and not nested:  # the rest can only repeat a key (msgspec refused others)
                        break
                    expect_key = False
                    p = q + 1
                    continue
                p += 1  # a string that is not a key of the shape: skipped
                while p < e:
                    c = data[p]
                    if c == _BACKSLASH:
                        p += 2
                        continue
                    if c == _QUOTE:
                        break
                    p += 1
                p += 1
                continue
            if c == _OPEN_OBJECT:
                depth += 1
                expect_key = arrays == 0 and (nested or depth == 1)
            elif c == _OPEN_ARRAY:
                depth += 1
                arrays += 1
            elif c == _CLOSE_OBJECT or c == _CLOSE_ARRAY:
                depth -= 1
                if c == _CLOSE_ARRAY:
                    arrays -= 1
                expect_key = False
            elif c == _COMMA:
                expect_key = arrays == 0 and (nested or depth == 1)
            p += 1
        out[i] = good and k == n_keys


def keys_in_order(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, keys: list[bytes], nested: bool = False
) -> np.ndarray:
    """Per row `data[starts[i]:ends[i]]` (an object msgspec decoded into a Struct of exactly
    these keys): True when its top-level keys (`nested`: the keys of all its objects outside
    arrays, in pre-order) come in this order, written without escapes, none repeated."""
    blob = np.frombuffer(b"".join(keys), np.uint8) if keys else np.empty(0, np.uint8)
    key_ends = np.cumsum(np.fromiter(map(len, keys), np.int64, len(keys)))
    out = np.zeros(len(starts), np.bool_)
    _keys_in_order(data, np.asarray(starts, np.int64), np.asarray(ends, np.int64), blob, key_ends, nested, out)
    return out


def plain_key(key: str) -> bool:
    """Whether `key` is written the same raw as decoded (no `"`, `\\` or control characters)."""
    return not any(c in '"\\' or c < " " for c in key)
