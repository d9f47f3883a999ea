"""The public API of ``MLPClassifier`` / ``MLPRegressor``.

scikit-learn's estimator contract (``parametrize_with_checks``) on four
configurations of each (Adam, SGD, L-BFGS, AdamW); bad input; divergence;
float32 and CSR input; thread-count independence; fitted attributes (the
same set scikit-learn sets, per solver); meta-estimators.

The estimator checks use ``learning_rate_init=0.01`` for the stochastic
solvers: with scikit-learn's default 0.001, ``hidden_layer_sizes=(5,)`` and
``max_iter=100``, scikit-learn's own MLPClassifier/MLPRegressor fail
``check_classifiers_train`` / ``check_regressors_train`` (accuracy / R²
thresholds) as well; L-BFGS gets ``max_iter=20``. Their small ``max_iter``
makes most checks end at ``max_iter``; the ``ConvergenceWarning`` (which this
suite otherwise turns into an error) is ignored inside the checks, and only
that warning.
"""

import pickle
import re
import warnings
from functools import partial

import numba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from datasets import classification, regression
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info

from fastsgd import MLPClassifier, MLPRegressor, _mlp_trainer
from fastsgd._trainer import DivergenceError

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


_classification = partial(classification, n_samples=120, n_features=6, n_informative=4)


_regression = partial(regression, n_samples=120, n_features=6)


X2, Y2 = _classification(2)
X3, Y3 = _classification(3)
XR, YR = _regression()
YML = np.column_stack([Y3 == 0, Y3 == 1, X3[:, 0] > 0]).astype(int)  # multilabel

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=32, random_state=0)


# --------------------------------------------------------------------------
# scikit-learn's estimator checks
# --------------------------------------------------------------------------


def _check_configurations(cls):
    small = dict(hidden_layer_sizes=(5,), max_iter=100, random_state=0)
    return [
        cls(**small, learning_rate_init=0.01),
        cls(**small, solver="sgd", learning_rate_init=0.01),
        cls(**{**small, "max_iter": 20}, solver="lbfgs"),
        cls(**small, solver="adamw", learning_rate_init=0.01),
    ]


@parametrize_with_checks(
    _check_configurations(MLPClassifier) + _check_configurations(MLPRegressor)
)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        check(estimator)


def test_params_are_sklearns_plus_the_new_ones():
    for ours, theirs in (
        (MLPClassifier(), SkMLPClassifier()),
        (MLPRegressor(), SkMLPRegressor()),
    ):
        our_params, their_params = ours.get_params(), theirs.get_params()
        new = {"weight_decay", "n_jobs", "device"}
        assert set(our_params) == set(their_params) | new, (
            f"{type(ours).__name__}: parameters differ from scikit-learn's"
        )
        for name, value in their_params.items():
            assert our_params[name] == value, (
                f"{type(ours).__name__}: default {name}={our_params[name]!r}, "
                f"scikit-learn's is {value!r}"
            )
        assert our_params["weight_decay"] == 0.01, "torch.optim.AdamW's default"
        assert our_params["n_jobs"] is None
        assert our_params["device"] == "cpu"


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

ESTIMATORS = [
    pytest.param(lambda **kw: MLPClassifier(**{**FAST, **kw}), X3, Y3, id="clf"),
    pytest.param(lambda **kw: MLPRegressor(**{**FAST, **kw}), XR, YR, id="reg"),
]


def _partial_fit_kwargs(est, y):
    return {"classes": np.unique(y)} if isinstance(est, MLPClassifier) else {}


@ignore_convergence
@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
        (-np.inf, "Input X contains infinity"),
    ],
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_non_finite_X_raises(make, X, y, bad, message, sparse):
    X_bad = X.copy()
    X_bad[3, 1] = bad
    if sparse:
        X_bad = sp.csr_matrix(X_bad)
    with pytest.raises(ValueError, match=message):
        make().fit(X_bad, y)
    est = make(solver="sgd")
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X_bad, y, **_partial_fit_kwargs(est, y))
    fitted = make().fit(X, y)
    with pytest.raises(ValueError, match=message):
        fitted.predict(X_bad)


