"""Processes and threads: Numba's TBB layer, fork-started children, concurrent fits.

Under GNU OpenMP (Numba's ``omp`` layer) a child started with ``fork`` after the
parent ran a parallel kernel is killed by Numba or hangs, and so does the parent
that waits for it (``multiprocessing``'s default start method on Linux, gunicorn's
pre-fork workers). fastsgd loads the ``tbb`` package's library so that Numba picks
its TBB layer (``fastsgd/_kernels/_threading.py``).

The process-level tests run a script in a new interpreter (the threading layer is
chosen once per process, at the first parallel kernel), under a timeout: a hang
fails the test instead of stalling the suite. Each script forces the parallel
kernel variants (``PARALLEL_WORK = 1``), so the layer really starts.
"""

import os
import platform
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_info, threadpool_limits

import fastsgd
from fastsgd._kernels import _threading, cpu, cpu_mlp

#: The platforms the ``tbb`` dependency has wheels for (pyproject.toml's marker).
HAS_TBB_WHEEL = platform.machine() in ("x86_64", "AMD64")

#: Fits a linear mini-batch model, an MLP and a per-sample model with scikit-learn's
#: arithmetic on the parallel kernels; ``fits()`` returns their parameters.
FITS = """
import numpy as np
import fastsgd
from fastsgd._kernels import cpu, cpu_mlp
from sklearn.datasets import make_classification

cpu.PARALLEL_WORK = 1
cpu_mlp.PARALLEL_WORK = 1
X, y = make_classification(n_samples=400, n_features=16, n_classes=3,
                           n_informative=6, random_state=0)

def fits():
    linear = fastsgd.SGDClassifier(batch_size=64, momentum=0.9, max_iter=3,
                                   tol=None, random_state=0, n_jobs=2).fit(X, y)
    mlp = fastsgd.MLPClassifier(hidden_layer_sizes=(16,), batch_size=100,
                                max_iter=3, random_state=0, n_jobs=2).fit(X, y)
    ovr = fastsgd.SGDClassifier(shuffle=False, max_iter=3, tol=None,
                                n_jobs=2).fit(X, y)
    return [linear.coef_, *mlp.coefs_, ovr.coef_, mlp.predict_proba(X)]
"""


