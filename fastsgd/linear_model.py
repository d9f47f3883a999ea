"""``SGDClassifier``, ``Perceptron``, ``SGDRegressor`` and ``SGDOneClassSVM``:
scikit-learn's estimators on Numba kernels.

Every scikit-learn 1.9 parameter keeps its name, default and meaning; the new
ones are ``batch_size``, ``momentum``, ``dampening``, ``nesterov``,
``multi_class``, ``device`` and (where scikit-learn has none) ``n_jobs``. See
``docs/linear.md`` for the update equations.
"""

import dataclasses
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, OutlierMixin, RegressorMixin
from sklearn.callback import CallbackSupportMixin, with_callbacks
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier as _SkSGDClassifier
from sklearn.linear_model import SGDOneClassSVM as _SkSGDOneClassSVM
from sklearn.linear_model import SGDRegressor as _SkSGDRegressor
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.metrics import r2_score
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from fastsgd import _trainer
from fastsgd._base import (
    DEVICE_CONSTRAINT,
    GPUScoreMixin,
    TrainingStateMixin,
    check_sample_weight,
    fit_device,
    validate_X,
    validate_X_y,
    validation_split,
)
from fastsgd._callbacks import FitTasks
from fastsgd._device import gpu_scores, is_device_array, take_rows
from fastsgd._math import codes
from fastsgd._progress import caller_stacklevel

#: scikit-learn's intercept decay for sparse input: the intercept's step is
#: scaled by it (per-sample training, as scikit-learn, and mini-batches too:
#: without it the large early rates of the 'optimal' schedule swing the
#: intercepts of hashed text far past the features' scores).
SPARSE_INTERCEPT_DECAY = 0.01

#: scikit-learn's private attributes of averaged SGD (mirrored by ``_publish``).
_AVERAGING_ATTRIBUTES = (
    "_standard_coef",
    "_standard_intercept",
    "_average_coef",
    "_average_intercept",
)

#: ``fit`` takes the classes from ``y`` once it is validated.
_CLASSES_FROM_Y = object()

_NEW_PARAMETERS = {
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "momentum": [Interval(Real, 0, None, closed="left")],
    "dampening": [Interval(Real, 0, 1, closed="both")],
    "nesterov": ["boolean"],
    "n_jobs": [Integral, None],
    "device": DEVICE_CONSTRAINT,
}


#: scikit-learn's ``MAX_INT``: the bound of its per-sample shuffling seeds.
_MAX_INT = np.iinfo(np.int32).max


def _dataset_then_shuffle_seed(random_state):
    """The shuffling seed of scikit-learn's ``fit_binary``: ``make_dataset``
    draws the dataset's own seed first (unused by the epochs), then the
    shuffle's seed is drawn."""
    random_state = check_random_state(random_state)
    random_state.randint(1, _MAX_INT)
    return random_state.randint(_MAX_INT)


def _cached_seeds(estimator, n_heads, draw):
    """``draw(n_heads)``, kept for an integer ``random_state``, which draws the
    same seeds on every call: a one-vs-rest ``partial_fit`` call would
    otherwise seed a ``RandomState`` per class (0.1 ms each) every time. A
    ``RandomState`` or None draws anew, as scikit-learn does."""
    random_state = estimator.random_state
    if not isinstance(random_state, Integral) or isinstance(random_state, bool):
        return draw(n_heads)
    key = (int(random_state), n_heads)
    cached = estimator.__dict__.get("_seed_cache")
    if cached is None or cached[0] != key:
        cached = (key, draw(n_heads))
        estimator.__dict__["_seed_cache"] = cached
    return cached[1]


def _row_view(estimator, coef):
    """``coef[0]``, the one head's weights as ``coef_``: the published array
    itself while it still views them (``partial_fit`` updates ``coef_`` in
    place, as scikit-learn's does)."""
    row = coef[0]
    published = estimator.__dict__.get("coef_")
    if (
        published is not None
        and published.shape == row.shape
        and published.dtype == row.dtype
        and published.strides == row.strides
        and published.__array_interface__["data"] == row.__array_interface__["data"]
    ):
        return published
    return row


class _StateView:
    """A fitted attribute that views the trainer's state (``coef_``, and
    scikit-learn's private averaging arrays).

    A ``partial_fit`` call leaves its fold of the scaled weights pending
    (``_trainer.PendingFolds``: sweeping every weight at the end of a call
    would cost more than the call); reading the attribute applies the
    pending folds first, so it holds what scikit-learn's would.
    """

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        state = obj.__dict__.get("_state")
        if state is not None:
            state.materialize()
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}"
            ) from None

    def __set__(self, obj, value):
        obj.__dict__[self.name] = value

    def __delete__(self, obj):
        del obj.__dict__[self.name]


