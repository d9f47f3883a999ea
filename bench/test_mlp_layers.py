"""One layer's products on one thread: BLAS through Numba beside blocked loops.

For each layer of the two MLP workloads (``batch x fan_in x fan_out``), in float32
and float64, ``repeat`` (one ``numba.njit`` function) runs ``reps`` times either

- ``np.dot(A, W, out)``: the forward product, Numba calling BLAS's gemm;
- ``np.dot(A.T, D, out)``: the weight gradient (the input ``A`` of the layer
  transposed times its delta ``D``), BLAS again;
- ``blocked_matmul`` / ``blocked_matmul_tn``: the same two products as
  hand-written loops.

BLAS is pinned to one thread (``threadpool_limits(1, user_api="blas")``) and the
loops run on one thread, so the two compare per core. The benchmark times one
call of ``repeat``; ``report.py`` divides by ``reps`` (µs per product, GFLOP/s).
"""

import numba
import numpy as np
import pytest
import scipy.linalg.cython_blas  # noqa: F401  (Numba's np.dot calls this BLAS)
from threadpoolctl import threadpool_info, threadpool_limits

from bench.workloads import FULL, SEED

#: ``(batch, fan_in, fan_out, where)`` of every layer of the MLP workloads.
LAYERS = [
    (200, 100, 100, "small MLP, hidden layer"),
    (200, 100, 10, "small MLP, output layer"),
    (128, 784, 256, "MNIST-sized, layer 1"),
    (128, 256, 256, "MNIST-sized, layer 2"),
    (128, 256, 10, "MNIST-sized, output layer"),
]
#: ``(name, product, method)`` by variant code of ``repeat``.
VARIANTS = {
    0: ("np.dot(A, W, out)", "A·W", "BLAS"),
    1: ("np.dot(A.T, D, out)", "Aᵀ·D", "BLAS"),
    2: ("blocked_matmul(A, W, out)", "A·W", "blocked"),
    3: ("blocked_matmul_tn(A, D, out)", "Aᵀ·D", "blocked"),
}
#: Flops per timed call of ``repeat`` (reps = this over a product's flops).
FLOP_BUDGET = 1e9 if FULL else 0
PEDANTIC = dict(rounds=5, iterations=1, warmup_rounds=1) if FULL else dict(rounds=1)
#: Steps of the reduction per block (a multiple of 4): a block of the right-hand
#: side stays in cache.
BLOCK = 64


@numba.njit(fastmath=True, inline="always")
def _update4x4(o0, o1, o2, o3, c, b0, b1, b2, b3):
    """``o_r += Σ_s c[4 r + s] b_s`` for four rows ``o_r`` and four rows ``b_s``.

    Along the contiguous rows (the loop vectorises): 16 multiply-adds for every
    four loads and stores of ``o`` and four loads of ``b``.
    """
    for j in range(b0.shape[0]):
        x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
        o0[j] += c[0] * x0 + c[1] * x1 + c[2] * x2 + c[3] * x3
        o1[j] += c[4] * x0 + c[5] * x1 + c[6] * x2 + c[7] * x3
        o2[j] += c[8] * x0 + c[9] * x1 + c[10] * x2 + c[11] * x3
        o3[j] += c[12] * x0 + c[13] * x1 + c[14] * x2 + c[15] * x3


@numba.njit(fastmath=True, inline="always")
def _axpy(o, a, b):
    for j in range(b.shape[0]):
        o[j] += a * b[j]


@numba.njit(fastmath=True)
def blocked_matmul(A, W, out):
    """``out = A @ W``: loops i-k-j, the j loop along contiguous rows of ``W`` and
    ``out`` (vectorised), the reduction k in blocks of ``BLOCK`` rows of ``W``
    (reused from cache by every row of ``A``), four rows i and four steps k at
    a time (``_update4x4``)."""
    n, K = A.shape
    out[:, :] = 0
    n4, K4 = n - n % 4, K - K % 4
    c = np.empty(16, A.dtype)
    for k0 in range(0, K4, BLOCK):
        k1 = min(k0 + BLOCK, K4)
        for i in range(0, n4, 4):
            o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
            for k in range(k0, k1, 4):
                for r in range(4):
                    for s in range(4):
                        c[4 * r + s] = A[i + r, k + s]
                _update4x4(o0, o1, o2, o3, c, W[k], W[k + 1], W[k + 2], W[k + 3])
    for i in range(n4, n):  # rows left over
        for k in range(K):
            _axpy(out[i], A[i, k], W[k])
    for i in range(n4):  # reduction steps left over
        for k in range(K4, K):
            _axpy(out[i], A[i, k], W[k])


