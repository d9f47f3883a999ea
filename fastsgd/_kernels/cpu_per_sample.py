"""The per-sample CPU kernel: scikit-learn's plain SGD, all heads in one pass over X.

``sgd_epoch_per_sample`` is the entry point; it picks the kernel of the fit's
configuration (``plan``: the template ``_per_sample_epoch``
compiled by ``_jit.specialize`` with the loss, penalty, schedule, task,
layout, averaging and objective tracking as compile-time constants), compiled
once and cached. The kernel follows ``sklearn.linear_model._sgd_fast._plain_sgd``
operation for operation (``FASTMATH_EXACT``: IEEE arithmetic), so the same
``random_state`` gives scikit-learn's model bit for bit. One-vs-rest heads
are independent, so spreading them over threads cannot change a bit.

Row gathers, folds and shared constants are ``cpu.py``'s; the math and row
access are bound for the CPU here (``_jit.bind_sources``).
"""

import math

import numpy as np
from numba import prange

from fastsgd._kernels._jit import (
    FASTMATH_EXACT,
    Plan,
    bind_sources,
    cpu_configured,
    cpu_inline,
    cpu_kernel,
    prefetch,
    specialize,
)
from fastsgd._kernels.bundles import PerSampleEpochs, Splits, flatten
from fastsgd._kernels.cpu import (
    PREFETCH_AHEAD,
    fold_coordinate,
    fold_head,
    gather_into,
    penalty_setting,
    prefetch_row,
    shuffle_as_sklearn,
)
from fastsgd._kernels.lanes import ALIGN, STEP_BLOCKS, lane_step
from fastsgd._kernels.lanes import LANES as LANE_WIDTH
from fastsgd._kernels.rows import (
    class_weight,
    head_target,
    row_dot,
    row_dot4,
    row_slices,
    row_sqnorm,
)
from fastsgd._math.codes import (
    CONSTANT,
    ELASTICNET,
    HINGE,
    L2,
    NO_PENALTY,
    PA1,
    PA2,
    PERCEPTRON,
)
from fastsgd._math.losses import clip_derivative, loss_derivative, loss_value
from fastsgd._math.schedules import learning_rate, rate_reads_alpha
from fastsgd._math.stopping import adaptive_rate, epoch_verdict
from fastsgd._math.updates import (
    l1_penalty_step,
    l1_truncate,
    l2_shrink_factor,
    penalty_value,
    running_mean,
)

# the math and row access: one source with the GPU kernels, compiled for the CPU
bind_sources(globals(), "cpu")

#: How many columns ahead the folds of a call's columns prefetch.
FOLD_PREFETCH_AHEAD = 16

# Compile-time settings of the template, bound per configuration by
# ``_jit.specialize`` (these placeholders are never compiled): the loss, the
# penalty and the schedule codes, the task, whether ``X`` is CSR, whether
# the fit averages, tracks the objective and keeps the heads' loss sums;
# ``PARALLEL``, the variant's parallel flag (``specialize`` binds it).
LOSS = PENALTY = SCHEDULE = TASK = None
SPARSE = AVERAGING = TRACK_OBJECTIVE = LOSS_SUMS = HEAD_BLOCKS = SPLITS = None
LANES = PARALLEL = None

#: Heads scored together from one read of a row (``row_dot4``), where a
#: group's heads share an order (a grid's models; one-vs-rest unshuffled).
HEAD_BLOCK = 4

#: What a head's step gets for its lane (``LANES`` off): never read.
NO_LANE = (np.zeros((0, 0)), 0, np.zeros(0))

#: Elements (of 8 bytes) between two threads' counters in one array: more than
#: a cache line, so that threads writing theirs at every row do not share one.
CACHE_LINE_SPACING = 16


# --------------------------------------------------------------------------
# Per-sample training: scikit-learn's plain SGD, all heads in one pass over X
# --------------------------------------------------------------------------


