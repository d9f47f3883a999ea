"""``SGDClassifierCV`` and ``SGDRegressorCV``: an alpha grid and its
cross-validation folds, trained as heads of one pass per fold.

``GridSearchCV(SGDClassifier(), {"alpha": alphas}, cv=5)`` trains
``len(alphas) * 5`` models, each reading its fold's rows ``max_iter`` times.
Here each fold's models are the heads of one per-sample fit
(``SGDClassifier._fit_grid``): every row of the fold's training set is read
once per epoch (per thread group) for all alphas and l1-ratios, each model
stops on its own, and the fold's held-out rows are scored for all of them in
one product. Each model equals the estimator fitted alone on its fold, to the
bit (the same ``random_state`` gives the same shuffles), so ``cv_results_``
is ``GridSearchCV``'s with the same folds. See ``docs/tuning.md``.
"""

import inspect
import time
import warnings
from numbers import Integral

import numpy as np
from scipy.stats import rankdata
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import FitFailedWarning, NotFittedError
from sklearn.metrics import check_scoring, r2_score
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from fastsgd._base import validate_X_y
from fastsgd._device import is_device_array
from fastsgd._epoch import DivergenceError, one_blas_thread
from fastsgd.linear_model import SGDClassifier, SGDRegressor

#: The default grid: scikit-learn's advice for SGD's ``alpha``, the values of
#: ``10.0 ** -np.arange(1, 7)`` (a tuple: a default parameter compares by value).
DEFAULT_ALPHAS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)

#: The most bytes one class's heads of a grid point (on all folds) may hold
#: for the grid to train in passes, and the most a pass gives each class: a
#: class's heads are read at every row of its order, by the thread that trains
#: them, and must stay in that core's cache. Hashed text (2**16 features, 5
#: folds: 2.6 MB a point) then trains a point per pass: 16.5 s against 21.3 s
#: model by model and 25.1 s with all 6 points in one pass (20 classes, 60k
#: rows, 5 epochs, 2 cores).
ONE_PASS_CACHE_BYTES = 4 * 2**20

#: The parameters a CV estimator adds to its estimator's (which loses
#: ``alpha`` and ``l1_ratio`` to the grids, and ``warm_start``).
_SEARCH_PARAMETERS = {
    "alphas": ["array-like"],
    "l1_ratios": ["array-like", None],
    "cv": ["cv_object"],
    "scoring": [str, callable, None],
    "refit": ["boolean"],
    "max_head_bytes": [Interval(Integral, 1, None, closed="left")],
}

#: The parameters of the estimator a CV estimator does not pass on.
_REPLACED = ("alpha", "l1_ratio", "warm_start")


def _constraints(estimator_class):
    return {
        **{key: value for key, value in estimator_class._parameter_constraints.items()
           if key not in _REPLACED},
        **_SEARCH_PARAMETERS,
    }  # fmt: skip


def _has_delegate(name):
    """``available_if`` check: the refit model has method ``name`` (before a
    fit: the estimator it would be)."""

    def check(self):
        model = getattr(self, "best_estimator_", None)
        if model is None:
            model = self._estimator(1e-4, 0.15)
        return hasattr(model, name)

    return check


def _validated():
    """The context of the fits inside a search, whose ``X`` the search has
    checked: scikit-learn's ``assume_finite`` skips each fit's pass over it
    for NaN and infinity (two fits a search, 5 ms each on 80k x 100)."""
    return config_context(assume_finite=True)


