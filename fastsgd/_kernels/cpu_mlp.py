"""CPU kernel of the multi-layer perceptron: one call trains one epoch.

``mlp_epoch`` runs the whole batch loop in compiled code: per batch, the
forward pass, the output loss and delta, backpropagation, the gradients and
the optimizer step. The same kernel computes the L-BFGS objective (one batch
of all samples, ``codes.GRADIENT_ONLY``: the gradient without a step) and the
predictions (``codes.FORWARD_ONLY``), so it compiles once per dtype.

Parameters live in one flat vector ``theta`` in scikit-learn's ``_pack``
order: every layer's ``(fan_in, fan_out)`` weights, then every intercept.
``units`` holds the layer sizes ``[n_features, *hidden, n_outputs]``. The
optimizer state (``state1``, ``state2``) and the gradient have the same layout.

Work split, fixed by the shapes alone (never by the thread count), so that the
result is bitwise the same for any number of threads:

- a batch is cut into row chunks of at most ``ROWS`` rows (one chunk for the
  usual batch sizes); one ``prange`` over chunks gathers the rows, runs the
  forward pass of every layer, the loss, the output delta and the backward
  deltas (each chunk's rows depend on nothing else);
- one ``prange`` over the layers computes each layer's weight gradient
  ``A_l.T @ delta_{l+1}`` with one BLAS call over the whole batch (the sum
  over samples is never split), adds the L2 term and applies the optimizer
  step while the layer is in cache; the intercepts are units of their own.

Whole-batch BLAS calls won over splitting a layer's product into blocks for
threads: on this project's 2-core machine, cutting the 128 x 784 x 256
product into 64-row halves made it 1.5x slower on one core, and the
transposed copies that a fan-in split needs cost more than they saved
(``docs/mlp.md``, "Kernels").

Matrix products are ``np.dot`` (BLAS, single-threaded: the trainer pins BLAS
to one thread with threadpoolctl so that Numba's threads and BLAS's do not
compete); everything else is the math layer's element-wise code.
The kernel is compiled without fast-math, so element-wise arithmetic rounds
as scikit-learn's NumPy code does.
"""

import numpy as np
from numba import prange

from fastsgd._kernels._jit import cpu_function, cpu_kernel
from fastsgd._kernels.cpu import prefetch_row, row_slices
from fastsgd._math import activations, codes, updates

activation_value = cpu_function(activations.activation_value)
activation_backprop = cpu_function(activations.activation_backprop)
softmax_inplace = cpu_function(activations.softmax_inplace)
output_loss = cpu_function(activations.output_loss)
output_delta = cpu_function(activations.output_delta)
mlp_step = cpu_function(updates.mlp_step)
adam_step_scalars = cpu_function(updates.adam_step_scalars)

#: Row parts of a batch: ``ceil(rows / ROWS)``, at most ``MAX_PARTS``.
ROWS = 100
MAX_PARTS = 8
#: Weight rows (input units) per block of the reduce-and-step phase.
BLOCK = 64
#: Rows gathered ahead of use (software prefetch of shuffled rows).
PREFETCH_AHEAD = 8
#: Independent accumulators of the sum of squares (one vector register).
LANES = 16


