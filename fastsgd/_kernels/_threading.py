"""Which of Numba's threading layers runs the parallel kernels: TBB.

Numba runs ``prange`` loops on one of three layers (``tbb``, ``omp``,
``workqueue``) and, by default, takes the first of them that loads:

- ``omp`` (GNU OpenMP on Linux) is thread-safe but not fork-safe: once a
  parallel kernel has run, a child started with ``fork`` (``multiprocessing``'s
  default start method on Linux, gunicorn's pre-fork workers, PyTorch's
  ``DataLoader`` workers, joblib's ``multiprocessing`` backend) that runs a
  kernel again is killed by Numba ("fork() called from a process already using
  GNU OpenMP") or hangs, and the parent waiting for it hangs;
- ``workqueue`` is fork-safe but not thread-safe: two fits on two Python
  threads at once abort the process;
- ``tbb`` is both. fastsgd depends on the ``tbb`` package for it.

Numba looks for ``libtbb`` only on the loader's path, where ``pip install tbb``
into a virtual environment does not put it (numba/numba#6108, #7148): the
library lands in ``<prefix>/lib``. :func:`load_tbb` opens the installed
package's library by its path, with global symbols, before Numba chooses a
layer; Numba's own ``dlopen`` of ``libtbb.so.12`` then finds it loaded, and its
default order (``tbb`` first) picks TBB.

A layer the user chose (``NUMBA_THREADING_LAYER=omp`` or
``numba.config.THREADING_LAYER``) is left alone, as is a process whose Numba
has already started a layer. Where TBB cannot load (no ``tbb`` wheel for the
platform), Numba falls back to ``omp`` and fork-started children must not run
fastsgd after the parent did (use ``multiprocessing``'s ``spawn`` or
``forkserver``). The kernels split their work by the data's shape, never by
the layer or the thread count, so the layer never changes a model.
"""

import ctypes
import importlib.metadata
import os
import sys

import numba

#: The file name of TBB's runtime library that Numba loads, per platform.
LIBRARY = {"win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}.get(
    sys.platform, "libtbb.so.12"
)


def tbb_library():
    """The path of the ``tbb`` package's runtime library, or None.

    Returns
    -------
    path : str or None
        Where ``pip``/``conda`` installed ``libtbb`` for this interpreter, or
        None when the ``tbb`` package is not installed or lacks the library.
    """
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == LIBRARY:
            path = os.path.realpath(file.locate())
            if os.path.exists(path):
                return path
    return None


def tbb_wanted(layer_started):
    """Whether TBB may still become Numba's threading layer: no layer has
    started in this process (``layer_started``, which ``_jit`` reads from
    Numba), and the layer the user chose (``NUMBA_THREADING_LAYER``,
    ``numba.config.THREADING_LAYER``) is Numba's default order, ``tbb``
    itself, or a property TBB has (``safe``, ``forksafe``, ``threadsafe``)."""
    if layer_started:
        return False
    return numba.config.THREADING_LAYER in (
        "default", "tbb", "safe", "forksafe", "threadsafe"
    )  # fmt: skip


def load_tbb(layer_started):
    """Make Numba's TBB threading layer loadable, where it may be chosen
    (``tbb_wanted``).

    Returns
    -------
    loaded : bool
        Whether ``libtbb`` was opened here. False when another layer is
        chosen or already running, when the ``tbb`` package is absent, or when its library does
        not load (Numba then falls back to its next layer).
    """
    if not tbb_wanted(layer_started):
        return False
    path = tbb_library()
    if path is None:
        return False
    try:
        if sys.platform == "win32":  # tbb12.dll's own dependencies lie beside it
            os.add_dll_directory(os.path.dirname(path))
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True
