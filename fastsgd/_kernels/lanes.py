"""Heads in vector lanes: the dense one-pass search's updates and dot products.

A grid's pass (``cpu_per_sample`` with ``SPLITS``) trains many heads on each
row. Scored one head at a time, a head's dot product is a chain of additions
that each wait on the last (scikit-learn's order, exact IEEE arithmetic), and
those chains bound the pass. Here a group of heads lives feature-major in a
buffer of its own (``G[j, lane]``, ``LANES`` heads to a block, a block's
weights of one feature in one 64-byte line), and ``lane_step`` makes one pass
over a row's blocks: it adds each lane's update ``x[j] * c[lane]`` (the
per-head loop's ``w[j] += x[j] * c``) and, from the weights it leaves, the
next row's dot products, each lane's sum added feature after feature. So the
same bits as the per-head loop, with one vector instruction for ``LANES``
heads, and the sums' waits filled with the updates' work.

Numba's loop vectoriser does not produce this loop from Python (the lanes'
sums are reductions it will not reorder, rightly), so it is LLVM IR
(``numba.extending.intrinsic``). CPU only: the GPU kernels give a head a
thread.
"""

from llvmlite import ir
from numba.core import cgutils, errors, types
from numba.extending import intrinsic

#: Heads a vector holds: 8 float64 (an AVX-512 register; LLVM splits it on
#: narrower machines) or 8 float32.
LANES = 8
#: Blocks of ``LANES`` heads a ``lane_step`` takes at most (``cpu_per_sample``
#: gives it four, or two): independent vector sums overlap, where one waits
#: on each addition.
STEP_BLOCKS = 4
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
def lane_step(typingctx, w, bases, stride, x, c, c_ats, x_next, out, out_at):
    """One row's updates of some blocks of heads, and the next row's dot
    products, in one pass over the blocks' weights.

    For block ``q`` (a base of ``bases``, a tuple) and lane ``l``, at every
    feature ``j`` in order: ``w[base_q + j * stride + l] += x[j] * c[c_at_q +
    l]``, then the weight as it now is, times ``x_next[j]``, is added to the
    lane's sum, stored at ``out[out_at + q * LANES + l]``: the next row's dot
    product, summed in scikit-learn's order after this row's update, as the
    per-head loop sums it. A block given twice must get zero coefficients the
    second time.

    A lane that does not update has a zero coefficient (scikit-learn skips a
    zero update): adding ``x[j] * 0.0`` keeps a weight's bits, for finite
    ``x`` (the estimators reject others), unless the weight is ``-0.0``, which
    no step makes (an addition that cancels to zero gives ``+0.0``, and the
    weights start at ``+0.0``). A select between the two values was one
    vector instruction in five.

    The sums' chains wait on each addition; the update's loads, products and
    stores fill the wait. ``c`` is float64 whatever the weights' dtype:
    float32 weights and rows are widened, updated in float64 and rounded
    back, as the per-head loop's ``w[j] += x[j] * c`` does with its float64
    ``c``; the sums are in the weights' dtype, as ``rows.row_dot``'s.
    """
    _check(w, x, x_next, out)
    if not (isinstance(c, types.Array) and c.dtype == types.float64):
        raise errors.TypingError("lane_step: float64 coefficients")
    if not (isinstance(bases, types.UniTuple) and isinstance(c_ats, types.UniTuple)
            and bases.count == c_ats.count):  # fmt: skip
        raise errors.TypingError("lane_step: a tuple of bases, one of offsets in c")
    sig = types.void(w, bases, stride, x, c, c_ats, x_next, out, out_at)

    def codegen(context, builder, signature, args):
        w_arr, bases, stride, x_arr, c_arr, c_ats, next_arr, out_arr, out_at = args
        a = signature.args
        wary = context.make_array(a[0])(context, builder, w_arr)
        xary = context.make_array(a[3])(context, builder, x_arr)
        cary = context.make_array(a[4])(context, builder, c_arr)
        nary = context.make_array(a[6])(context, builder, next_arr)
        oary = context.make_array(a[7])(context, builder, out_arr)
        n_blocks = a[1].count
        vty = _lane_type(context, a[0].dtype)
        wide = _lane_type(context, types.float64)
        narrow = a[0].dtype != types.float64
        blocks = [builder.extract_value(bases, q) for q in range(n_blocks)]
        cvs = [
            builder.load(_vector_at(builder, cary.data, builder.extract_value(c_ats, q),
                                    wide), align=8)
            for q in range(n_blocks)
        ]  # fmt: skip
        zero = ir.Constant(vty, [0.0] * LANES)
        sums = [cgutils.alloca_once_value(builder, zero) for _ in range(n_blocks)]
        n = builder.extract_value(xary.shape, 0)
        with cgutils.for_range(builder, n) as loop:
            j = loop.index
            xj = builder.load(cgutils.get_item_pointer(context, builder, a[3], xary, [j],
                                                       wraparound=False))  # fmt: skip
            if narrow:
                xj = builder.fpext(xj, ir.DoubleType())
            xv = _splat(builder, wide, xj)
            nj = builder.load(cgutils.get_item_pointer(context, builder, a[6], nary, [j],
                                                       wraparound=False))  # fmt: skip
            nv = _splat(builder, vty, nj)
            row = builder.mul(j, stride)
            for q in range(n_blocks):
                ptr = _vector_at(builder, wary.data, builder.add(blocks[q], row), vty)
                wv = builder.load(ptr, align=8)
                w_wide = builder.fpext(wv, wide) if narrow else wv
                updated = builder.fadd(w_wide, builder.fmul(xv, cvs[q]))
                if narrow:
                    updated = builder.fptrunc(updated, vty)
                builder.store(updated, ptr, align=8)
                total = builder.fadd(builder.load(sums[q]), builder.fmul(updated, nv))
                builder.store(total, sums[q])
        for q in range(n_blocks):
            at = builder.add(out_at, ir.Constant(out_at.type, q * LANES))
            builder.store(builder.load(sums[q]), _vector_at(builder, oary.data, at, vty),
                          align=8)  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen
