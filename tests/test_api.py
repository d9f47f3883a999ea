"""The public API: probabilities, model persistence, meta-estimators, attributes.

Probabilities are checked against scikit-learn's own ``SGDClassifier`` (with
``shuffle=False`` the per-sample algorithm is deterministic, so both models
agree) and against scipy; scores against ``sklearn.metrics``; the
early-stopping validation scores against the same split recomputed by hand.
"""

import pickle
import warnings
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from datasets import classification, regression
from scipy.special import softmax
from sklearn import linear_model as sk_linear_model
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    ShuffleSplit,
    StratifiedShuffleSplit,
    cross_val_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastsgd import SGDClassifier, SGDRegressor

_classification = partial(classification, n_samples=60, n_features=4, n_informative=3)


_regression = partial(regression, n_samples=60, n_features=4)


X2, Y2 = _classification(2)
X3, Y3 = _classification(3)
XR, YR = _regression()

# deterministic and short: identical trajectories in fastsgd and scikit-learn
PARITY = dict(shuffle=False, max_iter=5, tol=None, random_state=0)


# --------------------------------------------------------------------------
# Probabilities
# --------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
@pytest.mark.parametrize(("X", "y"), [(X2, Y2), (X3, Y3)], ids=["binary", "3-class"])
def test_predict_proba_matches_sklearn(loss, X, y):
    ours = SGDClassifier(loss=loss, **PARITY).fit(X, y)
    ref = sk_linear_model.SGDClassifier(loss=loss, **PARITY).fit(X, y)
    np.testing.assert_allclose(
        ours.coef_,
        ref.coef_,
        rtol=1e-6,
        atol=1e-9,
        err_msg="models differ: the probability comparison below would be moot",
    )
    np.testing.assert_allclose(
        ours.predict_proba(X),
        ref.predict_proba(X),
        rtol=1e-6,
        atol=1e-9,
        err_msg=f"predict_proba ({loss}) differs from scikit-learn's",
    )
    with np.errstate(divide="ignore"):
        ref_log = ref.predict_log_proba(X)
    ours_log = ours.predict_log_proba(X)
    finite = np.isfinite(ref_log)
    np.testing.assert_array_equal(np.isfinite(ours_log), finite)
    np.testing.assert_allclose(
        ours_log[finite],
        ref_log[finite],
        rtol=1e-6,
        atol=1e-9,
        err_msg=f"predict_log_proba ({loss}) differs from scikit-learn's",
    )


