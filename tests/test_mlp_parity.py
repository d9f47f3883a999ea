"""``MLPClassifier`` / ``MLPRegressor`` train scikit-learn 1.9's model.

With the same ``random_state`` a float64 fit draws the same initial weights,
the same validation split and the same shuffles as scikit-learn, and applies
the same update equations, so every fitted quantity agrees to rounding:
``coefs_``, ``intercepts_``, ``loss_curve_``, ``loss_``, ``best_loss_``,
``validation_scores_``, ``best_validation_score_``, ``n_iter_``, ``t_``, the
predictions, and whether a ``ConvergenceWarning`` is raised.

Every fit here is run twice, once by each library, with the same parameters on
the same data; scikit-learn is the reference. The only differences are the
rounding of re-associated sums (BLAS products in the kernel, NumPy's in
scikit-learn), ~1e-15 relative after a few epochs, hence ``rtol=1e-9``. The
L-BFGS fits get ``rtol=1e-6``: scipy's line search can amplify the last bits
over twenty iterations.

The data are small (150 x 8, hidden layers of at most (8, 6), a few epochs of
batches of 32 with a ragged last batch), noisy but learnable, with ~30% exact
zeros in ``X`` so that the CSR input has structure.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastsgd import MLPClassifier, MLPRegressor

RTOL = 1e-9
ATOL = 1e-12
RTOL_LBFGS = 1e-6
ATOL_LBFGS = 1e-9

PAIRS = {
    "classifier": (MLPClassifier, SkMLPClassifier),
    "regressor": (MLPRegressor, SkMLPRegressor),
}
TASK_KIND = {
    "binary": "classifier",
    "multiclass": "classifier",
    "multilabel": "classifier",
    "regression": "regressor",
    "multi-regression": "regressor",
    "poisson": "regressor",
}
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]

#: Small, quick, and with a ragged last batch (150 = 4 * 32 + 22).
BASE = dict(hidden_layer_sizes=(8, 6), batch_size=32, max_iter=6, random_state=0)


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def make_data(task, *, n=150, n_features=8, seed=0, sparse=False):
    """``(X, y)`` for ``task`` (a key of ``TASK_KIND``).

    Gaussian features with ~30% exact zeros; targets from a noisy non-linear
    function of them. Multiclass labels are strings (label handling is part
    of the parity).
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    X[rng.rand(n, n_features) < 0.3] = 0.0
    W = rng.randn(n_features, 3)
    S = np.tanh(X @ W) + 0.3 * rng.randn(n, 3)
    if task == "binary":
        y = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
    elif task == "multiclass":
        y = np.array(["ant", "bee", "cat"])[S.argmax(axis=1)]
        assert len(np.unique(y)) == 3, "degenerate test data"
    elif task == "multilabel":
        y = (S > 0.0).astype(np.int64)
        assert np.all((y.min(axis=0) == 0) & (y.max(axis=0) == 1)), "degenerate"
    elif task == "regression":
        y = 2.0 * S[:, 0] + 0.5
    elif task == "multi-regression":
        y = np.column_stack([2.0 * S[:, 0] + 0.5, S[:, 1] - S[:, 2]])
    elif task == "poisson":
        y = rng.poisson(np.exp(0.7 * S[:, 0])).astype(np.float64)
    else:
        raise ValueError(task)
    if sparse:
        X = sp.csr_matrix(X)
    return X, y


