"""The linear models' trainer: their problem, settings and state, their
runners and their stopping rule, for ``_epoch.fit_epochs``.

- ``LinearProblem``, ``LinearConfig``, ``LinearState`` (with the pending
  folds of a ``partial_fit`` stream): what the estimators hand over, arrays
  and scalars only (labels, strings and weights are encoded above).
- The runners, one per algorithm (``make_runner``): scikit-learn's per-sample
  SGD (``cpu_per_sample``), mini-batches stepping every weight (``cpu``, or
  ``cuda`` on a GPU), mini-batches on CSR data in O(nnz) (``cpu_sparse``).
- ``TrackStopping``: scikit-learn's ``tol`` / ``n_iter_no_change`` per track
  (each OvR head stops on its own), on the training objective or a
  validation score, with the 'adaptive' step down and the verbose lines.

``train`` runs a fit: ``fit``, ``partial_fit`` (one epoch) and ``warm_start``.
"""

import copy
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from fastsgd._device import device_errors
from fastsgd._epoch import (
    DivergenceError,
    RollBack,
    Runner,
    adaptive_decay,
    finite,
    fit_epochs,
    resolve_n_jobs,
    weighted_mean,
)
from fastsgd._kernels import cpu, cpu_per_sample, cpu_sparse
from fastsgd._kernels.bundles import (
    ColumnFolds,
    Data,
    LinearParams,
    LinearTargets,
    MinibatchRule,
    PerSampleEpochs,
    PerSampleHeads,
    PerSampleRule,
    ScaledWeights,
    Splits,
    StepCounters,
    data_of,
)
from fastsgd._math import codes
from fastsgd._math.schedules import learning_rate, optimal_offset
from fastsgd._math.stopping import epoch_verdict
from fastsgd._math.updates import penalty_value

#: Largest seed passed to the kernel's shuffle.
_MAX_SEED = np.iinfo(np.int32).max


#: scikit-learn's message for a diverging linear model (``_sgd_fast``),
#: which fastsgd's ``DivergenceError`` begins with.
LINEAR_DIVERGENCE = (
    "Floating-point under-/overflow occurred at epoch #{epoch}. Scaling input data "
    "with StandardScaler or MinMaxScaler might help."
)


@dataclass
class LinearProblem:
    """Training data, already validated, cast and encoded for the kernels."""

    X_data: np.ndarray
    X_indices: np.ndarray
    X_indptr: np.ndarray
    n_features: int
    is_sparse: bool
    y_float: np.ndarray
    y_class: np.ndarray
    task: int
    head_positive: np.ndarray
    weight_pos: np.ndarray
    weight_neg: np.ndarray
    sample_weight: np.ndarray
    train_index: np.ndarray
    #: cross-validation splits trained in one pass (``SGDClassifierCV``):
    #: ``(excluded, head_split)``, see ``bundles.Splits``; None for one fit
    splits: tuple | None = None

    @classmethod
    def of(cls, X, targets, task, sample_weight, train_index):
        """The problem of a validated ``X`` (host or GPU, dense or CSR) and its
        ``targets`` (``regression_targets`` or ``class_targets``)."""
        y_float, y_class, head_positive, weight_pos, weight_neg = targets
        return cls(*data_of(X), y_float, y_class, task, head_positive, weight_pos,
                   weight_neg, sample_weight, train_index)  # fmt: skip

    def data(self):
        """The kernels' ``bundles.Data``."""
        return Data(self.X_data, self.X_indices, self.X_indptr, self.n_features,
                    self.is_sparse)  # fmt: skip

    def targets(self):
        """The kernels' ``bundles.LinearTargets``."""
        return LinearTargets(self.y_float, self.y_class, self.task, self.head_positive,
                             self.weight_pos, self.weight_neg,
                             self.sample_weight)  # fmt: skip


def regression_targets(y):
    """The target arrays of a regression, in ``LinearProblem``'s order
    (``y_float, y_class, head_positive, weight_pos, weight_neg``): ``y``, and
    placeholders for the class arrays, which the kernels take but do not read
    for a regression."""
    return (
        y,
        np.zeros(y.shape[0], dtype=np.int32),
        np.zeros(1, dtype=np.int32),
        np.ones(1),
        np.ones(1),
    )


def class_targets(y_class, head_positive, weight_pos, weight_neg, dtype):
    """The target arrays of a classification, in ``LinearProblem``'s order: the
    encoded classes and the heads' classes and weights, and a placeholder for
    ``y_float`` (in ``dtype``), which the kernels do not read for classes."""
    y_float = np.zeros(y_class.shape[0], dtype=dtype)
    return y_float, y_class, head_positive, weight_pos, weight_neg


@functools.lru_cache(maxsize=64)
def _one_model_settings(n_heads, alpha, l1_ratio, optimal_t0):
    """``LinearConfig.head_settings`` of one model (read-only by use: the
    arrays are shared by every call with these settings)."""
    return (np.full(n_heads, alpha), np.full(n_heads, l1_ratio),
            np.full(n_heads, optimal_t0))  # fmt: skip