@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
@pytest.mark.parametrize(("X", "y"), [(X2, Y2), (X3, Y3)], ids=["binary", "3-class"])
def test_predict_proba_formula_equals_sklearn_on_the_same_weights(loss, X, y):
    """Same coef_/intercept_ in both estimators: same probabilities (to rounding)."""
    ref = sk_linear_model.SGDClassifier(loss=loss, **PARITY).fit(X, y)
    ours = SGDClassifier(loss=loss, **PARITY).fit(X, y)
    ours.coef_ = ref.coef_.copy()
    ours.intercept_ = ref.intercept_.copy()
    # large scores exercise the clipping (modified_huber) and saturation
    Xs = np.vstack([X, 50 * X])
    np.testing.assert_allclose(
        ours.predict_proba(Xs), ref.predict_proba(Xs), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_array_equal(ours.predict(Xs), ref.predict(Xs))


@pytest.mark.parametrize(
    "loss", ["hinge", "squared_hinge", "perceptron", "squared_error"]
)
def test_predict_proba_unavailable_without_probabilistic_loss(loss):
    est = SGDClassifier(loss=loss, max_iter=5, tol=None).fit(X2, Y2)
    assert not hasattr(est, "predict_proba"), f"{loss}: predict_proba should not exist"
    assert not hasattr(est, "predict_log_proba")
    with pytest.raises(AttributeError, match="predict_proba"):
        est.predict_proba(X2)
    # also before fitting, as in scikit-learn
    assert not hasattr(SGDClassifier(loss=loss), "predict_proba")


@pytest.mark.parametrize("batch_size", [1, 8])
def test_multinomial_predict_proba_is_softmax_of_decision(batch_size):
    est = SGDClassifier(
        loss="log_loss",
        multi_class="multinomial",
        batch_size=batch_size,
        max_iter=20,
        tol=None,
        random_state=0,
    ).fit(X3, Y3)
    proba = est.predict_proba(X3)
    assert proba.shape == (X3.shape[0], 3)
    np.testing.assert_allclose(
        proba.sum(axis=1),
        1.0,
        rtol=1e-12,
        err_msg="multinomial probabilities do not sum to one",
    )
    np.testing.assert_allclose(
        proba,
        softmax(est.decision_function(X3), axis=1),
        rtol=1e-12,
        err_msg="multinomial predict_proba is not the softmax of decision_function",
    )
    np.testing.assert_allclose(est.predict_log_proba(X3), np.log(proba), rtol=1e-12)
    np.testing.assert_array_equal(
        est.classes_[proba.argmax(axis=1)],
        est.predict(X3),
        err_msg="predict disagrees with the most probable class",
    )
    assert accuracy_score(Y3, est.predict(X3)) > 0.8


def test_ovr_log_loss_proba_rows_sum_to_one():
    est = SGDClassifier(loss="log_loss", max_iter=20, tol=None, random_state=0)
    proba = est.fit(X3, Y3).predict_proba(X3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all((proba >= 0) & (proba <= 1))


# --------------------------------------------------------------------------
# Coefficient storage, persistence
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGDClassifier(
            penalty="l1", alpha=0.01, max_iter=20, tol=None, random_state=0
        ).fit(X3, Y3),
        lambda: SGDRegressor(
            penalty="l1", alpha=0.05, max_iter=20, tol=None, random_state=0
        ).fit(XR, YR),
    ],
    ids=["clf", "reg"],
)
def test_sparsify_densify_round_trip(make):
    est = make()
    dense_coef = est.coef_.copy()
    dense_pred = est.predict(XR if isinstance(est, SGDRegressor) else X3)
    X = XR if isinstance(est, SGDRegressor) else X3
    assert est.sparsify() is est
    assert sp.issparse(est.coef_), "sparsify() did not make coef_ sparse"
    np.testing.assert_array_equal(
        est.coef_.toarray().reshape(dense_coef.shape), dense_coef
    )
    np.testing.assert_allclose(est.predict(X), dense_pred, rtol=1e-12)
    assert est.densify() is est
    assert isinstance(est.coef_, np.ndarray) and not sp.issparse(est.coef_)
    np.testing.assert_array_equal(est.coef_.reshape(dense_coef.shape), dense_coef)
    np.testing.assert_array_equal(est.predict(X), dense_pred)


@pytest.mark.parametrize(
    "est",
    [
        SGDClassifier(max_iter=5, tol=None, random_state=0),
        SGDClassifier(
            loss="log_loss",
            multi_class="multinomial",
            batch_size=8,
            momentum=0.9,
            max_iter=5,
            tol=None,
            random_state=0,
        ),
        SGDRegressor(
            batch_size=4,
            momentum=0.9,
            nesterov=True,
            average=True,
            max_iter=5,
            tol=None,
            random_state=0,
        ),
    ],
    ids=["clf", "multinomial-momentum", "reg-nesterov-avg"],
)
def test_pickle_round_trip_keeps_predictions_and_optimizer_state(est):
    X, y = (XR, YR) if isinstance(est, SGDRegressor) else (X3, Y3)
    kw = {} if isinstance(est, SGDRegressor) else {"classes": np.unique(y)}
    est = clone(est).partial_fit(X, y, **kw)
    restored = pickle.loads(pickle.dumps(est))
    for attr in ("coef_", "intercept_", "n_features_in_", "t_"):
        np.testing.assert_array_equal(getattr(restored, attr), getattr(est, attr))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    # the momentum buffers / step counts / averages survive pickling:
    # continuing the stream gives bitwise the same model
    est.partial_fit(X, y)
    restored.partial_fit(X, y)
    np.testing.assert_array_equal(
        restored.coef_,
        est.coef_,
        err_msg="partial_fit after unpickling diverges from the original",
    )
    np.testing.assert_array_equal(restored.intercept_, est.intercept_)


# --------------------------------------------------------------------------
# Parameters, clone, meta-estimators
# --------------------------------------------------------------------------

NEW_CLASSIFIER_PARAMS = {
    "batch_size",
    "momentum",
    "dampening",
    "nesterov",
    "multi_class",
    "device",
}
NEW_REGRESSOR_PARAMS = {
    "batch_size", "momentum", "dampening", "nesterov", "n_jobs", "device"
}  # fmt: skip


