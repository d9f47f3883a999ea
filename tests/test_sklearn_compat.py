"""What scikit-learn's own tests read besides the model: messages, private
attributes, ``verbose`` lines, and the MLP that diverges under early stopping.

``tests/sklearn_suite`` runs scikit-learn 1.9's test files against fastsgd;
these tests pin each behaviour that suite needed, with scikit-learn itself as
the reference: the same call is made on both libraries and fastsgd's result
must begin with (or equal) scikit-learn's.
"""

import re
import sys
import warnings

import numpy as np
import pytest
import sklearn.linear_model as sklm
import sklearn.neural_network as sknn
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning

from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor

OURS = {"SGDClassifier": SGDClassifier, "SGDRegressor": SGDRegressor}

X_BIN, Y_BIN = make_classification(
    n_samples=60, n_features=4, n_informative=3, n_redundant=0, random_state=0
)
X_MULTI, Y_MULTI = make_classification(
    n_samples=90, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
    random_state=0,
)  # fmt: skip
IRIS_X, IRIS_Y = load_iris(return_X_y=True)


def _error(estimator, *args, **kwargs):
    """The ``ValueError`` that ``estimator.fit(*args, **kwargs)`` raises."""
    with pytest.raises(ValueError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow RuntimeWarnings, convergence
        estimator.fit(*args, **kwargs)
    return str(info.value)


def _assert_starts_with_sklearn(ours, theirs):
    assert ours.startswith(theirs), (
        f"fastsgd's message does not begin with scikit-learn's:\n"
        f"  fastsgd:      {ours!r}\n  scikit-learn: {theirs!r}"
    )


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, X, y, init",
    [
        ("SGDClassifier", X_BIN, Y_BIN, {"coef_init": np.zeros(3)}),
        ("SGDClassifier", X_MULTI, Y_MULTI, {"coef_init": np.zeros((2, 4))}),
        ("SGDClassifier", X_BIN, Y_BIN, {"intercept_init": np.zeros(3)}),
        ("SGDClassifier", X_MULTI, Y_MULTI, {"intercept_init": np.zeros(1)}),
        ("SGDRegressor", X_BIN, Y_BIN, {"coef_init": np.zeros(5)}),
        ("SGDRegressor", X_BIN, Y_BIN, {"intercept_init": np.zeros(2)}),
    ],
    ids=["binary-coef", "multiclass-coef", "binary-intercept",
         "multiclass-intercept", "regressor-coef", "regressor-intercept"],
)  # fmt: skip
def test_init_shape_errors_begin_with_sklearns_message(name, X, y, init):
    theirs = _error(getattr(sklm, name)(max_iter=5, tol=None), X, y, **init)
    ours = _error(OURS[name](max_iter=5, tol=None), X, y, **init)
    _assert_starts_with_sklearn(ours, theirs)
    assert "expected" in ours, ours  # fastsgd's detail follows


def test_linear_divergence_begins_with_sklearns_message():
    # scikit-learn's test_underflow_or_overflow data: features of 1e300
    rng = np.random.RandomState(0)
    X = rng.normal(size=(100, 10))
    X[:, :2] *= 1e300
    y = (X[:, 2] > 0).astype(int)
    params = dict(alpha=0.1, loss="squared_hinge", max_iter=50, shuffle=False)
    theirs = _error(sklm.SGDClassifier(**params), X, y)
    ours = _error(SGDClassifier(**params), X, y)
    _assert_starts_with_sklearn(ours, theirs)
    assert re.search(r"epoch #1\b", ours) and "eta0" in ours, ours


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_mlp_non_finite_weights_begin_with_sklearns_message(solver):
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    theirs = _error(sknn.MLPRegressor(solver=solver, random_state=0), X, y)
    ours = _error(MLPRegressor(solver=solver, random_state=0), X, y)
    _assert_starts_with_sklearn(ours, theirs)


