"""Launching GPU kernels and moving data: what every GPU kernel module shares.

Imported only when a GPU is asked for. The launch shape of the persistent
kernels (``LAUNCH``, ``launch_shape``), the launch itself (``launch``), host
arrays moved to the GPU once (``to_device_args``) or around one call
(``Arguments``), and the small kernels the trainers call on GPU data: the
finiteness check of a GPU ``X`` (``all_finite``) and the row gather of the
validation split (``take_rows``).
"""

import math
import warnings

import numpy as np
from numba import config as numba_config
from numba import cuda
from numba.core.errors import NumbaPerformanceWarning

from fastsgd._kernels._jit import gpu_kernel
from fastsgd._kernels.gpu_arrays import device_view, is_device_array

#: Threads per block, and the most blocks (``None``: one per multiprocessor,
#: which a cooperative launch can always keep resident). Tests make them small
#: so that several blocks and ragged tails are exercised.
LAUNCH = {"threads": 256, "blocks": None}


def simulated():
    """Whether Numba's CUDA simulator stands in for a GPU."""
    return bool(numba_config.ENABLE_CUDASIM)


def launch(kernel, shape, *args):
    """Launch ``kernel[shape](*args)``.

    Numba warns about grids smaller than the GPU; a small problem makes a
    small grid on purpose, so that warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        warnings.filterwarnings("ignore", message=".*under-utilization")
        kernel[shape](*args)


def launch_shape(work_items):
    """``(blocks, threads)`` of a persistent kernel with ``work_items`` per phase.

    The simulator runs a grid-wide barrier for one block only, so it gets one
    block (its thread-stride loops still cut the work into many pieces).
    """
    threads = int(LAUNCH["threads"])
    if simulated():
        return 1, threads
    blocks = LAUNCH["blocks"] or cuda.get_current_device().MULTIPROCESSOR_COUNT
    return max(1, min(int(blocks), -(-int(work_items) // threads))), threads


# --------------------------------------------------------------------------
# Moving arrays
# --------------------------------------------------------------------------


def to_device(array):
    """A device array for ``array`` (no copy if it already lives on the GPU)."""
    if is_device_array(array):
        return device_view(array, "array")
    return cuda.to_device(np.ascontiguousarray(array))


def to_device_args(args):
    """A bundle of kernel arguments (``bundles.Data``, ...) with its arrays
    moved to the GPU once (GPU arrays stay where they are; scalars pass
    through): the data a fit keeps resident."""
    return args._make(to_device(a) if hasattr(a, "shape") else a for a in args)


class Arguments:
    """Host arrays of a kernel call moved to the GPU, and copied back after it."""

    def __init__(self):
        self.copies = []

    def __call__(self, array, writes=False):
        if is_device_array(array):
            return device_view(array, "array")
        device = cuda.to_device(np.ascontiguousarray(array))
        if writes:
            self.copies.append((device, array))
        return device

    def copy_back(self):
        for device, host in self.copies:
            host[...] = device.copy_to_host()


# --------------------------------------------------------------------------
# Checks and small helpers
# --------------------------------------------------------------------------


@gpu_kernel
def _count_nonfinite(values, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    count = 0
    for i in range(start, values.shape[0], stride):
        v = values[i]
        if not math.isfinite(v):
            count += 1
    out[start] = count


def all_finite(values):
    """Whether a flat device array holds no NaN or infinity (one pass on the GPU)."""
    shape = launch_shape(values.shape[0])
    counts = cuda.device_array(shape[0] * shape[1], dtype=np.int64)
    launch(_count_nonfinite, shape, values, counts)
    return int(counts.copy_to_host().sum()) == 0


@gpu_kernel
def _gather_rows(X, rows, out):
    start = cuda.grid(1)
    n_features = X.shape[1]
    for u in range(start, rows.shape[0] * n_features, cuda.gridsize(1)):
        r = u // n_features
        j = u - r * n_features
        out[r, j] = X[rows[r], j]


def take_rows(X, rows):
    """``X[rows]`` of a 2-D device array, as a host array."""
    rows = np.asarray(rows, dtype=np.int64)
    out = cuda.device_array((rows.shape[0], X.shape[1]), dtype=X.dtype)
    launch(_gather_rows, launch_shape(out.size), X, cuda.to_device(rows), out)
    return out.copy_to_host()
