"""The one place where Numba compile options are set.

``FASTMATH`` allows re-association (so reductions vectorise) and FMA
contraction, but not ``nnan``/``ninf`` (the trainer relies on NaN and inf
surviving to detect a diverging fit) nor ``nsz``: with ``reassoc`` it lets
LLVM rewrite the log-loss gradient and the cross-entropy into forms that
cancel catastrophically. Re-association makes a sum's rounding
depend on the compiled code, never on the thread count: every reduction runs
in a fixed order inside one thread.
"""

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

FASTMATH = {"reassoc", "contract"}

#: The per-sample kernel reproduces scikit-learn's arithmetic: no FMA
#: contraction, which would change single roundings such as
#: ``b += u * intercept_decay`` (two opposite updates would not cancel).
FASTMATH_NO_FMA = {"reassoc"}


def cpu_math(fn):
    """Compile a math-layer function for the CPU with IEEE semantics.

    For the few formulas that re-association spoils (the cross-entropy's
    ``log(total) - (score - top)`` becomes ``(log(total) + top) - score``):
    compiled on their own without fast-math and called, not inlined (LLVM does
    not inline across differing fast-math attributes). The others are
    ``cpu_function``s: inlined, so they take the kernel's flags.
    """
    return numba.njit(cache=True, nogil=True)(fn)


def cpu_function(fn):
    """Compile a kernel helper (row access, a step of a kernel), inlined into callers.

    ``inline="always"`` inlines at Numba's IR level, so the kernel's loops see
    the helper's body and LLVM can vectorise across it.
    """
    return numba.njit(inline="always", fastmath=FASTMATH, nogil=True)(fn)


def cpu_kernel(fn=None, *, fastmath=FASTMATH, parallel=True):
    """Compile a kernel called from Python: cached, GIL released.

    ``parallel`` for the epoch kernels (``prange``). Functions inlined into a
    kernel (``cpu_function``) take the kernel's ``fastmath`` flags.
    """
    if fn is None:
        return lambda f: cpu_kernel(f, fastmath=fastmath, parallel=parallel)
    return numba.njit(cache=True, fastmath=fastmath, nogil=True, parallel=parallel)(fn)


@intrinsic
def prefetch(typingctx, array, index):
    """``llvm.prefetch`` of ``array[index]`` (read, keep in all cache levels)."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, array_type, ary, [args[1]], wraparound=False
        )
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [i8p, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


def gpu_function(fn):
    """Compile a math-layer function (or a kernel helper) for the GPU.

    ``cuda.jit(device=True)`` on the same plain Python function the CPU
    kernels compile with ``cpu_function``: one source per formula. Imported
    from ``_kernels/cuda*.py`` only, so ``numba.cuda`` loads only when a GPU is
    asked for.
    """
    from numba import cuda

    return cuda.jit(device=True)(fn)


def gpu_kernel(fn):
    """Compile a GPU kernel (launched from Python): cached like the CPU kernels."""
    from numba import cuda

    return cuda.jit(cache=True)(fn)
