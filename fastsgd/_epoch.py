"""The epoch skeleton both trainers share (``_trainer``: linear models,
``_mlp_trainer``: MLPs).

What happens around every epoch's kernel calls, whatever the model: the
threads the kernels run on (BLAS pinned to one), the spans of batches an epoch
is cut into for the progress bar, the snapshot an epoch starts from and the
roll-back to it when the epoch ends non-finite (``DivergenceError``), the
'adaptive' schedule's step down after a stall, and the weighted mean of
states that parameter mixing takes. Each trainer keeps its own stopping
policy (per track on the objective or a validation score for the linear
models; scikit-learn's MLP rules), its state and its kernel calls.
"""

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from fastsgd._math.stopping import ADAPTIVE_DIVISOR, adaptive_rate


def adaptive_decay(rate):
    """The 'adaptive' schedule after a stall (``stopping.adaptive_rate``):
    ``rate / 5``, or ``None`` when ``rate`` (a float, or a track's per-head
    rates, which move together) is down to its minimum and training stops."""
    if adaptive_rate(float(np.max(rate))) == 0.0:
        return None
    return rate / ADAPTIVE_DIVISOR


def finite(*values):
    """Whether every value (a float or an array) is finite: an epoch that
    leaves a NaN or an infinity in its loss or its parameters diverged."""
    return all(bool(np.isfinite(value).all()) for value in values)


def run_spans(reporter, spans, run):
    """Run an epoch as ``run(start, stop)`` over ``spans`` (consecutive runs
    of whole batches, ``Reporter.spans``: one unless ``verbose=2``), moving
    the progress bar after each."""
    for start, stop in spans:
        run(start, stop)
        reporter.batches_done(start, stop)


class DivergenceError(ValueError):
    """Training produced a non-finite loss or weight.

    A ``ValueError``, as scikit-learn raises for the same condition, with
    scikit-learn's message (``sklearn_message``, formatted with ``epoch``)
    followed by fastsgd's details. The estimator keeps the weights of the
    last finite epoch.
    """

    def __init__(self, epoch, eta0, rate_name, sklearn_message):
        super().__init__(
            f"{sklearn_message.format(epoch=epoch)} "
            f"Training diverged at epoch {epoch}: the loss or the weights became "
            f"non-finite (inf or NaN). Try a smaller {rate_name} (now {eta0:g}) or "
            "another learning_rate, or scale the input (e.g. StandardScaler). The "
            f"weights of epoch {epoch - 1} are kept."
        )
        self.epoch = epoch


def resolve_n_jobs(n_jobs):
    """Threads for ``n_jobs`` (``None``/-1: all of Numba's; -2: all but one...)."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None or n_jobs == -1:
        return limit
    if n_jobs < 0:
        return max(1, limit + 1 + n_jobs)
    return max(1, min(n_jobs, limit))


class Threads:
    """Context manager running Numba kernels on ``n`` threads, BLAS on one.

    The kernels split their work themselves (fixed by the shapes, never by the
    thread count), and call BLAS (``np.dot``) from inside those splits: BLAS
    threads on top would oversubscribe the cores. Both trainers use it.
    ``blas=False``: the kernels call no BLAS, and BLAS is left alone (pinning
    it costs threadpoolctl's tens of microseconds, which a short call feels).
    """

    _controller = None

    def __init__(self, n, blas=True):
        self.n = n
        self.pin_blas = blas

    def __enter__(self):
        self.blas = None
        if self.pin_blas:
            if Threads._controller is None:  # inspecting the libraries takes ms
                Threads._controller = ThreadpoolController()
            self.blas = Threads._controller.limit(limits=1, user_api="blas")
        self.previous = numba.get_num_threads()
        if self.n != self.previous:
            numba.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc):
        if self.n != self.previous:
            numba.set_num_threads(self.previous)
        if self.blas is not None:
            self.blas.unregister()


class RollBack:
    """``snapshot()``/``restore()`` of the arrays (``_ARRAYS``) and scalars
    (``_SCALARS``) an epoch changes, for the roll-back after a divergence.

    ``snapshot(columns)`` copies only those columns of the 2-D arrays named
    in ``_COLUMNS`` (an epoch that can change no other column: a sparse
    fit's weights outside its data), the rest whole.
    """

    _ARRAYS = ()
    _SCALARS = ()
    _COLUMNS = ()

    def _by_columns(self, name, columns):
        return (columns is not None and name in self._COLUMNS
                and getattr(self, name).shape[1] > 0)  # fmt: skip

    def snapshot(self, columns=None, saved=None):
        """``saved``: columns' copies already taken (by name), used as they are."""
        snap = {}
        for name in self._ARRAYS:
            array = getattr(self, name)
            if saved is not None and name in saved and self._by_columns(name, columns):
                snap[name] = saved[name]
            else:
                snap[name] = (array[:, columns] if self._by_columns(name, columns)
                              else array.copy())  # fmt: skip
        snap["columns"] = columns
        return snap | {name: getattr(self, name) for name in self._SCALARS}

    def restore(self, snap):
        columns = snap["columns"]
        for name in self._ARRAYS:
            if self._by_columns(name, columns):
                getattr(self, name)[:, columns] = snap[name]
            else:
                getattr(self, name)[...] = snap[name]
        for name in self._SCALARS:
            setattr(self, name, snap[name])


def weighted_mean(arrays, fractions):
    """``sum(f * a)`` in float64, cast back to the arrays' dtype.

    One array comes back unchanged (its fraction is exactly 1).
    """
    out = fractions[0] * np.asarray(arrays[0], dtype=np.float64)
    for fraction, array in zip(fractions[1:], arrays[1:], strict=True):
        out += fraction * np.asarray(array, dtype=np.float64)
    return out.astype(np.asarray(arrays[0]).dtype)