@ignore_convergence
@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
def test_wrong_number_of_features_at_predict_raises(make, X, y):
    est = make().fit(X, y)
    methods = [est.predict]
    if isinstance(est, MLPClassifier):
        methods += [est.predict_proba, est.predict_log_proba]
    for method in methods:
        with pytest.raises(
            ValueError, match=r"X has 5 features, but \w+ is expecting 6"
        ):
            method(X[:, :5])


@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
def test_not_fitted_raises(make, X, y):
    est = make()
    methods = [est.predict, lambda X: est.score(X, y)]
    if isinstance(est, MLPClassifier):
        methods += [est.predict_proba, est.predict_log_proba]
    for method in methods:
        with pytest.raises(NotFittedError):
            method(X)


@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
@pytest.mark.parametrize("sizes", [(5, 0), (0,), (4, -1), 0, -3], ids=str)
def test_non_positive_hidden_layer_sizes_raise(make, X, y, sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        make(hidden_layer_sizes=sizes).fit(X, y)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (dict(solver="rmsprop"), "solver"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(activation="softmax"), "activation"),
        (dict(learning_rate="optimal"), "learning_rate"),
        (dict(n_jobs=1.5), "n_jobs"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else v,
)
def test_invalid_parameters_raise(params, error):
    for cls, X, y in ((MLPClassifier, X2, Y2), (MLPRegressor, XR, YR)):
        with pytest.raises(InvalidParameterError, match=f"'{error}' parameter"):
            cls(**{**FAST, **params}).fit(X, y)


@ignore_convergence
def test_one_class_is_fitted_as_scikit_learn_does():
    """A single class: scikit-learn fits a logistic output and predicts that class."""
    y = np.full(X2.shape[0], 7)
    ours = MLPClassifier(**FAST).fit(X2, y)
    ref = SkMLPClassifier(**FAST).fit(X2, y)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    assert ours.out_activation_ == ref.out_activation_
    np.testing.assert_array_equal(ours.predict(X2), ref.predict(X2))
    np.testing.assert_allclose(
        ours.predict_proba(X2),
        ref.predict_proba(X2),
        rtol=1e-9,
        err_msg="one-class predict_proba differs from scikit-learn's",
    )


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_partial_fit_with_lbfgs_is_unavailable(cls):
    est = cls(solver="lbfgs")
    assert not hasattr(est, "partial_fit"), "lbfgs must hide partial_fit"
    with pytest.raises(AttributeError, match="partial_fit"):
        est.partial_fit(XR, YR)
    assert hasattr(clone(est).set_params(solver="sgd"), "partial_fit")


@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
def test_partial_fit_with_early_stopping_raises(make, X, y):
    est = make(solver="adam", early_stopping=True)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        est.partial_fit(X, y, **_partial_fit_kwargs(est, y))


def test_poisson_with_negative_y_raises():
    """A deliberate difference: scikit-learn 1.9 fits negative counts silently."""
    y = YR.copy()
    y[5] = -0.5
    for solver in ("adam", "lbfgs"):
        with pytest.raises(ValueError, match="negative .* loss='poisson'"):
            MLPRegressor(loss="poisson", solver=solver, **FAST).fit(XR, y)
    est = MLPRegressor(loss="poisson", solver="sgd", **FAST)
    with pytest.raises(ValueError, match="negative .* loss='poisson'"):
        est.partial_fit(XR, y)


def test_partial_fit_class_mismatches_raise():
    est = MLPClassifier(**FAST)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X3, Y3)
    est.partial_fit(X3[Y3 < 2], Y3[Y3 < 2], classes=[0, 1])
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        est.partial_fit(X3, Y3)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        est.partial_fit(X3, Y3, classes=[0, 1, 2])
    # a subset of the classes is fine
    est.partial_fit(X3[Y3 == 1], Y3[Y3 == 1])
    np.testing.assert_array_equal(est.classes_, [0, 1])


@ignore_convergence
def test_warm_start_with_other_classes_or_layers_raises():
    est = MLPClassifier(warm_start=True, **FAST).fit(X3, Y3)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has"):
        est.fit(X3[Y3 < 2], Y3[Y3 < 2])
    est.set_params(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="layer sizes"):
        est.fit(X3, Y3)


@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
def test_too_small_validation_set_raises(make, X, y):
    est = make(early_stopping=True, validation_fraction=0.01)
    with pytest.raises(ValueError, match="validation set is too small"):
        est.fit(X[:20], y[:20])