class _SGDSearchCV(BaseEstimator):
    """What the two CV estimators share: the grid, the folds, the passes, the
    scores and the refit."""

    _estimator_class = None

    # ------------------------------------------------------------ the grid
    def _estimator(self, alpha, l1_ratio):
        """The estimator of one grid point (unfitted)."""
        params = {name: getattr(self, name) for name in self._estimator_params()}
        # a clone: each fit draws from its own copy of a RandomState, as
        # GridSearchCV's clones do
        return clone(self._estimator_class(alpha=alpha, l1_ratio=l1_ratio, **params))

    def _estimator_params(self):
        return [
            name for name in self._estimator_class().get_params()
            if name not in _REPLACED
        ]  # fmt: skip

    def _elasticnet(self):
        return self.penalty == "elasticnet"

    def _grid(self):
        """``(alpha, l1_ratio)`` pairs in ``GridSearchCV``'s order (``alpha``
        outer, ``l1_ratio`` inner)."""
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or not np.isfinite(alphas).all() or (alphas < 0).any():
            raise ValueError(
                f"alphas must be a non-empty list of finite values >= 0; got "
                f"{self.alphas!r}."
            )
        if self.learning_rate == "optimal" and (alphas == 0).any():
            raise ValueError(
                "alphas must be > 0 since learning_rate is 'optimal'. alpha is used "
                "to compute the optimal learning rate."
            )
        l1_ratios = [0.15]
        if self._elasticnet():
            given = [0.15] if self.l1_ratios is None else self.l1_ratios
            l1_ratios = np.asarray(given, dtype=np.float64).ravel()
            if l1_ratios.size == 0 or not ((l1_ratios >= 0) & (l1_ratios <= 1)).all():
                raise ValueError(
                    f"l1_ratios must be a non-empty list of values in [0, 1]; got "
                    f"{self.l1_ratios!r}."
                )
        return [(float(a), float(r)) for a in alphas for r in l1_ratios]

    def _one_pass(self, estimator, n_classes):
        """Whether the grid trains as heads of one fit: scikit-learn's
        per-sample algorithm (one-vs-rest, binary or regression)."""
        multinomial = getattr(estimator, "multi_class", "ovr") == "multinomial"
        return (estimator.batch_size == 1 and estimator.momentum == 0
                and estimator.device in ("cpu", "auto")
                and not (multinomial and n_classes > 2))  # fmt: skip

    def _model_bytes(self, n_heads, X):
        """The bytes of ``n_heads`` heads on ``X``: the weights, their average
        and the L1 sums of each head."""
        arrays = 1 + bool(self.average) + (self.penalty in ("l1", "elasticnet"))
        return max(1, n_heads * X.shape[1] * X.dtype.itemsize * arrays)

    def _passes(self, grid, heads, n_splits, X, one_pass):
        """Whether the grid trains as heads of passes, and the grid cut into
        the groups of points that train together.

        A grid point has ``heads`` heads (a class's, or one) on each of the
        ``n_splits`` splits. It trains in passes where ``one_pass`` allows and
        one class's heads of a point fit ``ONE_PASS_CACHE_BYTES``; a pass takes
        as many points as keep a class's heads within that, and all its heads
        within ``max_head_bytes``. Otherwise each model is fitted alone, as
        many at a time as ``max_head_bytes`` holds.
        """
        per_class = self._model_bytes(n_splits, X)
        one_pass = one_pass and per_class <= ONE_PASS_CACHE_BYTES
        per_point = self._model_bytes(heads * (n_splits if one_pass else 1), X)
        size = self.max_head_bytes // per_point
        if one_pass:
            size = min(size, ONE_PASS_CACHE_BYTES // per_class)
        size = max(1, size)
        return one_pass, [grid[i : i + size] for i in range(0, len(grid), size)]

    # ------------------------------------------------------------ fitting
    def fit(self, X, y, sample_weight=None):
        """Train every (alpha, l1_ratio) model on every fold, pick the best
        mean score and refit it on all rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (float32 trains in float32; CSR stays sparse).
        y : array-like of shape (n_samples,)
            Targets (class labels for ``SGDClassifierCV``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples: each fold trains with its rows' weights,
            and its held-out rows are scored with theirs, as scikit-learn's
            ``GridSearchCV`` scores them (a scorer that takes no
            ``sample_weight`` scores them unweighted, with a warning).

        Returns
        -------
        self : object
            The fitted search.
        """
        self._validate_params()
        grid = self._grid()
        if is_device_array(X) or is_device_array(y):
            raise ValueError(
                f"{type(self).__name__} takes host data (NumPy arrays, SciPy "
                "matrices): it cuts the folds on the host; with device='cuda' each "
                "fit copies its rows to the GPU."
            )
        # CSR with int32 indices, once: the fits take it without a copy
        X, y = validate_X_y(self, X, y, reset=True, y_numeric=not self._classifier)
        if self._classifier:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got "
                    f"{len(self.classes_)} class"
                )
        if sample_weight is not None:  # (checked here: the fits assume it finite)
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        cv = check_cv(self.cv, y, classifier=self._classifier)
        splits = list(cv.split(X, y))
        scorer = (
            None
            if self.scoring is None
            else check_scoring(self._estimator(*grid[0]), self.scoring)
        )
        # as GridSearchCV: the held-out rows keep their weights where the
        # scoring takes them
        score_weight = sample_weight if self._scores_take_weights(scorer) else None
        if sample_weight is not None and score_weight is None:
            warnings.warn(
                f"The scoring {scorer} does not support sample_weight, which may "
                "lead to statistically incorrect results when fitting "
                f"{type(self).__name__} with sample_weight.",
                UserWarning,
                stacklevel=2,
            )
        n_models, n_splits = len(grid), len(splits)
        scores = np.full((n_models, n_splits), np.nan)
        fit_times = np.zeros((n_models, n_splits))
        score_times = np.zeros((n_models, n_splits))
        estimator = self._estimator(*grid[0])
        classes = getattr(self, "classes_", None)
        n_classes = 1 if classes is None else len(classes)
        heads = 1 if n_classes <= 2 else n_classes
        one_pass, groups = self._passes(
            grid, heads, n_splits, X, self._one_pass(estimator, n_classes)
        )
        start = 0
        for group in groups:
            where = slice(start, start + len(group))
            start += len(group)
            began = time.perf_counter()
            with _validated():
                models = (
                    self._fit_one_pass(X, y, sample_weight, group, splits)
                    if one_pass
                    else None
                )
            elapsed = time.perf_counter() - began
            for split, (train, test) in enumerate(splits):
                if models is None:  # each model alone, on the split's rows
                    began = time.perf_counter()
                    with _validated():
                        split_models = self._fit_alone(
                            X[train],
                            y[train],
                            None if sample_weight is None else sample_weight[train],
                            group,
                        )
                    split_classes = None if classes is None else np.unique(y[train])
                    fit_times[where, split] = (time.perf_counter() - began) / len(group)
                else:
                    split_models, split_classes = models[split], classes
                    fit_times[where, split] = elapsed / len(group) / n_splits
                began = time.perf_counter()
                # BLAS on one thread: its threads would otherwise spin through
                # the start of the next pass, or of the caller's next fit
                with one_blas_thread():
                    scores[where, split] = self._score_group(
                        split_models,
                        group,
                        X[test],
                        y[test],
                        split_classes,
                        scorer,
                        None if score_weight is None else score_weight[test],
                    )
                score_times[where, split] = (time.perf_counter() - began) / len(group)
        self._set_results(grid, scores, fit_times, score_times)
        if self.refit:
            began = time.perf_counter()
            with _validated():
                self.best_estimator_ = self._estimator(*grid[self.best_index_]).fit(
                    X, y, sample_weight=sample_weight
                )
            self.refit_time_ = time.perf_counter() - began
            for name in ("coef_", "intercept_", "n_iter_", "t_"):
                setattr(self, name, getattr(self.best_estimator_, name))
        return self

    def _fit_one_pass(self, X, y, sample_weight, group, splits):
        """The models of ``group`` on every split, as heads of one pass
        (``_fit_grid``): ``models[split][point]``; None if a head diverged
        (then each model is fitted alone, which finds which)."""
        try:
            return self._estimator(*group[0])._fit_grid(
                X, y, sample_weight, group, [train for train, _ in splits]
            )
        except DivergenceError:
            return None

    def _fit_alone(self, X, y, sample_weight, group):
        """The models of ``group`` each fitted alone on ``X, y``:
        ``(coef, intercept)`` each, None where it diverged (with
        ``GridSearchCV``'s ``FitFailedWarning``; its score is nan)."""
        models = []
        for alpha, l1_ratio in group:
            try:
                model = self._estimator(alpha, l1_ratio).fit(
                    X, y, sample_weight=sample_weight
                )
                models.append((model.coef_, model.intercept_))
            except DivergenceError as error:
                warnings.warn(
                    f"The fit with alpha={alpha}, l1_ratio={l1_ratio} diverged; its "
                    f"score on this split is nan. {error}",
                    FitFailedWarning,
                    stacklevel=3,
                )
                models.append(None)
        return models

    # ------------------------------------------------------------ scoring
    def _fitted(self, alpha, l1_ratio, coef, intercept, classes, n_features):
        """A fitted estimator of one model (for a scorer)."""
        model = self._estimator(alpha, l1_ratio)
        model.coef_, model.intercept_ = coef, intercept
        model.n_features_in_ = n_features
        model.device_ = "cpu"
        model.t_ = 1.0
        if self._classifier:
            model.classes_ = classes
        return model

    def _scores_take_weights(self, scorer):
        """Whether the held-out scores take ``sample_weight``
        (``GridSearchCV``'s rule; it warns when a scorer cannot)."""
        if scorer is None:
            return True
        if hasattr(scorer, "_accept_sample_weight"):
            accept = scorer._accept_sample_weight()
        else:
            accept = "sample_weight" in inspect.signature(scorer).parameters
        return accept

    def _score_group(self, models, group, X_test, y_test, classes, scorer,
                     weights):  # fmt: skip
        """Each model's held-out score (nan for a diverged one), weighted by
        ``weights`` (or not: None). With the default scoring, all the models'
        decision values in one product (``X_test`` read once); with a scorer,
        one fitted estimator each."""
        scores = np.full(len(models), np.nan)
        if scorer is not None:
            kwargs = {} if weights is None else {"sample_weight": weights}
            for m, ((alpha, l1_ratio), model) in enumerate(
                zip(group, models, strict=True)
            ):
                if model is not None:
                    scores[m] = scorer(
                        self._fitted(alpha, l1_ratio, *model, classes, X_test.shape[1]),
                        X_test, y_test, **kwargs,
                    )  # fmt: skip
            return scores
        fitted = [m for m, model in enumerate(models) if model is not None]
        if not fitted:
            return scores
        coef = np.vstack([np.atleast_2d(models[m][0]) for m in fitted])
        intercept = np.concatenate([np.ravel(models[m][1]) for m in fitted])
        decision = np.asarray(X_test @ coef.T) + intercept
        if not self._classifier:
            # every model's R² in one call, a column each: in Fortran order each
            # column's sums are added as in a call per model (the same bits),
            # and scikit-learn checks the arrays once, not per model (23 ms of
            # a 0.36 s regression search with 30 calls)
            truth = np.broadcast_to(np.asarray(y_test)[:, None], decision.shape)
            scores[fitted] = r2_score(
                np.asfortranarray(truth), np.asfortranarray(decision),
                sample_weight=weights, multioutput="raw_values",
            )  # fmt: skip
            return scores
        per_model = decision.shape[1] // len(fitted)
        for column, m in enumerate(fitted):
            values = decision[:, column * per_model : (column + 1) * per_model]
            if per_model == 1:
                predicted = classes[(values[:, 0] > 0).astype(int)]
            else:
                predicted = classes[values.argmax(axis=1)]
            scores[m] = np.average(predicted == y_test, weights=weights)
        return scores

    def _set_results(self, grid, scores, fit_times, score_times):
        """``cv_results_`` with ``GridSearchCV``'s keys, and the best model."""
        names = ["alpha", "l1_ratio"] if self._elasticnet() else ["alpha"]
        params = [dict(zip(names, point, strict=False)) for point in grid]
        results = {
            "mean_fit_time": fit_times.mean(axis=1),
            "std_fit_time": fit_times.std(axis=1),
            "mean_score_time": score_times.mean(axis=1),
            "std_score_time": score_times.std(axis=1),
        }
        for i, name in enumerate(names):
            results[f"param_{name}"] = np.ma.MaskedArray(
                [point[i] for point in grid], mask=False, dtype=object
            )
        results["params"] = params
        for split in range(scores.shape[1]):
            results[f"split{split}_test_score"] = scores[:, split]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-nan row
            mean = np.mean(scores, axis=1)
            std = np.std(scores, axis=1)
        results["mean_test_score"], results["std_test_score"] = mean, std
        if np.isnan(mean).all():
            raise ValueError(
                "Every fit of the grid diverged on some fold (see the "
                "FitFailedWarnings); try smaller eta0 or larger alphas."
            )
        # GridSearchCV's ranking: nan ranks last, ties share the smallest rank
        ranked = np.where(np.isnan(mean), -np.inf, mean)
        results["rank_test_score"] = rankdata(-ranked, method="min").astype(np.int32)
        self.cv_results_ = results
        self.best_index_ = int(results["rank_test_score"].argmin())
        self.best_params_ = params[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])
        self.alpha_, self.l1_ratio_ = grid[self.best_index_]
        self.n_splits_ = scores.shape[1]

    # ------------------------------------------------------------ delegation
    def _refit_model(self):
        check_is_fitted(self, "cv_results_")
        if not self.refit:
            raise NotFittedError(
                f"This {type(self).__name__} was fitted with refit=False: no model "
                "was refit on all rows. Fit an estimator with best_params_, or "
                "set refit=True."
            )
        return self.best_estimator_

    def predict(self, X):
        """Predict with the refit model (``best_estimator_``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted classes or values.
        """
        return self._refit_model().predict(X)

    def score(self, X, y, sample_weight=None):
        """The refit model's ``score`` (accuracy, or R^2) on ``X, y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        score : float
        """
        return self._refit_model().score(X, y, sample_weight=sample_weight)


