"""Property-based hunt for errors from inside a kernel (issue 29, item 5).

Hypothesis draws random *valid* settings of every estimator and fits them on
awkward data, beside scikit-learn's twin with the same parameters and
``random_state``. ``tests/test_awkward_data.py`` pins the hand-found cases;
this module hunts the class.

The data (``datasets``)
    2, 3 or 5-40 rows; 1-8 columns whose scales are log-uniform between two
    drawn exponents in [-6, 4] (one scale for all columns, or a wide mix);
    some constant columns, sometimes an all-zero column, sometimes many zero
    entries; float32 or float64; C order, Fortran order or CSR; sometimes
    sample weights (positive over four decades, some zeros, never all);
    targets: 2-3 classes (at least 2 present), or real targets of a drawn
    scale (1e-6..1e4, sometimes constant; non-negative for the Poisson loss).
    The draws form a recipe (the entries come from a NumPy generator seeded
    by a drawn integer); a failure prints it, and ``make_data(**recipe)``
    rebuilds the data.

The settings (``*_settings``)
    Drawn from each estimator's valid parameter space: every loss, penalty and
    learning-rate schedule ('adaptive' and the passive-aggressive ones
    included), ``eta0``/``learning_rate_init`` over 1e-4..10, ``alpha`` over
    1e-7..10 (or 0), ``average``, early stopping with any
    ``validation_fraction`` (also where the rows cannot be split: then
    scikit-learn's error is the expected outcome), ``n_iter_no_change``,
    ``max_iter`` <= 20, ``tol``; for the MLPs every solver and activation, 1-2
    layers of 1-4 units, ``batch_size``, the Adam and momentum settings,
    ``max_fun`` and both regression losses. Now and then fastsgd-only settings
    (``batch_size`` > 1, ``momentum``, ``nesterov``, ``dampening``,
    ``multi_class='multinomial'``, ``solver='adamw'``) are drawn too: such a
    fit has no scikit-learn twin, and is compared with the fit without them
    only for errors about the data.

The property (``_check``)
    1. After a successful fastsgd fit every fitted weight (``coef_``,
       ``intercept_``, ``offset_``, ``coefs_``, ``intercepts_``) is finite,
       and ``predict`` on the training data runs.
    2. Where scikit-learn raises a clear error (``ValueError``, ``TypeError``),
       fastsgd raises an exception of that type (any ``ValueError`` where
       scikit-learn's is a ``ValueError``); the messages may differ
       (``hypothesis.event`` records it). Where scikit-learn crashes (any
       other exception: its own bug, such as ``np.average``'s
       ``ZeroDivisionError`` on an MLP mini-batch whose sample weights are all
       zero), there is no verdict to copy: fastsgd fits, or raises a clear
       ``ValueError``/``TypeError`` that is not its divergence error.
    3. Where scikit-learn fits, fastsgd fits, or raises its divergence error
       (``_epoch.DivergenceError`` or scikit-learn's own "non-finite
       parameter weights" message) *and scikit-learn's run blew up too*.
    4. fastsgd never raises any other exception: no ZeroDivisionError,
       FloatingPointError, IndexError, SystemError, Numba error...

The divergence rule (``Outcome.blew_up``)
    fastsgd stops at the first epoch whose loss or weights are non-finite;
    scikit-learn's linear models check only the weights at the end of an
    epoch, and its MLPs only the final weights. So a run can end in a clean
    fastsgd error and a scikit-learn "fit" whose loss overflowed on the way
    (and whose weights the L2 shrinkage ``max(0, 1 - eta * alpha)`` then set
    back to zero, say). That is one outcome seen two ways, not a bug. A run
    *blew up* when one of these is non-finite or larger than
    ``sqrt(finfo(dtype).max)`` (~1.3e154 in float64, ~1.8e19 in float32:
    past it a squared loss overflows, so a loss-based check may fire where a
    weight-based one does not):
    its fitted weights, its outputs on the training data (decision function,
    regression prediction), its per-epoch mean loss and objective (the linear
    models' ``verbose`` lines, which scikit-learn prints without changing the
    fit; the MLPs' ``loss_curve_``), or (MLP early stopping) a NaN validation
    score. fastsgd's divergence error is accepted only where scikit-learn's
    run blew up. The same rule applies the other way: where scikit-learn
    raises its divergence error, fastsgd may instead fit only if its own run
    blew up (near the overflow threshold, rounding decides the epoch); it must
    still keep finite weights.

Budget: ``FASTSGD_HYPOTHESIS_EXAMPLES`` (default 12) examples per estimator;
derandomized, so CI runs the same examples (and compiles the same kernels)
every time. Set it higher to hunt. Most of a run's time is compiling the
kernels of the configurations drawn (seconds each, once per Numba cache).

``test_found_case`` pins what the hunt found: an MLP mini-batch whose sample
weights are all zero (was 0/0, reported as a divergence) and the float32
Poisson loss whose ``y / p`` overflowed (a spurious divergence).
"""