@pytest.mark.parametrize(
    ("ours", "theirs", "new"),
    [
        (SGDClassifier, sk_linear_model.SGDClassifier, NEW_CLASSIFIER_PARAMS),
        (SGDRegressor, sk_linear_model.SGDRegressor, NEW_REGRESSOR_PARAMS),
    ],
)
def test_params_are_sklearns_plus_the_new_ones(ours, theirs, new):
    our_params = ours().get_params()
    their_params = theirs().get_params()
    assert set(our_params) == set(their_params) | new, (
        f"parameter names differ: extra {set(our_params) - set(their_params) - new}, "
        f"missing {set(their_params) | new - set(our_params)}"
    )
    for name, default in their_params.items():
        assert our_params[name] == default, (
            f"default of {name}: {our_params[name]!r}, scikit-learn's {default!r}"
        )


def test_clone_get_params_set_params():
    est = SGDClassifier(
        batch_size=4, momentum=0.5, nesterov=True, alpha=0.01, random_state=3
    )
    est.fit(X2, Y2)
    cloned = clone(est)
    assert not hasattr(cloned, "coef_"), "clone must return an unfitted estimator"
    assert cloned.get_params() == est.get_params()
    assert cloned.set_params(batch_size=8, momentum=0.9) is cloned
    assert cloned.get_params()["batch_size"] == 8 and cloned.momentum == 0.9
    assert est.batch_size == 4, "set_params on the clone changed the original"
    with pytest.raises(ValueError, match="Invalid parameter 'batch'"):
        cloned.set_params(batch=3)
    # set_params changes behaviour: a refit with other params gives another model
    refit = (
        clone(est).set_params(batch_size=1, momentum=0.0, nesterov=False).fit(X2, Y2)
    )
    assert not np.array_equal(refit.coef_, est.coef_)
    # and the clone, refit with the same params, reproduces the model exactly
    np.testing.assert_array_equal(clone(est).fit(X2, Y2).coef_, est.coef_)


def test_pipeline_with_standard_scaler_equals_manual_scaling():
    rng = np.random.RandomState(0)
    X_raw = X3 * rng.uniform(1, 100, size=X3.shape[1]) + rng.uniform(
        -50, 50, X3.shape[1]
    )
    params = dict(max_iter=20, tol=None, random_state=0, batch_size=4, momentum=0.9)
    pipe = make_pipeline(StandardScaler(), SGDClassifier(**params)).fit(X_raw, Y3)
    scaler = StandardScaler().fit(X_raw)
    manual = SGDClassifier(**params).fit(scaler.transform(X_raw), Y3)
    np.testing.assert_array_equal(pipe[-1].coef_, manual.coef_)
    np.testing.assert_array_equal(
        pipe.predict(X_raw), manual.predict(scaler.transform(X_raw))
    )
    assert pipe.score(X_raw, Y3) > 0.8


def test_grid_search_matches_cross_val_score():
    grid = {"alpha": [1e-4, 1e-1], "batch_size": [1, 8]}
    cv = KFold(3, shuffle=True, random_state=0)
    base = SGDRegressor(max_iter=10, tol=None, random_state=0)
    search = GridSearchCV(base, grid, cv=cv, n_jobs=1).fit(XR, YR)
    assert set(search.best_params_) == {"alpha", "batch_size"}
    results = search.cv_results_
    for i, params in enumerate(results["params"]):
        expected = cross_val_score(clone(base).set_params(**params), XR, YR, cv=cv)
        np.testing.assert_allclose(
            results["mean_test_score"][i],
            expected.mean(),
            rtol=1e-12,
            err_msg=f"GridSearchCV score for {params} differs from cross_val_score",
        )
    best = int(np.argmax(results["mean_test_score"]))
    assert search.best_params_ == results["params"][best]
    assert search.best_estimator_.score(XR, YR) > 0.9


def test_feature_names_in_with_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X2, columns=[f"f{i}" for i in range(X2.shape[1])])
    est = SGDClassifier(max_iter=5, tol=None).fit(df, Y2)
    np.testing.assert_array_equal(est.feature_names_in_, df.columns.to_numpy())
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(X2)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"f0": "other"}))


def test_no_feature_names_for_arrays():
    est = SGDRegressor(max_iter=5, tol=None).fit(XR, YR)
    assert not hasattr(est, "feature_names_in_")
    assert est.n_features_in_ == XR.shape[1]


# --------------------------------------------------------------------------
# score, fitted attributes, verbose
# --------------------------------------------------------------------------


