"""The multi-layer perceptrons' trainer.

- ``train_stochastic``: scikit-learn's ``_fit_stochastic`` as ``MLPRunner``
  (one ``mlp_train_epoch`` call per span of batches; the shuffle drawn from
  the estimator's ``RandomState`` as scikit-learn draws it) and
  ``MLPStopping`` (its stopping rules, learning-rate schedule and verbose
  lines) under ``_epoch.fit_epochs``.
- ``train_lbfgs``: scikit-learn's ``_fit_lbfgs``, SciPy's L-BFGS-B on
  ``loss_and_gradient`` (SciPy runs the iterations).
- ``forward``: the forward pass used for prediction.
"""

import copy
import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle as sklearn_shuffle
from sklearn.utils.optimize import _check_optimize_result

from fastsgd._device import device_errors
from fastsgd._epoch import (
    MAX_ITER,
    REQUESTED,
    DivergenceError,
    RollBack,
    Runner,
    Threads,
    adaptive_decay,
    finite,
    fit_epochs,
    resolve_n_jobs,
    weighted_mean,
)
from fastsgd._kernels import cpu_mlp, mlp_layout
from fastsgd._kernels.bundles import Data, MLPParams, MLPTargets, MLPWorkspace, data_of
from fastsgd._math import codes
from fastsgd._math.schedules import invscaling_rate
from fastsgd._progress import Reporter, caller_stacklevel

#: scikit-learn's message for non-finite weights after a fit, which fastsgd's
#: ``DivergenceError`` begins with.
MLP_DIVERGENCE = (
    "Solver produced non-finite parameter weights. The input data may contain "
    "large values and need to be preprocessed."
)

#: Rows per kernel call when predicting (bounds the activations' memory).
PREDICT_ROWS = 4096


@dataclass
class MLPData:
    """Inputs of the kernel: data, targets (``(n, n_outputs)``) and weights."""

    X_data: np.ndarray
    X_indices: np.ndarray
    X_indptr: np.ndarray
    n_features: int
    is_sparse: bool
    Y: np.ndarray
    sample_weight: np.ndarray

    @classmethod
    def of(cls, X, Y, sample_weight):
        """The data of a validated ``X`` (host or GPU, dense or CSR)."""
        return cls(*data_of(X), Y, sample_weight)

    def data(self):
        """The kernels' ``bundles.Data``."""
        return Data(self.X_data, self.X_indices, self.X_indptr, self.n_features,
                    self.is_sparse)  # fmt: skip

    def targets(self):
        """The kernels' ``bundles.MLPTargets``."""
        return MLPTargets(self.Y, self.sample_weight)


@dataclass(frozen=True)
class MLPConfig:
    """Scalar settings of a network and its optimizer, as codes and floats."""

    units: tuple
    hidden_code: int
    out_code: int
    solver: int
    alpha: float
    learning_rate_init: float = 0.001
    schedule: str = "constant"
    power_t: float = 0.5
    momentum: float = 0.9
    nesterov: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    weight_decay: float = 0.0
    batch_size: int = 200
    shuffle: bool = True
    tol: float = 1e-4
    n_iter_no_change: int = 10
    early_stopping: bool = False
    n_jobs: int = None
    verbose: int = 0

    @property
    def loss_scale(self):
        """scikit-learn's squared loss is averaged over the outputs too."""
        return 0.5 / self.units[-1] if self.out_code == codes.IDENTITY else 1.0


def layer_views(theta, units):
    """``(coefs, intercepts)``: views of ``theta`` in scikit-learn's shapes
    (``mlp_layout``'s, as the kernels read them)."""
    units = np.asarray(units, dtype=np.int64)
    layers = range(units.shape[0] - 1)
    coefs = [mlp_layout.layer_weights(theta, units, layer) for layer in layers]
    return coefs, [mlp_layout.layer_intercepts(theta, units, i) for i in layers]


