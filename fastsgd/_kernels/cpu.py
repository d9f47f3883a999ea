"""CPU kernels of the linear models: the mini-batch epoch, and what every
linear CPU kernel shares.

One call trains one epoch. The data layout and the targets are ``rows.py``'s
(dense ``X`` as its flat C-order view with empty index arrays, CSR as its
three arrays; per head, its positive class and class weights). Heads:
``coef`` is ``(n_heads, n_features)``. ``task`` says what a head's target is
(``codes.REGRESSION``: ``y_float``; ``ONE_VS_REST``: +1 when ``y_class ==
head_positive[k]``; ``MULTINOMIAL``: a softmax over all heads with label
``y_class``).

This module binds the math layer and the shared helpers (``rows.py``,
``steps.py``) for the CPU, once, for every linear CPU kernel
(``cpu_per_sample.py`` takes them from here); gathers and prefetches rows;
holds the mini-batch kernels, their variants and scratch, and the shuffles.

Compile only what runs: ``sgd_epoch_minibatch`` (and ``cpu_per_sample``'s
``sgd_epoch_per_sample``) are thin Python entry points. From their arguments
they pick the kernel of the fit's configuration (``minibatch_variant``): the
template ``_minibatch_epoch`` (or ``_lazy_sparse_epoch``) compiled by
``_jit.specialize`` with the loss, penalty, task, layout and the optional
parts (averaging, momentum) as compile-time constants, so that Numba prunes
every branch the fit never takes before it types the code. Each variant is
compiled once and cached on disk. The entry points take the argument
bundles of ``bundles.py`` (data, targets, parameters, rule, counters,
scratch), as their GPU twins do, and pass the variant their fields flat
(``bundles.flatten``: unboxing bundles in the compiled kernel's Python
wrapper cost compile time); the arguments that select the variant
(``rule.loss_code``, ...) are passed on with the rest, and the variant
ignores them.

Determinism: mini-batch gradients are reduced over the samples of the batch
in order, inside one thread per (head, feature block), so the thread count
never changes the result.
"""

import numpy as np
from numba import prange

from fastsgd._kernels import rows, steps
from fastsgd._kernels._jit import (
    FASTMATH,
    cpu_called,
    cpu_configured,
    cpu_inline,
    cpu_kernel,
    matmul_into,
    prefetch,
    specialize,
)
from fastsgd._kernels.bundles import MinibatchScratch, flatten
from fastsgd._math import losses, schedules, updates
from fastsgd._math.codes import (
    ELASTICNET,
    INVSCALING,
    L2,
    LOG_LOSS,
    MULTINOMIAL,
    NO_PENALTY,
    OPTIMAL,
)

loss_value = cpu_inline(losses.loss_value)
loss_derivative = cpu_inline(losses.loss_derivative)
clip_derivative = cpu_inline(losses.clip_derivative)
# exact IEEE arithmetic, called: re-association spoils the cross-entropy
softmax_cross_entropy = cpu_called(losses.softmax_cross_entropy)
learning_rate = cpu_inline(schedules.learning_rate)
penalty_value = cpu_inline(updates.penalty_value)
running_mean = cpu_inline(updates.running_mean)
penalty_gradient = cpu_inline(updates.penalty_gradient)
momentum_step = cpu_inline(updates.momentum_step)
l2_shrink_factor = cpu_inline(updates.l2_shrink_factor)
l1_truncate = cpu_inline(updates.l1_truncate)

# Row access, a head's derivative and the mini-batch step's parts: one source
# with the GPU kernels (``rows.py``, ``steps.py``)
row_slices = cpu_inline(rows.row_slices)
row_dot = cpu_inline(rows.row_dot)
row_sqnorm = cpu_inline(rows.row_sqnorm)
head_target = cpu_inline(rows.head_target)
class_weight = cpu_inline(rows.class_weight)
weighted_derivative = cpu_inline(rows.weighted_derivative)
batch_counters = cpu_inline(steps.batch_counters)
sum_chunks = cpu_inline(steps.sum_chunks)

#: Features per work unit of the mini-batch update phase.
FEATURE_BLOCK = 64

#: Samples per work unit of the mini-batch gradient phase (dense ``X``). Fixed,
#: so that the order of every sum is independent of the thread count.
CHUNK = 64

#: How many samples ahead the per-sample loop prefetches rows.
PREFETCH_AHEAD = 8

#: How many samples ahead the mini-batch gradient loop prefetches rows (its
#: work per row is shorter than the per-sample step's, so it looks further).
MINIBATCH_PREFETCH_AHEAD = 16

