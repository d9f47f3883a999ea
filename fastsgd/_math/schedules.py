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


def learning_rate(schedule, eta, alpha, power_t, optimal_t0, t):
    """The learning rate of step ``t``."""
    if schedule == OPTIMAL:
        return 1.0 / (alpha * (optimal_t0 + t - 1.0))
    elif schedule == INVSCALING:
        return eta / math.pow(t, power_t)
    return eta
