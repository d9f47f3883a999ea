"""GPU twins of the linear kernels in ``cpu.py`` (``numba.cuda``).

Imported only when a GPU is asked for. The math (losses, schedules, penalty,
the ``torch.optim.SGD`` momentum rule) is the math layer's and the kernel
helpers (row access, a head's weighted derivative, the batch counters, the
chunk sums, an intercept's gradient) are ``rows.py``'s and ``minibatch.py``'s, the same
plain Python functions the CPU kernels compile, here compiled with
``cuda.jit(device=True)``: nothing here re-writes a formula. What is this
file's own is the spread of the work over GPU threads.

``sgd_epoch_minibatch`` takes the CPU kernel's argument bundles
(``bundles.py``), passes their fields to the kernel, and trains one epoch
in one persistent kernel launch: every block loops over the batches, and a
grid-wide barrier (``cuda.cg.this_grid().sync()``) separates the phases of a
batch. Per batch:

A. one thread per (row, head): the score ``x . w_k + b_k`` and, unless the
   model is multinomial, the weighted loss derivative and the loss;
A2. (multinomial only) one thread per row: the softmax cross-entropy;
B. one thread per (row chunk, head, feature): the chunk's gradient sum
   ``sum_r d_rk x_rj`` over its ``CHUNK`` rows, in row order (a CSR batch: one
   thread per (chunk, head) scatters the chunk's rows in order);
C. one thread per (head, feature): the chunk sums added in chunk order, the
   penalty, ``momentum_step`` and the running average; one thread per head
   does the intercept and adds the batch's loss, rows in order.

Every sum runs in a fixed order inside one thread: no atomics, so the result
does not depend on the number of blocks or threads (and is the same run to
run). The data (``X``, targets, weights) stays on the GPU across epochs;
the epoch's order (a permutation drawn on the host, the same one the CPU
kernel gets) is copied in once per epoch and rows are gathered through it.
"""

import numpy as np
from numba import cuda

from fastsgd._kernels._jit import bind_sources, gpu_function, gpu_kernel
from fastsgd._kernels.bundles import MinibatchScratch
from fastsgd._kernels.cuda_launch import Arguments, launch, launch_shape, to_device
from fastsgd._kernels.minibatch import batch_counters, intercept_gradient, sum_chunks
from fastsgd._kernels.rows import head_target, row_dot, row_slices, weighted_derivative
from fastsgd._math import codes
from fastsgd._math.losses import loss_derivative, loss_value, softmax_cross_entropy
from fastsgd._math.schedules import learning_rate
from fastsgd._math.updates import (
    l1_penalty_step,
    l1_truncate,
    momentum_step,
    penalty_gradient,
    running_mean,
)

# the math and the CPU kernels' helpers (``rows.py``, ``minibatch.py``): the
# same plain Python functions, compiled for the GPU
bind_sources(globals(), "gpu")

#: Rows per gradient chunk of a dense batch (phase B's unit of work).
CHUNK = 64
#: Rows per chunk of a CSR batch (one thread scatters a chunk for one head).
SPARSE_CHUNK = 16


@gpu_kernel
def _linear_scores(X_data, X_indices, X_indptr, n_features, is_sparse, coef,
                   intercept, out):  # fmt: skip
    n_heads = coef.shape[0]
    start = cuda.grid(1)
    for u in range(start, out.shape[0] * n_heads, cuda.gridsize(1)):
        i = u // n_heads
        k = u - i * n_heads
        x_values, x_indices = row_slices(X_data, X_indices, X_indptr, n_features,
                                         is_sparse, i)  # fmt: skip
        out[i, k] = row_dot(x_values, x_indices, is_sparse, coef[k]) + intercept[k]


def linear_scores(X, coef, intercept):
    """``X @ coef.T + intercept`` for a 2-D device ``X`` (host result, float64)."""
    n = X.shape[0]
    out = cuda.device_array((n, coef.shape[0]), dtype=np.float64)
    empty = cuda.to_device(np.zeros(0, np.int32))
    launch(
        _linear_scores, launch_shape(out.size), X.reshape(X.size), empty, empty, X.shape[1], False,
        to_device(coef.astype(X.dtype)), to_device(np.asarray(intercept, np.float64)),
        out,
    )  # fmt: skip
    return out.copy_to_host()