#: A mini-batch below this many multiply-adds runs the serial variant of the
#: kernel on one thread: a parallel region costs a few microseconds, and far
#: more when other processes hold the cores. Above it, reading the batch's
#: rows in random order is what costs (a 256-row batch of 100 float32 features
#: takes ~27 us on one thread), and two threads read them almost twice as
#: fast; one parallel region per batch (the update phase is serial when small,
#: ``PARALLEL_UNITS``).
PARALLEL_WORK = 1 << 12
# (The MLP kernels' ``cpu_mlp.PARALLEL_WORK`` is 2**20: their batches cost
# products, not row reads, and wake the threads once per phase.)

#: The weight-update phase of a parallel mini-batch step spreads its
#: (head, feature block) units over threads only from this many units on;
#: below, one thread updates them faster than a parallel region starts.
PARALLEL_UNITS = 32

# Compile-time settings of the mini-batch templates, bound per configuration
# by ``_jit.specialize`` (these placeholders are never compiled): the loss and
# penalty codes, whether the rate is constant (the lazy CSR kernel with
# momentum), the task, whether ``X`` is CSR, and whether the fit averages or
# keeps momentum buffers.
LOSS = PENALTY = TASK = CONSTANT_RATE = None
SPARSE = AVERAGING = MOMENTUM = None


# --------------------------------------------------------------------------
# Row access (``rows.py``: dense rows are contiguous; CSR rows go through
# their indices)
# --------------------------------------------------------------------------


@cpu_inline
def gather_in_order(y_float, y_class, sample_weight, order):
    """Per-sample scalars in visiting order, so the epoch reads them sequentially.

    Gathering them up front (from arrays small enough to stay cached) avoids
    three cache misses per sample while ``X`` streams through memory.
    """
    m = order.shape[0]
    y_float_o = np.empty(m, dtype=y_float.dtype)
    y_class_o = np.empty(m, dtype=y_class.dtype)
    sample_weight_o = np.empty(m, dtype=sample_weight.dtype)
    for idx in range(m):
        i = order[idx]
        y_float_o[idx] = y_float[i]
        y_class_o[idx] = y_class[i]
        sample_weight_o[idx] = sample_weight[i]
    return y_float_o, y_class_o, sample_weight_o


@cpu_inline
def prefetch_row(X_data, X_indices, X_indptr, n_features, is_sparse, i):
    """Ask the CPU to start loading row ``i`` (up to 128 values and, for CSR, indices)."""
    if is_sparse:
        start = X_indptr[i]
        stop = min(X_indptr[i + 1], start + 128)
        for jj in range(start, stop, 16):
            prefetch(X_indices, jj)
    else:
        start = i * n_features
        stop = start + min(n_features, 128)
    for jj in range(start, stop, 8):
        prefetch(X_data, jj)


def penalty_setting(penalty):
    """The compiled penalty code of a penalty: no penalty runs L2's (with a zero
    ``alpha``: a shrink by exactly 1), L1 runs elastic-net's (``l1_ratio=1``:
    the same roundings). Only the L1 part's truncation needs code of its own."""
    return L2 if penalty in (NO_PENALTY, L2) else ELASTICNET


# --------------------------------------------------------------------------
# Mini-batch training: mean gradient, torch.optim.SGD momentum rule
# --------------------------------------------------------------------------


@cpu_configured
def _score_derivatives(scores, y_float_o, y_class_o, head_positive, weight_pos,
                       weight_neg, sample_weight_o, pos, active, intercept, epsilon,
                       deriv, loss_acc):  # fmt: skip
    """Weighted loss derivatives ``deriv[k]`` of the sample at position ``pos``.

    ``scores[k]`` holds ``x . w_k`` (without the intercept; overwritten).
    ``deriv[k] = sample_weight * class_weight * dL/dp_k``; the unweighted loss
    is added to ``loss_acc[k]`` (to ``loss_acc[0]`` for MULTINOMIAL).
    """
    n_heads = scores.shape[0]
    if TASK == MULTINOMIAL:
        for k in range(n_heads):
            scores[k] += intercept[k]
        label = y_class_o[pos]
        loss_acc[0] += softmax_cross_entropy(scores, label, deriv)
        w = sample_weight_o[pos] * weight_pos[label]
        for k in range(n_heads):
            deriv[k] *= w
        return
    for k in range(n_heads):
        if not active[k]:
            deriv[k] = 0.0
            continue
        y = head_target(TASK, LOSS, y_float_o, y_class_o, head_positive, pos, k)
        p = scores[k] + intercept[k]
        loss_acc[k] += loss_value(LOSS, y, p, epsilon)
        deriv[k] = weighted_derivative(loss_derivative(LOSS, y, p, epsilon), y,
                                       weight_pos, weight_neg, sample_weight_o, pos,
                                       k)  # fmt: skip


