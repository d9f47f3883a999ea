"""GPU twins of ``cpu_mlp``'s kernels: the multi-layer perceptron in ``numba.cuda``.

``mlp_train_epoch``, ``mlp_objective`` and ``mlp_forward`` take the CPU
kernels' argument bundles (``bundles.py``) and pass their fields to
``_mlp_kernel``, whose arguments are flat. Each runs in one persistent kernel
launch (every block loops over the batches; a grid-wide barrier separates the
phases), so the per-batch cost is a few barriers, not a dozen kernel launches
from Python.
Per batch, with ``L`` layers:

F. forward, one phase per layer: one thread per (4 rows, output unit) does
   the 4 dot products (each weight read once for 4 rows), adds the bias and
   applies the activation (the rows of the first layer are read from ``X``
   through the epoch's order: no gathered copy);
O. one thread per row: the output activation (softmax), the loss and the
   output delta ``(p - y) * sample_weight``;
B. backward, one phase per hidden layer: one thread per (4 rows, unit) does
   ``delta @ W.T`` times the activation's derivative;
P. one thread per (64-row chunk, intercept) sums the chunk's deltas, and one
   per chunk its loss (the sample weights' chunk sums come with phase F);
G. one thread per weight sums its gradient over the batch's rows (four
   interleaved partial sums), one thread per intercept adds the chunk sums;
   then ``(G + alpha W) / sum(sample_weight)`` and the optimizer step
   (``mlp_step``) on the spot.

Every reduction runs in a fixed order inside one thread: no atomics, so the
result does not depend on the launch shape and is the same run to run. The
math (activations, losses, ``mlp_step``, Adam's bias corrections) is the math
layer's, compiled with ``cuda.jit(device=True)``.
"""

import numpy as np
from numba import cuda

from fastsgd._kernels import mlp_layout
from fastsgd._kernels._jit import bind_sources, gpu_function, gpu_kernel
from fastsgd._kernels.cuda_launch import Arguments, launch, launch_shape
from fastsgd._kernels.mlp_layout import (
    coef_offset,
    intercept_offset,
    layer_offset,
    n_parts,
    range_sum_squares,
    read_float_settings,
    read_int_settings,
)
from fastsgd._math import codes
from fastsgd._math.activations import (
    activation_backprop,
    activation_value,
    output_row,
    softmax_inplace,
)
from fastsgd._math.losses import mlp_batch_loss
from fastsgd._math.updates import (
    adam_step_scalars,
    decay_factor,
    mlp_gradient,
    mlp_step,
)

# the math and the CPU kernels' parameter and workspace layout
# (``mlp_layout.py``): the same plain Python functions, compiled for the GPU
bind_sources(globals(), "gpu")
LANES = mlp_layout.LANES
STEP_RANGE = mlp_layout.STEP_RANGE

#: Rows per thread in the forward and backward phases (register blocking).
ROWS = 4
#: Rows per partial sum of the per-row reductions (intercept gradients, the
#: loss, the sample weights): a thread adds ``CHUNK`` rows, then one thread
#: adds the chunks, both in order, instead of one thread walking the batch.
CHUNK = 64


@gpu_function
def input_value(data, order, start, acts, in_off, fan_in, layer, r, j):
    """Input ``j`` of batch row ``r`` to ``layer`` (``X`` for the first layer)."""
    X_data, n_features = data
    if layer == 0:
        return X_data[order[start + r] * n_features + j]
    return acts[in_off + r * fan_in + j]


