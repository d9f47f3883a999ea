"""Update rules, one coordinate at a time.

The mini-batch rule is ``torch.optim.SGD``'s: with gradient ``g``,
momentum ``mu``, dampening ``tau`` and learning rate ``lr``::

    b = g                         on the first step
    b = mu * b + (1 - tau) * g    after it
    step = g + mu * b             with Nesterov, else  step = b
    w = w - lr * step

The per-sample (scikit-learn) rule's pieces: the multiplicative L2 shrink and
Tsuruoka's cumulative L1 truncation, applied to ``w = wscale * v``.
"""

import math

from fastsgd._math.codes import ELASTICNET, L1, L2


def penalty_gradient(penalty, alpha, l1_ratio, w):
    """Gradient (sub-gradient for L1) of the penalty at coordinate ``w``.

    The objective's penalty is ``alpha * ((1 - l1_ratio) / 2 * ||w||^2
    + l1_ratio * ||w||_1)``, with ``l1_ratio`` forced to 0 for L2 and 1 for L1.
    """
    if penalty == L2:
        return alpha * w
    elif penalty == L1:
        return alpha * math.copysign(1.0, w) if w != 0.0 else 0.0
    elif penalty == ELASTICNET:
        sign = math.copysign(1.0, w) if w != 0.0 else 0.0
        return alpha * ((1.0 - l1_ratio) * w + l1_ratio * sign)
    return 0.0


def penalty_value(penalty, alpha, l1_ratio, sq_norm, l1_norm):
    """The penalty term of the objective from ``||w||^2`` and ``||w||_1``."""
    if penalty == L2:
        return alpha * 0.5 * sq_norm
    elif penalty == L1:
        return alpha * l1_norm
    elif penalty == ELASTICNET:
        return alpha * ((1.0 - l1_ratio) * 0.5 * sq_norm + l1_ratio * l1_norm)
    return 0.0


def momentum_step(w, g, buf, first_step, lr, momentum, dampening, nesterov):
    """One ``torch.optim.SGD`` step of one coordinate; returns ``(w, buf)``."""
    if momentum != 0.0:
        if first_step:
            buf = g
        else:
            buf = momentum * buf + (1.0 - dampening) * g
        if nesterov:
            g = g + momentum * buf
        else:
            g = buf
    return w - lr * g, buf


def running_mean(mean, value, count):
    """Running mean after its ``count``-th value (``count`` >= 1)."""
    return mean + (value - mean) / count


def l2_shrink_factor(eta, alpha, l1_ratio):
    """Per-sample L2 decay ``w *= max(0, 1 - (1 - l1_ratio) * eta * alpha)``."""
    return max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha)


def l1_truncate(v, wscale, u, q):
    """Tsuruoka et al.'s cumulative L1 truncation of ``w = wscale * v``.

    ``u`` is the total L1 penalty so far, ``q`` the penalty this coordinate has
    already received. Returns the new ``v``; the caller adds
    ``wscale * (new_v - v)`` to ``q``.
    """
    if wscale * v > 0.0:
        return max(0.0, v - (u + q) / wscale)
    elif wscale * v < 0.0:
        return min(0.0, v + (u - q) / wscale)
    return v