@cpu_configured
def _chunk_gradient(
    X_data, X_indices, X_indptr, n_features, targets, order, first, last, active,
    coef, intercept, epsilon, scores, deriv, grad, grad_b, loss_acc,
):  # fmt: skip
    """Sum the gradient of CSR rows ``order[first:last]`` into ``grad``/``grad_b``.

    One pass: each row's derivatives, then ``grad[k] += d_k * x`` while the row
    is in L1. Samples are added in order, so the sum is fixed by the chunk.
    """
    n_order = order.shape[0]
    for pos in range(first, last):
        # past the chunk's end too: the next chunk's (or batch's) rows, so that
        # its first rows do not wait for memory
        if pos + MINIBATCH_PREFETCH_AHEAD < n_order:
            prefetch_row(X_data, X_indices, X_indptr, n_features, SPARSE,
                         order[pos + MINIBATCH_PREFETCH_AHEAD])  # fmt: skip
        x_values, x_indices = row_slices(
            X_data, X_indices, X_indptr, n_features, SPARSE, order[pos]
        )
        _row_gradient(x_values, x_indices, targets, pos, active, coef, intercept,
                      epsilon, scores, deriv, grad, grad_b, loss_acc)  # fmt: skip


@cpu_configured
def _row_gradient(x_values, x_indices, targets, pos, active, coef, intercept, epsilon,
                  scores, deriv, grad, grad_b, loss_acc):  # fmt: skip
    """Add the gradient of one CSR row (the sample at ``pos``) to ``grad``/``grad_b``."""
    (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
     sample_weight_o) = targets  # fmt: skip
    n_heads = coef.shape[0]
    for k in range(n_heads):
        scores[k] = row_dot(x_values, x_indices, True, coef[k])
    _score_derivatives(
        scores, y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
        sample_weight_o, pos, active, intercept, epsilon, deriv, loss_acc,
    )  # fmt: skip
    for k in range(n_heads):
        d = deriv[k]
        if d != 0.0:
            grad_b[k] += d
            g = grad[k]
            for jj in range(x_values.shape[0]):
                g[x_indices[jj]] += d * x_values[jj]


@cpu_configured
def _dense_chunk_gradient(
    X_data, X_indices, X_indptr, n_features, targets, order, first, last, active,
    coef, intercept, epsilon, rows, scores, deriv, grad, grad_b, loss_acc,
):  # fmt: skip
    """The gradient of dense rows ``order[first:last]`` as batched linear algebra.

    The rows are gathered into ``rows`` (prefetched ahead, past the chunk's
    end too), every head's scores come from one product ``rows @ coef.T``,
    the derivatives from one pass over them, and the gradient from one product
    ``deriv.T @ rows`` written to ``grad`` (BLAS, on one thread: the trainer
    pins it). ``grad_b`` gets the derivatives' sums. The sums' order is fixed
    by the chunk, never by the thread count.
    """
    (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
     sample_weight_o) = targets  # fmt: skip
    n_heads = coef.shape[0]
    n_rows = last - first
    n_order = order.shape[0]
    # The chunk's first rows at once (the thread that ran the previous chunk
    # may have been another one), then each row a fixed distance ahead, past
    # the chunk's end too (the next chunk's, or batch's, first rows).
    for pos in range(first, min(first + MINIBATCH_PREFETCH_AHEAD, last)):
        prefetch_row(X_data, X_indices, X_indptr, n_features, False, order[pos])
    for pos in range(first, last):
        if pos + MINIBATCH_PREFETCH_AHEAD < n_order:
            prefetch_row(X_data, X_indices, X_indptr, n_features, False,
                         order[pos + MINIBATCH_PREFETCH_AHEAD])  # fmt: skip
        start = order[pos] * n_features
        row = rows[pos - first]
        x = X_data[start : start + n_features]
        for j in range(n_features):
            row[j] = x[j]
    block = rows[:n_rows]
    matmul_into(block, coef.T, scores[:n_rows])
    for i in range(n_rows):
        _score_derivatives(
            scores[i], y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
            sample_weight_o, first + i, active, intercept, epsilon, deriv[i],
            loss_acc,
        )  # fmt: skip
        for k in range(n_heads):
            grad_b[k] += deriv[i, k]
    matmul_into(deriv[:n_rows].T, block, grad)


@cpu_configured
def _unit_step(unit, n_blocks, active, eta, alpha, power_t, optimal_t0, schedule, coef,
               coef_buf, avg_coef, partial, n_chunks, step):  # fmt: skip
    """Phase 2 of a mini-batch step for work unit ``unit`` (a head's feature block)."""
    (inv_batch, penalty_alpha, l1_ratio, momentum, dampening, nesterov, first_step,
     n_averaged, t_batch, batch_len) = step  # fmt: skip
    k = unit // n_blocks
    if active[k]:
        j_lo = (unit % n_blocks) * FEATURE_BLOCK
        lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0, t_batch,
                           batch_len)  # fmt: skip
        _block_step(
            coef, coef_buf, avg_coef, partial, n_chunks, k, j_lo,
            min(j_lo + FEATURE_BLOCK, coef.shape[1]), inv_batch, lr, penalty_alpha,
            l1_ratio, momentum, dampening, nesterov, first_step, n_averaged,
        )  # fmt: skip


