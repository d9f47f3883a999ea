"""The one epoch loop of every stochastic fit: ``fit_epochs``.

``fit_epochs(runner, stopping, max_iter, callbacks)`` is the only loop over
epochs in fastsgd. Every epoch, whatever the model: the callbacks' epoch task
opens, the compile notice (first epoch), the snapshot, the shuffle, the
kernel calls over the progress spans, the divergence check and roll-back,
the stopping rule (with scoring and verbose output), the callbacks' task
closes. What differs between models lives in two objects:

- a **runner** (``Runner``): one training algorithm with its state, kernel
  module and bundles: the linear models' per-sample, mini-batch and O(nnz)
  sparse runners (``_trainer``), the MLP's stochastic runner
  (``_mlp_trainer``);
- a **stopping rule**: the linear models' per-track rule on the objective or
  a validation score (``_trainer.TrackStopping``), scikit-learn's MLP rule
  (``_mlp_trainer.MLPStopping``).

Also here: what both families share around it (threads, roll-back
snapshots, the 'adaptive' step down, divergence, parameter mixing).
"""

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

from fastsgd._device import device_errors
from fastsgd._math.stopping import ADAPTIVE_DIVISOR, adaptive_rate
from fastsgd._progress import Reporter


class Runner:
    """What a training algorithm gives ``fit_epochs`` (the protocol).

    Attributes: ``config`` (with ``verbose``), ``n_train`` (training rows),
    ``step_batch`` (rows per step, for the progress bar), ``n_threads`` and
    ``uses_blas`` (``Threads``), ``runs_at_once`` (whether ``run_at_once``
    can train the whole fit in one kernel call). A runner is a context
    manager: its ``__exit__`` leaves the state complete however the fit ends.
    """

    runs_at_once = False
    uses_blas = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def announce(self, reporter):
        """Say that the epoch kernel compiles, if it does (``plan.compiled``)."""

    def begin_epoch(self, active):
        """Start an epoch: ``active`` is the stopping rule's per-head mask."""

    def snapshot(self):
        """The state the epoch starts from (``restore`` takes it back)."""
        raise NotImplementedError

    def restore(self, snap):
        raise NotImplementedError

    def shuffle(self):
        """Draw the epoch's order."""

    def spans(self, reporter):
        """The epoch's spans of whole batches (``Reporter.spans``)."""
        return reporter.spans()

    def run(self, start, stop):
        """Train the epoch's rows ``start:stop`` (one kernel call)."""
        raise NotImplementedError

    def finite(self):
        """Whether the epoch left every loss and parameter finite."""
        raise NotImplementedError

    def diverged(self, epoch):
        """After the roll-back of a non-finite epoch: raise
        ``DivergenceError``, or return to end the fit there."""
        raise NotImplementedError

    def end_epoch(self, epoch):
        """Record a finite epoch (its loss, counters)."""

    def copied_model(self):
        """A copy of the model as the fit would leave it now (callbacks)."""
        raise NotImplementedError


#: How ``fit_epochs`` ended: a stopping rule, a divergence the fit survives,
#: a callback's request, or ``max_iter``.
STOPPED, DIVERGED, REQUESTED, MAX_ITER = "stopped", "diverged", "requested", "max_iter"


def fit_epochs(runner, stopping, max_iter, callbacks=None):
    """Train up to ``max_iter`` epochs of ``runner`` under ``stopping``.

    ``stopping`` gives ``active()`` (the heads still training, or None),
    ``begin(epoch, reporter)``, ``after_epoch(epoch, runner, reporter) ->
    bool`` (scores the epoch, prints it, and says whether to stop) and
    ``finish(reporter, how)`` (``how``: one of ``STOPPED``, ``DIVERGED``,
    ``REQUESTED``, ``MAX_ITER``). ``callbacks``: the fit's
    ``_callbacks.EpochTasks`` or None; an ``end`` that returns True stops
    after the epoch. Raises the runner's ``DivergenceError``, after its
    roll-back.
    """
    verbose = runner.config.verbose
    how = MAX_ITER
    with (
        Reporter(verbose, max_iter, runner.n_train, runner.step_batch) as reporter,
        Threads(runner.n_threads, runner.uses_blas),
        runner,
        device_errors("training"),
    ):  # fmt: skip
        if max_iter > 1 and callbacks is None and not verbose and runner.runs_at_once:
            runner.announce(reporter)
            if runner.run_at_once(max_iter, stopping):
                return how
            # diverged: the state is back where the call started; the epochs
            # one by one find the epoch, and its error
        for epoch in range(1, max_iter + 1):
            runner.begin_epoch(stopping.active())
            if epoch == 1:
                runner.announce(reporter)
            stopping.begin(epoch, reporter)
            if callbacks is not None:
                callbacks.begin(runner.copied_model)
            snap = runner.snapshot()
            runner.shuffle()
            for start, stop in runner.spans(reporter):
                runner.run(start, stop)
                reporter.batches_done(start, stop)
            if not runner.finite():
                runner.restore(snap)
                runner.diverged(epoch)  # raises, or ends the fit here
                how = DIVERGED
            else:
                runner.end_epoch(epoch)
                if stopping.after_epoch(epoch, runner, reporter):
                    how = STOPPED
            if callbacks is not None and callbacks.end(runner.copied_model):
                how = REQUESTED if how == MAX_ITER else how
                break
            if how != MAX_ITER:
                break
        stopping.finish(reporter, how)
    return how


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


_BLAS_CONTROLLER = None


def one_blas_thread():
    """A context manager holding BLAS to one thread (threadpoolctl's ``limit``).

    A BLAS call on more than one thread leaves OpenBLAS's worker threads
    spinning for up to about a tenth of a second after it returns, on the
    cores that the next parallel Numba kernel's threads need: measured on 2
    cores, a 6 x 5 regression grid (``SGDRegressorCV``, 12.5k x 50) took
    0.069 s a fit right after a matrix product against 0.049 s with the
    workers asleep, and a 5-class early-stopping fit (whose validation score
    is a matrix product after each epoch) 0.91 s against 0.66 s. So the
    BLAS calls a fit makes between its kernels run on one thread. The
    controller is made once (inspecting the loaded libraries takes
    milliseconds); a limit then costs about 5 microseconds.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


class Threads:
    """Context manager running Numba kernels on ``n`` threads, BLAS on one.

    BLAS runs on one thread whenever the kernels run on more than one, or
    call BLAS themselves (``blas=True``): the kernels split their work
    themselves (fixed by the shapes, never by the thread count) and call
    BLAS (``np.dot``) from inside those splits, where BLAS threads on top
    would oversubscribe the cores; and a BLAS call between two parallel
    kernels (a validation score, a callback) would leave BLAS's threads
    spinning on the cores the next kernel needs (``one_blas_thread``). Both
    trainers use it. A serial fit whose kernels call no BLAS leaves BLAS
    alone (a limit costs microseconds, which a short ``partial_fit`` call
    feels).
    """

    def __init__(self, n, blas=True):
        self.n = n
        self.pin_blas = blas or n > 1

    def __enter__(self):
        self.blas = one_blas_thread() if self.pin_blas else None
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
