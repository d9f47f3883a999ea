"""The one place where Numba compile options are set, and the only module
that reads Numba's private names (its cache index and locators, its threading
layer's flag): where Numba changes them, only this file changes.

``FASTMATH`` allows re-association (so reductions vectorise) and FMA
contraction, but not ``nnan``/``ninf`` (the trainer relies on NaN and inf
surviving to detect a diverging fit) nor ``nsz``: with ``reassoc`` it lets
LLVM rewrite the log-loss gradient and the cross-entropy into forms that
cancel catastrophically. Re-association makes a sum's rounding
depend on the compiled code, never on the thread count: every reduction runs
in a fixed order inside one thread.
"""

import contextlib
import functools
import hashlib
import os
import types as pytypes
from typing import NamedTuple

import numba
import numba.core.caching
import numba.core.registry
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from fastsgd._kernels import _threading


def _threading_layer_started():
    """Whether Numba has started its threading layer in this process (a
    private flag of Numba's, read here only)."""
    from numba.np.ufunc import parallel

    return bool(parallel._is_initialized)


# before any parallel kernel runs: fork-safe threads
_threading.load_tbb(_threading_layer_started())


# --------------------------------------------------------------------------
# One cache per installed fastsgd
# --------------------------------------------------------------------------

#: The folder that holds the ``fastsgd`` package (a checkout, or site-packages).
_PACKAGE_PARENT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def cache_root():
    """The folder of fastsgd's compiled kernels.

    ``$NUMBA_CACHE_DIR/fastsgd-<version>`` when ``NUMBA_CACHE_DIR`` is set,
    else ``fastsgd-<version>`` in the user's cache folder (``~/.cache`` on
    Linux): never beside the source files, so that a checkout and the copy
    ``pip install .`` made of it, or two virtual environments, share one cache.
    Inside it, a folder named by a hash of this file (``_OPTIONS_TAG``):
    Numba's cache keys a kernel on its code and signature, not on the compile
    options set here (fast-math, the error model), so a change of options
    must not load kernels compiled under the old ones.
    """
    from fastsgd import __version__

    base = numba.config.CACHE_DIR
    if not base:
        from numba.misc.appdirs import AppDirs

        base = AppDirs(appname="fastsgd", appauthor=False).user_cache_dir
    return os.path.abspath(os.path.join(base, f"fastsgd-{__version__}", _OPTIONS_TAG))


def _options_tag():
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


_OPTIONS_TAG = _options_tag()


@functools.cache
def _helpers_hash():
    """A hash of every source file a kernel may inline code from (``_math/``
    and ``_kernels/``): a kernel's cached code holds its helpers' code, so an
    edit of a helper's file must not load the kernels compiled before it."""
    package = os.path.join(_PACKAGE_PARENT, "fastsgd")
    digest = hashlib.sha256()
    for folder in ("_math", "_kernels"):
        for name in sorted(os.listdir(os.path.join(package, folder))):
            if name.endswith(".py"):
                with open(os.path.join(package, folder, name), "rb") as f:
                    digest.update(name.encode() + b"\0" + f.read())
    return digest.digest()


def _content_hash(path, st_mtime, st_size):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read() + _helpers_hash()).digest()


class _PackageLocator(
    numba.core.caching._SourceFileBackedLocatorMixin,
    numba.core.caching._CacheLocator,
):
    """Numba's cache locator for fastsgd's own functions.

    Numba's locators key a function's cache on the folder of its source file
    (and Numba < 0.68 stamps it with the file's mtime), so the same kernel
    imported from a checkout and from the installed copy compiled twice. This
    one keys it on the file's place inside the package and stamps it with a
    hash of its content and of the helpers' files (``_helpers_hash``):
    identical sources share their compiled code wherever they are imported
    from.
    """

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        inside = os.path.relpath(os.path.dirname(os.path.abspath(py_file)),
                                 _PACKAGE_PARENT)  # fmt: skip
        self._cache_path = os.path.join(cache_root(), inside)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        st = os.stat(self._py_file)
        return _content_hash(self._py_file, st.st_mtime, st.st_size)

    @classmethod
    def from_function(cls, py_func, py_file):
        inside = os.path.abspath(py_file).startswith(
            os.path.join(_PACKAGE_PARENT, "fastsgd") + os.sep
        )
        if not inside:
            return None
        # None where the folder cannot be written: Numba's own locators then
        return super().from_function(py_func, py_file)