@dataclass
class MLPState(RollBack):
    """Parameters, optimizer state and stopping state that training resumes.

    ``theta`` packs the weights then the intercepts (scikit-learn's ``_pack``);
    ``first_moment`` is the SGD velocity (a running sum of gradients) or
    Adam's first moment, ``second_moment`` Adam's second (unused by SGD), in
    ``theta``'s layout.
    An epoch starts from a ``snapshot`` of the parameters, the optimizer's
    state and its step, which a divergence ``restore``s.
    """

    _ARRAYS = ("theta", "first_moment", "second_moment")
    _SCALARS = ("step",)

    theta: np.ndarray
    first_moment: np.ndarray
    second_moment: np.ndarray
    learning_rate: float
    step: int = 0
    t: int = 0
    no_improvement: int = 0
    best_loss: float = math.inf
    best_validation_score: float = -math.inf
    best_theta: np.ndarray = None
    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)

    @classmethod
    def average(cls, states, fractions, seen):
        """Parameter mixing: the states of models trained on disjoint data,
        averaged (a new state), as ``LinearState.average``: parameters and
        optimizer moments weighted by ``fractions``; ``t`` counts every
        state's ``seen`` samples; Adam's step is the largest of the states';
        the learning rate, best loss and count without improvement the
        smallest."""
        state = copy.deepcopy(states[0])
        state.theta = weighted_mean([s.theta for s in states], fractions)
        for name in ("first_moment", "second_moment"):
            moments = [getattr(s, name) for s in states]
            setattr(state, name, weighted_mean(moments, fractions))
        state.best_theta = state.theta.copy()
        state.t = states[0].t - seen[0] + sum(seen)
        state.step = max(s.step for s in states)
        state.learning_rate = min(s.learning_rate for s in states)
        state.best_loss = min(s.best_loss for s in states)
        state.no_improvement = min(s.no_improvement for s in states)
        return state

    def reset_optimizer(self, learning_rate_init):
        """A new optimizer, as scikit-learn makes for each ``fit`` call."""
        self.first_moment = np.zeros_like(self.theta)
        self.second_moment = np.zeros_like(self.theta)
        self.learning_rate = float(learning_rate_init)
        self.step = 0

    def cast(self, dtype):
        for name in ("theta", "first_moment", "second_moment", "best_theta"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.astype(dtype))


def _float_settings(config, learning_rate, dtype):
    """The kernels' float settings of a fit (``mlp_layout.float_settings``);
    the output clipping is the dtype's machine epsilon, as scikit-learn's."""
    return mlp_layout.float_settings(
        config.alpha, learning_rate, config.momentum, config.beta1, config.beta2,
        config.epsilon, config.weight_decay, np.finfo(dtype).eps, config.loss_scale,
        dtype,
    )  # fmt: skip


def _int_settings(config, solver):
    """The kernels' integer settings of a fit with ``solver``."""
    return mlp_layout.int_settings(
        config.hidden_code, config.out_code, solver, config.nesterov
    )


def _kernel_workspace(units, capacity, is_sparse, dtype, device):
    """The workspace arguments of a training or objective kernel call (the GPU
    kernel keeps its own workspace: empty placeholders)."""
    if device == "cuda":
        return MLPWorkspace(*(np.zeros(0, dtype),) * 6)
    return cpu_mlp.workspace(units, capacity, is_sparse, dtype)


def _threads(n_jobs, rows, units, forward_only=False):
    """The thread context of MLP kernels on batches of ``rows`` rows
    (``_epoch.Threads``: Numba threads, BLAS pinned to one).

    The kernel splits the work itself (row parts, weight blocks, fixed by the
    shapes); BLAS threads on top would oversubscribe the cores and make
    results depend on the thread count. Batches that run the serial kernel
    (``cpu_mlp.parallel_rows``: a single row part, or under
    ``cpu_mlp.PARALLEL_WORK`` multiply-adds in the forward pass) run on one
    thread. Results never depend on this choice.
    """
    parallel = cpu_mlp.parallel_rows(rows, units, forward_only)
    return Threads(resolve_n_jobs(n_jobs) if parallel else 1)


def _kernels(device):
    """The kernel module of ``device`` (``numba.cuda`` loads only for ``"cuda"``)."""
    if device == "cuda":
        from fastsgd._kernels import cuda_mlp

        return cuda_mlp
    return cpu_mlp


def resident(data, device):
    """``data`` with its arrays on ``device`` (copied to the GPU once per fit)."""
    if device != "cuda":
        return data
    from fastsgd._kernels.cuda_launch import to_device_args

    with device_errors("copying the training data to the GPU"):
        return MLPData(*to_device_args(data.data()), *to_device_args(data.targets()))


_SOLVER_NAMES = {code: name for name, code in codes.SOLVER_CODES.items()}
_ACTIVATION_NAMES = {code: name for name, code in codes.ACTIVATION_CODES.items()}


