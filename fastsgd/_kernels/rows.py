"""Row access and a head's derivative: plain Python, compiled for every target.

The linear kernels of both targets read the data and weigh a head's loss
derivative through these functions (``cpu.py`` compiles them with
``cpu_inline``, ``cuda.py`` with ``gpu_function``; ``_jit.compiled_for``
binds the functions they call to the same target's builds). Nothing here is
called as Python by a kernel.

Data layout, shared by every kernel: ``X_data, X_indices, X_indptr,
n_features, is_sparse``. A dense ``X`` is passed as its flat C-order view
(``X.reshape(-1)``, no copy) with empty index arrays; a CSR ``X`` as its
three arrays. Row ``i`` of a dense ``X`` starts at ``i * n_features``.

Targets: ``y_float`` (regression), ``y_class`` (class codes), per head
``head_positive`` (the class a one-vs-rest head calls positive) and the class
weights ``weight_pos``/``weight_neg`` of its positive and negative samples
(for a multinomial model, ``weight_pos[c]`` is class ``c``'s weight), and
``sample_weight``.
"""

from fastsgd._math.codes import REGRESSION
from fastsgd._math.losses import binary_target, clip_derivative


def row_slices(X_data, X_indices, X_indptr, n_features, is_sparse, i):
    """Row ``i`` as ``(values, column indices)`` views (indices empty if dense)."""
    if is_sparse:
        start = X_indptr[i]
        stop = X_indptr[i + 1]
        return X_data[start:stop], X_indices[start:stop]
    start = i * n_features
    return X_data[start : start + n_features], X_indices[0:0]


def row_dot(x_values, x_indices, is_sparse, w):
    """``x . w`` for a row given as its stored values (and CSR column indices).

    Accumulated in the data's dtype, features in order. Rows are passed as
    slices: indexing a slice with ``range`` lets LLVM prove the index
    non-negative and vectorise, which ``X_data[start + j]`` does not.
    """
    acc = x_values.dtype.type(0.0)
    if is_sparse:
        for jj in range(x_values.shape[0]):
            acc += x_values[jj] * w[x_indices[jj]]
    else:
        for j in range(x_values.shape[0]):
            acc += x_values[j] * w[j]
    return acc


def row_dot4(x_values, x_indices, is_sparse, w0, w1, w2, w3):
    """``row_dot`` of four weight vectors in one pass over the row.

    Four independent sums, each accumulated as ``row_dot``'s (the same bits):
    one sum waits on each addition (exact IEEE order, no vectorising), four
    overlap. The per-sample kernel scores a block of heads that share a row
    this way.
    """
    a0 = a1 = a2 = a3 = x_values.dtype.type(0.0)
    if is_sparse:
        for jj in range(x_values.shape[0]):
            x = x_values[jj]
            j = x_indices[jj]
            a0 += x * w0[j]
            a1 += x * w1[j]
            a2 += x * w2[j]
            a3 += x * w3[j]
    else:
        for j in range(x_values.shape[0]):
            x = x_values[j]
            a0 += x * w0[j]
            a1 += x * w1[j]
            a2 += x * w2[j]
            a3 += x * w3[j]
    return a0, a1, a2, a3


def row_sqnorm(x_values):
    """``||x||^2`` of a row (the stored values; zeros add nothing)."""
    acc = 0.0
    for jj in range(x_values.shape[0]):
        acc += x_values[jj] * x_values[jj]
    return acc


def head_target(task, loss_code, y_float, y_class, head_positive, i, k):
    """Target of head ``k`` for sample ``i`` (REGRESSION or ONE_VS_REST)."""
    if task == REGRESSION:
        return y_float[i]
    return binary_target(y_class[i] == head_positive[k], loss_code)


def class_weight(y, weight_pos, weight_neg, k):
    """The class weight of head ``k``'s sample with target ``y``."""
    return weight_pos[k] if y > 0.0 else weight_neg[k]


def weighted_derivative(d, y, weight_pos, weight_neg, sample_weight, i, k):
    """A head's loss derivative ``d`` (at target ``y``, sample ``i``, head ``k``)
    as the mini-batch gradient takes it: clipped, times the class and sample
    weights.

    The kernels call the loss itself (``loss_value``, ``loss_derivative``)
    between ``head_target`` and this: a helper that called the loss with a
    run-time code would carry every loss's code into each CPU kernel before
    Numba prunes it (a CPU kernel fixes the loss at compile time), which
    cost 0.25 s of a cold mini-batch fit.
    """
    return (
        clip_derivative(d)
        * class_weight(y, weight_pos, weight_neg, k)
        * sample_weight[i]
    )