def _locked(save):
    """Numba's ``IndexDataCacheFile.save`` under an exclusive lock of the cache
    folder, for fastsgd's folders.

    ``save`` reads a kernel's index, adds an entry and a data file, and writes
    the index back: two processes that compile two signatures of one kernel at
    once (``fastsgd compile``'s workers, joblib or Dask workers) lost one entry,
    or gave both the same data file. Under the lock the second process reads
    the index the first one wrote.
    """

    @functools.wraps(save)
    def locked_save(self, key, data):
        try:
            import fcntl
        except ImportError:  # not POSIX: unlocked, as Numba does
            return save(self, key, data)
        if not os.path.abspath(self._cache_path).startswith(cache_root()):
            return save(self, key, data)
        with open(os.path.join(self._cache_path, ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return save(self, key, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    locked_save.fastsgd_locked = True
    return locked_save


def _install_locator():
    """Put ``_PackageLocator`` first among Numba's locators and lock the saves
    of its folders (private names: where a Numba release renames them, Numba's
    own locators and saves stay in charge)."""
    impl = getattr(numba.core.caching, "CacheImpl", None) or getattr(
        numba.core.caching, "_CacheImpl", None
    )
    classes = getattr(impl, "_locator_classes", None)
    if isinstance(classes, list) and _PackageLocator not in classes:
        classes.insert(0, _PackageLocator)
    index = getattr(numba.core.caching, "IndexDataCacheFile", None)
    save = getattr(index, "save", None)
    if save is not None and not getattr(save, "fastsgd_locked", False):
        index.save = _locked(save)


_install_locator()

FASTMATH = {"reassoc", "contract"}

#: NumPy's, not Python's, error model: a float division by zero gives inf or
#: NaN, as NumPy (and so scikit-learn) computes it, where Numba's default
#: raised ZeroDivisionError from inside a kernel (an MLP's Poisson loss on
#: huge inputs did). A fit that leaves the floats then meets the trainers'
#: divergence checks, which raise scikit-learn's errors.
ERROR_MODEL = "numpy"

#: The per-sample kernel reproduces scikit-learn's arithmetic operation for
#: operation, so IEEE semantics: no re-association (its dot products add the
#: features in order, as scikit-learn's ``WeightVector.dot`` does; a
#: vectorised sum differs in the last bit, and per-sample SGD with a smooth
#: loss amplifies that bit: a log-loss fit was 0.3 off in relative terms after
#: four epochs) and no FMA contraction (``b += u * intercept_decay``: two
#: opposite updates would not cancel).
FASTMATH_EXACT = set()

#: Options of the configured helpers (``_bound_helper``), which only compiled
#: code can reach: no CPython wrapper (to call them from Python) and no
#: C-callable wrapper (for first-class function values). Each wrapper costs
#: Numba's lowering and LLVM tens of milliseconds per compiled function.
#: Calling a function compiled without its CPython wrapper from Python
#: crashes the interpreter, so functions Python can reach keep theirs.
COMPILED_ONLY = dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)


# --------------------------------------------------------------------------
# One source, every target
# --------------------------------------------------------------------------

#: Modules of plain Python written once for every target: the math layer and
#: the kernels' shared helpers (row access, a head's derivative, mini-batch sums,
#: the MLP's parameter layout). A function from one of them is never called
#: as Python by a kernel: each target compiles it (``compiled_for``).
SOURCE_MODULES = (
    "fastsgd._math.",
    "fastsgd._kernels.rows.",
    "fastsgd._kernels.minibatch.",
    "fastsgd._kernels.mlp_layout.",
)

#: ``(target, plain function) -> (flavour, compiled function)``: each source
#: function is compiled once per target, in one flavour.
_COMPILED = {}


def is_source(obj):
    """Whether ``obj`` is a plain Python function of a ``SOURCE_MODULES`` module."""
    return isinstance(obj, pytypes.FunctionType) and (obj.__module__ + ".").startswith(
        SOURCE_MODULES
    )


def _calling_compiled(fn, target):
    """``fn`` with every global that names a source function bound to that
    function compiled for ``target`` (a copy of ``fn``; ``fn`` itself if it
    calls none). This is how one plain Python helper that calls other helpers
    compiles for the CPU and for the GPU: its callees are looked up by name,
    and each target sees its own compiled callee behind the name."""
    calls = {}
    for name in fn.__code__.co_names:
        value = fn.__globals__.get(name)
        if is_source(value):
            calls[name] = compiled_for(target, value)
    if not calls:
        return fn
    copy = _with_globals(fn, {**fn.__globals__, **calls}, fn.__qualname__)
    copy.__wrapped__ = fn
    return copy


def _with_globals(fn, namespace, qualname):
    """A copy of the plain function ``fn`` that looks its globals up in
    ``namespace`` (its code, defaults, closure and docstring are ``fn``'s)."""
    copy = pytypes.FunctionType(
        fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__doc__ = fn.__doc__
    copy.__module__ = fn.__module__
    copy.__qualname__ = qualname
    return copy


def _compile_once(target, flavour, fn, compile_fn):
    """``fn`` compiled for ``target`` by ``compile_fn`` (once: later calls
    return the same compiled function; a second flavour is a bug)."""
    key = (target, fn)
    if key in _COMPILED:
        have, compiled = _COMPILED[key]
        if have != flavour:
            raise RuntimeError(
                f"{fn.__module__}.{fn.__qualname__} is compiled for the {target} "
                f"both as {have!r} and as {flavour!r}"
            )
        return compiled
    compiled = compile_fn(_calling_compiled(fn, target))
    _COMPILED[key] = (flavour, compiled)
    return compiled


def compiled_for(target, fn):
    """``fn`` compiled for ``target`` (``"cpu"`` or ``"gpu"``): in the flavour
    it was first compiled in, else as an inlined helper (``cpu_inline``) or
    a device function (``gpu_function``)."""
    if (target, fn) in _COMPILED:
        return _COMPILED[(target, fn)][1]
    return cpu_inline(fn) if target == "cpu" else gpu_function(fn)


def bind_sources(namespace, target):
    """Bind a kernel module's source functions to their ``target`` builds.

    Each kernel module imports the plain functions it calls (``from
    fastsgd._math.losses import loss_value``) and calls this once, after its
    imports: every global of ``namespace`` that names a source function
    becomes that function compiled for ``target`` (``compiled_for``: in the
    flavour already chosen, e.g. ``cpu_called`` just before, else inlined or
    a device function). The module's kernels then call the same names on
    both targets; no module lists its bindings by hand.
    """
    for name, value in list(namespace.items()):
        if is_source(value):
            namespace[name] = compiled_for(target, value)


def sources(target):
    """The plain Python functions compiled so far for ``target``."""
    return {fn for (t, fn) in _COMPILED if t == target}


def cpu_called(fn):
    """Compile a kernel helper as a function of its own, called (not inlined
    at Numba's IR level), with IEEE semantics and cached.

    Typed and compiled once per signature, for every kernel of the process
    that calls it, where an inlined helper is copied and re-typed at every
    call site (each copy costs Numba's front end tens of milliseconds). For
    small index arithmetic called from kernels compiled without fast-math:
    LLVM inlines it there after linking, so it costs nothing at run time.
    Keeps its CPython wrapper: the tests (and a curious user) call these
    from Python.

    Also for the few formulas that re-association spoils (the cross-entropy's
    ``log(total) - (score - top)`` becomes ``(log(total) + top) - score``):
    compiled on their own without fast-math and called, not inlined (LLVM does
    not inline across differing fast-math attributes), where an inlined
    helper (``cpu_inline``) takes its kernel's flags.
    """
    return _compile_once(
        "cpu", "called", fn,
        numba.njit(cache=True, nogil=True, no_cfunc_wrapper=True,
                   error_model=ERROR_MODEL),
    )  # fmt: skip


def cpu_inline(fn):
    """Compile a kernel helper (row access, a step of a kernel), inlined into callers.

    ``inline="always"`` inlines at Numba's IR level, so the kernel's loops see
    the helper's body and LLVM can vectorise across it.
    """
    return _compile_once(
        "cpu", "inlined", fn,
        numba.njit(inline="always", fastmath=FASTMATH, nogil=True,
                   error_model=ERROR_MODEL),
    )  # fmt: skip


def cpu_kernel(fn=None, *, fastmath=FASTMATH, parallel=True):
    """Compile a kernel called from Python: cached, GIL released.

    ``parallel`` for the epoch kernels (``prange``). Functions inlined into a
    kernel (``cpu_inline``) take the kernel's ``fastmath`` flags. A kernel
    may call source functions (the math layer's) by name: they are bound to
    their CPU builds (``compiled_for``).
    """
    if fn is None:
        return lambda f: cpu_kernel(f, fastmath=fastmath, parallel=parallel)
    return numba.njit(
        cache=True, fastmath=fastmath, nogil=True, parallel=parallel,
        no_cfunc_wrapper=True, error_model=ERROR_MODEL,
    )(_calling_compiled(fn, "cpu"))  # fmt: skip


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


@intrinsic
def matmul_into(typingctx, a, b, out):
    """``np.dot(a, b, out)`` for 2-D arrays: the same BLAS calls (gemm, or gemv
    where a side has one row or column), hence the same rounding.

    Numba's ``np.dot`` wraps the same code generation in a function of its own,
    compiled anew for every signature (0.12-0.22 s each on a cold cache); this
    intrinsic emits it into the caller. Like ``np.dot``, it copies an operand
    that is not contiguous.
    """
    arrays = (a, b, out)
    if not all(isinstance(t, types.Array) and t.ndim == 2 for t in arrays):
        return None
    if a.dtype != b.dtype or a.dtype != out.dtype:
        raise numba.core.errors.TypingError("matmul_into: operands of one dtype")
    sig = out(a, b, out)

    def codegen(context, builder, signature, args):
        from numba.np import linalg

        linalg.ensure_blas()
        with linalg.make_contiguous(context, builder, signature, args) as (sig, args):
            return linalg.dot_3_mm(context, builder, sig, args)

    return sig, codegen


def gpu_function(fn):
    """Compile a math-layer function (or a kernel helper) for the GPU.

    ``cuda.jit(device=True)`` on the same plain Python function the CPU
    kernels compile with ``cpu_inline``: one source per formula, its
    callees bound to their GPU builds (``compiled_for``). Imported from
    ``_kernels/cuda*.py`` only, so ``numba.cuda`` loads only when a GPU is
    asked for.
    """
    from numba import cuda

    return _compile_once("gpu", "device", fn, cuda.jit(device=True))


def gpu_kernel(fn):
    """Compile a GPU kernel (launched from Python): cached like the CPU kernels,
    its source functions bound to their GPU builds as ``cpu_kernel`` binds
    the CPU's (``compiled_for``)."""
    from numba import cuda

    return cuda.jit(cache=True)(_calling_compiled(fn, "gpu"))


# --------------------------------------------------------------------------
# Compile-time settings: one kernel per configuration, only its own code
# --------------------------------------------------------------------------


#: Helpers that read compile-time settings from their globals (``cpu_configured``),
#: by dispatcher: their plain Python function.
_CONFIGURED = {}


def cpu_configured(fn=None, *, inline=True, fastmath=None, refcounts=True):
    """A kernel helper that reads compile-time settings from its globals.

    Like a kernel template, it names its settings (``LOSS``, ``SPARSE``, ...)
    as globals; ``specialize`` compiles a copy bound to the kernel's settings
    wherever a template (or another configured helper) calls it. ``inline``:
    spliced into the caller at Numba's IR level, like ``cpu_inline``;
    otherwise compiled as a function of its own, which LLVM may still inline.
    ``fastmath``: a helper of its own (``inline=False``) compiled with these
    flags rather than its kernel's (``FASTMATH_EXACT`` keeps LLVM from
    vectorising a sparse dot product with gathers, which are slower than
    scalar loads on the machines measured).

    ``refcounts=False``: a helper of its own compiled without Numba's
    reference counting (``_nrt=False``), for the hot loops that take views
    of their arrays (a row, a head's weights) per sample: each view cost an
    atomic increment and decrement of its parent's count, which Numba's
    pruning left in the loop (measured: the per-sample epoch of the binary
    digits fit took 204 us with them, 136 us without). Such a helper must
    not allocate (its caller passes buffers) and must not keep a view past
    the call (its caller holds the arrays).
    """
    if fn is None:
        return lambda f: cpu_configured(f, inline=inline, fastmath=fastmath,
                                        refcounts=refcounts)  # fmt: skip
    dispatcher = cpu_inline(fn)
    _CONFIGURED[dispatcher] = (fn, inline, fastmath, refcounts)
    return dispatcher


def _bind(template, settings, tag, fastmath):
    """A copy of ``template`` whose globals hold ``settings``, and whose
    configured helpers are bound to them too (recursively; compiled with the
    kernel's ``fastmath`` flags, which helpers compiled on their own do not
    inherit)."""
    namespace = dict(template.__globals__)
    namespace.update(settings)
    for name in template.__code__.co_names:
        helper = namespace.get(name)
        if is_source(helper):
            namespace[name] = compiled_for("cpu", helper)
        elif _is_configured(helper):
            read = _settings_read(_CONFIGURED[helper][0], settings)
            own = {key: settings[key] for key in sorted(read)}
            flags = _CONFIGURED[helper][2]
            namespace[name] = _bound_helper(
                helper, tuple(own.items()),
                frozenset((fastmath if flags is None else flags) or ()),
            )  # fmt: skip
    return _with_globals(template, namespace, f"{template.__qualname__}[{tag}]")


def _is_configured(obj):
    return isinstance(obj, numba.core.registry.CPUDispatcher) and obj in _CONFIGURED


def _settings_read(fn, settings):
    """The names of ``settings`` that ``fn`` or a configured helper it calls
    (at any depth) reads."""
    read = set()
    for name in fn.__code__.co_names:
        if name in settings:
            read.add(name)
        elif _is_configured(fn.__globals__.get(name)):
            read |= _settings_read(_CONFIGURED[fn.__globals__[name]][0], settings)
    return read


_BOUND_HELPERS = {}


def _bound_helper(helper, settings, fastmath):
    """``helper`` bound to ``settings`` (only those it reads: kernels of other
    configurations that agree on them share one compiled helper)."""
    key = (helper, settings, fastmath)
    if key not in _BOUND_HELPERS:
        template, inline, _, refcounts = _CONFIGURED[helper]
        tag = ",".join(f"{name}={int(value)}" for name, value in settings)
        # the cache keys on the name and the signature, not on the flags
        tag += f",fastmath={'+'.join(sorted(fastmath))}"
        fn = _bind(template, dict(settings), tag, fastmath)
        no_refcounts = {} if refcounts or inline else {"_nrt": False}
        _BOUND_HELPERS[key] = numba.njit(
            inline="always" if inline else "never", fastmath=set(fastmath),
            nogil=True, cache=not inline, error_model=ERROR_MODEL, **COMPILED_ONLY,
            **no_refcounts,
        )(fn)  # fmt: skip
    return _BOUND_HELPERS[key]


def specialize(template, settings, *, fastmath=FASTMATH, parallel=True):
    """Compile ``template`` with ``settings`` bound as compile-time constants.

    ``template`` is a plain Python kernel that reads its configuration (loss,
    penalty, schedule, task, layout, ...) from module globals named in
    ``settings`` (a ``dict`` of ``name -> int/bool``). A copy of the function
    is made whose globals hold those values, and so is a copy of every
    ``cpu_configured`` helper it calls. Numba freezes globals as constants,
    and its dead-branch pruning (which also runs after the inlined helpers are
    spliced in, so that a helper's ``code == HINGE`` sees the constant through
    its argument) drops every branch the configuration never takes, before
    typing. A hinge fit therefore types, optimises and caches no code of the
    other losses, penalties or schedules. Pruning inside each configured
    helper before it is inlined also keeps Numba's inliner fast: it copies a
    callee's IR once per block, so a large unpruned callee costs seconds.

    Each configuration gets its own ``__qualname__`` (``name[key=value,...]``),
    hence its own cache file: Numba's cache keys on the function's code, not
    its globals. The parallel flag is part of the name too, and the template
    (and its configured helpers) may read it as the setting ``PARALLEL``.

    Returns the (lazy) dispatcher; nothing compiles until it is called.
    """
    tag = ",".join(f"{key}={int(value)}" for key, value in sorted(settings.items()))
    fn = _bind(template, {**settings, "PARALLEL": bool(parallel)},
               f"{tag},parallel={int(parallel)}", fastmath)  # fmt: skip
    return numba.njit(
        cache=True, fastmath=fastmath, nogil=True, parallel=parallel,
        no_cfunc_wrapper=True, error_model=ERROR_MODEL,
    )(fn)  # fmt: skip


class Plan(NamedTuple):
    """What a kernel module decided for a call (its ``plan(...)``): the
    compiled variant, its arguments, and whether it runs a parallel region
    (the trainer then gives it the fit's threads, otherwise one)."""

    kernel: object
    args: tuple
    parallel: bool

    def compiled(self):
        """Whether the call loads code rather than compiling it (``is_cached``)."""
        return is_cached(self.kernel, self.args)

    def __call__(self):
        return self.kernel(*self.args)


#: Inside ``all_parallel()``: every call that may run a parallel variant does.
_ALL_PARALLEL = False


@contextlib.contextmanager
def all_parallel():
    """Inside the block, every size threshold of ``worth_parallel`` is met, so
    that a call runs the parallel variant wherever the rest of its rule
    allows (an MLP batch still needs more than one row part; a per-sample
    fit more than one head): ``python -m fastsgd compile`` compiles them so."""
    global _ALL_PARALLEL
    saved, _ALL_PARALLEL = _ALL_PARALLEL, True
    try:
        yield
    finally:
        _ALL_PARALLEL = saved


def worth_parallel(work, threshold):
    """Whether ``work`` (a kernel's count of its operations) reaches the
    ``threshold`` from which its parallel variant pays (or ``all_parallel``)."""
    return _ALL_PARALLEL or work >= threshold


def is_cached(dispatcher, args):
    """Whether calling ``dispatcher`` on ``args`` loads code rather than compiling it.

    True when this process already compiled or loaded the signature, or when
    Numba's on-disk cache index holds it. Reads Numba's cache index (not a
    public API): if that ever fails, says False, so that the caller's notice
    errs on the side of announcing a compilation.
    """
    try:
        sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        if any(tuple(s) == sig for s in dispatcher.signatures):
            return True
        cache = dispatcher._cache
        key = cache._index_key(sig, dispatcher.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - a notice must never break a fit
        return False


def is_parallel(dispatcher):
    """Whether ``dispatcher`` is the parallel variant of a kernel (``specialize``
    names it ``name[...,parallel=1]``)."""
    return bool(getattr(dispatcher, "targetoptions", {}).get("parallel"))
