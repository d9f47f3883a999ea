"""A prototype for the one-pass search (issue 31): heads' dot products in vector lanes.

Without lanes (CSR, averaging, L1, ``tol``) the per-sample kernel scores the heads
of a grid that share a row four at a
time (``fastsgd._kernels.rows.row_dot4``, compiled in ``cpu_per_sample``): four
sums, each added feature after feature in scikit-learn's order. Each product and
each addition is a scalar instruction, and the floating-point ports bound the
pass. The prototype lays a block of ``LANES`` heads out feature by feature
(``w[block, j, lane]``) and adds the products of a feature to a vector of
``LANES`` sums: each head is still summed feature after feature in the same
order, so the sums are the same bits, with one vector instruction per ``LANES``
heads.
Numba's loop vectoriser does not produce this from Python loops (the prototype of a
feature-major layout compiled to the scalar code), so the loop is written as LLVM IR
(``numba.extending.intrinsic``). Four blocks are summed per read of a row.

The kernel's version (``fastsgd._kernels.lanes.lane_step``, a group's heads in a
buffer of its own) also adds the row's updates in the same pass over the weights; this
benchmark keeps the dot products alone, as the prototype measured them.

Peers, side by side: ``row_dot4`` over a row-major ``(heads, features)`` array, and
the lanes over the same weights laid out in blocks; both over the same rows, each
head's sum checked bitwise against the other. Not in ``report.py``'s tables (no
``workload``); run it with ``--benchmark-enable`` to compare the two.
"""

import numpy as np
import pytest
from llvmlite import ir
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from bench.workloads import FULL
from fastsgd._kernels.cpu_per_sample import row_dot4  # (the CPU build)

LANES = 8
#: Blocks summed per read of a row (independent vector sums overlap).
BLOCKS = 4
N_FEATURES = 200
N_HEADS = LANES * BLOCKS
N_ROWS = 2000 if FULL else 50


@intrinsic
def _lane_dots(typingctx, w, base, x):
    """``BLOCKS`` blocks of ``LANES`` sums: ``w[base + (q * n + j) * LANES + l] *
    x[j]`` added over ``j`` in order, for block ``q`` and lane ``l``."""
    sig = types.UniTuple(types.float64, LANES * BLOCKS)(w, base, x)

    def codegen(context, builder, signature, args):
        w_arr, base, x_arr = args
        wary = context.make_array(signature.args[0])(context, builder, w_arr)
        xary = context.make_array(signature.args[2])(context, builder, x_arr)
        n = builder.extract_value(xary.shape, 0)
        vty = ir.VectorType(ir.DoubleType(), LANES)
        i32 = ir.IntType(32)
        sums = [
            cgutils.alloca_once_value(builder, ir.Constant(vty, [0.0] * LANES))
            for _ in range(BLOCKS)
        ]
        block = builder.mul(n, ir.Constant(n.type, LANES))
        with cgutils.for_range(builder, n) as loop:
            j = loop.index
            xj = builder.load(builder.gep(xary.data, [j]))
            xv = builder.insert_element(ir.Constant(vty, ir.Undefined), xj,
                                        ir.Constant(i32, 0))  # fmt: skip
            xv = builder.shuffle_vector(xv, ir.Constant(vty, ir.Undefined),
                                        ir.Constant(ir.VectorType(i32, LANES),
                                                    [0] * LANES))  # fmt: skip
            at = builder.add(base, builder.mul(j, ir.Constant(j.type, LANES)))
            for q in range(BLOCKS):
                where = builder.add(at, builder.mul(block, ir.Constant(n.type, q)))
                ptr = builder.bitcast(builder.gep(wary.data, [where]), vty.as_pointer())
                wv = builder.load(ptr, align=8)
                total = builder.fadd(builder.load(sums[q]), builder.fmul(wv, xv))
                builder.store(total, sums[q])
        values = []
        for q in range(BLOCKS):
            v = builder.load(sums[q])
            values += [builder.extract_element(v, ir.Constant(i32, lane))
                       for lane in range(LANES)]  # fmt: skip
        return context.make_tuple(builder, signature.return_type, values)

    return sig, codegen


@njit(cache=True)
def _blocks_of_four(X, W, out):
    for i in range(X.shape[0]):
        x = X[i]
        for b in range(0, W.shape[0], 4):
            d = row_dot4(x, x[0:0], False, W[b], W[b + 1], W[b + 2], W[b + 3])
            for q in range(4):
                out[i, b + q] = d[q]


@njit(cache=True)
def _lanes(X, W_blocks, out):
    for i in range(X.shape[0]):
        d = _lane_dots(W_blocks, 0, X[i])
        for k in range(LANES * BLOCKS):
            out[i, k] = d[k]


def _blocked(W):
    """``W`` (heads, features) as blocks of ``LANES`` heads, feature by feature."""
    n_heads, n_features = W.shape
    blocks = W.reshape(n_heads // LANES, LANES, n_features).transpose(0, 2, 1)
    return np.ascontiguousarray(blocks).reshape(-1)


@pytest.fixture(scope="module")
def weights_and_rows():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N_ROWS, N_FEATURES))
    W = rng.standard_normal((N_HEADS, N_FEATURES))
    return X, W


@pytest.mark.parametrize("peer", ["row_dot4 (four heads a read)", "lanes (prototype)"])
def test_lane_dot(benchmark, weights_and_rows, peer):
    X, W = weights_and_rows
    expected = np.empty((N_ROWS, N_HEADS))
    _blocks_of_four(X, W, expected)
    out = np.empty_like(expected)
    if peer.startswith("lanes"):
        W_blocks = _blocked(W)
        benchmark(_lanes, X, W_blocks, out)
    else:
        benchmark(_blocks_of_four, X, W, out)
    benchmark.group = "lane dot products"
    benchmark.extra_info.update(peer=peer, heads=N_HEADS, features=N_FEATURES,
                                rows=N_ROWS)  # fmt: skip
    # the same bits: each head's products added feature after feature
    np.testing.assert_array_equal(out, expected)
