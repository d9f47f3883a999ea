"""Learning-rate schedules as functions of the step count ``t`` (1-based).

Per-sample training counts samples (scikit-learn's ``t``); mini-batch
training counts optimizer steps (batches). ``eta`` is the schedule's current
base rate: ``eta0``, or for ``adaptive`` the rate after its divisions by 5.
"""

import math

from fastsgd._math.codes import INVSCALING, OPTIMAL
from fastsgd._math.losses import loss_derivative


def optimal_offset(loss, alpha, epsilon):
    """``t0`` of the ``optimal`` schedule, so that its first rate is Bottou's:
    ``typw / max(1, dloss(y=1, p=-typw))`` with ``typw = sqrt(1/sqrt(alpha))``
    (scikit-learn's heuristic), ``dloss`` the derivative of ``loss``."""
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    eta_init = typw / max(1.0, loss_derivative(loss, 1.0, -typw, epsilon))
    return 1.0 / (eta_init * alpha)


def invscaling_rate(eta, power_t, t):
    """scikit-learn's MLP 'invscaling' rate after ``t`` samples:
    ``eta / (t + 1) ** power_t``, the per-sample rate of ``learning_rate``."""
    return learning_rate(INVSCALING, eta, 0.0, power_t, 0.0, t + 1, 1)


def rate_reads_alpha(schedule):
    """Whether ``learning_rate`` reads ``alpha`` and ``optimal_t0`` ('optimal'
    only): models of other alphas at the same ``eta`` and ``t`` share the
    other schedules' rates."""
    return schedule == OPTIMAL


def learning_rate(schedule, eta, alpha, power_t, optimal_t0, t, batch):
    """The learning rate of a step over samples ``t .. t + batch - 1``.

    ``t`` is scikit-learn's sample counter (1-based). With ``batch == 1`` this
    is scikit-learn's per-sample rate. A mini-batch step of the decaying
    schedules takes the sum of the per-sample rates of its samples (a
    midpoint-rule integral), so that an epoch of mini-batches moves the weights
    about as far as an epoch of per-sample steps. ``constant`` and
    ``adaptive`` keep ``eta`` (``torch.optim.SGD``'s ``lr``).
    """
    if schedule == OPTIMAL:
        c = optimal_t0 + t - 1.0
        if batch == 1:
            return 1.0 / (alpha * c)
        return math.log1p(batch / (c - 0.5)) / alpha
    elif schedule == INVSCALING:
        if batch == 1:
            return eta / math.pow(t, power_t)
        lo = t - 0.5
        # The integral of eta * s**-power_t over [lo, hi], as
        # lo**e * expm1(e * log(hi / lo)) / e with e = 1 - power_t: accurate
        # whether e is near 0 (it tends to log(hi / lo)) or the two powers
        # nearly cancel.
        log_ratio = math.log1p(batch / lo)
        e = 1.0 - power_t
        if e == 0.0:
            return eta * log_ratio
        return eta * math.pow(lo, e) * math.expm1(e * log_ratio) / e
    return eta