def train_stochastic(data, train_index, state, config, max_iter, rng, incremental,
                     validation_score=None, device="cpu", epochs=None):  # fmt: skip
    """scikit-learn's ``_fit_stochastic`` on the rows ``train_index`` (in
    its ``X_train`` order), updating ``state``; returns ``(n_iter, loss)``.

    ``rng`` shuffles as scikit-learn does; ``incremental``: ``partial_fit``
    (one epoch, no convergence warning); ``validation_score(theta)`` under
    ``early_stopping``; ``data`` already ``resident`` on ``device``;
    ``epochs``: the callbacks' hooks (snapshot: ``(state, n_iter, loss)``).
    Raises ``DivergenceError`` after restoring the last finite epoch.
    """
    runner = MLPRunner(data, train_index, state, config, rng, device)
    stopping = MLPStopping(config, max_iter, incremental, validation_score)
    fit_epochs(runner, stopping, max_iter, epochs)
    return runner.n_iter, runner.loss


class MLPRunner(Runner):
    """scikit-learn's stochastic MLP training (SGD or Adam) under
    ``fit_epochs``: one ``mlp_train_epoch`` call per span of batches."""

    def __init__(self, data, train_index, state, config, rng, device):
        self.data, self.state, self.config = data, state, config
        self.train_index, self.rng, self.device = train_index, rng, device
        self.n_train = train_index.shape[0]
        self.step_batch = max(1, min(config.batch_size, self.n_train))
        self.grad = np.zeros_like(state.theta)
        self.sample_idx = np.arange(self.n_train)
        self.order = train_index
        self.kernels = _kernels(device)
        # the kernel module's rule for the plan's variant (``parallel_rows``):
        # arithmetic, where building a plan allocates a workspace every call
        parallel = cpu_mlp.parallel_rows(self.step_batch, config.units)
        self.n_threads = resolve_n_jobs(config.n_jobs) if parallel else 1
        self.n_iter, self.loss, self.total = 0, None, 0.0

    def _args(self, order, device):
        state, config = self.state, self.config
        dtype = state.theta.dtype
        capacity = max(1, min(self.step_batch, order.shape[0]))
        buffers = _kernel_workspace(config.units, capacity, self.data.is_sparse, dtype,
                                    device)  # fmt: skip
        params = MLPParams(state.theta, state.first_moment, state.second_moment,
                           self.grad)  # fmt: skip
        return (
            self.data.data(), self.data.targets(), order, self.step_batch,
            np.asarray(config.units, dtype=np.int64), params, buffers,
            _int_settings(config, config.solver),
            _float_settings(config, state.learning_rate, dtype), state.step,
        )  # fmt: skip

    def announce(self, reporter):
        """Say, before the first epoch, that the training kernel compiles (only
        when Numba's cache does not hold it yet)."""
        if self.device != "cpu" or not reporter.wants_compile_notice():
            return
        plan = cpu_mlp.plan(*self._args(self.order, "cpu"))
        if plan.compiled():
            return
        config = self.config
        reporter.compiling(
            "MLP",
            f"{_SOLVER_NAMES[config.solver]}/{_ACTIVATION_NAMES[config.hidden_code]}/"
            f"{_ACTIVATION_NAMES[config.out_code]}, "
            f"{'CSR' if self.data.is_sparse else 'dense'} "
            f"{np.dtype(self.state.theta.dtype).name}",
            plan.parallel,
        )

    def snapshot(self):
        self.total = 0.0
        return self.state.snapshot()

    def restore(self, snap):
        self.state.restore(snap)

    def shuffle(self):
        if self.config.shuffle:
            self.sample_idx = sklearn_shuffle(self.sample_idx, random_state=self.rng)
        self.order = self.train_index[self.sample_idx]

    def run(self, start, stop):
        total, self.state.step = self.kernels.mlp_train_epoch(
            *self._args(self.order[start:stop], self.device)
        )
        self.total += total

    def finite(self):
        self.loss = self.total / self.n_train
        return finite(self.loss, self.state.theta)

    def diverged(self, epoch):
        config = self.config
        if not config.early_stopping:
            raise DivergenceError(len(self.state.loss_curve) + 1,
                                  config.learning_rate_init, "learning_rate_init",
                                  MLP_DIVERGENCE)  # fmt: skip
        # scikit-learn #29504: no error, the best validation weights are kept
        self.n_iter = epoch
        _diverged_with_early_stopping(self.state, self.loss, epoch)

    def end_epoch(self, epoch):
        self.n_iter = epoch
        self.state.t += self.n_train
        self.state.loss_curve.append(self.loss)

    def copied_model(self):
        return copy.deepcopy(self.state), self.n_iter, self.loss


