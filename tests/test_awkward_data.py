"""No error from inside a kernel: fits on awkward data end as scikit-learn's do.

Issue 29, item 5: an MLP with the Poisson loss on inputs of size ~1e3 raised
``ZeroDivisionError`` from ``cpu_mlp``'s kernel (Numba's Python error model),
where scikit-learn's NumPy arithmetic gives inf/NaN and the fit ends with finite
weights. Each case is fitted by both libraries: fastsgd must fit where
scikit-learn fits, or raise the exception type scikit-learn raises, and never
keep a non-finite weight.
"""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network

import fastsgd


def _huge_data():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 7)) * 1e3
    X[:, 2] = 5.0  # a constant column
    y = np.abs(X @ rng.standard_normal(7)) + 1000.0  # targets in the thousands
    return X, y


def _outcome(estimator, X, y):
    """``"fit"``, ``"non-finite"`` (a fitted weight is not finite) or the type
    of the exception the fit raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X, y)
    except Exception as error:  # noqa: BLE001 - the type is the outcome
        return type(error).__name__
    weights = list(estimator.coefs_) + list(estimator.intercepts_)
    return "fit" if all(np.isfinite(w).all() for w in weights) else "non-finite"


CASES = [
    dict(solver=solver, activation=activation, layout=layout)
    for solver, activation, layout in itertools.product(
        ["sgd", "adam"], ["identity", "relu"], ["dense", "csr float32"]
    )
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c['solver']}-{c['activation']}-{c['layout']}"
)
def test_poisson_mlp_on_huge_inputs_ends_as_scikit_learns(case):
    X, y = _huge_data()
    if case["layout"] != "dense":
        X = sp.csr_matrix(X.astype(np.float32))
    params = dict(
        loss="poisson", hidden_layer_sizes=(1,), solver=case["solver"],
        activation=case["activation"], learning_rate_init=0.5, early_stopping=True,
        n_iter_no_change=1, max_iter=30, random_state=3,
    )  # fmt: skip
    if case["solver"] == "sgd":
        params["learning_rate"] = "adaptive"  # the setting
    theirs = _outcome(neural_network.MLPRegressor(**params), X, y)
    ours = _outcome(fastsgd.MLPRegressor(**params), X, y)
    assert ours != "non-finite"
    assert ours == theirs


@pytest.mark.parametrize("estimator", ["MLPClassifier", "MLPRegressor"])
def test_a_batch_of_zero_weights_is_a_batch_without_gradient(estimator):
    """A mini-batch whose samples all weigh 0 has no gradient: plain SGD then
    trains as on the other rows alone (scikit-learn's ``np.average`` raises
    ZeroDivisionError on such a batch; fastsgd's kernel divided 0 by 0 and
    reported a divergence)."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((8, 3))
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    if estimator == "MLPRegressor":
        y = y.astype(float)
    weights = np.array([1, 1, 1, 1, 0, 0, 0, 0.0])  # the second batch weighs 0
    params = dict(hidden_layer_sizes=(3,), solver="sgd", momentum=0.0, batch_size=4,
                  shuffle=False, max_iter=3, random_state=0)  # fmt: skip
    cls = getattr(fastsgd, estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = cls(**params).fit(X, y, sample_weight=weights)
        alone = cls(**params).fit(X[:4], y[:4])
    for got, want in zip(weighted.coefs_ + weighted.intercepts_,
                         alone.coefs_ + alone.intercepts_, strict=True):  # fmt: skip
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adam = cls(**(params | {"solver": "adam"})).fit(X, y, sample_weight=weights)
    assert all(np.isfinite(w).all() for w in adam.coefs_ + adam.intercepts_)
    assert np.isfinite(adam.loss_curve_).all()
