"""``SGDClassifierCV`` / ``SGDRegressorCV``: a grid and its folds in one pass.

The references are independent of the one-pass kernel: scikit-learn's own
``SGDClassifier`` / ``SGDRegressor`` fitted alone on each fold's rows (in the
order the shared pass visits them), scikit-learn's ``GridSearchCV`` for the
``cv_results_`` contract, and fastsgd's estimators fitted alone where
scikit-learn has no such model (mini-batches, multinomial).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sklm
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastsgd import SGDClassifier, SGDClassifierCV, SGDRegressor, SGDRegressorCV
from fastsgd._kernels.cpu import shuffle_as_sklearn
from fastsgd._trainer import _head_groups

ALPHAS = [1e-1, 1e-2, 1e-3, 1e-4]


def _classes(n_classes, dtype, sparse, n=240):
    X, y = make_classification(n, 12, n_informative=6, n_classes=n_classes,
                               random_state=0)  # fmt: skip
    X = X.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y


def _regression(dtype, sparse, n=240):
    X, y = make_regression(n, 12, n_informative=6, noise=5.0, random_state=0)
    X = X.astype(dtype)
    return (sp.csr_matrix(X) if sparse else X), y


#: (data, the CV estimator, scikit-learn's estimator, shared parameters)
KINDS = {
    "binary hinge": (lambda dt, s: _classes(2, dt, s), SGDClassifierCV,
                     sklm.SGDClassifier, dict(max_iter=15)),
    "one-vs-rest log_loss": (lambda dt, s: _classes(3, dt, s), SGDClassifierCV,
                             sklm.SGDClassifier, dict(loss="log_loss", max_iter=15)),
    "regression": (_regression, SGDRegressorCV, sklm.SGDRegressor,
                   dict(max_iter=15)),
}  # fmt: skip

#: settings each kind is tested with: the stopping rule, averaging with an
#: elastic net, early stopping with the 'adaptive' schedule, and a constant
#: rate with no stopping rule (dense: the heads train in vector lanes; alpha
#: 0.1 shrinks the scale below its floor, so a head's weights are folded)
SETTINGS = {
    "tol": dict(tol=1e-3),
    "constant rate": dict(tol=None, learning_rate="constant", eta0=0.1),
    "elasticnet averaged": dict(penalty="elasticnet", average=5, tol=None),
    "early stopping": dict(early_stopping=True, learning_rate="adaptive",
                           eta0=0.01, n_iter_no_change=2),
}  # fmt: skip


def _cv(estimator, n_splits=3):
    if estimator._classifier:
        return StratifiedKFold(n_splits, shuffle=True, random_state=0)
    return KFold(n_splits, shuffle=True, random_state=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_split_score_is_scikit_learns_fit_alone(kind, setting, sparse, dtype):
    """Without shuffling the shared pass visits each fold's rows in their
    order, so every (alpha, fold) head is the estimator fitted alone on the
    fold's rows (``shuffle=False``): the same held-out scores, to the bit, as
    ``GridSearchCV`` over scikit-learn's estimator. In float32 the reference
    is fastsgd's estimator: scikit-learn accumulates float32 rows in double
    (``docs/migration.md``), so its float32 models are not fastsgd's."""
    make, search_class, sk_class, params = KINDS[kind]
    if dtype == np.float32:
        sk_class = SGDClassifier if search_class is SGDClassifierCV else SGDRegressor
    X, y = make(dtype, sparse)
    params = dict(params, shuffle=False, random_state=0, **SETTINGS[setting])
    l1 = {"l1_ratios": [0.2, 0.7]} if params.get("penalty") == "elasticnet" else {}
    search = search_class(alphas=ALPHAS, cv=_cv(search_class), **l1, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached, in both
        search.fit(X, y)
        grid = {"alpha": ALPHAS} | ({"l1_ratio": l1["l1_ratios"]} if l1 else {})
        reference = GridSearchCV(sk_class(**params), grid,
                                 cv=_cv(search_class)).fit(X, y)  # fmt: skip
    n_splits = 3
    # the same models; R^2 in float32 also holds the rounding of the
    # predictions (one product for all models, one per model in the reference)
    atol = 1e-6 if dtype == np.float32 else 1e-12
    for split in range(n_splits):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], reference.cv_results_[key],
                        rtol=0, atol=atol, err_msg=key)  # fmt: skip
    assert search.best_params_ == reference.best_params_
    assert_array_equal(search.cv_results_["rank_test_score"],
                       reference.cv_results_["rank_test_score"])  # fmt: skip
    assert search.best_estimator_.coef_.dtype == dtype


