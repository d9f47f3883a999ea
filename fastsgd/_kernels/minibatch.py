"""What every target's mini-batch kernel computes alike: its counters, its chunk
sums, an intercept's gradient. Plain Python, compiled for every target.

The linear mini-batch kernels of both targets (``cpu.py``'s
``_minibatch_epoch``, ``cpu_sparse.py``'s O(nnz) kernels, ``cuda.py``'s
``_minibatch_kernel``) count their batches and reduce their chunk sums
through these functions; they differ only in how the work is spread (threads
over feature blocks, GPU threads over coordinates). The step of a weight or
an intercept is the math layer's ``momentum_step`` and ``running_mean`` on
both targets, composed on the CPU by a configured helper that prunes the
momentum buffer and the averaging at compile time (``cpu._optimizer_step``):
a shared helper with those flags as arguments is inlined unpruned before the
CPU kernel can fold them, which cost 0.2-0.4 s of a cold mini-batch fit
(measured: a multinomial fit's kernel compiled in 2.7 s instead of 2.3 s).
"""


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


def intercept_gradient(g_sum, inv_batch, intercept_alpha, intercept_decay):
    """An intercept's step gradient from the batch's derivative sum ``g_sum``:
    the mean, plus the objective's linear term ``intercept_alpha`` (the
    one-class SVM's ``nu``; a zero adds nothing), times scikit-learn's
    ``intercept_decay``."""
    return (g_sum * inv_batch + intercept_alpha) * intercept_decay
