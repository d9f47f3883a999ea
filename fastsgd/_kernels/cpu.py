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
``minibatch.py``) for the CPU (``_jit.bind_sources``, as every kernel module
does); gathers and prefetches rows;
holds the mini-batch kernel that steps every weight (dense data; CSR data on
request, the reference of ``cpu_sparse``'s O(nnz) kernels), its variants and
scratch, and the shuffles.

Compile only what runs: ``sgd_epoch_minibatch`` (and ``cpu_per_sample``'s
``sgd_epoch_per_sample``) are thin Python entry points. From their arguments
they pick the kernel of the fit's configuration (``plan``): the
template ``_minibatch_epoch`` compiled by
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

from fastsgd._kernels._jit import (
    FASTMATH,
    FASTMATH_EXACT,
    Plan,
    bind_sources,
    cpu_called,
    cpu_configured,
    cpu_inline,
    cpu_kernel,
    matmul_into,
    prefetch,
    specialize,
    worth_parallel,
)
from fastsgd._kernels.bundles import MinibatchScratch, flatten
from fastsgd._kernels.minibatch import batch_counters, intercept_gradient, sum_chunks
from fastsgd._kernels.rows import (
    head_target,
    row_dot,
    row_slices,
    weighted_derivative,
)
from fastsgd._math.codes import (
    ELASTICNET,
    L2,
    LOG_LOSS,
    MULTINOMIAL,
    NO_PENALTY,
)
from fastsgd._math.losses import (
    loss_derivative,
    loss_value,
    softmax_cross_entropy,
)
from fastsgd._math.schedules import learning_rate
from fastsgd._math.updates import (
    l1_penalty_step,
    l1_truncate,
    l2_shrink_factor,
    momentum_step,
    penalty_gradient,
    running_mean,
    unscale,
)

# exact IEEE arithmetic, called: re-association spoils the cross-entropy
cpu_called(softmax_cross_entropy)
# the math, row access, a head's derivative and the mini-batch sums: one
# source with the GPU kernels, compiled for the CPU
bind_sources(globals(), "cpu")

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
# penalty codes, the task, whether ``X`` is CSR, and whether the fit averages
# or keeps momentum buffers.
LOSS = PENALTY = TASK = SPARSE = AVERAGING = MOMENTUM = None


# --------------------------------------------------------------------------
# Row access (``rows.py``: dense rows are contiguous; CSR rows go through
# their indices)
# --------------------------------------------------------------------------


@cpu_inline
def gather_into(y_float, y_class, sample_weight, order, y_float_o, y_class_o,
                sample_weight_o):  # fmt: skip
    """Per-sample scalars in visiting order, so the epoch reads them sequentially.

    Gathering them up front (from arrays small enough to stay cached) avoids
    three cache misses per sample while ``X`` streams through memory.
    """
    for idx in range(order.shape[0]):
        i = order[idx]
        y_float_o[idx] = y_float[i]
        y_class_o[idx] = y_class[i]
        sample_weight_o[idx] = sample_weight[i]


@cpu_inline
def gather_in_order(y_float, y_class, sample_weight, order):
    """``gather_into`` new arrays."""
    m = order.shape[0]
    y_float_o = np.empty(m, dtype=y_float.dtype)
    y_class_o = np.empty(m, dtype=y_class.dtype)
    sample_weight_o = np.empty(m, dtype=sample_weight.dtype)
    gather_into(y_float, y_class, sample_weight, order, y_float_o, y_class_o,
                sample_weight_o)  # fmt: skip
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
    coef, intercept, epsilon, scores, deriv, grad, grad_b, loss_acc, touched, stamp,
):  # fmt: skip
    """Sum the gradient of CSR rows ``order[first:last]`` into ``grad``/``grad_b``.

    One pass: each row's derivatives, then ``grad[k] += d_k * x`` while the row
    is in L1. Samples are added in order, so the sum is fixed by the chunk.
    With an L1 part (``PENALTY == ELASTICNET``) the columns the rows store a
    value in are stamped ``touched[j] = stamp``: the step truncates those.
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
        if PENALTY == ELASTICNET:
            for jj in range(x_indices.shape[0]):
                touched[x_indices[jj]] = stamp
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
               coef_buf, avg_coef, l1_q, l1_u, touched, partial, n_chunks,
               step):  # fmt: skip
    """Phase 2 of a mini-batch step for work unit ``unit`` (a head's feature block)."""
    (inv_batch, l2_alpha, momentum, dampening, nesterov, first_step, n_averaged,
     t_batch, batch_len, stamp) = step  # fmt: skip
    k = unit // n_blocks
    if active[k]:
        j_lo = (unit % n_blocks) * FEATURE_BLOCK
        lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0, t_batch,
                           batch_len)  # fmt: skip
        _block_step(
            coef, coef_buf, avg_coef, l1_q, l1_u, touched, partial, n_chunks, k, j_lo,
            min(j_lo + FEATURE_BLOCK, coef.shape[1]), inv_batch, lr, l2_alpha,
            momentum, dampening, nesterov, first_step, n_averaged, stamp,
        )  # fmt: skip


