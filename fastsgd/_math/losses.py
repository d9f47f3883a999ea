"""Losses and their derivatives with respect to the raw prediction ``p``.

``loss_value(code, y, p, epsilon)`` and ``loss_derivative(code, y, p, epsilon)``
follow scikit-learn 1.9's ``_sgd_fast`` / ``_loss`` definitions exactly (same
branches, same cut-offs), so that per-sample training reproduces
scikit-learn's trajectory. ``epsilon`` is the Huber delta or the
epsilon-insensitive margin; other losses ignore it.

Math-layer functions call nothing but ``math.*`` and each other: a plain
Python function is not callable from compiled code, so each target compiles
these with their callees bound to that target's builds (``_jit.compiled_for``).
"""

import math

from fastsgd._math.codes import (
    EPSILON_INSENSITIVE,
    HINGE,
    HUBER,
    LOG_LOSS,
    MODIFIED_HUBER,
    PERCEPTRON,
    SQUARED_EPSILON_INSENSITIVE,
    SQUARED_ERROR,
    SQUARED_HINGE,
)


def loss_value(code, y, p, epsilon):
    """Loss of prediction ``p`` for target ``y``."""
    if code == HINGE or code == PERCEPTRON:
        threshold = 1.0 if code == HINGE else 0.0
        z = p * y
        if z <= threshold:
            return threshold - z
        return 0.0
    elif code == LOG_LOSS:
        # log(1 + exp(p)) - y * p, with scikit-learn's overflow-safe cut-offs
        if p <= -37.0:
            softplus = math.exp(p)
        elif p <= -2.0:
            softplus = math.log1p(math.exp(p))
        elif p <= 18.0:
            softplus = math.log(1.0 + math.exp(p))
        elif p <= 33.3:
            softplus = p + math.exp(-p)
        else:
            softplus = p
        return softplus - y * p
    elif code == MODIFIED_HUBER:
        z = p * y
        if z >= 1.0:
            return 0.0
        elif z >= -1.0:
            return (1.0 - z) * (1.0 - z)
        return -4.0 * z
    elif code == SQUARED_HINGE:
        z = 1.0 - p * y
        if z > 0.0:
            return z * z
        return 0.0
    elif code == SQUARED_ERROR:
        return 0.5 * (p - y) * (p - y)
    elif code == HUBER:
        abserr = abs(y - p)
        if abserr <= epsilon:
            return 0.5 * abserr * abserr
        return epsilon * (abserr - 0.5 * epsilon)
    elif code == EPSILON_INSENSITIVE:
        r = abs(y - p) - epsilon
        return r if r > 0.0 else 0.0
    elif code == SQUARED_EPSILON_INSENSITIVE:
        r = abs(y - p) - epsilon
        return r * r if r > 0.0 else 0.0
    return math.nan


def loss_derivative(code, y, p, epsilon):
    """Derivative of :func:`loss_value` with respect to ``p``."""
    if code == HINGE or code == PERCEPTRON:
        threshold = 1.0 if code == HINGE else 0.0
        if p * y <= threshold:
            return -y
        return 0.0
    elif code == LOG_LOSS:
        if p > -37.0:
            e = math.exp(-p)
            return ((1.0 - y) - y * e) / (1.0 + e)
        return math.exp(p) - y
    elif code == MODIFIED_HUBER:
        z = p * y
        if z >= 1.0:
            return 0.0
        elif z >= -1.0:
            return 2.0 * (1.0 - z) * -y
        return -4.0 * y
    elif code == SQUARED_HINGE:
        z = 1.0 - p * y
        if z > 0.0:
            return -2.0 * y * z
        return 0.0
    elif code == SQUARED_ERROR:
        return p - y
    elif code == HUBER:
        r = p - y
        if abs(r) <= epsilon:
            return r
        return epsilon if r >= 0.0 else -epsilon
    elif code == EPSILON_INSENSITIVE:
        if y - p > epsilon:
            return -1.0
        elif p - y > epsilon:
            return 1.0
        return 0.0
    elif code == SQUARED_EPSILON_INSENSITIVE:
        z = y - p
        if z > epsilon:
            return -2.0 * (z - epsilon)
        elif z < -epsilon:
            return 2.0 * (-z - epsilon)
        return 0.0
    return math.nan


def binary_target(is_positive, code):
    """Target of a binary head: {0, 1} for log loss, {-1, +1} otherwise."""
    if is_positive:
        return 1.0
    return 0.0 if code == LOG_LOSS else -1.0


def clip_derivative(d):
    """Clip a loss derivative to +-1e12, as scikit-learn does."""
    if d < -1e12:
        return -1e12
    elif d > 1e12:
        return 1e12
    return d


def mlp_batch_loss(loss_scale, loss, alpha, sq_norm, sw_sum):
    """scikit-learn's MLP batch loss: the weighted loss ``loss`` (summed over
    the batch's rows, times ``loss_scale``) over the sum of sample weights,
    plus ``alpha / 2 * sum(W**2)`` over the same sum; 0 for a batch whose
    samples all weigh 0 (``mlp_gradient``)."""
    if sw_sum == 0.0:
        return (loss_scale * loss + 0.5 * alpha * sq_norm) * 0.0
    return loss_scale * loss / sw_sum + 0.5 * alpha * sq_norm / sw_sum


def softmax_cross_entropy(scores, label, out):
    """Softmax of ``scores`` into ``out`` and the cross-entropy of ``label``.

    ``out[k]`` becomes ``softmax(scores)[k] - [k == label]``, the derivative of
    ``-log softmax(scores)[label]`` with respect to ``scores[k]``; the loss is
    returned. The maximum is subtracted first, so no exponential overflows.

    Not ``activations.softmax_inplace`` (the MLP's): that one sums in the
    row's dtype in NumPy's pairwise order, for scikit-learn's MLP roundings;
    this one sums in float64, in order. Built on the MLP's softmax, a cold
    multinomial fit compiled 0.65 s longer (2.6 s -> 3.25 s) and float32
    multinomial models moved by 1e-5 after one epoch.
    """
    n = scores.shape[0]
    top = scores[0]
    for k in range(1, n):
        if scores[k] > top:
            top = scores[k]
    total = 0.0
    for k in range(n):
        e = math.exp(scores[k] - top)
        out[k] = e
        total += e
    for k in range(n):
        out[k] = out[k] / total
    loss = math.log(total) - (scores[label] - top)
    out[label] = out[label] - 1.0
    return loss