@gpu_function
def forward_unit(data, order, start, b, layer, units, theta, acts, capacity, u,
                 zero, codes_):  # fmt: skip
    """Outputs ``(rows r0..r0+3, unit k)`` of a dense layer's forward pass."""
    hidden_code, out_code = codes_
    fan_in = units[layer]
    fan_out = units[layer + 1]
    rb = u // fan_out
    k = u - rb * fan_out
    r0 = rb * ROWS
    r1 = min(r0 + 1, b - 1)
    r2 = min(r0 + 2, b - 1)
    r3 = min(r0 + 3, b - 1)
    c = coef_offset(units, layer)
    in_off = layer_offset(units, layer, capacity)
    acc0 = zero
    acc1 = zero
    acc2 = zero
    acc3 = zero
    for j in range(fan_in):
        w = theta[c + j * fan_out + k]
        acc0 += input_value(data, order, start, acts, in_off, fan_in, layer, r0, j) * w
        acc1 += input_value(data, order, start, acts, in_off, fan_in, layer, r1, j) * w
        acc2 += input_value(data, order, start, acts, in_off, fan_in, layer, r2, j) * w
        acc3 += input_value(data, order, start, acts, in_off, fan_in, layer, r3, j) * w
    bias = theta[intercept_offset(units, layer) + k]
    out_off = layer_offset(units, layer + 1, capacity)
    last = layer == units.shape[0] - 2
    code = out_code if last else hidden_code
    if code == codes.SOFTMAX:
        code = codes.IDENTITY  # the row-wise softmax comes in the output phase
    acts[out_off + r0 * fan_out + k] = activation_value(code, acc0 + bias)
    if r0 + 1 < b:
        acts[out_off + r1 * fan_out + k] = activation_value(code, acc1 + bias)
    if r0 + 2 < b:
        acts[out_off + r2 * fan_out + k] = activation_value(code, acc2 + bias)
    if r0 + 3 < b:
        acts[out_off + r3 * fan_out + k] = activation_value(code, acc3 + bias)


@gpu_function
def forward_unit_sparse(sparse, order, start, units, theta, acts, capacity, u,
                        hidden_code, out_code, zero):  # fmt: skip
    """Output ``(row r, unit k)`` of a CSR first layer (rows of ``W`` in row order)."""
    X_data, X_indices, X_indptr = sparse
    fan_out = units[1]
    r = u // fan_out
    k = u - r * fan_out
    sample = order[start + r]
    acc = zero
    for p in range(X_indptr[sample], X_indptr[sample + 1]):
        acc += X_data[p] * theta[X_indices[p] * fan_out + k]
    code = out_code if units.shape[0] == 2 else hidden_code
    if code == codes.SOFTMAX:
        code = codes.IDENTITY
    acts[layer_offset(units, 1, capacity) + r * fan_out + k] = activation_value(
        code, acc + theta[intercept_offset(units, 0) + k]
    )


@gpu_function
def backward_unit(b, layer, units, theta, acts, deltas, capacity, u, hidden_code,
                  zero):  # fmt: skip
    """Deltas ``(rows r0..r0+3, unit j)`` of hidden layer ``layer`` (1..L-1)."""
    fan_in = units[layer]
    fan_out = units[layer + 1]
    rb = u // fan_in
    j = u - rb * fan_in
    r0 = rb * ROWS
    r1 = min(r0 + 1, b - 1)
    r2 = min(r0 + 2, b - 1)
    r3 = min(r0 + 3, b - 1)
    c = coef_offset(units, layer) + j * fan_out
    nxt = layer_offset(units, layer + 1, capacity)
    acc0 = zero
    acc1 = zero
    acc2 = zero
    acc3 = zero
    for k in range(fan_out):
        w = theta[c + k]
        acc0 += deltas[nxt + r0 * fan_out + k] * w
        acc1 += deltas[nxt + r1 * fan_out + k] * w
        acc2 += deltas[nxt + r2 * fan_out + k] * w
        acc3 += deltas[nxt + r3 * fan_out + k] * w
    off = layer_offset(units, layer, capacity) + j
    deltas[off + r0 * fan_in] = activation_backprop(
        hidden_code, acts[off + r0 * fan_in], acc0
    )
    if r0 + 1 < b:
        deltas[off + r1 * fan_in] = activation_backprop(
            hidden_code, acts[off + r1 * fan_in], acc1
        )
    if r0 + 2 < b:
        deltas[off + r2 * fan_in] = activation_backprop(
            hidden_code, acts[off + r2 * fan_in], acc2
        )
    if r0 + 3 < b:
        deltas[off + r3 * fan_in] = activation_backprop(
            hidden_code, acts[off + r3 * fan_in], acc3
        )


