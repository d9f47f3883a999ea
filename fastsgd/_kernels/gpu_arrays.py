"""GPU arrays from the kernels' side: recognise them, view them, check them.

Any object with ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA
tensors, Numba device arrays) lives in GPU memory and is used where it is,
without a copy; the checks of a GPU ``X`` run on the GPU. ``numba.cuda`` is
imported on first use only, so importing this module costs nothing on a CPU
machine. ``_kernels/cuda_launch.py`` imports them from here; ``fastsgd._device``
(the device policy, one layer up) gives them to the estimators, with the checks
of a GPU ``X`` that run on the GPU.
"""

import sys


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


def host_copy(obj, name):
    """A host NumPy copy of a (small) GPU array such as ``y`` or ``sample_weight``."""
    return device_view(obj, name).copy_to_host()
