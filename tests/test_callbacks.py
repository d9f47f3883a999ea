"""scikit-learn's callback API (``sklearn.callback``) on the four estimators.

The reference is scikit-learn's own behaviour: ``LogisticRegression`` (the
estimator of scikit-learn 1.9 that supports callbacks; its ``SGDClassifier``
and MLPs do not) shows the task tree a fit builds, ``GridSearchCV`` and
``Pipeline`` propagate callbacks down to it. fastsgd's tree has one task per
epoch (per L-BFGS iteration); each epoch's ``fitted_estimator`` is checked
against an independent fit with ``max_iter`` set to that epoch, and so is a
fit that a callback stops there.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import is_classifier
from sklearn.callback import CallbackSupportMixin, ProgressBar, ScoringMonitor
from sklearn.callback._callback_context import get_context_path
from sklearn.callback.tests._utils import (
    RecordingAutoPropagatedCallback,
    RecordingCallback,
)
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model import SGDClassifier as SkSGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastsgd._callbacks
from fastsgd import (
    MLPClassifier,
    MLPRegressor,
    Perceptron,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
)

X_CLS, Y_CLS = make_classification(
    n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
)
X_REG, Y_REG = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)
X_REG /= X_REG.std(axis=0)
Y_REG /= Y_REG.std()
X_SPARSE = sp.csr_matrix(np.where(np.abs(X_REG) > 0.5, X_REG, 0.0))

MAX_ITER = 4

# One configuration per way an epoch can end: per-sample (scale and lazy
# average folded at the end of a call), mini-batch, early stopping (the MLP
# keeps its best weights), L-BFGS (an iteration of SciPy's).
CONFIGS = {
    "SGDClassifier per-sample OvR, averaged": (
        SGDClassifier(average=30, max_iter=MAX_ITER, tol=None, random_state=0),
        X_CLS, Y_CLS,
    ),
    "SGDClassifier mini-batch multinomial, momentum": (
        SGDClassifier(loss="log_loss", multi_class="multinomial", batch_size=8,
                      momentum=0.9, max_iter=MAX_ITER, tol=None, random_state=0),
        X_CLS, Y_CLS,
    ),
    "SGDRegressor per-sample elastic net, CSR": (
        SGDRegressor(penalty="elasticnet", max_iter=MAX_ITER, tol=None,
                     random_state=0),
        X_SPARSE, Y_REG,
    ),
    "SGDRegressor mini-batch, early stopping": (
        SGDRegressor(batch_size=7, momentum=0.5, early_stopping=True,
                     n_iter_no_change=50, max_iter=MAX_ITER, random_state=0),
        X_REG, Y_REG,
    ),
    "Perceptron per-sample OvR, elastic net": (
        Perceptron(penalty="elasticnet", max_iter=MAX_ITER, tol=None, random_state=0),
        X_CLS, Y_CLS,
    ),
    "SGDOneClassSVM per-sample, averaged": (
        SGDOneClassSVM(average=30, max_iter=MAX_ITER, tol=None, random_state=0),
        X_REG, None,
    ),
    "SGDOneClassSVM mini-batch, momentum, CSR": (
        SGDOneClassSVM(nu=0.2, batch_size=8, momentum=0.9, max_iter=MAX_ITER,
                       tol=None, random_state=0),
        X_SPARSE, None,
    ),
    "MLPClassifier adam": (
        MLPClassifier(hidden_layer_sizes=(6,), batch_size=8, max_iter=MAX_ITER,
                      random_state=0),
        X_CLS, Y_CLS,
    ),
    "MLPRegressor sgd invscaling, early stopping": (
        MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", batch_size=9,
                     learning_rate="invscaling", early_stopping=True,
                     max_iter=MAX_ITER, random_state=0),
        X_REG, Y_REG,
    ),
    "MLPClassifier lbfgs": (
        MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=MAX_ITER,
                      random_state=0),
        X_CLS, Y_CLS,
    ),
    "MLPRegressor lbfgs": (
        MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=MAX_ITER,
                     random_state=0),
        X_REG, Y_REG,
    ),
}  # fmt: skip

#: Fitted attributes, besides the parameters, that a reconstruction must match.
FITTED = ("n_iter_", "t_", "loss_", "loss_curve_", "validation_scores_",
          "best_loss_", "best_validation_score_")  # fmt: skip


def _fresh(name, **params):
    estimator, X, y = CONFIGS[name]
    return estimator.__class__(**estimator.get_params()).set_params(**params), X, y


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _epoch_task_name(estimator):
    return "iteration" if getattr(estimator, "solver", None) == "lbfgs" else "epoch"


def _parameters(estimator):
    if hasattr(estimator, "coefs_"):
        return [*estimator.coefs_, *estimator.intercepts_]
    if hasattr(estimator, "offset_"):
        return [estimator.coef_, estimator.offset_]
    return [estimator.coef_, estimator.intercept_]


def _assert_same_model(actual, expected, what):
    for a, b in zip(_parameters(actual), _parameters(expected), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{what}: parameters differ")
    for name in FITTED:
        if hasattr(expected, name):
            assert getattr(actual, name) == getattr(expected, name), (
                f"{what}: {name} is {getattr(actual, name)!r}, a fit stopped there "
                f"has {getattr(expected, name)!r}"
            )


def _hooks(callback, *, names=("on_fit_task_begin", "on_fit_task_end")):
    """The recorded hook calls: ``(hook, task names from the root, task_id)``."""
    return [
        (
            record["name"],
            tuple(ctx.task_name for ctx in get_context_path(record["context"])),
            record["context"].task_id,
        )
        for record in callback.record
        if record["name"] in names
    ]


def _expected_hooks(root, leaf, n_leaves):
    """A root task and ``n_leaves`` sequential leaf tasks, each opened and closed."""
    leaves = [
        (hook, (root, leaf), task_id)
        for task_id in range(n_leaves)
        for hook in ("on_fit_task_begin", "on_fit_task_end")
    ]
    return [
        ("on_fit_task_begin", (root,), 0),
        *leaves,
        ("on_fit_task_end", (root,), 0),
    ]


def _epoch_records(callback, hook="on_fit_task_end"):
    return [
        record
        for record in callback.record
        if record["name"] == hook and record["context"].max_subtasks == 0
        and record["context"].parent is not None
    ]  # fmt: skip


class StopAt(RecordingCallback):
    """Asks to stop at the end of the epoch task ``task_id``."""

    def __init__(self, task_id):
        super().__init__()
        self.task_id = task_id

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None,
        fitted_estimator=None,
    ):  # fmt: skip
        super().on_fit_task_end(
            estimator, context, X=X, y=y, metadata=metadata,
            fitted_estimator=fitted_estimator,
        )  # fmt: skip
        return context.parent is not None and context.task_id == self.task_id


class Vandal:
    """Scribbles over every ``fitted_estimator`` it is given, in place."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None):
        self._scribble(fitted_estimator)

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self._scribble(fitted_estimator)

    @staticmethod
    def _scribble(fitted):
        if fitted is None:  # the root task's opening has no model yet
            return
        arrays = _parameters(fitted) + [
            value for value in vars(fitted._state).values()
            if isinstance(value, np.ndarray)
        ]  # fmt: skip
        for array in arrays:
            array[...] = 0
        for curve in ("loss_curve_", "validation_scores_"):
            if isinstance(getattr(fitted, curve, None), list):
                getattr(fitted, curve).append(np.nan)


