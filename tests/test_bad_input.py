"""Bad input and bad settings raise clear, scikit-learn-style errors.

Every test asserts the exception type and a message fragment that names the
problem. Where scikit-learn raises for the same input, the fragment is the
one scikit-learn uses, so a user sees the same error from either package.
"""

import re

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from fastsgd import SGDClassifier, SGDRegressor

RNG = np.random.RandomState(0)
X = RNG.randn(12, 3)
Y_CLS = np.array([0, 1] * 6)
Y_REG = X @ np.array([1.0, -2.0, 0.5]) + 0.1

# Fast settings: small, deterministic, no ConvergenceWarning (tol=None).
FAST = dict(max_iter=5, tol=None, random_state=0)

CLASSIFIERS = {
    "per-sample": lambda **kw: SGDClassifier(**{**FAST, **kw}),
    "mini-batch": lambda **kw: SGDClassifier(
        **{**FAST, "batch_size": 4, "momentum": 0.9, **kw}
    ),
}
REGRESSORS = {
    "per-sample": lambda **kw: SGDRegressor(**{**FAST, **kw}),
    "mini-batch": lambda **kw: SGDRegressor(
        **{**FAST, "batch_size": 4, "momentum": 0.9, **kw}
    ),
}


ESTIMATORS = [
    pytest.param(lambda: CLASSIFIERS["per-sample"](), Y_CLS, id="clf"),
    pytest.param(lambda: REGRESSORS["per-sample"](), Y_REG, id="reg"),
    pytest.param(lambda: CLASSIFIERS["mini-batch"](), Y_CLS, id="clf-minibatch"),
    pytest.param(lambda: REGRESSORS["mini-batch"](), Y_REG, id="reg-minibatch"),
]


# --------------------------------------------------------------------------
# Non-finite values
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.nan, "Input X contains NaN"),
        (np.inf, "Input X contains infinity"),
        (-np.inf, "Input X contains infinity"),
    ],
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_non_finite_X_raises(make, y, bad, message, sparse):
    X_bad = X.copy()
    X_bad[3, 1] = bad
    if sparse:
        X_bad = sp.csr_matrix(X_bad)
    with pytest.raises(ValueError, match=message):
        make().fit(X_bad, y)
    with pytest.raises(ValueError, match=message):
        est = make()
        kw = {"classes": np.unique(y)} if isinstance(est, SGDClassifier) else {}
        est.partial_fit(X_bad, y, **kw)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_non_finite_X_at_predict_raises(make, y):
    est = make().fit(X, y)
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(X_bad)


@pytest.mark.parametrize("make", REGRESSORS.values(), ids=REGRESSORS.keys())
@pytest.mark.parametrize(
    ("bad", "message"),
    [(np.nan, "Input y contains NaN"), (np.inf, "Input y contains infinity")],
)
def test_non_finite_y_raises_regressor(make, bad, message):
    y_bad = Y_REG.copy()
    y_bad[2] = bad
    with pytest.raises(ValueError, match=message):
        make().fit(X, y_bad)
    with pytest.raises(ValueError, match=message):
        make().partial_fit(X, y_bad)


def test_nan_label_raises_classifier():
    y_bad = Y_CLS.astype(float)
    y_bad[2] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        SGDClassifier(**FAST).fit(X, y_bad)


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_1d_X_raises(make, y):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        make().fit(X[:, 0], y)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_3d_X_raises(make, y):
    with pytest.raises(ValueError, match="Found array with dim 3"):
        make().fit(X.reshape(12, 3, 1), y)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_y_length_mismatch_raises(make, y):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make().fit(X, y[:-1])


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_zero_samples_raises(make, y):
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        make().fit(X[:0], y[:0])


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_one_sample_classifier_raises(make):
    with pytest.raises(
        ValueError, match="number of classes has to be greater than one"
    ):
        make().fit(X[:1], Y_CLS[:1])