@pytest.mark.parametrize(("make", "X", "y"), ESTIMATORS)
def test_bad_sample_weight_raises(make, X, y):
    with pytest.raises(ValueError, match="sample_weight.shape"):
        make().fit(X, y, sample_weight=np.ones(len(y) - 1))
    with pytest.raises(ValueError, match="sample_weight"):
        make().fit(X, y, sample_weight=np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="total sample weight is zero"):
        make().fit(X, y, sample_weight=np.zeros(len(y)))
    # a deliberate difference: scikit-learn 1.9's MLPs accept negative weights
    negative = np.ones(len(y))
    negative[3] = -1.0
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        make().fit(X, y, sample_weight=negative)


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_divergence_raises_and_keeps_the_last_finite_weights(momentum):
    """A huge rate on unscaled data: a ValueError naming the epoch and the rate.

    The estimator keeps the weights of the last finite epoch
    (``DivergenceError``'s contract): ``coefs_`` exist and are finite.
    """
    est = MLPRegressor(
        solver="sgd",
        learning_rate_init=10.0,
        momentum=momentum,
        max_iter=20,
        hidden_layer_sizes=(8,),
        random_state=0,
    )
    with pytest.raises(ValueError) as info:
        est.fit(XR * 1e3, YR * 1e3)
    error = info.value
    assert isinstance(error, DivergenceError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert re.search(r"epoch \d+", message), f"no epoch in {message!r}"
    assert "learning_rate_init" in message and "10" in message, message
    epoch = int(re.search(r"epoch (\d+)", message).group(1))
    assert len(est.loss_curve_) == epoch - 1, (
        f"{len(est.loss_curve_)} finite epoch losses before divergence at {epoch}"
    )
    assert np.all(np.isfinite(est.loss_curve_)), est.loss_curve_
    assert hasattr(est, "coefs_"), "no coefs_ after divergence"
    assert [c.shape for c in est.coefs_] == [(6, 8), (8, 1)]
    for i, c in enumerate(est.coefs_ + est.intercepts_):
        assert np.all(np.isfinite(c)), f"parameter array {i} is not finite"


# --------------------------------------------------------------------------
# float32, CSR, threads
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "lbfgs"])
@pytest.mark.parametrize(
    ("cls", "X", "y"),
    [(MLPClassifier, X3, Y3), (MLPRegressor, XR, YR)],
    ids=["clf", "reg"],
)
def test_float32_trains_in_float32_close_to_float64(solver, cls, X, y):
    params = {**FAST, "solver": solver, "learning_rate_init": 0.01}
    if solver == "lbfgs":
        params["max_iter"] = 10
    fit64 = cls(**params).fit(X, y)
    fit32 = cls(**params).fit(X.astype(np.float32), y)
    for i, (c32, c64) in enumerate(
        zip(
            fit32.coefs_ + fit32.intercepts_,
            fit64.coefs_ + fit64.intercepts_,
            strict=True,
        )
    ):
        assert c32.dtype == np.float32, f"parameter {i} is {c32.dtype}"
        np.testing.assert_allclose(
            c32,
            c64,
            rtol=1e-3,
            atol=1e-4,
            err_msg=f"float32 parameter {i} far from float64",
        )
    X32 = X.astype(np.float32)
    if cls is MLPClassifier:
        proba = fit32.predict_proba(X32)
        assert proba.dtype == np.float32, proba.dtype
        np.testing.assert_allclose(proba, fit64.predict_proba(X), rtol=1e-3, atol=1e-4)
    else:
        prediction = fit32.predict(X32)
        assert prediction.dtype == np.float32, prediction.dtype
        np.testing.assert_allclose(prediction, fit64.predict(X), rtol=1e-3, atol=1e-4)