# --------------------------------------------------------------------------
# The reference: scikit-learn's own estimators
# --------------------------------------------------------------------------


def test_scikit_learn_reference_task_tree():
    """scikit-learn 1.9's SGD and MLPs have no callbacks; LogisticRegression's
    lbfgs opens a root "fit" task with one "lbfgs-iter" task per iteration (plus
    one empty task: SciPy's callback reports an iteration after it has run)."""
    assert not hasattr(SkSGDClassifier(), "set_callbacks")
    assert not hasattr(SkMLPClassifier(), "set_callbacks")
    callback = RecordingCallback()
    logistic = LogisticRegression(max_iter=5).set_callbacks(callback)
    _fit(logistic, X_CLS, Y_CLS)
    assert _hooks(callback) == _expected_hooks(
        "fit", "lbfgs-iter", logistic.n_iter_[0] + 1
    )
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1


# --------------------------------------------------------------------------
# One task per epoch; the reconstruction is the model of that epoch
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_one_task_per_epoch_under_the_fit_task(name):
    callback = RecordingCallback()
    estimator, X, y = _fresh(name)
    _fit(estimator.set_callbacks(callback), X, y)
    assert estimator.n_iter_ == MAX_ITER
    leaf = _epoch_task_name(estimator)
    assert _hooks(callback) == _expected_hooks("fit", leaf, estimator.n_iter_), (
        f"{name}: the task tree is not one {leaf!r} task per epoch under 'fit'"
    )
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    root = callback.record[0]["context"]
    assert root.estimator_name == type(estimator).__name__
    assert root.max_subtasks == estimator.max_iter
    # the hooks get the validated training data
    begin = callback.record[1]["kwargs"]
    assert begin["X"].shape == X.shape and begin["metadata"] is None
    assert not hasattr(estimator, "_callback_fit_ctx")


