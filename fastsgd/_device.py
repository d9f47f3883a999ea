"""Where training runs: ``device="cpu"``, ``"cuda"`` or ``"auto"``.

The host-side policy: which device a fit runs on, inputs on one side, and the
GPU's out-of-memory error turned into a helpful one; and what the estimators
do with a GPU ``X`` outside training: check it, gather its validation rows,
score it (each a small kernel of ``_kernels/cuda_launch.py`` or
``_kernels/cuda.py``). ``numba.cuda`` is imported lazily, and only when a GPU
is asked for: ``import fastsgd`` and CPU fits never touch it.
"""

import numpy as np

from fastsgd._kernels.gpu_arrays import (  # noqa: F401 (host_copy: the estimators')
    cuda_module,
    device_view,
    host_copy,
    is_device_array,
)

DEVICES = ("cpu", "cuda", "auto")


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
    from fastsgd._kernels import cuda_launch

    if not cuda_launch.all_finite(X.reshape(X.size)):
        raise ValueError("Input X contains NaN or infinity (checked on the GPU).")
    return X


def take_rows(X, rows):
    """``X[rows]`` of a GPU ``X`` as a host array (the early-stopping set)."""
    from fastsgd._kernels import cuda_launch

    return cuda_launch.take_rows(X, rows)


def gpu_scores(X, coef, intercept):
    """``X @ coef.T + intercept`` on the GPU for a GPU ``X``, as ``X.dtype``."""
    from fastsgd._kernels import cuda

    return cuda.linear_scores(X, coef, intercept).astype(X.dtype)


class CUDAUnavailableError(RuntimeError):
    """``device="cuda"`` was asked for on a machine where Numba sees no GPU."""


def cuda_available():
    """Whether ``numba.cuda`` imports and sees a usable GPU (or its simulator)."""
    try:
        cuda = cuda_module()
        return bool(cuda.is_available())
    except Exception:  # a broken driver or toolkit means: no GPU here
        return False


def resolve_device(device):
    """``"cpu"`` or ``"cuda"`` for an estimator's ``device`` parameter.

    ``"auto"`` is the GPU when ``numba.cuda.is_available()``, else the CPU
    (quietly); ``"cuda"`` without a GPU raises ``CUDAUnavailableError``.
    """
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    raise CUDAUnavailableError(
        "device='cuda' was asked for, but numba.cuda finds no usable CUDA GPU on "
        "this machine (numba.cuda.is_available() is False: no NVIDIA driver, no "
        "GPU, or numba-cuda is not installed: `pip install numba-cuda`). Use "
        "device='cpu', or device='auto' to take the GPU only when there is one."
    )


def check_same_side(X, **others):
    """Raise if some of the given inputs are on the GPU and others on the host."""
    x_on_gpu = is_device_array(X)
    for name, value in others.items():
        if value is None:
            continue
        if is_device_array(value) != x_on_gpu:
            where_x, where_v = ("GPU", "host") if x_on_gpu else ("host", "GPU")
            raise ValueError(
                f"X is a {where_x} array but {name} is a {where_v} array: pass "
                f"X and {name} on the same device (both NumPy/SciPy, or both GPU "
                "arrays with __cuda_array_interface__)."
            )


def out_of_memory(exc):
    """Whether ``exc`` is the CUDA driver's out-of-memory error."""
    text = f"{type(exc).__name__}: {exc}"
    return "OUT_OF_MEMORY" in text or "out of memory" in text.lower()


class device_errors:
    """Turn the CUDA driver's out-of-memory error into a helpful ``MemoryError``."""

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and not isinstance(exc, MemoryError) and out_of_memory(exc):
            raise MemoryError(
                f"The GPU ran out of memory while {self.what}. Use a smaller "
                "batch_size, a float32 X, fewer samples per fit (partial_fit), "
                "or device='cpu'."
            ) from exc
        return False