class MLPStopping:
    """scikit-learn's MLP stopping rule (``_update_no_improvement_count``),
    with its learning-rate schedule and verbose lines, for ``fit_epochs``."""

    def __init__(self, config, max_iter, incremental, validation_score):
        self.config, self.max_iter = config, max_iter
        self.incremental, self.validation_score = incremental, validation_score
        self.n_iter = 0

    def active(self):
        return None

    def begin(self, epoch, reporter):
        pass

    def after_epoch(self, epoch, runner, reporter):
        state, config = runner.state, self.config
        self.n_iter = epoch
        _update_no_improvement(state, config, self.validation_score)
        update_learning_rate(state, config)
        score = state.validation_scores[-1] if config.early_stopping else None
        lines = ()
        if reporter.verbose:
            lines = verbose_lines(epoch, runner.loss, reporter.elapsed(),
                                  state.learning_rate, score)  # fmt: skip
        reporter.epoch(epoch, runner.loss, score, lines)
        if state.no_improvement > config.n_iter_no_change:
            if _stop_or_decay(state, config, reporter):
                return True
            state.no_improvement = 0
        return self.incremental

    def finish(self, reporter, how):
        if how in (MAX_ITER, REQUESTED) and self.n_iter == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=caller_stacklevel(),
            )
        reporter.message(f"Training took {reporter.elapsed():.2f} s")


def verbose_lines(iteration, loss, elapsed, learning_rate=None,
                  validation_score=None):  # fmt: skip
    """scikit-learn's ``verbose`` lines after an epoch (or an L-BFGS
    iteration), fastsgd's learning rate and time after scikit-learn's fields."""
    rate = "" if learning_rate is None else f", learning rate = {learning_rate:.6g}"
    lines = [f"Iteration {iteration}, loss = {loss:.8f}{rate}, time = {elapsed:.2f} s"]
    if validation_score is not None:
        lines.append(f"Validation score: {validation_score:f}")
    return lines


def _diverged_with_early_stopping(state, loss, epoch):
    """Record a diverged epoch (its loss, a NaN validation score, as
    scikit-learn records them) and warn: the estimator keeps the best
    validation weights, as scikit-learn does since #29504."""
    if math.isfinite(state.best_validation_score):
        kept = (
            "the weights of the best validation score "
            f"({state.best_validation_score:.6g}) are kept"
        )
    else:
        kept = "no epoch had a finite validation score: the initial weights are kept"
    state.loss_curve.append(loss)
    state.validation_scores.append(math.nan)
    warnings.warn(
        f"Training diverged at epoch {epoch}: the loss or the weights became "
        f"non-finite (inf or NaN), so training stopped; {kept}. Try a smaller "
        "learning_rate_init, or scale the input (e.g. StandardScaler).",
        ConvergenceWarning,
        stacklevel=caller_stacklevel(),
    )


def train_lbfgs(data, state, config, max_iter, max_fun, tol, device="cpu",
                epochs=None):  # fmt: skip
    """scikit-learn's ``_fit_lbfgs``: SciPy's L-BFGS-B on the whole-data loss
    and gradient (``loss_and_gradient``, float64 iterates); sets
    ``state.theta`` to the result in its dtype and returns ``(n_iter, loss)``.

    ``epochs``: the fit's callback tasks (``_callbacks``), one per iteration;
    a callback that asks to stop ends the run without a convergence warning
    (otherwise scikit-learn's ``_check_optimize_result`` warns as it does).
    A non-finite result raises ``ValueError`` (``MLP_DIVERGENCE``).
    """
    dtype = state.theta.dtype

    def objective(theta):
        with np.errstate(all="ignore"):
            return loss_and_gradient(theta, data, config, device)

    n_samples = data.Y.shape[0]
    x0 = state.theta.astype(np.float64)
    # the iterate, iteration count and loss before the next iteration
    previous = (x0, 0, None)
    stop_requested = False
    with Reporter(config.verbose, max_iter, n_samples, n_samples) as reporter:
        iteration = itertools.count(1)

        def report(intermediate_result):  # SciPy's new callback form
            nonlocal previous, stop_requested
            n_iter, loss = next(iteration), intermediate_result.fun
            lines = verbose_lines(n_iter, loss, reporter.elapsed())
            reporter.epoch(n_iter, loss, lines=lines)
            if epochs is None:
                return
            # SciPy reports an iteration once it has run: its task opens and
            # closes here (the opening's model is the one before it)
            before = previous
            previous = (intermediate_result.x.copy(), n_iter,
                        float(intermediate_result.fun))  # fmt: skip
            after = previous
            epochs.begin(lambda: before)
            if epochs.end(lambda: after):
                stop_requested = True
                raise StopIteration

        result = scipy.optimize.minimize(
            objective,
            x0,
            method="L-BFGS-B",
            jac=True,
            callback=report,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
        )
    if stop_requested:  # SciPy's status 99: a callback ended it, no warning
        n_iter = int(result.nit)
    else:
        n_iter = _check_optimize_result("lbfgs", result, max_iter)
    theta = result.x.astype(dtype)
    if not np.isfinite(theta).all():
        raise ValueError(MLP_DIVERGENCE)
    state.theta = theta
    return n_iter, float(result.fun)