@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("kind", ["binary hinge", "one-vs-rest log_loss", "regression"])
def test_heads_in_vector_lanes_equal_fits_alone(kind, n_jobs, monkeypatch):
    """A dense pass without averaging, L1 or a stopping rule trains its
    groups' heads in vector lanes (``cpu_per_sample.lanes_apply``), eight to a
    vector: here 11 alphas x 3 folds, so groups of 33 heads (five vectors, two
    calls of the dot products; one thread) or 16 and 17 (two threads; three
    classes: 3 x 33 heads in 6 groups), the last vector part padding. Each
    split's scores are scikit-learn's estimator's fitted alone, to the bit."""
    from fastsgd._kernels import cpu_per_sample

    chosen = []

    def spy(*args):
        chosen.append(lanes_apply(*args))
        return chosen[-1]

    lanes_apply = cpu_per_sample.lanes_apply
    monkeypatch.setattr(cpu_per_sample, "lanes_apply", spy)
    make, search_class, sk_class, params = KINDS[kind]
    X, y = make(np.float64, False)
    alphas = list(10.0 ** -np.linspace(1, 6, 11))
    params = dict(params, shuffle=False, random_state=0, tol=None)
    search = search_class(alphas=alphas, cv=_cv(search_class), n_jobs=n_jobs,
                          refit=False, **params)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
        reference = GridSearchCV(sk_class(**params), {"alpha": alphas},
                                 cv=_cv(search_class)).fit(X, y)  # fmt: skip
    assert chosen and all(chosen)
    for split in range(3):
        key = f"split{split}_test_score"
        assert_allclose(search.cv_results_[key], reference.cv_results_[key],
                        rtol=0, atol=1e-12, err_msg=key)  # fmt: skip