_COMMON_DOC = """
    The grid is ``alphas`` (times ``l1_ratios`` with ``penalty='elasticnet'``),
    scored by ``cv``-fold cross-validation as ``GridSearchCV`` does; every
    other parameter is the estimator's own. With scikit-learn's per-sample
    algorithm (``batch_size=1``, ``momentum=0``; not multinomial) each fold's
    models train as heads of one fit, reading each training row once an
    epoch for all of them; otherwise each model is fitted on its own (the
    same models, without the shared pass). Each model equals the estimator
    fitted alone on its fold with the same ``random_state``, bit for bit, so
    the scores are ``GridSearchCV``'s with the same folds. Trains on data
    given whole (no ``partial_fit``). See ``docs/tuning.md``.

    Parameters
    ----------
    alphas : array-like of float, default=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
        The regularization strengths to try (``alpha`` of the estimator):
        by default scikit-learn's advice, ``10.0 ** -np.arange(1, 7)``.
    l1_ratios : array-like of float, default=None
        The elastic-net mixes to try with ``penalty='elasticnet'`` (None:
        the estimator's default, 0.15); ignored for other penalties.
    cv : int, cross-validation generator or iterable, default=None
        As ``GridSearchCV``'s: None is 5 folds, an int that many folds
        ({stratified}), or a splitter or an iterable of (train, test) index
        arrays.
    scoring : str, callable or None, default=None
        How a held-out fold is scored: None is the estimator's ``score``
        ({default_score}; one product scores every model of a fold), else a
        scikit-learn scorer name or a callable ``scorer(estimator, X, y)``.
    refit : bool, default=True
        Refit the best model on all rows (``best_estimator_``); ``predict``
        and the other methods need it.
    max_head_bytes : int, default=1073741824
        The most bytes the models of one pass may hold (weights, their
        average and the L1 sums: about ``n_models * n_heads * n_features *
        itemsize`` each): a larger grid trains in several passes, each of as
        many models as fit.
    **estimator parameters
        Every other parameter of ``{name}`` (``loss``, ``penalty``,
        ``max_iter``, ``tol``, ``batch_size``, ``device``, ...), with its
        default; ``alpha`` and ``l1_ratio`` are replaced by the grids, and
        ``warm_start`` is left out (each fit is a new search).

    Attributes
    ----------
    alpha_ : float
        The best ``alpha``.
    l1_ratio_ : float
        The best ``l1_ratio`` (the default 0.15 without elastic net).
    best_score_ : float
        Its mean held-out score.
    best_params_ : dict
        Its grid point, as ``cv_results_["params"]`` holds it.
    best_index_ : int
        Its index in ``cv_results_``.
    cv_results_ : dict of arrays
        ``GridSearchCV``'s: ``params``, ``param_alpha`` (and
        ``param_l1_ratio``), ``split{{k}}_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``mean_fit_time``,
        ``std_fit_time``, ``mean_score_time``, ``std_score_time``. Models
        trained in one pass share its time equally.
    best_estimator_ : {name}
        The best model refit on all rows (``refit=True``).
    coef_, intercept_, n_iter_, t_ : as ``best_estimator_``'s
    refit_time_ : float
        Seconds the refit took.
    n_splits_ : int
        The number of folds.
    n_features_in_ : int
        Number of features seen during fit.
"""