class _BaseSGD(
    TrainingStateMixin, CallbackSupportMixin, SparseCoefMixin, BaseEstimator
):
    """Shared machinery of the two linear estimators."""

    _task = codes.REGRESSION
    #: ``(alpha, l1_ratio)`` models trained as heads of one fit
    #: (``_fit_grid``); empty for a model of the estimator's own parameters
    _grid = ()

    coef_ = _StateView()
    _standard_coef = _StateView()
    _average_coef = _StateView()

    def __getstate__(self):
        # a pickle copies coef_ apart from the state it views: apply the
        # pending folds first, so that both hold the model
        state = self.__dict__.get("_state")
        if state is not None:
            state.materialize()
        return super().__getstate__()

    def training_state(self):
        """The trainer's state of this model: what ``partial_fit`` resumes.

        See ``TrainingStateMixin.training_state``; pending folds are applied
        first (a ``LinearState``'s weights are then ``coef_``'s).

        Returns
        -------
        state : LinearState
        """
        state = super().training_state()
        state.materialize()
        return state

    # ------------------------------------------------------------ parameters
    def _check_settings(self, for_partial_fit=False):
        """Cross-parameter checks that ``_parameter_constraints`` cannot say."""
        if self.early_stopping and for_partial_fit:
            raise ValueError("early_stopping should be False with partial_fit")
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError(
                "alpha must be > 0 since learning_rate is 'optimal'. alpha is used "
                "to compute the optimal learning rate."
            )
        if self.learning_rate in ("pa1", "pa2"):
            needed = (
                "hinge" if self._task != codes.REGRESSION else "epsilon_insensitive"
            )
            if self.loss != needed:
                raise ValueError(
                    f"Learning rate '{self.learning_rate}' only works with loss "
                    f"'{needed}'."
                )
            if self.batch_size != 1 or self.momentum != 0:
                raise ValueError(
                    f"Learning rate '{self.learning_rate}' is a per-sample rule: it "
                    "needs batch_size=1 and momentum=0."
                )
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening=0 (as in "
                f"torch.optim.SGD); got momentum={self.momentum}, "
                f"dampening={self.dampening}."
            )
        if self.power_t < 0:
            warnings.warn(
                "Negative values for `power_t` are deprecated in scikit-learn 1.8 "
                "and will raise an error in 1.10. Use values in the range "
                "[0.0, inf) instead.",
                FutureWarning,
                stacklevel=caller_stacklevel(),
            )

    def _config(self, is_sparse):
        loss = codes.LOSS_CODES[self.loss]
        alpha = float(self.alpha)
        schedule = codes.SCHEDULE_CODES[self.learning_rate]
        return _trainer.LinearConfig(
            loss=loss,
            epsilon=float(self.epsilon),
            penalty=codes.PENALTY_CODES[self.penalty],
            alpha=alpha,
            l1_ratio=float(self.l1_ratio if self.l1_ratio is not None else 0.0),
            schedule=schedule,
            eta0=float(self.eta0),
            power_t=float(self.power_t),
            fit_intercept=bool(self.fit_intercept),
            intercept_decay=SPARSE_INTERCEPT_DECAY if is_sparse else 1.0,
            average=int(self.average),
            batch_size=int(self.batch_size),
            momentum=float(self.momentum),
            dampening=float(self.dampening),
            nesterov=bool(self.nesterov),
            tol=None if self.tol is None else float(self.tol),
            n_iter_no_change=int(self.n_iter_no_change),
            early_stopping=bool(self.early_stopping),
            shuffle=bool(self.shuffle),
            n_jobs=self.n_jobs,
            verbose=int(self.verbose),
            grid=self._grid,
        )

    def _fit_grid(self, X, y, sample_weight, grid, train_sets):
        """Fit every model of ``grid`` (``(alpha, l1_ratio)`` pairs) on every
        training set of ``train_sets`` (row indices, one per split), all as
        heads of one per-sample fit: one pass over the rows an epoch
        (``SGDClassifierCV``).

        A head trains on its split's rows only, in the order the shared pass
        visits them (all rows shuffled with the seed a fit draws for its
        class: one for binary and regression, one per class for one-vs-rest,
        shared by the splits and the grid), with its split's sample counter,
        class weights (``'balanced'`` from its rows) and early-stopping split
        (drawn from its rows as a fit on them draws it); it stops on its own.
        It is the estimator fitted alone on its rows in that order.

        Returns ``models[split][point] = (coef, intercept)``, shaped as
        ``coef_`` and ``intercept_``. The estimator is left a scratch
        object. Raises ``DivergenceError`` if a head diverges.
        """
        self._validate_params()
        self._check_settings()
        if self._fit_device() != "cpu" or not (
            self.batch_size == 1 and self.momentum == 0
        ):
            raise ValueError("a grid trains as heads of one per-sample CPU fit only")
        X, y = validate_X_y(self, X, y, reset=True,
                            y_numeric=self._task == codes.REGRESSION)  # fmt: skip
        sample_weight = check_sample_weight(
            sample_weight, X, allow_all_zero=self.early_stopping
        )
        grid = tuple((float(a), float(r)) for a, r in grid)
        n_points, n_splits, n_samples = len(grid), len(train_sets), X.shape[0]
        if self._task == codes.REGRESSION:
            y = y.astype(X.dtype, copy=False)
            targets = _trainer.regression_targets(y)
            split_on = y

            def split_targets(rows):
                return targets
        else:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            if self._multinomial():
                raise ValueError("a multinomial grid does not train per sample")
            targets = self._encode_targets(y, X.dtype)
            split_on = targets[1]

            def split_targets(rows):  # the class weights of a fit on ``rows``
                return self._encode_targets(y[rows], X.dtype)

        # heads: class, then split, then grid point (``config.grid``'s order):
        # a class's heads share its order (a seed each, as one-vs-rest draws)
        per_split = [split_targets(rows)[2:] for rows in train_sets]
        n_heads_per_model = per_split[0][0].shape[0]
        head_arrays = [
            np.repeat(np.stack([arrays[a] for arrays in per_split], axis=1).ravel(),
                      n_points)
            for a in range(3)
        ]  # fmt: skip
        targets = (*targets[:2], *head_arrays)
        n_heads = n_splits * n_heads_per_model * n_points
        head_split = np.tile(np.repeat(np.arange(n_splits), n_points),
                             n_heads_per_model)  # fmt: skip
        excluded = np.ones((n_splits, n_samples), dtype=np.uint8)
        validation = []
        for split, rows in enumerate(train_sets):
            rows = np.asarray(rows)
            mask = validation_split(
                self, split_on[rows], sample_weight[rows],
                stratify=self._task != codes.REGRESSION,
            )  # fmt: skip
            excluded[split, rows[~mask]] = 0
            validation.append(rows[mask])
        self._grid = grid
        try:
            config = self._config(is_sparse=sp.issparse(X))
        finally:
            self._grid = ()
        score = None
        if config.early_stopping:
            scorers = [
                self._validation_scorer(
                    X[rows], targets[0][rows], targets[1][rows], sample_weight[rows],
                    targets[2][head_split == split], as_sklearn=True,
                )
                for split, rows in enumerate(validation)
            ]  # fmt: skip

            def score(coef, intercept):
                scores = np.empty(n_heads)
                for split, scorer in enumerate(scorers):
                    heads = head_split == split
                    scores[heads] = scorer(coef[heads], intercept[heads])
                return scores

        problem = _trainer.LinearProblem.of(
            X, targets, self._task_for_heads(), sample_weight,
            np.arange(n_samples, dtype=np.int64),
        )  # fmt: skip
        problem.splits = (excluded, head_split)
        state = self._new_state(n_heads, X.shape[1], X.dtype, None, None, config)
        seeds = self._shuffle_seeds(n_heads_per_model) if config.shuffle else None
        log = _trainer.train(problem, state, config, self.max_iter, None, n_samples,
                             score, shuffle_seeds=seeds)  # fmt: skip
        self.n_iter_ = log.n_iter
        self._warn_if_not_converged()
        state.materialize()  # a call of one epoch on CSR leaves its fold pending
        models = []
        for split in range(n_splits):
            # averaged once its split's counter passed ``average`` (as a fit
            # on the split's rows publishes)
            averaged = 0 < config.average <= log.split_t[split] - 1
            coef = state.avg_coef if averaged else state.coef
            intercept = state.avg_intercept if averaged else state.intercept
            models.append([])
            for point in range(n_points):
                heads = (
                    split * n_points
                    + point
                    + np.arange(n_heads_per_model) * (n_splits * n_points)
                )
                models[-1].append((
                    coef[heads].reshape(self._coef_shape(n_heads_per_model,
                                                         X.shape[1])),
                    intercept[heads].astype(X.dtype),
                ))  # fmt: skip
        return models

    def _fit_device(self):
        """Resolve ``device`` for this fit (sets ``device_``)."""
        mini_batch = not (self.batch_size == 1 and self.momentum == 0)
        gpu_capable = mini_batch or getattr(self, "multi_class", "") == "multinomial"
        device = fit_device(self, gpu_capable)
        if device == "cuda" and not gpu_capable:
            raise ValueError(_trainer.PER_SAMPLE_ON_GPU)
        return device

    # ------------------------------------------------------------ training
    def _new_state(self, n_heads, n_features, dtype, coef_init, intercept_init, config,
                   feature_major=False):  # fmt: skip
        if coef_init is not None:
            coef = np.array(coef_init, dtype=dtype, order="C", copy=True)
            if coef.size != n_heads * n_features:
                # scikit-learn's message, then the shapes
                what = "``coef_``" if n_heads > 1 else "coef_init"
                raise ValueError(
                    f"Provided {what} does not match dataset. coef_init has shape "
                    f"{np.shape(coef_init)}; expected "
                    f"{self._coef_shape(n_heads, n_features)}."
                )
            coef = coef.reshape(n_heads, n_features)
        elif feature_major:  # the zeros in the kernel's layout at once
            coef = np.zeros((n_features, n_heads), dtype=dtype).T
        else:
            coef = np.zeros((n_heads, n_features), dtype=dtype)
        if intercept_init is not None:
            intercept = np.asarray(intercept_init, dtype=np.float64).reshape(-1)
            if intercept.shape != (n_heads,):
                raise ValueError(
                    "Provided intercept_init does not match dataset. intercept_init "
                    f"has shape {np.shape(intercept_init)}; expected ({n_heads},)."
                )
        else:
            intercept = np.zeros(n_heads)
        if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ValueError("coef_init and intercept_init must be finite.")
        return _trainer.LinearState.create(coef, intercept, config, feature_major)

    def _start_fit(self, coef_init, intercept_init):
        """Validate the parameters and forget the last fit (``warm_start`` keeps
        its ``coef_``/``intercept_`` as the starting point, unless given).

        Returns the ``(coef_init, intercept_init)`` to start from.
        """
        self._validate_params()
        self._check_settings()
        if self.warm_start and hasattr(self, "coef_"):
            coef_init = self.coef_ if coef_init is None else coef_init
            intercept_init = (
                self._fitted_intercept() if intercept_init is None else intercept_init
            )
        for name in ("classes_", "_state", "_loss_history"):
            self.__dict__.pop(name, None)
        return coef_init, intercept_init

    def _fit_encoded(self, X, y, targets, sample_weight, coef_init, intercept_init,
                     max_iter, n_heads, first_call, split_on, task_name):  # fmt: skip
        """What ``fit`` and ``partial_fit`` share once ``y`` is encoded.

        ``split_on`` is what the early-stopping split stratifies on (the class
        labels) or shuffles (regression targets). ``task_name`` (``"fit"`` or
        ``"partial_fit"``) names the call's callback task (``_callbacks``).
        """
        sample_weight_given = sample_weight is not None
        sample_weight = check_sample_weight(
            sample_weight, X, allow_all_zero=self.early_stopping
        )
        config = self._config(is_sparse=sp.issparse(X))
        if first_call or coef_init is not None or not hasattr(self, "_state"):
            feature_major = _trainer.feature_major_kernel(
                config, self._task_for_heads(), sp.issparse(X), self.device_
            )
            self._state = self._new_state(
                n_heads, X.shape[1], X.dtype, coef_init, intercept_init, config,
                feature_major,
            )  # fmt: skip
            self._loss_history = []
        else:
            if self._state.coef.dtype != X.dtype:
                self._state.cast(X.dtype)
            # each call starts at the current eta0, as scikit-learn's does (an
            # 'adaptive' decay lasts one call; set_params(eta0=...) takes effect)
            self._state.eta[:] = config.eta0
        validation_mask = validation_split(
            self, split_on, sample_weight, stratify=self._task != codes.REGRESSION
        )
        tasks = FitTasks(
            self, X, y, sample_weight if sample_weight_given else None,
            task_name=task_name, n_epochs=max_iter if task_name == "fit" else 0,
        )  # fmt: skip
        self._train(X, targets, sample_weight, max_iter, config, validation_mask, tasks)
        tasks.end()
        return self

    def _train(self, X, targets, sample_weight, max_iter, config, validation_mask,
               tasks):  # fmt: skip
        """Run the trainer on validated input; publish the fitted attributes."""
        y_float, y_class, head_positive, _, _ = targets
        problem = _trainer.LinearProblem.of(
            X, targets, self._task_for_heads(), sample_weight,
            np.flatnonzero(~validation_mask).astype(np.int64),
        )  # fmt: skip
        # scikit-learn's per-sample algorithm (a binary "multinomial" model too)
        per_sample = config.per_sample and problem.task != codes.MULTINOMIAL
        score = None
        if config.early_stopping:
            if is_device_array(X):
                X_val = take_rows(X, np.flatnonzero(validation_mask))
            else:
                X_val = X[validation_mask]
            score = self._validation_scorer(
                X_val, y_float[validation_mask],
                y_class[validation_mask], sample_weight[validation_mask],
                head_positive,
                as_sklearn=per_sample,
            )  # fmt: skip
        state = self._state
        rng = shuffle_seeds = None
        if per_sample:
            if self.device == "auto":
                self.device_ = "cpu"
            if config.shuffle:
                shuffle_seeds = self._shuffle_seeds(state.coef.shape[0])
        else:
            rng = check_random_state(self.random_state)

        def epoch_attributes(state, log):
            return self._fitted_attributes(state, config, X.dtype, log) | {
                "_state": state
            }

        try:
            log = _trainer.train(
                problem, state, config, max_iter, rng, X.shape[0], score,
                device=self.device_, shuffle_seeds=shuffle_seeds,
                epochs=tasks.epochs(epoch_attributes),
            )  # fmt: skip
        except _trainer.DivergenceError:
            self._publish(state, config, X.dtype, None)
            raise
        self._publish(state, config, X.dtype, log)
        return log

    # ----------------------------------------------------- the training state
    def load_training_state(self, state, loss_curve):
        """Make ``state`` this model's, and publish the fitted attributes it
        gives (``coef_``, ``intercept_``, ``t_``, ...) with ``loss_curve`` as
        the model's loss history (``n_iter_ = len(loss_curve)``).

        Parameters
        ----------
        state : LinearState
            A state of this model's shape (from ``training_state``, or an
            average of such states).
        loss_curve : list of float
            The loss of each epoch (or round) that led to ``state``.

        Returns
        -------
        self : object
        """
        self._state = state
        self._loss_history = []
        log = _trainer.TrainLog(n_iter=len(loss_curve), loss_curve=list(loss_curve))
        self._publish(state, self._config(is_sparse=False), state.coef.dtype, log)
        return self

    def _publish(self, state, config, dtype, log):
        if config.average == 0:
            for name in _AVERAGING_ATTRIBUTES:
                self.__dict__.pop(name, None)
        for name, value in self._fitted_attributes(state, config, dtype, log).items():
            setattr(self, name, value)

    def _fitted_attributes(self, state, config, dtype, log):
        """The attributes ``_publish`` sets, from a trainer's state and log
        (``log=None``: the model only, after a divergence)."""
        coef, intercept = state.published(config.average)
        attributes = {
            "coef_": self._coef_view(coef),
            "intercept_": intercept.astype(dtype),
            "t_": float(state.t),
        }
        # scikit-learn's private averaging attributes, which its tests and some
        # user code read: present exactly when ``average`` is on, in its shapes
        # (one head: 1-d). Views of the state's weights; the intercepts are
        # copies in X's dtype.
        if config.average > 0:
            one_head = state.coef.shape[0] == 1
            attributes |= {
                "_standard_coef": state.coef[0] if one_head else state.coef,
                "_average_coef": state.avg_coef[0] if one_head else state.avg_coef,
                "_standard_intercept": state.intercept.astype(dtype),
                "_average_intercept": state.avg_intercept.astype(dtype),
            }
        if log is not None:
            loss_curve = list(getattr(self, "_loss_history", [])) + log.loss_curve
            attributes |= {
                "n_iter_": log.n_iter,
                "loss_curve_": loss_curve,
                "_loss_history": loss_curve,
                "validation_scores_": (
                    log.validation_scores if config.early_stopping else None
                ),
            }
        return attributes

    def _warn_if_not_converged(self):
        if self.tol is not None and self.n_iter_ == self.max_iter:
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider "
                "increasing max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=caller_stacklevel(),
            )

    def _coef_view(self, coef):
        return coef

    def _shuffle_seeds(self, n_heads):
        """scikit-learn's per-sample shuffling seeds (``_draw_seeds``, drawn
        in its order), kept for an integer ``random_state``."""
        return _cached_seeds(self, n_heads, self._draw_seeds)

    def _fitted_intercept(self):
        """The trainer's intercepts of the fitted model (``warm_start``)."""
        return self.intercept_

    def _task_for_heads(self):
        return self._task

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class SGDClassifier(GPUScoreMixin, LinearClassifierMixin, _BaseSGD):
    """Linear classifiers (SVM, logistic regression, ...) trained by SGD on Numba.

    A drop-in replacement for :class:`sklearn.linear_model.SGDClassifier`:
    the same parameters, defaults, methods and fitted attributes. With
    ``batch_size=1`` and ``momentum=0`` (the defaults) training follows
    scikit-learn's per-sample algorithm step for step; larger batches use the
    mean gradient of each batch and ``torch.optim.SGD``'s momentum rule.

    Parameters
    ----------
    loss : {'hinge', 'log_loss', 'modified_huber', 'squared_hinge', \
'perceptron', 'squared_error', 'huber', 'epsilon_insensitive', \
'squared_epsilon_insensitive'}, default='hinge'
        The loss function.
    penalty : {'l2', 'l1', 'elasticnet', None}, default='l2'
        The regularisation term.
    alpha : float, default=0.0001
        Regularisation strength; also sets the ``'optimal'`` learning rate.
    l1_ratio : float, default=0.15
        Elastic-net mixing (0: L2, 1: L1); used with ``penalty='elasticnet'``.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the training data).
    tol : float or None, default=1e-3
        Stop when the objective (or the validation score) has not improved by
        ``tol`` for ``n_iter_no_change`` epochs. ``None`` never stops early.
    shuffle : bool, default=True
        Whether to shuffle the training data each epoch.
    verbose : int, default=0
        0: silent. 1: print scikit-learn's lines for each epoch (``-- Epoch``,
        then ``Norm: ..., Avg. loss: ..., Objective: ...`` per one-vs-rest head
        with the validation score under ``early_stopping``), with the learning
        rate of the next step after them. 2 or more: also a tqdm progress bar
        over the batches on stderr (the epoch then runs as up to 20 kernel
        calls, so the bar moves within an epoch; the model is the same).
    epsilon : float, default=0.1
        Margin of the Huber and epsilon-insensitive losses.
    n_jobs : int, default=None
        Threads of the Numba kernels (``None`` or -1: all of Numba's threads).
        Results are bitwise identical for every value.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where to train. ``'cuda'`` runs the mini-batch epochs in ``numba.cuda``
        kernels on the GPU (mini-batches only: ``batch_size=1`` with
        ``momentum=0`` is scikit-learn's sequential per-sample algorithm and
        raises); ``'auto'`` takes the GPU when ``numba.cuda.is_available()``
        and the settings train mini-batches, else the CPU. ``X`` and ``y``
        may be GPU arrays (``__cuda_array_interface__``), used without a
        copy. Fitted attributes are NumPy arrays either way.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the early-stopping split.
    learning_rate : {'optimal', 'constant', 'invscaling', 'adaptive', 'pa1', \
'pa2'}, default='optimal'
        The learning-rate schedule (see the docs for its equations).
    eta0 : float, default=0.01
        Initial learning rate of the 'constant', 'invscaling' and 'adaptive'
        schedules.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop when its accuracy
        stalls.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or dividing the
        'adaptive' rate by 5).
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Averaged SGD: publish the average of the weights, from the sample
        count ``average`` on (``True`` means 1).
    batch_size : int, default=1
        Mini-batch size. 1 with ``momentum=0`` is scikit-learn's algorithm.
    momentum : float, default=0.0
        Momentum factor (``torch.optim.SGD``'s rule).
    dampening : float, default=0.0
        Dampening of the momentum.
    nesterov : bool, default=False
        Nesterov momentum (needs ``momentum > 0`` and ``dampening=0``).
    multi_class : {'ovr', 'multinomial'}, default='ovr'
        One binary head per class, or one softmax over all classes
        (``loss='log_loss'`` only).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights, in the dtype of the training data.
    device_ : {'cpu', 'cuda'}
        Where the last ``fit``/``partial_fit`` trained (``device`` resolved).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_iter_ : int
        Epochs run by the last ``fit`` (the maximum over OvR heads).
    t_ : float
        ``n_iter_ * n_samples + 1``, scikit-learn's sample counter.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
    loss_curve_ : list of float
        Mean training loss of each epoch (summed over OvR heads), across
        ``partial_fit`` calls.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with early stopping, else None.

    Notes
    -----
    Callbacks: ``set_callbacks`` takes scikit-learn's callbacks
    (``sklearn.callback``: ``ProgressBar``, ``ScoringMonitor`` or your
    own). A ``fit`` runs one task per epoch, whose ``fitted_estimator`` is
    the model of a fit with ``max_iter`` set to that epoch (a copy); a
    callback asking to stop ends training after the epoch. ``partial_fit``
    is one task per call. Callbacks never change the model.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsgd import SGDClassifier
    >>> X = np.array([[-1.0, -1.0], [-2.0, -1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = np.array([1, 1, 2, 2])
    >>> clf = SGDClassifier(max_iter=1000, tol=1e-3, random_state=0).fit(X, y)
    >>> clf.predict([[-0.8, -1.0]])
    array([1])
    """

    #: scikit-learn's table of loss names (read by its tests and some user code;
    #: fastsgd's kernels take the names, not these classes).
    loss_functions = _SkSGDClassifier.loss_functions

    _parameter_constraints: dict = {
        **_SkSGDClassifier._parameter_constraints,
        **_NEW_PARAMETERS,
        "multi_class": [StrOptions({"ovr", "multinomial"})],
    }
    _task = codes.ONE_VS_REST

    def __init__(
        self,
        loss="hinge",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
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
        warm_start=False,
        average=False,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        multi_class="ovr",
        device="cpu",
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
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
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.multi_class = multi_class
        self.device = device

    def _check_settings(self, for_partial_fit=False):
        super()._check_settings(for_partial_fit)
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError(
                "multi_class='multinomial' needs loss='log_loss' (a softmax over "
                f"the classes); got loss={self.loss!r}."
            )
        if for_partial_fit and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order "
                "to use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y). In place of y you can use a large enough "
                "sample of the full training set target to properly estimate the "
                "class frequency distributions. Pass the resulting weights as the "
                "class_weight parameter."
            )

    def _multinomial(self):
        return self.multi_class == "multinomial" and len(self.classes_) > 2

    def _task_for_heads(self):
        return codes.MULTINOMIAL if self._multinomial() else codes.ONE_VS_REST

    def _coef_shape(self, n_heads, n_features):
        return (n_heads, n_features)

    def _encode_targets(self, y, dtype):
        """Integer labels and the per-head positive class and class weights."""
        n_classes = len(self.classes_)
        y_class = np.searchsorted(self.classes_, y)
        known = self.classes_[np.minimum(y_class, n_classes - 1)] == y
        if not known.all():
            unseen = np.unique(y[~known])
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}; pass every class in `classes` on the "
                "first call to partial_fit."
            )
        y_class = y_class.astype(np.int32)
        if self.class_weight is None:
            class_weight = np.ones(n_classes)
        else:
            class_weight = compute_class_weight(
                self.class_weight, classes=self.classes_, y=y
            )
        if n_classes == 2:
            head_positive = np.array([1], dtype=np.int32)
            weight_pos = np.array([class_weight[1]])
            weight_neg = np.array([class_weight[0]])
        else:
            head_positive = np.arange(n_classes, dtype=np.int32)
            weight_pos = np.asarray(class_weight, dtype=np.float64)
            weight_neg = np.ones(n_classes)
        return _trainer.class_targets(
            y_class, head_positive, weight_pos, weight_neg, dtype
        )

    def _draw_seeds(self, n_heads):
        """A binary fit (``fit_binary``) draws the dataset's seed, then the
        shuffle's; one-vs-rest draws one seed per class, and each head draws
        those two from a generator seeded with it (``_fit_multiclass``)."""
        random_state = check_random_state(self.random_state)
        if n_heads == 1:
            return np.array([_dataset_then_shuffle_seed(random_state)])
        seeds = random_state.randint(_MAX_INT, size=n_heads)
        return np.array([_dataset_then_shuffle_seed(seed) for seed in seeds])

    def _validation_scorer(self, X_val, y_float, y_class, sw_val, head_positive,
                           as_sklearn=False):  # fmt: skip
        """Per-head validation accuracy, for early stopping.

        ``as_sklearn`` (per-sample training): with ``log_loss``, a head's
        negatives never count as correct, as in scikit-learn 1.9, whose
        ``fit_binary`` scores predictions in {-1, 1} against its {0, 1}
        log-loss labels; so the same ``random_state`` stops at scikit-learn's
        epoch. Mini-batch training scores them correctly.
        """
        multinomial = self._multinomial()
        positives_only = as_sklearn and self.loss == "log_loss"

        def score(coef, intercept):
            scores = X_val @ coef.T + intercept
            if multinomial:
                return [np.average(scores.argmax(axis=1) == y_class, weights=sw_val)]
            truth = y_class[:, None] == head_positive[None, :]
            correct = (scores > 0) & truth if positives_only else (scores > 0) == truth
            return np.average(correct, axis=0, weights=sw_val)

        return score

    def _fit_or_partial(self, X, y, classes, sample_weight, coef_init,
                        intercept_init, max_iter, first_call, task_name):  # fmt: skip
        self._fit_device()
        X, y = validate_X_y(self, X, y, reset=first_call)
        if y.dtype.kind not in "biu":  # 1-d integer labels are always classes
            check_classification_targets(y)
        if classes is _CLASSES_FROM_Y:
            classes = np.unique(y)
        if first_call:
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit."
                )
            self.classes_ = np.unique(np.asarray(classes))
        elif classes is not None and not np.array_equal(
            self.classes_, np.unique(np.asarray(classes))
        ):
            raise ValueError(
                f"`classes={np.unique(classes)!r}` is not the same as on the first "
                f"call to partial_fit, which was {self.classes_!r}."
            )
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {n_classes} "
                "class"
            )
        targets = self._encode_targets(y, X.dtype)
        n_heads = 1 if n_classes == 2 else n_classes
        return self._fit_encoded(
            X, y, targets, sample_weight, coef_init, intercept_init, max_iter,
            n_heads, first_call, split_on=targets[1], task_name=task_name,
        )  # fmt: skip

    @with_callbacks
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model with stochastic gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data (float32 trains in float32; CSR stays sparse).
        y : array-like of shape (n_samples,)
            Class labels.
        coef_init : ndarray of shape (n_classes, n_features), default=None
            Initial coefficients.
        intercept_init : ndarray of shape (n_classes,), default=None
            Initial intercepts.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples (multiplied by the class weights).

        Returns
        -------
        self : SGDClassifier
            The fitted estimator.
        """
        coef_init, intercept_init = self._start_fit(coef_init, intercept_init)
        self._fit_or_partial(
            X, y, _CLASSES_FROM_Y, sample_weight, coef_init, intercept_init,
            self.max_iter, first_call=True, task_name="fit",
        )  # fmt: skip
        self._warn_if_not_converged()
        return self

    @with_callbacks
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch of SGD over the given samples, keeping optimizer state.

        Momentum buffers, the step count and the averaged weights carry over
        between calls, so a stream of ``partial_fit`` calls trains the same
        model as one ``fit`` over the same batches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,)
            Its labels.
        classes : array-like of shape (n_classes,), default=None
            All classes; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDClassifier
            The updated estimator.
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._validate_params()
            self._check_settings(for_partial_fit=True)
        return self._fit_or_partial(
            X, y, classes, sample_weight, None, None, 1, first_call=first_call,
            task_name="partial_fit",
        )  # fmt: skip

    def decision_function(self, X):
        """Confidence scores: signed distances to each class's hyperplane.

        Parameters
        ----------
        X : {array-like, sparse matrix, GPU array} of shape (n_samples, n_features)
            Samples. A GPU array (``__cuda_array_interface__``, with
            ``device='cuda'`` or ``'auto'``) is scored on the GPU.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            The scores (NumPy); in the binary case, the score of
            ``classes_[1]``.
        """
        if is_device_array(X):
            check_is_fitted(self)
            X = validate_X(self, X)
            scores = gpu_scores(X, np.atleast_2d(self.coef_), self.intercept_)
            return scores.ravel() if scores.shape[1] == 1 else scores
        return super().decision_function(X)

    def _has_proba(self):
        # scikit-learn's reason, which becomes the __cause__ of the AttributeError
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(
                f"probability estimates are not available for loss={self.loss!r}"
            )
        return True

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Probability estimates (``log_loss`` and ``modified_huber`` only).

        ``log_loss``: the logistic function of the decision (OvR heads are
        normalised to sum to one), or the softmax for ``multinomial``.
        ``modified_huber``: ``(clip(decision, -1, 1) + 1) / 2``, normalised, as
        in scikit-learn.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        check_is_fitted(self)
        scores = self.decision_function(X)
        if self.loss == "log_loss":
            if self._multinomial():
                return softmax(scores, axis=1)
            return self._predict_proba_lr(X)
        binary = len(self.classes_) == 2
        if binary:
            prob2 = np.ones((scores.shape[0], 2))
            prob = prob2[:, 1]
        else:
            prob = scores
        np.clip(scores, -1, 1, prob)
        prob += 1.0
        prob /= 2.0
        if binary:
            prob2[:, 0] -= prob
            return prob2
        prob_sum = prob.sum(axis=1)
        all_zero = prob_sum == 0
        if np.any(all_zero):
            prob[all_zero, :] = 1
            prob_sum[all_zero] = len(self.classes_)
        prob /= prob_sum.reshape((prob.shape[0], -1))
        return prob

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _predict_proba_lr(self, X):
        prob = expit(self.decision_function(X))
        if prob.ndim == 1:
            return np.vstack([1 - prob, prob]).T
        prob /= prob.sum(axis=1).reshape((prob.shape[0], -1))
        return prob


class Perceptron(SGDClassifier):
    """The perceptron, trained by SGD on Numba.

    A drop-in replacement for :class:`sklearn.linear_model.Perceptron`, which
    is ``SGDClassifier(loss="perceptron", learning_rate="constant", eta0=1,
    penalty=None)``: the same parameters, defaults, methods and fitted
    attributes, and with the same ``random_state`` scikit-learn's ``coef_``,
    ``intercept_`` and ``n_iter_`` to floating-point rounding. fastsgd adds
    ``batch_size``, ``momentum``, ``dampening``, ``nesterov`` and ``device``
    (see :class:`SGDClassifier`); float32 and CSR input train as they are.

    Parameters
    ----------
    penalty : {'l2', 'l1', 'elasticnet', None}, default=None
        The regularisation term.
    alpha : float, default=0.0001
        Regularisation strength.
    l1_ratio : float, default=0.15
        Elastic-net mixing (0: L2, 1: L1); used with ``penalty='elasticnet'``.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stop when the objective has not improved by ``tol`` for
        ``n_iter_no_change`` epochs. ``None`` never stops early.
    shuffle : bool, default=True
        Whether to shuffle the training data each epoch.
    verbose : int, default=0
        As :class:`SGDClassifier`'s.
    eta0 : float, default=1.0
        The constant learning rate.
    n_jobs : int, default=None
        Threads of the Numba kernels; results are bitwise identical for every
        value.
    random_state : int, RandomState instance or None, default=0
        Seeds shuffling and the early-stopping split.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data and stop on its score.
    validation_fraction : float, default=0.1
        The held-out fraction with ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes.
    warm_start : bool, default=False
        Start from the previous fit's solution.
    batch_size : int, default=1
        Samples per step; 1 is scikit-learn's per-sample algorithm.
    momentum, dampening, nesterov : float, float, bool, default=0, 0, False
        ``torch.optim.SGD``'s momentum rule (mini-batches).
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        As :class:`SGDClassifier`'s.

    Attributes
    ----------
    coef_, intercept_, classes_, n_iter_, t_, loss_curve_ :
        As :class:`SGDClassifier`'s.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastsgd import Perceptron
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = Perceptron(tol=1e-3, random_state=0).fit(X, y)
    >>> round(clf.score(X, y), 3)
    0.939
    """

    _parameter_constraints: dict = {
        **{
            key: value
            for key, value in SGDClassifier._parameter_constraints.items()
            if key not in ("loss", "average", "multi_class")
        },
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "eta0": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        *,
        penalty=None,
        alpha=0.0001,
        l1_ratio=0.15,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        eta0=1.0,
        n_jobs=None,
        random_state=0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        class_weight=None,
        warm_start=False,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        device="cpu",
    ):
        super().__init__(
            loss="perceptron", penalty=penalty, alpha=alpha, l1_ratio=l1_ratio,
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol,
            shuffle=shuffle, verbose=verbose, random_state=random_state,
            learning_rate="constant", eta0=eta0, early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, power_t=0.5, warm_start=warm_start,
            class_weight=class_weight, n_jobs=n_jobs, batch_size=batch_size,
            momentum=momentum, dampening=dampening, nesterov=nesterov, device=device,
        )  # fmt: skip


class _OneHead:
    """What the one-head linear models (``SGDRegressor``, ``SGDOneClassSVM``)
    share: a 1-d ``coef_``, scikit-learn's shuffling seed (``_fit_regressor``
    and ``_fit_one_class`` draw it from ``random_state`` first), and the
    scores ``X @ coef_ + intercept``."""

    def _coef_shape(self, n_heads, n_features):
        return (n_features,)

    def _coef_view(self, coef):
        return _row_view(self, coef)

    def _draw_seeds(self, n_heads):
        return np.array([check_random_state(self.random_state).randint(0, _MAX_INT)])

    def _scores(self, X, intercept):
        """``X @ coef_ + intercept[0]`` as a 1-d array (on the GPU for a GPU
        ``X``)."""
        X = validate_X(self, X)
        if is_device_array(X):
            return gpu_scores(X, self.coef_[None, :], intercept).ravel()
        return np.asarray(X @ self.coef_).ravel() + intercept[0]


class SGDRegressor(_OneHead, GPUScoreMixin, RegressorMixin, _BaseSGD):
    """Linear regression trained by SGD on Numba kernels.

    A drop-in replacement for :class:`sklearn.linear_model.SGDRegressor`
    with the same parameters and defaults, plus ``n_jobs``, ``batch_size``,
    ``momentum``, ``dampening`` and ``nesterov`` (see
    :class:`SGDClassifier` for their meaning).

    Parameters
    ----------
    loss : {'squared_error', 'huber', 'epsilon_insensitive', \
'squared_epsilon_insensitive'}, default='squared_error'
        The loss function.
    penalty : {'l2', 'l1', 'elasticnet', None}, default='l2'
        The regularisation term.
    alpha : float, default=0.0001
        Regularisation strength.
    l1_ratio : float, default=0.15
        Elastic-net mixing.
    fit_intercept : bool, default=True
        Whether to fit an intercept.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stopping tolerance (see :class:`SGDClassifier`).
    shuffle : bool, default=True
        Shuffle each epoch.
    verbose : int, default=0
        As in :class:`SGDClassifier`.
    epsilon : float, default=0.1
        Margin of the Huber and epsilon-insensitive losses.
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the early-stopping split.
    learning_rate : {'invscaling', 'constant', 'optimal', 'adaptive', 'pa1', \
'pa2'}, default='invscaling'
        The learning-rate schedule.
    eta0 : float, default=0.01
        Initial learning rate.
    power_t : float, default=0.25
        Exponent of the 'invscaling' schedule.
    early_stopping : bool, default=False
        Stop when the R^2 of a held-out set stalls.
    validation_fraction : float, default=0.1
        Share held out for early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Averaged SGD.
    n_jobs : int, default=None
        Threads of the Numba kernels; results do not depend on it.
    batch_size : int, default=1
        Mini-batch size.
    momentum : float, default=0.0
        Momentum factor.
    dampening : float, default=0.0
        Dampening of the momentum.
    nesterov : bool, default=False
        Nesterov momentum.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Weights.
    device_ : {'cpu', 'cuda'}
        Where the last ``fit``/``partial_fit`` trained (``device`` resolved).
    intercept_ : ndarray of shape (1,)
        Intercept.
    n_iter_ : int
        Epochs run.
    t_ : float
        ``n_iter_ * n_samples + 1``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_scores_ : list of float or None
        Validation R^2 of each epoch with early stopping, else None.

    Notes
    -----
    Callbacks (``set_callbacks``): as in ``SGDClassifier``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsgd import SGDRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    >>> reg = SGDRegressor(random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.99)
    True
    """

    #: scikit-learn's table of loss names (see ``SGDClassifier.loss_functions``).
    loss_functions = _SkSGDRegressor.loss_functions

    _parameter_constraints: dict = {
        **_SkSGDRegressor._parameter_constraints,
        **_NEW_PARAMETERS,
    }
    _task = codes.REGRESSION

    def __init__(
        self,
        loss="squared_error",
        *,
        penalty="l2",
        alpha=0.0001,
        l1_ratio=0.15,
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
        warm_start=False,
        average=False,
        n_jobs=None,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        device="cpu",
    ):
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
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
        self.warm_start = warm_start
        self.average = average
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.device = device

    def _validation_scorer(self, X_val, y_float, y_class, sw_val, head_positive,
                           as_sklearn=False):  # fmt: skip
        def score(coef, intercept):  # per head (a grid's models)
            return [
                r2_score(y_float, X_val @ w + b, sample_weight=sw_val)
                for w, b in zip(coef, intercept, strict=True)
            ]

        return score

    def _fit_or_partial(self, X, y, sample_weight, coef_init, intercept_init,
                        max_iter, first_call, task_name):  # fmt: skip
        self._fit_device()
        X, y = validate_X_y(self, X, y, reset=first_call, y_numeric=True)
        y = y.astype(X.dtype, copy=False)
        targets = _trainer.regression_targets(y)
        return self._fit_encoded(
            X, y, targets, sample_weight, coef_init, intercept_init, max_iter, 1,
            first_call, split_on=y, task_name=task_name,
        )  # fmt: skip

    @with_callbacks
    def fit(self, X, y, coef_init=None, intercept_init=None, sample_weight=None):
        """Fit the linear model with stochastic gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Targets.
        coef_init : ndarray of shape (n_features,), default=None
            Initial coefficients.
        intercept_init : ndarray of shape (1,), default=None
            Initial intercept.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDRegressor
            The fitted estimator.
        """
        coef_init, intercept_init = self._start_fit(coef_init, intercept_init)
        self._fit_or_partial(
            X, y, sample_weight, coef_init, intercept_init, self.max_iter, True, "fit"
        )
        self._warn_if_not_converged()
        return self

    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch of SGD over the given samples, keeping optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : array-like of shape (n_samples,)
            Its targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDRegressor
            The updated estimator.
        """
        first_call = not hasattr(self, "coef_")
        if first_call:
            self._validate_params()
            self._check_settings(for_partial_fit=True)
        return self._fit_or_partial(
            X, y, sample_weight, None, None, 1, first_call, "partial_fit"
        )

    def predict(self, X):
        """Predict with the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted values.
        """
        check_is_fitted(self)
        return self._scores(X, self.intercept_)