def _shared_orders(fast_class, random_state, n_rows, n_orders, epochs=1):
    """The shared pass's visiting orders: per epoch, per class's seed (one
    for binary and regression), all rows shuffled as scikit-learn shuffles."""
    seeds = fast_class(random_state=random_state)._draw_seeds(n_orders)
    orders = np.tile(np.arange(n_rows, dtype=np.int64), (len(seeds), 1))
    per_epoch = []
    for _ in range(epochs):
        for order, seed in zip(orders, seeds, strict=True):
            shuffle_as_sklearn(order, seed)
        per_epoch.append(orders.copy())
    return per_epoch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_heads_equal_fits_alone_on_the_shared_order(kind, sparse, dtype):
    """With shuffling, a head visits its fold's rows in the order of the
    shared pass (all rows shuffled with the seed a fit draws for its class):
    one epoch equals scikit-learn's estimator fitted alone on those rows in
    that order, weights and intercepts to rounding (fastsgd's in float32, as
    in the test above)."""
    make, search_class, sk_class, params = KINDS[kind]
    fast_class = SGDClassifier if search_class is SGDClassifierCV else SGDRegressor
    if dtype == np.float32:
        sk_class = fast_class
    X, y = make(dtype, sparse)
    grid = [(1e-2, 0.15), (1e-4, 0.15)]
    splits = [train for train, _ in _cv(search_class).split(X, y)]
    estimator = fast_class(**dict(params, max_iter=1, tol=None, random_state=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = estimator._fit_grid(X, y, None, grid, splits)
    n_heads = models[0][0][0].reshape(-1, X.shape[1]).shape[0]
    (orders,) = _shared_orders(fast_class, 3, X.shape[0], n_heads)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for split, train in enumerate(splits):
        member = np.zeros(X.shape[0], dtype=bool)
        member[train] = True
        for (alpha, _), (coef, intercept) in zip(grid, models[split], strict=True):
            coef = coef.reshape(n_heads, -1)
            for head, order in enumerate(orders):  # a class's head, its order
                rows = order[member[order]]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    alone = sk_class(**dict(params, alpha=alpha, max_iter=1, tol=None,
                                            shuffle=False))  # fmt: skip
                    alone.fit(X[rows], y[rows])
                alone_coef = alone.coef_.reshape(n_heads, -1)
                assert_allclose(coef[head], alone_coef[head], rtol=tol, atol=tol)
                assert_allclose(intercept[head], alone.intercept_[head], rtol=tol,
                                atol=tol)  # fmt: skip


def test_a_grids_classes_are_cut_into_groups_that_fill_the_threads():
    """A grid's heads of one class share an order, so a class's block can be
    cut: 5 classes on 2 threads run as 10 groups (no thread runs 3 of 5);
    a class of one head stays one group; one order, a group per thread."""
    assert _head_groups(150, 5, 2) == 10
    assert _head_groups(60, 3, 4) == 12
    assert _head_groups(10, 10, 2) == 10
    assert _head_groups(3, 3, 2) == 3
    assert _head_groups(30, 1, 2) == 2


def test_cut_groups_train_the_models_of_one_thread():
    """The cut groups (5 classes, 2 threads) train each head as one thread
    does, to the bit."""
    X, y = _classes(5, np.float64, False, n=300)
    splits = [train for train, _ in _cv(SGDClassifierCV).split(X, y)]
    models = []
    for n_jobs in (1, 2):
        estimator = SGDClassifier(loss="log_loss", max_iter=3, tol=None,
                                  random_state=0, n_jobs=n_jobs)  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            models.append(estimator._fit_grid(X, y, None, [(1e-2, 0.15), (1e-4, 0.15)],
                                              splits))  # fmt: skip
    for one, two in zip(models[0], models[1], strict=True):
        for (coef1, intercept1), (coef2, intercept2) in zip(one, two, strict=True):
            assert_array_equal(coef1, coef2)
            assert_array_equal(intercept1, intercept2)


def test_heads_equal_streams_over_several_shuffled_epochs():
    """Several shuffled epochs: each head equals scikit-learn's estimator fed
    its fold's rows, epoch by epoch, in the shared pass's orders of its class
    (``partial_fit``, which folds its scale at each call: to rounding)."""
    X, y = _classes(3, np.float64, False)
    grid = [(1e-3, 0.15), (1e-5, 0.15)]
    splits = [train for train, _ in _cv(SGDClassifierCV).split(X, y)]
    epochs = 4
    models = SGDClassifier(max_iter=epochs, tol=None, random_state=5)._fit_grid(
        X, y, None, grid, splits
    )
    per_epoch = _shared_orders(SGDClassifier, 5, X.shape[0], 3, epochs)
    for split, train in enumerate(splits):
        member = np.zeros(X.shape[0], dtype=bool)
        member[train] = True
        for (alpha, _), (coef, intercept) in zip(grid, models[split], strict=True):
            for head in range(3):
                alone = sklm.SGDClassifier(alpha=alpha, shuffle=False)
                for orders in per_epoch:
                    rows = orders[head][member[orders[head]]]
                    alone.partial_fit(X[rows], y[rows], classes=np.unique(y))
                assert_allclose(coef[head], alone.coef_[head], rtol=1e-9, atol=1e-9)
                assert_allclose(intercept[head], alone.intercept_[head], rtol=1e-9,
                                atol=1e-9)  # fmt: skip


def test_heads_stop_on_their_own():
    """Each (alpha, fold) head follows scikit-learn's stopping rule alone: the
    alphas stop at different epochs, and every score is the fit alone's."""
    X, y = _classes(2, np.float64, False, n=400)
    cv = _cv(SGDClassifierCV)
    params = dict(shuffle=False, tol=1e-3, n_iter_no_change=3, max_iter=200)
    search = SGDClassifierCV(alphas=ALPHAS, cv=cv, **params).fit(X, y)
    n_iters = set()
    for split, (train, test) in enumerate(cv.split(X, y)):
        for i, alpha in enumerate(ALPHAS):
            alone = sklm.SGDClassifier(alpha=alpha, **params).fit(X[train], y[train])
            n_iters.add(alone.n_iter_)
            assert search.cv_results_[f"split{split}_test_score"][i] == alone.score(
                X[test], y[test]
            )
    assert len(n_iters) > 1  # the heads did stop at different epochs


def _seen_and_loss(out):
    """The ``T`` and ``Avg. loss`` fields of each verbose epoch line."""
    return [
        (line.split("T: ")[1].split(",")[0], line.split("Avg. loss: ")[1].split(",")[0])
        for line in out.splitlines()
        if "Avg. loss" in line
    ]


def test_a_verbose_search_reports_each_head_as_its_fit_alone(capsys):
    """Verbose, each head's epoch line gives the samples it has seen and its
    mean loss over its split's rows, as scikit-learn's estimator fitted alone
    on those rows prints them (a pass keeps the loss sums for it; without
    verbose it keeps none)."""
    X, y = _classes(2, np.float64, False, n=200)
    cv = _cv(SGDClassifierCV, n_splits=2)
    params = dict(shuffle=False, max_iter=2, tol=None, verbose=1)
    SGDClassifierCV(alphas=ALPHAS, cv=cv, refit=False, **params).fit(X, y)
    lines = _seen_and_loss(capsys.readouterr().out)
    n_heads = 2 * len(ALPHAS)  # binary: a head per split and alpha
    assert len(lines) == 2 * n_heads
    for split, (train, _) in enumerate(cv.split(X, y)):
        for i, alpha in enumerate(ALPHAS):
            sklm.SGDClassifier(alpha=alpha, **params).fit(X[train], y[train])
            alone = _seen_and_loss(capsys.readouterr().out)
            head = split * len(ALPHAS) + i
            assert [lines[head], lines[n_heads + head]] == alone, (split, alpha)


@pytest.mark.parametrize("weighted", [False, True])
def test_a_splits_r2_scores_are_scikit_learns_per_model(weighted):
    """The models of a split are scored in one ``r2_score`` call, a column
    each: every score is, to the bit, a call of ``r2_score`` on that model's
    predictions alone (held-out rows of several sizes, models of several
    qualities)."""
    rng = np.random.default_rng(0)
    search = SGDRegressorCV()
    for n_rows in (2, 7, 1000, 9000):
        X = rng.standard_normal((n_rows, 5))
        y = X @ rng.standard_normal(5) * 10.0 ** rng.uniform(-3, 3)
        weights = rng.uniform(0.0, 3.0, n_rows) if weighted else None
        models = [(rng.standard_normal(5), rng.standard_normal(1)) for _ in range(7)]
        models[3] = None  # a diverged model scores nan
        group = [(alpha, 0.15) for alpha in range(7)]
        scores = search._score_group(models, group, X, y, None, None, weights)
        # the predictions as the search makes them, one product for all models
        # (a product per model can differ in the last bit)
        fitted = [m for m, model in enumerate(models) if model is not None]
        coef = np.vstack([models[m][0] for m in fitted])
        decision = X @ coef.T + np.concatenate([models[m][1] for m in fitted])
        assert np.isnan(scores[3])
        for column, m in enumerate(fitted):
            alone = r2_score(y, decision[:, column], sample_weight=weights)
            assert scores[m] == alone, (n_rows, m)


def test_shuffled_search_agrees_with_grid_search_over_scikit_learn():
    """With shuffling the shared order is not scikit-learn's per-fit shuffle,
    so the scores differ by the noise of SGD; the chosen alpha and the best
    score agree with ``GridSearchCV`` over scikit-learn's estimator."""
    X, y = make_classification(3000, 20, n_informative=8, random_state=1)
    X = StandardScaler().fit_transform(X)
    alphas = 10.0 ** -np.arange(1, 7)
    params = dict(max_iter=10, tol=None, random_state=0)
    search = SGDClassifierCV(alphas=alphas, **params).fit(X, y)
    reference = GridSearchCV(sklm.SGDClassifier(**params), {"alpha": alphas}).fit(X, y)
    assert search.alpha_ == reference.best_params_["alpha"]
    assert abs(search.best_score_ - reference.best_score_) < 0.01
    # the smallest alphas are the noisiest from one shuffle to the next
    assert_allclose(search.cv_results_["mean_test_score"],
                    reference.cv_results_["mean_test_score"], atol=0.05)  # fmt: skip


def test_passes_within_the_memory_budget_train_the_same_models():
    """A grid larger than ``max_head_bytes`` trains in several passes, each
    with the models that fit: the same scores as one pass."""
    X, y = _classes(3, np.float64, False)
    params = dict(alphas=ALPHAS, cv=3, max_iter=5, tol=None, random_state=0)
    one = SGDClassifierCV(**params).fit(X, y)
    # one model's heads: 3 classes x 3 splits x 12 features x 8 bytes
    several = SGDClassifierCV(max_head_bytes=2 * 3 * 3 * 12 * 8, **params).fit(X, y)
    one_pass, groups = several._passes(several._grid(), 3, 3, X, True)
    assert one_pass and len(groups) == 2
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        assert_array_equal(one.cv_results_[key], several.cv_results_[key])


def test_wide_models_train_a_point_per_pass_or_alone():
    """A class's heads of a grid point (on every fold) must fit
    ``ONE_PASS_CACHE_BYTES`` for the grid to train in passes, and a pass
    takes as many points as keep them there."""
    search = SGDClassifierCV(alphas=ALPHAS)
    wide = sp.csr_matrix((10, 2**16))  # 3 folds: 1.5 MB a point and class
    one_pass, groups = search._passes(search._grid(), 20, 3, wide, True)
    assert one_pass and [len(group) for group in groups] == [2, 2]
    wider = sp.csr_matrix((10, 2**18))  # 6 MB: each model alone
    one_pass, groups = search._passes(search._grid(), 20, 3, wider, True)
    assert not one_pass and [len(group) for group in groups] == [4]


@pytest.mark.parametrize(
    "params",
    [
        dict(batch_size=8, momentum=0.9),
        dict(loss="log_loss", multi_class="multinomial"),
    ],  # fmt: skip
    ids=["mini-batch", "multinomial"],
)
def test_configurations_without_one_pass_fit_each_model_alone(params):
    """Mini-batches and multinomial models train each model on its own: the
    scores of ``GridSearchCV`` over fastsgd's estimator, exactly."""
    X, y = _classes(3, np.float64, False)
    params = dict(params, max_iter=5, tol=None, random_state=0)
    search = SGDClassifierCV(alphas=ALPHAS, cv=3, **params).fit(X, y)
    reference = GridSearchCV(SGDClassifier(**params), {"alpha": ALPHAS}, cv=3).fit(X, y)
    assert_array_equal(search.cv_results_["mean_test_score"],
                       reference.cv_results_["mean_test_score"])  # fmt: skip


def test_results_have_grid_search_cv_keys_and_attributes():
    X, y = _classes(3, np.float64, False)
    search = SGDClassifierCV(
        alphas=ALPHAS, penalty="elasticnet", l1_ratios=[0.1, 0.9], cv=3, max_iter=5,
        tol=None, random_state=0,
    ).fit(X, y)  # fmt: skip
    reference = GridSearchCV(
        SGDClassifier(penalty="elasticnet", max_iter=5, tol=None, random_state=0),
        {"alpha": ALPHAS, "l1_ratio": [0.1, 0.9]}, cv=3,
    ).fit(X, y)  # fmt: skip
    expected = {key for key in reference.cv_results_ if not key.startswith("std_")}
    assert expected <= set(search.cv_results_)
    assert search.cv_results_["params"] == reference.cv_results_["params"]
    assert list(search.cv_results_["param_alpha"]) == list(
        reference.cv_results_["param_alpha"]
    )
    best = search.best_index_
    assert search.best_params_ == search.cv_results_["params"][best]
    assert search.alpha_ == search.best_params_["alpha"]
    assert search.l1_ratio_ == search.best_params_["l1_ratio"]
    assert search.best_score_ == search.cv_results_["mean_test_score"][best]
    assert search.cv_results_["rank_test_score"][best] == 1
    assert search.n_splits_ == 3
    refit = search.best_estimator_
    assert isinstance(refit, SGDClassifier)
    assert refit.alpha == search.alpha_ and refit.l1_ratio == search.l1_ratio_
    alone = SGDClassifier(penalty="elasticnet", alpha=search.alpha_,
                          l1_ratio=search.l1_ratio_, max_iter=5, tol=None,
                          random_state=0).fit(X, y)  # fmt: skip
    assert_array_equal(search.coef_, alone.coef_)
    assert_array_equal(search.intercept_, alone.intercept_)
    assert_array_equal(search.predict(X), alone.predict(X))
    assert_array_equal(search.decision_function(X), alone.decision_function(X))
    assert search.score(X, y) == alone.score(X, y)


def test_scoring_by_name_and_callable():
    """A scorer reads a fitted estimator of each model (``predict_proba``
    here): without shuffling, scikit-learn's scores of its fits alone."""
    X, y = _classes(3, np.float64, False)
    model = dict(max_iter=5, tol=None, loss="log_loss", shuffle=False)
    params = dict(alphas=ALPHAS, cv=3, **model)
    reference = GridSearchCV(sklm.SGDClassifier(**model), {"alpha": ALPHAS}, cv=3,
                             scoring="neg_log_loss").fit(X, y)  # fmt: skip
    named = SGDClassifierCV(scoring="neg_log_loss", **params).fit(X, y)
    assert_allclose(named.cv_results_["mean_test_score"],
                    reference.cv_results_["mean_test_score"], rtol=1e-12)  # fmt: skip
    assert np.all(named.cv_results_["mean_test_score"] < 0)
    assert_allclose(named.predict_proba(X).sum(axis=1), 1.0)

    def balanced_errors(estimator, X, y):
        return -np.mean(estimator.predict(X) != y)

    called = SGDClassifierCV(scoring=balanced_errors, **params).fit(X, y)
    default = SGDClassifierCV(**params).fit(X, y)
    assert_allclose(called.cv_results_["mean_test_score"],
                    default.cv_results_["mean_test_score"] - 1.0)  # fmt: skip


def test_sample_weight_trains_and_scores_each_fold_with_its_rows_weights():
    """As ``GridSearchCV``: each fold trains with its rows' weights, and the
    held-out rows are scored with theirs."""
    X, y = _classes(2, np.float64, False)
    weights = np.random.RandomState(0).uniform(0.5, 2.0, size=X.shape[0])
    params = dict(shuffle=False, max_iter=5, tol=None)
    search = SGDClassifierCV(alphas=ALPHAS, cv=_cv(SGDClassifierCV), **params)
    search.fit(X, y, sample_weight=weights)
    reference = GridSearchCV(sklm.SGDClassifier(**params), {"alpha": ALPHAS},
                             cv=_cv(SGDClassifierCV))  # fmt: skip
    reference.fit(X, y, sample_weight=weights)
    assert_array_equal(search.cv_results_["mean_test_score"],
                       reference.cv_results_["mean_test_score"])  # fmt: skip
    unweighted = SGDClassifierCV(alphas=ALPHAS, cv=_cv(SGDClassifierCV), **params)
    assert not np.array_equal(unweighted.fit(X, y).cv_results_["mean_test_score"],
                              search.cv_results_["mean_test_score"])  # fmt: skip


def test_in_a_pipeline():
    X, y = _regression(np.float64, False)
    pipe = make_pipeline(StandardScaler(), SGDRegressorCV(cv=3, random_state=0))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.9
    assert pipe[-1].alpha_ in pipe[-1].alphas


def test_refit_false_keeps_no_model():
    X, y = _classes(2, np.float64, False)
    search = SGDClassifierCV(alphas=ALPHAS, cv=3, refit=False, max_iter=5, tol=None)
    search.fit(X, y)
    assert not hasattr(search, "best_estimator_")
    assert search.alpha_ in ALPHAS
    with pytest.raises(NotFittedError, match="refit=False"):
        search.predict(X)


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        SGDClassifierCV().predict(np.zeros((2, 3)))


def test_predict_proba_follows_the_loss():
    assert not hasattr(SGDClassifierCV(loss="hinge"), "predict_proba")
    assert hasattr(SGDClassifierCV(loss="log_loss"), "predict_proba")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (dict(alphas=[]), "alphas must be a non-empty"),
        (dict(alphas=[1e-3, -1.0]), "alphas must be a non-empty"),
        (dict(alphas=[np.nan]), "alphas must be a non-empty"),
        (dict(alphas=[0.0, 1e-3]), "alphas must be > 0 since learning_rate"),
        (dict(penalty="elasticnet", l1_ratios=[0.5, 1.5]), "l1_ratios must be"),
        (dict(penalty="elasticnet", l1_ratios=[]), "l1_ratios must be"),
        (dict(max_head_bytes=0), "max_head_bytes"),
        (dict(cv="five"), "cv"),
    ],
)
def test_bad_parameters_raise_value_error(params, message):
    X, y = _classes(2, np.float64, False)
    with pytest.raises(ValueError, match=message):
        SGDClassifierCV(**params).fit(X, y)


