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

from fastsgd._math.codes import ADAM, ADAMW, ELASTICNET, L1, L2, SGD


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


def unscale(v, average, wscale, avg_a, avg_b):
    """``(w, w_bar)`` of a coordinate kept as scikit-learn's ``WeightVector``
    keeps it: ``w = wscale * v``, and the lazy average ``w_bar = (average +
    avg_a * v) / avg_b`` (a fold: ``reset_wscale``)."""
    return v * wscale, (average + avg_a * v) / avg_b


def l1_penalty_step(eta, alpha, l1_ratio):
    """What one step at rate ``eta`` adds to the cumulative L1 penalty ``u``
    (scikit-learn's ``u += l1_ratio * eta * alpha``)."""
    return l1_ratio * eta * alpha


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


def mlp_step(solver, w, g, s1, s2, lr, momentum, nesterov, beta1, beta2, eps,
             step_size, denom_scale, decay):  # fmt: skip
    """One optimizer step of one coordinate of a multi-layer perceptron.

    Returns ``(w, s1, s2)``; ``s1``/``s2`` are the optimizer's state (the
    velocity; or Adam's first and second moments).

    - SGD (scikit-learn's ``SGDOptimizer``, the Keras form)::

          s1 = momentum * s1 - lr * g
          w += momentum * s1 - lr * g   (Nesterov)   or   w += s1

    - ADAM (scikit-learn's ``AdamOptimizer``; ``step_size`` is
      ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``, eps not bias-corrected)::

          s1 = beta1 * s1 + (1 - beta1) * g;  s2 = beta2 * s2 + (1 - beta2) * g**2
          w += -step_size * s1 / (sqrt(s2) + eps)

    - ADAMW (``torch.optim.AdamW``; ``step_size`` is ``lr / (1 - beta1**t)``,
      ``denom_scale`` is ``sqrt(1 - beta2**t)``, ``decay`` is
      ``1 - lr * weight_decay`` for weights and 1 for intercepts)::

          w *= decay;  s1, s2 as Adam
          w -= step_size * s1 / (sqrt(s2) / denom_scale + eps)
    """
    if solver == SGD:
        s1 = momentum * s1 - lr * g
        if nesterov:
            return w + (momentum * s1 - lr * g), s1, s2
        return w + s1, s1, s2
    s1 = beta1 * s1 + (1.0 - beta1) * g
    s2 = beta2 * s2 + (1.0 - beta2) * (g * g)
    if solver == ADAM:
        return w + -step_size * s1 / (math.sqrt(s2) + eps), s1, s2
    if solver == ADAMW:
        w = w * decay
        return w - step_size * s1 / (math.sqrt(s2) / denom_scale + eps), s1, s2
    return w, s1, s2


def mlp_gradient(G, w, alpha, sw_sum):
    """A multi-layer perceptron's gradient of one parameter (scikit-learn's
    ``_compute_loss_grad``): the summed weighted gradient ``G`` plus the L2
    term ``alpha * w``, divided by the batch's sum of sample weights
    (``alpha = 0`` for intercepts). A batch whose samples all weigh 0 has no
    gradient (a zero; scikit-learn fails on it: ``np.average`` raises)."""
    if sw_sum == 0.0:
        return (G + alpha * w) * 0.0
    return (G + alpha * w) / sw_sum


def decay_factor(lr, weight_decay):
    """AdamW's decoupled weight decay of one step: ``w *= 1 - lr * weight_decay``
    (``torch.optim.AdamW``; weights only, intercepts get 1)."""
    return 1.0 - lr * weight_decay


def adam_step_scalars(solver, lr, beta1, beta2, t):
    """``(step_size, denom_scale)`` of Adam's ``t``-th step (``t`` >= 1).

    ADAM: scikit-learn's ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)`` and 1;
    ADAMW: torch's ``lr / (1 - beta1**t)`` and ``sqrt(1 - beta2**t)``.
    """
    correction1 = 1.0 - beta1**t
    correction2 = 1.0 - beta2**t
    if solver == ADAM:
        return lr * math.sqrt(correction2) / correction1, 1.0
    return lr / correction1, math.sqrt(correction2)
