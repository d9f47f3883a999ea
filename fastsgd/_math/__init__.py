"""The math layer: every loss, penalty, schedule and update rule, written once.

Each function here is plain, undecorated Python using only ``math`` and scalar
arithmetic (or a short loop over a row), so that the CPU kernels compile it with
``numba.njit`` and the GPU kernels with ``numba.cuda.jit(device=True)``. Choices
(loss, penalty, schedule) are small integer codes, so a kernel compiles once per
dtype whatever the hyper-parameters are.
"""