@cpu_configured
def _block_step(
    coef, coef_buf, avg_coef, partial, n_partial, k, j_lo, j_hi, inv_batch, lr,
    penalty_alpha, l1_ratio, momentum, dampening, nesterov, first_step, n_averaged,
):  # fmt: skip
    """Update ``coef[k, j_lo:j_hi]`` with the mean gradient plus the penalty.

    The gradient is ``sum_c partial[c, k, j]`` over the first ``n_partial``
    chunks, in order; the partial sums are zeroed for the next batch.
    Reads the kernel's ``PENALTY``, ``MOMENTUM`` and ``AVERAGING``: without
    momentum or averaging, the code of their buffers is pruned.
    """
    w_row, buf_row = coef[k], coef_buf[k]
    for j in range(j_lo, j_hi):
        g = sum_chunks(partial, n_partial, k, j) * inv_batch + penalty_gradient(
            PENALTY, penalty_alpha, l1_ratio, w_row[j]
        )
        w = _optimizer_step(w_row, buf_row, j, g, first_step, lr, momentum,
                            dampening, nesterov)  # fmt: skip
        if AVERAGING and n_averaged > 0:
            avg_coef[k, j] = running_mean(avg_coef[k, j], w, n_averaged)


@cpu_configured
def _optimizer_step(params, buffer, i, g, first_step, lr, momentum, dampening,
                    nesterov):  # fmt: skip
    """``momentum_step`` of ``params[i]`` with gradient ``g``, in place; returns it.

    The CPU's form of the GPU kernel's ``cuda.parameter_step`` (the same
    math: ``momentum_step``, then ``running_mean`` in ``_block_step``): a
    configured helper, so that the momentum buffer's code is pruned before
    Numba inlines it (``MOMENTUM``; ``buffer`` may be empty without it). A
    shared helper, whose flags are arguments, is inlined unpruned first:
    0.2-0.4 s more of a cold mini-batch fit (measured, 2.6 s -> 3.0 s for a
    multinomial fit), for the same arithmetic.
    """
    if MOMENTUM:
        w, b = momentum_step(params[i], g, buffer[i], first_step, lr, momentum,
                             dampening, nesterov)  # fmt: skip
        buffer[i] = b
    else:
        w, _ = momentum_step(params[i], g, 0.0, first_step, lr, 0.0, 0.0, False)
    params[i] = w
    return w


def sgd_epoch_minibatch(
    data, targets, order, active, batch_size, params, rule, counters, scratch, loss_sum
):
    """One epoch of mini-batch SGD over ``order`` cut into ``batch_size`` slices.

    ``data`` (``bundles.Data``), ``targets`` (``bundles.LinearTargets``),
    ``params`` (``bundles.LinearParams``, updated in place), ``rule``
    (``bundles.MinibatchRule``), ``counters`` (``bundles.StepCounters``) and
    ``scratch`` (``bundles.MinibatchScratch``) are the bundles the trainer
    builds; ``active`` flags the heads to train (``uint8``).

    Each batch is cut into chunks of ``CHUNK`` samples (dense ``X``; a CSR
    batch is one chunk). Phase 1, parallel over chunks: each chunk's
    gradient sum, as batched linear algebra for dense ``X`` (the chunk's rows
    gathered, every head's scores from one product, the derivatives from one
    pass, the gradient from one product: ``_dense_chunk_gradient``) and row
    by row with the derivatives fused in for CSR (``_chunk_gradient``;
    most CSR fits run the O(nnz) ``_lazy_sparse_epoch`` instead). Phase 2,
    parallel over (head, feature block): the chunk sums added in chunk order
    and the ``momentum_step`` update. Intercepts last. The chunking is fixed,
    so the result does not depend on the thread count (the trainer runs
    small batches on one thread). ``step_start`` counts earlier optimizer steps;
    averaging counts a step once ``samples_seen`` reaches ``average``.
    Scratch: ``scores``/``deriv`` are ``(n_chunks_max, rows, n_heads)``,
    ``partial`` is ``(n_chunks_max, n_heads, n_features)`` of zeros,
    ``partial_b`` is ``(n_chunks_max, n_heads)`` of zeros (``minibatch_scratch``
    makes them). The epoch's loss is added to ``loss_sum``.
    Returns ``(steps, n_averaged)``.

    Runs the variant of ``minibatch_variant`` for these arguments (compiled
    on first use, then loaded from Numba's cache).
    """
    kernel, args = minibatch_variant(data, targets, order, active, batch_size, params,
                                     rule, counters, scratch, loss_sum)  # fmt: skip
    return kernel(*args)


def _minibatch_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, average,
    step_start, samples_seen_start, n_averaged_start,
    scores, deriv, partial, partial_b, loss_sum,
):  # fmt: skip
    """Template of ``sgd_epoch_minibatch``'s variants (see ``specialize``).

    Reads ``LOSS``, ``PENALTY``, ``TASK``, ``SPARSE``,
    ``AVERAGING`` and ``MOMENTUM`` as constants; the arguments they stand for
    (``loss_code``, ...) are ignored.
    """
    n_heads = coef.shape[0]
    n_samples = order.shape[0]
    y_float_o, y_class_o, sample_weight_o = gather_in_order(
        y_float, y_class, sample_weight, order
    )
    targets = (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
               sample_weight_o)  # fmt: skip
    chunk = batch_size if SPARSE else CHUNK
    n_blocks = (n_features + FEATURE_BLOCK - 1) // FEATURE_BLOCK
    n_units = n_heads * n_blocks
    loss_chunks = np.zeros(partial_b.shape)
    penalty_alpha = 0.0 if penalty == NO_PENALTY else alpha
    rows = np.empty((0 if SPARSE else partial.shape[0], chunk, n_features),
                    dtype=coef.dtype)  # fmt: skip
    n_steps = 0
    n_averaged = n_averaged_start
    samples_seen = samples_seen_start
    for batch_start in range(0, n_samples, batch_size):
        batch_len = min(batch_size, n_samples - batch_start)
        n_chunks = (batch_len + chunk - 1) // chunk
        first_step, t_batch, samples_seen, n_averaged = batch_counters(
            step_start + n_steps + 1, samples_seen, batch_len, average, n_averaged
        )
        inv_batch = 1.0 / batch_len

        # 1. gradient sums per chunk: batched products (dense), or row by row
        # with the derivatives fused in (CSR)
        for c in prange(n_chunks):
            first = batch_start + c * chunk
            last = min(batch_start + (c + 1) * chunk, batch_start + batch_len)
            if SPARSE:
                _chunk_gradient(
                    X_data, X_indices, X_indptr, n_features, targets, order, first,
                    last, active, coef, intercept, epsilon, scores[c, 0], deriv[c, 0],
                    partial[c], partial_b[c], loss_chunks[c],
                )  # fmt: skip
            else:
                _dense_chunk_gradient(
                    X_data, X_indices, X_indptr, n_features, targets, order, first,
                    last, active, coef, intercept, epsilon, rows[c], scores[c],
                    deriv[c], partial[c], partial_b[c], loss_chunks[c],
                )  # fmt: skip

        # 2. weights: chunk sums in order, penalty, momentum, averaging; on
        # several threads only when there are enough blocks to pay for the
        # parallel region (the same arithmetic either way)
        step = (inv_batch, penalty_alpha, l1_ratio, momentum, dampening, nesterov,
                first_step, n_averaged, t_batch, batch_len)  # fmt: skip
        if n_units >= PARALLEL_UNITS:
            for unit in prange(n_units):
                _unit_step(unit, n_blocks, active, eta, alpha, power_t, optimal_t0,
                           schedule, coef, coef_buf, avg_coef, partial, n_chunks,
                           step)  # fmt: skip
        else:
            for unit in range(n_units):
                _unit_step(unit, n_blocks, active, eta, alpha, power_t, optimal_t0,
                           schedule, coef, coef_buf, avg_coef, partial, n_chunks,
                           step)  # fmt: skip

        # 3. intercepts (never penalised) and the epoch's loss
        for k in range(n_heads):
            g = 0.0
            for c in range(n_chunks):
                g += partial_b[c, k]
                partial_b[c, k] = 0.0
                loss_sum[k] += loss_chunks[c, k]
                loss_chunks[c, k] = 0.0
            if not active[k]:
                continue
            if fit_intercept:
                lr = learning_rate(
                    schedule, eta[k], alpha, power_t, optimal_t0, t_batch, batch_len
                )
                _optimizer_step(intercept, intercept_buf, k, g * inv_batch,
                                first_step, lr, momentum, dampening,
                                nesterov)  # fmt: skip
            if AVERAGING and n_averaged > 0:
                avg_intercept[k] = running_mean(
                    avg_intercept[k], intercept[k], n_averaged
                )
        n_steps += 1
    return n_steps, n_averaged


# --------------------------------------------------------------------------
# Sparse mini-batch in O(nnz) per step: lazy updates with exact catch-up
# --------------------------------------------------------------------------

#: A lazy kernel's running product of L2 decays is rebased (every column
#: caught up, the product reset to 1) below this value, before it underflows.
LAZY_DECAY_FLOOR = 1e-200


@cpu_inline
def _momentum_transition(lr, alpha, momentum, dampening, nesterov):
    """The matrix of one untouched ``momentum_step`` on ``(w, buf)``.

    An untouched coordinate's gradient is its penalty alone, ``alpha * w``
    (``alpha = 0`` without one), so the step is linear in ``(w, buf)``::

        buf' = mu * buf + (1 - tau) * alpha * w
        w'   = w - lr * buf'                        (w - lr * (alpha * w + mu * buf'), Nesterov)

    Returns ``(m00, m01, m10, m11)`` with ``w' = m00 w + m01 buf`` and
    ``buf' = m10 w + m11 buf``.
    """
    m10 = (1.0 - dampening) * alpha
    m11 = momentum
    if nesterov:
        return 1.0 - lr * (alpha + momentum * m10), -lr * momentum * m11, m10, m11
    return 1.0 - lr * m10, -lr * m11, m10, m11


@cpu_configured
def _lazy_catch_up(coef, coef_buf, active, j, gap, last_step, decay, powers):
    """Bring column ``j`` of every active head over ``gap`` untouched steps.

    Without momentum, the steps are L2 decays (by exactly 1 without a penalty:
    the lazy kernel's ``PENALTY`` is always L2's code): ``w *= decay[k, now] /
    decay[k, last]`` (``decay`` holds their running product; ``last_step`` is
    the step column ``j`` was last current at). With momentum (a constant rate),
    ``(w, buf)`` is multiplied by the ``gap``-th power of the one-step matrix
    (``powers[k, gap]``).
    """
    if gap == 0:
        return
    for k in range(coef.shape[0]):
        if not active[k]:
            continue
        if MOMENTUM:
            w = coef[k, j]
            b = coef_buf[k, j]
            p = powers[k, gap]
            coef[k, j] = p[0] * w + p[1] * b
            coef_buf[k, j] = p[2] * w + p[3] * b
        else:
            coef[k, j] *= decay[k, last_step + gap] / decay[k, last_step]


def _lazy_sparse_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, average,
    step_start, samples_seen_start, n_averaged_start,
    scores, deriv, partial, partial_b, loss_sum,
):  # fmt: skip
    """Template of the CSR mini-batch variants whose untouched steps have a closed form.

    The same epoch as ``_minibatch_epoch`` (the same ``momentum_step`` on every
    coordinate a batch's rows touch), in O(nnz) per step instead of
    O(n_features): a column that no row of a batch touches gets only its
    penalty's share of the step, which is a linear map of ``(w, buf)``.
    Each column remembers the step it was last brought up to date at, and is
    caught up (``_lazy_catch_up``) right before a batch reads it, and at the
    end of the call. Without momentum the untouched steps are L2 decays (any
    schedule: their running product); with momentum (``constant`` rate only),
    powers of the one-step matrix. Averaging and L1 penalties have no such
    closed form: those fits run ``_minibatch_epoch``. Serial: the work per step
    is the batch's non-zeros.

    The same model as the dense-step kernel up to rounding (a catch-up
    multiplies once by a product the dense kernel applies step by step).
    """
    n_heads = coef.shape[0]
    n_samples = order.shape[0]
    y_float_o, y_class_o, sample_weight_o = gather_in_order(
        y_float, y_class, sample_weight, order
    )
    targets = (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
               sample_weight_o)  # fmt: skip
    n_batches = (n_samples + batch_size - 1) // batch_size
    grad, grad_b = partial[0], partial_b[0]
    loss_acc = np.zeros(n_heads)
    last = np.zeros(n_features, dtype=np.int64)  # step each column is current at
    touched = np.empty(n_features, dtype=np.int64)
    penalty_alpha = 0.0 if penalty == NO_PENALTY else alpha
    # Without momentum: decay[k, s] = product of (1 - lr * alpha) up to step s.
    decay = np.ones((n_heads, n_batches + 1 if not MOMENTUM else 1))
    # With momentum (constant rate): powers[k, g] = the g-th power of the step matrix.
    powers = np.zeros((n_heads, n_batches + 1 if MOMENTUM else 1, 4))
    if MOMENTUM:
        for k in range(n_heads):
            m00, m01, m10, m11 = _momentum_transition(
                eta[k], penalty_alpha, momentum, dampening, nesterov
            )
            p00, p01, p10, p11 = 1.0, 0.0, 0.0, 1.0
            for g in range(n_batches + 1):
                powers[k, g, 0] = p00
                powers[k, g, 1] = p01
                powers[k, g, 2] = p10
                powers[k, g, 3] = p11
                p00, p01, p10, p11 = (
                    m00 * p00 + m01 * p10, m00 * p01 + m01 * p11,
                    m10 * p00 + m11 * p10, m10 * p01 + m11 * p11,
                )  # fmt: skip
    samples_seen = samples_seen_start
    for s in range(1, n_batches + 1):
        batch_start = (s - 1) * batch_size
        batch_len = min(batch_size, n_samples - batch_start)
        first_step, t_batch, samples_seen, _ = batch_counters(
            step_start + s, samples_seen, batch_len, 0, 0
        )
        inv_batch = 1.0 / batch_len

        # 1. row by row: each column the row touches first in this batch is
        # brought up to step s - 1 (while the row is read: it is then in cache
        # for the scores), then the row's gradient. On momentum's first step,
        # whose buffer starts from the whole gradient, every column is touched.
        n_touched = 0
        if MOMENTUM and first_step:
            for j in range(n_features):
                touched[j] = j
                last[j] = s
            n_touched = n_features
        for pos in range(batch_start, batch_start + batch_len):
            if pos + MINIBATCH_PREFETCH_AHEAD < n_samples:
                prefetch_row(X_data, X_indices, X_indptr, n_features, True,
                             order[pos + MINIBATCH_PREFETCH_AHEAD])  # fmt: skip
            x_values, x_indices = row_slices(
                X_data, X_indices, X_indptr, n_features, True, order[pos]
            )
            for jj in range(x_indices.shape[0]):
                j = x_indices[jj]
                if last[j] != s:
                    _lazy_catch_up(coef, coef_buf, active, j, s - 1 - last[j],
                                   last[j], decay, powers)  # fmt: skip
                    last[j] = s  # current at s once the step below is applied
                    touched[n_touched] = j
                    n_touched += 1
            _row_gradient(x_values, x_indices, targets, pos, active, coef, intercept,
                          epsilon, scores[0, 0], deriv[0, 0], grad, grad_b,
                          loss_acc)  # fmt: skip

        # 2. the step of the touched columns
        for k in range(n_heads):
            if not active[k]:
                continue
            lr = learning_rate(
                schedule, eta[k], alpha, power_t, optimal_t0, t_batch, batch_len
            )
            w_row, buf_row = coef[k], coef_buf[k]
            for tt in range(n_touched):
                j = touched[tt]
                g = grad[k, j] * inv_batch + penalty_gradient(
                    PENALTY, penalty_alpha, 0.0, w_row[j]
                )
                grad[k, j] = 0.0
                _optimizer_step(w_row, buf_row, j, g, first_step, lr, momentum,
                                dampening, nesterov)  # fmt: skip
            if not MOMENTUM:
                decay[k, s] = decay[k, s - 1] * (1.0 - lr * penalty_alpha)
            # intercepts (never penalised), as _minibatch_epoch's
            if fit_intercept:
                _optimizer_step(intercept, intercept_buf, k, grad_b[k] * inv_batch,
                                first_step, lr, momentum, dampening,
                                nesterov)  # fmt: skip
        for k in range(n_heads):
            grad_b[k] = 0.0

        # 3. rebase the decays before they underflow: everything caught up
        if not MOMENTUM:
            rebase = False
            for k in range(n_heads):
                if abs(decay[k, s]) < LAZY_DECAY_FLOOR:
                    rebase = True
            if rebase:
                for j in range(n_features):
                    _lazy_catch_up(coef, coef_buf, active, j, s - last[j], last[j],
                                   decay, powers)  # fmt: skip
                    last[j] = s
                for k in range(n_heads):
                    decay[k, s] = 1.0

    # every column up to date at the end of the call
    for j in range(n_features):
        _lazy_catch_up(coef, coef_buf, active, j, n_batches - last[j], last[j],
                       decay, powers)  # fmt: skip
    for k in range(n_heads):
        loss_sum[k] += loss_acc[k]
    return n_batches, n_averaged_start