@cpu_function
def n_parts(n, width):
    """How many balanced parts of at most ``width`` cover ``n`` (at least 1)."""
    return max(1, (n + width - 1) // width)


@cpu_function
def row_parts(rows):
    """Row parts of a batch of ``rows`` rows (fixed by the size alone)."""
    return min(n_parts(rows, ROWS), MAX_PARTS)


@cpu_function
def part_range(n, parts, p):
    """``[lo, hi)`` of part ``p`` of ``n`` items cut into ``parts`` parts."""
    size = (n + parts - 1) // parts
    lo = min(n, p * size)
    return lo, min(n, lo + size)


@cpu_function
def coef_offset(units, layer):
    """Start of layer ``layer``'s weights in ``theta``."""
    offset = 0
    for j in range(layer):
        offset += units[j] * units[j + 1]
    return offset


@cpu_function
def intercept_offset(units, layer):
    """Start of layer ``layer``'s intercepts in ``theta``."""
    offset = coef_offset(units, units.shape[0] - 1)
    for j in range(layer):
        offset += units[j + 1]
    return offset


@cpu_function
def layer_rows(buffer, units, layer, capacity, b):
    """``(b, units[layer])`` view of a layer in a workspace of layers 1..L.

    Each layer owns ``capacity * units[layer]`` entries of the workspace.
    """
    offset = 0
    for j in range(1, layer):
        offset += units[j] * capacity
    return buffer[offset : offset + b * units[layer]].reshape((b, units[layer]))


@cpu_function
def sum_squares(v):
    """``sum(v**2)`` in a fixed order, vectorised without re-association."""
    acc = np.zeros(LANES, dtype=np.float64)
    n_full = v.shape[0] - v.shape[0] % LANES
    for k in range(0, n_full, LANES):
        for lane in range(LANES):
            acc[lane] += v[k + lane] * v[k + lane]
    total = 0.0
    for lane in range(LANES):
        total += acc[lane]
    for k in range(n_full, v.shape[0]):
        total += v[k] * v[k]
    return total


@cpu_function
def bias_activation(code, Z, bias):
    """``Z = activation(Z + bias)`` row by row, for one activation ``code``."""
    for r in range(Z.shape[0]):
        row = Z[r]
        for k in range(row.shape[0]):
            row[k] = activation_value(code, row[k] + bias[k])


@cpu_function
def activate_rows(code, Z, bias):
    """``Z = activation(Z + bias)`` row by row.

    Each branch passes a constant code, so that once inlined the math
    function's dispatch folds away and the element loop vectorises.
    """
    if code == codes.SOFTMAX:
        for r in range(Z.shape[0]):
            row = Z[r]
            for k in range(row.shape[0]):
                row[k] = row[k] + bias[k]
            softmax_inplace(row)
    elif code == codes.RELU:
        bias_activation(codes.RELU, Z, bias)
    elif code == codes.TANH:
        bias_activation(codes.TANH, Z, bias)
    elif code == codes.LOGISTIC:
        bias_activation(codes.LOGISTIC, Z, bias)
    elif code == codes.EXP:
        bias_activation(codes.EXP, Z, bias)
    else:
        bias_activation(codes.IDENTITY, Z, bias)


@cpu_function
def derivative_product(code, a, d):
    """``d *= activation'`` (from the outputs ``a``) for one activation ``code``."""
    for k in range(d.shape[0]):
        d[k] = activation_backprop(code, a[k], d[k])


@cpu_function
def backprop_activation(code, a, d):
    """``d *= activation'`` (from the outputs ``a``), element-wise, flat arrays.

    Constant codes per branch, as in ``activate_rows``.
    """
    if code == codes.RELU:
        derivative_product(codes.RELU, a, d)
    elif code == codes.TANH:
        derivative_product(codes.TANH, a, d)
    elif code == codes.LOGISTIC:
        derivative_product(codes.LOGISTIC, a, d)


@cpu_function
def gradient_steps(solver, nesterov, W, G, S1, S2, alpha, sw_sum, hyper):
    """``g = (G + alpha W) / sw_sum`` and one ``solver`` step per element; zeroes ``G``."""
    lr, momentum, beta1, beta2, eps, step_size, denom_scale, decay = hyper
    for k in range(W.shape[0]):
        g = (G[k] + alpha * W[k]) / sw_sum
        W[k], S1[k], S2[k] = mlp_step(solver, W[k], g, S1[k], S2[k], lr, momentum,
                                      nesterov, beta1, beta2, eps, step_size,
                                      denom_scale, decay)  # fmt: skip
        G[k] = 0.0


@cpu_function
def optimizer_steps(solver, nesterov, W, G, S1, S2, alpha, sw_sum, hyper):
    """Gradient ``(G + alpha W) / sw_sum`` and the optimizer step, element-wise.

    ``G`` is left zeroed for the next batch (the L-BFGS objective keeps the
    gradient instead). Constant solver codes per branch, as in
    ``activate_rows``.
    """
    if solver == codes.SGD and nesterov:
        gradient_steps(codes.SGD, True, W, G, S1, S2, alpha, sw_sum, hyper)
    elif solver == codes.SGD:
        gradient_steps(codes.SGD, False, W, G, S1, S2, alpha, sw_sum, hyper)
    elif solver == codes.ADAM:
        gradient_steps(codes.ADAM, False, W, G, S1, S2, alpha, sw_sum, hyper)
    elif solver == codes.ADAMW:
        gradient_steps(codes.ADAMW, False, W, G, S1, S2, alpha, sw_sum, hyper)
    else:  # GRADIENT_ONLY: keep the gradient
        for k in range(W.shape[0]):
            G[k] = (G[k] + alpha * W[k]) / sw_sum


@cpu_function
def forward_rows(data, order, start, lo, hi, units, theta, work, hidden_code, out_code):
    """Forward pass of batch rows ``[lo, hi)`` (samples ``order[start + r]``).

    Writes every layer's activations into the workspace (layers 1..L); a
    dense input is first gathered into ``X_batch``.
    """
    X_data, X_indices, X_indptr, n_features, is_sparse = data
    X_batch, acts, capacity = work[0], work[1], work[8]
    n_layers = units.shape[0] - 1
    for layer in range(n_layers):
        fan_in = units[layer]
        fan_out = units[layer + 1]
        c = coef_offset(units, layer)
        W = theta[c : c + fan_in * fan_out].reshape((fan_in, fan_out))
        i = intercept_offset(units, layer)
        bias = theta[i : i + fan_out]
        Z = layer_rows(acts, units, layer + 1, capacity, hi)
        if layer == 0 and is_sparse:
            # scipy's CSR @ dense order: rows of W added in the row's order
            for r in range(lo, hi):
                row = Z[r]
                for k in range(fan_out):
                    row[k] = 0.0
                sample = order[start + r]
                for p in range(X_indptr[sample], X_indptr[sample + 1]):
                    x = X_data[p]
                    w_row = W[X_indices[p]]
                    for k in range(fan_out):
                        row[k] += x * w_row[k]
        elif layer == 0:
            A = X_batch[: hi * n_features].reshape((hi, n_features))
            for r in range(lo, hi):
                if r + PREFETCH_AHEAD < hi:
                    prefetch_row(X_data, X_indices, X_indptr, n_features, False,
                                 order[start + r + PREFETCH_AHEAD])  # fmt: skip
                x_row = row_slices(X_data, X_indices, X_indptr, n_features, False,
                                   order[start + r])[0]  # fmt: skip
                a_row = A[r]
                for k in range(n_features):
                    a_row[k] = x_row[k]
            np.dot(A[lo:hi], W, Z[lo:hi])
        else:
            A = layer_rows(acts, units, layer, capacity, hi)
            np.dot(A[lo:hi], W, Z[lo:hi])
        code = out_code if layer == n_layers - 1 else hidden_code
        activate_rows(code, Z[lo:hi], bias)


@cpu_function
def backward_rows(targets, order, start, lo, hi, units, theta, work, hidden_code,
                  out_code, loss_eps):  # fmt: skip
    """Loss and deltas of batch rows ``[lo, hi)``; returns their weighted loss.

    The output delta is ``(p - y) * sample_weight``; each hidden delta is
    ``(delta_next @ W.T)`` times the activation's derivative.
    """
    Y, sample_weight = targets
    acts, deltas, Y_batch, sw_batch, capacity = (
        work[1],
        work[2],
        work[4],
        work[5],
        work[8],
    )
    n_layers = units.shape[0] - 1
    n_out = units[n_layers]
    P = layer_rows(acts, units, n_layers, capacity, hi)
    D = layer_rows(deltas, units, n_layers, capacity, hi)
    Yb = Y_batch[: hi * n_out].reshape((hi, n_out))
    loss = 0.0
    for r in range(lo, hi):
        sample = order[start + r]
        sw = sample_weight[sample]
        sw_batch[r] = sw
        y_row = Y[sample]
        for k in range(n_out):
            Yb[r, k] = y_row[k]
        row_loss = 0.0
        for k in range(n_out):
            row_loss += output_loss(out_code, Yb[r, k], P[r, k], loss_eps)
            D[r, k] = output_delta(P[r, k], Yb[r, k], sw)
        loss += sw * row_loss
    for layer in range(n_layers - 1, 0, -1):
        fan_in = units[layer]
        fan_out = units[layer + 1]
        c = coef_offset(units, layer)
        W = theta[c : c + fan_in * fan_out].reshape((fan_in, fan_out))
        D_next = layer_rows(deltas, units, layer + 1, capacity, hi)
        D_this = layer_rows(deltas, units, layer, capacity, hi)
        A = layer_rows(acts, units, layer, capacity, hi)
        np.dot(D_next[lo:hi], W.T, D_this[lo:hi])
        backprop_activation(
            hidden_code, A[lo:hi].reshape(-1), D_this[lo:hi].reshape(-1)
        )
    return loss


@cpu_function
def partial_product(data, order, start, b, parts, part, layer, units, grad, partials,
                    work):  # fmt: skip
    """Rows ``part`` of the batch's share of layer ``layer``'s weight gradient.

    ``A[rows].T @ delta[rows]`` (one BLAS call) into ``grad`` for part 0, into
    ``partials[part - 1]`` otherwise; ``update_block`` adds the parts in order.
    A CSR first layer is scattered by part 0 alone, over the whole batch.
    """
    X_data, X_indices, X_indptr, n_features, is_sparse = data
    X_batch, acts, deltas, capacity = work[0], work[1], work[2], work[8]
    fan_in = units[layer]
    fan_out = units[layer + 1]
    c = coef_offset(units, layer)
    if part == 0:
        G = grad[c : c + fan_in * fan_out].reshape((fan_in, fan_out))
    else:
        w_total = coef_offset(units, units.shape[0] - 1)
        base = (part - 1) * w_total + c
        G = partials[base : base + fan_in * fan_out].reshape((fan_in, fan_out))
    D = layer_rows(deltas, units, layer + 1, capacity, b)
    if layer == 0 and is_sparse:
        if part == 0:  # scipy's CSR.T @ dense order; the other parts add nothing
            for r in range(b):
                sample = order[start + r]
                d_row = D[r]
                for p in range(X_indptr[sample], X_indptr[sample + 1]):
                    x = X_data[p]
                    g_row = G[X_indices[p]]
                    for k in range(fan_out):
                        g_row[k] += x * d_row[k]
        return
    lo, hi = part_range(b, parts, part)
    if layer == 0:
        A = X_batch[: b * n_features].reshape((b, n_features))
    else:
        A = layer_rows(acts, units, layer, capacity, b)
    np.dot(A[lo:hi].T, D[lo:hi], G)


@cpu_function
def update_block(layer, lo, hi, parts, units, params, partials, settings, sw_sum,
                 scalars, is_sparse):  # fmt: skip
    """Weights ``[lo, hi)`` (input units) of ``layer``: reduce the parts, step.

    ``g = (sum of the parts + alpha * W) / sw_sum`` as scikit-learn's
    ``_compute_loss_grad``, then the optimizer step (or, for the L-BFGS
    objective, ``g`` is kept in ``grad``). Returns the block's ``sum(W**2)``
    before the step (the L2 term of the batch loss).
    """
    theta, state1, state2, grad = params
    solver, nesterov, alpha, lr, momentum, beta1, beta2, eps, weight_decay = settings
    step_size, denom_scale = scalars
    fan_out = units[layer + 1]
    c = coef_offset(units, layer) + lo * fan_out
    size = (hi - lo) * fan_out
    G = grad[c : c + size]
    if not (layer == 0 and is_sparse):
        w_total = coef_offset(units, units.shape[0] - 1)
        for part in range(1, parts):
            P = partials[(part - 1) * w_total + c : (part - 1) * w_total + c + size]
            for k in range(size):
                G[k] += P[k]
    W = theta[c : c + size]
    sq = sum_squares(W)
    hyper = (lr, momentum, beta1, beta2, eps, step_size, denom_scale,
             1.0 - lr * weight_decay)  # fmt: skip
    optimizer_steps(solver, nesterov, W, G, state1[c : c + size],
                    state2[c : c + size], alpha, sw_sum, hyper)  # fmt: skip
    return sq


@cpu_function
def block_of_unit(units, unit):
    """``(layer, lo, hi)`` of update block ``unit`` (all layers' blocks in order)."""
    layer = 0
    first = 0
    while first + n_parts(units[layer], BLOCK) <= unit:
        first += n_parts(units[layer], BLOCK)
        layer += 1
    lo, hi = part_range(units[layer], n_parts(units[layer], BLOCK), unit - first)
    return layer, lo, hi


@cpu_function
def intercept_step(b, layer, units, params, work, settings, sw_sum, scalars):
    """Intercepts of ``layer``: ``sum(delta, axis=0) / sw_sum``, then the step."""
    theta, state1, state2, grad = params
    deltas, capacity = work[2], work[8]
    solver, nesterov, alpha, lr, momentum, beta1, beta2, eps, weight_decay = settings
    step_size, denom_scale = scalars
    fan_out = units[layer + 1]
    i = intercept_offset(units, layer)
    D = layer_rows(deltas, units, layer + 1, capacity, b)
    G = grad[i : i + fan_out]
    G[:] = D[0]
    for r in range(1, b):  # numpy's sum(axis=0): rows added in order
        d_row = D[r]
        for k in range(fan_out):
            G[k] += d_row[k]
    hyper = (lr, momentum, beta1, beta2, eps, step_size, denom_scale, 1.0)
    optimizer_steps(solver, nesterov, theta[i : i + fan_out], G,
                    state1[i : i + fan_out], state2[i : i + fan_out], 0.0, sw_sum,
                    hyper)  # fmt: skip


@cpu_kernel(fastmath=False)
def mlp_epoch(X_data, X_indices, X_indptr, n_features, is_sparse, Y, sample_weight,
              order, batch_size, units, theta, state1, state2, grad, X_batch, acts,
              deltas, Y_batch, sw_batch, partials, int_settings, float_settings,
              step):  # fmt: skip
    """Train one epoch over the samples ``order`` in batches of ``batch_size``.

    ``int_settings``: ``[hidden_code, out_code, solver, nesterov]``;
    ``float_settings``: ``[alpha, lr, momentum, beta1, beta2, eps,
    weight_decay, loss_eps, loss_scale]``. ``step`` is the optimizer's step
    count before the epoch (Adam's ``t``). The workspaces hold
    ``capacity = min(batch_size, len(order))`` rows per layer.

    Returns ``(sum over batches of batch_loss * batch_rows, step)``, with
    scikit-learn's batch loss (the weighted mean loss plus
    ``alpha / 2 * sum(W**2) / sw_sum``). ``FORWARD_ONLY`` stops after the
    forward pass of the (single) batch and returns ``(0, step)``.
    """
    data = (X_data, X_indices, X_indptr, n_features, is_sparse)
    hidden_code, out_code, solver, nesterov = (
        int_settings[0], int_settings[1], int_settings[2], int_settings[3] != 0
    )  # fmt: skip
    alpha, lr, momentum, beta1, beta2, eps, weight_decay, loss_eps, loss_scale = (
        float_settings[0], float_settings[1], float_settings[2], float_settings[3],
        float_settings[4], float_settings[5], float_settings[6], float_settings[7],
        float_settings[8],
    )  # fmt: skip
    settings = (solver, nesterov, alpha, lr, momentum, beta1, beta2, eps, weight_decay)
    params = (theta, state1, state2, grad)
    n = order.shape[0]
    capacity = min(batch_size, n)
    n_layers = units.shape[0] - 1
    n_blocks = 0
    for layer in range(n_layers):
        n_blocks += n_parts(units[layer], BLOCK)
    block_sq = np.zeros(n_blocks, dtype=np.float64)
    chunk_loss = np.zeros(row_parts(capacity), dtype=np.float64)
    work = (X_batch, acts, deltas, None, Y_batch, sw_batch, chunk_loss, block_sq,
            capacity)  # fmt: skip
    total = 0.0
    for start in range(0, n, capacity):
        b = min(capacity, n - start)
        chunks = row_parts(b)
        for chunk in prange(chunks):
            lo, hi = part_range(b, chunks, chunk)
            forward_rows(data, order, start, lo, hi, units, theta, work, hidden_code,
                         out_code)  # fmt: skip
            if solver != codes.FORWARD_ONLY:
                chunk_loss[chunk] = backward_rows(
                    (Y, sample_weight), order, start, lo, hi, units, theta, work,
                    hidden_code, out_code, loss_eps,
                )  # fmt: skip
        if solver == codes.FORWARD_ONLY:
            return 0.0, step
        sw_sum = sw_batch[0]
        for r in range(1, b):
            sw_sum += sw_batch[r]
        if solver == codes.ADAM or solver == codes.ADAMW:
            step += 1
            scalars = adam_step_scalars(solver, lr, beta1, beta2, step)
        else:
            step += 1
            scalars = (0.0, 1.0)
        if is_sparse and solver == codes.GRADIENT_ONLY:
            grad[: units[0] * units[1]] = 0.0  # the scatter adds into it
        for unit in prange(chunks * n_layers):
            # part-major order: a static split over threads gets whole parts
            partial_product(data, order, start, b, chunks, unit // n_layers,
                            unit % n_layers, units, grad, partials, work)  # fmt: skip
        for unit in prange(n_blocks + n_layers):
            if unit < n_blocks:
                layer, lo, hi = block_of_unit(units, unit)
                block_sq[unit] = update_block(layer, lo, hi, chunks, units, params,
                                              partials, settings, sw_sum, scalars,
                                              is_sparse)  # fmt: skip
            else:
                intercept_step(b, unit - n_blocks, units, params, work, settings,
                               sw_sum, scalars)  # fmt: skip
        loss = 0.0
        for chunk in range(chunks):
            loss += chunk_loss[chunk]
        sq = 0.0
        for unit in range(n_blocks):
            sq += block_sq[unit]
        batch_loss = loss_scale * loss / sw_sum + 0.5 * alpha * sq / sw_sum
        total += batch_loss * b
    return total, step