def update_learning_rate(state, config):
    """The learning rate after ``state.t`` samples: scikit-learn's
    'invscaling' rate ``learning_rate_init / (t + 1) ** power_t`` (SGD),
    set once an epoch; the other schedules keep theirs."""
    if config.schedule == "invscaling" and config.solver == codes.SGD:
        state.learning_rate = invscaling_rate(config.learning_rate_init,
                                              config.power_t, state.t)  # fmt: skip


def _update_no_improvement(state, config, validation_score):
    """scikit-learn's ``_update_no_improvement_count``."""
    if config.early_stopping:
        score = validation_score(state.theta)
        state.validation_scores.append(score)
        if score < state.best_validation_score + config.tol:
            state.no_improvement += 1
        else:
            state.no_improvement = 0
        if score > state.best_validation_score:
            state.best_validation_score = score
            state.best_theta = state.theta.copy()
    else:
        if state.loss_curve[-1] > state.best_loss - config.tol:
            state.no_improvement += 1
        else:
            state.no_improvement = 0
        if state.loss_curve[-1] < state.best_loss:
            state.best_loss = state.loss_curve[-1]


def _stop_or_decay(state, config, reporter):
    """After a stall: stop, or (adaptive SGD) divide the rate by 5 and go on."""
    what = "Validation score" if config.early_stopping else "Training loss"
    msg = (
        f"{what} did not improve more than tol={config.tol:f} for "
        f"{config.n_iter_no_change} consecutive epochs."
    )
    if config.solver != codes.SGD or config.schedule != "adaptive":
        reporter.message(msg + " Stopping.")
        return True
    rate = adaptive_decay(state.learning_rate)
    if rate is None:
        reporter.message(msg + " Learning rate too small. Stopping.")
        return True
    state.learning_rate = rate
    reporter.message(msg + f" Setting learning rate to {state.learning_rate:f}")
    return False


def loss_and_gradient(theta, data, config, device="cpu"):
    """The L-BFGS objective: mean loss and its gradient at ``theta`` (float64).

    One kernel call over all samples in order (one batch), without a step.
    On ``"cuda"``, ``data`` should already be resident (``resident``).
    """
    dtype = data.Y.dtype
    n = data.Y.shape[0]
    theta = np.asarray(theta, dtype=dtype).copy()
    grad = np.zeros_like(theta)
    buffers = _kernel_workspace(config.units, max(n, 1), data.is_sparse, dtype, device)
    with _threads(config.n_jobs, n, config.units), device_errors("training"):
        total = _kernels(device).mlp_objective(
            data.data(), data.targets(), np.asarray(config.units, dtype=np.int64),
            theta, grad, buffers, _int_settings(config, codes.OBJECTIVE),
            _float_settings(config, 0.0, dtype),
        )  # fmt: skip
    return total / n, grad.astype(np.float64)


def forward(theta, config, X, rows, device="cpu"):
    """Output-layer activations of the samples ``rows`` of a validated ``X``,
    ``(len(rows), n_outputs)``.

    ``device="cuda"`` runs the forward pass on the GPU (``X`` may be a GPU array).
    """
    dtype = theta.dtype
    units = config.units
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((rows.shape[0], units[-1]), dtype=dtype)
    data = MLPData.of(X, np.zeros((0, units[-1]), dtype), np.zeros(0, dtype))
    is_sparse = data.is_sparse
    x = resident(data, device).data()
    kernels = _kernels(device)
    unit_array = np.asarray(units, dtype=np.int64)
    int_settings = _int_settings(config, config.solver)
    with (
        _threads(config.n_jobs, min(rows.shape[0], PREDICT_ROWS), units, True),
        device_errors("predicting"),
    ):
        for start in range(0, rows.shape[0], PREDICT_ROWS):
            part = rows[start : start + PREDICT_ROWS]
            n = part.shape[0]
            X_batch, acts = cpu_mlp.forward_workspace(units, n, is_sparse, dtype)
            kernels.mlp_forward(x, part, unit_array, theta, X_batch, acts,
                                int_settings)  # fmt: skip
            out[start : start + n] = cpu_mlp.output_activations(acts, units, n)
    return out
