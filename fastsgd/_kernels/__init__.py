"""Backend kernels: ``cpu`` (Numba ``njit``/``prange``); numba.cuda comes later."""