@dataclass(frozen=True)
class LinearConfig:
    """Scalar settings of one training run, as codes and floats."""

    loss: int
    epsilon: float
    penalty: int
    alpha: float
    l1_ratio: float
    schedule: int
    eta0: float
    power_t: float
    fit_intercept: bool
    intercept_decay: float
    average: int
    batch_size: int
    momentum: float
    dampening: float
    nesterov: bool
    tol: float
    n_iter_no_change: int
    early_stopping: bool
    shuffle: bool
    n_jobs: int | None
    verbose: int
    #: the objective's linear term in the intercept, ``intercept_alpha * b``
    #: (the one-class SVM's ``nu``; 0 for every other model)
    intercept_alpha: float = 0.0
    #: a grid of ``(alpha, l1_ratio)`` models trained as heads of one fit
    #: (``SGDClassifierCV``): each class's heads hold the grid's models in its
    #: order, the classes one after another; empty for one model
    grid: tuple = ()

    @property
    def n_models(self):
        """How many models the fit trains (the grid's size, or 1)."""
        return max(len(self.grid), 1)

    def head_settings(self, n_heads):
        """``(alpha, l1_ratio, optimal_t0)`` of each head, float64 arrays: the
        grid's models repeat over the classes. Nothing writes them: one model's
        come from a cache, as every ``partial_fit`` call asks for them."""
        if not self.grid:
            return _one_model_settings(
                n_heads, self.alpha, _l1_ratio(self.penalty, self.l1_ratio),
                self.optimal_t0,
            )  # fmt: skip
        grid = self.grid
        values = np.array([
            (alpha, _l1_ratio(self.penalty, l1_ratio),
             optimal_offset(self.loss, alpha, self.epsilon)
             if self.schedule == codes.OPTIMAL else 0.0)
            for alpha, l1_ratio in grid
        ])  # fmt: skip
        values = np.tile(values, (n_heads // len(grid), 1))
        return tuple(np.ascontiguousarray(column) for column in values.T)

    @property
    def per_sample(self):
        """Whether this is scikit-learn's per-sample algorithm."""
        return self.batch_size == 1 and self.momentum == 0.0

    @functools.cached_property
    def optimal_t0(self):
        """The 'optimal' schedule's ``t0`` (``schedules.optimal_offset``; 0
        for the other schedules)."""
        if self.schedule != codes.OPTIMAL:
            return 0.0
        return optimal_offset(self.loss, self.alpha, self.epsilon)

    @property
    def track_objective(self):
        """Whether the stopping rule reads the training objective (``tol``
        set, no early stopping)."""
        return not self.early_stopping and self.tol is not None


class PendingFolds:
    """Folds of the scaled weights (``w = wscale * v`` and the lazy average,
    scikit-learn's ``WeightVector``) that a call recorded instead of
    sweeping every weight at its end.

    scikit-learn folds the scale into every weight at the end of each call,
    which costs ``n_heads x n_features`` however small the call's chunk. The
    calls of a ``partial_fit`` stream record their fold here instead; each
    column remembers how many folds it has had (``stamp``), and receives the
    ones it missed, in order and with the same arithmetic, right before a
    call reads it (``LinearState.bring_current``) or when the whole model is
    read (``LinearState.materialize``): the same bits as folding at once.
    Per-sample calls keep their L1 truncation's ``l1_q`` here too, zeroed
    column by column as the calls reach them (scikit-learn restarts it with
    every call).
    """

    #: folds kept before they are applied to the whole model (amortised)
    CAPACITY = 64

    def __init__(self, n_heads, n_features, dtype):
        self.wscale = np.ones((self.CAPACITY, n_heads), dtype=dtype)
        self.avg_a = np.zeros((self.CAPACITY, n_heads))
        self.avg_b = np.ones((self.CAPACITY, n_heads))
        self.averaging = np.zeros(self.CAPACITY, dtype=np.bool_)
        self.n_events = 0
        self.stamp = np.zeros(n_features, dtype=np.int64)
        self.l1_q = np.zeros((n_heads, 0), dtype=dtype)


@dataclass
class LinearState(RollBack):
    """Parameters and optimizer state that ``partial_fit`` resumes.

    ``coef`` (and ``avg_coef``, ``coef_buf``, ``l1_q``) are ``(n_heads,
    n_features)``; the O(nnz) sparse kernels keep them feature-major
    (``coef`` is then a transposed view of a C-ordered ``(n_features,
    n_heads)`` array: ``feature_major``), every other kernel head-major. The
    trainer moves the state to the layout of the kernel it runs
    (``to_layout``); the published ``coef_`` is a view either way.
    ``l1_u``/``l1_q`` are the mini-batch kernels' cumulative L1 penalty.
    """

    coef: np.ndarray
    intercept: np.ndarray
    avg_coef: np.ndarray
    avg_intercept: np.ndarray
    coef_buf: np.ndarray
    intercept_buf: np.ndarray
    eta: np.ndarray
    l1_q: np.ndarray = None
    l1_u: np.ndarray = None
    t: float = 1.0
    n_steps: int = 0
    n_averaged: int = 0
    #: folds recorded by ``partial_fit`` calls and not yet applied everywhere
    pending: PendingFolds = None

    _AVERAGED = ("coef", "intercept", "avg_coef", "avg_intercept", "coef_buf",
                 "intercept_buf", "l1_q", "l1_u")  # fmt: skip
    #: the ``(n_heads, n_features)`` arrays, laid out alike
    _WEIGHTS = ("coef", "avg_coef", "coef_buf", "l1_q")

    def __post_init__(self):
        n_heads = self.coef.shape[0]
        if self.l1_q is None:
            self.l1_q = np.zeros((n_heads, 0), dtype=self.coef.dtype)
        if self.l1_u is None:
            self.l1_u = np.zeros(n_heads)

    @classmethod
    def average(cls, states, fractions, seen):
        """Parameter mixing: the states of models trained on disjoint data,
        averaged (a new state).

        Weights, intercepts, averages, momentum buffers and the cumulative
        L1 penalty: their mean weighted by ``fractions`` (float64, cast back).
        ``seen[i]`` samples went through ``states[i]`` since the states were
        last mixed: ``t`` counts all of them; the step counts are the largest
        of the states' (each state has been through that many updates);
        per-head rates the smallest.
        """
        state = copy.deepcopy(states[0])
        for name in cls._AVERAGED:
            setattr(state, name, weighted_mean([getattr(s, name) for s in states],
                                               fractions))  # fmt: skip
        state.eta = np.min([s.eta for s in states], axis=0)  # 'adaptive' only
        state.t = states[0].t - seen[0] + sum(seen)
        state.n_steps = max(s.n_steps for s in states)
        state.n_averaged = max(s.n_averaged for s in states)
        return state

    @classmethod
    def create(cls, coef, intercept, config, feature_major=False):
        """A new state from the initial weights, in the layout of the kernel
        that will train it (``feature_major_kernel``)."""
        n_heads = coef.shape[0]
        if feature_major and n_heads > 1 and coef.flags.c_contiguous:
            coef = np.ascontiguousarray(coef.T).T
        state = cls(
            coef=coef,
            intercept=np.asarray(intercept, dtype=np.float64).copy(),
            avg_coef=np.zeros((n_heads, 0), dtype=coef.dtype),
            avg_intercept=np.zeros(n_heads, dtype=np.float64),
            coef_buf=np.zeros((n_heads, 0), dtype=coef.dtype),
            intercept_buf=np.zeros(n_heads, dtype=np.float64),
            eta=np.full(n_heads, config.eta0, dtype=np.float64),
        )
        state.ensure_shapes(config)
        return state

    def ensure_shapes(self, config, per_sample=None):
        """Grow the averaging / momentum / L1 arrays if the settings now need
        them (the mini-batch kernels keep the cumulative L1 penalty here;
        ``per_sample``: whether the fit is per-sample, default from
        ``config``), zeros in the weights' layout."""
        if per_sample is None:
            per_sample = config.per_sample
        n_features = self.coef.shape[1]
        needed = {
            "avg_coef": config.average > 0,
            "coef_buf": config.momentum != 0.0,
            "l1_q": not per_sample and config.penalty in (codes.L1, codes.ELASTICNET),
        }  # fmt: skip
        order = "F" if self.feature_major else "C"
        for name, need in needed.items():
            if need and getattr(self, name).shape[1] != n_features:
                setattr(self, name, np.zeros(self.coef.shape, self.coef.dtype, order))

    _ARRAYS = ("coef", "intercept", "avg_coef", "avg_intercept", "coef_buf",
               "intercept_buf", "eta", "l1_q", "l1_u")  # fmt: skip
    _SCALARS = ("t", "n_steps", "n_averaged")
    _COLUMNS = _WEIGHTS

    @property
    def feature_major(self):
        """Whether the weights are stored feature-major (one head: either)."""
        return not self.coef.flags.c_contiguous

    # ------------------------------------------------------- pending folds
    def pending_folds(self):
        """The state's ``PendingFolds`` (made on first use)."""
        if self.pending is None:
            n_heads, n_features = self.coef.shape
            self.pending = PendingFolds(n_heads, n_features, self.coef.dtype)
        return self.pending

    def record_fold(self, wscale, avg_a, avg_b, averaging):
        """Record a call's fold of its scale and lazy average (per head)."""
        pending = self.pending_folds()
        if pending.n_events == pending.CAPACITY:
            self.materialize()
        e = pending.n_events
        pending.wscale[e] = wscale
        pending.avg_a[e] = avg_a
        pending.avg_b[e] = avg_b
        pending.averaging[e] = averaging
        pending.n_events = e + 1

    def bring_current(self, columns, save=False):
        """Apply the pending folds to ``columns`` (sorted column indices).

        ``save``: also return ``{"coef": ..., "avg_coef": ...}``, those
        columns' weights after the folds (``(n_heads, len(columns))``,
        copied in the same pass: a call's roll-back snapshot).
        """
        pending = self.pending_folds()
        n_heads = self.coef.shape[0]
        n_saved = columns.shape[0] if save else 0
        saved_coef = np.empty((n_heads, n_saved), dtype=self.coef.dtype)
        saved_avg = np.empty(
            (n_heads, n_saved if self.avg_coef.shape[1] else 0), dtype=self.coef.dtype
        )
        feature_major = self.feature_major
        coef, avg = self.coef, self.avg_coef
        if feature_major:
            coef, avg = coef.T, avg.T
        cpu.apply_folds(coef, avg, feature_major, columns, pending.wscale,
                        pending.avg_a, pending.avg_b, pending.averaging,
                        pending.stamp, pending.n_events, saved_coef,
                        saved_avg)  # fmt: skip
        if save:
            return {"coef": saved_coef, "avg_coef": saved_avg}
        return None

    def materialize(self):
        """Apply every pending fold to every weight (``coef_`` is read, the
        state changes layout, dtype or hands): the weights as scikit-learn's
        eager folds leave them."""
        pending = self.pending
        if pending is None or pending.n_events == 0:
            return
        self.bring_current(np.arange(self.coef.shape[1], dtype=np.int64))
        pending.n_events = 0
        pending.stamp[:] = 0

    def to_layout(self, feature_major):
        """Store the weights head-major or feature-major (a copy if they are
        not so already; the values do not change)."""
        if self.coef.shape[0] == 1 or self.feature_major == feature_major:
            return
        self.materialize()
        for name in self._WEIGHTS:
            array = getattr(self, name)
            setattr(self, name, np.ascontiguousarray(array.T).T if feature_major
                    else np.ascontiguousarray(array))  # fmt: skip

    def kernel_params(self, feature_major=False):
        """The kernels' ``bundles.LinearParams``, the weights as the kernel
        takes them: ``(n_heads, n_features)``, or ``(n_features, n_heads)``
        for a feature-major kernel (C-ordered either way, after
        ``to_layout``)."""
        weights = [getattr(self, name) for name in self._WEIGHTS]
        if feature_major:
            weights = [w.T for w in weights]
        coef, avg_coef, coef_buf, l1_q = weights
        return LinearParams(coef, self.intercept, coef_buf, self.intercept_buf,
                            avg_coef, self.avg_intercept, l1_q, self.l1_u)  # fmt: skip

    def cast(self, dtype):
        """Continue in another dtype (``partial_fit`` given float32 after float64)."""
        self.materialize()
        self.pending = None
        for name in self._WEIGHTS:
            setattr(self, name, getattr(self, name).astype(dtype))

    def published(self, average):
        """``(coef, intercept)`` to expose: averaged once averaging has begun."""
        if average > 0 and average <= self.t - 1:
            return self.avg_coef, self.avg_intercept
        return self.coef, self.intercept


@dataclass
class TrainLog:
    """What a training run reports back to the estimator."""

    n_iter: int = 0
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    #: with splits, each split's sample counter ``t`` at the end
    split_t: np.ndarray | None = None


class _PerSampleOrders:
    """The per-sample kernel's visiting orders, as scikit-learn's.

    scikit-learn shuffles all ``n_samples`` rows of its dataset at every epoch
    (``shuffle_as_sklearn``, on the order the previous epoch left, with the
    same seed) and skips the validation rows as it meets them; one-vs-rest
    heads each have a dataset and a seed of their own. ``current`` is 2-D:
    one row per order, training rows only. Without seeds it holds the
    training rows in their order, for all heads.
    """

    def __init__(self, train_index, n_samples, seeds):
        self.seeds = None if seeds is None else [int(s) for s in seeds]
        self.per_head = self.seeds is not None and len(self.seeds) > 1
        self.current = train_index[None, :]
        if self.seeds is not None:
            self.full = np.tile(np.arange(n_samples, dtype=np.int64),
                                (len(self.seeds), 1))  # fmt: skip
            self.is_train = None  # every row trains: the full orders serve
            if train_index.shape[0] < n_samples:
                self.is_train = np.zeros(n_samples, dtype=bool)
                self.is_train[train_index] = True

    def next_epoch(self):
        """Shuffle for the next epoch (no change without seeds)."""
        if self.seeds is None:
            return
        for row, seed in zip(self.full, self.seeds, strict=True):
            cpu.shuffle_as_sklearn(row, seed)
        if self.is_train is None:
            self.current = self.full
        else:
            self.current = np.stack([row[self.is_train[row]] for row in self.full])


#: Whether CSR mini-batches run the O(nnz) kernels (``cpu_sparse``) where
#: they can. Tests turn it off to compare them with the dense-step kernel.
SPARSE_KERNELS = True

#: Whether a call of one epoch on sparse data leaves its fold of the scaled
#: weights pending (``PendingFolds``). Tests turn it off to compare.
LAZY_FOLDS = True


def train(problem, state, config, max_iter, rng, n_samples, validation_score=None,
          device="cpu", shuffle_seeds=None, epochs=None):  # fmt: skip
    """Train ``state`` (updated in place) on ``problem`` for up to
    ``max_iter`` epochs; returns the ``TrainLog``.

    ``rng`` draws a mini-batch fit's shuffling seeds; ``shuffle_seeds`` are a
    per-sample fit's (scikit-learn's, one for all heads or one per head);
    ``n_samples`` counts the validation rows too (``t`` grows by it an
    epoch, scikit-learn's ``t_`` rule); ``validation_score(coef, intercept)``
    gives one score per track under ``early_stopping``; ``epochs`` are the
    callbacks' hooks (snapshot: ``(state, log)``). Raises ``DivergenceError``
    after restoring the last finite epoch's state.
    """
    # the training objective (loss plus penalty, whose norms the per-sample
    # kernel re-sums at every touch) only feeds the stopping rule on it, and
    # verbose; a call of one epoch (partial_fit) never stops on it
    need_objective = config.track_objective and (max_iter > 1 or config.verbose > 0)
    runner = make_runner(problem, state, config, device, rng, shuffle_seeds,
                         n_samples, need_objective, max_iter == 1)  # fmt: skip
    stopping = TrackStopping(runner, config, validation_score, need_objective)
    fit_epochs(runner, stopping, max_iter, epochs)
    return runner.log


class TrackStopping:
    """The linear models' stopping rule (scikit-learn's ``tol`` /
    ``n_iter_no_change``), per track: each OvR head stops on its own, as
    scikit-learn's binary fits; otherwise the whole model is one track.

    It stops on the validation score (``early_stopping``) or on the training
    objective (``tol`` set), and an 'adaptive' track divides its rate by 5
    after a stall before it stops. It also prints scikit-learn's verbose
    lines, which show what it saw.
    """

    def __init__(self, runner, config, validation_score, need_objective):
        n_heads = runner.state.coef.shape[0]
        # a grid's models (only one-vs-rest and regressions) stop on their own
        ovr = runner.problem.task == codes.ONE_VS_REST or bool(config.grid)
        self.n_tracks = n_heads if ovr else 1
        self.head_track = np.arange(n_heads) if ovr else np.zeros(n_heads, np.intp)
        runner.head_track, runner.n_tracks = self.head_track, self.n_tracks
        self.config, self.validation_score = config, validation_score
        self.need_objective = need_objective
        self.tol = -math.inf if config.tol is None else config.tol
        # per track: the best value (objective, or minus the validation
        # score: lower is better), the worse epochs since, still training
        self.best = np.full(self.n_tracks, np.inf)
        self.no_improvement = np.zeros(self.n_tracks, dtype=np.intp)
        self.active_track = np.ones(self.n_tracks, dtype=bool)

    def active(self):
        """The heads still training (``uint8``, the kernels' mask)."""
        return self.active_track[self.head_track].astype(np.uint8)

    def begin(self, epoch, reporter):
        reporter.message(f"-- Epoch {epoch}")  # with verbose, as scikit-learn

    def after_epoch(self, epoch, runner, reporter):
        config, n_tracks = self.config, self.n_tracks
        objective = runner.objective() if self.need_objective else None
        values, rule_tol, score = np.zeros(n_tracks), -math.inf, None  # no rule
        if config.early_stopping:
            # per-sample: the unscaled v of w = s*v, which scikit-learn's
            # _plain_sgd hands its validation score (its stopping epoch)
            coef, intercept = runner.scoring_coef(), runner.state.intercept
            score = np.asarray(self.validation_score(coef, intercept))
            runner.log.validation_scores.append(float(np.mean(score)))
            values, rule_tol = -score, self.tol
        elif objective is not None:
            values, rule_tol = objective, self.tol
        stalled = np.zeros(n_tracks, dtype=bool)
        for track in range(n_tracks):
            self.best[track], self.no_improvement[track], stalled[track] = (
                epoch_verdict(float(values[track]), self.best[track],
                              self.no_improvement[track], rule_tol,
                              config.n_iter_no_change, bool(self.active_track[track]))
            )  # fmt: skip
        lines = ()
        if reporter.verbose:
            if objective is None:
                objective = runner.objective()
            lines = _verbose_lines(runner, self.head_track, self.active_track,
                                   objective, score, reporter.elapsed())  # fmt: skip
        reporter.epoch(epoch, runner.log.loss_curve[-1],
                       None if score is None else runner.log.validation_scores[-1],
                       lines)  # fmt: skip
        for track in np.flatnonzero(stalled):
            heads = self.head_track == track
            eta = None
            if config.schedule == codes.ADAPTIVE:
                eta = adaptive_decay(runner.state.eta[heads])
            if eta is not None:
                runner.state.eta[heads] = eta
                self.no_improvement[track] = 0
            else:
                self.active_track[track] = False
        if not self.active_track.any():
            reporter.message(f"Convergence after {epoch} epochs took "
                             f"{reporter.elapsed():.2f} seconds")  # fmt: skip
            return True
        return False

    def finish(self, reporter, how):
        pass


def _l1_ratio(penalty, l1_ratio):
    """The L1 share of a penalty: 0 for L2 (and none), 1 for L1."""
    return {codes.L2: 0.0, codes.L1: 1.0}.get(penalty, l1_ratio)


def feature_major_kernel(config, task, is_sparse, device):
    """Whether a fit runs an O(nnz) sparse kernel (``cpu_sparse``), which
    keeps the weights feature-major: CSR mini-batches on the CPU."""
    per_sample = config.per_sample and task != codes.MULTINOMIAL
    return is_sparse and device == "cpu" and not per_sample and SPARSE_KERNELS


def make_runner(problem, state, config, device, rng, shuffle_seeds, n_samples,
                need_objective, one_epoch):  # fmt: skip
    """The runner of this fit's algorithm (``_PerSampleRunner``,
    ``_SparseRunner`` or ``_MinibatchRunner``). ``one_epoch``: a call of one
    epoch (``partial_fit``), which may leave its fold pending."""
    state.ensure_shapes(config, config.per_sample and problem.task != codes.MULTINOMIAL)
    per_sample = config.per_sample and problem.task != codes.MULTINOMIAL
    if config.grid and not per_sample:
        raise ValueError("a grid of models trains as heads of one per-sample fit only")
    if device == "cuda" and per_sample:
        raise ValueError(PER_SAMPLE_ON_GPU)
    if per_sample:
        return _PerSampleRunner(problem, state, config, n_samples, shuffle_seeds,
                                need_objective, one_epoch)  # fmt: skip
    if feature_major_kernel(config, problem.task, problem.is_sparse, device):
        return _SparseRunner(problem, state, config, n_samples, rng, one_epoch)
    return _MinibatchRunner(problem, state, config, n_samples, rng, device)


class _Runner(Runner):
    """A linear training algorithm under ``fit_epochs``: its kernel calls, the
    state it keeps for one call (folded back in ``__exit__`` however the fit
    ends), its roll-back snapshot, divergence check and objective."""

    uses_blas = False
    l1_ratio = 0.0
    device = "cpu"

    #: whether the call leaves its fold pending (``PendingFolds``)
    lazy = False
    #: whether the runner can run a whole fit in one kernel call
    runs_at_once = False
    #: columns of the first snapshot, copied while the folds were applied
    saved = None

    def __init__(self, problem, state, config, n_samples):
        self.problem, self.state, self.config = problem, state, config
        self.l1_ratio = _l1_ratio(config.penalty, config.l1_ratio)
        n_heads = state.coef.shape[0]
        self.head_alpha, self.head_l1_ratio, self.head_t0 = config.head_settings(
            n_heads
        )
        self.n_train = problem.train_index.shape[0]
        # each track's training rows (the objective's mean): with splits, a
        # track is a head, which trains on its split's rows
        self.track_n_train = float(self.n_train)
        if problem.splits is not None:
            excluded, head_split = problem.splits
            split_rows = (excluded == 0).sum(axis=1)
            self.track_n_train = split_rows[head_split].astype(np.float64)
        self.n_samples = n_samples  # t grows by n_samples an epoch
        self.t_start = state.t
        self.t_kernel = state.t  # scikit-learn's sample counter inside the call
        self.log = TrainLog()
        self.data, self.targets = problem.data(), problem.targets()
        # the weights an epoch can change (None: all of them)
        self.columns = self.epoch_columns = None

    def _start_lazy(self, one_epoch, scale_floor, batch):
        """Decide whether this call leaves its fold pending, and bring the
        state up to date for it: the pending folds applied to the columns the
        call reads (a lazy call), or to every weight. Lazy: one epoch on
        sparse data whose scale cannot reach its floor (a kernel's fold
        reaches every weight)."""
        n_heads = self.state.coef.shape[0]
        ones = np.ones(n_heads, dtype=self.state.coef.dtype)
        self.lazy = (
            LAZY_FOLDS
            and one_epoch
            and self.columns is not None
            and self._smallest_scale(ones, np.ones(n_heads, np.uint8), batch)
            >= scale_floor
        )  # fmt: skip
        if self.lazy:
            self._bring_current()
        else:
            self.state.materialize()

    def _bring_current(self):
        """Apply the pending folds to the call's columns, taking the call's
        first (and only) snapshot of them in the same pass."""
        self.saved = self.state.bring_current(self.columns, save=True)

    def __exit__(self, *exc):
        self._fold(self.state, self._scaled())
        self.state.t = self.t_start + self.log.n_iter * self.n_samples

    def begin_epoch(self, active):
        n_heads = active.shape[0]
        self.active = active
        self.loss_sum, self.objective_sum = np.zeros(n_heads), np.zeros(n_heads)

    def snapshot(self):
        """The state the epoch starts from: the weights it can change."""
        self.epoch_columns = None if self.may_scale_all(self.active) else self.columns
        saved, self.saved = self.saved, None
        return self.state.snapshot(
            self.epoch_columns, saved if self.epoch_columns is not None else None
        )

    def restore(self, snap):
        self.state.restore(snap)

    def may_scale_all(self, active):
        """Whether the epoch may rescale every weight (a kernel's fold)."""
        return True

    def finite(self):
        state = self.state
        if self.epoch_columns is None:
            return finite(self.loss_sum, state.intercept, state.coef)
        fm = state.feature_major
        return finite(self.loss_sum, state.intercept) and cpu.finite_columns(
            state.coef.T if fm else state.coef, self.epoch_columns, fm
        )

    def diverged(self, epoch):
        raise DivergenceError(epoch, self.config.eta0, "eta0", LINEAR_DIVERGENCE)

    def end_epoch(self, epoch):
        n_train = self.n_train
        self.log.loss_curve.append(float(self.loss_sum.sum() / n_train) if n_train
                                   else 0.0)  # fmt: skip
        self.log.n_iter = epoch

    def _smallest_scale(self, wscale, active, batch):
        config = self.config
        n_models = config.n_models
        smallest = math.inf
        for model in range(n_models):  # the heads of each grid model
            heads = (... if n_models == 1
                     else np.arange(model, active.shape[0], n_models))  # fmt: skip
            alpha = float(self.head_alpha[model])
            penalty_alpha = 0.0 if config.penalty == codes.NO_PENALTY else alpha
            smallest = min(smallest, cpu.smallest_scale(
                wscale[heads], self.state.eta[heads], active[heads], config.schedule,
                alpha, penalty_alpha, float(self.head_l1_ratio[model]),
                config.power_t, float(self.head_t0[model]), float(self.t_kernel),
                self.n_train, batch,
            ))  # fmt: skip
        return smallest

    def current_coef(self):
        """The weights as they stand (``coef`` unless the call scales them)."""
        return self.state.coef

    def scoring_coef(self):
        """The weights the early-stopping score reads."""
        return self.current_coef()

    def objective(self):
        """The epoch's objective per track (``TrackStopping``): mean loss plus
        the penalty (and the intercept's linear term,
        ``LinearConfig.intercept_alpha``) at the epoch's end."""
        head_track, n_tracks = self.head_track, self.n_tracks
        return np.bincount(head_track, self.loss_sum, n_tracks) / np.maximum(
            self.track_n_train, 1
        ) + _penalty_per_track(self.current_coef(), self.state.intercept, self.config,
                               self.head_alpha, self.head_l1_ratio, head_track,
                               n_tracks)  # fmt: skip

    def rates(self):
        """The learning rate of each head's next step (verbose)."""
        config = self.config
        return np.array([
            learning_rate(config.schedule, float(eta), float(alpha), config.power_t,
                          float(t0), float(self.t_kernel), self.step_batch)
            for eta, alpha, t0 in zip(self.state.eta, self.head_alpha, self.head_t0,
                                      strict=True)
        ])  # fmt: skip

    def copied_model(self):
        """``(state, log)``: copies, as ``train`` would leave them after this
        epoch (every fold applied)."""
        state = copy.deepcopy(self.state)
        state.t = self.t_start + self.log.n_iter * self.n_samples
        self._fold(state, copy.deepcopy(self._scaled()))
        state.materialize()
        return state, copy.deepcopy(self.log)

    def _scaled(self):
        """The call's ``(wscale, avg_a, avg_b)``, or None (nothing scaled)."""
        return None

    def _fold(self, state, scaled):
        """Fold the call's scale into ``state``: recorded if the call is lazy,
        applied to every weight otherwise."""
        if scaled is None:
            return
        wscale, avg_a, avg_b = scaled
        if self.lazy:
            state.record_fold(wscale, avg_a, avg_b, self.config.average > 0)
        else:
            self._fold_all(state, wscale, avg_a, avg_b)

    def announce(self, reporter):
        """Say, before the first epoch, that this fit's kernel has to be
        compiled (only when Numba's cache does not hold it yet)."""
        if self.device != "cpu" or not reporter.wants_compile_notice():
            return
        n_heads = self.state.coef.shape[0]
        plan = self.plan(np.ones(n_heads, dtype=np.uint8))
        if plan.compiled():
            return
        names = {value: name for name, value in codes.LOSS_CODES.items()}
        penalties = {value: str(name) for name, value in codes.PENALTY_CODES.items()}
        schedules = {value: name for name, value in codes.SCHEDULE_CODES.items()}
        n_heads = self.state.coef.shape[0]
        task = {codes.MULTINOMIAL: "multinomial", codes.REGRESSION: "regression"}.get(
            self.problem.task, "one-vs-rest" if n_heads > 1 else "binary"
        )
        config = self.config
        reporter.compiling(
            self.algorithm,
            f"{task} {names[config.loss]}/{penalties[config.penalty]}/"
            f"{schedules[config.schedule]}, "
            f"{'CSR' if self.problem.is_sparse else 'dense'} "
            f"{np.dtype(self.state.coef.dtype).name}",
            plan.parallel,
        )


class _PerSampleRunner(_Runner):
    """scikit-learn's per-sample algorithm (``cpu_per_sample``)."""

    algorithm = "per-sample"
    step_batch = 1

    def __init__(self, problem, state, config, n_samples, shuffle_seeds,
                 need_objective, one_epoch):  # fmt: skip
        super().__init__(problem, state, config, n_samples)
        state.to_layout(feature_major=False)
        n_heads = state.coef.shape[0]
        self.orders = _PerSampleOrders(problem.train_index, n_samples, shuffle_seeds)
        dtype = state.coef.dtype
        self.wscale_floor = 1e-6 if dtype == np.float32 else 1e-9
        if problem.is_sparse:
            self.columns = _stored_columns(problem)
        self.folds = _no_folds(state)
        self.splits = cpu_per_sample.NO_SPLITS
        # a parallel kernel trains groups of heads on up to one thread a head
        parallel = cpu_per_sample.is_parallel(n_heads)
        self.n_threads = jobs_for(config, n_heads) if parallel else 1
        self.n_groups = _head_groups(
            n_heads, len(self.orders.seeds) if self.orders.per_head else 1,
            self.n_threads,
        )  # fmt: skip
        if problem.splits is not None:
            excluded, head_split = problem.splits
            # a row of counters per group, padded (``CACHE_LINE_SPACING``)
            n_splits = excluded.shape[0]
            split_t = np.full(
                (self.n_groups, n_splits + cpu_per_sample.CACHE_LINE_SPACING),
                float(state.t),
            )
            self.splits = Splits(excluded, head_split, split_t)
            self.log.split_t = split_t[0, :n_splits]  # the kernel updates it in place
        self._start_lazy(one_epoch, self.wscale_floor, 1)
        l1_q = None
        if self.lazy and config.penalty in (codes.L1, codes.ELASTICNET):
            # scikit-learn restarts the truncation's sums with every call: the
            # kernel zeroes them where this call reads them, in an array the
            # calls share
            l1_q = state.pending.l1_q
        self.vector = _WeightVector(state.coef, config, need_objective, l1_q)
        # PA-I skips all-zero rows, and scikit-learn's t_ does not count them
        self.pa1 = config.schedule == codes.PA1
        self.rule = PerSampleRule(
            config.loss, config.epsilon, config.penalty, self.head_alpha,
            self.head_l1_ratio, config.schedule, state.eta, config.power_t,
            self.head_t0,
            config.fit_intercept, config.intercept_decay, config.intercept_alpha,
            config.average, self.wscale_floor, config.track_objective,
            # a grid's loss sums feed no loss curve: kept for verbose output only
            problem.splits is None or config.verbose > 0,
        )  # fmt: skip

    def _bring_current(self):
        # the kernel applies the folds, each head's in the thread that trains
        # it right after (its columns are then in that core's cache), and
        # saves the columns for the roll-back in the same pass
        state = self.state
        pending = state.pending_folds()
        columns = self.columns
        n_heads, n_features = state.coef.shape
        zero_l1 = self.config.penalty in (codes.L1, codes.ELASTICNET)
        if zero_l1 and pending.l1_q.shape[1] != n_features:
            pending.l1_q = np.zeros(state.coef.shape, dtype=state.coef.dtype)
        saved_coef = np.empty((n_heads, columns.shape[0]), dtype=state.coef.dtype)
        saved_avg = np.empty((n_heads, columns.shape[0] if state.avg_coef.shape[1]
                              else 0), dtype=state.coef.dtype)  # fmt: skip
        self.folds = ColumnFolds(
            columns, pending.stamp[columns], pending.wscale, pending.avg_a,
            pending.avg_b, pending.averaging, pending.n_events, saved_coef,
            saved_avg, zero_l1,
        )  # fmt: skip
        self.saved = {"coef": saved_coef, "avg_coef": saved_avg}

    def _args(self, part, active, loss_sum, objective_sum):
        vector, state = self.vector, self.state
        heads = PerSampleHeads(
            state.coef, vector.wscale, state.intercept, state.avg_coef,
            state.avg_intercept, vector.avg_a, vector.avg_b, vector.l1_q, vector.l1_u,
            vector.sq_norm, vector.l1_norm, loss_sum, objective_sum,
        )  # fmt: skip
        return (self.data, self.targets, part, active, heads, self.rule,
                self.t_kernel, self.n_groups, self.folds, self.splits)  # fmt: skip

    def plan(self, active):
        """The kernel's ``_jit.Plan`` for an epoch."""
        zeros = np.zeros(active.shape[0])
        return cpu_per_sample.plan(
            *self._args(self.orders.current, active, zeros, zeros),
            cpu_per_sample.one_epoch(active.shape[0]),
        )

    def shuffle(self):
        self.orders.next_epoch()

    def spans(self, reporter):
        if self.orders.per_head and self.pa1:
            # PA-I's t counts the nonzero rows seen, which a span of per-head
            # orders does not share: one span
            return [(0, self.n_train)]
        return reporter.spans()

    def run(self, start, stop):
        part = np.ascontiguousarray(self.orders.current[:, start:stop])
        try:
            # the counter after the span (PA-I does not count all-zero rows)
            self.t_kernel = cpu_per_sample.sgd_epoch_per_sample(
                *self._args(part, self.active, self.loss_sum, self.objective_sum)
            )
        finally:
            self._folds_applied()

    def _folds_applied(self):
        folds = self.folds
        if folds.fold_columns.shape[0]:  # applied: the columns are current
            self.state.pending.stamp[folds.fold_columns] = folds.fold_n_events
            self.folds = _no_folds(self.state)

    @property
    def runs_at_once(self):
        # dense data: the kernel's divergence check sweeps the weights, and an
        # epoch is short enough for the Python between epochs to show
        # (without validation rows, which the kernel's full orders would visit)
        orders = self.orders
        return (not self.config.early_stopping and not self.problem.is_sparse
                and (orders.seeds is None or orders.is_train is None))  # fmt: skip

    def run_at_once(self, max_iter, stopping):
        """The whole fit in one kernel call (``sgd_epochs_per_sample``): the
        same epochs, shuffles and stopping rule (``stopping``, a
        ``TrackStopping``) as ``fit_epochs``.

        Fills the log; returns False, with the state as it was, when an epoch
        diverges (``fit_epochs`` then finds which, epoch by epoch).
        """
        state, vector, orders = self.state, self.vector, self.orders
        config = self.config
        head_track, n_tracks = stopping.head_track, stopping.n_tracks
        need_objective, log = stopping.need_objective, self.log
        n_heads = state.coef.shape[0]
        shuffled = orders.seeds is not None
        order = orders.full if shuffled else orders.current
        saved = (state.snapshot(), vector.snapshot(), order.copy(), self.t_kernel)
        seeds = np.asarray(orders.seeds or [], dtype=np.int64)
        epochs = PerSampleEpochs(
            max_iter, seeds, True, config.tol if need_objective else -math.inf,
            config.n_iter_no_change, config.schedule == codes.ADAPTIVE,
            head_track.astype(np.int64), np.full(n_tracks, np.inf),
            np.zeros(n_tracks, dtype=np.int64), np.ones(n_tracks, dtype=np.uint8),
            np.broadcast_to(self.track_n_train, n_tracks).astype(np.float64),
            np.zeros((max_iter, n_heads)),
        )  # fmt: skip
        active = np.ones(n_heads, dtype=np.uint8)
        loss_sum, objective_sum = np.zeros(n_heads), np.zeros(n_heads)
        try:
            n_run, diverged, t = cpu_per_sample.sgd_epochs_per_sample(
                *self._args(order, active, loss_sum, objective_sum), epochs
            )
        finally:
            self._folds_applied()
        if diverged:
            state.restore(saved[0])
            vector.restore(saved[1])
            order[...] = saved[2]
            self.t_kernel = saved[3]
            return False
        self.t_kernel = t
        orders.current = order  # as the loop's shuffles leave it
        n_train = self.n_train
        log.loss_curve.extend(  # as the loop sums them
            float(sums.sum() / n_train) if n_train else 0.0
            for sums in epochs.loss_curve[:n_run]
        )
        log.n_iter = n_run
        return True

    def snapshot(self):
        return super().snapshot(), self.vector.snapshot(self.epoch_columns)

    def restore(self, snap):
        self.state.restore(snap[0])
        self.vector.restore(snap[1])

    def may_scale_all(self, active):
        return (self.columns is None or self.problem.splits is not None
                or self._smallest_scale(self.vector.wscale, active, 1)
                < self.wscale_floor)  # fmt: skip

    def finite(self):
        # on CSR data the kernel marks a head's loss NaN when it writes a
        # non-finite weight (``_per_sample_head_step``): no sweep over them
        state = self.state
        if not self.problem.is_sparse:
            return super().finite() and finite(state.avg_coef, self.vector.wscale)
        return finite(self.loss_sum, state.intercept, state.avg_intercept,
                      self.vector.wscale)  # fmt: skip

    def current_coef(self):
        return self.vector.true_coef(self.state.coef)

    def scoring_coef(self):
        return self.state.coef

    def objective(self):
        if not self.rule.track_objective:
            return super().objective()
        # the kernel sums scikit-learn's running objective
        return np.bincount(self.head_track, self.objective_sum,
                           self.n_tracks) / self.track_n_train  # fmt: skip

    def _scaled(self):
        return self.vector.wscale, self.vector.avg_a, self.vector.avg_b

    def _fold_all(self, state, wscale, avg_a, avg_b):
        cpu_per_sample.fold_scale(state.coef, wscale, state.avg_coef, avg_a, avg_b,
                                  self.config.average > 0)  # fmt: skip


class _MinibatchRunner(_Runner):
    """Mini-batches stepping every weight (``cpu.sgd_epoch_minibatch``, or its
    GPU twin): dense data, and CSR data with momentum."""

    algorithm = "mini-batch"

    def __init__(self, problem, state, config, n_samples, rng, device):
        super().__init__(problem, state, config, n_samples)
        self.rng, self.device = rng, device
        state.materialize()
        state.to_layout(feature_major=False)
        n_heads, n_features = state.coef.shape
        self.kernels = cpu
        if device == "cuda":
            from fastsgd._kernels import cuda as kernels
            from fastsgd._kernels import cuda_launch

            self.kernels = kernels
            with device_errors("copying the training data to the GPU"):
                self.data = cuda_launch.to_device_args(self.data)
                self.targets = cuda_launch.to_device_args(self.targets)
        self.order = problem.train_index.copy()
        self.step_batch = min(config.batch_size, max(self.n_train, 1))
        self.scratch = self.kernels.minibatch_scratch(
            self.step_batch, n_heads, n_features, state.coef.dtype, problem.is_sparse
        )
        self.rule = _minibatch_rule(config, state, self.l1_ratio)
        parallel = self.plan(np.ones(n_heads, dtype=np.uint8)).parallel
        self.n_threads = resolve_n_jobs(config.n_jobs) if parallel else 1
        self.uses_blas = not problem.is_sparse

    def _args(self, part, active, loss_sum):
        state = self.state
        counters = StepCounters(state.n_steps, int(self.t_kernel - 1),
                                state.n_averaged)  # fmt: skip
        return (self.data, self.targets, part, active, self.step_batch,
                state.kernel_params(), self.rule, counters, self.scratch,
                loss_sum)  # fmt: skip

    def plan(self, active):
        """The CPU kernel's ``_jit.Plan`` for an epoch (its thread use also
        sets the GPU runner's, which runs no CPU kernel)."""
        return cpu.plan(*self._args(self.order, active, np.zeros(active.shape[0])))

    def shuffle(self):
        if self.config.shuffle:
            cpu.shuffle(self.order, self.rng.randint(_MAX_SEED))

    def run(self, start, stop):
        steps, n_averaged = self.kernels.sgd_epoch_minibatch(
            *self._args(self.order[start:stop], self.active, self.loss_sum)
        )
        self.state.n_steps += steps
        self.state.n_averaged = n_averaged
        self.t_kernel += stop - start


class _SparseRunner(_MinibatchRunner):
    """Mini-batches on CSR data in O(nnz) per step (``cpu_sparse``): the
    weights feature-major and scaled (``w = wscale * v``) for the call."""

    def __init__(self, problem, state, config, n_samples, rng, one_epoch):
        _Runner.__init__(self, problem, state, config, n_samples)
        self.rng = rng
        state.to_layout(feature_major=True)
        n_heads, n_features = state.coef.shape
        dtype = state.coef.dtype
        self.order = problem.train_index.copy()
        self.step_batch = min(config.batch_size, max(self.n_train, 1))
        self.scratch = cpu_sparse.sparse_scratch(
            self.step_batch, n_heads, n_features, dtype, config.penalty,
            config.momentum,
        )  # fmt: skip
        self.rule = _minibatch_rule(config, state, self.l1_ratio)
        self.scaled = ScaledWeights(
            np.ones(n_heads, dtype=dtype), np.zeros(n_heads), np.ones(n_heads),
            1e-6 if dtype == np.float32 else 1e-9,
        )  # fmt: skip
        self.n_threads = 1  # the plan's part count: its own when it is parallel
        parallel = self.plan(np.ones(n_heads, dtype=np.uint8)).parallel
        self.n_threads = resolve_n_jobs(config.n_jobs) if parallel else 1
        if config.momentum == 0.0:
            # with momentum every weight moves at every step
            self.columns = _stored_columns(problem)
        self._start_lazy(one_epoch, self.scaled.wscale_floor, self.step_batch)

    def _args(self, part, active, loss_sum):
        state = self.state
        counters = StepCounters(state.n_steps, int(self.t_kernel - 1),
                                state.n_averaged)  # fmt: skip
        return (self.data, self.targets, part, active, self.step_batch,
                state.kernel_params(feature_major=True), self.scaled, self.rule,
                counters, self.scratch, loss_sum, self.n_threads)  # fmt: skip

    def plan(self, active):
        return cpu_sparse.plan(*self._args(self.order, active,
                                           np.zeros(active.shape[0])))  # fmt: skip

    def run(self, start, stop):
        steps, n_averaged = cpu_sparse.sgd_epoch_sparse(
            *self._args(self.order[start:stop], self.active, self.loss_sum)
        )
        self.state.n_steps += steps
        self.state.n_averaged = n_averaged
        self.t_kernel += stop - start

    def snapshot(self):
        return super().snapshot(), [a.copy() for a in self.scaled[:3]]

    def restore(self, snap):
        self.state.restore(snap[0])
        for array, saved in zip(self.scaled[:3], snap[1], strict=True):
            array[...] = saved

    def may_scale_all(self, active):
        return (self.columns is None
                or self._smallest_scale(self.scaled.wscale, active, self.step_batch)
                < self.scaled.wscale_floor)  # fmt: skip

    def finite(self):
        return super().finite() and finite(self.scaled.wscale)

    def current_coef(self):
        return self.state.coef * self.scaled.wscale[:, None]

    def _scaled(self):
        return None if self.config.momentum != 0.0 else self.scaled[:3]

    def _fold_all(self, state, wscale, avg_a, avg_b):
        params = state.kernel_params(feature_major=True)
        cpu_sparse.fold_scaled(params.coef, params.avg_coef, wscale, avg_a, avg_b,
                               self.config.average > 0)  # fmt: skip


def _head_groups(n_heads, n_orders, n_threads):
    """How many groups the per-sample kernel splits ``n_heads`` heads into.

    Heads of different orders (one-vs-rest: a seed per class) cannot share a
    group; a grid's heads of one order can. One group per thread for one
    order; otherwise the orders' blocks are cut into as few equal parts as
    make the groups a multiple of the threads (5 classes of a grid on 2
    threads: 10 groups, not 5 groups of which one thread runs 3), where each
    part keeps at least one head.
    """
    if n_orders == 1:
        return n_threads
    parts = n_threads // math.gcd(n_orders, n_threads)
    return n_orders * max(1, min(parts, n_heads // n_orders))


def jobs_for(config, n_heads):
    """The threads a fit of ``n_heads`` heads may use: ``n_jobs``, at most one
    a head."""
    return max(1, min(resolve_n_jobs(config.n_jobs), n_heads))


def _minibatch_rule(config, state, l1_ratio):
    return MinibatchRule(
        config.loss, config.epsilon, config.penalty, config.alpha, l1_ratio,
        config.schedule, state.eta, config.power_t, config.optimal_t0,
        config.momentum, config.dampening, config.nesterov, config.fit_intercept,
        config.intercept_decay, config.intercept_alpha, config.average,
    )  # fmt: skip


def _verbose_lines(runner, head_track, active_track, objective, score, elapsed):
    """scikit-learn's ``verbose`` lines after an epoch (``_plain_sgd``'s).

    One ``Norm: ...`` line per training track still running (an OvR head, as
    scikit-learn trains each in its own ``_plain_sgd``; or the whole model),
    with fastsgd's learning rate of the next step after scikit-learn's fields;
    then the time. ``T`` is the samples seen in this call, and ``Avg. loss``
    the loss sum over the training rows: a grid's head (``problem.splits``)
    counts its split's rows, as a fit on them does. ``Objective`` is
    ``runner.objective()``: scikit-learn's running sum where the kernel sums
    it (per-sample, ``tol`` set, no early stopping), otherwise the mean loss
    plus the penalty at the epoch's end.
    """
    coef, intercept = runner.current_coef(), runner.state.intercept
    head_loss = runner.loss_sum / np.maximum(runner.track_n_train, 1)
    rates = runner.rates()
    if runner.problem.splits is None:
        counts = np.full(coef.shape[0], runner.t_kernel - runner.t_start)
    else:  # a head counts its split's samples
        counts = runner.log.split_t[runner.problem.splits[1]] - runner.t_start
    lines = []
    for track in np.flatnonzero(active_track):
        heads = head_track == track
        count = int(counts[heads][0])
        bias = intercept[heads]
        bias = (
            f"{bias[0]:.6f}"
            if bias.size == 1
            else "[" + " ".join(f"{b:.6f}" for b in bias) + "]"
        )
        line = (
            f"Norm: {np.sqrt(np.sum(coef[heads].astype(np.float64) ** 2)):.2f}, "
            f"NNZs: {np.count_nonzero(coef[heads])}, Bias: {bias}, T: {count}, "
            f"Avg. loss: {head_loss[heads].sum():f}, Objective: {objective[track]:f}"
        )
        if score is not None:
            line += f", Validation score: {score[track]:f}"
        lines.append(f"{line}, Learning rate: {rates[heads].max():.6g}")
    lines.append(f"Total training time: {elapsed:.2f} seconds.")
    return lines


PER_SAMPLE_ON_GPU = (
    "device='cuda' trains mini-batches: scikit-learn's per-sample algorithm "
    "(batch_size=1 with momentum=0) updates the weights after every sample, one "
    "after the other, which a GPU would only slow down. Set batch_size > 1 (or "
    "momentum > 0) for the GPU, or use device='cpu' (device='auto' picks the CPU "
    "for it)."
)


def _no_folds(state):
    """A ``ColumnFolds`` with nothing to apply."""
    n_heads = state.coef.shape[0]
    none = np.zeros(0, dtype=np.int64)
    empty = np.zeros((0, n_heads))
    saved = np.zeros((n_heads, 0), dtype=state.coef.dtype)
    return ColumnFolds(none, none, empty.astype(state.coef.dtype), empty, empty,
                       np.zeros(0, dtype=np.bool_), 0, saved, saved, False)  # fmt: skip


def _stored_columns(problem):
    """The columns the training rows of a CSR ``problem`` store values in."""
    return cpu.stored_columns(problem.X_indices, problem.X_indptr,
                              problem.train_index, problem.n_features)  # fmt: skip


class _WeightVector(RollBack):
    """scikit-learn's per-call state of ``_plain_sgd``: scale, lazy average, L1.

    ``w = wscale * v`` and the lazy average (``avg_a``, ``avg_b``) live for
    one ``fit``/``partial_fit`` call and are folded into the weights at its
    end, as scikit-learn does: the L1 truncation does not commute with an
    earlier fold.
    """

    _ARRAYS = ("wscale", "avg_a", "avg_b", "l1_q", "l1_u", "sq_norm", "l1_norm")
    _COLUMNS = ("l1_q",)

    def __init__(self, coef, config, norms, l1_q=None):
        n_heads, n_features = coef.shape
        self.wscale = np.ones(n_heads, dtype=coef.dtype)
        self.avg_a = np.zeros(n_heads)
        self.avg_b = np.ones(n_heads)
        l1_cols = n_features if config.penalty in (codes.L1, codes.ELASTICNET) else 0
        if l1_q is None:  # zeros where the call reads, at least
            l1_q = np.zeros((n_heads, l1_cols), dtype=coef.dtype)
        self.l1_q = l1_q
        self.l1_u = np.zeros(n_heads)
        # ||w||^2 and ||w||_1, as scikit-learn's WeightVector computes them when
        # a call starts (then kept up to date by the kernel), for the objective;
        # not summed over the model where nothing reads the objective
        # (``norms`` False: a partial_fit call without verbose)
        if norms:
            self.sq_norm = np.einsum("kj,kj->k", coef, coef, dtype=np.float64)
            self.l1_norm = np.abs(coef).sum(axis=1, dtype=np.float64)
        else:
            self.sq_norm = np.zeros(n_heads)
            self.l1_norm = np.zeros(n_heads)
        self.averaging = config.average > 0

    def true_coef(self, coef):
        """``w = wscale * v`` (a new array)."""
        return coef * self.wscale[:, None]


def _penalty_per_track(coef, intercept, config, head_alpha, head_l1_ratio,
                       head_track, n_tracks):  # fmt: skip
    sq = np.einsum("kj,kj->k", coef, coef, dtype=np.float64)
    l1 = np.abs(coef).sum(axis=1, dtype=np.float64)
    per_head = np.array(
        [
            penalty_value(config.penalty, float(alpha), float(l1_ratio), s, a)
            for s, a, alpha, l1_ratio in zip(
                sq, l1, head_alpha, head_l1_ratio, strict=True
            )
        ]  # fmt: skip
    )
    if config.intercept_alpha:
        per_head += config.intercept_alpha * intercept
    return np.bincount(head_track, per_head, n_tracks)