import contextlib
import io
import math
import os
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sklearn import linear_model as sk_linear
from sklearn import neural_network as sk_neural

import fastsgd
from fastsgd._epoch import DivergenceError

EXAMPLES = int(os.environ.get("FASTSGD_HYPOTHESIS_EXAMPLES", "12"))

SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

pytestmark = pytest.mark.slow

SKLEARN = {
    "SGDClassifier": sk_linear.SGDClassifier,
    "Perceptron": sk_linear.Perceptron,
    "SGDRegressor": sk_linear.SGDRegressor,
    "SGDOneClassSVM": sk_linear.SGDOneClassSVM,
    "MLPClassifier": sk_neural.MLPClassifier,
    "MLPRegressor": sk_neural.MLPRegressor,
}

#: Parameters scikit-learn's estimators do not have: a fit that sets one of
#: them to other than its default has no twin.
FASTSGD_ONLY = {
    "batch_size": 1, "momentum": 0.0, "dampening": 0.0, "nesterov": False,
    "multi_class": "ovr",
}  # fmt: skip
MLP_FASTSGD_ONLY = {"weight_decay": 0.01}

#: The beginnings of scikit-learn's divergence messages (which fastsgd's
#: ``DivergenceError`` also begins with).
DIVERGENCE_MESSAGES = (
    "Floating-point under-/overflow occurred",
    "Solver produced non-finite parameter weights",
)


def log_uniform(low, high):
    """Floats ``10**e``, ``e`` uniform in ``[low, high]``."""
    return st.floats(low, high).map(lambda e: float(10.0**e))


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


@st.composite
def datasets(draw, target):
    """``(data, recipe)``: ``data`` a dict of ``X``, ``y`` and
    ``sample_weight`` that ``make_data(**recipe)`` builds.

    ``target``: ``"classes"``, ``"real"``, ``"counts"`` (non-negative reals,
    for the Poisson loss) or ``None`` (one-class SVM: no ``y``).
    """
    n_features = draw(st.integers(1, 8))
    lo, hi = sorted([draw(st.floats(-6, 4)), draw(st.floats(-6, 4))])
    if draw(st.booleans()):
        hi = lo  # one scale for all the columns
    recipe = dict(
        n_samples=draw(st.one_of(st.sampled_from([2, 3]), st.integers(5, 40))),
        n_features=n_features,
        exponents=(lo, hi),
        seed=draw(st.integers(0, 2**31 - 1)),
        constant=draw(st.dictionaries(st.integers(0, n_features - 1),
                                      st.sampled_from([1.0, -3.0, 0.5]), max_size=3)),
        zero_column=draw(st.one_of(st.none(), st.integers(0, n_features - 1))),
        density=draw(st.sampled_from([1.0, 1.0, 0.5, 0.2])),
        target=target,
        n_classes=draw(st.sampled_from([2, 3])),
        y_exponent=draw(st.floats(-6, 4)),
        constant_y=draw(st.integers(0, 4)) == 0,
        dtype=draw(st.sampled_from(["float64", "float32"])),
        layout=draw(st.sampled_from(["C", "F", "csr"])),
        weighted=draw(st.booleans()),
    )  # fmt: skip
    return make_data(**recipe), recipe


