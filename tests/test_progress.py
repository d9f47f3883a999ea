"""``verbose`` output, the tqdm bar (``fastsgd._progress``), and the per-epoch
events that scikit-learn's callbacks receive instead of the old listeners.

``verbose=2`` runs each epoch as several kernel calls so that its bar moves;
the tests check that this leaves every training path's model bitwise equal to
the ``verbose=0`` fit (whose paths the parity tests check against scikit-learn
and the NumPy references), and that what is printed and reported is what the
fit recorded.
"""

import contextlib
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.callback.tests._utils import RecordingCallback
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor

X_CLS, Y_CLS = make_classification(
    n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0
)
X_REG, Y_REG = make_regression(n_samples=300, n_features=8, noise=1.0, random_state=0)
X_REG /= X_REG.std(axis=0)
Y_REG /= Y_REG.std()

# Every kernel path whose epoch verbose=2 cuts into spans.
PATHS = {
    "per-sample hinge, averaged": (
        SGDClassifier(average=10, max_iter=4, tol=None, random_state=0),
        X_CLS, Y_CLS,
    ),
    "per-sample PA-I, zero rows": (
        SGDClassifier(loss="hinge", learning_rate="pa1", eta0=0.1, max_iter=3,
                      tol=None, random_state=0),
        np.vstack([X_CLS[:150], np.zeros((20, 8)), X_CLS[150:]]),
        np.concatenate([Y_CLS[:150], np.zeros(20, dtype=int), Y_CLS[150:]]),
    ),
    "mini-batch multinomial, momentum, invscaling": (
        SGDClassifier(loss="log_loss", multi_class="multinomial", batch_size=8,
                      momentum=0.9, nesterov=True, learning_rate="invscaling",
                      eta0=0.05, average=True, max_iter=4, tol=None, random_state=0),
        X_CLS, Y_CLS,
    ),
    "mini-batch regression, CSR, early stopping": (
        SGDRegressor(batch_size=7, momentum=0.5, early_stopping=True,
                     n_iter_no_change=2, max_iter=6, random_state=0),
        sp.csr_matrix(np.where(np.abs(X_REG) > 0.5, X_REG, 0.0)), Y_REG,
    ),
    "MLP adam": (
        MLPClassifier(hidden_layer_sizes=(6,), batch_size=8, max_iter=3,
                      random_state=0),
        X_CLS, Y_CLS,
    ),
    "MLP sgd, invscaling, early stopping": (
        MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", batch_size=9,
                     learning_rate="invscaling", early_stopping=True, max_iter=3,
                     random_state=0),
        X_REG, Y_REG,
    ),
}  # fmt: skip


def _fitted_parameters(est):
    if hasattr(est, "coefs_"):
        return [*est.coefs_, *est.intercepts_]
    return [est.coef_, est.intercept_]


@contextlib.contextmanager
def _no_convergence_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _fit_quietly(est, X, y, verbose):
    est.set_params(verbose=verbose)
    with _no_convergence_warning():
        return est.fit(X, y)


@pytest.mark.parametrize("path", PATHS)
def test_progress_bar_leaves_the_model_unchanged(path, capsys):
    estimator, X, y = PATHS[path]
    quiet = _fit_quietly(estimator.__class__(**estimator.get_params()), X, y, 0)
    barred = _fit_quietly(estimator.__class__(**estimator.get_params()), X, y, 2)
    for a, b in zip(_fitted_parameters(quiet), _fitted_parameters(barred), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{path}: verbose=2 changed it")
    assert quiet.n_iter_ == barred.n_iter_
    np.testing.assert_allclose(barred.loss_curve_, quiet.loss_curve_, rtol=1e-12)
    err = capsys.readouterr().err
    # the bar: batches done of the fit's total, in batch units
    assert re.search(r"\d+/\d+ \[", err) and "batch" in err, err[-500:]


def test_progress_bar_on_the_gpu_kernels_leaves_the_model_unchanged(capsys):
    params = dict(loss="log_loss", batch_size=16, momentum=0.9, max_iter=2, tol=None,
                  random_state=0)  # fmt: skip
    cpu = SGDClassifier(**params).fit(X_CLS, Y_CLS)
    gpu = SGDClassifier(**params, device="cuda", verbose=2).fit(X_CLS, Y_CLS)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-10, atol=1e-12)
    assert "batch" in capsys.readouterr().err


_NORM_LINE = re.compile(
    r"Norm: ([\d.]+), NNZs: (\d+), Bias: (\S+), T: (\d+), Avg\. loss: ([\d.e+-]+), "
    r"Objective: ([\d.e+-]+)(?:, Validation score: ([\d.e+-]+))?, "
    r"Learning rate: ([\d.e+-]+)"
)
_ITERATION_LINE = re.compile(
    r"Iteration (\d+), loss = ([\d.e+-]+), learning rate = ([\d.e+-]+), "
    r"time = ([\d.]+) s"
)


