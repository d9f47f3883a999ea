"""Where training runs: ``device="cpu"``, ``"cuda"`` or ``"auto"``.

The host-side policy: which device a fit runs on, inputs on one side, and the
GPU's out-of-memory error turned into a helpful one. ``numba.cuda`` is imported
lazily, and only when a GPU is asked for: ``import fastsgd`` and CPU fits never
touch it. The handling of inputs that already live on the GPU (recognising,
viewing and checking them) is one layer down, in ``_kernels/gpu_arrays.py``,
and re-exported here for the estimators.
"""

from fastsgd._kernels.gpu_arrays import (  # noqa: F401 (the estimators' names)
    check_device_X,
    cuda_module,
    device_view,
    host_copy,
    is_device_array,
)

DEVICES = ("cpu", "cuda", "auto")


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