def make_data(
    n_samples, n_features, exponents, seed, constant, zero_column, density, target,
    n_classes, y_exponent, constant_y, dtype, layout, weighted,
):  # fmt: skip
    """The data of a ``datasets`` recipe (``make_data(**recipe)`` rebuilds a
    falsifying example's data)."""
    rng = np.random.RandomState(seed)
    scales = 10.0 ** rng.uniform(*exponents, size=n_features)
    X = rng.standard_normal((n_samples, n_features)) * scales
    for j, value in constant.items():
        X[:, j] = scales[j] * value
    if zero_column is not None:
        X[:, zero_column] = 0.0
    if density < 1.0:
        X[rng.uniform(size=X.shape) > density] = 0.0

    if target == "classes":
        y = rng.randint(n_classes, size=n_samples)
        y[:2] = [0, 1]  # at least two classes present
        if n_samples >= 3 and n_classes == 3:
            y[2] = 2
        y = rng.permutation(y)
    elif target in ("real", "counts"):
        y_scale = 10.0**y_exponent
        if constant_y:
            y = np.full(n_samples, y_scale)
        else:
            Z = X / scales
            y = y_scale * (Z @ rng.standard_normal(n_features)
                           + 0.3 * rng.standard_normal(n_samples))  # fmt: skip
        if target == "counts":
            y = np.abs(y)
            y[rng.uniform(size=n_samples) < 0.2] = 0.0
    else:
        y = None

    X = X.astype(dtype)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "csr":
        X = sp.csr_matrix(X)

    sample_weight = None
    if weighted:
        sample_weight = 10.0 ** rng.uniform(-2, 2, size=n_samples)
        zeros = rng.uniform(size=n_samples) < 0.25
        zeros[rng.randint(n_samples)] = False  # never all zero
        sample_weight[zeros] = 0.0
    return dict(X=X, y=y, sample_weight=sample_weight)


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------