@gpu_function
def output_layer_row(r, order, start, units, acts, deltas, capacity, Y, sample_weight,
                     out_code, loss_eps, forward_only):  # fmt: skip
    """Output activation of row ``r``; its deltas and weighted loss (float64)."""
    n_layers = units.shape[0] - 1
    n_out = units[n_layers]
    off = layer_offset(units, n_layers, capacity) + r * n_out
    if out_code == codes.SOFTMAX:
        softmax_inplace(acts[off : off + n_out])
    if forward_only:
        return 0.0
    sample = order[start + r]
    return output_row(out_code, acts[off : off + n_out], Y[sample],
                      sample_weight[sample], loss_eps,
                      deltas[off : off + n_out])  # fmt: skip


@gpu_function
def weight_gradient(data, order, start, b, units, acts, deltas, capacity, layer, j,
                    k, zero):  # fmt: skip
    """``sum over rows r of A[r, j] * delta[r, k]`` for one weight.

    Four interleaved partial sums (rows ``r = 0, 1, 2, 3 mod 4``, each in
    order), added as ``(s0 + s1) + (s2 + s3)``: a fixed order, with four
    independent chains of loads in flight.
    """
    fan_in = units[layer]
    fan_out = units[layer + 1]
    in_off = layer_offset(units, layer, capacity)
    d_off = layer_offset(units, layer + 1, capacity) + k
    s0 = zero
    s1 = zero
    s2 = zero
    s3 = zero
    full = b - b % 4
    for r in range(0, full, 4):
        a0 = input_value(data, order, start, acts, in_off, fan_in, layer, r, j)
        a1 = input_value(data, order, start, acts, in_off, fan_in, layer, r + 1, j)
        a2 = input_value(data, order, start, acts, in_off, fan_in, layer, r + 2, j)
        a3 = input_value(data, order, start, acts, in_off, fan_in, layer, r + 3, j)
        s0 += a0 * deltas[d_off + r * fan_out]
        s1 += a1 * deltas[d_off + (r + 1) * fan_out]
        s2 += a2 * deltas[d_off + (r + 2) * fan_out]
        s3 += a3 * deltas[d_off + (r + 3) * fan_out]
    for r in range(full, b):
        a0 = input_value(data, order, start, acts, in_off, fan_in, layer, r, j)
        s0 += a0 * deltas[d_off + r * fan_out]
    return (s0 + s1) + (s2 + s3)


@gpu_function
def weight_unit(u, units):
    """``(layer, j, k)`` of weight ``u`` in ``theta``'s packed order."""
    layer = 0
    first = 0
    while first + units[layer] * units[layer + 1] <= u:
        first += units[layer] * units[layer + 1]
        layer += 1
    rest = u - first
    j = rest // units[layer + 1]
    return layer, j, rest - j * units[layer + 1]


@gpu_function
def intercept_unit(v, units):
    """``(layer, k)`` of intercept ``v``."""
    layer = 0
    while v >= units[layer + 1]:
        v -= units[layer + 1]
        layer += 1
    return layer, v


