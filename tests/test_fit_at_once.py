"""A dense per-sample ``fit`` runs all its epochs in one kernel call.

Without verbose output, callbacks or early stopping nothing needs Python
between the epochs, and ``_trainer.train`` hands the whole fit to
``cpu_per_sample.sgd_epochs_per_sample``: its shuffles, stopping rule
(``_math.stopping``) and 'adaptive' rate changes run in the kernel. These
tests check that the model, ``n_iter_``, ``t_`` and the loss curve are
bitwise those of the epoch-by-epoch loop, and scikit-learn's, for the
stopping rules, schedules and heads that change between epochs, and that a
diverging fit still reports the epoch that diverged.
"""

import numpy as np
import pytest
import sklearn.linear_model as sklm
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler

from fastsgd import SGDClassifier, SGDRegressor, _trainer

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = StandardScaler().fit_transform(X_DIGITS[:600])
Y_DIGITS = Y_DIGITS[:600]

CASES = {
    "binary-tol": (SGDClassifier, dict(), "binary"),
    "ovr-tol": (SGDClassifier, dict(), "multi"),
    "ovr-no-tol": (SGDClassifier, dict(tol=None, max_iter=7), "multi"),
    "ovr-adaptive": (
        SGDClassifier,
        dict(learning_rate="adaptive", eta0=0.5, n_iter_no_change=2, tol=1e-2),
        "multi",
    ),
    "ovr-average-hinge": (SGDClassifier, dict(average=10, loss="hinge"), "multi"),
    "pa1-no-shuffle": (
        SGDClassifier,
        dict(learning_rate="pa1", loss="hinge", shuffle=False, eta0=0.1),
        "zero-rows",
    ),
    "elasticnet-class-weight": (
        SGDClassifier,
        dict(penalty="elasticnet", l1_ratio=0.3, class_weight="balanced"),
        "multi",
    ),
    "regressor-invscaling": (
        SGDRegressor,
        dict(learning_rate="invscaling", eta0=0.01, max_iter=30),
        "regression",
    ),
    "regressor-adaptive-l1": (
        SGDRegressor,
        dict(learning_rate="adaptive", penalty="l1", eta0=0.05, tol=1e-1),
        "regression",
    ),
}


def _data(kind):
    if kind == "binary":
        return X_DIGITS, (Y_DIGITS > 4).astype(int)
    if kind == "multi":
        return X_DIGITS, Y_DIGITS
    if kind == "zero-rows":  # PA-I skips all-zero rows, and does not count them
        X = X_DIGITS.copy()
        X[::7] = 0.0
        return X, Y_DIGITS % 3
    return X_DIGITS, X_DIGITS[:, 20] - 0.5 * X_DIGITS[:, 37]


def _fit(make, params, X, y, *, at_once, monkeypatch):
    with monkeypatch.context() as m:
        if not at_once:
            m.setattr(_trainer._PerSampleRunner, "runs_at_once", False)
        return make(random_state=3, **params).fit(X, y)


def _model(est):
    return (est.coef_, est.intercept_, np.float64(est.t_), est.n_iter_)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_call_fit_is_the_epoch_loop(case, dtype, monkeypatch):
    make, params, kind = CASES[case]
    X, y = _data(kind)
    X = X.astype(dtype)
    calls = []
    real = _trainer._PerSampleRunner.run_at_once

    def counted(self, *args):
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(_trainer._PerSampleRunner, "run_at_once", counted)
    once = _fit(make, params, X, y, at_once=True, monkeypatch=monkeypatch)
    assert calls, "the fit should have run in one kernel call"
    loop = _fit(make, params, X, y, at_once=False, monkeypatch=monkeypatch)
    assert len(calls) == 1
    for a, b in zip(_model(once), _model(loop), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(once.loss_curve_, loop.loss_curve_)


@pytest.mark.parametrize("case", ["ovr-tol", "ovr-adaptive", "pa1-no-shuffle"])
def test_one_call_fit_is_scikit_learns(case):
    """The stopping epoch and the model are scikit-learn's (float64)."""
    make, params, kind = CASES[case]
    X, y = _data(kind)
    ours = make(random_state=3, **params).fit(X, y)
    ref = getattr(sklm, make.__name__)(random_state=3, **params).fit(X, y)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-10, atol=1e-12)


def test_diverging_one_call_fit_reports_its_epoch(monkeypatch):
    """A fit that diverges inside the one call is rolled back and rerun epoch
    by epoch: the same error, epoch and finite model as the loop's."""
    X = X_DIGITS * 1e100
    y = X_DIGITS[:, 3] * 1e100
    params = dict(learning_rate="constant", eta0=1e10, penalty=None, max_iter=20)
    errors = []
    for at_once in (True, False):
        with monkeypatch.context() as m:
            if not at_once:
                m.setattr(_trainer._PerSampleRunner, "runs_at_once", False)
            est = SGDRegressor(random_state=0, **params)
            with pytest.raises(ValueError, match="diverged at epoch") as info:
                est.fit(X, y)
        errors.append((str(info.value), est.coef_.copy(), est.intercept_.copy()))
        assert np.all(np.isfinite(est.coef_))
    assert errors[0][0] == errors[1][0]
    np.testing.assert_array_equal(errors[0][1], errors[1][1])
    np.testing.assert_array_equal(errors[0][2], errors[1][2])
