"""numba kernels and the hyperscan wrapper: pure functions over arrays, no I/O, no processes."""