@pytest.mark.parametrize("make", REGRESSORS.values(), ids=REGRESSORS.keys())
def test_one_sample_regressor_with_early_stopping_raises(make):
    # scikit-learn's ShuffleSplit message, as scikit-learn's SGDRegressor raises
    with pytest.raises(ValueError, match="train set will be empty"):
        make(early_stopping=True).fit(X[:1], Y_REG[:1])


@pytest.mark.parametrize("make", REGRESSORS.values(), ids=REGRESSORS.keys())
def test_one_sample_regressor_fits_like_sklearn(make):
    """scikit-learn's SGDRegressor accepts one sample; so must fastsgd."""
    est = make().fit(X[:1], Y_REG[:1])
    assert np.all(np.isfinite(est.coef_)) and est.coef_.shape == (3,)
    assert est.n_iter_ == 5
    if est.batch_size == 1 and est.momentum == 0:
        from sklearn.linear_model import SGDRegressor as SkSGDRegressor

        ref = SkSGDRegressor(**FAST).fit(X[:1], Y_REG[:1])
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-9)
        np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-9)


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_single_class_raises(make):
    with pytest.raises(ValueError, match="got 1 class"):
        make().fit(X, np.zeros(12, dtype=int))


def test_partial_fit_single_class_in_classes_raises():
    with pytest.raises(
        ValueError, match="number of classes has to be greater than one"
    ):
        SGDClassifier(**FAST).partial_fit(X, np.zeros(12), classes=[0])


def test_continuous_target_for_classifier_raises():
    with pytest.raises(ValueError, match="Unknown label type"):
        SGDClassifier(**FAST).fit(X, Y_REG)


# --------------------------------------------------------------------------
# Sample weights
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_sample_weight_length_mismatch_raises(make, y):
    with pytest.raises(ValueError, match=re.escape("sample_weight.shape == (11,)")):
        make().fit(X, y, sample_weight=np.ones(11))


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_negative_sample_weight_raises(make, y):
    sw = np.ones(12)
    sw[4] = -0.5
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        make().fit(X, y, sample_weight=sw)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_sample_weight_raises(make, y, bad):
    sw = np.ones(12)
    sw[4] = bad
    with pytest.raises(ValueError, match="sample_weight"):
        make().fit(X, y, sample_weight=sw)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_all_zero_sample_weight_raises(make, y):
    with pytest.raises(ValueError, match="sample weight is zero"):
        make().fit(X, y, sample_weight=np.zeros(12))


# --------------------------------------------------------------------------
# Non-numeric X
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_string_X_raises(make, y):
    X_str = np.array([["a", "b", "c"]] * 12)
    with pytest.raises(ValueError, match="could not convert string to float"):
        make().fit(X_str, y)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_object_X_with_non_numbers_raises(make, y):
    X_obj = X.astype(object)
    X_obj[0, 0] = "x"
    with pytest.raises(ValueError, match="could not convert string to float"):
        make().fit(X_obj, y)
    X_obj[0, 0] = object()
    with pytest.raises(TypeError, match="must be a string or a real number"):
        make().fit(X_obj, y)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_object_X_of_numbers_is_accepted(make, y):
    """An object array of numbers converts to float64, as in scikit-learn."""
    est = make().fit(X.astype(object), y)
    reference = make().fit(X, y)
    np.testing.assert_array_equal(est.coef_, reference.coef_)
    assert est.coef_.dtype == np.float64


def test_complex_X_raises():
    with pytest.raises(ValueError, match="Complex data not supported"):
        SGDRegressor(**FAST).fit(X + 1j, Y_REG)


# --------------------------------------------------------------------------
# partial_fit consistency
# --------------------------------------------------------------------------


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_partial_fit_label_not_in_classes_raises(make):
    y = Y_CLS.copy()
    y[0] = 7
    with pytest.raises(ValueError, match=r"labels \[7\].*not in classes_"):
        make().partial_fit(X, y, classes=[0, 1])
    est = make().partial_fit(X, Y_CLS, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\].*not in classes_"):
        est.partial_fit(X, y)


def test_partial_fit_without_classes_on_first_call_raises():
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        SGDClassifier(**FAST).partial_fit(X, Y_CLS)


