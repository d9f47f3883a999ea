"""``python -m fastsgd compile``: fill Numba's cache ahead of time.

A fit compiles only the kernel of its own configuration (loss, penalty,
schedule, task, layout, dtype, ...), once, into Numba's on-disk cache. A
Docker image, a CI job or the workers of a cluster can compile what users run
before any user waits for it: this module fits each configuration once on a
few rows of made-up data, which compiles (or loads) exactly the kernels that a
real fit of that configuration runs, and nothing else.

What it covers (``COMMON``): every variant the estimators' defaults can pick
(binary, one-vs-rest and regression; the serial kernel of small batches and
the parallel one of large batches; dense and CSR; float64 and float32;
``SGDOneClassSVM``'s defaults run ``SGDClassifier``'s binary kernels),
and the configurations of ``python -m fastsgd demo`` and of every example in
the README and the docs (``tests/test_compilation.py`` checks that those find
all their kernels in the cache afterwards).

Configurations are compiled by worker processes, one per core: each worker
takes whole configurations, so that no two processes compile the same kernel
(Numba's cache index of a kernel is rewritten by each process that adds to
it). The cache lives in ``fastsgd-<version>`` under ``NUMBA_CACHE_DIR``, else
under the user's cache folder (``_jit.cache_root``).
"""

import concurrent.futures
import dataclasses
import multiprocessing
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp

from fastsgd._kernels import cpu_mlp
from fastsgd._kernels._jit import all_parallel


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One estimator configuration whose kernels ``compile_kernels`` compiles.

    Attributes
    ----------
    estimator : str
        A fastsgd estimator's name (``"SGDClassifier"``, ``"Perceptron"``,
        ...); or ``"minimize"``: ``scipy.optimize.minimize`` with a
        method of ``fastsgd.optimize`` (``params["method"]``).
    params : dict
        Parameters of the estimator (of ``minimize``'s ``options``).
    n_classes : int
        Classes of the made-up target (classifiers); 3 or more makes
        one-vs-rest heads (or a softmax output).
    parallel : bool
        Mini-batch and MLP only: also compile the parallel variant that large
        batches run (a few rows cannot reach the kernels' ``PARALLEL_WORK``).
    dtypes : tuple of str
        The dtypes of ``X`` compiled for.
    layouts : tuple of str
        ``"dense"`` and/or ``"csr"``.
    partial_fit : bool
        Train by two ``partial_fit`` calls, not ``fit``.
    """

    estimator: str
    params: dict
    n_classes: int = 2
    parallel: bool = False
    dtypes: tuple = ("float64", "float32")
    layouts: tuple = ("dense",)
    partial_fit: bool = False

    @property
    def family(self):
        return "mlp" if self.estimator.startswith("MLP") else "linear"

    def describe(self):
        params = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        classes = f", {self.n_classes} classes" if self.n_classes > 2 else ""
        method = ".partial_fit" if self.partial_fit else ""
        return f"{self.estimator}({params}){method}{classes}"

    def variants(self, dtypes=None):
        """``(dtype, csr, parallel)`` of each fit that compiles this configuration."""
        return [
            (dtype, csr, parallel)
            for dtype in self.dtypes
            if dtypes is None or dtype in dtypes
            for csr in sorted({layout == "csr" for layout in self.layouts})
            for parallel in ((False, True) if self.parallel else (False,))
        ]


def _defaults(estimator, **kwargs):
    return Configuration(estimator, {}, layouts=("dense", "csr"), **kwargs)


def _example(estimator, params, **kwargs):
    """A configuration of the demo or of a README/docs example: float64, dense."""
    return Configuration(estimator, params, dtypes=("float64",), **kwargs)


_MOMENTUM = dict(batch_size=64, momentum=0.9)

#: What ``python -m fastsgd compile`` compiles. First every variant of the
#: estimators' defaults, then the demo's and the examples' configurations.
COMMON = (
    _defaults("SGDClassifier"),
    _defaults("SGDClassifier", n_classes=3),
    _defaults("SGDRegressor"),
    _defaults("Perceptron"),
    _defaults("Perceptron", n_classes=3),
    _defaults("MLPClassifier", parallel=True),
    _defaults("MLPClassifier", n_classes=3, parallel=True),
    _defaults("MLPRegressor", parallel=True),
    # python -m fastsgd demo; docs/getting_started.md
    _example("SGDClassifier", {"loss": "log_loss", "tol": None}, n_classes=3),
    _example(
        "SGDClassifier",
        {
            "loss": "log_loss",
            "multi_class": "multinomial",
            "learning_rate": "constant",
            **_MOMENTUM,
        },
        n_classes=3,
        parallel=True,
    ),  # fmt: skip
    # README (iris), docs/getting_started.md
    _example("MLPClassifier", {"solver": "adamw"}, n_classes=3),
    _example("MLPClassifier", {"solver": "adamw"}),
    # docs/getting_started.md, docs/dask.md, docs/migration.md
    _example("SGDClassifier", {"loss": "log_loss", "tol": None}),
    _example("SGDClassifier", {"tol": None}),
    _example("SGDClassifier", _MOMENTUM),
    _example("SGDClassifier", {"loss": "log_loss", "batch_size": 64}),
    _example("SGDClassifier", {"loss": "log_loss", **_MOMENTUM}),
    _example("MLPClassifier", {"solver": "sgd"}),
    # docs/deployment.md (float32, as there)
    Configuration(
        "SGDClassifier", {"loss": "modified_huber"}, n_classes=3, dtypes=("float32",)
    ),  # fmt: skip
    # docs/text.md (CSR)
    Configuration(
        "SGDClassifier", {"batch_size": 64}, dtypes=("float64",), layouts=("csr",)
    ),  # fmt: skip
    Configuration(
        "SGDClassifier", {}, dtypes=("float64",), layouts=("csr",), partial_fit=True
    ),  # fmt: skip
    # docs/scipy.md
    _example("minimize", {"method": "sgd", "momentum": 0.9}),
    _example("minimize", {"method": "adam"}),
    _example("minimize", {"method": "adamw"}),
    # docs/updates.md
    _example("SGDRegressor", {"loss": "squared_error", **_MOMENTUM}),
    _example("SGDRegressor", {"loss": "epsilon_insensitive", **_MOMENTUM}),
    # docs/tuning.md: the one-pass search's kernels (two folds of the made-up
    # rows; the fold count is no compile-time setting)
    _example("SGDClassifierCV", {"cv": 2, "tol": None}),
)


def _data(configuration, dtype, sparse, parallel=False):
    rng = np.random.RandomState(0)
    # an MLP's parallel variant needs batches of more than cpu_mlp.ROWS rows
    rows = 2 * cpu_mlp.ROWS + 1 if parallel and configuration.family == "mlp" else 32
    X = rng.standard_normal((rows, 4)).astype(dtype)
    if "Regressor" in configuration.estimator:
        y = X[:, 0].astype(np.float64)
    else:
        y = np.arange(rows) % configuration.n_classes
    return (sp.csr_matrix(X) if sparse else X), y


def _minimize(configuration):
    from scipy.optimize import minimize

    import fastsgd.optimize

    options = dict(configuration.params)
    method = getattr(fastsgd.optimize, options.pop("method"))
    rng = np.random.RandomState(0)
    A, b = rng.standard_normal((8, 3)), rng.standard_normal(8)

    def least_squares(x):
        r = A @ x - b
        return 0.5 * (r @ r), A.T @ r

    minimize(least_squares, np.zeros(3), jac=True, method=method,
             options=options | {"maxiter": 2})  # fmt: skip


def _fit(configuration, dtype, sparse, parallel=False):
    import fastsgd

    if configuration.estimator == "minimize":
        _minimize(configuration)
        return
    estimator = getattr(fastsgd, configuration.estimator)(
        **configuration.params | {"max_iter": 2, "random_state": 0}
    )
    X, y = _data(configuration, dtype, sparse, parallel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs do not converge
        if configuration.partial_fit:
            half = X.shape[0] // 2
            kwargs = {}
            if configuration.estimator.endswith("Classifier"):
                kwargs["classes"] = np.arange(configuration.n_classes)
            estimator.partial_fit(X[:half], y[:half], **kwargs)
            estimator.partial_fit(X[half:], y[half:])
        else:
            estimator.fit(X, y)
    estimator.predict(X)


def _run_variant(configuration, dtype, csr, parallel):
    if parallel:
        with all_parallel():
            _fit(configuration, dtype, csr, parallel=True)
    else:
        _fit(configuration, dtype, csr)


def compile_variants(configuration, variants):
    """Fit ``configuration`` once per ``(dtype, csr, parallel)`` of ``variants``.

    Returns the number of kernels Numba compiled (one loaded from the cache is
    not one) and the seconds taken.
    """
    from numba.core import event

    compiled = []

    class _Count(event.Listener):
        def on_start(self, ev):
            compiled.append(ev)

        def on_end(self, ev):
            pass

    start = time.perf_counter()
    with event.install_listener("numba:compile", _Count()):
        for variant in variants:
            _run_variant(configuration, *variant)
    return len(compiled), time.perf_counter() - start


def _report(configuration, dtypes, n, seconds):
    variants = configuration.variants(dtypes)
    layouts = " and ".join(configuration.layouts).replace("csr", "CSR")
    kinds = ", ".join(sorted({dtype for dtype, _, _ in variants}))
    serial = ", serial and parallel" if configuration.parallel else ""
    what = f"{n} compiled" if n else "all loaded from the cache"
    return (f"{configuration.describe()} [{kinds}, {layouts}{serial}]: {what} "
            f"({seconds:.1f} s)")  # fmt: skip


def _cost(configuration, variant):
    """Rough compile cost, to start the longest variants first."""
    _, csr, parallel = variant
    return (configuration.family == "mlp") * 2 + parallel * 2 + (not csr)


def compile_kernels(configurations=COMMON, dtypes=None, jobs=None, echo=print):
    """Compile (or load from the cache) the kernels of ``configurations``.

    Parameters
    ----------
    configurations : sequence of Configuration
        Default: ``COMMON``.
    dtypes : sequence of str, optional
        Only these dtypes (``"float64"``, ``"float32"``); default: each
        configuration's own.
    jobs : int, optional
        Worker processes, each fitting the variants of one configuration and
        dtype at a time (default: one per core; 1 compiles in this process).
    echo : callable or None
        Called with one line per configuration once its variants are done.

    Returns
    -------
    int
        The number of configurations whose kernels are now in the cache.
    """
    todo = [c for c in configurations if c.variants(dtypes)]
    say = echo or (lambda line: None)
    # one task per configuration and dtype: the variants of a task share their
    # helpers' signatures, which a second worker would compile again
    tasks = [
        (c, [v for v in c.variants(dtypes) if v[0] == dtype])
        for c in todo
        for dtype in sorted({v[0] for v in c.variants(dtypes)})
    ]
    tasks.sort(key=lambda task: -sum(_cost(task[0], v) for v in task[1]))
    left = {id(c): sum(1 for t in tasks if t[0] is c) for c in todo}
    totals = {id(c): [0, 0.0] for c in todo}
    for configuration, (n, seconds) in _run_tasks(tasks, jobs):
        key = id(configuration)
        totals[key][0] += n
        totals[key][1] += seconds
        left[key] -= 1
        if not left[key]:
            done = sum(1 for c in todo if not left[id(c)])
            say(f"[{done}/{len(todo)}] "
                f"{_report(configuration, dtypes, *totals[key])}")  # fmt: skip
    return len(todo)


def _run_tasks(tasks, jobs):
    """``(configuration, compile_variants' result)`` of each task as it
    finishes: in this process for ``jobs=1``, else in worker processes."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    if jobs == 1:
        for configuration, variants in tasks:
            yield configuration, compile_variants(configuration, variants)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(compile_variants, c, vs): c for c, vs in tasks}
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()