def test_score_is_accuracy_and_r2():
    clf = SGDClassifier(max_iter=10, tol=None, random_state=0).fit(X3, Y3)
    assert clf.score(X3, Y3) == accuracy_score(Y3, clf.predict(X3))
    sw = np.linspace(0.5, 2.0, X3.shape[0])
    assert clf.score(X3, Y3, sample_weight=sw) == accuracy_score(
        Y3, clf.predict(X3), sample_weight=sw
    )
    reg = SGDRegressor(max_iter=10, tol=None, random_state=0).fit(XR, YR)
    assert reg.score(XR, YR) == pytest.approx(r2_score(YR, reg.predict(XR)), rel=1e-12)
    assert reg.score(XR, YR) > 0.95


@pytest.mark.parametrize(
    "est",
    [
        SGDClassifier(
            loss="log_loss", learning_rate="constant", eta0=0.05, random_state=0
        ),
        SGDClassifier(
            loss="log_loss",
            batch_size=8,
            momentum=0.9,
            learning_rate="constant",
            eta0=0.01,
            random_state=0,
        ),
        SGDRegressor(random_state=0),
        SGDRegressor(batch_size=4, momentum=0.5, random_state=0),
    ],
    ids=["clf", "clf-minibatch", "reg", "reg-minibatch"],
)
def test_loss_curve_has_one_entry_per_epoch_and_decreases(est):
    """A small, steady rate on an easy problem: the epoch loss goes down.

    (With the large early rates of 'optimal' the *loss* alone need not
    decrease: the L2 penalty pulls an over-confident model back.)
    """
    X, y = (XR, YR) if isinstance(est, SGDRegressor) else (X2, Y2)
    est = clone(est).set_params(max_iter=200, tol=1e-3)
    est.fit(X, y)
    curve = np.asarray(est.loss_curve_)
    assert len(curve) == est.n_iter_, f"{len(curve)} losses for {est.n_iter_} epochs"
    assert np.all(np.isfinite(curve)) and np.all(curve >= 0)
    assert curve[-1] < 0.5 * curve[0], f"training loss did not decrease: {curve}"
    # decreasing-ish: no epoch is much worse than the best one before it
    assert np.all(curve[1:] <= 1.5 * np.minimum.accumulate(curve)[:-1] + 1e-3), curve


def test_loss_curve_accumulates_over_partial_fit():
    est = SGDRegressor(random_state=0)
    for _ in range(3):
        est.partial_fit(XR, YR)
    assert len(est.loss_curve_) == 3
    assert est.loss_curve_[2] < est.loss_curve_[0]
    est.fit(XR, YR)
    assert len(est.loss_curve_) == est.n_iter_, "fit must restart the loss curve"


@pytest.mark.parametrize(
    "stopping",
    [dict(tol=None), dict(tol=1e-3), dict(early_stopping=True, random_state=0)],
    ids=["no-stopping-rule", "objective-rule", "early-stopping"],
)
def test_first_epoch_loss_is_the_mean_sample_loss_along_the_trajectory(stopping):
    """One epoch of plain SGD by hand (squared error, constant rate, no penalty).

    Whatever the stopping rule: the training loss is recorded even when the
    objective is not tracked (``tol=None``, or early stopping, which trains on
    the rows outside scikit-learn's validation split, in order).
    """
    eta = 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SGDRegressor(
            learning_rate="constant",
            eta0=eta,
            penalty=None,
            shuffle=False,
            max_iter=1,
            **stopping,
        ).fit(XR, YR)
    train = np.ones(XR.shape[0], dtype=bool)
    if stopping.get("early_stopping"):
        _, idx_val = next(ShuffleSplit(test_size=0.1, random_state=0).split(XR, YR))
        train[idx_val] = False
    w = np.zeros(XR.shape[1])
    b = 0.0
    losses = []
    for x, target in zip(XR[train], YR[train], strict=True):
        p = x @ w + b
        losses.append(0.5 * (p - target) ** 2)
        w -= eta * (p - target) * x
        b -= eta * (p - target)
    np.testing.assert_allclose(est.coef_, w, rtol=1e-10)
    assert est.loss_curve_[0] == pytest.approx(np.mean(losses), rel=1e-10)


@pytest.mark.parametrize("cls", [SGDClassifier, SGDRegressor])
def test_validation_scores_none_without_early_stopping(cls):
    X, y = (XR, YR) if cls is SGDRegressor else (X2, Y2)
    est = cls(max_iter=5, tol=None).fit(X, y)
    assert est.validation_scores_ is None