@cpu_configured
def _per_sample_head_step(
    x_values, x_indices, x_sqnorm, skip, y, p, sample_w, k, t, eta_k, eta,
    weight_pos, weight_neg, heads, settings, lane,
):  # fmt: skip
    """One sample's update of head ``k`` (``_plain_sgd``'s loop body), at
    step size ``eta`` (``learning_rate``, from the base rate ``eta_k``).

    With ``LANES`` the head's weights are column ``at`` of its group's lane
    buffer (``lane``: ``(buffer, at, c)``): a fold scales that column, and the
    update's coefficient goes to ``c[at]`` (zero: no update), which the group
    adds to the row's heads in vector lanes (``lanes.lane_step``) after
    every head's step; the same operations on each weight, in the same order.

    ``skip`` (an all-zero row under PA1) counts the loss but updates nothing.
    ``heads`` and ``settings`` bundle the kernel's state arrays and run-time
    settings (``alpha``, ``l1_ratio`` and the 'optimal' offset per head):
    CPython passes a call of more than 30 arguments as ``*args``, which Numba
    cannot inline. The compile-time settings are the kernel's
    (``LOSS``, ``PENALTY``, ``SCHEDULE``, ``SPARSE``, ``AVERAGING``,
    ``TRACK_OBJECTIVE``, ``LOSS_SUMS``).
    """
    (coef, wscale, intercept, avg_coef, avg_intercept, avg_a, avg_b,
     l1_q, l1_u, sq_norm, l1_norm, loss_sum, objective_sum) = heads  # fmt: skip
    (epsilon, head_alpha, head_l1_ratio, power_t, _, fit_intercept,
     intercept_decay, intercept_alpha, average, wscale_floor, schedule,
     has_penalty) = settings  # fmt: skip
    # per head: one alpha for every head of a fit, a grid's on a grid's heads;
    # no penalty shares the L2 variant (``penalty_setting``) with a zero alpha
    l1_ratio = head_l1_ratio[k]
    penalty_alpha = head_alpha[k] if has_penalty else 0.0
    # the loss value feeds the loss sums, the objective and the
    # passive-aggressive step; a grid's pass needs none of them (``LOSS_SUMS``
    # off: ``log_loss``'s ``log1p(exp(...))`` was 8% of a 5-class pass)
    lv = 0.0
    if LOSS_SUMS or TRACK_OBJECTIVE or SCHEDULE >= PA1:
        lv = loss_value(LOSS, y, p, epsilon)
    if LOSS_SUMS:
        loss_sum[k] += lv
    if TRACK_OBJECTIVE:
        objective_sum[k] += lv
        if SCHEDULE < PA1:
            objective_sum[k] += penalty_value(
                PENALTY, penalty_alpha, l1_ratio, sq_norm[k], l1_norm[k]
            )
            # the one-class SVM's term nu * b (a zero for the other models)
            objective_sum[k] += intercept[k] * intercept_alpha
    if skip:
        return
    class_w = class_weight(y, weight_pos, weight_neg, k)
    if SCHEDULE == PA1:
        update = min(eta_k, lv / x_sqnorm)
    elif SCHEDULE == PA2:
        update = lv / (x_sqnorm + 0.5 / eta_k)
    else:
        update = -eta * clip_derivative(loss_derivative(LOSS, y, p, epsilon))
    if SCHEDULE >= PA1:
        if LOSS == HINGE or LOSS == PERCEPTRON:
            update *= y
        elif y - p < 0.0:
            update *= -1.0
    update *= class_w * sample_w

    if PENALTY >= L2:
        shrink = l2_shrink_factor(eta, penalty_alpha, l1_ratio)
        wscale[k] *= shrink
        sq_norm[k] *= shrink * shrink
        l1_norm[k] *= abs(shrink)
        if wscale[k] < wscale_floor:
            if LANES:
                fold_head(lane[0], lane[0], wscale, avg_a, avg_b, k, False, True,
                          lane[1])  # fmt: skip
            else:
                fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, AVERAGING, False,
                          k)  # fmt: skip

    ws = wscale[k]
    w = coef[k]
    nnz = x_values.shape[0]
    if update != 0.0:
        c = update / ws
        # CSR: a weight that leaves the floats marks the head's loss (NaN),
        # which the trainer's divergence check reads: no sweep over the weights
        finite = True
        if TRACK_OBJECTIVE:
            # scikit-learn's WeightVector.add re-sums the norms over the touched
            # coordinates only, in the same pass; the objective (so the stopping
            # rule) uses them.
            l2_acc = 0.0
            l1_acc = 0.0
            if SPARSE:
                for jj in range(nnz):
                    v = w[x_indices[jj]] + x_values[jj] * c
                    w[x_indices[jj]] = v
                    l2_acc += v * v
                    l1_acc += abs(v)
            else:
                for j in range(nnz):
                    v = w[j] + x_values[j] * c
                    w[j] = v
                    l2_acc += v * v
                    l1_acc += abs(v)
            sq_norm[k] = l2_acc * (ws * ws)
            l1_norm[k] = l1_acc * ws
            finite = l1_acc < math.inf
        elif SPARSE:
            for jj in range(nnz):
                v = w[x_indices[jj]] + x_values[jj] * c
                w[x_indices[jj]] = v
                if not abs(v) < math.inf:
                    finite = False
        elif LANES:  # (added by the group, with the row's other heads)
            lane[2][lane[1]] = c
        else:  # (dense data: the trainer checks the weights; this vectorises)
            for j in range(nnz):
                w[j] += x_values[j] * c
        if not finite:
            loss_sum[k] = math.nan
    if fit_intercept:
        # the one-class SVM's offset step; ``update`` itself for the others
        intercept_update = update - eta * intercept_alpha
        if intercept_update != 0.0:
            intercept[k] += intercept_update * intercept_decay

    if AVERAGING and average <= t:
        num_iter = t - average + 1.0
        mu = 1.0 / num_iter
        if update != 0.0:
            c_avg = avg_a[k] * (-update / ws)
            a = avg_coef[k]
            finite = True
            if SPARSE:
                for jj in range(nnz):
                    v = a[x_indices[jj]] + x_values[jj] * c_avg
                    a[x_indices[jj]] = v
                    if not abs(v) < math.inf:
                        finite = False
            else:
                for j in range(nnz):
                    a[j] += x_values[j] * c_avg
            if not finite:
                loss_sum[k] = math.nan
        if num_iter > 1.0:
            avg_b[k] /= 1.0 - mu
        avg_a[k] += mu * avg_b[k] * ws
        avg_intercept[k] = running_mean(avg_intercept[k], intercept[k], num_iter)

    if PENALTY == ELASTICNET:
        l1_u[k] += l1_penalty_step(eta, penalty_alpha, l1_ratio)
        u = l1_u[k]
        q = l1_q[k]
        for jj in range(nnz):
            j = x_indices[jj] if SPARSE else jj
            v = w[j]
            w[j] = l1_truncate(v, ws, u, q[j])
            q[j] += ws * (w[j] - v)


