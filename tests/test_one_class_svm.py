"""``fastsgd.SGDOneClassSVM`` against scikit-learn's and the NumPy reference.

- Per-sample (``batch_size=1``, scikit-learn's algorithm): the same
  ``random_state`` gives scikit-learn 1.9's ``coef_``, ``offset_``,
  ``n_iter_`` and ``t_`` (bitwise for float64 up to the averaged weights'
  rounding; float32 to its rounding), over schedules, averaging,
  ``fit_intercept``, ``nu``, dense and CSR input, sample weights, warm
  starts, initial values and ``partial_fit`` streams; and its predictions.
- Mini-batches (fastsgd's own): against ``reference.minibatch_sgd`` with
  every target +1, ``alpha = nu`` and the offset's term ``nu * b``
  (``intercept_alpha``), dense and CSR, with momentum; and on the GPU
  (simulator) against the CPU.
"""

import copy
import warnings

import numpy as np
import pytest
import reference
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import SGDOneClassSVM as SkSGDOneClassSVM
from test_minibatch import assert_close

from fastsgd import SGDOneClassSVM


def _data(kind, dtype=np.float64):
    rng = np.random.RandomState(0)
    if kind == "csr":
        X = sp.random(120, 30, density=0.2, format="csr", random_state=0)
    else:
        X = rng.randn(120, 5) + 1.0
    return X.astype(dtype)


SETTINGS = [
    {},
    {"tol": None, "max_iter": 7},
    {"average": True, "tol": None, "max_iter": 5},
    {"average": 50},
    {"learning_rate": "constant", "eta0": 0.05},
    {"learning_rate": "invscaling", "eta0": 0.1, "nu": 0.2},
    {"learning_rate": "adaptive", "eta0": 0.1, "nu": 0.1},
    {"fit_intercept": False},
    {"nu": 1.0, "shuffle": False},
]


def _both(params, X, **fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # (copies: scikit-learn trains a float64 coef_init in place)
        sk = SkSGDOneClassSVM(random_state=3, **params).fit(X, **copy.deepcopy(fit))
        ours = SGDOneClassSVM(random_state=3, **params).fit(X, **copy.deepcopy(fit))
    return sk, ours


def _assert_same_model(sk, ours, rtol):
    assert ours.n_iter_ == sk.n_iter_
    assert ours.t_ == sk.t_
    assert ours.coef_.shape == sk.coef_.shape
    assert ours.coef_.dtype == sk.coef_.dtype
    assert ours.offset_.shape == sk.offset_.shape == (1,)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours.offset_, sk.offset_, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("kind", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", SETTINGS, ids=str)
def test_per_sample_is_scikit_learns_model(kind, dtype, params):
    X = _data(kind, dtype)
    sk, ours = _both(params, X)
    # float32: scikit-learn's float32 kernel rounds as ours does, up to the
    # order of a few operations ('adaptive' runs 50 epochs)
    _assert_same_model(sk, ours, 1e-12 if dtype == np.float64 else 2e-3)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    assert ours.predict(X).dtype == sk.predict(X).dtype
    np.testing.assert_allclose(ours.decision_function(X), sk.decision_function(X),
                               rtol=1e-3, atol=1e-3)  # fmt: skip
    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X),
                               rtol=1e-3, atol=1e-3)  # fmt: skip


def test_sample_weight_init_and_warm_start_are_scikit_learns():
    X = _data("dense")
    sw = np.random.RandomState(1).rand(X.shape[0])
    _assert_same_model(*_both({}, X, sample_weight=sw), 1e-12)
    init = {"coef_init": np.ones(5), "offset_init": [0.5]}
    _assert_same_model(*_both({}, X, **init), 1e-12)
    sk = SkSGDOneClassSVM(random_state=1, warm_start=True).fit(X)
    ours = SGDOneClassSVM(random_state=1, warm_start=True).fit(X)
    _assert_same_model(sk.fit(X[:60]), ours.fit(X[:60]), 1e-12)


@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_partial_fit_stream_is_scikit_learns(kind):
    X = _data(kind)
    sk = SkSGDOneClassSVM(random_state=1, average=10)
    ours = SGDOneClassSVM(random_state=1, average=10)
    for lo in range(0, 120, 30):
        sk.partial_fit(X[lo : lo + 30])
        ours.partial_fit(X[lo : lo + 30])
        _assert_same_model(sk, ours, 1e-12)