def sample_weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.2, 2.0, size=n)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def call_recording(method, *args, **kwargs):
    """Call ``method``; return the categories of the ConvergenceWarnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        method(*args, **kwargs)
    return [w.category for w in caught if issubclass(w.category, ConvergenceWarning)]


def _assert_scalar_or_none(ours, ref, name, rtol, atol):
    if ref is None:
        assert ours is None, f"{name} is {ours!r}; scikit-learn's is None"
        return
    assert ours is not None, f"{name} is None; scikit-learn's is {ref!r}"
    np.testing.assert_allclose(
        ours, ref, rtol=rtol, atol=atol, err_msg=f"{name} differs from scikit-learn's"
    )


def assert_same_model(ours, ref, X, *, rtol=RTOL, atol=ATOL, what=""):
    """Every fitted quantity of ``ours`` equals ``ref``'s (to ``rtol``)."""
    assert len(ours.coefs_) == len(ref.coefs_), f"{what}: number of layers differs"
    for i, (c, r) in enumerate(zip(ours.coefs_, ref.coefs_, strict=True)):
        assert c.shape == r.shape, f"{what}: coefs_[{i}] shape {c.shape} != {r.shape}"
        np.testing.assert_allclose(
            c, r, rtol=rtol, atol=atol, err_msg=f"{what}: coefs_[{i}] differs"
        )
    for i, (c, r) in enumerate(zip(ours.intercepts_, ref.intercepts_, strict=True)):
        np.testing.assert_allclose(
            c, r, rtol=rtol, atol=atol, err_msg=f"{what}: intercepts_[{i}] differs"
        )
    assert ours.n_iter_ == ref.n_iter_, (
        f"{what}: n_iter_ {ours.n_iter_} != scikit-learn's {ref.n_iter_}"
    )
    assert ours.t_ == ref.t_, f"{what}: t_ {ours.t_} != scikit-learn's {ref.t_}"
    assert ours.n_layers_ == ref.n_layers_, f"{what}: n_layers_ differs"
    assert ours.n_outputs_ == ref.n_outputs_, f"{what}: n_outputs_ differs"
    assert ours.out_activation_ == ref.out_activation_, (
        f"{what}: out_activation_ {ours.out_activation_!r} != {ref.out_activation_!r}"
    )
    _assert_scalar_or_none(ours.loss_, ref.loss_, f"{what}: loss_", rtol, atol)
    if hasattr(ref, "loss_curve_"):  # stochastic solvers
        assert len(ours.loss_curve_) == len(ref.loss_curve_), (
            f"{what}: {len(ours.loss_curve_)} epoch losses, scikit-learn has "
            f"{len(ref.loss_curve_)}"
        )
        np.testing.assert_allclose(
            ours.loss_curve_,
            ref.loss_curve_,
            rtol=rtol,
            atol=atol,
            err_msg=f"{what}: loss_curve_ differs",
        )
        _assert_scalar_or_none(
            ours.best_loss_, ref.best_loss_, f"{what}: best_loss_", rtol, atol
        )
        _assert_scalar_or_none(
            ours.best_validation_score_,
            ref.best_validation_score_,
            f"{what}: best_validation_score_",
            rtol,
            atol,
        )
        if ref.validation_scores_ is None:
            assert ours.validation_scores_ is None, f"{what}: validation_scores_"
        else:
            np.testing.assert_allclose(
                ours.validation_scores_,
                ref.validation_scores_,
                rtol=rtol,
                atol=atol,
                err_msg=f"{what}: validation_scores_ differs",
            )
    else:
        assert not hasattr(ours, "loss_curve_"), f"{what}: L-BFGS sets no loss_curve_"
    if hasattr(ref, "predict_proba"):
        np.testing.assert_array_equal(
            ours.predict(X), ref.predict(X), err_msg=f"{what}: predict differs"
        )
    else:
        np.testing.assert_allclose(
            ours.predict(X),
            ref.predict(X),
            rtol=rtol,
            atol=atol,
            err_msg=f"{what}: predict differs",
        )
    if hasattr(ref, "predict_proba"):
        np.testing.assert_allclose(
            ours.predict_proba(X),
            ref.predict_proba(X),
            rtol=rtol,
            atol=atol,
            err_msg=f"{what}: predict_proba differs",
        )
        np.testing.assert_array_equal(ours.classes_, ref.classes_)


def fit_both(task, params, X, y, **fit_kwargs):
    """Fit fastsgd's and scikit-learn's estimator for ``task``; check the warnings."""
    ours_cls, ref_cls = PAIRS[TASK_KIND[task]]
    ours, ref = ours_cls(**params), ref_cls(**params)
    ours_warned = call_recording(ours.fit, X, y, **fit_kwargs)
    ref_warned = call_recording(ref.fit, X, y, **fit_kwargs)
    assert bool(ours_warned) == bool(ref_warned), (
        f"ConvergenceWarning: fastsgd {ours_warned}, scikit-learn {ref_warned}"
    )
    return ours, ref


# --------------------------------------------------------------------------
# Stochastic solvers
# --------------------------------------------------------------------------

