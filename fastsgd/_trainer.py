"""The epoch loop shared by ``fit``, ``partial_fit`` and ``warm_start``.

The trainer owns what happens between kernel calls: the learning-rate state,
the stopping rules (scikit-learn's ``tol`` / ``n_iter_no_change``, on the
training objective or on a validation score), divergence detection with a
roll-back to the last finite epoch, and verbose output. It sees arrays and
scalars only; the estimators translate labels, strings and weights into them.

One kernel call trains one epoch (with ``verbose=2``, several calls over
consecutive runs of whole batches, so that the progress bar moves; the calls
carry the step and sample counters, so the model does not change).
"""

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from fastsgd._device import device_errors, is_device_array
from fastsgd._epoch import (
    DivergenceError,
    RollBack,
    Threads,
    adaptive_decay,
    finite,
    resolve_n_jobs,
    run_spans,
    weighted_mean,
)
from fastsgd._kernels import cpu, cpu_per_sample
from fastsgd._kernels._jit import is_cached
from fastsgd._kernels.bundles import (
    Data,
    LinearParams,
    LinearTargets,
    MinibatchRule,
    PerSampleHeads,
    PerSampleRule,
    StepCounters,
)
from fastsgd._math import codes
from fastsgd._math.schedules import learning_rate
from fastsgd._math.updates import penalty_value
from fastsgd._progress import Reporter

# --------------------------------------------------------------------------
# The estimators' data, as the kernels take it (estimators do not import kernels)
# --------------------------------------------------------------------------


def as_kernel_data(X):
    """The kernels' ``bundles.Data`` of ``X``: ``(X_data, X_indices, X_indptr,
    n_features, is_sparse)``.

    A dense ``X`` becomes its flat view (no copy); a CSR matrix or array its
    three arrays, with int32 indices. The values are a read-only view.
    """
    n_features = X.shape[1]
    if is_device_array(X):
        return Data(X.reshape(X.size), cpu.empty_index(), cpu.empty_index(),
                    n_features, False)  # fmt: skip
    if sp.issparse(X):
        return Data(
            _read_only(X.data),
            X.indices.astype(np.int32, copy=False),
            X.indptr.astype(np.int32, copy=False),
            n_features,
            True,
        )
    return Data(_read_only(X.reshape(-1)), cpu.empty_index(), cpu.empty_index(),
                n_features, False)  # fmt: skip


def _read_only(values):
    """A read-only view: Numba types read-only arrays apart, so the kernels
    always get one (a memory-mapped or shared ``X`` then needs no new compile)."""
    view = values.view()
    view.flags.writeable = False
    return view


def take_rows(X, rows):
    """``X[rows]`` of a GPU ``X`` as a host array (the early-stopping set)."""
    from fastsgd._kernels import cuda_launch

    return cuda_launch.take_rows(X, rows)


def gpu_scores(X, coef, intercept):
    """``X @ coef.T + intercept`` on the GPU for a GPU ``X``, as ``X.dtype``."""
    from fastsgd._kernels import cuda

    return cuda.linear_scores(X, coef, intercept).astype(X.dtype)


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
    optimal_t0: float
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

    @property
    def per_sample(self):
        """Whether this is scikit-learn's per-sample algorithm."""
        return self.batch_size == 1 and self.momentum == 0.0


