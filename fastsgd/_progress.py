"""Training progress: ``verbose`` output and the tqdm bar over batches.

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
- when a fit must compile its kernel first (Numba's cache does not hold it
  yet), one line says so before the fit starts: on stdout with
  ``verbose>=1``, else on stderr in an interactive session (stderr is a
  terminal, or a Jupyter kernel); never printed otherwise (scikit-learn's
  convention), but always logged (logger ``fastsgd``, level INFO), and
  ``announce_compilation(callback)`` hands the same text to ``callback`` (the
  command line and the demo print it).

Per-epoch events reach code outside the estimator through scikit-learn's
callbacks instead (``set_callbacks``, ``fastsgd/_callbacks.py``): the command
line's per-epoch bar is one.
"""

import contextlib
import contextvars
import logging
import math
import os
import sys
import time

import sklearn

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


#: scikit-learn's callback machinery, which wraps ``fit`` and ``partial_fit``
#: (``CallbackSupportMixin``): its frames are not the user's either.
_CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(sklearn.__file__)),
                             "callback")  # fmt: skip


def caller_stacklevel():
    """The ``stacklevel`` of the first frame outside fastsgd and scikit-learn's
    callback wrappers (pandas' ``find_stack_level``): a warning then names
    the user's line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(
        (_PACKAGE_DIR, _CALLBACK_DIR)
    ):
        frame, level = frame.f_back, level + 1
    return level


LOGGER = logging.getLogger("fastsgd")

_ANNOUNCERS = contextvars.ContextVar("fastsgd_compile_announcers", default=())

# verbose=2 cuts an epoch into at most this many kernel calls
_SPANS_PER_EPOCH = 20


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


#: Seconds to compile a training kernel on a cold cache, by algorithm and
#: variant, as measured on the project's 2-core machine (AMD EPYC, 2026-12-06;
#: the medians of the kernels of ``fastsgd._precompile.COMMON``, with the
#: helpers the first kernel of a process compiles): what the notice promises.
COMPILE_SECONDS = {
    ("per-sample", False): 4,
    ("per-sample", True): 6,
    ("mini-batch", False): 5,
    ("mini-batch", True): 7,
    ("MLP", False): 5,
    ("MLP", True): 6,
}


def compile_notice(algorithm, what, parallel):
    """The line that announces the compilation of a training kernel.

    Parameters
    ----------
    algorithm : str
        ``"per-sample"``, ``"mini-batch"`` or ``"MLP"``.
    what : str
        The configuration, e.g. ``"one-vs-rest log_loss/l2/optimal, dense
        float64"``.
    parallel : bool
        The parallel variant of the kernel (a kernel of its own).

    Returns
    -------
    str

    Examples
    --------
    >>> print(compile_notice("MLP", "adam/relu, dense float32", True))
    ... # doctest: +NORMALIZE_WHITESPACE
    fastsgd: compiling the MLP kernel (adam/relu, dense float32, parallel):
    about 6 s, once (then cached)
    """
    seconds = COMPILE_SECONDS[(algorithm, bool(parallel))]
    variant = "parallel" if parallel else "serial"
    return (f"fastsgd: compiling the {algorithm} kernel ({what}, {variant}): "
            f"about {seconds} s, once (then cached)")  # fmt: skip


def interactive():
    """Whether a person probably watches stderr: a terminal, or a Jupyter kernel."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


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

    def epoch(self, epoch, loss, validation_score=None, lines=()):
        """Report a finished epoch: its ``verbose`` lines, and the bar's postfix.

        Parameters
        ----------
        epoch : int
            The epoch just finished, from 1 within this call.
        loss : float
            Its mean training loss.
        validation_score : float, optional
            The validation score with early stopping (shown on the bar).
        lines : sequence of str
            The trainer's lines in scikit-learn's format, printed with
            ``verbose >= 1``.
        """
        for line in lines:
            self.message(line)
        if self.bar is not None:
            postfix = {"loss": f"{float(loss):.4g}"}
            if validation_score is not None:
                postfix["val"] = f"{float(validation_score):.4g}"
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.set_description(f"epoch {epoch + 1}", refresh=True)

    def message(self, text):
        """A line of ``verbose`` output on stdout, as scikit-learn prints it
        (written around the bar, if there is one)."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stdout)
        elif self.verbose >= 1:
            print(text, flush=True)

    def wants_compile_notice(self):
        """Whether anyone hears ``compiling`` (checking the cache costs a read)."""
        return (
            self.verbose >= 1 or bool(_ANNOUNCERS.get())
            or LOGGER.isEnabledFor(logging.INFO) or interactive()
        )  # fmt: skip

    def compiling(self, algorithm, what, parallel):
        """Announce that a training kernel compiles now (``compile_notice``):
        logged, handed to ``announce_compilation``'s callbacks, and printed
        with ``verbose>=1`` (else on stderr in an interactive session, where
        no callback prints it)."""
        text = compile_notice(algorithm, what, parallel)
        LOGGER.info(text)
        announcers = _ANNOUNCERS.get()
        if self.verbose >= 1:
            self.message(text)
        elif not announcers and interactive():
            print(text, file=sys.stderr, flush=True)
        for callback in announcers:
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