def test_partial_fit_with_other_classes_later_raises():
    est = SGDClassifier(**FAST).partial_fit(X, Y_CLS, classes=[0, 1])
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        est.partial_fit(X, Y_CLS, classes=[0, 1, 2])


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_partial_fit_changed_feature_count_raises(make, y):
    est = make()
    kw = {"classes": np.unique(y)} if isinstance(est, SGDClassifier) else {}
    est.partial_fit(X, y, **kw)
    with pytest.raises(ValueError, match="X has 2 features, but .* is expecting 3"):
        est.partial_fit(X[:, :2], y)


# --------------------------------------------------------------------------
# Prediction
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_predict_before_fit_raises_not_fitted(make, y):
    est = make()
    methods = (
        ["predict", "decision_function"]
        if isinstance(est, SGDClassifier)
        else ["predict"]
    )
    for method in methods:
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            getattr(est, method)(X)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        est.score(X, y)


def test_predict_proba_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        SGDClassifier(loss="log_loss").predict_proba(X)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_predict_with_wrong_feature_count_raises(make, y):
    est = make().fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 3"):
        est.predict(np.hstack([X, X[:, :1]]))
    if isinstance(est, SGDClassifier):
        with pytest.raises(ValueError, match="X has 2 features"):
            est.decision_function(X[:, :2])


# --------------------------------------------------------------------------
# Invalid parameters
# --------------------------------------------------------------------------

BOTH = [SGDClassifier, SGDRegressor]


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"loss": "foo"}, "The 'loss' parameter of .* must be a str among"),
        (
            {"alpha": -1},
            r"The 'alpha' parameter of .* must be a float in the range \[0.0, inf\)",
        ),
        (
            {"batch_size": 0},
            "The 'batch_size' parameter of .* must be an int in the range",
        ),
        ({"batch_size": 2.5}, "The 'batch_size' parameter"),
        (
            {"momentum": -0.1},
            "The 'momentum' parameter of .* must be a float in the range",
        ),
        (
            {"dampening": 2},
            r"The 'dampening' parameter of .* must be a float in the range "
            r"\[0.0, 1.0\]",
        ),
        ({"nesterov": "yes"}, "The 'nesterov' parameter"),
        ({"penalty": "l3"}, "The 'penalty' parameter"),
        ({"learning_rate": "fast"}, "The 'learning_rate' parameter"),
        ({"eta0": -1.0}, "The 'eta0' parameter"),
        ({"max_iter": 0}, "The 'max_iter' parameter"),
        ({"l1_ratio": 1.5}, "The 'l1_ratio' parameter"),
        ({"validation_fraction": 1.0}, "The 'validation_fraction' parameter"),
    ],
)
def test_invalid_parameter_raises(cls, params, message):
    with pytest.raises(InvalidParameterError, match=message):
        cls(**{**FAST, **params}).fit(X, Y_CLS if cls is SGDClassifier else Y_REG)
    est = cls(**{**FAST, **params})
    kw = {"classes": [0, 1]} if cls is SGDClassifier else {}
    with pytest.raises(InvalidParameterError, match=message):
        est.partial_fit(X, Y_CLS if cls is SGDClassifier else Y_REG, **kw)


def test_invalid_multi_class_raises():
    with pytest.raises(InvalidParameterError, match="The 'multi_class' parameter"):
        SGDClassifier(multi_class="auto").fit(X, Y_CLS)


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("dampening", [0.0, 0.5])
def test_nesterov_needs_momentum_and_no_dampening(cls, momentum, dampening):
    est = cls(**FAST, nesterov=True, momentum=momentum, dampening=dampening)
    y = Y_CLS if cls is SGDClassifier else Y_REG
    if momentum > 0 and dampening == 0:
        est.fit(X, y)  # the valid combination
        assert np.all(np.isfinite(est.coef_))
        return
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        est.fit(X, y)


