"""Test-session set-up: a fresh Numba cache unless one is chosen.

Numba's cache does not notice edits in the modules a kernel inlines from, so
the suite compiles into a new cache directory each run (set
``NUMBA_CACHE_DIR`` yourself to reuse one while iterating).
"""

import os
import tempfile

if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastsgd-numba-")