# --------------------------------------------------------------------------
# Mini-batch training
# --------------------------------------------------------------------------


@gpu_function
def parameter_step(params, buffer, i, g, first_step, lr, momentum, dampening,
                   nesterov, keep_buffer):  # fmt: skip
    """Step parameter ``params[i]`` (a weight or an intercept) with its
    gradient ``g`` (a weight's includes the L2 part of its penalty),
    ``torch.optim.SGD``'s ``momentum_step``; returns the new value.

    ``buffer[i]`` is read and written only when ``keep_buffer`` (a fit with
    momentum). The CPU kernels compose the same math function in a
    configured helper (``cpu._optimizer_step``) that prunes the momentum
    buffer at compile time (``minibatch.py`` says why).
    """
    w = params[i]
    if keep_buffer:
        w, buf = momentum_step(w, g, buffer[i], first_step, lr, momentum,
                               dampening, nesterov)  # fmt: skip
        buffer[i] = buf
    else:  # constants: the step's momentum branches fold away
        w, _ = momentum_step(w, g, 0.0, first_step, lr, 0.0, 0.0, False)
    params[i] = w
    return w


@gpu_kernel
def _minibatch_kernel(
    X_data, X_indices, X_indptr, n_features, is_sparse,
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight,
    order, active, batch_size,
    coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept, l1_q, l1_u,
    loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
    momentum, dampening, nesterov, fit_intercept, intercept_decay, intercept_alpha,
    step_start, samples_seen_start, average, n_averaged_start,
    scores, deriv, partial, row_loss, chunk_sums, loss_sum, counters, touched,
):  # fmt: skip
    grid = cuda.cg.this_grid()
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    keep_buffer = momentum != 0.0
    averaging = average > 0
    penalty_alpha = 0.0 if penalty == codes.NO_PENALTY else alpha
    l2_alpha = penalty_alpha * (1.0 - l1_ratio)
    has_l1 = penalty == codes.L1 or penalty == codes.ELASTICNET
    n_heads = coef.shape[0]
    n = order.shape[0]
    chunk = SPARSE_CHUNK if is_sparse else CHUNK
    n_batches = (n + batch_size - 1) // batch_size
    samples_seen = samples_seen_start
    n_averaged = n_averaged_start
    for batch in range(n_batches):
        batch_start = batch * batch_size
        batch_len = min(batch_size, n - batch_start)
        n_chunks = (batch_len + chunk - 1) // chunk
        first_step, t_batch, samples_seen, n_averaged = batch_counters(
            step_start + batch + 1, samples_seen, batch_len, average, n_averaged
        )
        inv_batch = 1.0 / batch_len
        stamp = step_start + batch + 1

        # A. scores, and the derivatives of independent heads
        for u in range(start, batch_len * n_heads, stride):
            r = u // n_heads
            k = u - r * n_heads
            i = order[batch_start + r]
            x_values, x_indices = row_slices(X_data, X_indices, X_indptr, n_features,
                                             is_sparse, i)  # fmt: skip
            p = row_dot(x_values, x_indices, is_sparse, coef[k]) + intercept[k]
            if task == codes.MULTINOMIAL:
                scores[r, k] = p
            elif active[k]:
                y = head_target(task, loss_code, y_float, y_class, head_positive, i, k)
                row_loss[r, k] = loss_value(loss_code, y, p, epsilon)
                deriv[r, k] = weighted_derivative(
                    loss_derivative(loss_code, y, p, epsilon), y, weight_pos,
                    weight_neg, sample_weight, i, k,
                )  # fmt: skip
            else:
                deriv[r, k] = 0.0
                row_loss[r, k] = 0.0
        grid.sync()
        # A2. softmax cross-entropy of each row
        if task == codes.MULTINOMIAL:
            for r in range(start, batch_len, stride):
                i = order[batch_start + r]
                label = y_class[i]
                loss = softmax_cross_entropy(scores[r], label, deriv[r])
                w = sample_weight[i] * weight_pos[label]
                for k in range(n_heads):
                    deriv[r, k] *= w
                    row_loss[r, k] = 0.0
                row_loss[r, 0] = loss
            grid.sync()

        # B. gradient sums per chunk of rows, rows in order; per (chunk, head)
        # also the sums of the derivatives (intercept) and of the losses
        if is_sparse:
            for u in range(start, n_chunks * n_heads, stride):
                c = u // n_heads
                k = u - c * n_heads
                g_b = 0.0
                loss = 0.0
                for r in range(c * chunk, min((c + 1) * chunk, batch_len)):
                    d = deriv[r, k]
                    g_b += d
                    loss += row_loss[r, k]
                    i = order[batch_start + r]
                    if has_l1 and k == 0:  # the columns the batch touches
                        for p in range(X_indptr[i], X_indptr[i + 1]):
                            touched[X_indices[p]] = stamp
                    if d != 0.0:
                        for p in range(X_indptr[i], X_indptr[i + 1]):
                            partial[c, k, X_indices[p]] += d * X_data[p]
                chunk_sums[c, 0, k] = g_b
                chunk_sums[c, 1, k] = loss
        else:
            per_chunk = n_heads * n_features
            n_units = n_chunks * per_chunk
            for u in range(start, n_units + n_chunks * n_heads, stride):
                if u >= n_units:
                    c = (u - n_units) // n_heads
                    k = u - n_units - c * n_heads
                    g_b = 0.0
                    loss = 0.0
                    for r in range(c * chunk, min((c + 1) * chunk, batch_len)):
                        g_b += deriv[r, k]
                        loss += row_loss[r, k]
                    chunk_sums[c, 0, k] = g_b
                    chunk_sums[c, 1, k] = loss
                    continue
                c = u // per_chunk
                rest = u - c * per_chunk
                k = rest // n_features
                j = rest - k * n_features
                acc = 0.0
                for r in range(c * chunk, min((c + 1) * chunk, batch_len)):
                    acc += deriv[r, k] * X_data[order[batch_start + r] * n_features + j]
                partial[c, k, j] = acc
        # the L1 part's running total grows before the truncations
        if has_l1 and start == 0:
            for k in range(n_heads):
                if active[k]:
                    lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0,
                                       t_batch, batch_len)  # fmt: skip
                    l1_u[k] += l1_penalty_step(lr, penalty_alpha, l1_ratio)
        grid.sync()

        # C. reduce the chunks in order and step (the L1 part: the cumulative
        # truncation of the touched columns, as cpu._block_step); intercepts
        # and the loss
        n_weights = n_heads * n_features
        for u in range(start, n_weights + n_heads, stride):
            if u < n_weights:
                k = u // n_features
                j = u - k * n_features
                g_sum = sum_chunks(partial, n_chunks, k, j)
                if active[k]:
                    lr = learning_rate(schedule, eta[k], alpha, power_t, optimal_t0,
                                       t_batch, batch_len)  # fmt: skip
                    g = g_sum * inv_batch + penalty_gradient(codes.L2, l2_alpha, 0.0,
                                                             coef[k, j])  # fmt: skip
                    w = parameter_step(coef[k], coef_buf[k], j, g, first_step, lr,
                                       momentum, dampening, nesterov,
                                       keep_buffer)  # fmt: skip
                    if has_l1 and (not is_sparse or touched[j] == stamp):
                        z = w
                        w = l1_truncate(z, 1.0, l1_u[k], l1_q[k, j])
                        l1_q[k, j] += w - z
                        coef[k, j] = w
                    if averaging and n_averaged > 0:
                        # the step's value, before a float32 weight rounds it
                        avg_coef[k, j] = running_mean(avg_coef[k, j], w, n_averaged)
            else:
                k = u - n_weights
                g = 0.0
                loss = 0.0
                for c in range(n_chunks):
                    g += chunk_sums[c, 0, k]
                    loss += chunk_sums[c, 1, k]
                loss_sum[k] += loss
                if active[k]:
                    w = intercept[k]
                    if fit_intercept:
                        lr = learning_rate(schedule, eta[k], alpha, power_t,
                                           optimal_t0, t_batch, batch_len)  # fmt: skip
                        w = parameter_step(intercept, intercept_buf, k,
                                           intercept_gradient(
                                               g, inv_batch, intercept_alpha,
                                               intercept_decay),
                                           first_step, lr, momentum, dampening,
                                           nesterov, keep_buffer)  # fmt: skip
                    if averaging and n_averaged > 0:
                        avg_intercept[k] = running_mean(avg_intercept[k], w,
                                                        n_averaged)  # fmt: skip
        grid.sync()
    if start == 0:
        counters[0] = n_averaged