@ignore_convergence
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw", "lbfgs"])
@pytest.mark.parametrize(
    ("cls", "X", "y"),
    [(MLPClassifier, X3, Y3), (MLPRegressor, XR, YR)],
    ids=["clf", "reg"],
)
def test_csr_and_dense_give_the_same_model(solver, cls, X, y):
    Xs = X.copy()
    Xs[np.random.RandomState(0).rand(*X.shape) < 0.4] = 0.0
    params = {
        **FAST,
        "solver": solver,
        "learning_rate_init": 0.01,
        "max_iter": 10 if solver == "lbfgs" else 5,
    }
    dense = cls(**params).fit(Xs, y)
    sparse = cls(**params).fit(sp.csr_matrix(Xs), y)
    for i, (a, b) in enumerate(
        zip(
            sparse.coefs_ + sparse.intercepts_,
            dense.coefs_ + dense.intercepts_,
            strict=True,
        )
    ):
        np.testing.assert_allclose(
            a, b, rtol=1e-9, atol=1e-12, err_msg=f"CSR parameter {i} differs from dense"
        )
    np.testing.assert_allclose(
        sparse.predict(sp.csr_matrix(Xs))
        if cls is MLPRegressor
        else sparse.predict_proba(sp.csr_matrix(Xs)),
        dense.predict(Xs) if cls is MLPRegressor else dense.predict_proba(Xs),
        rtol=1e-9,
        atol=1e-12,
        err_msg="CSR predictions differ from dense",
    )


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _strided_column(y):
    """``y`` as a non-contiguous column view (as ``data[:, -1]`` would be)."""
    return np.column_stack([y, y])[:, 0]


def _compiled_signatures():
    """Every (kernel, argument types) the MLP's CPU kernels were compiled for."""
    return [
        (name, *sig)
        for name, kernel in _mlp_trainer.cpu_mlp._VARIANTS.items()
        for sig in kernel.signatures
    ]


@ignore_convergence
@pytest.mark.parametrize(
    ("cls", "make_X", "make_y", "odd_type"),
    [
        (MLPClassifier, _read_only, lambda y: y, "readonly"),
        (MLPRegressor, _read_only, lambda y: y, "readonly"),
        (MLPRegressor, lambda X: X, _strided_column, "2d, A"),
    ],
    ids=["read-only-X-clf", "read-only-X-reg", "strided-y"],
)
def test_input_layouts_reuse_the_compiled_kernel(cls, make_X, make_y, odd_type):
    """Unusual but valid input layouts train on the already compiled kernel.

    A read-only X (a memmap, joblib's shared arrays) or a strided y (a column
    of a bigger array) must not be a new kernel argument type: Numba compiles
    the MLP's kernels again for each new type (seconds each, per dtype).
    """
    X, y = (X3, Y3) if cls is MLPClassifier else (XR, YR)
    params = {**FAST, "solver": "adam"}
    cls(**params).fit(X, y).predict(X)  # the usual layout: compiled once
    before = _compiled_signatures()
    est = cls(**params).fit(make_X(X), make_y(y))
    est.predict(make_X(X))
    new = [
        [str(arg) for arg in sig] for sig in _compiled_signatures() if sig not in before
    ]
    assert not new, (
        f"the {odd_type!r} layout compiled {len(new)} new kernel specialization(s): "
        f"{new}"
    )
    np.testing.assert_array_equal(
        est.predict(X),
        cls(**params).fit(X, y).predict(X),
        err_msg="the odd layout trains another model",
    )


# Big enough for the kernel's threads: batches of 300 rows are cut into row
# parts (of 100 rows) and do over 2**20 multiply-adds in their forward pass
# (below that, or with a single row part, the kernel runs on one thread
# whatever n_jobs says). Batches of 64 rows stay on one thread.
X_PAR, Y_PAR = _classification(4, n_samples=600, n_features=12, seed=1)
PAR = dict(hidden_layer_sizes=(64, 48), random_state=0, learning_rate_init=0.01)
TWO_THREADS = numba.config.NUMBA_NUM_THREADS >= 2


def _blas_threads():
    return max(
        (
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ),
        default=1,
    )


def _fit_spying_on_threads(est, X, y, monkeypatch, blas=False):
    """Fit and predict; return the Numba (and BLAS) threads of each kernel call."""
    seen = []

    def spy_on(kernel):
        def spy(*args):
            seen.append((numba.get_num_threads(), _blas_threads() if blas else None))
            return kernel(*args)

        return spy

    with monkeypatch.context() as patch:
        for name in ("mlp_train_epoch", "mlp_objective", "mlp_forward"):
            kernel = getattr(_mlp_trainer.cpu_mlp, name)
            patch.setattr(_mlp_trainer.cpu_mlp, name, spy_on(kernel))
        est.fit(X, y)
        est.predict(X)
    assert seen, "the kernel was never called"
    return seen