@numba.njit(fastmath=True)
def blocked_matmul_tn(A, D, out):
    """``out = A.T @ D`` without a transposed copy: the same loops with the rows
    k of ``out`` (columns of ``A``) outside, the reduction over the batch rows i
    in blocks of ``BLOCK``, four rows k and four steps i at a time."""
    n, K = A.shape
    out[:, :] = 0
    n4, K4 = n - n % 4, K - K % 4
    c = np.empty(16, A.dtype)
    for i0 in range(0, n4, BLOCK):
        i1 = min(i0 + BLOCK, n4)
        for k in range(0, K4, 4):
            o0, o1, o2, o3 = out[k], out[k + 1], out[k + 2], out[k + 3]
            for i in range(i0, i1, 4):
                for r in range(4):
                    for s in range(4):
                        c[4 * r + s] = A[i + s, k + r]
                _update4x4(o0, o1, o2, o3, c, D[i], D[i + 1], D[i + 2], D[i + 3])
    for i in range(n4, n):  # batch rows left over
        for k in range(K):
            _axpy(out[k], A[i, k], D[i])
    for k in range(K4, K):  # rows of out left over
        for i in range(n4):
            _axpy(out[k], A[i, k], D[i])


@numba.njit
def repeat(variant, A, B, out, reps):
    """The product ``variant`` (a key of ``VARIANTS``), ``reps`` times."""
    for _ in range(reps):
        if variant == 0:
            np.dot(A, B, out)
        elif variant == 1:
            np.dot(A.T, B, out)
        elif variant == 2:
            blocked_matmul(A, B, out)
        else:
            blocked_matmul_tn(A, B, out)


def operands(batch, fan_in, fan_out, dtype, variant):
    """``A``, the right-hand side (``W`` or ``D``) and ``out`` of a product."""
    rng = np.random.default_rng(SEED)
    A = rng.standard_normal((batch, fan_in)).astype(dtype)
    if variant in (0, 2):
        B = rng.standard_normal((fan_in, fan_out)).astype(dtype)
        return A, B, np.empty((batch, fan_out), dtype), A @ B
    B = rng.standard_normal((batch, fan_out)).astype(dtype)
    return A, B, np.empty((fan_in, fan_out), dtype), A.T @ B


CASES = [
    pytest.param(
        layer,
        dtype,
        variant,
        id=f"{layer[0]}x{layer[1]}x{layer[2]}-{np.dtype(dtype).name}-"
        f"{VARIANTS[variant][2]}-{'AW' if variant in (0, 2) else 'ATD'}",
    )  # fmt: skip
    for layer in LAYERS
    for dtype in (np.float32, np.float64)
    for variant in VARIANTS
]


@pytest.mark.parametrize(("layer", "dtype", "variant"), CASES)
def test_layer_product(benchmark, layer, dtype, variant):
    batch, fan_in, fan_out, where = layer
    A, B, out, expected = operands(batch, fan_in, fan_out, dtype, variant)
    flops = 2 * batch * fan_in * fan_out
    reps = max(1, round(FLOP_BUDGET / flops))
    name, product, method = VARIANTS[variant]
    benchmark.group = f"layer-{batch}x{fan_in}x{fan_out}-{np.dtype(dtype).name}"
    with threadpool_limits(1, user_api="blas"):
        # threadpoolctl limits the libraries already loaded: all of them here.
        assert all(
            lib["num_threads"] == 1
            for lib in threadpool_info()
            if lib["user_api"] == "blas"
        )
        benchmark.pedantic(repeat, args=(variant, A, B, out, reps), **PEDANTIC)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(fan_in))
    benchmark.extra_info.update(
        section="layers",
        layer=f"{batch} x {fan_in} x {fan_out}",
        where=where,
        dtype=np.dtype(dtype).name,
        variant=name,
        product=product,
        method=method,
        reps=reps,
        flops_per_call=flops,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 13, 5), (4, 8, 3), (130, 70, 9)])
def test_blocked_loops_match_numpy(shape, dtype):
    """The left-over rows and steps too (the timed shapes are multiples of 4)."""
    batch, fan_in, fan_out = shape
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for variant in (2, 3):
        A, B, out, expected = operands(batch, fan_in, fan_out, dtype, variant)
        repeat(variant, A, B, out, 2)
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.sqrt(fan_in))