@dataclass
class LinearState(RollBack):
    """Parameters and optimizer state that ``partial_fit`` resumes."""

    coef: np.ndarray
    intercept: np.ndarray
    avg_coef: np.ndarray
    avg_intercept: np.ndarray
    coef_buf: np.ndarray
    intercept_buf: np.ndarray
    eta: np.ndarray
    t: float = 1.0
    n_steps: int = 0
    n_averaged: int = 0

    _AVERAGED = ("coef", "intercept", "avg_coef", "avg_intercept", "coef_buf",
                 "intercept_buf")  # fmt: skip

    @classmethod
    def average(cls, states, fractions, seen):
        """Parameter mixing: the states of models trained on disjoint data,
        averaged (a new state).

        Weights, intercepts, averages and momentum buffers: their mean
        weighted by ``fractions`` (float64, cast back). ``seen[i]`` samples went
        through ``states[i]`` since the states were last mixed: ``t`` counts
        all of them; the step counts are the largest of the states' (each state
        has been through that many updates); per-head rates the smallest.
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
    def create(cls, coef, intercept, config):
        n_heads, n_features = coef.shape
        dtype = coef.dtype
        avg_cols = n_features if config.average > 0 else 0
        buf_cols = n_features if config.momentum != 0.0 else 0
        return cls(
            coef=coef,
            intercept=np.asarray(intercept, dtype=np.float64).copy(),
            avg_coef=np.zeros((n_heads, avg_cols), dtype=dtype),
            avg_intercept=np.zeros(n_heads, dtype=np.float64),
            coef_buf=np.zeros((n_heads, buf_cols), dtype=dtype),
            intercept_buf=np.zeros(n_heads, dtype=np.float64),
            eta=np.full(n_heads, config.eta0, dtype=np.float64),
        )

    def ensure_shapes(self, config):
        """Grow the averaging / momentum buffers if the settings now need them."""
        n_heads, n_features = self.coef.shape
        if config.average > 0 and self.avg_coef.shape[1] != n_features:
            self.avg_coef = np.zeros_like(self.coef)
        if config.momentum != 0.0 and self.coef_buf.shape[1] != n_features:
            self.coef_buf = np.zeros_like(self.coef)

    _ARRAYS = ("coef", "intercept", "avg_coef", "avg_intercept", "coef_buf",
               "intercept_buf", "eta")  # fmt: skip
    _SCALARS = ("t", "n_steps", "n_averaged")

    def cast(self, dtype):
        """Continue in another dtype (``partial_fit`` given float32 after float64)."""
        for name in ("coef", "avg_coef", "coef_buf"):
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


def _kernel_threads(problem, config, n_heads, step_batch, per_sample):
    """Threads worth starting for each parallel region of an epoch.

    Per-sample training splits the heads; a mini-batch is split only when the
    kernels run its parallel variant (``cpu.minibatch_parallel``: its work
    reaches ``cpu.PARALLEL_WORK`` multiply-adds). Results do not depend on
    this choice.
    """
    n_threads = resolve_n_jobs(config.n_jobs)
    if per_sample:
        return max(1, min(n_threads, n_heads))
    lazy = cpu.minibatch_lazy(
        cpu.minibatch_settings(
            config.loss,
            config.penalty,
            config.schedule,
            problem.task,
            problem.is_sparse,
            config.average,
            config.momentum,
        )  # fmt: skip
    )
    parallel = cpu.minibatch_parallel(
        step_batch, n_heads, problem.n_features, problem.is_sparse, lazy
    )
    return n_threads if parallel else 1


def _n_tracks(problem, n_heads):
    """Heads stop independently under OvR (as scikit-learn's binary fits)."""
    return n_heads if problem.task == codes.ONE_VS_REST else 1


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


def _track_of_heads(problem, n_heads):
    if problem.task == codes.ONE_VS_REST:
        return np.arange(n_heads)
    return np.zeros(n_heads, dtype=np.intp)


def train(problem, state, config, max_iter, rng, n_samples, validation_score=None,
          device="cpu", shuffle_seeds=None, epochs=None):  # fmt: skip
    """Train ``state`` on ``problem`` for up to ``max_iter`` epochs.

    Parameters
    ----------
    problem : LinearProblem
    state : LinearState
        Updated in place.
    config : LinearConfig
    max_iter : int
    rng : numpy.random.RandomState or None
        Mini-batch training: draws one shuffling seed per epoch (one order for
        all heads).
    n_samples : int
        Samples passed to ``fit`` (validation included): ``state.t`` grows by
        ``n_iter * n_samples``, scikit-learn's ``t_`` rule.
    validation_score : callable, optional
        ``validation_score(coef, intercept) -> ndarray`` of one score per track
        (per head under OvR), used when ``config.early_stopping``.
    device : {"cpu", "cuda"}
        Where the epochs run. On ``"cuda"`` (mini-batch training only) the
        data is copied to the GPU once, here, and stays there; the
        parameters are copied in and out around each epoch's kernel.
    shuffle_seeds : ndarray of int or None
        Per-sample training with ``shuffle``: scikit-learn's seeds, one for
        all heads or one per head (``_PerSampleOrders``). None: the training
        rows in their order.
    epochs : fastsgd._callbacks.EpochTasks, optional
        The callbacks' epoch hooks (None without callbacks). Their snapshot
        is ``(state, log)``: copies of the state and log as this function
        would leave them had ``max_iter`` been the epoch. An ``end`` that
        returns True stops training after the epoch.

    Returns
    -------
    TrainLog

    Raises
    ------
    DivergenceError
        After restoring the state of the last finite epoch.
    """
    state.ensure_shapes(config)
    n_heads, n_features = state.coef.shape
    dtype = state.coef.dtype
    n_tracks = _n_tracks(problem, n_heads)
    head_track = _track_of_heads(problem, n_heads)
    n_train = problem.train_index.shape[0]
    order = problem.train_index.copy()
    # the training objective (loss plus penalty, whose norms the per-sample
    # kernel re-sums at every touch) only feeds the stopping rule on it
    track_objective = not config.early_stopping and config.tol is not None
    tol = -math.inf if config.tol is None else config.tol
    l1_ratio = {codes.L2: 0.0, codes.L1: 1.0}.get(config.penalty, config.l1_ratio)

    best_objective = np.full(n_tracks, np.inf)
    best_score = np.full(n_tracks, -np.inf)
    no_improvement = np.zeros(n_tracks, dtype=np.intp)
    active_track = np.ones(n_tracks, dtype=bool)
    log = TrainLog()

    per_sample = config.per_sample and problem.task != codes.MULTINOMIAL
    kernels, data, targets = cpu, problem.data(), problem.targets()
    if device == "cuda":
        if per_sample:
            raise ValueError(_PER_SAMPLE_ON_GPU)
        from fastsgd._kernels import cuda as kernels
        from fastsgd._kernels import cuda_launch

        with device_errors("copying the training data to the GPU"):
            data = cuda_launch.to_device_args(data)
            targets = cuda_launch.to_device_args(targets)
    if per_sample:
        orders = _PerSampleOrders(problem.train_index, n_samples, shuffle_seeds)
        # one head per group when each head has its own order
        n_groups = n_heads if orders.per_head else None
        call = _PerSampleCall(state.coef, config)
        wscale_floor = 1e-6 if dtype == np.float32 else 1e-9
        # PA-I skips all-zero rows, and scikit-learn's t_ does not count them
        row_sq = _row_sqnorms(problem) if config.schedule == codes.PA1 else None
        rule = PerSampleRule(
            config.loss, config.epsilon, config.penalty, config.alpha, l1_ratio,
            config.schedule, state.eta, config.power_t, config.optimal_t0,
            config.fit_intercept, config.intercept_decay, config.average,
            wscale_floor, track_objective,
        )  # fmt: skip
    else:
        scratch = kernels.minibatch_scratch(
            min(config.batch_size, max(n_train, 1)), n_heads, n_features, dtype,
            problem.is_sparse,
        )  # fmt: skip
        rule = MinibatchRule(
            config.loss, config.epsilon, config.penalty, config.alpha, l1_ratio,
            config.schedule, state.eta, config.power_t, config.optimal_t0,
            config.momentum, config.dampening, config.nesterov, config.fit_intercept,
            config.average,
        )  # fmt: skip
    step_batch = 1 if per_sample else min(config.batch_size, max(n_train, 1))

    def per_sample_args(part, t_kernel):
        heads = PerSampleHeads(
            state.coef, call.wscale, state.intercept, state.avg_coef,
            state.avg_intercept, call.avg_a, call.avg_b, call.l1_q, call.l1_u,
            call.sq_norm, call.l1_norm, loss_sum, objective_sum,
        )  # fmt: skip
        return (data, targets, part, active, heads, rule, t_kernel,
                n_groups or n_threads)  # fmt: skip

    def minibatch_args(part, t_kernel):
        params = LinearParams(state.coef, state.intercept, state.coef_buf,
                              state.intercept_buf, state.avg_coef,
                              state.avg_intercept)  # fmt: skip
        counters = StepCounters(state.n_steps, int(t_kernel - 1), state.n_averaged)
        return (data, targets, part, active, step_batch, params, rule, counters,
                scratch, loss_sum)  # fmt: skip

    t_start = state.t
    t_kernel = state.t  # scikit-learn's sample counter inside the fit

    def copied_model():
        folded = call if per_sample else None
        return _copied_model(state, folded, log, t_start, n_samples)

    n_threads = _kernel_threads(problem, config, n_heads, step_batch, per_sample)
    with (
        Reporter(config.verbose, max_iter, n_train, step_batch) as reporter,
        Threads(n_threads),
        _folded_at_exit(call if per_sample else None, state),
        device_errors("training"),
    ):
        for epoch in range(1, max_iter + 1):
            active = active_track[head_track].astype(np.uint8)
            loss_sum = np.zeros(n_heads, dtype=np.float64)
            objective_sum = np.zeros(n_heads, dtype=np.float64)
            if epoch == 1 and device == "cpu":
                _announce_compilation(
                    reporter, config, problem, n_heads, dtype, per_sample,
                    per_sample_args(orders.current, t_kernel) if per_sample
                    else minibatch_args(order, t_kernel),
                )  # fmt: skip
            reporter.message(f"-- Epoch {epoch}")  # with verbose, as scikit-learn
            if epochs is not None:
                epochs.begin(copied_model)
            snap = state.snapshot()
            call_snap = call.snapshot() if per_sample else None
            if per_sample:
                orders.next_epoch()
            elif config.shuffle:
                cpu.shuffle(order, rng.randint(_MAX_SEED))
            spans = reporter.spans()  # one span unless verbose=2
            if per_sample and orders.per_head and row_sq is not None:
                # PA-I's t counts the nonzero rows seen, which a span of
                # per-head orders does not share: one span
                spans = [(0, n_train)]

            def run(start, stop):
                nonlocal t_kernel
                if per_sample:
                    part = np.ascontiguousarray(orders.current[:, start:stop])
                    cpu_per_sample.sgd_epoch_per_sample(
                        *per_sample_args(part, t_kernel)
                    )
                    t_kernel += (
                        stop - start
                        if row_sq is None
                        else int(np.count_nonzero(row_sq[part[0]]))
                    )
                else:
                    part = order[start:stop]
                    steps, n_averaged = kernels.sgd_epoch_minibatch(
                        *minibatch_args(part, t_kernel)
                    )
                    state.n_steps += steps
                    state.n_averaged = n_averaged
                    t_kernel += stop - start

            run_spans(reporter, spans, run)
            if per_sample:
                objective = np.bincount(head_track, objective_sum, n_tracks) / n_train
            else:
                objective = (
                    np.bincount(head_track, loss_sum, n_tracks) / n_train
                    + _penalty_per_track(
                        state.coef, config, l1_ratio, head_track, n_tracks
                    )  # fmt: skip
                )

            if not finite(loss_sum, state.intercept, state.coef):
                state.restore(snap)
                if per_sample:
                    call.restore(call_snap)
                state.t = t_start + (epoch - 1) * n_samples
                raise DivergenceError(epoch, config.eta0, "eta0", LINEAR_DIVERGENCE)

            mean_loss = float(loss_sum.sum() / n_train) if n_train else 0.0
            log.loss_curve.append(mean_loss)
            log.n_iter = epoch
            if config.early_stopping:
                # per-sample: the unscaled v of w = s*v, which scikit-learn's
                # _plain_sgd hands its validation score (its stopping epoch)
                score = np.asarray(validation_score(state.coef, state.intercept))
                log.validation_scores.append(float(np.mean(score)))
                worse = (score < best_score + tol) if tol > -math.inf else False
                best_score = np.maximum(best_score, score)
            else:
                worse = (objective > best_objective - tol) if tol > -math.inf else False
                best_objective = np.minimum(best_objective, objective)
            no_improvement = np.where(worse & active_track, no_improvement + 1, 0)

            lines = ()
            if reporter.verbose:
                rates = np.array([
                    learning_rate(
                        config.schedule, float(eta), config.alpha, config.power_t,
                        config.optimal_t0, float(t_kernel), step_batch,
                    )
                    for eta in state.eta
                ])  # fmt: skip
                coef = call.true_coef(state.coef) if per_sample else state.coef
                if per_sample and not track_objective:  # the kernel did not sum it
                    objective = np.bincount(
                        head_track, loss_sum, n_tracks
                    ) / n_train + _penalty_per_track(
                        coef, config, l1_ratio, head_track, n_tracks
                    )  # fmt: skip
                lines = _verbose_lines(
                    coef, state.intercept, head_track, active_track,
                    loss_sum / max(n_train, 1),
                    objective, score if config.early_stopping else None, rates,
                    int(t_kernel - t_start), reporter.elapsed(),
                )  # fmt: skip
            reporter.epoch(
                epoch, mean_loss,
                log.validation_scores[-1] if config.early_stopping else None, lines,
            )  # fmt: skip

            stalled = active_track & (no_improvement >= config.n_iter_no_change)
            for track in np.flatnonzero(stalled):
                heads = head_track == track
                eta = None
                if config.schedule == codes.ADAPTIVE:
                    eta = adaptive_decay(state.eta[heads])
                if eta is not None:
                    state.eta[heads] = eta
                    no_improvement[track] = 0
                else:
                    active_track[track] = False
            stop_requested = epochs is not None and epochs.end(copied_model)
            if not active_track.any():
                reporter.message(
                    f"Convergence after {epoch} epochs took "
                    f"{reporter.elapsed():.2f} seconds"
                )
                break
            if stop_requested:
                break
    state.t = t_start + log.n_iter * n_samples
    return log


def _copied_model(state, call, log, t_start, n_samples):
    """``(state, log)`` copied, as ``train`` would leave them after this epoch.

    The per-sample scale and lazy average (``call``) are folded into the copy,
    as the end of a ``fit`` call folds them, and ``t`` is the sample counter
    after ``log.n_iter`` epochs.
    """
    state = copy.deepcopy(state)
    if call is not None:
        cpu_per_sample.fold_scale(
            state.coef, call.wscale.copy(), state.avg_coef, call.avg_a.copy(),
            call.avg_b.copy(), call.averaging,
        )  # fmt: skip
    state.t = t_start + log.n_iter * n_samples
    return state, copy.deepcopy(log)


def _verbose_lines(coef, intercept, head_track, active_track, head_loss, objective,
                   score, rates, count, elapsed):  # fmt: skip
    """scikit-learn's ``verbose`` lines after an epoch (``_plain_sgd``'s).

    One ``Norm: ...`` line per training track still running (an OvR head, as
    scikit-learn trains each in its own ``_plain_sgd``; or the whole model),
    with fastsgd's learning rate of the next step after scikit-learn's fields;
    then the time. ``count`` is the samples seen in this call (scikit-learn's
    ``T``). ``Objective`` is scikit-learn's running sum where the stopping
    rule has the kernel sum it (``tol`` set, no early stopping); otherwise the
    mean loss plus the penalty at the epoch's end (summing it would compile
    another kernel variant for ``verbose``).
    """
    lines = []
    for track in np.flatnonzero(active_track):
        heads = head_track == track
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


def _announce_compilation(reporter, config, problem, n_heads, dtype, per_sample,
                          args):  # fmt: skip
    """Say, before the first epoch, that this fit's kernel has to be compiled.

    Only when Numba's cache does not hold it yet (``verbose >= 1``, or a
    listener of ``_progress.announce_compilation``, as the command line's).
    """
    select = cpu_per_sample.per_sample_variant if per_sample else cpu.minibatch_variant
    if not reporter.wants_compile_notice() or is_cached(*select(*args)):
        return
    names = {value: name for name, value in codes.LOSS_CODES.items()}
    penalties = {value: str(name) for name, value in codes.PENALTY_CODES.items()}
    schedules = {value: name for name, value in codes.SCHEDULE_CODES.items()}
    algorithm = "per-sample" if per_sample else "mini-batch"
    task = {codes.MULTINOMIAL: "multinomial", codes.REGRESSION: "regression"}.get(
        problem.task, "one-vs-rest" if n_heads > 1 else "binary"
    )
    reporter.compiling(
        f"{algorithm} {task} training kernel (loss={names[config.loss]}, "
        f"penalty={penalties[config.penalty]}, "
        f"learning_rate={schedules[config.schedule]}, "
        f"{'CSR' if problem.is_sparse else 'dense'} {np.dtype(dtype).name})"
    )


_PER_SAMPLE_ON_GPU = (
    "device='cuda' trains mini-batches: scikit-learn's per-sample algorithm "
    "(batch_size=1 with momentum=0) updates the weights after every sample, one "
    "after the other, which a GPU would only slow down. Set batch_size > 1 (or "
    "momentum > 0) for the GPU, or use device='cpu' (device='auto' picks the CPU "
    "for it)."
)


class _PerSampleCall(RollBack):
    """scikit-learn's per-call state of ``_plain_sgd``: scale, lazy average, L1.

    ``w = wscale * v`` and the lazy average (``avg_a``, ``avg_b``) live for
    one ``fit``/``partial_fit`` call and are folded into the weights at its
    end, as scikit-learn does: the L1 truncation does not commute with an
    earlier fold.
    """

    _ARRAYS = ("wscale", "avg_a", "avg_b", "l1_q", "l1_u", "sq_norm", "l1_norm")

    def __init__(self, coef, config):
        n_heads, n_features = coef.shape
        self.wscale = np.ones(n_heads, dtype=coef.dtype)
        self.avg_a = np.zeros(n_heads)
        self.avg_b = np.ones(n_heads)
        l1_cols = n_features if config.penalty in (codes.L1, codes.ELASTICNET) else 0
        self.l1_q = np.zeros((n_heads, l1_cols), dtype=coef.dtype)
        self.l1_u = np.zeros(n_heads)
        self.sq_norm = np.einsum("kj,kj->k", coef, coef, dtype=np.float64)
        self.l1_norm = np.abs(coef).sum(axis=1, dtype=np.float64)
        self.averaging = config.average > 0

    def true_coef(self, coef):
        """``w = wscale * v`` (a new array)."""
        return coef * self.wscale[:, None]

    def fold(self, state):
        cpu_per_sample.fold_scale(
            state.coef, self.wscale, state.avg_coef, self.avg_a, self.avg_b,
            self.averaging,
        )  # fmt: skip


class _folded_at_exit:
    """Fold the per-sample scale into the state however training ends."""

    def __init__(self, call, state):
        self.call, self.state = call, state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.call is not None:
            self.call.fold(self.state)


def _penalty_per_track(coef, config, l1_ratio, head_track, n_tracks):
    sq = np.einsum("kj,kj->k", coef, coef, dtype=np.float64)
    l1 = np.abs(coef).sum(axis=1, dtype=np.float64)
    per_head = np.array(
        [
            penalty_value(config.penalty, config.alpha, l1_ratio, s, a)
            for s, a in zip(sq, l1, strict=True)
        ]  # fmt: skip
    )
    return np.bincount(head_track, per_head, n_tracks)


def _row_sqnorms(problem):
    if problem.is_sparse:
        counts = np.diff(problem.X_indptr)
        rows = np.repeat(np.arange(counts.shape[0]), counts)
        return np.bincount(
            rows, problem.X_data.astype(np.float64) ** 2, counts.shape[0]
        )
    X = problem.X_data.reshape(-1, problem.n_features)
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)