@pytest.mark.parametrize("name", CONFIGS)
def test_epoch_reconstruction_is_a_fit_stopped_at_that_epoch(name):
    callback = RecordingCallback()
    estimator, X, y = _fresh(name)
    _fit(estimator.set_callbacks(callback), X, y)
    ends = _epoch_records(callback)
    begins = _epoch_records(callback, "on_fit_task_begin")
    assert len(ends) == len(begins) == estimator.n_iter_
    for epoch, (begin, end) in enumerate(zip(begins, ends, strict=True), start=1):
        fitted = end["kwargs"]["fitted_estimator"]
        assert fitted is not estimator
        reference = _fit(_fresh(name, max_iter=epoch)[0], X, y)
        _assert_same_model(fitted, reference, f"{name}, end of epoch {epoch}")
        np.testing.assert_array_equal(fitted.predict(X), reference.predict(X))
        if epoch > 1:  # the model an epoch starts from is the last one's
            previous = ends[epoch - 2]["kwargs"]["fitted_estimator"]
            _assert_same_model(
                begin["kwargs"]["fitted_estimator"], previous,
                f"{name}, start of epoch {epoch}",
            )  # fmt: skip
    # the root task's reconstruction is the fitted model
    final = callback.record[-2]
    assert final["name"] == "on_fit_task_end" and final["context"].parent is None
    _assert_same_model(final["kwargs"]["fitted_estimator"], estimator, f"{name}, fit")


