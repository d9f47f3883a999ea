"""``python -m fastsgd compile``: fill Numba's cache ahead of time.

A fit compiles only the kernel of its own configuration (loss, penalty,
schedule, task, layout, dtype, ...), once, into Numba's on-disk cache. A
Docker image, a CI job or the workers of a cluster can compile the common
configurations before any user waits for them: this module fits each of
them once on a few rows of made-up data, which compiles (or loads) exactly the
kernels that a real fit of that configuration runs, and nothing else.

The cache lives where ``NUMBA_CACHE_DIR`` points (else beside the installed
package, in ``__pycache__``): bake it into the image with the package, or
point ``NUMBA_CACHE_DIR`` at a shared directory.
"""

import contextlib
import dataclasses
import warnings

import numpy as np
import scipy.sparse as sp

from fastsgd._kernels import cpu, cpu_mlp


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One estimator configuration whose kernels ``compile_kernels`` compiles.

    Attributes
    ----------
    estimator : str
        ``"SGDClassifier"``, ``"SGDRegressor"``, ``"MLPClassifier"`` or
        ``"MLPRegressor"``.
    params : dict
        Parameters of the estimator.
    n_classes : int
        Classes of the made-up target (classifiers); 3 or more makes
        one-vs-rest heads, which run the parallel per-sample kernel.
    parallel : bool
        Mini-batch and MLP only: also compile the parallel variant that large
        batches run (a few rows cannot reach ``cpu.PARALLEL_WORK`` or
        ``cpu_mlp.PARALLEL_WORK`` on their own).
    """

    estimator: str
    params: dict
    n_classes: int = 2
    parallel: bool = False

    @property
    def family(self):
        return "mlp" if self.estimator.startswith("MLP") else "linear"

    def describe(self):
        params = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        classes = f", {self.n_classes} classes" if self.n_classes > 2 else ""
        return f"{self.estimator}({params}){classes}"


_MINIBATCH = dict(batch_size=64, momentum=0.9)

#: What ``python -m fastsgd compile`` compiles: the estimators' defaults and
#: the settings the docs and the README use.
COMMON = (
    Configuration("SGDClassifier", {}),
    Configuration("SGDClassifier", {}, n_classes=3),
    Configuration("SGDClassifier", {"loss": "log_loss"}),
    Configuration("SGDClassifier", {"loss": "log_loss"}, n_classes=3),
    Configuration("SGDClassifier", {"loss": "modified_huber"}),
    Configuration("SGDClassifier", {"early_stopping": True}),
    Configuration("SGDClassifier", _MINIBATCH, parallel=True),
    Configuration(
        "SGDClassifier",
        {"loss": "log_loss", "multi_class": "multinomial", **_MINIBATCH},
        n_classes=3,
        parallel=True,
    ),
    Configuration("SGDRegressor", {}),
    Configuration("SGDRegressor", _MINIBATCH, parallel=True),
    Configuration("MLPClassifier", {}, parallel=True),
    Configuration("MLPClassifier", {}, n_classes=3, parallel=True),
    Configuration("MLPRegressor", {}, parallel=True),
)


#: The thresholds from which batches run a parallel kernel variant.
_THRESHOLDS = ((cpu, "PARALLEL_WORK"), (cpu_mlp, "PARALLEL_WORK"),
               (cpu_mlp, "PARALLEL_FORWARD_WORK"))  # fmt: skip


@contextlib.contextmanager
def _parallel_minibatches():
    """Every mini-batch runs the parallel kernel variant inside the block."""
    saved = [getattr(module, name) for module, name in _THRESHOLDS]
    for module, name in _THRESHOLDS:
        setattr(module, name, 0)
    try:
        yield
    finally:
        for (module, name), value in zip(_THRESHOLDS, saved, strict=True):
            setattr(module, name, value)


def _data(configuration, dtype, sparse, parallel=False):
    rng = np.random.RandomState(0)
    # an MLP's parallel variant needs batches of more than cpu_mlp.ROWS rows
    rows = 2 * cpu_mlp.ROWS + 1 if parallel and configuration.family == "mlp" else 32
    X = rng.standard_normal((rows, 4)).astype(dtype)
    if configuration.estimator.endswith("Regressor"):
        y = X[:, 0].astype(np.float64)
    else:
        y = np.arange(rows) % configuration.n_classes
    return (sp.csr_matrix(X) if sparse else X), y


def _fit(configuration, dtype, sparse, parallel=False):
    import fastsgd

    estimator = getattr(fastsgd, configuration.estimator)(
        **configuration.params | {"max_iter": 2, "random_state": 0}
    )
    X, y = _data(configuration, dtype, sparse, parallel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs do not converge
        estimator.fit(X, y)
    estimator.predict(X)


def tasks(configurations=COMMON, dtypes=("float64", "float32"), sparse=False):
    """The ``(description, run)`` pairs that compile ``configurations``.

    One task per configuration, dtype and layout (dense, and CSR when
    ``sparse``), and one more for the parallel variant of mini-batch ones.
    """
    layouts = (False, True) if sparse else (False,)
    out = []
    for configuration in configurations:
        for dtype in dtypes:
            for csr in layouts:
                what = f"{configuration.describe()} {dtype}{' CSR' if csr else ''}"
                out.append((what, _task(configuration, dtype, csr, False)))
                if configuration.parallel:
                    out.append(
                        (what + " (parallel)", _task(configuration, dtype, csr, True))
                    )
    return out


def _task(configuration, dtype, csr, parallel):
    def run():
        if parallel:
            with _parallel_minibatches():
                _fit(configuration, dtype, csr, parallel=True)
        else:
            _fit(configuration, dtype, csr)

    return run


def compile_kernels(configurations=COMMON, dtypes=("float64", "float32"),
                    sparse=False, progress=True):  # fmt: skip
    """Compile (or load from the cache) the kernels of ``configurations``.

    Parameters
    ----------
    configurations : sequence of Configuration
        Default: ``COMMON``.
    dtypes : sequence of str
        ``"float64"`` and/or ``"float32"``.
    sparse : bool
        Also the CSR layout.
    progress : bool
        A tqdm bar on stderr.

    Returns
    -------
    int
        The number of fits run.
    """
    todo = tasks(configurations, dtypes, sparse)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="kernel", desc="compiling")
    try:
        for what, run in todo:
            if bar is not None:
                bar.set_postfix_str(what[:60], refresh=True)
            run()
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return len(todo)
