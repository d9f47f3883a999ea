"""CPU kernels of the multi-layer perceptron: training, the L-BFGS objective, prediction.

Three templates, each compiled (``_jit.specialize``) for the configuration of
the fit that runs it and nothing else:

- ``_training_template``: one epoch of mini-batch training. Per batch, the
  forward pass, the output loss and delta, backpropagation, the weight
  gradients and the optimizer step (``SOLVER``: SGD with or without Nesterov,
  Adam, AdamW). With ``SOLVER = OBJECTIVE`` the same template computes
  the L-BFGS objective: one batch of all samples, the gradient kept, no step.
- ``_prediction_template``: the forward pass alone (prediction, the
  early-stopping score).

Their settings (``HIDDEN``, ``OUT``, ``SOLVER``, ``NESTEROV``, ``SPARSE``) are
compile-time constants: a ReLU/softmax/Adam fit on dense data types, optimises
and caches no code of the other activations, outputs, solvers or layouts. The
pieces (``forward_rows``, ``backward_rows``, ``partial_product``,
``update_range``) are functions of their own, bound only to the settings they
read, so that training, the objective and prediction of one
process share them. Each kernel is serial or parallel (``parallel_rows``: the
batch's size decides, never the thread count; the arithmetic is the same).
``mlp_train_epoch``, ``mlp_objective`` and ``mlp_forward`` take the argument
bundles of ``bundles.py`` (data, targets, parameters, buffers), pick the
variant of their arguments (compiled on first use, then loaded from Numba's
cache) and pass it the bundles' fields flat (``bundles.flatten``).

Parameters live in one flat vector ``theta`` in scikit-learn's ``_pack``
order: every layer's ``(fan_in, fan_out)`` weights, then every intercept.
``units`` holds the layer sizes ``[n_features, *hidden, n_outputs]``. The
optimizer state (``first_moment``, ``second_moment``) and the gradient have the same layout.

Work split, fixed by the shapes alone (never by the thread count), so that the
result is bitwise the same for any number of threads:

- a batch is cut into row parts of at most ``ROWS`` rows (at most
  ``MAX_PARTS`` parts); one ``prange`` over parts gathers the rows, runs the
  forward pass of every layer, the loss, the output delta and the backward
  deltas (``forward_rows``, ``backward_rows``: each part's rows depend on
  nothing else), then, while they are in that thread's cache, each layer's
  ``A[part].T @ delta[part]`` (one BLAS call) and the column sums of
  ``delta[part]`` (the intercepts' gradient; ``partial_product``). A CSR
  first layer's weight gradient is scattered over the whole batch, which
  reads every part's deltas: with CSR input the products run in a second
  ``prange`` over (part, layer), after the first;
- one ``prange`` over equal ranges of ``STEP_RANGE`` parameters of the packed
  vector adds the parts in order, adds the L2 term and applies the optimizer
  step while the range is in cache (``update_range``). Equal ranges of the
  whole vector, rather than blocks per layer, give the threads equal work:
  on the small network of the benchmarks (100 x 100 and 100 x 10 weights) the
  per-layer blocks left one thread most of the step, and the ranges took the
  epoch from 27.4-28.3 to 26.8-27.1 ms in float32 and 42.1-45.8 to
  40.5-41.7 ms in float64 (three and two runs each, side by side).

Parts are no smaller than ``ROWS`` rows because a product cut finer runs
slower: cutting a 128 x 784 x 256 product into two 64-row halves costs about
10 % on one core, and a split over input units needs transposed copies that
cost more than they save (``docs/mlp.md``, "Kernels").

Matrix products are ``_jit.matmul_into``: ``np.dot``'s BLAS calls, emitted
into the caller (BLAS single-threaded: the trainer pins BLAS to one thread
with threadpoolctl so that Numba's threads and BLAS's do not compete);
everything else is the math layer's element-wise code. No kernel allocates:
its float64 scratch (``epoch_scratch``) comes from the caller, since an
allocation compiles NumPy's allocator into the kernel (0.2 s on a cold cache).
The kernels are compiled without fast-math, so element-wise arithmetic rounds
as scikit-learn's NumPy code does.
"""

