"""``fastsgd.Perceptron`` against scikit-learn's: the same ``random_state``
gives scikit-learn's model, dense and CSR, every penalty."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model
from sklearn.datasets import load_digits, load_iris

import fastsgd

SETTINGS = [
    {},
    {"penalty": "l2", "alpha": 0.001},
    {"penalty": "elasticnet"},
    {"tol": None, "max_iter": 7, "shuffle": False},
    {"early_stopping": True, "random_state": 3},
    {"class_weight": "balanced", "fit_intercept": False},
]


@pytest.mark.parametrize(
    "data, settings, csr",
    list(itertools.product(["iris", "digits"], SETTINGS, [False, True])),
)
def test_same_model_as_scikit_learn(data, settings, csr):
    X, y = (load_iris if data == "iris" else load_digits)(return_X_y=True)
    if data == "iris":
        y = (y == 2).astype(int) if settings.get("class_weight") else y
    if csr:
        X = sp.csr_matrix(X)
    theirs = sklearn.linear_model.Perceptron(**settings).fit(X, y)
    ours = fastsgd.Perceptron(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_parameters_are_scikit_learns_plus_fastsgds():
    theirs = sklearn.linear_model.Perceptron().get_params()
    ours = fastsgd.Perceptron().get_params()
    extra = {"batch_size": 1, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
             "device": "cpu"}  # fmt: skip
    assert ours == {**theirs, **extra}
    assert not hasattr(fastsgd.Perceptron(), "predict_proba")


def test_minibatches_and_float32_train():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    clf = fastsgd.Perceptron(batch_size=32, momentum=0.9, eta0=0.1, random_state=0)
    clf.fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert clf.score(X, y) > 0.9