@pytest.mark.parametrize("loss", ["hinge", "modified_huber", "squared_error"])
def test_multinomial_needs_log_loss(loss):
    with pytest.raises(
        ValueError, match="multi_class='multinomial' needs loss='log_loss'"
    ):
        SGDClassifier(**FAST, loss=loss, multi_class="multinomial").fit(X, Y_CLS)


@pytest.mark.parametrize("cls", BOTH)
def test_optimal_learning_rate_needs_positive_alpha(cls):
    y = Y_CLS if cls is SGDClassifier else Y_REG
    with pytest.raises(
        ValueError, match="alpha must be > 0 since learning_rate is 'optimal'"
    ):
        cls(**FAST, learning_rate="optimal", alpha=0).fit(X, y)


@pytest.mark.parametrize("cls", BOTH)
def test_early_stopping_with_partial_fit_raises(cls):
    est = cls(**FAST, early_stopping=True)
    kw = {"classes": [0, 1]} if cls is SGDClassifier else {}
    with pytest.raises(
        ValueError, match="early_stopping should be False with partial_fit"
    ):
        est.partial_fit(X, Y_CLS if cls is SGDClassifier else Y_REG, **kw)


def test_balanced_class_weight_with_partial_fit_raises():
    est = SGDClassifier(**FAST, class_weight="balanced")
    with pytest.raises(
        ValueError, match="class_weight 'balanced' is not supported for partial_fit"
    ):
        est.partial_fit(X, Y_CLS, classes=[0, 1])


@pytest.mark.parametrize("cls", BOTH)
@pytest.mark.parametrize("schedule", ["pa1", "pa2"])
def test_passive_aggressive_needs_per_sample(cls, schedule):
    loss = "hinge" if cls is SGDClassifier else "epsilon_insensitive"
    y = Y_CLS if cls is SGDClassifier else Y_REG
    with pytest.raises(ValueError, match="is a per-sample rule"):
        cls(**FAST, loss=loss, learning_rate=schedule, batch_size=4).fit(X, y)
    with pytest.raises(
        ValueError, match=f"Learning rate '{schedule}' only works with loss"
    ):
        cls(**FAST, loss="squared_error", learning_rate=schedule).fit(X, y)


@pytest.mark.parametrize(("make", "y"), ESTIMATORS)
def test_bad_coef_init_shape_raises(make, y):
    est = make()
    with pytest.raises(ValueError, match="coef_init has shape"):
        est.fit(X, y, coef_init=np.zeros(5))
    with pytest.raises(ValueError, match="intercept_init has shape"):
        est.fit(X, y, intercept_init=np.zeros(3))


# --------------------------------------------------------------------------
# Divergence
# --------------------------------------------------------------------------

X_HUGE = X * 1e100
DIVERGENCE_MESSAGE = r"diverged at epoch \d+.*smaller eta0"


def _assert_finite_model(est):
    assert np.all(np.isfinite(est.coef_)), (
        f"coef_ not finite after divergence: {est.coef_}"
    )
    assert np.all(np.isfinite(est.intercept_)), (
        f"intercept_ not finite after divergence: {est.intercept_}"
    )


@pytest.mark.parametrize("make", REGRESSORS.values(), ids=REGRESSORS.keys())
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_diverging_regressor_raises_and_keeps_finite_weights(make, sparse):
    est = make(learning_rate="constant", eta0=1e10, penalty=None, max_iter=50)
    Xh = sp.csr_matrix(X_HUGE) if sparse else X_HUGE
    with pytest.raises(ValueError, match=DIVERGENCE_MESSAGE) as excinfo:
        est.fit(Xh, Y_REG * 1e100)
    assert "1e+10" in str(excinfo.value), "the message should quote the current eta0"
    _assert_finite_model(est)
    # the estimator is still usable: predictions are finite
    assert np.all(np.isfinite(est.predict(X)))


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_diverging_classifier_raises_and_keeps_finite_weights(make):
    est = make(loss="squared_error", learning_rate="constant", eta0=1e10, max_iter=50)
    with pytest.raises(ValueError, match=DIVERGENCE_MESSAGE):
        est.fit(X_HUGE, Y_CLS)
    _assert_finite_model(est)