def _reference(X, nu, params, n_epochs):
    n = X.shape[0]
    state = reference.minibatch_sgd(
        X, np.ones((n, 1)), task="ovr", loss="hinge", penalty="l2", alpha=nu,
        learning_rate=params.get("learning_rate", "optimal"),
        eta0=params.get("eta0", 0.01), power_t=params.get("power_t", 0.5),
        fit_intercept=True, batch_size=params["batch_size"],
        momentum=params.get("momentum", 0.0), nesterov=params.get("nesterov", False),
        n_epochs=n_epochs, intercept_init=np.ones(1), intercept_alpha=nu,
    )  # fmt: skip
    return state.coef[0], 1.0 - state.intercept


MINIBATCH = [
    {"batch_size": 16},
    {"batch_size": 7, "momentum": 0.9, "nesterov": True},
    {"batch_size": 32, "learning_rate": "constant", "eta0": 0.05},
]


@pytest.mark.parametrize("kind", ["dense", "csr"])
@pytest.mark.parametrize("params", MINIBATCH, ids=str)
def test_minibatch_matches_the_reference(kind, params):
    X = _data(kind)
    nu = 0.3
    est = SGDOneClassSVM(nu=nu, shuffle=False, tol=None, max_iter=4, **params).fit(X)
    coef, offset = _reference(X, nu, params, 4)
    assert_close(est.coef_, coef, "coef_")
    assert_close(est.offset_, offset, "offset_")


def test_minibatch_float32_and_threads_agree():
    X = _data("dense")
    params = {"batch_size": 16, "random_state": 0, "tol": None, "max_iter": 5}
    a = SGDOneClassSVM(n_jobs=1, **params).fit(X)
    b = SGDOneClassSVM(n_jobs=2, **params).fit(X)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = SGDOneClassSVM(**params).fit(X.astype(np.float32))
    assert c.coef_.dtype == np.float32
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-4, atol=1e-5)


def test_gpu_minibatch_matches_cpu():
    X = _data("dense")
    params = {"batch_size": 16, "random_state": 0, "tol": None, "max_iter": 3,
              "momentum": 0.5}  # fmt: skip
    cpu = SGDOneClassSVM(**params).fit(X)
    gpu = SGDOneClassSVM(device="cuda", **params).fit(X)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu.offset_, cpu.offset_, rtol=1e-9, atol=1e-12)


def test_errors():
    X = _data("dense")
    with pytest.raises(NotFittedError):
        SGDOneClassSVM().predict(X)
    with pytest.raises(ValueError, match="nu"):
        SGDOneClassSVM(nu=0.0).fit(X)
    with pytest.raises(ValueError, match="nu"):
        SGDOneClassSVM(nu=1.5).fit(X)
    with pytest.raises(ValueError, match="learning_rate"):
        SGDOneClassSVM(learning_rate="pa3").fit(X)
    est = SGDOneClassSVM().fit(X)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :3])
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="[Ii]nput.*NaN|NaN"):
        SGDOneClassSVM().fit(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="per-sample"):
        SGDOneClassSVM(device="cuda").fit(X)


def test_fit_predict_and_params():
    X = _data("dense")
    est = SGDOneClassSVM(random_state=0)
    labels = est.fit_predict(X)
    assert set(np.unique(labels)) <= {-1, 1}
    assert est.alpha == est.nu == 0.5
    assert "alpha" not in est.get_params()
    sk_params = set(SkSGDOneClassSVM().get_params())
    assert sk_params <= set(est.get_params())


def test_defaults_run_the_binary_classifiers_kernels():
    """``python -m fastsgd compile`` covers the defaults through
    ``SGDClassifier``'s binary ones: the same compiled variant."""
    from fastsgd import SGDClassifier
    from fastsgd._kernels import cpu_per_sample

    for kind in ("dense", "csr"):
        for dtype in (np.float64, np.float32):
            X = _data(kind, dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                SGDClassifier(max_iter=2).fit(X, np.arange(X.shape[0]) % 2)
                before = set(cpu_per_sample._PER_SAMPLE_VARIANTS)
                SGDOneClassSVM(max_iter=2).fit(X)
            assert set(cpu_per_sample._PER_SAMPLE_VARIANTS) == before
