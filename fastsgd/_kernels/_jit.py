"""The one place where Numba compile options are set.

``FASTMATH`` allows re-association (so reductions vectorise) and FMA
contraction, but not ``nnan``/``ninf``: the trainer relies on NaN and inf
surviving to detect a diverging fit. Re-association makes a sum's rounding
depend on the compiled code, never on the thread count: every reduction runs
in a fixed order inside one thread.
"""

import numba

FASTMATH = {"reassoc", "contract", "nsz"}


def cpu_function(fn):
    """Compile a math-layer or helper function for the CPU (inlined by LLVM)."""
    return numba.njit(cache=True, fastmath=FASTMATH, nogil=True)(fn)


def cpu_kernel(fn):
    """Compile an epoch kernel: parallel (``prange``), cached, GIL released."""
    return numba.njit(cache=True, fastmath=FASTMATH, nogil=True, parallel=True)(fn)