def _assert_same_parameters(a, b, what):
    for i, (x, z) in enumerate(
        zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True)
    ):
        assert np.array_equal(x, z), f"{what} changes parameter array {i}"


@ignore_convergence
@pytest.mark.parametrize("batch_size", [64, 300])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_n_jobs_gives_bitwise_identical_models(solver, batch_size, monkeypatch):
    fits, threads = [], []
    for n_jobs in (1, 2):
        est = MLPClassifier(
            **PAR, solver=solver, max_iter=2, batch_size=batch_size, n_jobs=n_jobs
        )
        threads.append(_fit_spying_on_threads(est, X_PAR, Y_PAR, monkeypatch))
        fits.append(est)
    if batch_size == 300 and TWO_THREADS:
        assert any(t == 2 for t, _ in threads[1]), (
            "test set-up: n_jobs=2 never ran the kernel on two threads"
        )
    _assert_same_parameters(fits[0], fits[1], "n_jobs=2")
    assert fits[0].loss_curve_ == fits[1].loss_curve_, "n_jobs changes the loss"
    assert np.array_equal(fits[0].predict_proba(X_PAR), fits[1].predict_proba(X_PAR))


@ignore_convergence
def test_n_jobs_gives_identical_lbfgs_models(monkeypatch):
    fits, threads = [], []
    for n_jobs in (1, 2):
        est = MLPRegressor(**PAR, solver="lbfgs", max_iter=5, n_jobs=n_jobs)
        threads.append(
            _fit_spying_on_threads(est, X_PAR, Y_PAR.astype(float), monkeypatch)
        )
        fits.append(est)
    if TWO_THREADS:
        assert any(t == 2 for t, _ in threads[1]), (
            "test set-up: n_jobs=2 never ran the L-BFGS objective on two threads"
        )
    _assert_same_parameters(fits[0], fits[1], "n_jobs=2 (lbfgs)")
    assert fits[0].loss_ == fits[1].loss_, "n_jobs changes the lbfgs loss"


@ignore_convergence
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_parallel_and_serial_kernel_variants_give_identical_models(solver, monkeypatch):
    """The parallel variant (prange over row parts) computes what the serial one does.

    Regression: Numba's parfor pass hoisted the read of the batch's first
    sample weight above the parallel loop that writes it, so the parallel
    variant normalised every batch by a stale weight sum.
    """
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.2, 3.0, len(Y_PAR))
    fits = []
    for threshold in (1 << 62, 0):  # never parallel, then always (batches > ROWS)
        monkeypatch.setattr(_mlp_trainer.cpu_mlp, "PARALLEL_WORK", threshold)
        est = MLPClassifier(**PAR, solver=solver, max_iter=2, batch_size=300)
        fits.append(est.fit(X_PAR, Y_PAR, sample_weight=weights))
    _assert_same_parameters(fits[0], fits[1], "the parallel variant")
    assert fits[0].loss_ == fits[1].loss_


@ignore_convergence
@pytest.mark.skipif(not TWO_THREADS, reason="needs 2 Numba threads to tell")
@pytest.mark.parametrize("n_jobs", [1, None])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_kernel_runs_on_n_jobs_threads_with_blas_pinned(solver, n_jobs, monkeypatch):
    """Every kernel call (training, L-BFGS objective, predicting) honours n_jobs.

    The kernel calls BLAS inside its parallel loops, so BLAS is pinned to one
    thread meanwhile, whatever ``n_jobs`` (``_mlp_trainer._Compute``).
    """
    est = MLPClassifier(**PAR, solver=solver, batch_size=300, max_iter=3, n_jobs=n_jobs)
    seen = _fit_spying_on_threads(est, X_PAR, Y_PAR, monkeypatch, blas=True)
    wrong = sorted({s for s in seen if s[1] != 1 or (n_jobs == 1 and s[0] != 1)})
    assert not wrong, (
        f"solver={solver!r}, n_jobs={n_jobs}: kernel calls ran with "
        f"(Numba threads, BLAS threads) in {wrong}"
    )