@cpu_configured
def _block_step(
    coef, coef_buf, avg_coef, l1_q, l1_u, touched, partial, n_partial, k, j_lo, j_hi,
    inv_batch, lr, l2_alpha, momentum, dampening, nesterov, first_step, n_averaged,
    stamp,
):  # fmt: skip
    """Update ``coef[k, j_lo:j_hi]`` with the mean gradient plus the penalty.

    The gradient is ``sum_c partial[c, k, j]`` over the first ``n_partial``
    chunks, in order (the partial sums are zeroed for the next batch), plus
    the L2 part of the penalty (``l2_alpha * w``). The L1 part
    (``PENALTY == ELASTICNET``) is the cumulative truncation of
    scikit-learn's per-sample SGD (``l1_truncate``: the weight moves toward
    zero by what the penalty owes it, ``l1_u[k] - |l1_q[k, j]|``, without
    crossing it), applied to the columns the batch touched: every column of
    dense data, the stamped ones (``touched[j] == stamp``) of CSR data.
    The average follows the truncated weight. Reads the kernel's
    ``PENALTY``, ``MOMENTUM``, ``AVERAGING`` and ``SPARSE``: the code of
    what a fit does not use is pruned.
    """
    w_row, buf_row = coef[k], coef_buf[k]
    for j in range(j_lo, j_hi):
        g = sum_chunks(partial, n_partial, k, j) * inv_batch + penalty_gradient(
            L2, l2_alpha, 0.0, w_row[j]
        )
        w = _optimizer_step(w_row, buf_row, j, g, first_step, lr, momentum,
                            dampening, nesterov)  # fmt: skip
        if PENALTY == ELASTICNET and (not SPARSE or touched[j] == stamp):
            z = w
            w = l1_truncate(z, 1.0, l1_u[k], l1_q[k, j])
            l1_q[k, j] += w - z
            w_row[j] = w
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
    by row with the derivatives fused in for CSR (``_chunk_gradient``; CSR
    fits on the CPU run ``cpu_sparse``'s O(nnz) kernels instead). Phase 2,
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

    Runs the variant of ``plan`` for these arguments (compiled on first use,
    then loaded from Numba's cache).
    """
    return plan(data, targets, order, active, batch_size, params, rule, counters,
                scratch, loss_sum)()  # fmt: skip


def _minibatch_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept, l1_q, l1_u,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, intercept_decay, intercept_alpha,
    average, step_start, samples_seen_start, n_averaged_start,
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
    l2_alpha = penalty_alpha * (1.0 - l1_ratio)
    rows = np.empty((0 if SPARSE else partial.shape[0], chunk, n_features),
                    dtype=coef.dtype)  # fmt: skip
    # CSR with an L1 part: the step each column was last touched at
    touched = np.full(n_features if SPARSE and PENALTY == ELASTICNET else 0, -1,
                      dtype=np.int64)  # fmt: skip
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
        stamp = step_start + n_steps + 1

        # 1. gradient sums per chunk: batched products (dense), or row by row
        # with the derivatives fused in (CSR)
        for c in prange(n_chunks):
            first = batch_start + c * chunk
            last = min(batch_start + (c + 1) * chunk, batch_start + batch_len)
            if SPARSE:
                _chunk_gradient(
                    X_data, X_indices, X_indptr, n_features, targets, order, first,
                    last, active, coef, intercept, epsilon, scores[c, 0], deriv[c, 0],
                    partial[c], partial_b[c], loss_chunks[c], touched, stamp,
                )  # fmt: skip
            else:
                _dense_chunk_gradient(
                    X_data, X_indices, X_indptr, n_features, targets, order, first,
                    last, active, coef, intercept, epsilon, rows[c], scores[c],
                    deriv[c], partial[c], partial_b[c], loss_chunks[c],
                )  # fmt: skip

        # 2. weights: chunk sums in order, penalty, momentum, averaging; on
        # several threads only when there are enough blocks to pay for the
        # parallel region (the same arithmetic either way). The L1 part's
        # running total grows first.
        if PENALTY == ELASTICNET:
            for k in range(n_heads):
                if active[k]:
                    l1_u[k] += l1_penalty_step(
                        learning_rate(schedule, eta[k], alpha, power_t, optimal_t0,
                                      t_batch, batch_len),
                        penalty_alpha, l1_ratio,
                    )  # fmt: skip
        step = (inv_batch, l2_alpha, momentum, dampening, nesterov, first_step,
                n_averaged, t_batch, batch_len, stamp)  # fmt: skip
        if n_units >= PARALLEL_UNITS:
            for unit in prange(n_units):
                _unit_step(unit, n_blocks, active, eta, alpha, power_t, optimal_t0,
                           schedule, coef, coef_buf, avg_coef, l1_q, l1_u, touched,
                           partial, n_chunks, step)  # fmt: skip
        else:
            for unit in range(n_units):
                _unit_step(unit, n_blocks, active, eta, alpha, power_t, optimal_t0,
                           schedule, coef, coef_buf, avg_coef, l1_q, l1_u, touched,
                           partial, n_chunks, step)  # fmt: skip

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
                _optimizer_step(intercept, intercept_buf, k,
                                intercept_gradient(g, inv_batch, intercept_alpha,
                                                   intercept_decay),
                                first_step, lr, momentum, dampening,
                                nesterov)  # fmt: skip
            if AVERAGING and n_averaged > 0:
                avg_intercept[k] = running_mean(
                    avg_intercept[k], intercept[k], n_averaged
                )
        n_steps += 1
    return n_steps, n_averaged


_MINIBATCH_VARIANTS = {}


def minibatch_settings(loss_code, penalty, task, is_sparse, average, momentum):
    """The compile-time settings of a mini-batch fit (``_minibatch_epoch``'s
    constants). Every schedule shares one code (the step rate is a formula
    chosen at run time); penalties as ``penalty_setting``; a multinomial fit
    runs the softmax whatever its loss code."""
    return dict(
        LOSS=LOG_LOSS if task == MULTINOMIAL else int(loss_code),
        PENALTY=penalty_setting(penalty),
        TASK=int(task),
        SPARSE=bool(is_sparse),
        AVERAGING=average > 0,
        MOMENTUM=momentum != 0.0,
    )


def minibatch_parallel(batch_size, n_heads, n_features, is_sparse):
    """Whether a mini-batch step is worth a parallel region (``PARALLEL_WORK``).

    Depends on the data and settings only, never on the thread count, so the
    same fit always runs the same compiled variant (bitwise the same model for
    any ``n_jobs``).
    """
    if is_sparse:
        work = n_heads * n_features
    else:
        work = batch_size * n_features * n_heads
    return worth_parallel(work, PARALLEL_WORK)


def plan(data, targets, order, active, batch_size, params, rule, counters, scratch,
         loss_sum):  # fmt: skip
    """The ``_jit.Plan`` of ``sgd_epoch_minibatch`` on these arguments.

    The compiled kernel takes the bundles' fields in their order, flat
    (``bundles.flatten``): a kernel called from Python unboxes its
    arguments, and unboxing named tuples of arrays made that wrapper 19%
    larger and the compile 0.03-0.11 s longer (docs/design.md, "Where the
    code differs", item 4).

    Its settings come from the arguments (``minibatch_settings``);
    ``_minibatch_epoch``, serial or parallel by ``minibatch_parallel``.
    """
    settings = minibatch_settings(
        rule.loss_code, rule.penalty, targets.task, data.is_sparse, rule.average,
        rule.momentum,
    )  # fmt: skip
    n_heads = params.coef.shape[0]
    batch = min(batch_size, max(order.shape[0], 1))
    parallel = minibatch_parallel(batch, n_heads, data.n_features, data.is_sparse)
    key = (tuple(settings.values()), parallel)
    kernel = _MINIBATCH_VARIANTS.get(key)
    if kernel is None:
        kernel = specialize(_minibatch_epoch, settings, fastmath=FASTMATH,
                            parallel=parallel)  # fmt: skip
        _MINIBATCH_VARIANTS[key] = kernel
    return Plan(kernel, flatten(data, targets, order, active, batch_size, params, rule,
                                counters, scratch, loss_sum), parallel)  # fmt: skip


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


@cpu_kernel(parallel=False)
def stored_columns(X_indices, X_indptr, rows, n_features):
    """The columns (sorted) in which the CSR rows ``rows`` store a value: the
    only weights a sparse epoch over them steps (besides a rescale)."""
    seen = np.zeros(n_features, dtype=np.bool_)
    for i in rows:
        for p in range(X_indptr[i], X_indptr[i + 1]):
            seen[X_indices[p]] = True
    return np.flatnonzero(seen)


@cpu_kernel(parallel=False)
def finite_columns(weights, columns, feature_major):
    """Whether the weights of ``columns`` are all finite (``weights``: the
    C-ordered array a kernel takes, ``(n_features, n_heads)`` when
    ``feature_major``, else ``(n_heads, n_features)``)."""
    if feature_major:
        for j in columns:
            for k in range(weights.shape[1]):
                if not np.isfinite(weights[j, k]):
                    return False
    else:
        for k in range(weights.shape[0]):
            for j in columns:
                if not np.isfinite(weights[k, j]):
                    return False
    return True


@cpu_kernel(parallel=False)
def smallest_scale(wscale, eta, active, schedule, alpha, penalty_alpha, l1_ratio,
                   power_t, optimal_t0, t_start, n_samples, batch):  # fmt: skip
    """The smallest ``wscale`` an active head reaches when its L2 shrink is
    applied over ``n_samples`` samples in steps of ``batch`` from sample
    counter ``t_start`` (the product of ``l2_shrink_factor``, without the
    kernels' folds): whether a kernel may fold a scale into every weight."""
    smallest = np.inf
    scale = np.inf
    for k in range(wscale.shape[0]):
        if not active[k]:
            continue
        if (
            k > 0
            and active[k - 1]
            and eta[k] == eta[k - 1]
            and wscale[k] == wscale[k - 1]
        ):
            continue  # the same product as the head before
        scale = float(wscale[k])
        t = t_start
        left = n_samples
        while left > 0 and scale > 0.0:
            b = min(batch, left)
            lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0, t, b)
            scale *= l2_shrink_factor(lr, penalty_alpha, l1_ratio)
            t += b
            left -= b
        smallest = min(smallest, scale)
    return smallest


@cpu_inline
def fold_coordinate(coef, avg_coef, k, j, feature_major, wscale, avg_a, avg_b,
                    averaging):  # fmt: skip
    """Fold a scale (and a lazy average) into the weight of head ``k``,
    column ``j`` (``unscale``), in either layout."""
    if feature_major:
        v = coef[j, k]
        if averaging:
            w, avg_coef[j, k] = unscale(v, avg_coef[j, k], wscale, avg_a, avg_b)
        else:
            w = v * wscale
        coef[j, k] = w
    else:
        v = coef[k, j]
        if averaging:
            w, avg_coef[k, j] = unscale(v, avg_coef[k, j], wscale, avg_a, avg_b)
        else:
            w = v * wscale
        coef[k, j] = w


@cpu_inline
def fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, averaging, feature_major,
              at):  # fmt: skip
    """Fold head ``k``'s ``wscale`` and lazy average (``avg_a``/``avg_b``)
    into its weights (``fold_coordinate`` over its columns, in either layout:
    the head's row or column ``at`` of ``coef``, ``k`` but in a group's lane
    buffer) and reset them to the identity."""
    n_columns = coef.shape[0] if feature_major else coef.shape[1]
    for j in range(n_columns):
        fold_coordinate(coef, avg_coef, at, j, feature_major, wscale[k], avg_a[k],
                        avg_b[k], averaging)  # fmt: skip
    if averaging:
        avg_a[k] = 0.0
        avg_b[k] = 1.0
    wscale[k] = 1.0


@cpu_inline
def _fold_column(coef, avg_coef, k, j, feature_major, wscale, avg_a, avg_b, averaging,
                 first, n_events):  # fmt: skip
    """Folds ``first .. n_events - 1`` of head ``k``, column ``j``."""
    for e in range(first, n_events):
        fold_coordinate(coef, avg_coef, k, j, feature_major, wscale[e, k],
                        avg_a[e, k], avg_b[e, k], averaging[e])  # fmt: skip


@cpu_kernel(fastmath=FASTMATH_EXACT, parallel=True)
def apply_folds(coef, avg_coef, feature_major, columns, wscale, avg_a, avg_b,
                averaging, stamp, n_events, saved_coef, saved_avg):  # fmt: skip
    """Apply to ``columns`` (sorted) the folds recorded since each was last
    current, and copy their weights out (the roll-back snapshot of a call
    that reads them) in the same pass.

    Fold ``e`` (of ``n_events``) is one call's ``wscale[e]``, lazy average
    ``avg_a[e]``/``avg_b[e]`` (when ``averaging[e]``), per head; column ``j``
    has had the first ``stamp[j]``. Applied in order, each exactly as an
    eager fold of every column applies it (``fold_coordinate``, IEEE
    arithmetic as ``cpu_per_sample.fold_scale``: a contracted multiply-add
    would round differently), so a column caught up late has the same bits.
    ``coef``/``avg_coef`` are the kernels' arrays (``feature_major``:
    ``(n_features, n_heads)``); head-major, each thread walks one head's
    row in column order (20 heads 2 MB apart per column otherwise).
    ``saved_coef``/``saved_avg`` (``(n_heads, len(columns))``, or empty)
    receive the weights after the folds.
    """
    n_columns = columns.shape[0]
    save = saved_coef.shape[1] == n_columns and n_columns > 0
    save_avg = saved_avg.shape[1] == n_columns and n_columns > 0
    if feature_major:
        n_heads = coef.shape[1]
        for idx in prange(n_columns):
            j = columns[idx]
            for k in range(n_heads):
                _fold_column(coef, avg_coef, k, j, True, wscale, avg_a, avg_b,
                             averaging, stamp[j], n_events)  # fmt: skip
                if save:
                    saved_coef[k, idx] = coef[j, k]
                if save_avg:
                    saved_avg[k, idx] = avg_coef[j, k]
    else:
        n_heads = coef.shape[0]
        for k in prange(n_heads):
            for idx in range(n_columns):
                j = columns[idx]
                _fold_column(coef, avg_coef, k, j, False, wscale, avg_a, avg_b,
                             averaging, stamp[j], n_events)  # fmt: skip
                if save:
                    saved_coef[k, idx] = coef[k, j]
                if save_avg:
                    saved_avg[k, idx] = avg_coef[k, j]
    for idx in range(n_columns):
        stamp[columns[idx]] = n_events
