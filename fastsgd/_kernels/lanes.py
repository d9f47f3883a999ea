"""Heads in vector lanes: the dense one-pass search's dot products and updates.

A grid's pass (``cpu_per_sample`` with ``SPLITS``) trains many heads on each
row. Scored one head at a time, a head's dot product is a chain of additions
that each wait on the last (scikit-learn's order, exact IEEE arithmetic), and
those chains bound the pass. Here a group of heads lives feature-major in a
buffer of its own (``G[j, lane]``, ``LANES`` heads to a block, a block's
weights of one feature in one 64-byte line): one vector instruction adds a
feature's products to ``LANES`` heads' sums, each sum still added feature
after feature, so the same bits as ``rows.row_dot``. An update adds
``x[j] * c[lane]`` to the lanes whose ``c`` is not zero, the others kept as
they are (scikit-learn skips a zero update): the same bits as the per-head
``w[j] += x[j] * c``.

Numba's loop vectoriser does not produce these loops from Python (the lanes'
sums are a reduction it will not reorder, rightly, and the masked update is a
conditional store), so they are LLVM IR (``numba.extending.intrinsic``).
``bench/test_lane_dot.py`` measured the dot products alone: 2.3-3.2x faster
than ``rows.row_dot4``'s four scalar sums. CPU only: the GPU kernels give a
head a thread.
"""

from llvmlite import ir
from numba.core import cgutils, errors, types
from numba.extending import intrinsic

#: Heads a vector holds: 8 float64 (an AVX-512 register; LLVM splits it on
#: narrower machines) or 8 float32.
LANES = 8
#: Blocks of ``LANES`` heads summed per read of a row: independent vector sums
#: overlap, where one waits on each addition.
DOT_BLOCKS = 4
#: Bytes the lane buffers are aligned to (a cache line: a vector access that
#: straddles two lines was 1.2-1.5x slower).
ALIGN = 64


def _check(w, x, *others):
    if not (isinstance(w, types.Array) and w.ndim == 1 and w.layout == "C"):
        raise errors.TypingError("lanes: the lane buffer is a contiguous 1-D array")
    if not (isinstance(x, types.Array) and x.ndim == 1 and x.dtype == w.dtype):
        raise errors.TypingError("lanes: the row is a 1-D array of the buffer's dtype")
    for other in others:
        if not (isinstance(other, types.Array) and other.dtype == w.dtype):
            raise errors.TypingError("lanes: arrays of the buffer's dtype")


def _lane_type(context, dtype):
    return ir.VectorType(context.get_data_type(dtype), LANES)


def _splat(builder, vty, value):
    i32 = ir.IntType(32)
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), value, i32(0))
    mask = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), mask)


def _vector_at(builder, data, offset, vty):
    return builder.bitcast(builder.gep(data, [offset]), vty.as_pointer())


@intrinsic
def lane_dots(typingctx, w, base0, base1, base2, base3, stride, x, out, out_at):
    """The dot products of ``DOT_BLOCKS`` blocks with row ``x``.

    Block ``q``'s lane ``l`` sums ``w[base_q + j * stride + l] * x[j]`` over
    ``j`` in order, and is stored at ``out[out_at + q * LANES + l]``. A short
    call repeats a block (the spare sums overlap the others, next to free).
    """
    _check(w, x, out)
    sig = types.void(w, base0, base1, base2, base3, stride, x, out, out_at)

    def codegen(context, builder, signature, args):
        w_arr, *bases, stride, x_arr, out_arr, out_at = args
        w_type, x_type, out_type = (
            signature.args[0],
            signature.args[6],
            signature.args[7],
        )
        wary = context.make_array(w_type)(context, builder, w_arr)
        xary = context.make_array(x_type)(context, builder, x_arr)
        oary = context.make_array(out_type)(context, builder, out_arr)
        vty = _lane_type(context, w_type.dtype)
        n = builder.extract_value(xary.shape, 0)
        zero = ir.Constant(vty, [0.0] * LANES)
        sums = [cgutils.alloca_once_value(builder, zero) for _ in bases]
        with cgutils.for_range(builder, n) as loop:
            j = loop.index
            xp = cgutils.get_item_pointer(context, builder, x_type, xary, [j],
                                          wraparound=False)  # fmt: skip
            xv = _splat(builder, vty, builder.load(xp))
            row = builder.mul(j, stride)
            for total, base in zip(sums, bases, strict=True):
                ptr = _vector_at(builder, wary.data, builder.add(base, row), vty)
                product = builder.fmul(builder.load(ptr, align=8), xv)
                builder.store(builder.fadd(builder.load(total), product), total)
        for q, total in enumerate(sums):
            at = builder.add(out_at, ir.Constant(out_at.type, q * LANES))
            ptr = _vector_at(builder, oary.data, at, vty)
            builder.store(builder.load(total), ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lane_update(typingctx, w, base, stride, x, c, c_at):
    """``w[base + j * stride + l] += x[j] * c[c_at + l]`` for every ``j``, in
    the lanes ``l`` whose ``c`` is not zero (a NaN updates, as scikit-learn's
    ``update != 0.0``); the other lanes keep their bits.

    ``c`` is float64 whatever the weights' dtype: float32 weights and rows are
    widened, updated in float64 and rounded back, as the per-head loop's
    ``w[j] += x[j] * c`` does with its float64 ``c``.
    """
    _check(w, x)
    if not (isinstance(c, types.Array) and c.dtype == types.float64):
        raise errors.TypingError("lane_update: float64 coefficients")
    sig = types.void(w, base, stride, x, c, c_at)

    def codegen(context, builder, signature, args):
        w_arr, base, stride, x_arr, c_arr, c_at = args
        w_type, x_type, c_type = signature.args[0], signature.args[3], signature.args[4]
        wary = context.make_array(w_type)(context, builder, w_arr)
        xary = context.make_array(x_type)(context, builder, x_arr)
        cary = context.make_array(c_type)(context, builder, c_arr)
        vty = _lane_type(context, w_type.dtype)
        wide = _lane_type(context, types.float64)
        narrow = w_type.dtype != types.float64
        cv = builder.load(_vector_at(builder, cary.data, c_at, wide), align=8)
        mask = builder.fcmp_unordered("!=", cv, ir.Constant(wide, [0.0] * LANES))
        n = builder.extract_value(xary.shape, 0)
        with cgutils.for_range(builder, n) as loop:
            j = loop.index
            xp = cgutils.get_item_pointer(context, builder, x_type, xary, [j],
                                          wraparound=False)  # fmt: skip
            xj = builder.load(xp)
            if narrow:
                xj = builder.fpext(xj, ir.DoubleType())
            xv = _splat(builder, wide, xj)
            ptr = _vector_at(builder, wary.data, builder.add(base, builder.mul(j, stride)),
                             vty)  # fmt: skip
            wv = builder.load(ptr, align=8)
            w_wide = builder.fpext(wv, wide) if narrow else wv
            updated = builder.fadd(w_wide, builder.fmul(xv, cv))
            if narrow:
                updated = builder.fptrunc(updated, vty)
            builder.store(builder.select(mask, updated, wv), ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen
