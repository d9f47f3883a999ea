"""scikit-learn's stopping rules, one epoch at a time.

Plain Python, as the rest of the math layer: the trainers call these
functions after each epoch, and the per-sample kernel that runs a whole fit
in one call (``cpu_per_sample``) compiles the same ones, so the rule exists
once.
"""

#: scikit-learn's 'adaptive' learning rate (``SGDClassifier``/``SGDRegressor``
#: and the MLPs' SGD): after ``n_iter_no_change`` epochs without improvement
#: the rate is divided by ``ADAPTIVE_DIVISOR`` while it exceeds
#: ``ADAPTIVE_MIN_RATE``; then training stops.
ADAPTIVE_DIVISOR = 5.0
ADAPTIVE_MIN_RATE = 1e-6


def epoch_verdict(value, best, count, tol, n_iter_no_change, active):
    """A track's stopping state after an epoch whose ``value`` (the objective,
    or minus the validation score: lower is better) it reached.

    The epoch is worse when ``value > best - tol`` (never with ``tol =
    -inf``); ``count`` counts the worse epochs in a row of an active track.
    Returns ``(best, count, stalled)``: the track has stalled after
    ``n_iter_no_change`` worse epochs.
    """
    worse = value > best - tol
    if value < best:
        best = value
    if worse and active:
        count += 1
    else:
        count = 0
    return best, count, active and count >= n_iter_no_change


def adaptive_rate(rate):
    """The 'adaptive' schedule's rate after a stall: ``rate / 5`` while
    ``rate`` exceeds ``ADAPTIVE_MIN_RATE``; 0.0 when training stops."""
    if rate > ADAPTIVE_MIN_RATE:
        return rate / ADAPTIVE_DIVISOR
    return 0.0
