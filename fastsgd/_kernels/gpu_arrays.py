"""GPU arrays from the kernels' side: recognise them, view them, check them.

Any object with ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA
tensors, Numba device arrays) lives in GPU memory and is used where it is,
without a copy; the checks of a GPU ``X`` run on the GPU. ``numba.cuda`` is
imported on first use only, so importing this module costs nothing on a CPU
machine. ``fastsgd._device`` (the device policy, one layer up) re-exports these
functions to the estimators; ``_kernels/cuda_launch.py`` imports them from here, so
no kernel module imports the layer above it.
"""

import sys

import numpy as np


def cuda_module():
    """``numba.cuda``, imported on first use."""
    from numba import cuda

    return cuda


def _simulator_array(obj):
    """Whether ``obj`` is a device array of Numba's CUDA simulator.

    The simulator's arrays have no ``__cuda_array_interface__`` (there is no
    device memory); the test suite uses them to stand for GPU inputs.
    """
    module = sys.modules.get("numba.cuda.simulator.cudadrv.devicearray")
    return module is not None and isinstance(obj, module.FakeCUDAArray)


def is_device_array(obj):
    """Whether ``obj`` lives in GPU memory (exposes ``__cuda_array_interface__``)."""
    if _simulator_array(obj):
        return True
    try:
        return hasattr(obj, "__cuda_array_interface__")
    except Exception:  # a property that raises something besides AttributeError
        return False


def device_view(obj, name):
    """A Numba device array viewing ``obj``'s GPU memory (no copy)."""
    if _simulator_array(obj):
        return obj
    cuda = cuda_module()
    try:
        return cuda.as_cuda_array(obj)
    except Exception as exc:
        raise ValueError(
            f"{name} exposes __cuda_array_interface__ but numba.cuda cannot use it: "
            f"{exc}"
        ) from exc


def check_device_X(obj, estimator_name):
    """Check a GPU ``X``: 2-D, float32/float64, C-contiguous, non-empty, finite.

    Returns the Numba device view. Nothing is copied to the host (finiteness
    is checked by a kernel on the GPU).
    """
    X = device_view(obj, "X")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array on the GPU, got {X.ndim}D array instead."
        )
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"X on the GPU has dtype {X.dtype}; {estimator_name} trains on float32 or "
            "float64 GPU arrays. Cast it on the device first (e.g. x.float() in "
            "PyTorch, x.astype(cupy.float32) in CuPy)."
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
            f"while a minimum of 1 is required by {estimator_name}."
        )
    if not X.is_c_contiguous():
        raise ValueError(
            "X on the GPU must be C-contiguous (row-major, no strides); make it "
            "contiguous on the device first (x.contiguous() in PyTorch, "
            "cupy.ascontiguousarray(x) in CuPy)."
        )
    from fastsgd._kernels import cuda_launch as cuda_kernels

    if not cuda_kernels.all_finite(X.reshape(X.size)):
        raise ValueError("Input X contains NaN or infinity (checked on the GPU).")
    return X


def host_copy(obj, name):
    """A host NumPy copy of a (small) GPU array such as ``y`` or ``sample_weight``."""
    return device_view(obj, name).copy_to_host()
