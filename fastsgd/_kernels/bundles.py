"""The argument bundles of the kernels' entry points, one per job.

A kernel call takes a handful of bundles instead of ~45 positional
arguments: the data, the targets, the parameters a step changes, the rule
that steps them, the counters, the scratch. Each bundle is a
``typing.NamedTuple``. The bundles stop where Python hands over to compiled
code: the CPU entry points pass their compiled kernel the fields flat and
in order (``flatten``), because unboxing named tuples of arrays in a
kernel's generated Python wrapper cost compile time (docs/design.md, "Where
the code differs", item 4); the CUDA entry points unpack the bundles into
their launch's arguments.

The trainers build the bundles; the CPU and GPU entry points (``cpu``,
``cpu_per_sample``, ``cpu_mlp``, ``cuda``, ``cuda_mlp``) take them. Plain
Python, no Numba: the trainers import it without loading a compiler. Also
here: ``data_of``, the ``Data`` of a validated ``X``.
"""

from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from fastsgd._kernels.gpu_arrays import is_device_array


class Data(NamedTuple):
    """The design matrix: a dense ``X`` raveled (``X_indices``/``X_indptr``
    empty, ``empty_index``) or a CSR matrix's three arrays (``data_of``)."""

    X_data: Any
    X_indices: Any
    X_indptr: Any
    n_features: int
    is_sparse: bool


def empty_index():
    """The placeholder index array passed with a dense ``X``."""
    return np.empty(0, dtype=np.int32)


def data_of(X):
    """The ``Data`` of a validated ``X``: a dense ``X`` (host or GPU) as its
    flat view, a CSR matrix as its three arrays with int32 indices. Host
    values are a read-only view (no copy): Numba types read-only arrays apart,
    so the kernels always get one (a memory-mapped ``X`` needs no new
    compile)."""
    n_features = X.shape[1]
    if sp.issparse(X):
        return Data(_read_only(X.data), X.indices.astype(np.int32, copy=False),
                    X.indptr.astype(np.int32, copy=False), n_features,
                    True)  # fmt: skip
    flat = X.reshape(X.size) if is_device_array(X) else _read_only(X.reshape(-1))
    return Data(flat, empty_index(), empty_index(), n_features, False)


def _read_only(values):
    view = values.view()
    view.flags.writeable = False
    return view


class LinearTargets(NamedTuple):
    """A linear fit's targets: ``y_float`` (regression) or ``y_class``
    (classes), the task code, each head's positive class and class weights,
    and the sample weights (see ``_trainer.regression_targets`` and
    ``class_targets``)."""

    y_float: Any
    y_class: Any
    task: int
    head_positive: Any
    weight_pos: Any
    weight_neg: Any
    sample_weight: Any


class LinearParams(NamedTuple):
    """What a mini-batch step changes: ``coef`` ``(n_heads, n_features)`` and
    ``intercept``, their momentum buffers and their running averages, and
    the cumulative L1 penalty (Tsuruoka et al.): ``l1_u`` per head, the total
    applied so far; ``l1_q`` per weight, the part each weight received.
    Arrays a setting leaves unused have zero columns. The O(nnz) sparse
    kernels (``cpu_sparse``) take ``coef``, ``coef_buf``, ``avg_coef`` and
    ``l1_q`` feature-major, ``(n_features, n_heads)``."""

    coef: Any
    intercept: Any
    coef_buf: Any
    intercept_buf: Any
    avg_coef: Any
    avg_intercept: Any
    l1_q: Any
    l1_u: Any


class MinibatchRule(NamedTuple):
    """How a mini-batch step is taken: the loss, the penalty, the rate
    schedule (``eta`` per head), momentum, the intercept (its gradient is
    multiplied by ``intercept_decay``: scikit-learn's 0.01 on sparse data;
    ``intercept_alpha``: the objective's term ``intercept_alpha * b``, the
    one-class SVM's ``nu``, else 0) and averaging (``average``: the sample count at which averaging starts,
    0 for none)."""

    loss_code: int
    epsilon: float
    penalty: int
    alpha: float
    l1_ratio: float
    schedule: int
    eta: Any
    power_t: float
    optimal_t0: float
    momentum: float
    dampening: float
    nesterov: bool
    fit_intercept: bool
    intercept_decay: float
    intercept_alpha: float
    average: int


class ScaledWeights(NamedTuple):
    """The scaled representation of the O(nnz) sparse kernels, as
    scikit-learn's ``WeightVector``: per head, ``w = wscale * v`` (``coef``
    holds ``v``) and the lazy average ``(avg_coef + avg_a * v) / avg_b``.
    Folded into the arrays at the end of a ``fit``/``partial_fit`` call, or
    when ``wscale`` falls below ``wscale_floor`` (scikit-learn's, by dtype)."""

    wscale: Any
    avg_a: Any
    avg_b: Any
    wscale_floor: float


class StepCounters(NamedTuple):
    """Where a mini-batch fit stands before the call: optimizer steps taken,
    samples seen, steps averaged."""

    step_start: int
    samples_seen_start: int
    n_averaged_start: int


class MinibatchScratch(NamedTuple):
    """Scratch of a mini-batch epoch (``minibatch_scratch`` of each target)."""

    scores: Any
    deriv: Any
    partial: Any
    partial_b: Any


class SparseScratch(NamedTuple):
    """Scratch of an O(nnz) sparse epoch (``cpu_sparse.sparse_scratch``):
    per row of a batch its scores, weighted derivatives and losses, and the
    step each column was last truncated at (L1 only)."""

    scores: Any
    deriv: Any
    row_loss: Any
    marks: Any