@pytest.mark.parametrize("batch_size", [1, 4])
def test_validation_scores_with_early_stopping_classifier(batch_size):
    est = SGDClassifier(
        early_stopping=True,
        validation_fraction=0.2,
        random_state=0,
        batch_size=batch_size,
        max_iter=100,
    )
    est.fit(X2, Y2)
    assert len(est.validation_scores_) == est.n_iter_
    assert est.n_iter_ < 100, "early stopping never stopped on an easy problem"
    # the same split as scikit-learn: recompute the last score by hand
    split = StratifiedShuffleSplit(test_size=0.2, random_state=0)
    _, val = next(split.split(np.zeros((len(Y2), 1)), Y2))
    assert est.validation_scores_[-1] == pytest.approx(est.score(X2[val], Y2[val])), (
        "last validation score is not the accuracy on the held-out split"
    )


def test_validation_scores_with_early_stopping_regressor():
    """Mini-batch: the R^2 of the model on scikit-learn's held-out split.
    Per-sample: scores as scikit-learn's (of the unscaled weights, L2 decay
    and all, docs/linear.md), hence its stopping epoch and model."""
    params = dict(early_stopping=True, validation_fraction=0.2, random_state=0,
                  max_iter=200)  # fmt: skip
    est = SGDRegressor(batch_size=4, **params).fit(XR, YR)
    assert len(est.validation_scores_) == est.n_iter_
    _, val = next(ShuffleSplit(test_size=0.2, random_state=0).split(XR))
    assert est.validation_scores_[-1] == pytest.approx(
        r2_score(YR[val], est.predict(XR[val])), rel=1e-9
    ), "last validation score is not the R^2 on the held-out split"
    est = SGDRegressor(**params).fit(XR, YR)
    reference = sk_linear_model.SGDRegressor(**params).fit(XR, YR)
    assert len(est.validation_scores_) == est.n_iter_ == reference.n_iter_
    np.testing.assert_allclose(est.coef_, reference.coef_, rtol=1e-10)


@pytest.mark.parametrize(
    "est",
    [
        SGDClassifier(max_iter=7, tol=None, random_state=0),
        SGDRegressor(max_iter=7, tol=None, batch_size=4, random_state=0),
        SGDClassifier(max_iter=50, early_stopping=True, random_state=0),
    ],
    ids=["clf", "reg-minibatch", "early-stopping"],
)
def test_verbose_prints_one_line_per_epoch(est, capsys):
    X, y = (XR, YR) if isinstance(est, SGDRegressor) else (X2, Y2)
    quiet = clone(est).fit(X, y)
    assert capsys.readouterr().out == "", "verbose=0 must print nothing"
    loud = clone(est).set_params(verbose=1).fit(X, y)
    out = capsys.readouterr().out
    # scikit-learn's "-- Epoch k" line starts each epoch
    epoch_lines = [ln for ln in out.splitlines() if ln.startswith("-- Epoch ")]
    assert epoch_lines == [f"-- Epoch {k}" for k in range(1, loud.n_iter_ + 1)], out
    # printing must not change training
    np.testing.assert_array_equal(loud.coef_, quiet.coef_)


def test_n_iter_and_t_follow_sklearn_rules():
    est = SGDRegressor(max_iter=4, tol=None).fit(XR, YR)
    assert est.n_iter_ == 4
    assert est.t_ == 4 * XR.shape[0] + 1


# --------------------------------------------------------------------------
# Threads and warm starts
# --------------------------------------------------------------------------

# Big enough for the mini-batch kernel's parallel branches (batch * features *
# heads >= 2**15 multiply-adds), still tiny.
X_PAR, Y_PAR = _classification(4, n_samples=600, n_features=32, seed=1)


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(batch_size=256, momentum=0.9),
        dict(batch_size=256, average=True),
        dict(loss="log_loss", multi_class="multinomial", batch_size=256),
    ],
    ids=["per-sample-ovr", "minibatch", "minibatch-avg", "multinomial"],
)
def test_n_jobs_does_not_change_results(params):
    fits = [
        SGDClassifier(
            max_iter=3, tol=None, random_state=0, n_jobs=n_jobs, **params
        ).fit(X_PAR, Y_PAR)
        for n_jobs in (1, 2, -1, None)
    ]
    for est in fits[1:]:
        np.testing.assert_array_equal(
            est.coef_,
            fits[0].coef_,
            err_msg=f"n_jobs={est.n_jobs} gives other weights than n_jobs=1",
        )
        np.testing.assert_array_equal(est.intercept_, fits[0].intercept_)