import numpy as np
from numba import prange

from fastsgd._kernels import mlp_layout
from fastsgd._kernels._jit import (
    Plan,
    bind_sources,
    cpu_called,
    cpu_configured,
    is_parallel,
    matmul_into,
    specialize,
    worth_parallel,
)
from fastsgd._kernels.bundles import MLPParams, MLPWorkspace, flatten
from fastsgd._kernels.cpu import prefetch_row, row_slices
from fastsgd._kernels.mlp_layout import (
    coef_offset,
    intercept_offset,
    layer_intercepts,
    layer_offset,
    layer_weights,
    n_parts,
    part_range,
    range_sum_squares,
    read_float_settings,
    sum_squares,
)
from fastsgd._math.activations import (
    activation_backprop,
    activation_value,
    output_row,
    softmax_inplace,
)
from fastsgd._math.codes import ADAM, ADAMW, OBJECTIVE, SGD, SOFTMAX
from fastsgd._math.losses import mlp_batch_loss
from fastsgd._math.updates import (
    adam_step_scalars,
    decay_factor,
    mlp_gradient,
    mlp_step,
)

# small index arithmetic and a float64 sum: compiled once and called
for _helper in (coef_offset, intercept_offset, n_parts, part_range, sum_squares):
    cpu_called(_helper)
# the math and the parameter and workspace layout: one source with the GPU
# kernel, compiled for the CPU
bind_sources(globals(), "cpu")
STEP_RANGE = mlp_layout.STEP_RANGE
LANES = mlp_layout.LANES

#: Row parts of a batch: ``ceil(rows / ROWS)``, at most ``MAX_PARTS``.
ROWS = 100
MAX_PARTS = 8
#: Rows gathered ahead of use (software prefetch of shuffled rows).
PREFETCH_AHEAD = 8
#: A batch below this many multiply-adds (forward pass), or of a single row
#: part, runs the serial kernel (``parallel_rows``).
PARALLEL_WORK = 1 << 20
# Why not the linear kernels' ``cpu.PARALLEL_WORK`` (2**12): a linear batch
# costs its random row reads, which two threads halve from a few microseconds
# of work on; an MLP batch costs its products (BLAS on one thread per part),
# and its parallel region has 2 + L phases of row parts and ranges, each
# waking the threads: it pays off only from about 2**20 multiply-adds.
#: The same for a forward pass alone (prediction): a parallel region pays
#: off from a few milliseconds of work, and compiling one costs seconds.
PARALLEL_FORWARD_WORK = 1 << 26

# Compile-time settings of the templates, bound by ``_jit.specialize`` (these
# placeholders are never compiled): the hidden and output activations, the
# solver, Nesterov momentum (SGD only) and a CSR input.
HIDDEN = OUT = SOLVER = NESTEROV = SPARSE = None


@cpu_called
def row_parts(rows):
    """Row parts of a batch of ``rows`` rows (fixed by the size alone)."""
    return min(n_parts(rows, ROWS), MAX_PARTS)


@cpu_called
def layer_rows(buffer, units, layer, capacity, b):
    """``(b, units[layer])`` view of a layer in a workspace of layers 1..L.

    Each layer owns ``capacity * units[layer]`` entries of the workspace.
    """
    offset = layer_offset(units, layer, capacity)
    return buffer[offset : offset + b * units[layer]].reshape((b, units[layer]))


@cpu_configured
def activate_rows(Z, bias, output):
    """``Z = activation(Z + bias)`` row by row: ``OUT`` if ``output``, else ``HIDDEN``.

    Each loop passes a constant code, so that once inlined the math
    function's dispatch folds away and the element loop vectorises.
    """
    if output and OUT == SOFTMAX:
        for r in range(Z.shape[0]):
            row = Z[r]
            for k in range(row.shape[0]):
                row[k] = row[k] + bias[k]
            softmax_inplace(row)
    elif output:
        for r in range(Z.shape[0]):
            row = Z[r]
            for k in range(row.shape[0]):
                row[k] = activation_value(OUT, row[k] + bias[k])
    else:
        for r in range(Z.shape[0]):
            row = Z[r]
            for k in range(row.shape[0]):
                row[k] = activation_value(HIDDEN, row[k] + bias[k])