class PerSampleHeads(NamedTuple):
    """Every head's arrays in scikit-learn's per-sample algorithm: the scaled
    weights ``v`` (``w = wscale * v``), the intercepts, the lazy average
    (``avg_a``/``avg_b``), the L1 truncation's running sums (``l1_q``,
    ``l1_u``), the norms the objective re-sums, and the epoch's sums of the
    loss and of the objective (added to)."""

    coef: Any
    wscale: Any
    intercept: Any
    avg_coef: Any
    avg_intercept: Any
    avg_a: Any
    avg_b: Any
    l1_q: Any
    l1_u: Any
    sq_norm: Any
    l1_norm: Any
    loss_sum: Any
    objective_sum: Any


class ColumnFolds(NamedTuple):
    """Folds a per-sample call applies before it trains (``_trainer.
    PendingFolds``): to ``fold_columns`` (the ones its rows read), folds
    ``fold_first[i] .. fold_n_events - 1`` of column ``fold_columns[i]`` (per
    head, the ``fold_wscale``, ``fold_avg_a``, ``fold_avg_b`` of each fold,
    whether it ``fold_averaging``); each column's weights after them go to
    ``saved_coef``/``saved_avg`` (``(n_heads, len(fold_columns))``: the
    roll-back snapshot), and with ``zero_l1`` its L1 sums ``l1_q`` restart.
    No columns: nothing to do."""

    fold_columns: Any
    fold_first: Any
    fold_wscale: Any
    fold_avg_a: Any
    fold_avg_b: Any
    fold_averaging: Any
    fold_n_events: int
    saved_coef: Any
    saved_avg: Any
    zero_l1: bool


class Splits(NamedTuple):
    """Cross-validation splits trained in one pass over the rows (a grid's
    models on every split: ``SGDClassifierCV``): ``excluded[s, i]`` is 1
    where row ``i`` does not train split ``s`` (its held-out and validation
    rows), ``head_split`` each head's split, ``split_t[g, s]`` split ``s``'s
    sample counter (scikit-learn's ``t``, updated in place) as kernel group
    ``g`` counts it: every group reads every row, so a group's row of
    counters needs no other's, and the rows are equal between epochs. A fit
    without splits passes empty ones (``cpu_per_sample.NO_SPLITS``)."""

    excluded: Any
    head_split: Any
    split_t: Any


class PerSampleEpochs(NamedTuple):
    """How many epochs one per-sample kernel call runs, and what it does
    between them (``cpu_per_sample.sgd_epochs_per_sample``): up to
    ``max_epochs``; each shuffles every order row with its ``seeds`` entry
    (scikit-learn's shuffle; none: no shuffle) and, with ``stop``, applies
    scikit-learn's stopping rule (``_math.stopping``) to each track
    (``track_of_head``), whose ``best``, ``no_improvement`` and
    ``active_track`` it updates, dividing ``eta`` with ``adaptive``; ``tol``
    (-inf: no rule), ``n_iter_no_change``, ``n_train`` (per track: the
    objective's mean). ``loss_curve[e]`` receives epoch ``e``'s loss sum of
    each head."""

    max_epochs: int
    seeds: Any
    stop: bool
    tol: float
    n_iter_no_change: int
    adaptive: bool
    track_of_head: Any
    best: Any
    no_improvement: Any
    active_track: Any
    n_train: Any
    loss_curve: Any


class PerSampleRule(NamedTuple):
    """How scikit-learn's per-sample step is taken (``_plain_sgd``'s
    arguments): the loss, the penalty, the schedule (``eta`` per head), the
    intercept's decay and linear term (``MinibatchRule``), averaging, the
    smallest ``wscale`` before a fold, whether the objective is tracked, and
    whether the heads' loss sums are kept (``loss_sums``: the loss curve; a
    grid's heads keep none unless verbose, see ``cpu_per_sample``).
    ``alpha``, ``l1_ratio`` and ``optimal_t0`` are float64 arrays, one value
    per head (a grid of alphas trains its models as heads of one fit)."""

    loss_code: int
    epsilon: float
    penalty: int
    alpha: Any
    l1_ratio: Any
    schedule: int
    eta: Any
    power_t: float
    optimal_t0: Any
    fit_intercept: bool
    intercept_decay: float
    intercept_alpha: float
    average: int
    wscale_floor: float
    track_objective: bool
    loss_sums: bool


class MLPTargets(NamedTuple):
    """An MLP's targets: ``Y`` ``(n_samples, n_outputs)`` and the sample weights."""

    Y: Any
    sample_weight: Any


class MLPParams(NamedTuple):
    """The packed parameter vector (weights, then intercepts), the solver's
    two moment vectors (momentum's velocity; Adam's first and second moments;
    empty where unused) and the gradient."""

    theta: Any
    first_moment: Any
    second_moment: Any
    grad: Any


class MLPWorkspace(NamedTuple):
    """The CPU's buffers of a training or objective call
    (``cpu_mlp.workspace``): gathered rows, activations, deltas, the batch's
    targets and sample weights, and the row parts' gradient partials. The GPU
    twins take it and do not read it (they keep their own)."""

    X_batch: Any
    acts: Any
    deltas: Any
    Y_batch: Any
    sw_batch: Any
    partials: Any


def flatten(*args):
    """``args`` as a compiled kernel takes them: each bundle replaced by its
    fields, in order; every other argument as it is.

    The CPU entry points call their compiled variant with
    ``flatten(*their arguments)``, so a template's parameters are the entry
    point's, each bundle spelled out field by field
    (``tests/test_compilation.py`` checks the templates against this).
    """
    flat = []
    for arg in args:
        if isinstance(arg, tuple) and hasattr(arg, "_fields"):
            flat.extend(arg)
        else:
            flat.append(arg)
    return tuple(flat)