@gpu_kernel
def _mlp_kernel(X_data, X_indices, X_indptr, n_features, is_sparse, Y, sample_weight,
                order, batch_size, units, theta, first_moment, second_moment, grad, acts, deltas,
                row_loss, sq_parts, chunk_sums, chunk_intercepts, scalars,
                int_settings, float_settings, step_start, zero):  # fmt: skip
    grid = cuda.cg.this_grid()
    start_u = cuda.grid(1)
    stride = cuda.gridsize(1)
    hidden_code, out_code, solver, nesterov = read_int_settings(int_settings)
    alpha, lr, momentum, beta1, beta2, eps, weight_decay, loss_eps, loss_scale = (
        read_float_settings(float_settings)
    )
    forward_only = solver == codes.PREDICTION
    data = (X_data, n_features)
    sparse = (X_data, X_indices, X_indptr)
    n = order.shape[0]
    capacity = min(batch_size, n)
    n_layers = units.shape[0] - 1
    n_weights = coef_offset(units, n_layers)
    n_params = theta.shape[0]
    n_ranges = n_parts(n_params, STEP_RANGE)
    lanes = cuda.local.array(LANES, np.float64)
    n_intercepts = n_params - n_weights
    step = step_start
    for start in range(0, n, capacity):
        b = min(capacity, n - start)
        n_blocks = (b + ROWS - 1) // ROWS
        n_chunks = (b + CHUNK - 1) // CHUNK
        step += 1
        # F. forward, layer by layer (the first phase also sums W**2 by range)
        for layer in range(n_layers):
            fan_out = units[layer + 1]
            if layer == 0 and is_sparse:
                n_units = b * fan_out
            else:
                n_units = n_blocks * fan_out
            extra = 0
            if layer == 0 and not forward_only:
                extra = n_chunks + (n_ranges if alpha != 0.0 else 0)
            for u in range(start_u, n_units + extra, stride):
                if u >= n_units + n_chunks:
                    s = u - n_units - n_chunks
                    sq_parts[s] = range_sum_squares(theta, n_weights, n_ranges, s,
                                                    lanes)  # fmt: skip
                elif u >= n_units:
                    c = u - n_units
                    acc = 0.0
                    for r in range(c * CHUNK, min((c + 1) * CHUNK, b)):
                        acc += sample_weight[order[start + r]]
                    chunk_sums[c, 0] = acc
                elif layer == 0 and is_sparse:
                    forward_unit_sparse(sparse, order, start, units, theta, acts,
                                        capacity, u, hidden_code, out_code, zero)  # fmt: skip
                else:
                    forward_unit(data, order, start, b, layer, units, theta, acts,
                                 capacity, u, zero, (hidden_code, out_code))  # fmt: skip
            grid.sync()
        # O. output rows: softmax, loss, output delta; one unit sums sw and W**2
        for u in range(start_u, b + 1, stride):
            if u < b:
                row_loss[u] = output_layer_row(u, order, start, units, acts, deltas,
                                               capacity, Y, sample_weight, out_code,
                                               loss_eps, forward_only)  # fmt: skip
            elif not forward_only:
                sw_sum = 0.0
                for c in range(n_chunks):
                    sw_sum += chunk_sums[c, 0]
                sq = 0.0
                if alpha != 0.0:
                    for s in range(n_ranges):
                        sq += sq_parts[s]
                scalars[0] = sw_sum
                scalars[1] = sq
        grid.sync()
        if forward_only:
            return
        # B. backward through the hidden layers
        for layer in range(n_layers - 1, 0, -1):
            for u in range(start_u, n_blocks * units[layer], stride):
                backward_unit(b, layer, units, theta, acts, deltas, capacity, u,
                              hidden_code, zero)  # fmt: skip
            grid.sync()
        # G0. a CSR first layer's weight gradient: one thread per unit scatters
        if is_sparse:
            fan_out = units[1]
            d_off = layer_offset(units, 1, capacity)
            for k in range(start_u, fan_out, stride):
                for r in range(b):
                    d = deltas[d_off + r * fan_out + k]
                    sample = order[start + r]
                    for p in range(X_indptr[sample], X_indptr[sample + 1]):
                        grad[X_indices[p] * fan_out + k] += X_data[p] * d
            grid.sync()
        # P. per chunk of rows: the sums of each intercept's deltas and the loss
        for u in range(start_u, n_chunks * (n_intercepts + 1), stride):
            c = u // (n_intercepts + 1)
            v = u - c * (n_intercepts + 1)
            lo = c * CHUNK
            hi = min(lo + CHUNK, b)
            if v == n_intercepts:
                acc = 0.0
                for r in range(lo, hi):
                    acc += row_loss[r]
                chunk_sums[c, 1] = acc
            else:
                layer, k = intercept_unit(v, units)
                d_off = layer_offset(units, layer + 1, capacity) + k
                fan_out = units[layer + 1]
                G = zero
                for r in range(lo, hi):
                    G += deltas[d_off + r * fan_out]
                chunk_intercepts[c, v] = G
        grid.sync()
        # G. gradient and step of every parameter; one unit adds the batch's loss
        sw_sum = scalars[0]
        if solver == codes.ADAM or solver == codes.ADAMW:
            step_size, denom_scale = adam_step_scalars(solver, lr, beta1, beta2, step)
        else:
            step_size, denom_scale = 0.0, 1.0
        for u in range(start_u, n_params + 1, stride):
            if u == n_params:
                loss = 0.0
                for c in range(n_chunks):
                    loss += chunk_sums[c, 1]
                scalars[2] += mlp_batch_loss(loss_scale, loss, alpha, scalars[1],
                                             sw_sum) * b  # fmt: skip
                continue
            if u < n_weights:
                layer, j, k = weight_unit(u, units)
                if layer == 0 and is_sparse:
                    G = grad[u]
                else:
                    G = weight_gradient(data, order, start, b, units, acts, deltas,
                                        capacity, layer, j, k, zero)  # fmt: skip
                g = mlp_gradient(G, theta[u], alpha, sw_sum)
                decay = decay_factor(lr, weight_decay)
            else:
                G = zero
                for c in range(n_chunks):
                    G += chunk_intercepts[c, u - n_weights]
                g = mlp_gradient(G, theta[u], 0.0, sw_sum)
                decay = 1.0
            if solver == codes.OBJECTIVE:
                grad[u] = g
            else:
                theta[u], first_moment[u], second_moment[u] = mlp_step(
                    solver, theta[u], g, first_moment[u], second_moment[u], lr, momentum, nesterov,
                    beta1, beta2, eps, step_size, denom_scale, decay,
                )  # fmt: skip
                grad[u] = 0.0
        grid.sync()