def minibatch_scratch(batch_size, n_heads, n_features, dtype, is_sparse):
    """GPU scratch of ``sgd_epoch_minibatch`` (``bundles.MinibatchScratch``):
    scores, deriv, partial, and the row losses in ``partial_b``.

    The CPU twin's signature; the shapes are this backend's: per-row
    derivatives, per-chunk gradient sums (zeros), and in float64 the per-row
    losses followed by the per-chunk sums of derivatives and losses.
    """
    chunk = SPARSE_CHUNK if is_sparse else CHUNK
    n_chunks = (batch_size + chunk - 1) // chunk
    return MinibatchScratch(
        cuda.device_array((batch_size, n_heads), dtype=dtype),
        cuda.device_array((batch_size, n_heads), dtype=dtype),
        cuda.to_device(np.zeros((n_chunks, n_heads, n_features), dtype=dtype)),
        cuda.device_array((batch_size + 2 * n_chunks, n_heads), dtype=np.float64),
    )


def sgd_epoch_minibatch(
    data, targets, order, active, batch_size, params, rule, counters, scratch, loss_sum
):
    """The GPU twin of ``cpu.sgd_epoch_minibatch``: same arguments, same result.

    The bundles' fields are passed to ``_minibatch_kernel`` one by one (a
    CUDA kernel's arguments stay flat). Host arrays are copied to the GPU
    (and the ones the epoch updates copied back); device arrays are used in
    place. Returns ``(steps, n_averaged)`` (the kernel's own count,
    ``batch_counters``).
    """
    X_data, X_indices, X_indptr, n_features, is_sparse = data
    y_float, y_class, task, head_positive, weight_pos, weight_neg, sample_weight = (
        targets
    )
    (coef, intercept, coef_buf, intercept_buf, avg_coef, avg_intercept, l1_q,
     l1_u) = params  # fmt: skip
    (loss_code, epsilon, penalty, alpha, l1_ratio, schedule, eta, power_t, optimal_t0,
     momentum, dampening, nesterov, fit_intercept, intercept_decay, intercept_alpha,
     average) = rule  # fmt: skip
    step_start, samples_seen_start, n_averaged_start = counters
    scores, deriv, partial, partial_b = scratch
    n = int(order.shape[0])
    batch_size = int(batch_size)
    n_heads = coef.shape[0]
    capacity = scores.shape[0]
    row_loss = partial_b[:capacity]
    n_chunks = (partial_b.shape[0] - capacity) // 2
    chunk_sums = partial_b[capacity:].reshape((n_chunks, 2, n_heads))
    arg = Arguments()
    n_averaged = cuda.to_device(np.array([n_averaged_start], dtype=np.int64))
    work = max(batch_size * n_heads, CHUNK * n_heads * n_features)
    launch(
        _minibatch_kernel, launch_shape(work), arg(X_data), arg(X_indices),
        arg(X_indptr), int(n_features), bool(is_sparse),
        arg(y_float), arg(y_class), int(task), arg(head_positive), arg(weight_pos),
        arg(weight_neg), arg(sample_weight), arg(order.astype(np.int64, copy=False)),
        arg(active), batch_size,
        arg(coef, True), arg(intercept, True), arg(coef_buf, True),
        arg(intercept_buf, True), arg(avg_coef, True), arg(avg_intercept, True),
        arg(l1_q, True), arg(l1_u, True),
        int(loss_code), float(epsilon), int(penalty), float(alpha), float(l1_ratio),
        int(schedule), arg(eta), float(power_t), float(optimal_t0), float(momentum),
        float(dampening), bool(nesterov), bool(fit_intercept), float(intercept_decay),
        float(intercept_alpha), int(step_start), int(samples_seen_start), int(average), int(n_averaged_start),
        scores, deriv, partial, row_loss, chunk_sums, arg(loss_sum, True), n_averaged,
        cuda.to_device(np.full(n_features if is_sparse else 0, -1, dtype=np.int64)),
    )  # fmt: skip
    arg.copy_back()
    return -(-n // batch_size), int(n_averaged.copy_to_host()[0])