_MINIBATCH_VARIANTS = {}


def minibatch_settings(loss_code, penalty, schedule, task, is_sparse, average,
                       momentum):  # fmt: skip
    """The compile-time settings of a mini-batch fit (``_minibatch_epoch``'s
    constants). Every schedule shares one code (the step rate is a formula
    chosen at run time), except that the lazy CSR kernel with momentum needs
    a constant rate (``CONSTANT_RATE``); penalties as ``penalty_setting``; a
    multinomial fit runs the softmax whatever its loss code."""
    return dict(
        LOSS=LOG_LOSS if task == MULTINOMIAL else int(loss_code),
        PENALTY=penalty_setting(penalty),
        # read only by the lazy CSR kernel with momentum: the others share one
        CONSTANT_RATE=schedule not in (OPTIMAL, INVSCALING)
        or not (is_sparse and momentum != 0.0),
        TASK=int(task),
        SPARSE=bool(is_sparse),
        AVERAGING=average > 0,
        MOMENTUM=momentum != 0.0,
    )


def minibatch_lazy(settings):
    """Whether a mini-batch fit runs the O(nnz) ``_lazy_sparse_epoch``.

    CSR data whose untouched steps have a closed form: no penalty or L2, no
    averaging, and with momentum a constant rate (``minibatch_settings``).
    """
    return (
        settings["SPARSE"]
        and settings["PENALTY"] == L2
        and not settings["AVERAGING"]
        and (not settings["MOMENTUM"] or settings["CONSTANT_RATE"])
    )


