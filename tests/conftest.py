"""Test-session set-up: a fresh Numba cache, and the CUDA simulator.

Numba's cache does not notice edits in the modules a kernel inlines from, so
the suite compiles into a new cache directory each run (set
``NUMBA_CACHE_DIR`` yourself to reuse one while iterating).

The GPU kernels run on Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``,
set here before Numba is imported) on every machine, unless
``FASTSGD_REAL_GPU=1`` asks for the real GPU: the same tests run on both.
"""

import os
import sys
import tempfile

if os.environ.get("FASTSGD_REAL_GPU") == "1":
    import numpy as np

    # numba-cuda 0.30.4 still names np.row_stack, which NumPy 2.5 removed
    # (docs/gpu.md, "Known environment issue").
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack  # noqa: NPY201
else:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba" in sys.modules:  # imported by a plugin first: re-read the setting
        import numba

        numba.config.reload_config()

if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastsgd-numba-")