@cpu_configured
def backprop_activation(a, d):
    """``d *= activation'`` of ``HIDDEN`` (from the outputs ``a``), flat arrays."""
    for k in range(d.shape[0]):
        d[k] = activation_backprop(HIDDEN, a[k], d[k])


@cpu_configured
def optimizer_steps(W, G, S1, S2, alpha, sw_sum, hyper):
    """Gradient ``(G + alpha W) / sw_sum`` and the ``SOLVER`` step, element-wise.

    ``G`` is left zeroed for the next batch; ``OBJECTIVE`` (the L-BFGS
    objective) keeps the gradient in ``G`` instead.
    """
    lr, momentum, beta1, beta2, eps, step_size, denom_scale, decay = hyper
    if SOLVER == OBJECTIVE:
        for k in range(W.shape[0]):
            G[k] = mlp_gradient(G[k], W[k], alpha, sw_sum)
    else:
        for k in range(W.shape[0]):
            g = mlp_gradient(G[k], W[k], alpha, sw_sum)
            W[k], S1[k], S2[k] = mlp_step(SOLVER, W[k], g, S1[k], S2[k], lr, momentum,
                                          NESTEROV, beta1, beta2, eps, step_size,
                                          denom_scale, decay)  # fmt: skip
            G[k] = 0.0


@cpu_configured(inline=False)
def forward_rows(data, order, start, lo, hi, units, theta, work):
    """Forward pass of batch rows ``[lo, hi)`` (samples ``order[start + r]``).

    Writes every layer's activations into the workspace (layers 1..L); a
    dense input is first gathered into ``X_batch``.
    """
    X_data, X_indices, X_indptr, n_features = data
    X_batch, acts, capacity = work[0], work[1], work[5]
    n_layers = units.shape[0] - 1
    for layer in range(n_layers):
        fan_out = units[layer + 1]
        W = layer_weights(theta, units, layer)
        bias = layer_intercepts(theta, units, layer)
        Z = layer_rows(acts, units, layer + 1, capacity, hi)
        if layer == 0 and SPARSE:
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
            matmul_into(A[lo:hi], W, Z[lo:hi])
        else:
            A = layer_rows(acts, units, layer, capacity, hi)
            matmul_into(A[lo:hi], W, Z[lo:hi])
        activate_rows(Z[lo:hi], bias, layer == n_layers - 1)


@cpu_configured(inline=False)
def backward_rows(targets, order, start, lo, hi, units, theta, work, loss_eps):
    """Loss and deltas of batch rows ``[lo, hi)``; returns their weighted loss.

    The output delta is ``(p - y) * sample_weight``; each hidden delta is
    ``(delta_next @ W.T)`` times the activation's derivative.
    """
    Y, sample_weight = targets
    acts, deltas, Y_batch, sw_batch, capacity = (
        work[1], work[2], work[3], work[4], work[5]
    )  # fmt: skip
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
        loss += output_row(OUT, P[r], Yb[r], sw, loss_eps, D[r])
    for layer in range(n_layers - 1, 0, -1):
        W = layer_weights(theta, units, layer)
        D_next = layer_rows(deltas, units, layer + 1, capacity, hi)
        D_this = layer_rows(deltas, units, layer, capacity, hi)
        A = layer_rows(acts, units, layer, capacity, hi)
        matmul_into(D_next[lo:hi], W.T, D_this[lo:hi])
        backprop_activation(A[lo:hi].reshape(-1), D_this[lo:hi].reshape(-1))
    return loss