@pytest.mark.parametrize(
    "estimator",
    [
        SGDClassifier(max_iter=5, tol=None, random_state=0),
        SGDClassifier(
            batch_size=10, early_stopping=True, max_iter=5, tol=None, random_state=0
        ),
    ],  # fmt: skip
    ids=["linear", "linear early stopping"],
)
def test_verbose_prints_sklearn_lines_per_epoch(estimator, capsys):
    # scikit-learn's _plain_sgd lines: "-- Epoch k", then per OvR head "Norm: ...,
    # Avg. loss: ..., Objective: ...[, Validation score: ...]" (fastsgd's learning
    # rate after them), then "Total training time: ..."
    _fit_quietly(estimator, X_CLS, Y_CLS, 1)
    out = capsys.readouterr().out
    epochs = out.split("-- Epoch ")[1:]
    assert len(epochs) == estimator.n_iter_, out
    n_heads = len(estimator.classes_)
    n_train = len(Y_CLS) - (30 if estimator.early_stopping else 0)
    for i, text in enumerate(epochs):
        lines = text.splitlines()
        assert lines[0] == str(i + 1), lines[0]
        matches = [_NORM_LINE.fullmatch(line) for line in lines[1:]]
        norm = [m for m in matches if m]
        assert len(norm) == n_heads, text
        losses = [float(m[5]) for m in norm]
        assert sum(losses) == pytest.approx(estimator.loss_curve_[i], rel=1e-5)
        assert all(int(m[4]) == (i + 1) * n_train for m in norm), text
        if estimator.early_stopping:
            scores = [float(m[7]) for m in norm]
            assert np.mean(scores) == pytest.approx(
                estimator.validation_scores_[i], rel=1e-5
            )
        else:
            assert all(m[7] is None for m in norm)
        assert all(float(m[8]) > 0 for m in norm)
        assert any(line.startswith("Total training time: ") for line in lines), text
    last = [_NORM_LINE.fullmatch(line) for line in epochs[-1].splitlines()]
    norms = [float(m[1]) for m in last if m]
    # printed with two decimals
    expected = np.linalg.norm(estimator.coef_, axis=1)
    np.testing.assert_allclose(norms, expected, atol=6e-3)


def test_mlp_verbose_prints_sklearn_lines_per_epoch(capsys):
    # scikit-learn's "Iteration k, loss = ..." (fastsgd's learning rate and time
    # after it), then "Validation score: ..." with early stopping
    estimator = MLPClassifier(
        hidden_layer_sizes=(5,), max_iter=4, early_stopping=True, random_state=0
    )
    _fit_quietly(estimator, X_CLS, Y_CLS, 1)
    lines = capsys.readouterr().out.splitlines()
    iterations = [
        (i, _ITERATION_LINE.fullmatch(line))
        for i, line in enumerate(lines)
        if line.startswith("Iteration ")
    ]
    assert len(iterations) == estimator.n_iter_
    for k, (i, match) in enumerate(iterations):
        assert match, f"unexpected verbose line: {lines[i]!r}"
        assert int(match[1]) == k + 1
        assert float(match[2]) == pytest.approx(estimator.loss_curve_[k], rel=1e-7)
        assert float(match[3]) > 0
        score = re.fullmatch(r"Validation score: ([\d.e+-]+)", lines[i + 1])
        assert score, lines[i + 1]
        assert float(score[1]) == pytest.approx(
            estimator.validation_scores_[k], rel=1e-5
        )


def test_verbose_reports_the_decaying_learning_rate(capsys):
    # scikit-learn's per-sample 'invscaling': eta0 / t**power_t, t counts samples
    est = SGDRegressor(learning_rate="invscaling", eta0=0.1, power_t=0.5, max_iter=3,
                       tol=None, random_state=0, verbose=1)  # fmt: skip
    est.fit(X_REG, Y_REG)
    rates = re.findall(r"Learning rate: ([\d.e+-]+)", capsys.readouterr().out)
    n = X_REG.shape[0]
    expected = [0.1 / (epoch * n + 1) ** 0.5 for epoch in (1, 2, 3)]
    np.testing.assert_allclose([float(rate) for rate in rates], expected, rtol=1e-5)


def _epoch_models(callback):
    """The ``fitted_estimator`` of each epoch task a callback saw."""
    return [
        record["kwargs"]["fitted_estimator"]
        for record in callback.record
        if record["name"] == "on_fit_task_end" and record["context"].parent is not None
    ]


def test_epoch_callbacks_see_each_epochs_loss():
    callback = RecordingCallback()
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    with _no_convergence_warning():
        est.set_callbacks(callback).fit(X_REG, Y_REG)
    models = _epoch_models(callback)
    assert [model.n_iter_ for model in models] == [1, 2, 3]
    assert [model.loss_ for model in models] == est.loss_curve_
    assert all(model.validation_scores_ is None for model in models)


def test_lbfgs_epoch_callbacks_see_each_iteration():
    callback = RecordingCallback()
    est = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5,
                       random_state=0)  # fmt: skip
    with _no_convergence_warning():
        est.set_callbacks(callback).fit(X_REG, Y_REG)
    models = _epoch_models(callback)
    assert len(models) == est.n_iter_
    # L-BFGS-B's losses decrease; the last one is the fitted loss
    losses = [model.loss_ for model in models]
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] == est.loss_
