"""The multi-layer perceptron kernels' layout: plain Python, compiled for every target.

Where each layer's weights and intercepts sit in the packed parameter vector
``theta``, where each layer's rows sit in a workspace, and what the two
settings vectors hold. ``cpu_mlp.py`` and ``cuda_mlp.py`` compile the offset
functions (``_jit.cpu_called`` / ``gpu_function``); the trainer builds the
settings vectors with ``int_settings`` / ``float_settings`` and the kernels
read them with ``read_int_settings`` / ``read_float_settings``, so the index
map exists once.

``units`` is ``(n_features, hidden..., n_outputs)``. ``theta`` holds every
layer's weights (``(fan_in, fan_out)``, C order) layer after layer, then
every layer's intercepts, as scikit-learn's ``_pack``; the steps cut it into
equal ranges (``STEP_RANGE``, ``part_range``), and the L2 term of the loss
sums the weights' squares range by range (``range_sum_squares``).
"""

import numpy as np

#: Parameters per range of the reduce-and-step phase (equal slices of the
#: packed vector; 8 KiB of float32). The L2 term ``sum(W**2)`` is summed range
#: by range (``sum_squares``), then over the ranges in order, on both targets.
STEP_RANGE = 2048
#: Independent accumulators of the sum of squares (one vector register).
LANES = 16


def n_parts(n, width):
    """How many balanced parts of at most ``width`` cover ``n`` (at least 1)."""
    return max(1, (n + width - 1) // width)


def part_range(n, parts, p):
    """``[lo, hi)`` of part ``p`` of ``n`` items cut into ``parts`` parts."""
    size = (n + parts - 1) // parts
    lo = min(n, p * size)
    return lo, min(n, lo + size)


def sum_squares(v, acc):
    """``sum(v**2)`` in a fixed order, vectorised without re-association.

    ``acc``: ``LANES`` float64 of scratch (the caller's: an array allocated
    here would compile NumPy's allocation into the CPU kernel, 0.2 s cold).
    """
    for lane in range(LANES):
        acc[lane] = 0.0
    n_full = v.shape[0] - v.shape[0] % LANES
    for k in range(0, n_full, LANES):
        for lane in range(LANES):
            acc[lane] += v[k + lane] * v[k + lane]
    total = 0.0
    for lane in range(LANES):
        total += acc[lane]
    for k in range(n_full, v.shape[0]):
        total += v[k] * v[k]
    return total


def range_sum_squares(theta, n_weights, n_ranges, unit, acc):
    """``sum(W**2)`` over the weights of range ``unit`` of ``n_ranges`` equal
    ranges of ``theta`` (0 for a range of intercepts only)."""
    lo, hi = part_range(theta.shape[0], n_ranges, unit)
    w_hi = min(hi, n_weights)
    if lo < w_hi:
        return sum_squares(theta[lo:w_hi], acc)
    return 0.0


def coef_offset(units, layer):
    """Start of layer ``layer``'s weights in ``theta``."""
    offset = 0
    for j in range(layer):
        offset += units[j] * units[j + 1]
    return offset


def intercept_offset(units, layer):
    """Start of layer ``layer``'s intercepts in ``theta``."""
    offset = coef_offset(units, units.shape[0] - 1)
    for j in range(layer):
        offset += units[j + 1]
    return offset


def layer_weights(theta, units, layer):
    """Layer ``layer``'s weights in ``theta`` (or a vector laid out as it): a
    ``(fan_in, fan_out)`` view."""
    fan_in, fan_out = units[layer], units[layer + 1]
    c = coef_offset(units, layer)
    return theta[c : c + fan_in * fan_out].reshape((fan_in, fan_out))


def layer_intercepts(theta, units, layer):
    """Layer ``layer``'s intercepts in ``theta``: a ``(fan_out,)`` view."""
    i = intercept_offset(units, layer)
    return theta[i : i + units[layer + 1]]


def layer_offset(units, layer, capacity):
    """Start of layer ``layer`` (1..L) in a workspace of layers 1..L holding
    ``capacity`` rows per layer (``capacity * units[layer]`` entries each)."""
    offset = 0
    for j in range(1, layer):
        offset += units[j] * capacity
    return offset


# --------------------------------------------------------------------------
# The settings vectors (run-time settings of every MLP kernel)
# --------------------------------------------------------------------------

#: Position of the solver code in ``int_settings``.
SOLVER_INDEX = 2


def int_settings(hidden_code, out_code, solver, nesterov):
    """The integer settings vector: activations, solver, Nesterov momentum."""
    return np.array([hidden_code, out_code, solver, int(nesterov)], dtype=np.int64)


def with_solver(settings, solver):
    """A copy of an integer settings vector with another solver code (the
    objective and the forward pass of a fit's own settings)."""
    settings = np.array(settings, dtype=np.int64)
    settings[SOLVER_INDEX] = solver
    return settings


def read_int_settings(settings):
    """``(hidden_code, out_code, solver, nesterov)`` of an integer settings vector."""
    return settings[0], settings[1], settings[SOLVER_INDEX], settings[3] != 0


def float_settings(alpha, learning_rate, momentum, beta1, beta2, epsilon,
                   weight_decay, loss_eps, loss_scale, dtype):  # fmt: skip
    """The float settings vector, in the fit's dtype: the L2 penalty, the
    optimizer's hyper-parameters, the output clipping ``loss_eps`` and
    scikit-learn's loss scale (``1/2`` for the squared error)."""
    return np.array(
        [alpha, learning_rate, momentum, beta1, beta2, epsilon, weight_decay,
         loss_eps, loss_scale],
        dtype=dtype,
    )  # fmt: skip


def read_float_settings(settings):
    """``(alpha, lr, momentum, beta1, beta2, eps, weight_decay, loss_eps,
    loss_scale)`` of a float settings vector."""
    return (
        settings[0], settings[1], settings[2], settings[3], settings[4], settings[5],
        settings[6], settings[7], settings[8],
    )  # fmt: skip