@pytest.mark.parametrize("name", CONFIGS)
def test_stop_request_ends_training_after_that_epoch(name):
    stop = StopAt(task_id=1)  # the second epoch
    estimator, X, y = _fresh(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        estimator.set_callbacks(stop).fit(X, y)
    reference = _fit(_fresh(name, max_iter=2)[0], X, y)
    _assert_same_model(estimator, reference, f"{name}, stopped after epoch 2")
    assert estimator.n_iter_ == 2
    if hasattr(reference, "loss_curve_"):
        assert len(estimator.loss_curve_) == 2
    assert len(_epoch_records(stop)) == 2
    assert stop.count_hooks("teardown") == 1


def _scoring(estimator):
    return "accuracy" if is_classifier(estimator) else "r2"


def _observers(estimator):
    observers = [RecordingCallback(), Vandal()]
    if hasattr(estimator, "score"):  # (an outlier detector has none)
        # before the Vandal, which scribbles on the copies the monitor scores
        observers.insert(1, ScoringMonitor(scoring=_scoring(estimator)))
    try:
        observers.append(ProgressBar())
    except ImportError:  # ProgressBar needs rich
        pass
    return observers


@pytest.mark.parametrize("name", CONFIGS)
def test_callbacks_never_change_the_model(name, capsys):
    estimator, X, y = _fresh(name)
    plain = _fit(_fresh(name)[0], X, y)
    observers = _observers(estimator)
    _fit(estimator.set_callbacks(*observers), X, y)
    _assert_same_model(estimator, plain, f"{name} with {observers}")
    if not hasattr(estimator, "score"):
        return
    log = observers[1].get_logs().data
    scorer = _scoring(estimator)
    epochs = [row for row in log if row["task_name"] == _epoch_task_name(estimator)]
    assert len(epochs) == estimator.n_iter_
    # the last epoch's model is the fitted model (the Vandal wrote on copies)
    assert epochs[-1][scorer] == pytest.approx(estimator.score(X, y), rel=1e-12)


def test_no_tasks_without_callbacks(monkeypatch):
    """A fit without callbacks (outside a meta-estimator) builds no task at all:
    no context, no epoch hooks, no reconstruction."""

    def refuse(*args, **kwargs):
        raise AssertionError("callback tasks were built for a fit without callbacks")

    monkeypatch.setattr(CallbackSupportMixin, "_init_callback_context", refuse)
    monkeypatch.setattr(fastsgd._callbacks.EpochTasks, "__init__", refuse)
    monkeypatch.setattr(fastsgd._callbacks, "fitted_copy", refuse)
    for name in CONFIGS:
        estimator, X, y = _fresh(name)
        _fit(estimator, X, y)
        assert not hasattr(estimator, "_callback_fit_ctx")


def test_teardown_after_a_diverging_fit():
    callback = RecordingCallback()
    estimator = SGDRegressor(learning_rate="constant", eta0=1e10, penalty=None,
                             max_iter=50).set_callbacks(callback)  # fmt: skip
    with pytest.raises(ValueError, match="diverged"):
        estimator.fit(X_REG * 1e100, Y_REG * 1e100)
    assert callback.count_hooks("teardown") == 1
    assert not hasattr(estimator, "_callback_fit_ctx")


# --------------------------------------------------------------------------
# partial_fit: one leaf task per call
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, X, y, kwargs",
    [
        (
            SGDClassifier(batch_size=8, random_state=0),
            X_CLS,
            Y_CLS,
            {"classes": np.unique(Y_CLS)},
        ),
        (SGDRegressor(random_state=0), X_REG, Y_REG, {}),
        (
            MLPClassifier(hidden_layer_sizes=(4,), random_state=0),
            X_CLS,
            Y_CLS,
            {"classes": np.unique(Y_CLS)},
        ),
        (
            MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", random_state=0),
            X_REG,
            Y_REG,
            {},
        ),
    ],  # fmt: skip
    ids=["SGDClassifier", "SGDRegressor", "MLPClassifier", "MLPRegressor"],
)
def test_partial_fit_is_one_leaf_task_per_call(estimator, X, y, kwargs):
    callback = RecordingCallback()
    plain = estimator.__class__(**estimator.get_params())
    estimator.set_callbacks(callback)
    for call in range(2):
        plain.partial_fit(X, y, **kwargs)
        estimator.partial_fit(X, y, **kwargs)
        _assert_same_model(estimator, plain, f"partial_fit call {call + 1}")
    assert _hooks(callback) == 2 * [
        ("on_fit_task_begin", ("partial_fit",), 0),
        ("on_fit_task_end", ("partial_fit",), 0),
    ]
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 2
    ends = [r for r in callback.record if r["name"] == "on_fit_task_end"]
    assert all(r["context"].max_subtasks == 0 for r in ends)
    fitted = ends[-1]["kwargs"]["fitted_estimator"]
    _assert_same_model(fitted, estimator, "partial_fit's reconstruction")
    assert all(
        a is not b
        for a, b in zip(_parameters(fitted), _parameters(estimator), strict=True)
    ), "the reconstruction shares arrays with the estimator"