class SGDOneClassSVM(_OneHead, OutlierMixin, _BaseSGD):
    """The linear one-class SVM, trained by SGD on Numba kernels.

    A drop-in replacement for :class:`sklearn.linear_model.SGDOneClassSVM`
    (scikit-learn 1.9): the same parameters, defaults, methods and fitted
    attributes, and with the same ``random_state`` scikit-learn's ``coef_``,
    ``offset_`` and ``n_iter_`` to floating-point rounding. It minimises::

        nu/2 ||w||^2 + nu * b + mean(max(0, 1 - (w . x + b)))

    over ``w`` and ``b = 1 - offset_`` (scikit-learn's hinge loss with every
    target +1, ``alpha = nu``, and the offset's own step ``-eta * nu``), so
    it trains on the binary kernels of :class:`SGDClassifier`. fastsgd adds
    ``batch_size``, ``momentum``, ``dampening``, ``nesterov``, ``n_jobs`` and
    ``device`` (see :class:`SGDClassifier`); float32 and CSR input train as
    they are. Pair it with a kernel approximation
    (:class:`sklearn.kernel_approximation.Nystroem`) for a kernel one-class
    SVM.

    Parameters
    ----------
    nu : float, default=0.5
        An upper bound on the fraction of training errors and a lower bound
        on the fraction of support vectors, in (0, 1]; also the
        regularisation strength (scikit-learn's ``alpha = nu``).
    fit_intercept : bool, default=True
        Whether to fit the offset (otherwise ``offset_`` stays at its start).
    max_iter : int, default=1000
        Maximum number of epochs of ``fit``.
    tol : float or None, default=1e-3
        Stop when the objective has not improved by ``tol`` for 5 epochs;
        None never stops early.
    shuffle : bool, default=True
        Shuffle the training data each epoch.
    verbose : int, default=0
        As :class:`SGDClassifier`'s.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffling.
    learning_rate : {'optimal', 'constant', 'invscaling', 'adaptive'}, \
default='optimal'
        The learning-rate schedule.
    eta0 : float, default=0.01
        Initial learning rate of the 'constant', 'invscaling' and 'adaptive'
        schedules.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Averaged SGD (from that many samples on, for an int).
    n_jobs : int, default=None
        Threads of the Numba kernels; results do not depend on it.
    batch_size : int, default=1
        Samples per step; 1 is scikit-learn's per-sample algorithm. A
        mini-batch step takes the mean hinge gradient of the batch, plus
        ``nu * w`` for the weights and ``nu`` for the intercept.
    momentum, dampening, nesterov : float, float, bool, default=0, 0, False
        ``torch.optim.SGD``'s momentum rule (mini-batches).
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        As :class:`SGDClassifier`'s (mini-batches train on the GPU).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Weights.
    offset_ : ndarray of shape (1,)
        The offset: ``decision_function(X) = X @ coef_ - offset_``.
    n_iter_ : int
        Epochs run.
    t_ : float
        Samples seen plus one (scikit-learn's counter).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` has string column names.
    loss_curve_ : list of float
        Mean hinge loss of each epoch.
    device_ : {'cpu', 'cuda'}
        Where the last ``fit``/``partial_fit`` trained.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsgd import SGDOneClassSVM
    >>> X = np.array([[-1, -1], [-2, -1], [1, 1], [2, 1]])
    >>> clf = SGDOneClassSVM(random_state=42, tol=None).fit(X)
    >>> print(clf.predict([[4, 4]]))
    [1]
    """

    _parameter_constraints: dict = {
        **_SkSGDOneClassSVM._parameter_constraints,
        **_NEW_PARAMETERS,
    }
    _task = codes.ONE_VS_REST

    # scikit-learn's fixed settings of the one-class SVM (not parameters)
    loss = "hinge"
    penalty = "l2"
    l1_ratio = 0.0
    epsilon = 0.1
    early_stopping = False
    validation_fraction = 0.1
    n_iter_no_change = 5

    def __init__(
        self,
        nu=0.5,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-3,
        shuffle=True,
        verbose=0,
        random_state=None,
        learning_rate="optimal",
        eta0=0.01,
        power_t=0.5,
        warm_start=False,
        average=False,
        *,
        n_jobs=None,
        batch_size=1,
        momentum=0.0,
        dampening=0.0,
        nesterov=False,
        device="cpu",
    ):
        self.nu = nu
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.warm_start = warm_start
        self.average = average
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.device = device

    @property
    def alpha(self):
        """The regularisation strength: ``nu`` (scikit-learn 1.9's ``alpha``)."""
        return self.nu

    def _config(self, is_sparse):
        return dataclasses.replace(
            super()._config(is_sparse), intercept_alpha=float(self.nu)
        )

    def _fitted_intercept(self):
        return 1.0 - self.offset_

    def _fitted_attributes(self, state, config, dtype, log):
        attributes = super()._fitted_attributes(state, config, dtype, log)
        del attributes["intercept_"]
        # float64, as scikit-learn's (its intercept is a C double)
        attributes["offset_"] = 1.0 - state.published(config.average)[1]
        attributes.pop("validation_scores_", None)  # (no early stopping)
        return attributes

    def _fit_or_partial(self, X, sample_weight, coef_init, offset_init, max_iter,
                        first_call, task_name):  # fmt: skip
        self._fit_device()
        X = validate_X(self, X, reset=first_call)
        n_samples = X.shape[0]
        # every sample is a positive of the one binary head
        targets = _trainer.class_targets(
            np.ones(n_samples, dtype=np.int32), np.ones(1, dtype=np.int32),
            np.ones(1), np.ones(1), X.dtype,
        )  # fmt: skip
        # scikit-learn's intercept is 1 - offset, the offset starting at 0
        offset_init = 0.0 if offset_init is None else offset_init
        intercept_init = 1.0 - np.asarray(offset_init, dtype=np.float64)
        return self._fit_encoded(
            X, None, targets, sample_weight, coef_init, intercept_init, max_iter, 1,
            first_call, split_on=np.ones(n_samples), task_name=task_name,
        )  # fmt: skip

    @with_callbacks
    def fit(self, X, y=None, coef_init=None, offset_init=None, sample_weight=None):
        """Fit the linear one-class SVM with stochastic gradient descent.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.
        coef_init : ndarray of shape (n_features,), default=None
            Initial coefficients.
        offset_init : ndarray of shape (1,), default=None
            Initial offset.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDOneClassSVM
            The fitted estimator.
        """
        coef_init, intercept_init = self._start_fit(coef_init, None)
        if intercept_init is not None and offset_init is None:
            offset_init = 1.0 - intercept_init  # warm start: the last offset
        self._fit_or_partial(
            X, sample_weight, coef_init, offset_init, self.max_iter, True, "fit"
        )
        self._warn_if_not_converged()
        return self

    @with_callbacks
    def partial_fit(self, X, y=None, sample_weight=None):
        """Run one epoch of SGD over the given samples, keeping optimizer state.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A batch of training data.
        y : None
            Ignored; present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples.

        Returns
        -------
        self : SGDOneClassSVM
            The updated estimator.
        """
        first_call = not hasattr(self, "coef_")
        if first_call:
            self._validate_params()
            self._check_settings(for_partial_fit=True)
        return self._fit_or_partial(
            X, sample_weight, None, None, 1, first_call, "partial_fit"
        )

    def decision_function(self, X):
        """Signed distance to the separating hyperplane: positive for an
        inlier, negative for an outlier.

        Parameters
        ----------
        X : {array-like, sparse matrix, GPU array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``X @ coef_ - offset_``.
        """
        check_is_fitted(self, "coef_")
        return self._scores(X, -self.offset_)

    def score_samples(self, X):
        """The raw scores ``X @ coef_``, before the offset.

        Parameters
        ----------
        X : {array-like, sparse matrix, GPU array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            ``decision_function(X) + offset_``.
        """
        return self.decision_function(X) + self.offset_

    def predict(self, X):
        """Labels of the samples: 1 for an inlier, -1 for an outlier.

        Parameters
        ----------
        X : {array-like, sparse matrix, GPU array} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,), int32
            1 where ``decision_function(X) >= 0``, else -1.
        """
        y = (self.decision_function(X) >= 0).astype(np.int32)
        y[y == 0] = -1
        return y