STOCHASTIC_CASES = [
    pytest.param(
        "binary",
        dict(solver="sgd", momentum=0.0, learning_rate_init=0.1),
        id="sgd-plain-binary",
    ),
    pytest.param(
        "multiclass",
        dict(
            solver="sgd",
            momentum=0.9,
            nesterovs_momentum=False,
            learning_rate_init=0.05,
        ),
        id="sgd-momentum-multiclass",
    ),
    pytest.param(
        "multiclass",
        dict(
            solver="sgd", momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.05
        ),
        id="sgd-nesterov-multiclass",
    ),
    pytest.param(
        "regression",
        dict(solver="sgd", momentum=0.5, learning_rate_init=0.01, alpha=0.01),
        id="sgd-momentum-regression",
    ),
    pytest.param(
        "binary",
        dict(
            solver="sgd",
            learning_rate="invscaling",
            learning_rate_init=0.5,
            power_t=0.3,
        ),
        id="sgd-invscaling-binary",
    ),
    pytest.param(
        "regression",
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2),
        id="sgd-invscaling-regression",
    ),
    pytest.param(
        "binary", dict(solver="adam", learning_rate_init=0.01), id="adam-binary"
    ),
    pytest.param(
        "multiclass",
        dict(solver="adam", learning_rate_init=0.01, alpha=0.1),
        id="adam-multiclass",
    ),
    pytest.param(
        "multilabel", dict(solver="adam", learning_rate_init=0.01), id="adam-multilabel"
    ),
    pytest.param(
        "multilabel", dict(solver="sgd", learning_rate_init=0.1), id="sgd-multilabel"
    ),
    pytest.param(
        "regression",
        dict(
            solver="adam",
            learning_rate_init=0.01,
            beta_1=0.8,
            beta_2=0.99,
            epsilon=1e-6,
        ),
        id="adam-regression",
    ),
    pytest.param(
        "multi-regression",
        dict(solver="adam", learning_rate_init=0.01),
        id="adam-multi-regression",
    ),
    pytest.param(
        "multi-regression",
        dict(solver="sgd", learning_rate_init=0.01),
        id="sgd-multi-regression",
    ),
    pytest.param(
        "poisson",
        dict(solver="adam", loss="poisson", learning_rate_init=0.01),
        id="adam-poisson",
    ),
    pytest.param(
        "poisson",
        dict(solver="sgd", loss="poisson", learning_rate_init=0.01),
        id="sgd-poisson",
    ),
    pytest.param(
        "binary",
        dict(solver="sgd", shuffle=False, learning_rate_init=0.1),
        id="sgd-no-shuffle-binary",
    ),
    pytest.param(
        "regression",
        dict(solver="adam", shuffle=False, learning_rate_init=0.01),
        id="adam-no-shuffle-regression",
    ),
    pytest.param(
        "multiclass",
        dict(solver="sgd", hidden_layer_sizes=(), learning_rate_init=0.1),
        id="sgd-no-hidden-layer-multiclass",
    ),
    pytest.param(
        "regression",
        dict(solver="adam", hidden_layer_sizes=(), learning_rate_init=0.01),
        id="adam-no-hidden-layer-regression",
    ),
    pytest.param(
        "binary",
        dict(solver="adam", hidden_layer_sizes=(7, 5), learning_rate_init=0.01),
        id="adam-7-5-binary",
    ),
    pytest.param(
        "multiclass",
        dict(solver="sgd", hidden_layer_sizes=7, learning_rate_init=0.1),
        id="sgd-int-hidden-multiclass",
    ),
    pytest.param(
        "binary",
        dict(solver="sgd", batch_size="auto", learning_rate_init=0.1),
        id="sgd-batch-auto-binary",
    ),
    pytest.param(
        "regression",
        dict(solver="sgd", batch_size=1, max_iter=2, learning_rate_init=0.01),
        id="sgd-batch-1-regression",
    ),
    pytest.param(
        "multiclass",
        dict(
            solver="adam",
            learning_rate_init=0.05,
            tol=1e-2,
            n_iter_no_change=2,
            max_iter=10,
        ),
        id="adam-stops-on-training-loss",
    ),
]