@cpu_configured(inline=False)
def partial_product(data, order, start, b, parts, part, layer, units, grad, partials,
                    work):  # fmt: skip
    """Rows ``part`` of the batch's share of layer ``layer``'s gradient.

    ``A[rows].T @ delta[rows]`` (one BLAS call) and the column sums of
    ``delta[rows]`` (the intercepts'; rows added in order, as numpy's
    ``sum(axis=0)``) into ``grad`` for part 0, into ``partials[part - 1]``
    otherwise; ``update_range`` adds the parts in order. The thread that
    computed a part's rows sums them, so no thread reads another's deltas.
    A CSR first layer's weights are scattered by part 0 alone, over the
    whole batch.
    """
    X_data, X_indices, X_indptr, n_features = data
    X_batch, acts, deltas, capacity = work[0], work[1], work[2], work[5]
    fan_out = units[layer + 1]
    target = grad
    if part > 0:
        base = (part - 1) * grad.shape[0]
        target = partials[base : base + grad.shape[0]]
    G = layer_weights(target, units, layer)
    D = layer_rows(deltas, units, layer + 1, capacity, b)
    lo, hi = part_range(b, parts, part)
    bias = layer_intercepts(target, units, layer)
    d_first = D[lo]
    for k in range(fan_out):  # a loop, not bias[:] = D[lo]: no shape-error code
        bias[k] = d_first[k]
    for r in range(lo + 1, hi):
        d_row = D[r]
        for k in range(fan_out):
            bias[k] += d_row[k]
    if layer == 0 and SPARSE:
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
    if layer == 0:
        A = X_batch[: b * n_features].reshape((b, n_features))
    else:
        A = layer_rows(acts, units, layer, capacity, b)
    matmul_into(A[lo:hi].T, D[lo:hi], G)


@cpu_configured(inline=False)
def update_range(n_ranges, unit, parts, units, params, partials, hyper, sw_sum,
                 scalars, lanes):  # fmt: skip
    """Range ``unit`` of ``n_ranges`` equal ranges of the packed vector
    (``part_range``): reduce the parts, step.

    The row parts' partial gradients (``partial_product``) are added to
    ``grad`` in part order; then, element-wise, weights get
    ``g = (G + alpha * W) / sw_sum`` (scikit-learn's ``_compute_loss_grad``)
    and intercepts ``g = G / sw_sum``, and the optimizer step (or, for the
    L-BFGS objective, ``g`` is kept in ``grad``). Returns the range's
    ``sum(W**2)`` over weights before the step (the L2 term of the loss),
    summed in ``lanes`` (``mlp_layout.range_sum_squares``, as the GPU kernel's).

    The ranges are equal slices of the whole vector, so that threads get
    equal work whatever the layer sizes. The two ``optimizer_steps`` calls
    keep the weights' ``alpha`` in the fit's dtype: one call for both with
    ``alpha`` or ``0.0`` would unify them as float64 and compute a float32
    fit's gradient in float64, rounding differently from scikit-learn.
    """
    theta, first_moment, second_moment, grad = params
    alpha, lr, momentum, beta1, beta2, eps, weight_decay = hyper
    step_size, denom_scale = scalars
    n_params = grad.shape[0]
    lo, hi = part_range(n_params, n_ranges, unit)
    w_total = coef_offset(units, units.shape[0] - 1)
    # a CSR first layer's weights have no partials: part 0 scattered them all
    first = max(lo, units[0] * units[1]) if SPARSE else lo
    for part in range(1, parts):
        P = partials[(part - 1) * n_params : part * n_params]
        for k in range(first, hi):
            grad[k] += P[k]
    sq = range_sum_squares(theta, w_total, n_ranges, unit, lanes)
    w_hi = min(hi, w_total)
    if lo < w_hi:
        steps = (lr, momentum, beta1, beta2, eps, step_size, denom_scale,
                 decay_factor(lr, weight_decay))  # fmt: skip
        optimizer_steps(theta[lo:w_hi], grad[lo:w_hi], first_moment[lo:w_hi],
                        second_moment[lo:w_hi], alpha, sw_sum, steps)  # fmt: skip
    i_lo = max(lo, w_total)
    if i_lo < hi:
        steps = (lr, momentum, beta1, beta2, eps, step_size, denom_scale, 1.0)
        optimizer_steps(theta[i_lo:hi], grad[i_lo:hi], first_moment[i_lo:hi],
                        second_moment[i_lo:hi], 0.0, sw_sum, steps)  # fmt: skip
    return sq


@cpu_called
def ordered_sum(v, n):
    """``v[0] + v[1] + ... + v[n - 1]``, in that order.

    A call, not an inline loop, where it follows a ``prange`` that writes
    ``v`` from inside a function: Numba's parfor pass moves side-effect free
    statements (``v[0]``) above a parallel loop that it does not see write
    their arrays, and reads a stale value. A call has effects as far as
    it knows, so it stays after the loop.
    """
    total = v[0]
    for r in range(1, n):
        total += v[r]
    return total