@pytest.mark.parametrize("bad", ["short", "nan", "inf"])
def test_bad_sample_weight_raises_value_error(bad):
    """Checked by the search itself: its fits skip the finiteness checks
    (``assume_finite``), so a NaN would otherwise train them into NaN."""
    X, y = _classes(2, np.float64, False)
    weights = np.ones(3) if bad == "short" else np.ones(X.shape[0])
    if bad != "short":
        weights[7] = np.nan if bad == "nan" else np.inf
    with pytest.raises(ValueError, match="sample_weight"):
        SGDClassifierCV(cv=3).fit(X, y, sample_weight=weights)


def test_a_diverging_model_scores_nan_and_the_rest_still_train(monkeypatch):
    """As ``GridSearchCV`` (``error_score=nan``): when a head diverges the pass
    is dropped and each model is fitted alone; one that diverges gets a
    ``FitFailedWarning`` and nan scores, the others are still ranked. (The
    divergence is injected: the per-sample step's clipped derivative keeps a
    grid of alphas on one data set from diverging at some alphas only.)"""
    from fastsgd._epoch import DivergenceError

    def diverge(*args, **kwargs):
        raise DivergenceError(1, 0.01, "eta0", "diverged")

    fit = SGDRegressor.fit

    def fit_unless_large_alpha(self, X, y, **kwargs):
        if self.alpha > 1:
            diverge()
        return fit(self, X, y, **kwargs)

    monkeypatch.setattr(SGDRegressor, "_fit_grid", diverge)
    monkeypatch.setattr(SGDRegressor, "fit", fit_unless_large_alpha)
    X, y = _regression(np.float64, False)
    search = SGDRegressorCV(alphas=[1e-4, 10.0], cv=3, max_iter=5, tol=None,
                            random_state=0)  # fmt: skip
    with pytest.warns(FitFailedWarning, match="alpha=10.0.*diverged"):
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    assert list(search.cv_results_["rank_test_score"]) == [1, 2]
    assert search.alpha_ == 1e-4
    reference = GridSearchCV(sklm.SGDRegressor(max_iter=5, tol=None, random_state=0),
                             {"alpha": [1e-4]}, cv=3).fit(X, y)  # fmt: skip
    assert_allclose(scores[0], reference.best_score_, rtol=1e-12)