CLASSIFIER_LOSSES = [
    "hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron",
    "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive",
]  # fmt: skip
REGRESSOR_LOSSES = [
    "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive",
]  # fmt: skip
SCHEDULES = ["constant", "optimal", "invscaling", "adaptive", "pa1", "pa2"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def _common_linear(draw, params):
    params["max_iter"] = draw(st.integers(1, 20))
    params["tol"] = draw(st.one_of(st.none(), log_uniform(-6, 0)))
    params["fit_intercept"] = draw(st.booleans())
    params["shuffle"] = draw(st.booleans())
    params["random_state"] = draw(st.integers(0, 2**16))


def _early_stopping(draw, params):
    params["early_stopping"] = draw(st.booleans())
    if params["early_stopping"]:
        params["validation_fraction"] = draw(st.floats(0.05, 0.6))
    params["n_iter_no_change"] = draw(st.integers(1, 6))


def _penalty(draw, params):
    params["penalty"] = draw(st.sampled_from([None, "l2", "l1", "elasticnet"]))
    params["alpha"] = draw(st.one_of(st.just(0.0), log_uniform(-7, 1)))
    params["l1_ratio"] = draw(st.floats(0.0, 1.0))


def _fastsgd_only(draw, params, *, per_sample_rule=False):
    """Now and then (one draw in four) fastsgd's mini-batch and momentum
    settings; never with a passive-aggressive schedule, which is per-sample."""
    if per_sample_rule or draw(st.integers(0, 3)) != 0:
        return
    params["batch_size"] = draw(st.integers(1, 8))
    params["momentum"] = draw(st.one_of(st.just(0.0), st.floats(0.1, 0.95)))
    if params["momentum"] > 0 and draw(st.booleans()):
        params["nesterov"] = True
    else:
        params["dampening"] = draw(st.sampled_from([0.0, 0.5]))


@st.composite
def sgd_settings(draw, kind):
    """Settings of ``SGDClassifier``, ``SGDRegressor`` or ``SGDOneClassSVM``."""
    params = {}
    if kind == "SGDClassifier":
        params["loss"] = draw(st.sampled_from(CLASSIFIER_LOSSES))
    elif kind == "SGDRegressor":
        params["loss"] = draw(st.sampled_from(REGRESSOR_LOSSES))
    if kind == "SGDOneClassSVM":
        params["nu"] = draw(st.floats(0.01, 1.0))
        schedules = SCHEDULES[:4]
    else:
        _penalty(draw, params)
        params["epsilon"] = draw(st.one_of(st.just(0.0), log_uniform(-4, 1)))
        _early_stopping(draw, params)
        schedules = SCHEDULES
    params["learning_rate"] = draw(st.sampled_from(schedules))
    if params["learning_rate"] in ("pa1", "pa2"):  # the loss it needs, mostly
        needed = "hinge" if kind == "SGDClassifier" else "epsilon_insensitive"
        if draw(st.integers(0, 3)) != 0:
            params["loss"] = needed
    params["eta0"] = draw(log_uniform(-4, 1))
    params["power_t"] = draw(st.floats(0.0, 1.5))
    params["average"] = draw(st.one_of(st.booleans(), st.integers(1, 50)))
    if kind == "SGDClassifier":
        params["class_weight"] = draw(st.sampled_from([None, "balanced"]))
    _common_linear(draw, params)
    per_sample_rule = params["learning_rate"] in ("pa1", "pa2")
    _fastsgd_only(draw, params, per_sample_rule=per_sample_rule)
    if (kind == "SGDClassifier" and params["loss"] == "log_loss"
            and draw(st.integers(0, 3)) == 0):  # fmt: skip
        params["multi_class"] = "multinomial"
    return params


@st.composite
def perceptron_settings(draw):
    params = {}
    _penalty(draw, params)
    params["eta0"] = draw(log_uniform(-4, 1))
    _early_stopping(draw, params)
    params["class_weight"] = draw(st.sampled_from([None, "balanced"]))
    _common_linear(draw, params)
    _fastsgd_only(draw, params)
    return params


@st.composite
def mlp_settings(draw, kind):
    params = {}
    if kind == "MLPRegressor":
        params["loss"] = draw(st.sampled_from(["squared_error", "poisson"]))
    n_layers = draw(st.integers(1, 2))
    params["hidden_layer_sizes"] = tuple(
        draw(st.integers(1, 4)) for _ in range(n_layers)
    )
    params["activation"] = draw(st.sampled_from(ACTIVATIONS))
    params["solver"] = draw(st.sampled_from(["sgd", "adam", "lbfgs"]))
    params["alpha"] = draw(st.one_of(st.just(0.0), log_uniform(-7, 1)))
    params["batch_size"] = draw(st.one_of(st.just("auto"), st.integers(1, 50)))
    params["learning_rate"] = draw(st.sampled_from(SCHEDULES[:1] + SCHEDULES[2:4]))
    params["learning_rate_init"] = draw(log_uniform(-4, 1))
    params["power_t"] = draw(st.floats(0.0, 1.0))
    params["max_iter"] = draw(st.integers(1, 20))
    params["tol"] = draw(st.one_of(st.just(0.0), log_uniform(-6, 0)))
    params["momentum"] = draw(st.floats(0.0, 1.0))
    params["nesterovs_momentum"] = draw(st.booleans())
    _early_stopping(draw, params)
    params["n_iter_no_change"] = draw(st.integers(1, 10))
    params["beta_1"] = draw(st.floats(0.0, 0.99))
    params["beta_2"] = draw(st.floats(0.0, 0.9999))
    params["epsilon"] = draw(log_uniform(-10, -2))
    params["max_fun"] = draw(st.integers(1, 50))
    params["shuffle"] = draw(st.booleans())
    params["random_state"] = draw(st.integers(0, 2**16))
    if params["solver"] == "adam" and draw(st.integers(0, 3)) == 0:
        params["solver"] = "adamw"  # fastsgd only
        params["weight_decay"] = draw(st.floats(0.0, 0.5))
    return params


# --------------------------------------------------------------------------
# Fitting and judging
# --------------------------------------------------------------------------

_VERBOSE_LINE = re.compile(
    r"Norm: ([^,\s]+), .*Avg\. loss: ([^,\s]+), Objective: ([^,\s]+)"
)


def _weights(model):
    names = ("coef_", "intercept_", "offset_")
    weights = [np.asarray(getattr(model, name)) for name in names
               if hasattr(model, name)]  # fmt: skip
    if hasattr(model, "coefs_"):
        weights += [np.asarray(w) for w in model.coefs_ + model.intercepts_]
    return weights


def _outputs(model, X):
    """The model's real-valued outputs on the training data, or None."""
    if isinstance(model, (sk_neural.MLPClassifier, fastsgd.MLPClassifier)):
        return None  # probabilities: bounded; the weights and loss tell
    method = "decision_function" if hasattr(model, "decision_function") else "predict"
    try:
        with np.errstate(all="ignore"):
            return np.asarray(getattr(model, method)(X), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a blown-up model may fail to predict
        return np.array([np.nan])


def _huge(values, limit):
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return bool(values.size) and not bool(np.all(np.abs(values) <= limit))


class Outcome:
    """A fit's result: ``error`` (or None), and for a fit whether the run
    blew up (``blew_up``) and whether it kept a non-finite weight."""

    def __init__(self, estimator, data, capture_verbose=False):
        self.estimator = estimator
        self.error = None
        self.losses = []  # per-epoch mean loss, objective and weight norm
        X = data["X"]
        fit_args = (X,) if data["y"] is None else (X, data["y"])
        stdout = io.StringIO()
        try:
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(stdout),
                contextlib.redirect_stderr(io.StringIO()),  # joblib's verbose lines
            ):
                warnings.simplefilter("ignore")
                if capture_verbose:
                    estimator.set_params(verbose=1)
                estimator.fit(*fit_args, sample_weight=data["sample_weight"])
        except Exception as error:  # noqa: BLE001 - the error is the outcome
            self.error = error
        for match in _VERBOSE_LINE.finditer(stdout.getvalue()):
            self.losses += [float(value) for value in match.groups()]
        self.limit = math.sqrt(np.finfo(X.dtype).max)
        if self.error is None:
            self.non_finite = not all(np.isfinite(w).all() for w in _weights(estimator))

    def blew_up(self, X):
        """Whether the run overflowed: non-finite or huge weights, outputs,
        per-epoch losses, or a NaN validation score (module docstring)."""
        model = self.estimator
        if _huge(self.losses, self.limit):
            return True
        if _huge(getattr(model, "loss_curve_", []), self.limit):
            return True
        scores = getattr(model, "validation_scores_", None)
        if scores is not None and np.isnan(np.asarray(scores, dtype=np.float64)).any():
            return True
        if self.error is not None:
            return False
        if any(_huge(w, self.limit) for w in _weights(model)):
            return True
        outputs = _outputs(model, X)
        return outputs is not None and _huge(outputs, self.limit)

    def kind(self):
        return "fit" if self.error is None else type(self.error).__name__

    def describe(self):
        if self.error is not None:
            return f"{type(self.error).__name__}: {str(self.error)[:300]}"
        return "fit" + (" with non-finite weights" if self.non_finite else "")


#: The exception types of scikit-learn's clear errors; any other it raises is
#: a crash of its own.
CLEAR_ERRORS = (ValueError, TypeError)


def _is_divergence(error):
    return isinstance(error, DivergenceError) or (
        isinstance(error, ValueError) and str(error).startswith(DIVERGENCE_MESSAGES)
    )


def _same_kind(ours, theirs):
    """fastsgd's error has scikit-learn's type (any ValueError for a ValueError)."""
    return isinstance(ours, type(theirs)) or (
        isinstance(theirs, ValueError) and isinstance(ours, ValueError)
    )


def _event(text):
    """``hypothesis.event`` inside a test (``_check`` also runs outside one)."""
    if currently_in_test_context():
        event(text)


def _check(kind, params, data, description):
    """The property of the module docstring, for one draw."""
    only = FASTSGD_ONLY if kind.startswith(("SGD", "Perceptron")) else MLP_FASTSGD_ONLY
    twin_params = {k: v for k, v in params.items() if k not in only}
    has_twin = all(params.get(k, default) == default for k, default in only.items())
    if params.get("solver") == "adamw":  # then weight_decay applies
        twin_params["solver"] = "adam"
        has_twin = False
    elif kind.startswith("MLP"):
        has_twin = True  # weight_decay is ignored by the other solvers
    linear = not kind.startswith("MLP")
    theirs = Outcome(SKLEARN[kind](**twin_params), data, capture_verbose=linear)
    ours = Outcome(getattr(fastsgd, kind)(**params), data)
    X = data["X"]
    report = (
        f"\n{kind}(**{params})\ndata: make_data(**{description})\n"
        f"scikit-learn{'' if has_twin else ' (without fastsgd-only settings)'}: "
        f"{theirs.describe()}\nfastsgd: {ours.describe()}"
    )
    _event(f"{kind}: scikit-learn {theirs.kind()}, fastsgd {ours.kind()}")

    if ours.error is None:
        assert not ours.non_finite, "fastsgd kept a non-finite weight" + report
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                ours.estimator.predict(X)
        except Exception as error:  # noqa: BLE001
            raise AssertionError(
                f"predict after the fit raised {error!r}" + report
            ) from error

    if theirs.error is not None and not isinstance(theirs.error, CLEAR_ERRORS):
        # scikit-learn crashed (its own bug, e.g. np.average's ZeroDivisionError
        # on a mini-batch whose sample weights are all zero): no verdict to
        # copy; fastsgd fits, or says clearly what is wrong with the input
        assert ours.error is None or (
            isinstance(ours.error, CLEAR_ERRORS) and not _is_divergence(ours.error)
        ), "fastsgd failed where scikit-learn crashed" + report
        _event(f"{kind}: scikit-learn crashed ({type(theirs.error).__name__})")
        return
    sklearn_data_error = theirs.error is not None and not _is_divergence(theirs.error)
    if sklearn_data_error or (theirs.error is not None and has_twin):
        if ours.error is None:
            # fastsgd fitted where scikit-learn raised: only a divergence seen
            # differently near the overflow threshold is allowed
            assert _is_divergence(theirs.error) and ours.blew_up(X), (
                "fastsgd fitted where scikit-learn raised" + report
            )
            return
        assert _same_kind(ours.error, theirs.error), (
            "fastsgd raised another exception type than scikit-learn" + report
        )
        if str(ours.error) != str(theirs.error):
            _event(f"{kind}: message differs from scikit-learn's")
        return

    # scikit-learn fitted (or, without a twin, did not fail on the data)
    if ours.error is None:
        return
    assert _is_divergence(ours.error), "fastsgd raised where scikit-learn fits" + report
    if has_twin:
        assert theirs.blew_up(X), (
            "fastsgd diverged where scikit-learn's run did not blow up" + report
        )


# --------------------------------------------------------------------------
# The tests: one per estimator
# --------------------------------------------------------------------------


@SETTINGS
@given(case=st.tuples(datasets("classes"), sgd_settings("SGDClassifier")))
def test_sgd_classifier_on_awkward_data(case):
    (data, description), params = case
    _check("SGDClassifier", params, data, description)


@SETTINGS
@given(case=st.tuples(datasets("classes"), perceptron_settings()))
def test_perceptron_on_awkward_data(case):
    (data, description), params = case
    _check("Perceptron", params, data, description)


@SETTINGS
@given(case=st.tuples(datasets("real"), sgd_settings("SGDRegressor")))
def test_sgd_regressor_on_awkward_data(case):
    (data, description), params = case
    _check("SGDRegressor", params, data, description)


@SETTINGS
@given(case=st.tuples(datasets(None), sgd_settings("SGDOneClassSVM")))
def test_sgd_one_class_svm_on_awkward_data(case):
    (data, description), params = case
    _check("SGDOneClassSVM", params, data, description)


@SETTINGS
@given(case=st.tuples(datasets("classes"), mlp_settings("MLPClassifier")))
def test_mlp_classifier_on_awkward_data(case):
    (data, description), params = case
    _check("MLPClassifier", params, data, description)


@st.composite
def _mlp_regressor_cases(draw):
    params = draw(mlp_settings("MLPRegressor"))
    target = "counts" if params["loss"] == "poisson" else "real"
    return draw(datasets(target)), params


@SETTINGS
@given(case=_mlp_regressor_cases())
def test_mlp_regressor_on_awkward_data(case):
    (data, description), params = case
    _check("MLPRegressor", params, data, description)


# --------------------------------------------------------------------------
# Cases the hunt found, pinned (they hold whatever the draws)
# --------------------------------------------------------------------------


def _zero_weight_batch():
    """F1: the second mini-batch of four weighs nothing (scikit-learn crashes
    in ``np.average``; fastsgd must not report a divergence)."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((8, 3))
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    weights = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    return dict(X=X, y=y, sample_weight=weights)


def _poisson_float32():
    """F2: a float32 Poisson fit whose raw outputs reach about -96 at epoch 6,
    where ``y / exp(raw)`` overflows float32 (scikit-learn keeps y in
    float64, and its loss stays finite)."""
    X = np.array([[-4.0], [0.5], [4.0]], dtype=np.float32)
    return dict(X=X, y=np.array([0.0, 0.0, 1000.0]), sample_weight=None)


FOUND = [
    pytest.param(
        "MLPClassifier",
        dict(
            hidden_layer_sizes=(3,),
            solver=solver,
            batch_size=4,
            shuffle=False,
            max_iter=3,
            random_state=0,
        ),
        _zero_weight_batch,
        id=f"F1-zero-weight-batch-{solver}",
    )  # fmt: skip
    for solver in ("sgd", "adam")
] + [
    pytest.param(
        "MLPRegressor",
        dict(
            loss="poisson",
            hidden_layer_sizes=(1,),
            activation="tanh",
            solver="sgd",
            momentum=0.0,
            nesterovs_momentum=False,
            learning_rate_init=0.01,
            max_iter=6,
            shuffle=False,
            random_state=3,
            batch_size=3,
        ),
        _poisson_float32,
        id="F2-poisson-float32-ratio-overflow",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("kind", "params", "make"), FOUND)
def test_found_case(kind, params, make):
    _check(kind, params, make(), {"explicit": make.__name__})