def sgd_epoch_per_sample(data, targets, order, active, heads, rule, t_start, n_groups,
                         folds, splits):  # fmt: skip
    """One epoch of scikit-learn's per-sample SGD for every active head.

    ``data`` (``bundles.Data``), ``targets`` (``bundles.LinearTargets``),
    ``heads`` (``bundles.PerSampleHeads``: updated in place, the epoch's loss
    and objective added to its sums) and ``rule`` (``bundles.PerSampleRule``)
    are the bundles the trainer builds; ``active`` flags the heads to train.
    Heads are split into ``n_groups`` groups run in parallel; each group reads
    ``X`` once, in its order, and updates its heads sample by sample.
    ``order`` is 2-D: one row shared by all heads, or one row per block of
    consecutive heads (then ``n_groups`` must be a multiple of the number of
    rows: each block is cut into equal groups). ``t``
    (scikit-learn's sample counter) starts at ``t_start``. ``coef`` holds the
    scaled vectors ``v`` with ``w = wscale * v``, and the average is lazy
    (``avg_a``/``avg_b``); both carry over between the epochs of one fit and
    are folded in by ``fold_scale`` at its end, as scikit-learn does (the L1
    truncation does not commute with folding). ``PA1`` skips all-zero rows
    without counting them in ``t``, as scikit-learn does. Arrays a setting
    leaves unused (``avg_*`` without averaging, ``l1_q`` without an L1 part)
    may have zero columns.

    ``folds`` (``bundles.ColumnFolds``): the folds a ``partial_fit`` call left
    pending on the columns this one reads, applied by each group to its
    heads before it trains them (``_apply_column_folds``: the columns are then
    in that core's cache for the epoch), the columns' weights saved for the
    roll-back in the same pass; the caller marks the columns current.

    ``splits`` (``bundles.Splits``): a head trains on the rows of its split
    only, with its split's ``t``; empty for a fit without splits.

    Returns ``t`` after the epoch. Runs the variant of ``plan``
    (compiled on first use, then loaded from Numba's cache), which is
    ``sgd_epochs_per_sample``'s too: this is a call of one epoch.
    """
    return sgd_epochs_per_sample(data, targets, order, active, heads, rule, t_start,
                                 n_groups, folds, splits,
                                 one_epoch(heads.coef.shape[0]))[2]  # fmt: skip


def one_epoch(n_heads):
    """The ``PerSampleEpochs`` of a call of one epoch: no shuffle, no rule."""
    return PerSampleEpochs(
        1, np.zeros(0, dtype=np.int64), False, -math.inf, 1, False,
        np.zeros(n_heads, np.int64), np.zeros(n_heads), np.zeros(n_heads, np.int64),
        np.ones(n_heads, np.uint8), np.ones(n_heads), np.zeros((1, n_heads)),
    )  # fmt: skip


#: the ``Splits`` of a fit without cross-validation splits: never read nor
#: written (the kernel's ``SPLITS`` variant is off), so every call shares it
NO_SPLITS = Splits(np.zeros((1, 0), np.uint8), np.zeros(0, np.int64),
                   np.zeros((1, 1)))  # fmt: skip


def sgd_epochs_per_sample(data, targets, order, active, heads, rule, t_start,
                          n_groups, folds, splits, epochs):  # fmt: skip
    """Up to ``epochs.max_epochs`` epochs of ``sgd_epoch_per_sample`` in one
    call (``bundles.PerSampleEpochs``): a fit that needs no Python between its
    epochs (no verbose output, callback or validation score) pays no Python
    per epoch.

    Before each epoch every row of ``order`` is shuffled in place with its
    seed (scikit-learn's per-epoch shuffle); after it, the heads' loss sums
    go to ``epochs.loss_curve``'s row, and with ``epochs.stop`` each track's
    objective (the kernel's running sum of scikit-learn's objective, over
    ``n_train``) goes through scikit-learn's stopping rule (``_math.stopping``:
    a stalled track divides its rate by 5 under 'adaptive', else stops; the
    call ends when no track is active). ``heads``' loss and objective sums
    hold the last epoch's. An epoch whose loss, intercepts or scales leave
    the floats (or, on dense data, a weight) ends the call: the caller rolls
    back and runs the epochs one by one (the same model, and the epoch to
    report).

    Returns ``(epochs run, diverged, t)``.
    """
    return plan(data, targets, order, active, heads, rule, t_start, n_groups, folds,
                splits, epochs)()  # fmt: skip