# --------------------------------------------------------------------------
# Probabilities, attributes, solvers' parameters
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize(
    ("X", "y", "n_columns"),
    [(X2, Y2, 2), (X3, Y3, 3), (X3, YML, 3)],
    ids=["binary", "multiclass", "multilabel"],
)
def test_predict_log_proba_is_log_of_predict_proba(X, y, n_columns):
    est = MLPClassifier(**FAST).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), n_columns), proba.shape
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-12)
    if y.ndim == 1:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(1)])
    else:
        np.testing.assert_array_equal(est.predict(X), (proba > 0.5).astype(int))


def _public_fitted_attributes(est):
    return {
        name for name in vars(est) if name.endswith("_") and not name.startswith("_")
    }


ATTRIBUTE_CASES = [
    pytest.param(dict(solver="sgd"), id="sgd"),
    pytest.param(dict(solver="adam"), id="adam"),
    pytest.param(dict(solver="adam", early_stopping=True), id="adam-early-stopping"),
    pytest.param(dict(solver="lbfgs"), id="lbfgs"),
]


@ignore_convergence
@pytest.mark.parametrize("params", ATTRIBUTE_CASES)
@pytest.mark.parametrize(
    ("ours_cls", "ref_cls", "X", "y"),
    [(MLPClassifier, SkMLPClassifier, X3, Y3), (MLPRegressor, SkMLPRegressor, XR, YR)],
    ids=["clf", "reg"],
)
def test_fitted_attributes_are_sklearns(params, ours_cls, ref_cls, X, y):
    ours = ours_cls(**FAST, **params).fit(X, y)
    ref = ref_cls(**FAST, **params).fit(X, y)
    ours_set, ref_set = _public_fitted_attributes(ours), _public_fitted_attributes(ref)
    assert ours.device_ == "cpu"
    ours_set.discard("device_")  # where the model was trained (fastsgd's own)
    assert ours_set == ref_set, (
        f"fitted attributes differ: only ours {ours_set - ref_set}, "
        f"only scikit-learn's {ref_set - ours_set}"
    )
    if params["solver"] == "adam":  # adamw sets what adam sets
        adamw = ours_cls(**FAST, **{**params, "solver": "adamw"}).fit(X, y)
        assert _public_fitted_attributes(adamw) - {"device_"} == ref_set, (
            "adamw's attributes"
        )


@ignore_convergence
@pytest.mark.parametrize("early_stopping", [False, True])
def test_fitted_attribute_values(early_stopping):
    est = MLPClassifier(
        **{**FAST, "hidden_layer_sizes": (7, 5), "max_iter": 4},
        early_stopping=early_stopping,
    ).fit(X3, Y3)
    n_train = len(Y3) - (int(np.ceil(0.1 * len(Y3))) if early_stopping else 0)
    assert est.n_iter_ == 4 and len(est.loss_curve_) == 4, est.n_iter_
    assert est.t_ == 4 * n_train, f"t_ {est.t_} != 4 epochs x {n_train} samples"
    assert est.loss_ == est.loss_curve_[-1]
    assert est.n_layers_ == 4 and est.n_outputs_ == 3
    assert est.out_activation_ == "softmax"
    assert est.n_features_in_ == 6
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert [c.shape for c in est.coefs_] == [(6, 7), (7, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(7,), (5,), (3,)]
    if early_stopping:
        assert est.best_loss_ is None
        assert len(est.validation_scores_) == 4
        assert est.best_validation_score_ == max(est.validation_scores_)
    else:
        assert est.best_loss_ == min(est.loss_curve_)
        assert est.validation_scores_ is None and est.best_validation_score_ is None
    reg = MLPRegressor(**FAST, loss="poisson").fit(XR, np.abs(YR))
    assert reg.out_activation_ == "exp" and reg.n_outputs_ == 1
    assert MLPRegressor(**FAST).fit(XR, YR).out_activation_ == "identity"
    assert MLPClassifier(**FAST).fit(X2, Y2).out_activation_ == "logistic"
    assert MLPClassifier(**FAST).fit(X3, YML).out_activation_ == "logistic"


@ignore_convergence
def test_feature_names_in_with_dataframe():
    columns = [f"f{i}" for i in range(X3.shape[1])]
    df = pd.DataFrame(X3, columns=columns)
    est = MLPClassifier(**FAST).fit(df, Y3)
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    assert not hasattr(MLPClassifier(**FAST).fit(X3, Y3), "feature_names_in_")
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = est.predict(X3)  # scikit-learn's warning, as for its estimators
    np.testing.assert_array_equal(est.predict(df), from_array)


@ignore_convergence
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_weight_decay_only_affects_adamw(solver):
    params = {**FAST, "solver": solver}
    a = MLPRegressor(**params).fit(XR, YR)
    b = MLPRegressor(**params, weight_decay=0.7).fit(XR, YR)
    for i, (x, z) in enumerate(
        zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True)
    ):
        assert np.array_equal(x, z), f"weight_decay changed {solver} parameter {i}"
    c = MLPRegressor(**{**params, "solver": "adamw"}).fit(XR, YR)
    d = MLPRegressor(**{**params, "solver": "adamw"}, weight_decay=0.7).fit(XR, YR)
    assert not np.allclose(c.coefs_[0], d.coefs_[0]), "adamw ignores weight_decay"


