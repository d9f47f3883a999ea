"""CPU kernels of mini-batch training on CSR data in O(nnz) per step.

A mini-batch step moves every weight: by the batch's gradient where a row of
the batch stores a value, by the penalty alone elsewhere. The dense-step
kernel (``cpu._minibatch_epoch`` with ``SPARSE``) pays ``n_heads x
n_features`` per step for the second part; these kernels pay only for the
batch's non-zeros, and give the dense-step kernel's model up to rounding
(``tests/test_sparse_minibatch.py``).

Without momentum (``_scaled_epoch``) the untouched weights of a head all
shrink by the same L2 factor, so each head keeps scikit-learn's
``WeightVector`` form: ``w = wscale * v`` with ``coef`` holding ``v``, the
shrink a change of ``wscale``, and the running average lazy (``avg_a``,
``avg_b``: ``(avg_coef + avg_a * v) / avg_b``); the L1 part is the
cumulative truncation of the touched columns (``cpu._block_step``). The
scale and the lazy average are folded into the arrays at the end of a
``fit``/``partial_fit`` call (``fold_scaled``), or whenever ``wscale`` falls
below its floor.

Layout: ``coef``, ``avg_coef`` and ``l1_q`` are feature-major,
``(n_features, n_heads)``, so that a stored value of a row reads and writes
every head's weight of its column in one contiguous block (20 heads: 160
bytes) instead of ``n_heads`` cache lines ``n_features`` apart: measured on
the hashed text workload (20 heads of 2**18 features), a pass of dots and
scatters over an epoch took 1.1 s head-major and 0.14 s feature-major.

Threads: a batch's rows are scored in parallel chunks of ``ROWS`` rows
(each row's sums in its own order); the scatter of the batch's gradient is
split by column ranges, each part reading every row of the batch and
writing only its columns, rows in order. Every weight therefore receives
the same sums in the same order for any number of threads or parts.
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
    prefetch,
    specialize,
    worth_parallel,
)
from fastsgd._kernels.bundles import SparseScratch, flatten
from fastsgd._kernels.cpu import (
    _optimizer_step,
    _score_derivatives,
    fold_head,
    gather_in_order,
    penalty_setting,
    prefetch_row,
)
from fastsgd._kernels.minibatch import batch_counters, intercept_gradient
from fastsgd._kernels.rows import row_slices
from fastsgd._math.codes import ELASTICNET, L2, LOG_LOSS, MULTINOMIAL, NO_PENALTY
from fastsgd._math.schedules import learning_rate
from fastsgd._math.updates import (
    l1_penalty_step,
    l1_truncate,
    l2_shrink_factor,
    momentum_step,
    penalty_gradient,
    running_mean,
)

# the math and row access: one source with the GPU kernels, compiled for the CPU
bind_sources(globals(), "cpu")

#: Rows per unit of work of the scoring phase.
ROWS = 16

#: A batch with fewer stored values times heads than this runs the serial
#: variant (a parallel region costs microseconds).
PARALLEL_WORK = 1 << 13

#: How many rows ahead the scoring loop prefetches, and how many rows ahead
#: (whose stored values are in cache by then) it prefetches the weights of.
PREFETCH_AHEAD = 8
WEIGHTS_AHEAD = 4

#: Above this size (bytes) the weights are prefetched a few rows ahead.
LARGE_MODEL_BYTES = 8 << 20

# Compile-time settings, bound per configuration by ``_jit.specialize``.
LOSS = PENALTY = TASK = AVERAGING = MOMENTUM = SPARSE = None


@cpu_inline
def _sparse_dot(x_values, x_indices, coef):
    """``x . coef[:, 0]`` over a CSR row, in four running sums (loads of
    scattered weights overlap; no gather instructions)."""
    n = x_values.shape[0]
    a0 = a1 = a2 = a3 = 0.0
    jj = 0
    while jj + 4 <= n:
        a0 += x_values[jj] * coef[x_indices[jj], 0]
        a1 += x_values[jj + 1] * coef[x_indices[jj + 1], 0]
        a2 += x_values[jj + 2] * coef[x_indices[jj + 2], 0]
        a3 += x_values[jj + 3] * coef[x_indices[jj + 3], 0]
        jj += 4
    while jj < n:
        a0 += x_values[jj] * coef[x_indices[jj], 0]
        jj += 1
    return (a0 + a1) + (a2 + a3)


@cpu_configured(inline=False, fastmath=FASTMATH_EXACT, refcounts=False)
def _score_rows(
    X_data, X_indices, X_indptr, n_features, targets, order, first, last, batch_start,
    active, coef, wscale, intercept, epsilon, scores, deriv, row_loss,
):  # fmt: skip
    """Scores, weighted loss derivatives and losses of rows ``order[first:last]``.

    ``scores[r]``, ``deriv[r]`` and ``row_loss[r]`` of the row at position
    ``batch_start + r``. Each head's score is summed over the row's stored
    values in order, then scaled (``w = wscale * v``).
    """
    (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
     sample_weight_o) = targets  # fmt: skip
    n_heads = coef.shape[1]
    n_order = order.shape[0]
    per_line = max(1, 64 // coef.itemsize)
    # weights beyond the caches: prefetch a coming row's columns
    large = coef.size * coef.itemsize > LARGE_MODEL_BYTES
    for pos in range(first, last):
        if pos + PREFETCH_AHEAD < n_order:
            prefetch_row(X_data, X_indices, X_indptr, n_features, True,
                         order[pos + PREFETCH_AHEAD])  # fmt: skip
        if large and pos + WEIGHTS_AHEAD < n_order:
            # the weights of a row a little ahead (its indices are in cache):
            # a row's stored values read scattered columns of a large model
            ahead = order[pos + WEIGHTS_AHEAD]
            for jj in range(X_indptr[ahead], X_indptr[ahead + 1]):
                w_ahead = coef[X_indices[jj]]
                for e in range(0, n_heads, per_line):
                    prefetch(w_ahead, e)
        x_values, x_indices = row_slices(
            X_data, X_indices, X_indptr, n_features, True, order[pos]
        )
        r = pos - batch_start
        sc = scores[r]
        if n_heads == 1:  # binary and regression: one weight per column
            sc[0] = _sparse_dot(x_values, x_indices, coef)
        else:
            for k in range(n_heads):
                sc[k] = 0.0
            for jj in range(x_values.shape[0]):
                x = x_values[jj]
                w = coef[x_indices[jj]]
                for k in range(n_heads):
                    sc[k] += x * w[k]
        for k in range(n_heads):
            sc[k] *= wscale[k]
            row_loss[r, k] = 0.0
        _score_derivatives(
            sc, y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
            sample_weight_o, pos, active, intercept, epsilon, deriv[r], row_loss[r],
        )  # fmt: skip


@cpu_configured(inline=False, refcounts=False)
def _scatter_part(
    X_data, X_indices, X_indptr, order, batch_start, batch_len, j_lo, j_hi, active,
    coef, avg_coef, l1_q, l1_u, wscale, avg_a, deriv, coeff, dr, moving, marks,
    stamp, averaging,
):  # fmt: skip
    """Add the batch's gradient step to the columns ``j_lo:j_hi`` of ``v``.

    ``v[j, k] += coeff[k] * deriv[r, k] * x[r, j]`` over the batch's rows in
    order (``coeff[k] = -lr / (batch_len * wscale)``), skipping the heads
    whose derivative is zero for the row (a trained one-vs-rest model has
    many: a row is far on the right side of most heads). With
    ``averaging``, the lazy average keeps its value (``avg_coef -= avg_a *
    change``). With an L1 part, every column a row of the batch stores a
    value in is then truncated (``l1_truncate``; once: ``marks[j] = stamp``).
    """
    n_heads = coef.shape[1]
    for r in range(batch_len):
        x_values, x_indices = row_slices(X_data, X_indices, X_indptr, 0, True,
                                         order[batch_start + r])  # fmt: skip
        n_moving = 0
        for k in range(n_heads):
            dr[k] = coeff[k] * deriv[r, k]
            if dr[k] != 0.0:
                moving[n_moving] = k
                n_moving += 1
        if n_moving == 0:
            continue
        if n_heads == 1 and not (AVERAGING and averaging):
            d0 = dr[0]
            for jj in range(x_values.shape[0]):
                j = x_indices[jj]
                if j >= j_lo and j < j_hi:
                    coef[j, 0] += d0 * x_values[jj]
            continue
        every_head = n_moving == n_heads
        for jj in range(x_values.shape[0]):
            j = x_indices[jj]
            if j < j_lo or j >= j_hi:
                continue
            x = x_values[jj]
            w = coef[j]
            if AVERAGING and averaging:
                a = avg_coef[j]
                for m in range(n_moving):
                    k = moving[m]
                    change = dr[k] * x
                    w[k] += change
                    a[k] -= avg_a[k] * change
            elif every_head:
                for k in range(n_heads):
                    w[k] += dr[k] * x
            else:
                for m in range(n_moving):
                    k = moving[m]
                    w[k] += dr[k] * x
    if PENALTY == ELASTICNET:
        for r in range(batch_len):
            x_values, x_indices = row_slices(X_data, X_indices, X_indptr, 0, True,
                                             order[batch_start + r])  # fmt: skip
            for jj in range(x_indices.shape[0]):
                j = x_indices[jj]
                if j < j_lo or j >= j_hi or marks[j] == stamp:
                    continue
                marks[j] = stamp
                w = coef[j]
                q = l1_q[j]
                for k in range(n_heads):
                    if not active[k]:
                        continue
                    z = w[k]
                    v = l1_truncate(z, wscale[k], l1_u[k], q[k])
                    q[k] += wscale[k] * (v - z)
                    w[k] = v
                    if AVERAGING and averaging:
                        avg_coef[j, k] -= avg_a[k] * (v - z)


@cpu_called
def _fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, averaging):
    """Fold head ``k``'s ``wscale`` and lazy average into its (feature-major)
    weights: ``cpu.fold_head``, compiled once as a function of its own."""
    fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, averaging, True, k)


def sgd_epoch_sparse(
    data, targets, order, active, batch_size, params, scaled, rule, counters,
    scratch, loss_sum, n_parts,
):  # fmt: skip
    """One epoch of mini-batch SGD on CSR data, O(non-zeros) per step.

    The arguments are ``cpu.sgd_epoch_minibatch``'s, with ``params``'
    ``coef``, ``avg_coef`` and ``l1_q`` feature-major ``(n_features,
    n_heads)``, and ``scaled`` (``bundles.ScaledWeights``): ``coef`` holds
    ``v`` of ``w = wscale * v`` and the average is lazy, both carried over
    between the epochs of a call and folded by ``fold_scaled`` at its end.
    ``scratch`` comes from ``sparse_scratch``. ``n_parts`` column ranges
    split the scatter (the result does not depend on it: use the thread
    count). Returns ``(steps,
    n_averaged)``.
    """
    return plan(data, targets, order, active, batch_size, params, scaled, rule,
                counters, scratch, loss_sum, n_parts)()  # fmt: skip


def _scaled_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept, l1_q, l1_u,
    wscale, avg_a, avg_b, wscale_floor,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, intercept_decay, intercept_alpha,
    average, step_start, samples_seen_start, n_averaged_start,
    scores, deriv, row_loss, marks,
    loss_sum, n_parts,
):  # fmt: skip
    """Template of ``sgd_epoch_sparse``'s variants without momentum.

    Reads ``LOSS``, ``PENALTY``, ``TASK`` and ``AVERAGING`` as constants.
    Per batch: 1. the rows' scores and derivatives (parallel over chunks of
    ``ROWS`` rows, with the weights before the step); 2. per head, the rate
    and the L2 shrink as a change of ``wscale`` (folded first if it would
    fall below ``wscale_floor``); 3. the gradient scattered into ``v``
    (parallel over column ranges), with the lazy average kept and the L1
    truncation of the touched columns; 4. intercepts, the loss, and the
    lazy average's scalars.
    """
    n_heads = coef.shape[1]
    n_samples = order.shape[0]
    y_float_o, y_class_o, sample_weight_o = gather_in_order(
        y_float, y_class, sample_weight, order
    )
    targets = (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
               sample_weight_o)  # fmt: skip
    penalty_alpha = 0.0 if penalty == NO_PENALTY else alpha
    coeff = np.zeros(n_heads)
    lrs = np.zeros(n_heads)
    step_deriv = np.empty((n_parts, n_heads))
    step_heads = np.empty((n_parts, n_heads), dtype=np.int64)
    n_steps = 0
    n_averaged = n_averaged_start
    samples_seen = samples_seen_start
    for batch_start in range(0, n_samples, batch_size):
        batch_len = min(batch_size, n_samples - batch_start)
        first_step, t_batch, samples_seen, n_averaged = batch_counters(
            step_start + n_steps + 1, samples_seen, batch_len, average, n_averaged
        )
        inv_batch = 1.0 / batch_len
        stamp = step_start + n_steps + 1

        # 1. scores and derivatives, with the weights before the step
        n_chunks = (batch_len + ROWS - 1) // ROWS
        for c in prange(n_chunks):
            first = batch_start + c * ROWS
            _score_rows(
                X_data, X_indices, X_indptr, n_features, targets, order, first,
                min(first + ROWS, batch_start + batch_len), batch_start, active, coef,
                wscale, intercept, epsilon, scores, deriv, row_loss,
            )  # fmt: skip

        # 2. per head: the rate, the shrink, the scatter's coefficient
        for k in range(n_heads):
            coeff[k] = 0.0
            lrs[k] = 0.0
            if not active[k]:
                continue
            lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0, t_batch,
                               batch_len)  # fmt: skip
            lrs[k] = lr
            wscale[k] *= l2_shrink_factor(lr, penalty_alpha, l1_ratio)
            if wscale[k] < wscale_floor:
                _fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, AVERAGING)
            coeff[k] = -lr * inv_batch / wscale[k]
            if PENALTY == ELASTICNET:
                l1_u[k] += l1_penalty_step(lr, penalty_alpha, l1_ratio)

        # 3. the gradient into v, column ranges in parallel
        averaging = n_averaged > 0
        for p in prange(n_parts):
            _scatter_part(
                X_data, X_indices, X_indptr, order, batch_start, batch_len,
                p * n_features // n_parts, (p + 1) * n_features // n_parts, active,
                coef, avg_coef, l1_q, l1_u, wscale, avg_a, deriv, coeff, step_deriv[p],
                step_heads[p], marks, stamp, averaging,
            )  # fmt: skip

        # 4. intercepts (never penalised), the loss, the lazy average
        for k in range(n_heads):
            g = 0.0
            for r in range(batch_len):
                g += deriv[r, k]
                loss_sum[k] += row_loss[r, k]
            if not active[k]:
                continue
            if fit_intercept:
                _optimizer_step(intercept, intercept_buf, k,
                                intercept_gradient(g, inv_batch, intercept_alpha,
                                                   intercept_decay),
                                first_step, lrs[k],
                                0.0, 0.0, False)  # fmt: skip
            if AVERAGING and averaging:
                avg_intercept[k] = running_mean(
                    avg_intercept[k], intercept[k], n_averaged
                )
                mu = 1.0 / n_averaged
                if n_averaged > 1:
                    avg_b[k] /= 1.0 - mu
                avg_a[k] += mu * avg_b[k] * wscale[k]
        n_steps += 1
    return n_steps, n_averaged


# --------------------------------------------------------------------------
# With momentum: exact catch-up of the skipped steps
# --------------------------------------------------------------------------

#: Columns per unit of work of the momentum kernel's catch-up phase.
COLUMNS = 256


@cpu_inline
def _step_map(out, lr, l2_alpha, momentum, dampening, nesterov, first_step,
              n_averaged, averaging):  # fmt: skip
    """The matrix of one step of a weight no row of the batch touched.

    Its gradient is the L2 part of the penalty alone, ``l2_alpha * w``, so
    ``momentum_step`` is linear in ``(w, buf)`` (and the running average,
    ``avg += (w' - avg) / n_averaged``, in ``(w, buf, avg)``): ``out`` (2 x 2,
    or 3 x 3 with ``averaging``) maps them before the step to after it.
    """
    if first_step:  # the buffer starts as the gradient
        m10 = l2_alpha
        m11 = 0.0
        m00 = 1.0 - lr * l2_alpha * (1.0 + momentum) if nesterov else 1.0 - lr * m10
        m01 = 0.0
    else:
        m10 = (1.0 - dampening) * l2_alpha
        m11 = momentum
        if nesterov:
            m00 = 1.0 - lr * (l2_alpha + momentum * m10)
            m01 = -lr * momentum * m11
        else:
            m00 = 1.0 - lr * m10
            m01 = -lr * m11
    out[0, 0] = m00
    out[0, 1] = m01
    out[1, 0] = m10
    out[1, 1] = m11
    if averaging:
        out[0, 2] = 0.0
        out[1, 2] = 0.0
        if n_averaged > 0:
            mu = 1.0 / n_averaged
            out[2, 0] = m00 * mu
            out[2, 1] = m01 * mu
            out[2, 2] = 1.0 - mu
        else:
            out[2, 0] = 0.0
            out[2, 1] = 0.0
            out[2, 2] = 1.0


@cpu_inline
def _matmul_small(a, b, out):
    """``out = a @ b`` for the small square matrices of ``_step_map``."""
    d = out.shape[0]
    for i in range(d):
        for j in range(d):
            acc = 0.0
            for m in range(d):
                acc += a[i, m] * b[m, j]
            out[i, j] = acc


@cpu_inline
def _range_map(tree, offsets, n_levels, first, last, product, temp):
    """``product`` = the map of steps ``first + 1 .. last`` (``last >
    first``): the aligned blocks of ``tree`` that tile the range, composed
    later over earlier (``O(log(last - first))`` products)."""
    d = product.shape[0]
    pos = first
    level = 0
    started = False
    while pos < last:
        level = 0
        while (level + 1 < n_levels and pos % (1 << (level + 1)) == 0
               and pos + (1 << (level + 1)) <= last):  # fmt: skip
            level += 1
        block = tree[offsets[level] + (pos >> level)]
        if not started:
            for i in range(d):
                for j in range(d):
                    product[i, j] = block[i, j]
            started = True
        else:
            _matmul_small(block, product, temp)
            for i in range(d):
                for j in range(d):
                    product[i, j] = temp[i, j]
        pos += 1 << level


@cpu_configured(inline=False, refcounts=False)
def _catch_up_columns(columns, lo, hi, now, last, tree, offsets, n_levels,
                      head_group, n_groups, coef, coef_buf, avg_coef, product,
                      temp):  # fmt: skip
    """Bring columns ``columns[lo:hi]`` over the steps since they were last
    current (``last[j]``) up to step ``now``: per group of heads that share a
    rate, the steps' map (``_range_map``) applied to every head's
    ``(w, buf[, avg])`` (``product``, ``temp``: ``d x d`` buffers)."""
    n_heads = coef.shape[1]
    for tt in range(lo, hi):
        j = columns[tt]
        first = last[j]
        if first >= now:
            continue
        for g in range(n_groups):
            _range_map(tree[g], offsets, n_levels, first, now, product, temp)
            for k in range(n_heads):
                if head_group[k] != g:
                    continue
                w = coef[j, k]
                b = coef_buf[j, k]
                coef[j, k] = product[0, 0] * w + product[0, 1] * b
                coef_buf[j, k] = product[1, 0] * w + product[1, 1] * b
                if AVERAGING:
                    a = avg_coef[j, k]
                    avg_coef[j, k] = (product[2, 0] * w + product[2, 1] * b
                                      + product[2, 2] * a)  # fmt: skip
        last[j] = now


@cpu_configured(inline=False, refcounts=False)
def _momentum_part(
    X_data, X_indices, X_indptr, order, batch_start, batch_len, j_lo, j_hi, active,
    coef, coef_buf, avg_coef, l1_q, l1_u, deriv, grad, touched, n_touched, last,
    step, lrs, inv_batch, l2_alpha, momentum, dampening, nesterov, first_step,
    n_averaged,
):  # fmt: skip
    """Columns ``j_lo:j_hi`` of one step: the batch's gradient summed over its
    rows in order, then, for each touched column, the penalty's L2 part,
    ``momentum_step``, the L1 part's truncation and the running average, as
    ``cpu._block_step`` does."""
    n_heads = coef.shape[1]
    for r in range(batch_len):
        x_values, x_indices = row_slices(X_data, X_indices, X_indptr, 0, True,
                                         order[batch_start + r])  # fmt: skip
        d = deriv[r]
        for jj in range(x_values.shape[0]):
            j = x_indices[jj]
            if j < j_lo or j >= j_hi:
                continue
            x = x_values[jj]
            g = grad[j]
            for k in range(n_heads):
                g[k] += d[k] * x
    for tt in range(n_touched):
        j = touched[tt]
        if j < j_lo or j >= j_hi:
            continue
        g_row = grad[j]
        w_row = coef[j]
        b_row = coef_buf[j]
        for k in range(n_heads):
            g_sum = g_row[k]
            g_row[k] = 0.0
            if not active[k]:
                continue
            g = g_sum * inv_batch + penalty_gradient(L2, l2_alpha, 0.0, w_row[k])
            w, b = momentum_step(w_row[k], g, b_row[k], first_step, lrs[k], momentum,
                                 dampening, nesterov)  # fmt: skip
            b_row[k] = b
            if PENALTY == ELASTICNET:
                z = w
                w = l1_truncate(z, 1.0, l1_u[k], l1_q[j, k])
                l1_q[j, k] += w - z
            w_row[k] = w
            if AVERAGING and n_averaged > 0:
                avg_coef[j, k] = running_mean(avg_coef[j, k], w, n_averaged)
        last[j] = step


def _momentum_epoch(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept, l1_q, l1_u,
    wscale, avg_a, avg_b, wscale_floor,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, intercept_decay, intercept_alpha,
    average, step_start, samples_seen_start, n_averaged_start,
    scores, deriv, row_loss, marks,
    loss_sum, n_parts,
):  # fmt: skip
    """Template of ``sgd_epoch_sparse``'s variants with momentum.

    ``(w, buf)`` of a weight no row of a batch touches evolves by a linear
    map (``_step_map``; with averaging, ``(w, buf, avg)``). Each step's map
    goes into a tree of aligned blocks of steps (each block the product of
    its steps), and a column is brought up to date right before a batch
    touches it, and at the end of the call, by the blocks that tile the
    steps it missed: ``O(log(steps missed))`` small products per column
    and group of heads sharing a rate, whatever the schedule. Per batch:
    the touched columns (serial), their catch-up (parallel over ``COLUMNS``
    columns at a time), the rows' scores (parallel over ``ROWS`` rows), the
    gradient and step of the touched columns (parallel over column ranges),
    intercepts and the loss. ``wscale`` stays 1 (nothing is scaled).
    """
    n_heads = coef.shape[1]
    n_samples = order.shape[0]
    y_float_o, y_class_o, sample_weight_o = gather_in_order(
        y_float, y_class, sample_weight, order
    )
    targets = (y_float_o, y_class_o, head_positive, weight_pos, weight_neg,
               sample_weight_o)  # fmt: skip
    penalty_alpha = 0.0 if penalty == NO_PENALTY else alpha
    l2_alpha = penalty_alpha * (1.0 - l1_ratio)
    n_batches = (n_samples + batch_size - 1) // batch_size
    # heads that share a rate share the maps of the untouched steps
    head_group = np.full(n_heads, -1, dtype=np.int64)
    group_eta = np.empty(n_heads)
    n_groups = 0
    for k in range(n_heads):
        if not active[k]:
            continue
        for g in range(n_groups):
            if group_eta[g] == eta[k]:
                head_group[k] = g
        if head_group[k] < 0:
            group_eta[n_groups] = eta[k]
            head_group[k] = n_groups
            n_groups += 1
    n_levels = 1
    while (1 << n_levels) <= n_batches:
        n_levels += 1
    offsets = np.zeros(n_levels + 1, dtype=np.int64)
    for level in range(n_levels):
        offsets[level + 1] = offsets[level] + (n_batches >> level)
    d = 3 if AVERAGING else 2
    tree = np.zeros((max(n_groups, 1), max(offsets[n_levels], 1), d, d))
    last = np.zeros(n_features, dtype=np.int64)  # the step each column is current at
    touched = np.empty(n_features, dtype=np.int64)
    # the catch-up's matrix buffers, one pair per unit of columns
    products = np.empty(((n_features + COLUMNS - 1) // COLUMNS, d, d))
    temps = np.empty_like(products)
    grad = np.zeros((n_features, n_heads))
    lrs = np.zeros(n_heads)
    group_lr = np.zeros(max(n_groups, 1))
    n_averaged = n_averaged_start
    samples_seen = samples_seen_start
    for s in range(1, n_batches + 1):
        batch_start = (s - 1) * batch_size
        batch_len = min(batch_size, n_samples - batch_start)
        first_step, t_batch, samples_seen, n_averaged = batch_counters(
            step_start + s, samples_seen, batch_len, average, n_averaged
        )
        inv_batch = 1.0 / batch_len
        stamp = step_start + s

        # 1. the columns the batch touches, each once
        n_touched = 0
        for r in range(batch_start, batch_start + batch_len):
            x_values, x_indices = row_slices(X_data, X_indices, X_indptr, 0, True,
                                             order[r])  # fmt: skip
            for jj in range(x_indices.shape[0]):
                j = x_indices[jj]
                if marks[j] != stamp:
                    marks[j] = stamp
                    touched[n_touched] = j
                    n_touched += 1

        # 2. their catch-up to the step before this one
        n_units = (n_touched + COLUMNS - 1) // COLUMNS
        for u in prange(n_units):
            _catch_up_columns(touched, u * COLUMNS, min((u + 1) * COLUMNS, n_touched),
                              s - 1, last, tree, offsets, n_levels, head_group,
                              n_groups, coef, coef_buf, avg_coef, products[u],
                              temps[u])  # fmt: skip

        # 3. scores and derivatives, with the weights before the step
        n_chunks = (batch_len + ROWS - 1) // ROWS
        for c in prange(n_chunks):
            first = batch_start + c * ROWS
            _score_rows(
                X_data, X_indices, X_indptr, n_features, targets, order, first,
                min(first + ROWS, batch_start + batch_len), batch_start, active, coef,
                wscale, intercept, epsilon, scores, deriv, row_loss,
            )  # fmt: skip

        # 4. the rates; the L1 part's running total
        for g in range(n_groups):
            group_lr[g] = learning_rate(schedule, group_eta[g], alpha, power_t,
                                        optimal_t0, t_batch, batch_len)  # fmt: skip
        for k in range(n_heads):
            lrs[k] = 0.0
            if head_group[k] >= 0:
                lrs[k] = group_lr[head_group[k]]
                if PENALTY == ELASTICNET:
                    l1_u[k] += l1_penalty_step(lrs[k], penalty_alpha, l1_ratio)

        # 5. the touched columns' gradient and step, column ranges in parallel
        for p in prange(n_parts):
            _momentum_part(
                X_data, X_indices, X_indptr, order, batch_start, batch_len,
                p * n_features // n_parts, (p + 1) * n_features // n_parts, active,
                coef, coef_buf, avg_coef, l1_q, l1_u, deriv, grad, touched,
                n_touched, last, s, lrs, inv_batch, l2_alpha, momentum, dampening,
                nesterov, first_step, n_averaged,
            )  # fmt: skip

        # 6. intercepts (never penalised) and the loss
        for k in range(n_heads):
            g = 0.0
            for r in range(batch_len):
                g += deriv[r, k]
                loss_sum[k] += row_loss[r, k]
            if not active[k]:
                continue
            if fit_intercept:
                _optimizer_step(intercept, intercept_buf, k,
                                intercept_gradient(g, inv_batch, intercept_alpha,
                                                   intercept_decay),
                                first_step, lrs[k],
                                momentum, dampening, nesterov)  # fmt: skip
            if AVERAGING and n_averaged > 0:
                avg_intercept[k] = running_mean(
                    avg_intercept[k], intercept[k], n_averaged
                )

        # 7. the map of this step for the untouched columns, into the tree
        for g in range(n_groups):
            _step_map(tree[g, s - 1], group_lr[g], l2_alpha, momentum, dampening,
                      nesterov, first_step, n_averaged, AVERAGING)  # fmt: skip
            level = 1
            while level < n_levels and s % (1 << level) == 0:
                i = s // (1 << level) - 1
                _matmul_small(tree[g, offsets[level - 1] + 2 * i + 1],
                              tree[g, offsets[level - 1] + 2 * i],
                              tree[g, offsets[level] + i])  # fmt: skip
                level += 1

    # every column up to date at the end of the call
    all_columns = np.arange(n_features)
    n_units = (n_features + COLUMNS - 1) // COLUMNS
    for u in prange(n_units):
        _catch_up_columns(all_columns, u * COLUMNS,
                          min((u + 1) * COLUMNS, n_features), n_batches, last, tree,
                          offsets, n_levels, head_group, n_groups, coef, coef_buf,
                          avg_coef, products[u], temps[u])  # fmt: skip
    return n_batches, n_averaged


_VARIANTS = {}


def sparse_settings(loss_code, penalty, task, average, momentum):
    """The compile-time settings of an O(nnz) sparse fit."""
    return dict(
        LOSS=LOG_LOSS if task == MULTINOMIAL else int(loss_code),
        PENALTY=penalty_setting(penalty),
        TASK=int(task),
        AVERAGING=average > 0,
        MOMENTUM=momentum != 0.0,
        SPARSE=True,
    )


def sparse_parallel(batch_size, nnz_per_row, n_heads):
    """Whether a step of this size is worth the parallel variant (the data
    decides, never the thread count)."""
    return worth_parallel(batch_size * max(nnz_per_row, 1.0) * n_heads, PARALLEL_WORK)


def plan(data, targets, order, active, batch_size, params, scaled, rule, counters,
         scratch, loss_sum, n_parts):  # fmt: skip
    """The ``_jit.Plan`` of ``sgd_epoch_sparse`` on these arguments (one part
    unless it is parallel)."""
    settings = sparse_settings(rule.loss_code, rule.penalty, targets.task,
                               rule.average, rule.momentum)  # fmt: skip
    n_rows = max(data.X_indptr.shape[0] - 1, 1)
    nnz_per_row = data.X_data.shape[0] / n_rows
    batch = min(batch_size, max(order.shape[0], 1))
    parallel = sparse_parallel(batch, nnz_per_row, params.coef.shape[1])
    key = (tuple(settings.values()), parallel)
    kernel = _VARIANTS.get(key)
    if kernel is None:
        template = _momentum_epoch if settings["MOMENTUM"] else _scaled_epoch
        kernel = specialize(template, settings, fastmath=FASTMATH,
                            parallel=parallel)  # fmt: skip
        _VARIANTS[key] = kernel
    if not parallel:
        n_parts = 1
    return Plan(kernel, flatten(data, targets, order, active, batch_size, params,
                                scaled, rule, counters, scratch, loss_sum, n_parts),
                parallel)  # fmt: skip


def sparse_scratch(batch_size, n_heads, n_features, dtype, penalty, momentum):
    """Scratch of ``sgd_epoch_sparse`` (``bundles.SparseScratch``): per row
    of a batch its scores, derivatives and losses; the step each column was
    last touched at (with an L1 part, or momentum)."""
    marks = penalty_setting(penalty) == ELASTICNET or momentum != 0.0
    return SparseScratch(
        np.empty((batch_size, n_heads), dtype=dtype),
        np.zeros((batch_size, n_heads), dtype=dtype),
        np.zeros((batch_size, n_heads)),
        np.full(n_features if marks else 0, -1, dtype=np.int64),
    )


@cpu_kernel(fastmath=FASTMATH_EXACT, parallel=False)
def fold_scaled(coef, avg_coef, wscale, avg_a, avg_b, averaging):
    """Fold every head's ``wscale`` and lazy average into the feature-major
    ``coef`` / ``avg_coef``."""
    for k in range(coef.shape[1]):
        _fold_head(coef, avg_coef, wscale, avg_a, avg_b, k, averaging)