def run_script(body, env=None, timeout=240):
    """Run ``FITS`` + ``body`` in a new interpreter; its stdout. A hang fails."""
    script = FITS + textwrap.dedent(body)
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=dict(os.environ, **(env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script hung for {timeout} s")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(not HAS_TBB_WHEEL, reason="no tbb wheel for this platform")
def test_parallel_kernels_run_on_tbb():
    assert _threading.tbb_library() is not None, "the tbb package is a dependency"
    out = run_script("""
        fits()
        import numba
        print(numba.threading_layer())
    """)
    assert out.split() == ["tbb"]


def test_a_layer_the_user_chose_is_kept():
    """``NUMBA_THREADING_LAYER=workqueue``: fastsgd does not override it."""
    out = run_script(
        """
        fits()
        import numba
        print(numba.threading_layer())
        """,
        env={"NUMBA_THREADING_LAYER": "workqueue"},
    )
    assert out.split() == ["workqueue"]


def test_fork_started_child_fits_after_the_parent():
    """The parent fits on the parallel kernels, then a ``fork``-started pool
    worker fits and predicts: it finishes, and gets the parent's bits.
    scikit-learn's per-sample SGD (``shuffle=False``) is the reference for the
    child's one-vs-rest model."""
    out = run_script("""
        import multiprocessing
        from sklearn.linear_model import SGDClassifier

        parent = fits()
        with multiprocessing.get_context("fork").Pool(1) as pool:
            child = pool.apply_async(fits).get(timeout=180)
        for a, b in zip(parent, child, strict=True):
            np.testing.assert_array_equal(a, b)
        reference = SGDClassifier(shuffle=False, max_iter=3, tol=None).fit(X, y)
        np.testing.assert_allclose(child[-2], reference.coef_, rtol=1e-9, atol=1e-12)
        import numba
        print("ok", numba.threading_layer())
    """)
    assert out.split()[0] == "ok"


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_fits_on_threads_are_bitwise_equal(monkeypatch):
    """Four Python threads fit at once on the parallel kernels (each kernel
    releases the GIL): every fit gives the model of a fit made alone."""
    monkeypatch.setattr(cpu, "PARALLEL_WORK", 1)
    monkeypatch.setattr(cpu_mlp, "PARALLEL_WORK", 1)
    X, y = make_classification(
        n_samples=400, n_features=16, n_classes=3, n_informative=6, random_state=0
    )

    def fit(kind):
        if kind == "mlp":
            est = fastsgd.MLPClassifier(
                hidden_layer_sizes=(16,), batch_size=100, max_iter=3,
                random_state=0, n_jobs=2,
            )  # fmt: skip
            return est.fit(X, y).coefs_
        est = fastsgd.SGDClassifier(
            batch_size=64, momentum=0.9, max_iter=3, tol=None, random_state=0, n_jobs=2
        )
        return [est.fit(X, y).coef_]

    kinds = ["linear", "mlp"] * 4
    alone = {kind: fit(kind) for kind in ("linear", "mlp")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(fit, kinds))
    for kind, params in zip(kinds, together, strict=True):
        for a, b in zip(params, alone[kind], strict=True):
            assert_array_equal(a, b, err_msg=f"{kind} fit on a thread")


# --------------------------------------------------------------------------
# BLAS threads: a BLAS call between parallel kernels runs on one thread
# --------------------------------------------------------------------------
# On more than one thread, OpenBLAS's workers spin for up to a tenth of a
# second after a call returns, on the cores the next kernel's threads need
# (``_epoch.one_blas_thread``). The tests set BLAS to two threads around the
# fit, so that a call left alone would see two.


def _blas_threads():
    return max(
        (i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"),
        default=0,
    )


def _spy_on_validation_scores(monkeypatch):
    """Record the BLAS threads of each early-stopping validation score."""
    seen = []
    make_scorer = fastsgd.SGDClassifier._validation_scorer

    def spying(self, *args, **kwargs):
        score = make_scorer(self, *args, **kwargs)

        def spy(*score_args):
            seen.append(_blas_threads())
            return score(*score_args)

        return spy

    monkeypatch.setattr(fastsgd.SGDClassifier, "_validation_scorer", spying)
    return seen


@pytest.mark.skipif(not _blas_threads(), reason="no BLAS library found")
@pytest.mark.parametrize("n_jobs, expected", [(2, 1), (1, 2)])
def test_validation_scores_between_parallel_kernels_use_one_blas_thread(
    monkeypatch, n_jobs, expected
):
    """An early-stopping fit scores its validation rows (a matrix product)
    after each epoch: on one BLAS thread when the kernels run on two
    (one-vs-rest, 3 classes); a serial fit leaves BLAS as it is."""
    X, y = make_classification(
        n_samples=300, n_features=16, n_classes=3, n_informative=6, random_state=0
    )
    seen = _spy_on_validation_scores(monkeypatch)
    with threadpool_limits(2, user_api="blas"):
        fastsgd.SGDClassifier(
            early_stopping=True, max_iter=3, tol=None, random_state=0, n_jobs=n_jobs
        ).fit(X, y)
        after = _blas_threads()
    assert len(seen) == 3
    assert set(seen) == {expected}, f"BLAS threads while scoring: {seen}"
    assert after == 2, "the fit did not give BLAS its threads back"


@pytest.mark.skipif(not _blas_threads(), reason="no BLAS library found")
def test_a_searchs_scores_use_one_blas_thread():
    """``SGDClassifierCV`` scores each fold's held-out rows between its passes
    and before the caller's next fit: on one BLAS thread."""
    X, y = make_classification(n_samples=300, n_features=16, random_state=0)
    seen = []

    def scorer(estimator, X_test, y_test):
        seen.append(_blas_threads())
        return estimator.score(X_test, y_test)

    with threadpool_limits(2, user_api="blas"):
        fastsgd.SGDClassifierCV(
            alphas=(1e-3, 1e-4), cv=3, max_iter=3, tol=None, scoring=scorer,
            refit=False, random_state=0,
        ).fit(X, y)  # fmt: skip
        after = _blas_threads()
    assert len(seen) == 6
    assert set(seen) == {1}, f"BLAS threads while scoring: {seen}"
    assert after == 2