def test_mlp_stratified_split_error_is_sklearns():
    # the binarized labels are stratified as booleans: the class is 'True'
    X, y = [[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1]
    theirs = _error(sknn.MLPClassifier(early_stopping=True), X, y)
    ours = _error(MLPClassifier(early_stopping=True), X, y)
    assert ours == theirs


@pytest.mark.parametrize("method", ["predict_proba", "predict_log_proba"])
def test_missing_proba_has_sklearns_cause(method):
    def cause(estimator):
        with pytest.raises(AttributeError) as info:
            getattr(estimator, method)
        return info.value.__cause__

    theirs = cause(sklm.SGDClassifier(loss="hinge"))
    ours = cause(SGDClassifier(loss="hinge"))
    assert isinstance(ours, AttributeError) and str(ours) == str(theirs)


# --------------------------------------------------------------------------
# Attributes scikit-learn's tests read
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SGDClassifier", "SGDRegressor"])
def test_loss_functions_are_sklearns(name):
    ours, theirs = OURS[name].loss_functions, getattr(sklm, name).loss_functions
    assert ours.keys() == theirs.keys()
    assert OURS[name]().loss_functions["huber"][1] == theirs["huber"][1]


AVERAGING = ["_standard_coef", "_standard_intercept", "_average_coef",
             "_average_intercept"]  # fmt: skip


@pytest.mark.parametrize("average", [False, True, 7])
@pytest.mark.parametrize(
    "name, X, y",
    [("SGDClassifier", X_BIN, Y_BIN), ("SGDClassifier", X_MULTI, Y_MULTI),
     ("SGDRegressor", X_BIN, Y_BIN.astype(float))],
    ids=["binary", "multiclass", "regressor"],
)  # fmt: skip
def test_averaging_attributes_mirror_sklearns(name, X, y, average):
    # per-sample training without shuffling is scikit-learn's, step for step
    params = dict(average=average, max_iter=4, tol=None, shuffle=False, eta0=0.01)
    theirs = getattr(sklm, name)(**params).fit(X, y)
    ours = OURS[name](**params).fit(X, y)
    for attribute in AVERAGING:
        assert hasattr(ours, attribute) == hasattr(theirs, attribute), attribute
        if (
            hasattr(theirs, attribute)
            and attribute == "_standard_intercept"
            and name == "SGDClassifier"
            and len(np.unique(y)) == 2
        ):
            # scikit-learn 1.9's binary fit leaves it at its initial zero once
            # averaging has begun (fit_binary returns the intercept but does
            # not store it); fastsgd's holds the unaveraged intercept
            np.testing.assert_allclose(
                ours._standard_intercept, ours._state.intercept, rtol=1e-15
            )
            continue
        if hasattr(theirs, attribute):
            np.testing.assert_allclose(
                getattr(ours, attribute), getattr(theirs, attribute), rtol=1e-8,
                atol=1e-12, err_msg=attribute,
            )  # fmt: skip
    # a later fit without averaging drops them, as scikit-learn's does
    ours.set_params(average=False).fit(X, y)
    assert not any(hasattr(ours, attribute) for attribute in AVERAGING)


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", learning_rate="invscaling", power_t=0.25),
        dict(solver="sgd", learning_rate="constant"),
        dict(solver="sgd", learning_rate="adaptive", tol=1e-1, n_iter_no_change=1),
        dict(solver="adam"),
    ],
    ids=["sgd-invscaling", "sgd-constant", "sgd-adaptive", "adam"],
)
def test_mlp_optimizer_mirrors_sklearns(params):
    common = dict(hidden_layer_sizes=(4,), max_iter=30, random_state=0, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = sknn.MLPClassifier(**common, **params).fit(X_MULTI, Y_MULTI)
        ours = MLPClassifier(**common, **params).fit(X_MULTI, Y_MULTI)
    assert ours.n_iter_ == theirs.n_iter_
    assert type(ours._optimizer) is type(theirs._optimizer)
    assert ours._optimizer.learning_rate == pytest.approx(
        theirs._optimizer.learning_rate, rel=1e-12
    )
    assert not hasattr(MLPClassifier(), "_optimizer")
    lbfgs = MLPClassifier(**{**common, "solver": "lbfgs", "max_iter": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert not hasattr(lbfgs.fit(X_MULTI, Y_MULTI), "_optimizer")


def test_mlp_partial_fit_from_hand_set_weights_is_sklearns():
    # scikit-learn's test_fit: weights set by hand, then one partial_fit
    def make(cls):
        mlp = cls(solver="sgd", learning_rate_init=0.1, alpha=0.1,
                  activation="logistic", random_state=1, max_iter=1,
                  hidden_layer_sizes=2, momentum=0)  # fmt: skip
        mlp.coefs_ = [
            np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]),
            np.array([[0.1], [0.2]]),
        ]
        mlp.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
        mlp.n_outputs_, mlp.n_layers_, mlp.n_iter_, mlp.t_ = 1, 3, 0, 0
        mlp.n_features_in_ = 3
        mlp.out_activation_ = "logistic"
        mlp.best_loss_, mlp.loss_curve_, mlp._no_improvement_count = np.inf, [], 0
        return mlp.partial_fit(np.array([[0.6, 0.8, 0.7]]), [0], classes=[0, 1])

    theirs, ours = make(sknn.MLPClassifier), make(MLPClassifier)
    for a, b in zip(ours.coefs_ + ours.intercepts_,
                    theirs.coefs_ + theirs.intercepts_, strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-12)


# --------------------------------------------------------------------------
# A diverging MLP with early stopping (scikit-learn #29504)
# --------------------------------------------------------------------------

DIVERGING = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                 learning_rate_init=1, max_iter=20, n_iter_no_change=10,
                 random_state=0)  # fmt: skip


