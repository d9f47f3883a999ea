"""A mini-batch step's parts: plain Python, compiled for every target.

The linear mini-batch kernels of both targets (``cpu.py``'s
``_minibatch_epoch`` and ``_lazy_sparse_epoch``, ``cuda.py``'s
``_minibatch_kernel``) count their batches and step their weights and
intercepts through these functions; they differ only in how the work is
spread (threads over feature blocks, GPU threads over coordinates). The
formulas are the math layer's (``momentum_step``, ``penalty_gradient``,
``running_mean``).

Flags such as ``keep_buffer`` and ``averaging`` are plain arguments: the CPU
kernels pass their compile-time settings (so Numba prunes the branches they
never take once the helper is inlined), the GPU kernel its run-time values.
"""

from fastsgd._math.updates import momentum_step, penalty_gradient, running_mean


def batch_counters(step, samples_seen, batch_len, average, n_averaged):
    """The counters of optimizer step ``step`` (1-based over the fit), a batch
    of ``batch_len`` samples after ``samples_seen``: ``(first_step, t_batch,
    samples_seen, n_averaged)``.

    ``t_batch`` is scikit-learn's ``t`` of the batch's first sample (the
    schedules' clock); averaging counts the step once ``samples_seen`` reaches
    ``average`` (``average > 0``).
    """
    first_step = step == 1
    t_batch = samples_seen + 1.0
    samples_seen += batch_len
    if average > 0 and samples_seen >= average:
        n_averaged += 1
    return first_step, t_batch, samples_seen, n_averaged


def sum_chunks(partial, n_partial, k, j):
    """``sum_c partial[c, k, j]`` over the first ``n_partial`` chunks, in chunk
    order; the partial sums are zeroed for the next batch."""
    g_sum = partial[0, k, j]
    partial[0, k, j] = 0.0
    for c in range(1, n_partial):
        g_sum += partial[c, k, j]
        partial[c, k, j] = 0.0
    return g_sum


def optimizer_step(params, buffer, i, g, first_step, lr, momentum, dampening,
                   nesterov, keep_buffer):  # fmt: skip
    """``momentum_step`` of ``params[i]`` with gradient ``g``, in place; returns it.

    The buffer ``buffer[i]`` is read and written only when ``keep_buffer`` (a
    fit with momentum; otherwise ``buffer`` may be empty).
    """
    if keep_buffer:
        w, b = momentum_step(params[i], g, buffer[i], first_step, lr, momentum,
                             dampening, nesterov)  # fmt: skip
        buffer[i] = b
    else:
        w, _ = momentum_step(params[i], g, 0.0, first_step, lr, 0.0, 0.0, False)
    params[i] = w
    return w


def weight_step(w_row, buf_row, avg_row, j, g_mean, lr, penalty, penalty_alpha,
                l1_ratio, momentum, dampening, nesterov, first_step, keep_buffer,
                averaging, n_averaged):  # fmt: skip
    """Step weight ``w_row[j]`` of a head with its mean gradient ``g_mean`` plus
    the penalty's gradient; with ``averaging``, fold it into ``avg_row[j]``
    once averaging has started (``n_averaged > 0``)."""
    g = g_mean + penalty_gradient(penalty, penalty_alpha, l1_ratio, w_row[j])
    w = optimizer_step(w_row, buf_row, j, g, first_step, lr, momentum, dampening,
                       nesterov, keep_buffer)  # fmt: skip
    if averaging and n_averaged > 0:
        avg_row[j] = running_mean(avg_row[j], w, n_averaged)


def intercept_step(intercept, intercept_buf, avg_intercept, k, g_mean, lr, momentum,
                   dampening, nesterov, first_step, keep_buffer, fit_intercept,
                   averaging, n_averaged):  # fmt: skip
    """Step intercept ``k`` (never penalised) with its mean gradient, and fold
    it into the running average as ``weight_step`` does."""
    if fit_intercept:
        optimizer_step(intercept, intercept_buf, k, g_mean, first_step, lr, momentum,
                       dampening, nesterov, keep_buffer)  # fmt: skip
    if averaging and n_averaged > 0:
        avg_intercept[k] = running_mean(avg_intercept[k], intercept[k], n_averaged)
