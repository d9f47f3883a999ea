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