@ignore_convergence
@pytest.mark.parametrize("solver", ["adam", "adamw", "sgd"])
def test_pickle_mid_training_continues_identically(solver):
    est = MLPClassifier(**{**FAST, "solver": solver})
    est.partial_fit(X3[:60], Y3[:60], classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(est))
    for model in (est, copy):
        model.partial_fit(X3[60:], Y3[60:])
        model.partial_fit(X3, Y3)
    for i, (a, b) in enumerate(
        zip(est.coefs_ + est.intercepts_, copy.coefs_ + copy.intercepts_, strict=True)
    ):
        assert np.array_equal(a, b), f"unpickled model trains differently ({i})"


# --------------------------------------------------------------------------
# Meta-estimators
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_pipeline_with_standard_scaler_equals_manual_scaling(solver):
    X = XR * np.array([1.0, 10.0, 100.0, 0.1, 1.0, 5.0]) + 3.0
    params = {**FAST, "solver": solver}
    pipe = make_pipeline(StandardScaler(), MLPRegressor(**params)).fit(X, YR)
    scaler = StandardScaler().fit(X)
    manual = MLPRegressor(**params).fit(scaler.transform(X), YR)
    np.testing.assert_array_equal(pipe[-1].coefs_[0], manual.coefs_[0])
    np.testing.assert_array_equal(pipe.predict(X), manual.predict(scaler.transform(X)))


@ignore_convergence
def test_grid_search_matches_cross_val_score():
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(4,), (8, 4)]}
    cv = KFold(3, shuffle=True, random_state=0)
    base = MLPClassifier(**{**FAST, "solver": "adamw"})
    search = GridSearchCV(base, grid, cv=cv).fit(X3, Y3)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"])), (
        "some grid-search fits failed"
    )
    for params, score in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        expected = cross_val_score(clone(base).set_params(**params), X3, Y3, cv=cv)
        assert score == pytest.approx(expected.mean()), f"{params}: {score}"
    assert (
        search.best_estimator_.hidden_layer_sizes
        == search.best_params_["hidden_layer_sizes"]
    )


@pytest.mark.parametrize(
    "y",
    [
        np.arange(40) % 10,  # multiclass
        np.arange(40) % 2,  # binary: one column
        np.array(["b", "a", "c", "a"] * 5),  # strings
        np.array([-1.0, 1.0, 1.0, -1.0] * 5),  # float labels
        np.array([3, 3, 3, 3]),  # a single class: the binarizer's own path
    ],
    ids=["multiclass", "binary", "strings", "floats", "one-class"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_targets_are_scikit_learns_label_binarizer(y, dtype):
    """The one-hot targets the classifier trains on (``_binarize``, which encodes
    1-D labels itself) are ``LabelBinarizer.transform`` exactly, unseen labels
    (all-zero rows in scikit-learn) included."""
    from sklearn.preprocessing import LabelBinarizer

    from fastsgd.neural_network import _binarize

    binarizer = LabelBinarizer().fit(y)
    for labels in (y, y[::-1][:7]):
        expected = binarizer.transform(labels).astype(dtype)
        got = _binarize(binarizer, labels, dtype)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    wider = LabelBinarizer().fit(np.unique(y)[:-1] if len(np.unique(y)) > 2 else y)
    np.testing.assert_array_equal(
        _binarize(wider, y, dtype), wider.transform(y).astype(dtype)
    )
