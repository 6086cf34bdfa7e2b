"""The numba intrinsics kernels call (LLVM IR inlined into the caller), each under the type of
the call a kernel makes: `copy_bytes` (memcpy) and `trailing_zeros` (numba's cttz).

An intrinsic is defined with numba's typing context as its first parameter, which kernels never
pass (numba supplies it), so its own signature would make every call look wrong to mypy. The
public names here are the same numba objects, typed as kernels call them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
from numba import types
from numba.core import cgutils
from numba.cpython.unsafe.numbers import trailing_zeros as _numba_trailing_zeros
from numba.extending import intrinsic


@intrinsic
def _copy_bytes(typingctx, dst, d, src, s, n):
    """`dst[d:d + n] = src[s:s + n]` for 1-D contiguous uint8 arrays, as one memcpy, inside a
    kernel. Nothing is checked: the caller knows both runs lie inside their arrays and do not
    overlap. A slice assignment in numba is a byte loop (it cannot rule out overlap), ~10x
    slower than memcpy on runs of ~100 bytes."""
    sig = types.void(dst, d, src, s, n)

    def codegen(context, builder, signature, args):
        dst_v, d_v, src_v, s_v, n_v = args
        dst_a = context.make_array(signature.args[0])(context, builder, dst_v)
        src_a = context.make_array(signature.args[2])(context, builder, src_v)
        cgutils.raw_memcpy(builder, builder.gep(dst_a.data, [d_v]), builder.gep(src_a.data, [s_v]), n_v, 1)
        return context.get_dummy_value()

    return sig, codegen


# An integer as a kernel holds it: a Python int or a numpy scalar.
_Integer = int | np.integer

# copy_bytes(dst, d, src, s, n): see _copy_bytes.
copy_bytes = cast(Callable[[np.ndarray, _Integer, np.ndarray, _Integer, _Integer], None], _copy_bytes)
# trailing_zeros(x): how many low bits of x (not 0) are 0, as a numpy integer of x's width.
trailing_zeros = cast(Callable[[_Integer], np.integer], _numba_trailing_zeros)