@pytest.mark.parametrize(("task", "params"), STOCHASTIC_CASES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_stochastic_fit_matches_sklearn(task, params, weighted):
    X, y = make_data(task)
    fit_kwargs = {"sample_weight": sample_weights(len(y))} if weighted else {}
    ours, ref = fit_both(task, {**BASE, **params}, X, y, **fit_kwargs)
    assert_same_model(ours, ref, X, what=f"{task} {params}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    ("task", "solver_params"),
    [
        ("multiclass", dict(solver="sgd", learning_rate_init=0.05)),
        ("binary", dict(solver="adam", learning_rate_init=0.01)),
        ("regression", dict(solver="sgd", learning_rate_init=0.01)),
        ("regression", dict(solver="adam", learning_rate_init=0.01)),
    ],
    ids=["sgd-multiclass", "adam-binary", "sgd-regression", "adam-regression"],
)
def test_every_activation_matches_sklearn(activation, task, solver_params):
    X, y = make_data(task)
    params = {**BASE, **solver_params, "activation": activation}
    ours, ref = fit_both(task, params, X, y)
    assert_same_model(ours, ref, X, what=f"{activation} {task} {solver_params}")


@pytest.mark.parametrize(
    ("task", "params"),
    [
        ("binary", dict(solver="sgd", learning_rate_init=0.05)),
        ("multiclass", dict(solver="adam", learning_rate_init=0.01)),
        ("multilabel", dict(solver="sgd", learning_rate_init=0.05)),
        ("regression", dict(solver="sgd", learning_rate_init=0.01)),
        ("poisson", dict(solver="adam", loss="poisson", learning_rate_init=0.01)),
    ],
    ids=[
        "sgd-binary",
        "adam-multiclass",
        "sgd-multilabel",
        "sgd-regression",
        "adam-poisson",
    ],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_csr_input_matches_sklearn_on_csr(task, params, weighted):
    X, y = make_data(task, sparse=True)
    assert sp.issparse(X) and X.nnz < 0.8 * X.shape[0] * X.shape[1]
    fit_kwargs = {"sample_weight": sample_weights(len(y))} if weighted else {}
    ours, ref = fit_both(task, {**BASE, **params}, X, y, **fit_kwargs)
    assert_same_model(ours, ref, X, what=f"CSR {task} {params}")


# --------------------------------------------------------------------------
# Stopping rules
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("learning_rate_init", "max_iter"),
    [(0.05, 10), (1e-5, 10)],
    ids=["decays", "decays-until-too-small"],
)
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_adaptive_learning_rate_matches_sklearn(task, learning_rate_init, max_iter):
    """A tolerance no epoch can meet: the rate is divided by 5 every 2 epochs.

    From 1e-5 it falls below scikit-learn's 1e-6 floor after two divisions,
    and training stops before ``max_iter`` (without a ConvergenceWarning).
    """
    X, y = make_data(task)
    params = {
        **BASE,
        "solver": "sgd",
        "learning_rate": "adaptive",
        "learning_rate_init": learning_rate_init,
        "tol": 10.0,
        "n_iter_no_change": 1,
        "max_iter": max_iter,
    }
    ours, ref = fit_both(task, params, X, y)
    assert ref._optimizer.learning_rate < learning_rate_init, (
        "test set-up: scikit-learn's adaptive rate never decayed"
    )
    if learning_rate_init < 1e-4:
        assert ref.n_iter_ < max_iter, "test set-up: the rate floor never stopped"
    assert_same_model(ours, ref, X, what=f"adaptive {task}")


EARLY_STOPPING = dict(
    early_stopping=True, validation_fraction=0.2, n_iter_no_change=2, max_iter=10
)


@pytest.mark.parametrize(
    ("task", "params"),
    [
        ("binary", dict(solver="sgd", learning_rate_init=0.1)),
        ("multiclass", dict(solver="adam", learning_rate_init=0.02)),
        ("multiclass", dict(solver="sgd", learning_rate_init=0.1, tol=0.0)),
        ("multilabel", dict(solver="adam", learning_rate_init=0.02)),
        ("regression", dict(solver="adam", learning_rate_init=0.02)),
        ("multi-regression", dict(solver="sgd", learning_rate_init=0.01)),
        ("poisson", dict(solver="adam", loss="poisson", learning_rate_init=0.02)),
    ],
    ids=[
        "sgd-binary",
        "adam-multiclass",
        "sgd-multiclass-tol0",
        "adam-multilabel",
        "adam-regression",
        "sgd-multi-regression",
        "adam-poisson",
    ],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_early_stopping_matches_sklearn(task, params, weighted):
    """Same validation split, scores, stopping epoch and restored best weights."""
    X, y = make_data(task)
    fit_kwargs = {"sample_weight": sample_weights(len(y))} if weighted else {}
    ours, ref = fit_both(task, {**BASE, **EARLY_STOPPING, **params}, X, y, **fit_kwargs)
    assert len(ref.validation_scores_) == ref.n_iter_, "test set-up"
    assert_same_model(ours, ref, X, what=f"early stopping {task} {params}")


def test_early_stopping_stops_early_and_restores_the_best_epoch_as_sklearn():
    """The early-stopping cases above exercise the stop and the roll-back."""
    X, y = make_data("multiclass")
    params = {**BASE, **EARLY_STOPPING, "solver": "sgd", "learning_rate_init": 0.1}
    ours, ref = fit_both("multiclass", params, X, y)
    scores = ref.validation_scores_
    assert ref.n_iter_ < params["max_iter"], "test set-up: never stopped early"
    assert scores[-1] < max(scores), "test set-up: the last epoch was the best"
    assert_same_model(ours, ref, X, what="early stopping with roll-back")


# --------------------------------------------------------------------------
# L-BFGS
# --------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    ("task", "params"),
    [
        ("binary", {}),
        ("multiclass", dict(alpha=0.01)),
        ("multilabel", {}),
        ("regression", {}),
        ("multi-regression", dict(alpha=0.1)),
        ("poisson", dict(loss="poisson")),
    ],
    ids=[
        "binary",
        "multiclass",
        "multilabel",
        "regression",
        "multi-regression",
        "poisson",
    ],
)
def test_lbfgs_matches_sklearn(activation, task, params):
    X, y = make_data(task)
    params = {
        **BASE,
        **params,
        "solver": "lbfgs",
        "max_iter": 20,
        "activation": activation,
    }
    ours, ref = fit_both(task, params, X, y)
    assert_same_model(
        ours, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS, what=f"lbfgs {task}"
    )


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_lbfgs_with_sample_weight_matches_sklearn(task, sparse):
    X, y = make_data(task, sparse=sparse)
    params = {**BASE, "solver": "lbfgs", "max_iter": 20, "activation": "tanh"}
    ours, ref = fit_both(task, params, X, y, sample_weight=sample_weights(len(y)))
    assert_same_model(
        ours, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS, what=f"lbfgs weighted {task}"
    )


def test_lbfgs_converged_fit_matches_sklearn():
    """A tolerance reached before ``max_iter``: no warning, same solution."""
    X, y = make_data("binary")
    params = {
        **BASE,
        "hidden_layer_sizes": (3,),
        "solver": "lbfgs",
        "max_iter": 200,
        "tol": 1e-3,
        "alpha": 1.0,
    }
    ours, ref = fit_both("binary", params, X, y)
    assert ref.n_iter_ < 200, "test set-up: scikit-learn did not converge"
    assert_same_model(
        ours, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS, what="converged lbfgs"
    )


def test_lbfgs_stopped_by_max_fun_matches_sklearn():
    X, y = make_data("multiclass")
    params = {**BASE, "solver": "lbfgs", "max_iter": 20, "max_fun": 7}
    ours, ref = fit_both("multiclass", params, X, y)
    assert_same_model(
        ours, ref, X, rtol=RTOL_LBFGS, atol=ATOL_LBFGS, what="lbfgs with max_fun"
    )


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_batch_size_larger_than_the_data_is_clipped_as_sklearn(task):
    """Both warn (a UserWarning) and train with one batch of all samples."""
    X, y = make_data(task)
    params = {**BASE, "solver": "sgd", "batch_size": 500, "learning_rate_init": 0.05}
    ours_cls, ref_cls = PAIRS[TASK_KIND[task]]
    ours, ref = ours_cls(**params), ref_cls(**params)
    for est in (ours, ref):
        with pytest.warns(UserWarning, match="batch_size"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            est.fit(X, y)
    assert_same_model(ours, ref, X, what="batch_size > n_samples")


# --------------------------------------------------------------------------
# partial_fit and warm_start
# --------------------------------------------------------------------------

PARTIAL_FIT_CASES = [
    pytest.param(
        "multiclass", dict(solver="sgd", learning_rate_init=0.05), id="sgd-multiclass"
    ),
    pytest.param(
        "binary", dict(solver="adam", learning_rate_init=0.01), id="adam-binary"
    ),
    pytest.param(
        "multilabel", dict(solver="adam", learning_rate_init=0.01), id="adam-multilabel"
    ),
    pytest.param(
        "multiclass",
        dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5),
        id="sgd-invscaling-multiclass",
    ),
    pytest.param(
        "regression", dict(solver="sgd", learning_rate_init=0.01), id="sgd-regression"
    ),
    pytest.param(
        "multi-regression",
        dict(solver="adam", learning_rate_init=0.01),
        id="adam-multi-regression",
    ),
]


def _chunks(n, parts=3):
    edges = np.linspace(0, n, parts + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


@pytest.mark.parametrize(("task", "params"), PARTIAL_FIT_CASES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_partial_fit_sequence_matches_sklearn(task, params, weighted):
    """Three calls on consecutive chunks, then two more on all the data."""
    X, y = make_data(task)
    sw = sample_weights(len(y)) if weighted else None
    ours_cls, ref_cls = PAIRS[TASK_KIND[task]]
    ours = ours_cls(**{**BASE, **params})
    ref = ref_cls(**{**BASE, **params})
    first = {}
    if task == "multilabel":  # required, though the labels come from y
        first = {"classes": np.arange(y.shape[1])}
    elif TASK_KIND[task] == "classifier":
        first = {"classes": np.unique(y)}
    calls = [(part, first if i == 0 else {}) for i, part in enumerate(_chunks(len(y)))]
    calls += [(slice(None), {}), (slice(None), {})]
    for i, (rows, extra) in enumerate(calls):
        kw = dict(extra)
        if sw is not None:
            kw["sample_weight"] = sw[rows]
        assert not call_recording(ours.partial_fit, X[rows], y[rows], **kw), (
            "partial_fit must not warn about convergence"
        )
        call_recording(ref.partial_fit, X[rows], y[rows], **kw)
        assert_same_model(ours, ref, X, what=f"after partial_fit call {i + 1}")
    assert len(ours.loss_curve_) == len(calls), "one loss per partial_fit call"


@pytest.mark.parametrize(("task", "params"), PARTIAL_FIT_CASES[:3])
def test_partial_fit_after_fit_continues_the_optimizer_as_sklearn(task, params):
    X, y = make_data(task)
    ours, ref = fit_both(task, {**BASE, **params, "max_iter": 3}, X, y)
    for i in range(2):
        rows = slice(40 * i, 40 * i + 90)
        ours.partial_fit(X[rows], y[rows])
        ref.partial_fit(X[rows], y[rows])
        assert_same_model(ours, ref, X, what=f"fit then partial_fit call {i + 1}")


@pytest.mark.parametrize(
    ("task", "params"),
    [
        ("multiclass", dict(solver="sgd", learning_rate_init=0.05)),
        ("binary", dict(solver="adam", learning_rate_init=0.01)),
        (
            "regression",
            dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
        ),
        ("multi-regression", dict(solver="adam", learning_rate_init=0.01)),
        ("multiclass", dict(solver="lbfgs", max_iter=10)),
        ("regression", dict(solver="lbfgs", max_iter=10)),
    ],
    ids=[
        "sgd-multiclass",
        "adam-binary",
        "sgd-invscaling-regression",
        "adam-multi-regression",
        "lbfgs-multiclass",
        "lbfgs-regression",
    ],
)
def test_warm_start_matches_sklearn(task, params):
    """fit, then fit again from the previous weights (the curves accumulate)."""
    X, y = make_data(task)
    params = {**BASE, "max_iter": 3, **params, "warm_start": True}
    ours, ref = fit_both(task, params, X, y)
    lbfgs = params["solver"] == "lbfgs"
    tolerances = dict(rtol=RTOL_LBFGS, atol=ATOL_LBFGS) if lbfgs else {}
    assert_same_model(ours, ref, X, what="first warm_start fit", **tolerances)
    for est in (ours, ref):
        est.set_params(max_iter=4)
    ours_warned = call_recording(ours.fit, X, y)
    ref_warned = call_recording(ref.fit, X, y)
    assert bool(ours_warned) == bool(ref_warned), "ConvergenceWarning differs"
    assert_same_model(ours, ref, X, what="second warm_start fit", **tolerances)
    if not lbfgs:
        assert len(ours.loss_curve_) == 7, "the loss curve must accumulate"