def _per_sample_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active,
    coef, wscale, intercept, avg_coef, avg_intercept, avg_a, avg_b,
    l1_q, l1_u, sq_norm, l1_norm, loss_sum, objective_sum,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    fit_intercept, intercept_decay, intercept_alpha, average, wscale_floor,
    track_objective, loss_sums, t_start, n_groups,
    fold_columns, fold_first, fold_wscale, fold_avg_a, fold_avg_b, fold_averaging,
    fold_n_events, saved_coef, saved_avg, zero_l1,
    excluded, head_split, split_t,
    max_epochs, seeds, stop, tol, n_iter_no_change, adaptive, track_of_head, best,
    no_improvement, active_track, n_train, loss_curve,
):  # fmt: skip
    """Template of ``sgd_epochs_per_sample``'s variants (see ``specialize``).

    Reads ``LOSS``, ``PENALTY``, ``SCHEDULE``, ``TASK``, ``SPARSE``,
    ``AVERAGING``, ``TRACK_OBJECTIVE``, ``LOSS_SUMS``, ``HEAD_BLOCKS``,
    ``SPLITS`` and ``PARALLEL`` as constants; the arguments they stand for
    (``loss_code``, ...) are ignored.
    """
    n_heads = coef.shape[0]
    heads = (coef, wscale, intercept, avg_coef, avg_intercept, avg_a, avg_b,
             l1_q, l1_u, sq_norm, l1_norm, loss_sum, objective_sum)  # fmt: skip
    settings = (epsilon, alpha, l1_ratio, power_t, optimal_t0, fit_intercept,
                intercept_decay, intercept_alpha, average, wscale_floor, schedule,
                penalty != NO_PENALTY)  # fmt: skip
    data = (X_data, X_indices, X_indptr, n_features)
    targets = (y_float, y_class, sample_weight)
    folds = (fold_columns, fold_first, fold_wscale, fold_avg_a, fold_avg_b,
             fold_averaging, fold_n_events, saved_coef, saved_avg, zero_l1)  # fmt: skip
    # each group's targets in its visiting order (the group allocates nothing)
    m = order.shape[1]
    y_float_o = np.empty((n_groups, m), dtype=y_float.dtype)
    y_class_o = np.empty((n_groups, m), dtype=y_class.dtype)
    sample_weight_o = np.empty((n_groups, m), dtype=sample_weight.dtype)
    t_end = np.empty(n_groups)
    # each group's active heads at [k_lo, k_hi); with splits, a row's of them
    # at n_heads + [k_lo, k_hi). A row per group, padded: the groups write
    # theirs at every sample, and must not share a cache line; so for the
    # heads' scalars, which each group trains in its own padded copy
    # (``_own_heads``)
    width = n_heads + CACHE_LINE_SPACING
    head_list = np.empty((n_groups, 2 * width), dtype=np.int64)
    own_width = width if PARALLEL else 0  # (serial: one group, no copies)
    own_wscale = np.empty((n_groups, own_width), dtype=wscale.dtype)
    own_scalars = np.empty((n_groups, OWN_SCALARS * own_width))
    # with LANES, each group's lane buffer (its weights, feature-major), its
    # heads' update coefficients and dot products: the widest group's heads
    # rounded up to whole vectors, and the dots to whole calls of lane_step
    n_lanes = n_dots = 0
    if LANES:
        widest = -(-n_heads // n_groups)
        n_lanes = -(-widest // LANE_WIDTH) * LANE_WIDTH
        n_dots = -(-n_lanes // (LANE_WIDTH * STEP_BLOCKS)) * LANE_WIDTH * STEP_BLOCKS
    lane_space = np.empty((n_groups, coef.shape[1] * n_lanes + ALIGN),
                          dtype=coef.dtype)  # fmt: skip
    lane_c = np.empty((n_groups, n_lanes + CACHE_LINE_SPACING))  # (float64: as c)
    lane_dot = np.empty((n_groups, n_dots + CACHE_LINE_SPACING), dtype=coef.dtype)
    t = t_start
    n_run = 0
    diverged = False
    for epoch in range(max_epochs):
        if epoch > 0:
            for k in range(n_heads):
                loss_sum[k] = 0.0
                objective_sum[k] = 0.0
        for r in range(seeds.shape[0]):
            shuffle_as_sklearn(order[r], seeds[r])
        for g in prange(n_groups):
            t_end[g] = _per_sample_group(
                data, targets, order, active, head_positive, weight_pos, weight_neg,
                eta, t, g * n_heads // n_groups, (g + 1) * n_heads // n_groups,
                heads, settings, folds, epoch == 0,
                (y_float_o[g], y_class_o[g], sample_weight_o[g]), head_list[g],
                (excluded, head_split, split_t[g]), (own_wscale[g], own_scalars[g]),
                (lane_space[g], lane_c[g], lane_dot[g]),
            )  # fmt: skip
        t = t_end[0]
        n_run += 1
        for k in range(n_heads):
            loss_curve[epoch, k] = loss_sum[k]
            if not (np.isfinite(loss_sum[k]) and np.isfinite(intercept[k])
                    and np.isfinite(wscale[k])):  # fmt: skip
                diverged = True
        if not SPARSE and max_epochs > 1:
            for k in range(n_heads):
                for j in range(coef.shape[1]):
                    if not np.isfinite(coef[k, j]):
                        diverged = True
            if AVERAGING:
                for k in range(n_heads):
                    if not np.isfinite(avg_intercept[k]):
                        diverged = True
                    for j in range(avg_coef.shape[1]):
                        if not np.isfinite(avg_coef[k, j]):
                            diverged = True
        if diverged:
            break
        # without TRACK_OBJECTIVE (tol=None, early stopping) the caller's tol
        # is -inf and the rule never fires: pruned, so such a fit compiles none
        if TRACK_OBJECTIVE and stop:
            any_active = _stopping_rule(objective_sum, eta, track_of_head, best,
                                        no_improvement, active_track, active, tol,
                                        n_iter_no_change, adaptive, n_train)  # fmt: skip
            if not any_active:
                break
    return n_run, diverged, t


@cpu_kernel(fastmath=FASTMATH_EXACT, parallel=False)
def _stopping_rule(objective_sum, eta, track_of_head, best, no_improvement,
                   active_track, active, tol, n_iter_no_change, adaptive,
                   n_train):  # fmt: skip
    """scikit-learn's stopping rule on each track after an epoch
    (``epoch_verdict``; ``adaptive_rate`` under 'adaptive'); the heads of a
    stopped track stop. Returns whether a track is still active."""
    n_heads = eta.shape[0]
    any_active = False
    for track in range(active_track.shape[0]):
        value = 0.0
        first = -1
        for k in range(n_heads):
            if track_of_head[k] == track:
                value += objective_sum[k]
                if first < 0:
                    first = k
        best[track], no_improvement[track], stalled = epoch_verdict(
            value / n_train[track], best[track], no_improvement[track], tol,
            n_iter_no_change, active_track[track] != 0,
        )  # fmt: skip
        if stalled:
            rate = adaptive_rate(eta[first]) if adaptive else 0.0
            if rate > 0.0:
                for k in range(n_heads):
                    if track_of_head[k] == track:
                        eta[k] = rate
                no_improvement[track] = 0
            else:
                active_track[track] = 0
        if active_track[track]:
            any_active = True
    for k in range(n_heads):
        active[k] = active_track[track_of_head[k]]
    return any_active


@cpu_inline
def _apply_column_folds(coef, avg_coef, l1_q, k, folds):
    """The pending folds of head ``k`` on the call's columns (``ColumnFolds``),
    each as an eager fold applies it (``fold_coordinate``); the weights after
    them saved; the L1 sums of those columns restarted."""
    (columns, first, wscale, avg_a, avg_b, averaging, n_events, saved_coef,
     saved_avg, zero_l1) = folds  # fmt: skip
    save_avg = saved_avg.shape[1] > 0
    n = columns.shape[0]
    w = coef[k]
    for idx in range(n):
        if idx + FOLD_PREFETCH_AHEAD < n:  # scattered columns of a long row
            prefetch(w, columns[idx + FOLD_PREFETCH_AHEAD])
        j = columns[idx]
        for e in range(first[idx], n_events):
            fold_coordinate(coef, avg_coef, k, j, False, wscale[e, k], avg_a[e, k],
                            avg_b[e, k], averaging[e])  # fmt: skip
        saved_coef[k, idx] = coef[k, j]
        if save_avg:
            saved_avg[k, idx] = avg_coef[k, j]
        if zero_l1:
            l1_q[k, j] = 0.0


@cpu_configured(inline=False, refcounts=False)
def _per_sample_group(
    data, targets, orders, active, head_positive, weight_pos, weight_neg, eta,
    t_start, k_lo, k_hi, heads, settings, folds, apply_folds, in_order, head_list,
    splits, own, lane_buffers,
):  # fmt: skip
    """One epoch of heads ``k_lo:k_hi``: read ``X`` once, in their order.

    ``orders`` holds one order for all heads (one row) or one per block of
    consecutive heads (a group is then one block, or an equal part of one:
    scikit-learn shuffles each one-vs-rest head with a seed of its own; a
    grid's heads of one class share it). The heads' pending folds first
    (``folds``); the targets gathered into ``in_order``'s buffers. A function
    of its own (not
    inlined): the parallel kernel's loop body is then one call, compiled
    once and shared with the serial kernel; without reference counting
    (``refcounts=False``: it takes views of rows and heads per sample).
    With ``HEAD_BLOCKS`` the group's active heads (listed in its part of
    ``head_list``) are scored ``HEAD_BLOCK`` at a time (``row_dot4``): a
    head's step changes its own weights only, so the same bits. With
    ``SPLITS`` (``splits``: ``bundles.Splits``' rows' exclusions and heads'
    splits, and this group's row of counters) a row trains the heads of the
    splits it belongs to, each with its split's ``t``. In the parallel
    kernel (``PARALLEL``) the heads' scalars (scale, intercept, sums, ...)
    train in the group's own copies (``own``, see ``_own_heads``), put back
    at the end. With ``LANES`` (a dense grid's pass) the group's weights
    train feature-major in its lane buffer (``lane_buffers``: the buffer, the
    coefficients and the dot products, see ``_lane_group``), copied in and
    back out; after the heads' steps on a row, one pass over the buffer adds
    their updates and sums the next row's dot products in vector lanes
    (``_lane_pass``); the group's first row's are summed before the loop.
    """
    if apply_folds:
        for k in range(k_lo, k_hi):
            _apply_column_folds(heads[0], heads[3], heads[7], k, folds)
    shared_heads = heads
    if PARALLEL:  # the heads' scalars in the group's own arrays
        heads = _own_heads(heads, own, k_lo, k_hi)
    X_data, X_indices, X_indptr, n_features = data
    # the heads of one order are consecutive, and a group holds one order's
    order = orders[k_lo * orders.shape[0] // heads[0].shape[0]]
    y_float_o, y_class_o, sample_weight_o = in_order
    gather_into(targets[0], targets[1], targets[2], order, y_float_o, y_class_o,
                sample_weight_o)  # fmt: skip
    coef, wscale, intercept = heads[0], heads[1], heads[2]
    m = order.shape[0]
    t = t_start
    excluded, head_split, split_t = splits
    alpha, power_t, optimal_t0 = settings[1], settings[3], settings[4]
    schedule = settings[10]
    shared_rate = not rate_reads_alpha(schedule)
    rate_eta = rate_t = last_rate = -1.0
    n_active = 0
    if HEAD_BLOCKS or SPLITS:
        for k in range(k_lo, k_hi):
            if active[k]:
                head_list[k_lo + n_active] = k
                n_active += 1
    n_lanes = 0
    if LANES:
        lane_flat, lane_w, lane_c, lane_dot = _lane_group(coef, k_lo, k_hi,
                                                          lane_buffers)  # fmt: skip
        n_lanes = lane_w.shape[1]
        if m > 0 and n_active > 0:  # the first row's dot products (c is zero)
            first_row = row_slices(X_data, X_indices, X_indptr, n_features, SPARSE,
                                   order[0])[0]  # fmt: skip
            _lane_pass(lane_flat, n_lanes, first_row, lane_c, first_row, lane_dot)
    for idx in range(m):
        if idx + PREFETCH_AHEAD < m:
            prefetch_row(X_data, X_indices, X_indptr, n_features, SPARSE,
                         order[idx + PREFETCH_AHEAD])  # fmt: skip
        i = order[idx]
        x_values, x_indices = row_slices(
            X_data, X_indices, X_indptr, n_features, SPARSE, i
        )
        x_sqnorm = 0.0
        if SCHEDULE >= PA1:
            x_sqnorm = row_sqnorm(x_values)
        skip = SCHEDULE == PA1 and x_sqnorm == 0.0
        if HEAD_BLOCKS or SPLITS:
            n_row = n_active
            first = k_lo
            if SPLITS:  # the active heads this row trains, after the group's list
                n_row = 0
                first = heads[0].shape[0] + k_lo
                for a in range(n_active):
                    k = head_list[k_lo + a]
                    if not excluded[head_split[k], i]:
                        head_list[first + n_row] = k
                        n_row += 1
            b = 0
            while b < n_row:
                # a short last block repeats its last head: the sums overlap,
                # so the spare ones cost next to nothing (lanes: all at once)
                n_block = n_row - b if LANES else min(HEAD_BLOCK, n_row - b)
                if not LANES:
                    last = first + b + n_block - 1
                    k0 = head_list[first + b]
                    k1 = head_list[min(first + b + 1, last)]
                    k2 = head_list[min(first + b + 2, last)]
                    k3 = head_list[min(first + b + 3, last)]
                    dots = row_dot4(x_values, x_indices, SPARSE, coef[k0], coef[k1],
                                    coef[k2], coef[k3])  # fmt: skip
                for q in range(n_block):
                    k = head_list[first + b + q]
                    y = head_target(TASK, LOSS, y_float_o, y_class_o, head_positive,
                                    idx, k)  # fmt: skip
                    p = (lane_dot[k - k_lo] if LANES else dots[q]) * wscale[k]
                    p += intercept[k]
                    t_k = split_t[head_split[k]] if SPLITS else t
                    # heads with the same base rate and counter share a rate
                    # that reads no alpha (every schedule but 'optimal')
                    if shared_rate and eta[k] == rate_eta and t_k == rate_t:
                        rate = last_rate
                    else:
                        rate = learning_rate(schedule, eta[k], alpha[k], power_t,
                                             optimal_t0[k], t_k, 1)  # fmt: skip
                        rate_eta, rate_t, last_rate = eta[k], t_k, rate
                    _per_sample_head_step(
                        x_values, x_indices, x_sqnorm, skip, y, p,
                        sample_weight_o[idx], k, t_k, eta[k], rate, weight_pos,
                        weight_neg, heads, settings,
                        (lane_w, k - k_lo, lane_c) if LANES else NO_LANE,
                    )  # fmt: skip
                b += n_block
            if LANES and n_active > 0:  # the updates, the next row's dot products
                following = order[idx + 1] if idx + 1 < m else i
                next_row = row_slices(X_data, X_indices, X_indptr, n_features, SPARSE,
                                      following)[0]  # fmt: skip
                _lane_pass(lane_flat, n_lanes, x_values, lane_c, next_row, lane_dot)
                for q in range(n_lanes):
                    lane_c[q] = 0.0
            if SPLITS and not skip:
                for s in range(excluded.shape[0]):  # (split_t is padded)
                    if not excluded[s, i]:
                        split_t[s] += 1.0
        else:
            for k in range(k_lo, k_hi):
                if not active[k]:
                    continue
                y = head_target(TASK, LOSS, y_float_o, y_class_o, head_positive, idx,
                                k)  # fmt: skip
                p = row_dot(x_values, x_indices, SPARSE, coef[k]) * wscale[k]
                p += intercept[k]
                rate = learning_rate(schedule, eta[k], alpha[k], power_t,
                                     optimal_t0[k], t, 1)  # fmt: skip
                _per_sample_head_step(
                    x_values, x_indices, x_sqnorm, skip, y, p, sample_weight_o[idx],
                    k, t, eta[k], rate, weight_pos, weight_neg, heads, settings,
                    NO_LANE,
                )  # fmt: skip
        if not skip:
            t += 1.0
    if LANES:
        for k in range(k_lo, k_hi):
            for j in range(lane_w.shape[0]):
                coef[k, j] = lane_w[j, k - k_lo]
    if PARALLEL:
        _shared_heads(shared_heads, own, k_lo, k_hi)
    return t


@cpu_configured(inline=False, refcounts=False)
def _lane_pass(lane_flat, n_lanes, x, c, x_next, dots):
    """A row's updates of a group's heads in lanes (their coefficients in
    ``c``, zero where a head does not update), and the dot products of the
    next row ``x_next`` with the weights they leave, into ``dots``
    (``lanes.lane_step``): four blocks of heads a call, then two; an odd last
    block is given twice, the second time with ``c``'s spare zero lanes (at
    ``n_lanes``), and its sums land in ``dots``' spare room. A function of its
    own (its two calls, and its two vector loops, compiled once: inlined, the
    grid's kernel took 1.3 s longer to compile than without lanes)."""
    n_blocks = n_lanes // LANE_WIDTH
    q = 0
    while n_blocks - q >= STEP_BLOCKS:
        at = q * LANE_WIDTH
        bases = (at, at + LANE_WIDTH, at + 2 * LANE_WIDTH, at + 3 * LANE_WIDTH)
        lane_step(lane_flat, bases, n_lanes, x, c, bases, x_next, dots, at)
        q += STEP_BLOCKS
    while q < n_blocks:
        at = q * LANE_WIDTH
        pair = q + 1 < n_blocks
        second = at + LANE_WIDTH if pair else at
        lane_step(lane_flat, (at, second), n_lanes, x, c,
                  (at, second if pair else n_lanes), x_next, dots, at)  # fmt: skip
        q += 2


@cpu_configured
def _lane_group(coef, k_lo, k_hi, lane_buffers):
    """A group's lane buffer (flat, and as ``(features, lanes)``), update
    coefficients and dot products, its heads' weights copied in
    (``_per_sample_group`` with ``LANES``).

    ``lane_buffers`` is the group's ``(space, c, dots)``: the buffer is a
    ``(features, lanes)`` C-order view of ``space`` aligned to ``ALIGN``
    bytes, head ``k`` in column ``k - k_lo``, its columns rounded up to
    whole vectors (the spare ones zero: they are summed, never kept)."""
    space, c, dots = lane_buffers
    n_features = coef.shape[1]
    n_lanes = -(-(k_hi - k_lo) // LANE_WIDTH) * LANE_WIDTH
    skip = (-(space.ctypes.data % ALIGN) % ALIGN) // space.itemsize
    flat = space[skip : skip + n_features * n_lanes]
    lane_w = flat.reshape((n_features, n_lanes))
    for j in range(n_features):
        for q in range(n_lanes):
            lane_w[j, q] = coef[k_lo + q, j] if q < k_hi - k_lo else 0.0
    for q in range(n_lanes + LANE_WIDTH):  # (the spare lanes stay zero)
        c[q] = 0.0
    return flat, lane_w, c, dots


#: The per-head scalars a group trains in its own copies (``_own_heads`` and
#: ``_shared_heads`` list them; the scale apart, in its own dtype).
OWN_SCALARS = 9


@cpu_configured
def _own_heads(heads, own, k_lo, k_hi):
    """``heads`` with a group's own arrays in place of the shared per-head
    scalars, those of heads ``k_lo:k_hi`` copied in (``_shared_heads`` puts
    them back). Groups running at once write their heads' scalars at every
    sample: in the shared arrays, neighbouring heads of two groups share a
    cache line, which the cores would pass back and forth at every sample
    (two threads were slower than one). ``own`` is ``(wscale, the rest)``:
    the rest end to end in one row, each padded by ``CACHE_LINE_SPACING``."""
    (coef, wscale, intercept, avg_coef, avg_intercept, avg_a, avg_b, l1_q, l1_u,
     sq_norm, l1_norm, loss_sum, objective_sum) = heads  # fmt: skip
    own_wscale, o = own
    w = own_wscale.shape[0]  # a head's scalar f at o[f * w + k]
    for k in range(k_lo, k_hi):
        own_wscale[k] = wscale[k]
        o[k], o[w + k], o[2 * w + k] = intercept[k], avg_intercept[k], avg_a[k]
        o[3 * w + k], o[4 * w + k], o[5 * w + k] = avg_b[k], l1_u[k], sq_norm[k]
        o[6 * w + k], o[7 * w + k] = l1_norm[k], loss_sum[k]
        o[8 * w + k] = objective_sum[k]
    return (coef, own_wscale, o[:w], avg_coef, o[w : 2 * w], o[2 * w : 3 * w],
            o[3 * w : 4 * w], l1_q, o[4 * w : 5 * w], o[5 * w : 6 * w],
            o[6 * w : 7 * w], o[7 * w : 8 * w], o[8 * w : 9 * w])  # fmt: skip


@cpu_configured
def _shared_heads(heads, own, k_lo, k_hi):
    """Put the scalars of heads ``k_lo:k_hi`` back from a group's own arrays
    (``_own_heads``) into the shared ``heads``."""
    (coef, wscale, intercept, avg_coef, avg_intercept, avg_a, avg_b, l1_q, l1_u,
     sq_norm, l1_norm, loss_sum, objective_sum) = heads  # fmt: skip
    own_wscale, o = own
    w = own_wscale.shape[0]
    for k in range(k_lo, k_hi):
        wscale[k] = own_wscale[k]
        intercept[k], avg_intercept[k], avg_a[k] = o[k], o[w + k], o[2 * w + k]
        avg_b[k], l1_u[k], sq_norm[k] = o[3 * w + k], o[4 * w + k], o[5 * w + k]
        l1_norm[k], loss_sum[k] = o[6 * w + k], o[7 * w + k]
        objective_sum[k] = o[8 * w + k]


_PER_SAMPLE_VARIANTS = {}


def per_sample_settings(loss_code, penalty, schedule, task, is_sparse, average,
                        track_objective, loss_sums=True, head_blocks=False,
                        splits=False, lanes=False):  # fmt: skip
    """The compile-time settings of a per-sample fit (``_per_sample_epoch``'s
    constants). The step-size schedules (``constant``, ``optimal``,
    ``invscaling``, ``adaptive``: a formula each, chosen at run time) share
    one code; the passive-aggressive rules have their own. Penalties: see
    ``penalty_setting``. Without ``loss_sums`` the heads' loss sums stay zero
    (an update that leaves the floats still marks them NaN). ``lanes``: a
    grid's heads train in vector lanes (``_per_sample_group``), where the
    pass allows it (``lanes_apply``). (The parallel flag is ``plan``'s:
    ``PARALLEL``.)"""
    return dict(
        LOSS=int(loss_code),
        PENALTY=penalty_setting(penalty),
        SCHEDULE=int(schedule) if schedule in (PA1, PA2) else CONSTANT,
        TASK=int(task),
        SPARSE=bool(is_sparse),
        AVERAGING=average > 0,
        TRACK_OBJECTIVE=bool(track_objective),
        LOSS_SUMS=bool(loss_sums),
        HEAD_BLOCKS=bool(head_blocks),
        SPLITS=bool(splits),
        LANES=bool(lanes),
    )


def lanes_apply(splits, is_sparse, penalty, average, track_objective, x_dtype,
                coef_dtype):  # fmt: skip
    """Whether a pass trains its heads in vector lanes (``LANES``): a grid's
    (``splits``) on dense rows of the weights' dtype, where a head's update
    is one coefficient times the row. Averaging, the L1 penalty's
    truncation and the objective's norms (``tol``) read or write each weight
    in the head's own step, so those passes keep the per-head loop."""
    return (
        bool(splits) and not is_sparse and average <= 0 and not track_objective
        and penalty_setting(penalty) != ELASTICNET and x_dtype == coef_dtype
    )  # fmt: skip


def is_parallel(n_heads):
    """Whether ``plan``'s kernel for ``n_heads`` heads is the parallel one."""
    return n_heads > 1


def plan(data, targets, order, active, heads, rule, t_start, n_groups, folds, splits,
         epochs):  # fmt: skip
    """The ``_jit.Plan`` of ``sgd_epoch_per_sample`` on these arguments.

    The compiled kernel takes the bundles' fields in their order, flat
    (``bundles.flatten``), as ``cpu.plan``'s does and for its
    reason (unboxing named tuples costs compile time).

    Its settings come from the arguments (``per_sample_settings``); it is
    serial for one head (a binary or regression fit: no parallel region to
    compile or enter) and parallel over head groups otherwise.
    """
    # heads sharing an order are scored in blocks: not a binary fit, nor
    # one-vs-rest with a shuffle per head
    head_blocks = heads.coef.shape[0] > order.shape[0]
    parallel = is_parallel(heads.coef.shape[0])
    has_splits = splits.head_split.shape[0] > 0
    settings = per_sample_settings(
        rule.loss_code, rule.penalty, rule.schedule, targets.task, data.is_sparse,
        rule.average, rule.track_objective, rule.loss_sums, head_blocks, has_splits,
        lanes_apply(has_splits, data.is_sparse, rule.penalty, rule.average,
                    rule.track_objective, data.X_data.dtype, heads.coef.dtype),
    )  # fmt: skip
    key = (tuple(settings.values()), parallel)
    kernel = _PER_SAMPLE_VARIANTS.get(key)
    if kernel is None:
        kernel = specialize(
            _per_sample_epoch, settings, fastmath=FASTMATH_EXACT, parallel=parallel
        )
        _PER_SAMPLE_VARIANTS[key] = kernel
    return Plan(kernel, flatten(data, targets, order, active, heads, rule, t_start,
                                n_groups, folds, splits, epochs),
                parallel)  # fmt: skip


@cpu_kernel(fastmath=FASTMATH_EXACT, parallel=False)
def fold_scale(coef, wscale, avg_coef, avg_a, avg_b, averaging):
    """Fold every head's ``wscale`` and lazy average into its arrays."""
    for k in range(coef.shape[0]):
        fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, averaging, False, k)