def test_diverging_mlp_with_early_stopping_keeps_the_best_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = sknn.MLPRegressor(**DIVERGING, early_stopping=True)
        theirs.fit(IRIS_X, IRIS_Y)
    with pytest.warns(ConvergenceWarning, match="diverged at epoch"):
        ours = MLPRegressor(**DIVERGING, early_stopping=True).fit(IRIS_X, IRIS_Y)
    assert np.isnan(ours.validation_scores_[-1])
    assert isinstance(ours.validation_scores_[-1], float)
    # up to the divergence, the epochs are scikit-learn's; both keep the best
    finite = ours.validation_scores_[:-1]
    np.testing.assert_allclose(finite, theirs.validation_scores_[: len(finite)])
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    for a, b in zip(ours.coefs_ + ours.intercepts_,
                    theirs.coefs_ + theirs.intercepts_, strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_diverging_mlp_without_early_stopping_still_raises_sklearns_message():
    theirs = _error(sknn.MLPRegressor(**DIVERGING), IRIS_X, IRIS_Y)
    ours = _error(MLPRegressor(**DIVERGING), IRIS_X, IRIS_Y)
    _assert_starts_with_sklearn(ours, theirs)
    assert "diverged at epoch" in ours, ours


# --------------------------------------------------------------------------
# verbose lines
# --------------------------------------------------------------------------

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def _verbose_lines(estimator, X, y, capsys):
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return capsys.readouterr().out.splitlines()


def _assert_line_begins_like(ours, theirs):
    """``ours`` has ``theirs``' words, and numbers equal to printing precision,
    then fastsgd's own fields."""
    assert _NUMBER.sub("#", ours).startswith(_NUMBER.sub("#", theirs)), (ours, theirs)
    n = len(_NUMBER.findall(theirs))
    for a, b in zip(_NUMBER.findall(ours)[:n], _NUMBER.findall(theirs), strict=True):
        decimals = len(b.partition(".")[2])
        assert float(a) == pytest.approx(float(b), abs=1.01 * 10.0**-decimals), (
            ours, theirs,
        )  # fmt: skip


@pytest.mark.parametrize("early_stopping", [False, True])
def test_linear_verbose_lines_are_sklearns(early_stopping, capsys):
    # a tol that does not stop 3 epochs: the kernel then sums scikit-learn's
    # objective
    params = dict(max_iter=3, tol=0.0, n_iter_no_change=10, shuffle=False,
                  verbose=1, penalty=None, early_stopping=early_stopping,
                  random_state=0)  # fmt: skip
    theirs = _verbose_lines(sklm.SGDClassifier(**params), X_BIN, Y_BIN, capsys)
    ours = _verbose_lines(SGDClassifier(**params), X_BIN, Y_BIN, capsys)
    ours = [line for line in ours if not line.startswith("fastsgd: compiling")]
    assert len(ours) == len(theirs), (ours, theirs)
    for a, b in zip(ours, theirs, strict=True):
        if b.startswith("Total training time"):
            assert a.startswith("Total training time: ") and a.endswith(" seconds.")
        else:
            _assert_line_begins_like(a, b)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_mlp_verbose_lines_are_sklearns(early_stopping, capsys):
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0, verbose=True,
                  early_stopping=early_stopping, solver="sgd")  # fmt: skip
    theirs = _verbose_lines(sknn.MLPClassifier(**params), X_MULTI, Y_MULTI, capsys)
    ours = _verbose_lines(MLPClassifier(**params), X_MULTI, Y_MULTI, capsys)
    theirs = [line for line in theirs if line.startswith(("Iteration", "Validation"))]
    ours = [line for line in ours if line.startswith(("Iteration", "Validation"))]
    assert len(ours) == len(theirs) == 3 * (1 + early_stopping), (ours, theirs)
    for a, b in zip(ours, theirs, strict=True):
        _assert_line_begins_like(a, b)


# --------------------------------------------------------------------------
# tests/sklearn_suite leaves scikit-learn's names alone
# --------------------------------------------------------------------------


def test_sklearn_names_still_name_sklearns_estimators():
    # tests/sklearn_suite swaps fastsgd's classes into scikit-learn's modules
    # only while importing scikit-learn's test files and while running them;
    # this test runs in the same pytest process (collection is over by then)
    import sklearn.linear_model._stochastic_gradient as sk_sgd
    import sklearn.neural_network._multilayer_perceptron as sk_mlp

    for module in (sklm, sk_sgd, sknn, sk_mlp):
        for name in ("SGDClassifier", "SGDRegressor", "MLPClassifier", "MLPRegressor"):
            if hasattr(module, name):
                cls = getattr(module, name)
                assert cls.__module__.startswith("sklearn."), (module, name, cls)
    # nor the test modules imported with fastsgd's classes: a plain import
    # elsewhere gets scikit-learn's own
    for name in ("sklearn.linear_model.tests.test_sgd",
                 "sklearn.neural_network.tests.test_mlp"):  # fmt: skip
        assert name not in sys.modules, name