def test_n_jobs_does_not_change_regressor_results():
    X, y = _regression(n_samples=300, n_features=128)
    fits = [
        SGDRegressor(
            max_iter=3,
            tol=None,
            random_state=0,
            n_jobs=n_jobs,
            batch_size=256,
            momentum=0.9,
        ).fit(X, y)
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(fits[1].coef_, fits[0].coef_)


def test_warm_start_matches_sklearn():
    """Per-sample warm start continues from coef_ exactly as scikit-learn's does."""
    params = dict(
        warm_start=True,
        shuffle=False,
        max_iter=2,
        tol=None,
        learning_rate="constant",
        eta0=0.01,
    )
    ours = SGDRegressor(**params)
    ref = sk_linear_model.SGDRegressor(**params)
    for _ in range(3):
        ours.fit(XR, YR)
        ref.fit(XR, YR)
        np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-9)
        np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-9)


@pytest.mark.parametrize(
    "cls_params",
    [
        (SGDClassifier, dict()),
        (SGDClassifier, dict(batch_size=4, momentum=0.9)),
        (SGDRegressor, dict()),
        (SGDRegressor, dict(batch_size=4, momentum=0.9)),
    ],
    ids=["clf", "clf-minibatch", "reg", "reg-minibatch"],
)
def test_warm_start_continues_from_previous_coef(cls_params):
    cls, params = cls_params
    X, y = (XR, YR) if cls is SGDRegressor else (X3, Y3)
    base = dict(max_iter=2, tol=None, random_state=0, **params)
    warm = cls(warm_start=True, **base).fit(X, y)
    first_coef, first_intercept = warm.coef_.copy(), warm.intercept_.copy()
    warm.fit(X, y)
    explicit = cls(**base).fit(
        X, y, coef_init=first_coef, intercept_init=first_intercept
    )
    np.testing.assert_array_equal(
        warm.coef_,
        explicit.coef_,
        err_msg="warm_start did not start from the previous coef_",
    )
    np.testing.assert_array_equal(warm.intercept_, explicit.intercept_)
    assert not np.array_equal(warm.coef_, first_coef), "the second fit did nothing"
    cold = cls(warm_start=False, **base).fit(X, y)
    cold_again = cold.fit(X, y)
    np.testing.assert_array_equal(
        cold_again.coef_,
        cls(**base).fit(X, y).coef_,
        err_msg="warm_start=False must restart from zero",
    )


# ----------------------------------------------------- the training-state protocol
@pytest.mark.parametrize("family", ["linear", "mlp"])
def test_training_state_average_and_load(family):
    """``training_state`` / ``average`` / ``load_training_state`` (what
    ``fastsgd.dask`` mixes with): the mixed model's parameters are the
    sample-weighted mean of the two models' published parameters (a float64
    NumPy reference), its counters and curve those the protocol documents."""
    import copy

    from sklearn.exceptions import NotFittedError

    from fastsgd import MLPRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(400, 5)
    y = X @ rng.randn(5) + 0.1 * rng.randn(400)
    if family == "linear":
        make = partial(SGDRegressor, batch_size=8, momentum=0.9, max_iter=3, tol=None,
                       random_state=0)  # fmt: skip

        def params(model):
            return [model.coef_, model.intercept_]
    else:
        make = partial(MLPRegressor, hidden_layer_sizes=(4,), max_iter=3,
                       random_state=0)  # fmt: skip

        def params(model):
            return model.coefs_ + model.intercepts_

    with pytest.raises(NotFittedError):
        make().training_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = make().fit(X[:100], y[:100]), make().fit(X[100:], y[100:])
    sa, sb = a.training_state(), b.training_state()
    before = [np.array(p, copy=True) for p in params(a)]
    mixed = type(sa).average([sa, sb], [0.25, 0.75], [100, 300])
    model = copy.deepcopy(a).load_training_state(mixed, [2.0, 1.5])
    for got, pa, pb in zip(params(model), params(a), params(b), strict=True):
        expected = 0.25 * np.asarray(pa, np.float64) + 0.75 * np.asarray(pb, np.float64)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert model.n_iter_ == 2 and list(model.loss_curve_) == [2.0, 1.5]
    assert model.t_ == a.t_ - 100 + 400
    # the inputs are untouched: average returns a new state
    for got, original in zip(params(a), before, strict=True):
        np.testing.assert_array_equal(got, original)
    assert a.training_state() is sa and mixed is not sa
