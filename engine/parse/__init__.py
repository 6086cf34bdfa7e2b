"""Parser worker: raw frame batches → column batches (numba kernels, msgspec for JSON)."""