# --------------------------------------------------------------------------
# Meta-estimators propagate callbacks down to fastsgd's epochs
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        SGDClassifier(max_iter=3, tol=None, random_state=0),
        MLPClassifier(
            hidden_layer_sizes=(4,), solver="lbfgs", max_iter=3, random_state=0
        ),
    ],  # fmt: skip
    ids=["SGDClassifier", "MLPClassifier lbfgs"],
)
def test_grid_search_propagates_callbacks_to_the_epochs(estimator):
    callback = RecordingAutoPropagatedCallback()
    search = GridSearchCV(estimator, {"alpha": [1e-4, 1e-2]}, cv=2)
    _fit(search.set_callbacks(callback), X_CLS, Y_CLS)
    leaf = _epoch_task_name(estimator)
    epochs = [
        r for r in callback.record
        if r["name"] == "on_fit_task_end" and r["context"].task_name == leaf
    ]  # fmt: skip
    # 2 candidates x 2 folds, then the refit: 5 fits of 3 epochs
    assert len(epochs) == 5 * 3
    for record in epochs:
        path = get_context_path(record["context"])
        assert path[0].estimator_name == "GridSearchCV"
        fit_task = path[-2]
        assert fit_task.estimator_name == type(estimator).__name__
        assert fit_task.source_estimator_name == "GridSearchCV"
    assert callback.count_hooks("setup") == callback.count_hooks("teardown") == 1
    # the refit's last epoch is the best estimator
    fitted = epochs[-1]["kwargs"]["fitted_estimator"]
    _assert_same_model(fitted, search.best_estimator_, "the refit's last epoch")


def test_pipeline_propagates_callbacks_to_the_epochs():
    callback = RecordingAutoPropagatedCallback()
    pipeline = make_pipeline(
        StandardScaler(), SGDRegressor(max_iter=3, tol=None, random_state=0)
    ).set_callbacks(callback)
    pipeline.fit(X_REG, Y_REG)
    epochs = [
        r for r in callback.record
        if r["name"] == "on_fit_task_end" and r["context"].task_name == "epoch"
    ]  # fmt: skip
    assert len(epochs) == pipeline[-1].n_iter_ == 3
    fit_task = epochs[0]["context"].parent
    assert fit_task.estimator_name == "SGDRegressor"
    assert fit_task.source_estimator_name == "Pipeline"
    assert fit_task.source_task_name == "fit-final-estimator"
    # the epochs see the scaled data the final step is trained on
    scaled = StandardScaler().fit_transform(X_REG)
    np.testing.assert_allclose(epochs[0]["kwargs"]["X"], scaled)


# --------------------------------------------------------------------------
# The GPU kernels (Numba's CUDA simulator unless FASTSGD_REAL_GPU=1)
# --------------------------------------------------------------------------


def test_gpu_epochs_reconstruct_and_stop():
    params = dict(loss="log_loss", batch_size=16, momentum=0.9, tol=None,
                  random_state=0, device="cuda")  # fmt: skip
    callback = StopAt(task_id=1)
    estimator = SGDClassifier(max_iter=3, **params).set_callbacks(callback)
    estimator.fit(X_CLS, Y_CLS)
    reference = SGDClassifier(max_iter=1, **params).fit(X_CLS, Y_CLS)
    first = _epoch_records(callback)[0]["kwargs"]["fitted_estimator"]
    _assert_same_model(first, reference, "GPU epoch 1")
    assert estimator.n_iter_ == 2