class SGDClassifierCV(ClassifierMixin, _SGDSearchCV):
    __doc__ = (
        """A linear classifier trained by SGD, with ``alpha`` (and ``l1_ratio``)
    chosen by cross-validation, the grid trained in one pass per fold.
"""
        + _COMMON_DOC.format(
            name="SGDClassifier", stratified="stratified", default_score="accuracy"
        )  # fmt: skip
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastsgd import SGDClassifierCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = SGDClassifierCV(max_iter=5, tol=None, random_state=0).fit(X / 16, y)
    >>> sorted(search.best_params_)
    ['alpha']
    >>> bool(search.best_score_ > 0.85)
    True
    """
    )

    _estimator_class = SGDClassifier
    _classifier = True
    _parameter_constraints: dict = _constraints(SGDClassifier)

    def __init__(
        self,
        loss="hinge",
        *,
        alphas=DEFAULT_ALPHAS,
        l1_ratios=None,
        cv=None,
        scoring=None,
        refit=True,
        max_head_bytes=2**30,
        penalty="l2",
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        n_jobs=None,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        average=False,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        multi_class="ovr",
        device="cpu",
    ):
        self.loss = loss
        self.alphas = alphas
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.max_head_bytes = max_head_bytes
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.average = average
        self.batch_size = batch_size
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.multi_class = multi_class
        self.device = device

    def decision_function(self, X):
        """The refit model's decision values.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._refit_model().decision_function(X)

    @available_if(_has_delegate("predict_proba"))
    def predict_proba(self, X):
        """The refit model's class probabilities (``log_loss`` and
        ``modified_huber``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._refit_model().predict_proba(X)

    @available_if(_has_delegate("predict_log_proba"))
    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return self._refit_model().predict_log_proba(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class SGDRegressorCV(RegressorMixin, _SGDSearchCV):
    __doc__ = (
        """A linear regression trained by SGD, with ``alpha`` (and ``l1_ratio``)
    chosen by cross-validation, the grid trained in one pass per fold.
"""
        + _COMMON_DOC.format(
            name="SGDRegressor", stratified="not stratified", default_score="R^2"
        )  # fmt: skip
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from fastsgd import SGDRegressorCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(500, 5))
    >>> y = X @ np.arange(1.0, 6.0) + 0.1 * rng.normal(size=500)
    >>> search = SGDRegressorCV(random_state=0).fit(X, y)
    >>> bool(search.best_score_ > 0.99)
    True
    """
    )

    _estimator_class = SGDRegressor
    _classifier = False
    _parameter_constraints: dict = _constraints(SGDRegressor)

    def __init__(
        self,
        loss="squared_error",
        *,
        alphas=DEFAULT_ALPHAS,
        l1_ratios=None,
        cv=None,
        scoring=None,
        refit=True,
        max_head_bytes=2**30,
        penalty="l2",
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        epsilon=0.1,
        random_state=None,
        learning_rate="invscaling",
        eta0=0.01,
        power_t=0.25,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        average=False,
        n_jobs=None,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        device="cpu",
    ):
        self.loss = loss
        self.alphas = alphas
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.max_head_bytes = max_head_bytes
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.average = average
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