def test_float32_stays_float32():
    X, y = _classes(3, np.float32, False)
    search = SGDClassifierCV(alphas=ALPHAS, cv=3, max_iter=5, tol=None).fit(X, y)
    assert search.coef_.dtype == np.float32


@parametrize_with_checks(
    [SGDClassifierCV(alphas=[1e-2, 1e-4], cv=3),
     SGDRegressorCV(alphas=[1e-2, 1e-4], cv=3)],
    expected_failed_checks=lambda estimator: {
        "check_sample_weight_equivalence_on_dense_data": "as scikit-learn's SGD",
        "check_sample_weight_equivalence_on_sparse_data": "as scikit-learn's SGD",
    },
)  # fmt: skip
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_model_file_round_trip(tmp_path):
    """``fastsgd.save`` / ``fastsgd.load`` keep a fitted search (its refit
    model and its results)."""
    pytest.importorskip("skops")
    import fastsgd

    X, y = _classes(3, np.float64, False)
    search = SGDClassifierCV(alphas=ALPHAS, cv=3, max_iter=5, tol=None).fit(X, y)
    fastsgd.save(search, tmp_path / "search.skops")
    loaded = fastsgd.load(tmp_path / "search.skops")
    assert_array_equal(loaded.predict(X), search.predict(X))
    assert_array_equal(loaded.cv_results_["mean_test_score"],
                       search.cv_results_["mean_test_score"])  # fmt: skip
    assert loaded.best_params_ == search.best_params_