class _Workspace:
    """Device buffers of the last shape used (reused across the epochs of a fit)."""

    key = None
    buffers = None


def _workspace(units, capacity, dtype):
    key = (tuple(int(u) for u in units), int(capacity), np.dtype(dtype).str)
    if _Workspace.key != key:
        hidden_out = int(sum(units[1:]))
        n_weights = int(sum(a * b for a, b in zip(units[:-1], units[1:], strict=True)))
        n_chunks = -(-capacity // CHUNK)
        _Workspace.buffers = (
            cuda.device_array(capacity * hidden_out, dtype=dtype),
            cuda.device_array(capacity * hidden_out, dtype=dtype),
            cuda.device_array(capacity, dtype=np.float64),
            cuda.device_array(
                mlp_layout.n_parts(n_weights + hidden_out, STEP_RANGE),
                dtype=np.float64,
            ),
            cuda.device_array((n_chunks, 2), dtype=np.float64),
            cuda.device_array((n_chunks, hidden_out), dtype=dtype),
        )
        _Workspace.key = key
    return _Workspace.buffers


def _launch(X_data, X_indices, X_indptr, n_features, is_sparse, Y, sample_weight,
            order, batch_size, units, theta, first_moment, second_moment, grad, acts, int_settings,
            float_settings, step):  # fmt: skip
    """One launch of ``_mlp_kernel`` over ``order``: an epoch, the objective
    (``OBJECTIVE``) or the forward pass (``PREDICTION``, which fills
    ``acts``).

    Unlike the CPU kernels, the GPU kernel takes the solver (and the forward
    pass) as a run-time code: one compilation per dtype serves every job.
    Host arrays are copied to the GPU and the ones the launch changes
    (``theta``, ``first_moment``, ``second_moment``, ``grad``) copied back; GPU arrays are
    used in place. Returns ``(total, step)`` as the CPU epoch.
    """
    units_host = np.asarray(units, dtype=np.int64)
    n = int(order.shape[0])
    capacity = max(1, min(int(batch_size), n))
    dtype = theta.dtype
    solver = int(mlp_layout.read_int_settings(int_settings)[2])
    forward_only = solver == codes.PREDICTION
    d_acts, d_deltas, row_loss, sq_parts, chunk_sums, chunk_intercepts = _workspace(
        units_host, capacity, dtype
    )
    arg = Arguments()
    if forward_only:
        first_moment = second_moment = grad = np.zeros(1, dtype)
    elif is_sparse and solver == codes.OBJECTIVE:
        grad[: units_host[0] * units_host[1]] = 0.0  # the scatter adds into it
    scalars = cuda.to_device(np.zeros(3))
    fan_max = int(units_host[1:].max())
    shape = launch_shape(max(capacity * fan_max, theta.shape[0]))
    launch(
        _mlp_kernel, shape, arg(X_data), arg(X_indices), arg(X_indptr), int(n_features), bool(is_sparse),
        arg(Y), arg(sample_weight), arg(np.asarray(order, dtype=np.int64)),
        int(batch_size), arg(units_host), arg(theta, not forward_only),
        arg(first_moment, True), arg(second_moment, True), arg(grad, True), d_acts, d_deltas,
        row_loss, sq_parts, chunk_sums, chunk_intercepts, scalars,
        arg(np.asarray(int_settings, dtype=np.int64)),
        arg(np.asarray(float_settings, dtype=dtype)), int(step), dtype.type(0),
    )  # fmt: skip
    arg.copy_back()
    if forward_only:
        size = capacity * int(units_host[1:].sum())
        acts[:size] = d_acts.copy_to_host()[:size]
        return 0.0, int(step)
    n_batches = -(-n // capacity)
    return float(scalars.copy_to_host()[2]), int(step) + n_batches


def mlp_train_epoch(data, targets, order, batch_size, units, params, buffers,
                    int_settings, float_settings, step):  # fmt: skip
    """The GPU twin of ``cpu_mlp.mlp_train_epoch``: same arguments, same result.

    The CPU's buffers (``buffers``) are not needed here.
    """
    return _launch(*data, *targets, order, batch_size, units, *params, None,
                   int_settings, float_settings, step)  # fmt: skip


def mlp_objective(data, targets, units, theta, grad, buffers, int_settings,
                  float_settings):  # fmt: skip
    """The GPU twin of ``cpu_mlp.mlp_objective``: same arguments, same result."""
    n = targets.Y.shape[0]
    settings = mlp_layout.with_solver(int_settings, codes.OBJECTIVE)
    empty = np.zeros(1, theta.dtype)
    total, _ = _launch(*data, *targets, np.arange(n, dtype=np.int64), max(n, 1),
                       units, theta, empty, empty, grad, None, settings,
                       float_settings, 0)  # fmt: skip
    return total


def mlp_forward(data, rows, units, theta, X_batch, acts, int_settings):
    """The GPU twin of ``cpu_mlp.mlp_forward``: same arguments, same result."""
    settings = mlp_layout.with_solver(int_settings, codes.PREDICTION)
    n_out = int(units[-1])
    Y = np.zeros((0, n_out), theta.dtype)
    floats = mlp_layout.float_settings(*(0.0,) * 9, dtype=theta.dtype)
    _launch(*data, Y, Y[:, 0], rows, max(rows.shape[0], 1), units, theta, None, None,
            None, acts, settings, floats, 0)  # fmt: skip
