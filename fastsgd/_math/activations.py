"""Activations of the multi-layer perceptron and the output layer's loss.

scikit-learn's definitions (``sklearn/neural_network/_base.py``), written as
scalar functions (and short loops over a row for the softmax and the output
row) so that the CPU and GPU kernels compile the same source. The order of
operations follows scikit-learn's in-place array code, so float64 results
round as scikit-learn's.
"""

import math

from fastsgd._math.codes import EXP, LOGISTIC, RELU, SOFTMAX, TANH


def activation_value(code, z):
    """Activation of pre-activation ``z`` (element-wise activations only)."""
    if code == RELU:
        return max(z, 0.0)
    elif code == TANH:
        return math.tanh(z)
    elif code == LOGISTIC:
        return 1.0 / (1.0 + math.exp(-z))
    elif code == EXP:
        return math.exp(z)
    return z


def activation_backprop(code, a, delta):
    """``delta`` times the activation's derivative, from the output ``a``.

    scikit-learn's in-place forms: logistic ``delta * a * (1 - a)``, tanh
    ``delta * (1 - a**2)``, relu zeroes ``delta`` where ``a == 0``.
    """
    if code == RELU:
        return delta if a != 0.0 else 0.0
    elif code == TANH:
        return delta * (1.0 - a * a)
    elif code == LOGISTIC:
        return delta * a * (1.0 - a)
    return delta


def softmax_inplace(row):
    """Replace the scores in ``row`` by their softmax (scikit-learn's order).

    ``exp(score - max)`` divided by the row's sum, which is taken in the row's
    dtype in NumPy's pairwise order (``np.add.reduce`` over a contiguous row:
    eight interleaved partial sums combined as a tree, the tail added last;
    rows of over 128 outputs, which NumPy cuts into halves first, are summed
    with the eight partial sums throughout). A float32 row therefore sums,
    divides and rounds in float32 as scikit-learn's does, with no float64
    conversions.
    """
    n = row.shape[0]
    top = row[0]
    for k in range(1, n):
        top = max(top, row[k])
    for k in range(n):
        row[k] = math.exp(row[k] - top)
    if n < 8:
        total = row[0]
        for k in range(1, n):
            total += row[k]
    else:
        r0, r1, r2, r3 = row[0], row[1], row[2], row[3]
        r4, r5, r6, r7 = row[4], row[5], row[6], row[7]
        k = 8
        while k + 8 <= n:
            r0 += row[k]
            r1 += row[k + 1]
            r2 += row[k + 2]
            r3 += row[k + 3]
            r4 += row[k + 4]
            r5 += row[k + 5]
            r6 += row[k + 6]
            r7 += row[k + 7]
            k += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(k, n):
            total += row[j]
    for k in range(n):
        row[k] = row[k] / total


def output_loss(code, y, p, eps):
    """One output's term of the loss, for output activation ``code``.

    SOFTMAX: the cross-entropy term ``-y log p``; LOGISTIC: the binary
    cross-entropy; both with ``p`` clipped to ``[eps, 1 - eps]``. EXP: the
    half Poisson deviance ``y log(y / p) - y + p`` (the ratio in float64).
    IDENTITY: the squared error ``(y - p)**2`` (the kernel applies
    scikit-learn's ``1 / (2 n_outputs)``).
    """
    if code == SOFTMAX or code == LOGISTIC:
        q = min(max(p, eps), 1.0 - eps)
        term = -y * math.log(q) if y != 0.0 else 0.0
        if code == LOGISTIC and y != 1.0:
            term -= (1.0 - y) * math.log(1.0 - q)
        return term
    elif code == EXP:
        # the ratio in float64, as scikit-learn's (its targets are float64):
        # in float32 a large target over a tiny prediction overflows to inf
        # (y * 1.0: float64 on both targets; float() keeps float32 in Numba)
        term = y * math.log(y * 1.0 / p) if y != 0.0 else 0.0
        return term - y + p
    return (y - p) * (y - p)


def output_delta(p, y, sample_weight):
    """Gradient of the loss with respect to the output's pre-activation.

    ``p - y`` for every canonical pair of output activation and loss
    (identity/squared error, logistic/binary cross-entropy, softmax/
    cross-entropy, exp/Poisson), times the sample weight.
    """
    return (p - y) * sample_weight


def output_row(code, p_row, y_row, sample_weight, eps, delta_row):
    """One row of the output layer: ``delta_row[k] = output_delta`` of each
    output, and the row's loss ``sample_weight * sum_k output_loss`` (outputs
    in order)."""
    loss = 0.0
    for k in range(p_row.shape[0]):
        loss += output_loss(code, y_row[k], p_row[k], eps)
        delta_row[k] = output_delta(p_row[k], y_row[k], sample_weight)
    return sample_weight * loss