def _training_template(
    X_data, X_indices, X_indptr, n_features, is_sparse, Y, sample_weight, order,
    batch_size, units, theta, first_moment, second_moment, grad,
    X_batch, acts, deltas, Y_batch, sw_batch, partials, float_settings, step, scratch,
):  # fmt: skip
    """Template of the training epoch and of the L-BFGS objective (``specialize``).

    The fields of ``mlp_train_epoch``'s bundles, flat (``bundles.flatten``),
    then ``scratch`` (``epoch_scratch``).
    Batches of ``batch_size`` samples of ``order``; ``float_settings``:
    ``[alpha, lr, momentum, beta1, beta2, eps, weight_decay, loss_eps,
    loss_scale]``; ``step`` is the optimizer's step count before the epoch
    (Adam's ``t``). The workspaces hold ``capacity = min(batch_size,
    len(order))`` rows per layer; ``scratch`` (``epoch_scratch``) holds the
    row parts' losses, the ranges' sums of squares and their accumulators.

    Returns ``(sum over batches of batch_loss * batch_rows, step)``, with
    scikit-learn's batch loss (the weighted mean loss plus
    ``alpha / 2 * sum(W**2) / sw_sum``).
    """
    data = (X_data, X_indices, X_indptr, n_features)  # not is_sparse: SPARSE
    alpha, lr, momentum, beta1, beta2, eps, weight_decay, loss_eps, loss_scale = (
        read_float_settings(float_settings)
    )
    hyper = (alpha, lr, momentum, beta1, beta2, eps, weight_decay)
    params = (theta, first_moment, second_moment, grad)
    n = order.shape[0]
    capacity = min(batch_size, n)
    n_layers = units.shape[0] - 1
    n_params = theta.shape[0]
    n_ranges = n_parts(n_params, STEP_RANGE)
    chunk_loss = scratch[:MAX_PARTS]
    range_sq = scratch[MAX_PARTS : MAX_PARTS + n_ranges]
    lanes = scratch[MAX_PARTS + n_ranges :]
    work = (X_batch, acts, deltas, Y_batch, sw_batch, capacity)
    total = 0.0
    for start in range(0, n, capacity):
        b = min(capacity, n - start)
        chunks = row_parts(b)
        for chunk in prange(chunks):
            lo, hi = part_range(b, chunks, chunk)
            forward_rows(data, order, start, lo, hi, units, theta, work)
            chunk_loss[chunk] = backward_rows(
                (Y, sample_weight), order, start, lo, hi, units, theta, work, loss_eps
            )
            if not SPARSE:  # the part's gradient while its rows are in cache
                for layer in range(n_layers):
                    partial_product(data, order, start, b, chunks, np.int64(chunk),
                                    layer, units, grad, partials, work)  # fmt: skip
        sw_sum = ordered_sum(sw_batch, b)
        step += 1
        if SOLVER == ADAM or SOLVER == ADAMW:
            scalars = adam_step_scalars(SOLVER, lr, beta1, beta2, step)
        else:
            scalars = (0.0, 1.0)
        if SPARSE:
            # the first layer's scatter (part 0) reads every part's deltas
            if SOLVER == OBJECTIVE:
                grad[: units[0] * units[1]] = 0.0  # the scatter adds into it
            for unit in prange(chunks * n_layers):
                # part-major order: a static split over threads gets whole parts
                partial_product(data, order, start, b, chunks,
                                np.int64(unit // n_layers), np.int64(unit % n_layers),
                                units, grad, partials, work)  # fmt: skip
        for unit in prange(n_ranges):
            range_sq[unit] = update_range(
                n_ranges, np.int64(unit), chunks, units, params, partials, hyper, sw_sum,
                scalars, lanes[unit * LANES : (unit + 1) * LANES],
            )  # fmt: skip
        loss = 0.0
        for chunk in range(chunks):
            loss += chunk_loss[chunk]
        sq = 0.0
        for unit in range(n_ranges):
            sq += range_sq[unit]
        total += mlp_batch_loss(loss_scale, loss, alpha, sq, sw_sum) * b
    return total, step


def _prediction_template(X_data, X_indices, X_indptr, n_features, is_sparse, rows,
                         start, units, theta, X_batch, acts):  # fmt: skip
    """Template of the forward pass of the samples ``rows[start:]`` (``specialize``).

    Writes the activations of every layer into ``acts`` (``len(rows) - start``
    rows per layer; the output layer's last). ``start`` is an argument, not a
    constant 0, so that ``forward_rows`` is called with the training epoch's
    argument types (one compilation for both).
    """
    data = (X_data, X_indices, X_indptr, n_features)  # not is_sparse: SPARSE
    b = rows.shape[0] - start
    work = (X_batch, acts, acts, acts, acts, b)
    chunks = row_parts(b)
    for chunk in prange(chunks):
        lo, hi = part_range(b, chunks, chunk)
        forward_rows(data, rows, start, lo, hi, units, theta, work)


# --------------------------------------------------------------------------
# The kernels called from Python: pick and run the variant of the arguments
# --------------------------------------------------------------------------

_VARIANTS = {}


def n_parameters(units):
    """Length of the packed parameter vector (weights, then intercepts)."""
    return sum(a * b for a, b in zip(units[:-1], units[1:], strict=True)) + sum(
        units[1:]
    )


def forward_workspace(units, capacity, is_sparse, dtype):
    """Buffers of a forward pass (``mlp_forward``'s ``X_batch`` and ``acts``):
    gathered rows (dense input only), then the activations of layers 1..L,
    layer by layer, each ``capacity`` rows of its width."""
    first = 0 if is_sparse else units[0]
    return (
        np.empty(capacity * first, dtype=dtype),
        np.empty(capacity * sum(units[1:]), dtype=dtype),
    )


def workspace(units, capacity, is_sparse, dtype):
    """Buffers of a training or objective call: ``forward_workspace``'s, then
    the deltas (layers 1..L), the batch's targets and sample weights, and the
    gradient's partials of the row parts after the first (one slot of the
    gradient's size each, ``row_parts``)."""
    X_batch, acts = forward_workspace(units, capacity, is_sparse, dtype)
    parts = row_parts.py_func(capacity)
    return MLPWorkspace(
        X_batch,
        acts,
        np.empty_like(acts),
        np.empty(capacity * units[-1], dtype=dtype),
        np.empty(capacity, dtype=dtype),
        np.empty((parts - 1) * n_parameters(units), dtype=dtype),
    )


def output_activations(acts, units, n):
    """The output layer's activations of ``n`` rows in ``acts`` (a view, shaped
    ``(n, units[-1])``), as a forward pass over ``n`` rows leaves them."""
    offset = n * sum(units[1:-1])
    return acts[offset : offset + n * units[-1]].reshape(n, units[-1])


def epoch_scratch(n_params):
    """The float64 scratch of ``_training_template`` for ``n_params`` parameters."""
    n_ranges = n_parts.py_func(n_params, STEP_RANGE)
    return np.empty(MAX_PARTS + n_ranges * (1 + LANES), dtype=np.float64)


def parallel_rows(rows, units, forward_only=False):
    """Whether batches of ``rows`` rows run the parallel kernel variant.

    From ``PARALLEL_WORK`` multiply-adds in the forward pass
    (``PARALLEL_FORWARD_WORK`` for a forward pass alone) and more than one
    row part; below, a parallel region costs more than it saves
    (microseconds on idle cores, milliseconds on busy ones) and its
    compilation more still. Depends on the shapes only: the variants compute
    the same numbers.
    """
    work = rows * sum(a * b for a, b in zip(units[:-1], units[1:], strict=True))
    threshold = PARALLEL_FORWARD_WORK if forward_only else PARALLEL_WORK
    return worth_parallel(work, threshold) and rows > ROWS


def settings_of(int_settings, solver, is_sparse):
    """The compile-time settings of a kernel: ``int_settings`` is
    ``[hidden_code, out_code, solver, nesterov]``; ``solver=None`` for the
    forward pass (which reads neither solver nor Nesterov)."""
    hidden_code, out_code, _, nesterov = mlp_layout.read_int_settings(int_settings)
    settings = dict(HIDDEN=int(hidden_code), OUT=int(out_code), SPARSE=bool(is_sparse))
    if solver is not None:
        settings.update(SOLVER=int(solver), NESTEROV=solver == SGD and bool(nesterov))
    return settings


def variant(template, settings, rows, units):
    """The compiled ``template`` for ``settings`` (serial or parallel by
    ``parallel_rows``): compiled on first use, then cached."""
    parallel = parallel_rows(int(rows), [int(u) for u in units],
                             template is _prediction_template)  # fmt: skip
    key = (template.__name__, tuple(sorted(settings.items())), parallel)
    kernel = _VARIANTS.get(key)
    if kernel is None:
        kernel = specialize(template, settings, fastmath=False, parallel=parallel)
        _VARIANTS[key] = kernel
    return kernel


def mlp_train_epoch(data, targets, order, batch_size, units, params, buffers,
                    int_settings, float_settings, step):  # fmt: skip
    """Train one epoch over the samples ``order`` in batches of ``batch_size``.

    ``data`` (``bundles.Data``), ``targets`` (``bundles.MLPTargets``),
    ``params`` (``bundles.MLPParams``: updated in place) and ``buffers``
    (``bundles.MLPWorkspace``, from ``workspace``) are the bundles the
    trainer builds; ``units`` the layer widths (``int64``).
    ``int_settings``: ``[hidden_code, out_code, solver, nesterov]``;
    ``float_settings``: ``[alpha, lr, momentum, beta1, beta2, eps,
    weight_decay, loss_eps, loss_scale]``; ``step``: the optimizer's step
    count before the epoch. Returns ``(sum over batches of batch_loss *
    batch_rows, step)`` (``_training_template``).
    """
    return plan(data, targets, order, batch_size, units, params, buffers, int_settings,
                float_settings, step)()  # fmt: skip


def plan(data, targets, order, batch_size, units, params, buffers, int_settings,
         float_settings, step):  # fmt: skip
    """The ``_jit.Plan`` of ``mlp_train_epoch`` on these arguments."""
    solver = mlp_layout.read_int_settings(int_settings)[2]
    settings = settings_of(int_settings, int(solver), data.is_sparse)
    capacity = max(1, min(int(batch_size), order.shape[0]))
    kernel = variant(_training_template, settings, capacity, units)
    return Plan(kernel, flatten(data, targets, order, batch_size, units, params,
                                buffers, float_settings, step,
                                epoch_scratch(params.theta.shape[0])),
                is_parallel(kernel))  # fmt: skip


def mlp_objective(data, targets, units, theta, grad, buffers, int_settings,
                  float_settings):  # fmt: skip
    """The L-BFGS objective at ``theta``: returns the summed loss, the gradient
    (already divided by ``sum(sample_weight)``) in ``grad``.

    One batch of all samples in order, without a step: the training epoch's
    template with ``SOLVER = OBJECTIVE``. The bundles as ``mlp_train_epoch``'s.
    """
    settings = settings_of(int_settings, OBJECTIVE, data.is_sparse)
    n = targets.Y.shape[0]
    kernel = variant(_training_template, settings, n, units)
    order = np.arange(n, dtype=np.int64)
    params = MLPParams(theta, theta[:0], theta[:0], grad)
    total, _ = kernel(*flatten(data, targets, order, max(n, 1), units, params, buffers,
                               float_settings, 0,
                               epoch_scratch(theta.shape[0])))  # fmt: skip
    return total


def mlp_forward(data, rows, units, theta, X_batch, acts, int_settings):
    """Forward pass of the samples ``rows`` of ``data`` (``bundles.Data``):
    every layer's activations in ``acts`` (``len(rows)`` rows per layer, the
    output layer's last); ``X_batch`` and ``acts`` from ``forward_workspace``."""
    settings = settings_of(int_settings, None, data.is_sparse)
    kernel = variant(_prediction_template, settings, rows.shape[0], units)
    kernel(*flatten(data, rows, 0, units, theta, X_batch, acts))
