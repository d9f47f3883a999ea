"""``fastsgd.plot_learning_curve`` draws the fitted curves, and refuses clearly."""

import matplotlib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError

from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, plot_learning_curve

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

X, Y = make_classification(n_samples=200, n_features=6, random_state=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_draws_the_loss_and_the_validation_scores():
    est = SGDClassifier(batch_size=16, early_stopping=True, n_iter_no_change=3,
                        random_state=0).fit(X, Y)  # fmt: skip
    ax = plot_learning_curve(est)
    (loss_line,) = ax.lines
    np.testing.assert_array_equal(loss_line.get_xdata(), np.arange(1, est.n_iter_ + 1))
    np.testing.assert_array_equal(loss_line.get_ydata(), est.loss_curve_)
    (score_line,) = ax.right_ax.lines
    np.testing.assert_array_equal(score_line.get_ydata(), est.validation_scores_)
    assert ax.get_xlabel() == "epoch"
    assert ax.right_ax.get_ylabel() == "validation score"


def test_draws_on_the_given_axes_without_validation_scores():
    est = SGDClassifier(max_iter=4, tol=None, random_state=0).fit(X, Y)
    _, ax = plt.subplots()
    assert plot_learning_curve(est, ax=ax) is ax
    assert len(ax.lines) == 1 and not hasattr(ax, "right_ax")
    assert len(ax.figure.axes) == 1


def test_refuses_an_unfitted_estimator():
    with pytest.raises(NotFittedError):
        plot_learning_curve(SGDClassifier())


def test_refuses_an_lbfgs_fit_with_no_curve():
    est = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", max_iter=5,
                       random_state=0)  # fmt: skip
    with pytest.warns(Warning):
        est.fit(X, Y.astype(float))
    with pytest.raises(ValueError, match="no loss_curve_"):
        plot_learning_curve(est)


def test_mlp_curve_is_its_loss_curve():
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with pytest.warns(Warning, match="Maximum iterations"):
        est.fit(X, Y)
    ax = plot_learning_curve(est)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), est.loss_curve_)