def minibatch_parallel(batch_size, n_heads, n_features, is_sparse, lazy=False):
    """Whether a mini-batch step is worth a parallel region (``PARALLEL_WORK``).

    Depends on the data and settings only, never on the thread count, so the
    same fit always runs the same compiled variant (bitwise the same model for
    any ``n_jobs``). The lazy sparse kernel (``lazy``) is serial.
    """
    if lazy:
        return False
    if is_sparse:
        work = n_heads * n_features
    else:
        work = batch_size * n_features * n_heads
    return work >= PARALLEL_WORK


def minibatch_variant(data, targets, order, active, batch_size, params, rule, counters,
                      scratch, loss_sum):  # fmt: skip
    """``(kernel, its arguments)``: what ``sgd_epoch_minibatch`` runs.

    The compiled kernel takes the bundles' fields in their order, flat
    (``bundles.flatten``): a kernel called from Python unboxes its
    arguments, and unboxing named tuples of arrays made that wrapper 19%
    larger and the compile 0.03-0.11 s longer (docs/design.md, "Where the
    code differs", item 4).

    Its settings come from the arguments (``minibatch_settings``); the lazy
    O(nnz) kernel for CSR data where ``minibatch_lazy`` allows it, else
    ``_minibatch_epoch``, serial or parallel by ``minibatch_parallel``.
    """
    settings = minibatch_settings(
        rule.loss_code, rule.penalty, rule.schedule, targets.task, data.is_sparse,
        rule.average, rule.momentum,
    )  # fmt: skip
    n_heads = params.coef.shape[0]
    batch = min(batch_size, max(order.shape[0], 1))
    lazy = minibatch_lazy(settings)
    parallel = minibatch_parallel(batch, n_heads, data.n_features, data.is_sparse,
                                  lazy)  # fmt: skip
    key = (tuple(settings.values()), lazy, parallel)
    kernel = _MINIBATCH_VARIANTS.get(key)
    if kernel is None:
        template = _lazy_sparse_epoch if lazy else _minibatch_epoch
        kernel = specialize(template, settings, fastmath=FASTMATH, parallel=parallel)
        _MINIBATCH_VARIANTS[key] = kernel
    return kernel, flatten(data, targets, order, active, batch_size, params, rule,
                           counters, scratch, loss_sum)  # fmt: skip


def minibatch_scratch(batch_size, n_heads, n_features, dtype, is_sparse):
    """Scratch arrays of ``sgd_epoch_minibatch`` (``bundles.MinibatchScratch``):
    scores, deriv, partial, partial_b.

    ``scores``/``deriv`` are ``(n_chunks, rows, n_heads)``: a dense chunk's
    ``CHUNK`` rows at once, a CSR row at a time.
    """
    n_chunks = 1 if is_sparse else (batch_size + CHUNK - 1) // CHUNK
    rows = 1 if is_sparse else CHUNK
    return MinibatchScratch(
        np.empty((n_chunks, rows, n_heads), dtype=dtype),
        np.empty((n_chunks, rows, n_heads), dtype=dtype),
        np.zeros((n_chunks, n_heads, n_features), dtype=dtype),
        np.zeros((n_chunks, n_heads), dtype=np.float64),
    )


@cpu_kernel(parallel=False)
def shuffle_as_sklearn(index, seed):
    """Shuffle ``index`` in place as scikit-learn's per-sample SGD does.

    ``SequentialDataset.shuffle(seed)``
    (``sklearn/utils/_seq_dataset.pyx.tp``): Fisher-Yates from the front,
    ``j = i + r % (n - i)``, with ``r`` from ``our_rand_r``'s 32-bit xorshift
    (``sklearn/utils/_random.pxd``; a zero seed counts as 1). scikit-learn
    calls it at every epoch on the order the previous epoch left, with the
    same ``seed``; so does the trainer. The unsigned 32-bit arithmetic is
    carried out in 64 bits with a mask.
    """
    mask = np.uint64(0xFFFFFFFF)
    state = np.uint64(seed) & mask
    if state == 0:
        state = np.uint64(1)
    n = index.shape[0]
    for i in range(n - 1):
        state ^= (state << np.uint64(13)) & mask
        state ^= state >> np.uint64(17)
        state ^= (state << np.uint64(5)) & mask
        r = state % np.uint64(0x80000000)
        j = i + np.int64(r % np.uint64(n - i))
        index[i], index[j] = index[j], index[i]


@cpu_kernel(parallel=False)
def shuffle(order, seed):
    """Shuffle ``order`` in place (Fisher-Yates), reproducibly from ``seed``.

    Draws come from a SplitMix64 stream, each mapped to ``[0, i]`` by a
    multiply-shift (bias below 2**-32 for any realistic ``n``).
    """
    state = np.uint64(seed)
    golden = np.uint64(0x9E3779B97F4A7C15)
    for i in range(order.shape[0] - 1, 0, -1):
        state += golden
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        j = ((z >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32)
        order[i], order[j] = order[j], order[i]


def empty_index():
    """The placeholder index array passed with a dense ``X``."""
    return np.empty(0, dtype=np.int32)