@pytest.mark.parametrize("make", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_diverging_multiclass_raises_and_keeps_finite_weights(make):
    y3 = np.arange(12) % 3
    est = make(loss="squared_error", learning_rate="constant", eta0=1e10, max_iter=50)
    with pytest.raises(ValueError, match=DIVERGENCE_MESSAGE):
        est.fit(X_HUGE, y3)
    _assert_finite_model(est)
    assert est.coef_.shape == (3, 3)


def test_diverging_partial_fit_raises_and_keeps_finite_weights():
    est = SGDRegressor(learning_rate="constant", eta0=1e10, penalty=None, batch_size=4)
    est.partial_fit(X, Y_REG)
    before = est.coef_.copy()
    with pytest.raises(ValueError, match=DIVERGENCE_MESSAGE):
        for _ in range(50):
            est.partial_fit(X_HUGE, Y_REG * 1e100)
    _assert_finite_model(est)
    assert before.shape == est.coef_.shape


# --------------------------------------------------------------------------
# The input funnel, property-based
# --------------------------------------------------------------------------

shapes = st.tuples(st.integers(2, 12), st.integers(1, 4))
dtypes = st.sampled_from([np.float32, np.float64])
configs = st.sampled_from(
    [dict(), dict(batch_size=3), dict(batch_size=3, momentum=0.9)]
)

FUNNEL = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def finite_problems(draw):
    dtype = draw(dtypes)
    shape = draw(shapes)
    elements = st.floats(-1e3, 1e3, width=32 if dtype == np.float32 else 64)
    Xa = draw(hnp.arrays(dtype, shape, elements=elements))
    y = np.arange(shape[0]) % 2  # both classes always present
    y = draw(st.permutations(list(y)))
    return Xa, np.array(y), draw(configs)


@given(problem=finite_problems())
@FUNNEL
def test_any_finite_input_fits_and_dtype_follows_X(problem):
    """Hinge / Huber have bounded derivatives: any finite input must fit."""
    Xa, y, config = problem
    clf = SGDClassifier(**FAST, **config).fit(Xa, y)
    reg = SGDRegressor(**FAST, loss="huber", **config).fit(Xa, y.astype(float))
    for est in (clf, reg):
        assert est.coef_.dtype == Xa.dtype, (
            f"{type(est).__name__}: coef_ is {est.coef_.dtype} for X of {Xa.dtype}"
        )
        assert est.intercept_.dtype == Xa.dtype, (
            f"{type(est).__name__}: intercept_ is {est.intercept_.dtype} for X of "
            f"{Xa.dtype}"
        )
        assert np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))
    assert clf.decision_function(Xa).shape == (Xa.shape[0],)
    assert reg.predict(Xa).shape == (Xa.shape[0],)


@given(
    problem=finite_problems(),
    where=st.tuples(st.integers(0, 11), st.integers(0, 3)),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    sparse=st.booleans(),
)
@FUNNEL
def test_any_non_finite_input_raises(problem, where, bad, sparse):
    Xa, y, config = problem
    Xa = Xa.copy()
    Xa[where[0] % Xa.shape[0], where[1] % Xa.shape[1]] = bad
    if sparse:
        Xa = sp.csr_matrix(Xa)
    message = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        SGDClassifier(**FAST, **config).fit(Xa, y)
    with pytest.raises(ValueError, match=f"Input X contains {message}"):
        SGDRegressor(**FAST, **config).fit(Xa, y.astype(float))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float16, np.bool_])
def test_other_numeric_dtypes_train_in_float64(dtype):
    Xa = (X > 0).astype(dtype) if dtype is np.bool_ else (X * 3).astype(dtype)
    est = SGDClassifier(**FAST).fit(Xa, Y_CLS)
    assert est.coef_.dtype == np.float64
    reference = SGDClassifier(**FAST).fit(Xa.astype(np.float64), Y_CLS)
    np.testing.assert_array_equal(est.coef_, reference.coef_)
