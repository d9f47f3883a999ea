"""Learning-rate schedules as functions of the step count ``t`` (1-based).

Per-sample training counts samples (scikit-learn's ``t``); mini-batch
training counts optimizer steps (batches). ``eta`` is the schedule's current
base rate: ``eta0``, or for ``adaptive`` the rate after its divisions by 5.
"""

import math

from fastsgd._math.codes import INVSCALING, OPTIMAL


def optimal_offset(alpha, initial_derivative):
    """``t0`` of the ``optimal`` schedule, so that its first rate is Bottou's.

    ``initial_derivative`` is the loss derivative at ``y=1, p=-typw``.
    With ``typw = sqrt(1/sqrt(alpha))`` the first rate is
    ``typw / max(1, initial_derivative)`` (scikit-learn's heuristic).
    """
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    eta_init = typw / max(1.0, initial_derivative)
    return 1.0 / (eta_init * alpha)


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
        return math.log((c + batch - 0.5) / (c - 0.5)) / alpha
    elif schedule == INVSCALING:
        if batch == 1:
            return eta / math.pow(t, power_t)
        lo = t - 0.5 if t > 1.0 else 0.5
        hi = t + batch - 0.5
        if power_t == 1.0:
            return eta * math.log(hi / lo)
        # (hi**e - lo**e) / e, written with expm1 so that it stays accurate
        # as e = 1 - power_t approaches 0 (where it tends to log(hi / lo)).
        e = 1.0 - power_t
        return eta * (math.expm1(e * math.log(hi)) - math.expm1(e * math.log(lo))) / e
    return eta
