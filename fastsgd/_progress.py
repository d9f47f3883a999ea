"""Training progress: ``verbose`` output, tqdm bars and epoch listeners.

The trainers report through one ``Reporter`` per fit:

- ``verbose>=1`` prints scikit-learn's lines for each epoch (the trainers
  write them: ``-- Epoch 1`` and ``Norm: ..., Avg. loss: ...`` for the linear
  models, ``Iteration 1, loss = ...`` for the MLP), with fastsgd's extra
  fields (learning rate, time) after scikit-learn's;
- ``verbose>=2`` also shows a tqdm progress bar over the fit's batches, on
  stderr. The epoch then runs as several kernel calls over consecutive runs
  of whole batches (``Reporter.spans``), so the bar moves inside an epoch; the
  calls carry the step and sample counters, so the model is the same as with
  ``verbose=0``;
- ``listen(callback)`` registers a callback that receives an ``Epoch`` after
  every epoch of every fit run inside the ``with`` block (the command line's
  per-epoch bar uses it);
- when a fit must compile its kernel first (Numba's cache does not hold it
  yet), ``verbose>=1`` prints a line saying so before the fit starts, and
  ``announce_compilation(callback)`` hands the same text to ``callback``
  (the command line and the demo print it).
"""

import contextlib
import contextvars
import dataclasses
import math
import sys
import time

_LISTENERS = contextvars.ContextVar("fastsgd_epoch_listeners", default=())
_ANNOUNCERS = contextvars.ContextVar("fastsgd_compile_announcers", default=())

# verbose=2 cuts an epoch into at most this many kernel calls
_SPANS_PER_EPOCH = 20


@dataclasses.dataclass(frozen=True)
class Epoch:
    """What a fit reports after each epoch.

    Attributes
    ----------
    epoch : int
        The epoch just finished, from 1 within this ``fit`` call.
    max_iter : int
        The most epochs this call may run.
    loss : float
        The epoch's mean training loss.
    validation_score : float or None
        The validation score with ``early_stopping=True``, else None.
    learning_rate : float or None
        The learning rate of the next step (None for L-BFGS, whose epochs are
        its iterations).
    elapsed : float
        Seconds since the fit started.
    """

    epoch: int
    max_iter: int
    loss: float
    validation_score: float | None
    learning_rate: float | None
    elapsed: float


@contextlib.contextmanager
def listen(callback):
    """Call ``callback(epoch)`` after every epoch of every fit in the block.

    Parameters
    ----------
    callback : callable
        Receives an ``Epoch``. Listeners nest; each sees every epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsgd import SGDRegressor
    >>> from fastsgd._progress import listen
    >>> X = np.random.RandomState(0).rand(50, 3)
    >>> seen = []
    >>> with listen(seen.append):
    ...     _ = SGDRegressor(max_iter=3, tol=None, random_state=0).fit(X, X[:, 0])
    >>> [event.epoch for event in seen]
    [1, 2, 3]
    """
    token = _LISTENERS.set(_LISTENERS.get() + (callback,))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


@contextlib.contextmanager
def announce_compilation(callback):
    """Call ``callback(text)`` whenever a fit in the block compiles a kernel.

    ``text`` says what is compiling and that it is cached afterwards; it is
    the line ``verbose>=1`` prints. Fits whose kernels Numba's cache already
    holds say nothing.

    Parameters
    ----------
    callback : callable
        Receives a ``str``.
    """
    token = _ANNOUNCERS.set(_ANNOUNCERS.get() + (callback,))
    try:
        yield
    finally:
        _ANNOUNCERS.reset(token)


def compile_notice(what):
    """The line that announces the compilation of ``what``."""
    return (
        f"fastsgd: compiling the {what} (first use only: a few seconds, then it "
        "loads from Numba's cache; `python -m fastsgd compile` fills the cache "
        "ahead of time)"
    )


class Reporter:
    """One fit's progress output.

    Parameters
    ----------
    verbose : int
        0: silent; 1: the epochs' lines; 2 or more: the lines and a tqdm bar
        over batches.
    max_iter : int
        The most epochs of the fit.
    n_samples : int
        Samples per epoch.
    batch_size : int
        Samples per batch.
    """

    def __init__(self, verbose, max_iter, n_samples, batch_size):
        self.verbose = int(verbose)
        self.max_iter = max_iter
        self.n_samples = n_samples
        self.batch_size = max(1, min(batch_size, max(n_samples, 1)))
        self.listeners = _LISTENERS.get()
        self.start = time.perf_counter()
        self.bar = None
        if self.verbose >= 2:
            from tqdm.auto import tqdm

            n_batches = math.ceil(n_samples / self.batch_size)
            self.bar = tqdm(
                total=max_iter * n_batches, unit="batch", desc="epoch 1",
                file=sys.stderr, dynamic_ncols=True,
            )  # fmt: skip

    def spans(self):
        """The ``(start, stop)`` sample ranges of one epoch's kernel calls.

        One call for the whole epoch, unless the bar is shown: then up to
        ``_SPANS_PER_EPOCH`` calls, each over whole batches.
        """
        n = self.n_samples
        if self.bar is None or n == 0:
            return [(0, n)]
        n_batches = math.ceil(n / self.batch_size)
        per_span = math.ceil(n_batches / min(n_batches, _SPANS_PER_EPOCH))
        step = per_span * self.batch_size
        return [(lo, min(lo + step, n)) for lo in range(0, n, step)]

    def batches_done(self, start, stop):
        """Advance the bar by the batches of samples ``start:stop``."""
        if self.bar is not None:
            self.bar.update(math.ceil((stop - start) / self.batch_size))

    def elapsed(self):
        """Seconds since the fit started."""
        return time.perf_counter() - self.start

    def epoch(self, epoch, loss, learning_rate=None, validation_score=None,
              lines=()):  # fmt: skip
        """Report a finished epoch to the output and the listeners.

        ``lines`` (the trainer's, in scikit-learn's format) are printed with
        ``verbose >= 1``.
        """
        event = Epoch(
            epoch, self.max_iter, float(loss),
            None if validation_score is None else float(validation_score),
            None if learning_rate is None else float(learning_rate), self.elapsed(),
        )  # fmt: skip
        for line in lines:
            self.message(line)
        if self.bar is not None:
            postfix = {"loss": f"{event.loss:.4g}"}
            if event.validation_score is not None:
                postfix["val"] = f"{event.validation_score:.4g}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.set_description(f"epoch {epoch + 1}", refresh=True)
        for callback in self.listeners:
            callback(event)

    def message(self, text):
        """A line of ``verbose`` output on stdout, as scikit-learn prints it
        (written around the bar, if there is one)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        elif self.verbose >= 1:
            print(text, flush=True)

    def wants_compile_notice(self):
        """Whether anyone hears ``compiling`` (checking the cache costs a read)."""
        return self.verbose >= 1 or bool(_ANNOUNCERS.get())

    def compiling(self, what):
        """Announce that ``what`` compiles now (``compile_notice``)."""
        text = compile_notice(what)
        if self.verbose >= 1:
            self.message(text)
        for callback in _ANNOUNCERS.get():
            callback(text)

    def close(self):
        """Close the bar (the fit may have stopped before ``max_iter``)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
