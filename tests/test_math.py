"""The math layer, tested directly against independent references.

``fastsgd._math`` is plain Python (the kernels compile it). Each function is
checked here against a reference that shares no code with it:

* losses: scikit-learn's own loss objects (``_sgd_fast.Hinge`` & co. for the
  margin losses, ``sklearn._loss.loss`` for log / squared / Huber), and
  central finite differences of ``loss_value`` for ``loss_derivative``;
* ``softmax_cross_entropy``: ``scipy.special.softmax`` / ``log_softmax``;
* ``momentum_step``: ``torch.optim.SGD`` itself and its documented update
  written out by hand;
* schedules and the per-sample update pieces: scikit-learn's formulas
  (``_sgd_fast.pyx.tp``) written out, and numpy.

Finally the compiled CPU twins (``fastsgd._kernels.cpu.*``) must return the
same numbers as the Python functions.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax, softmax
from sklearn._loss.loss import HalfBinomialLoss, HalfSquaredError, HuberLoss
from sklearn.linear_model import _sgd_fast

from fastsgd._kernels import cpu  # noqa: F401 - the kernels' flavours of each build
from fastsgd._kernels._jit import compiled_for
from fastsgd._math import codes, losses, schedules, updates


def _cpu(fn):
    """The CPU build of math function ``fn``: the one the kernels call."""
    return compiled_for("cpu", fn)


SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
wide = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
sign = st.sampled_from([-1.0, 1.0])
margin = st.floats(0.0, 10.0, allow_nan=False)  # epsilon / Huber delta

CLASSIFICATION = [
    codes.HINGE,
    codes.PERCEPTRON,
    codes.MODIFIED_HUBER,
    codes.SQUARED_HINGE,
]
REGRESSION = [
    codes.SQUARED_ERROR,
    codes.HUBER,
    codes.EPSILON_INSENSITIVE,
    codes.SQUARED_EPSILON_INSENSITIVE,
]
NAMES = {v: k for k, v in codes.LOSS_CODES.items()}


def _sk_margin_loss(code, epsilon):
    """scikit-learn's ``_sgd_fast`` loss object for a code (as SGD builds it)."""
    return {
        codes.HINGE: lambda: _sgd_fast.Hinge(1.0),
        codes.PERCEPTRON: lambda: _sgd_fast.Hinge(0.0),
        codes.MODIFIED_HUBER: lambda: _sgd_fast.ModifiedHuber(),
        codes.SQUARED_HINGE: lambda: _sgd_fast.SquaredHinge(1.0),
        codes.EPSILON_INSENSITIVE: lambda: _sgd_fast.EpsilonInsensitive(epsilon),
        codes.SQUARED_EPSILON_INSENSITIVE: (
            lambda: _sgd_fast.SquaredEpsilonInsensitive(epsilon)
        ),
    }[code]()


def _sk_loss_and_gradient(code, y, p, epsilon):
    """scikit-learn's ``(loss, dloss/dp)`` of one sample, for every code."""
    if code in (codes.LOG_LOSS, codes.SQUARED_ERROR, codes.HUBER):
        if code == codes.LOG_LOSS:
            obj = HalfBinomialLoss()
        elif code == codes.SQUARED_ERROR:
            obj = HalfSquaredError()
        else:
            obj = HuberLoss(delta=epsilon)  # quantile only matters for fitting
        yt = np.array([y], dtype=np.float64)
        raw = np.array([p], dtype=np.float64)
        return (
            float(obj.loss(y_true=yt, raw_prediction=raw)[0]),
            float(obj.gradient(y_true=yt, raw_prediction=raw)[0]),
        )
    obj = _sk_margin_loss(code, epsilon)
    return obj.py_loss(p, y), obj.py_dloss(p, y)


def _target(code, draw_sign, draw_real):
    if code == codes.LOG_LOSS:
        return 1.0 if draw_sign > 0 else 0.0
    if code in CLASSIFICATION:
        return draw_sign
    return draw_real


# --------------------------------------------------------------------------
# Losses against scikit-learn
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", CLASSIFICATION + REGRESSION + [codes.LOG_LOSS], ids=lambda c: NAMES[c]
)
@SETTINGS
@given(p=wide, s=sign, y_real=finite, epsilon=margin)
def test_loss_matches_sklearn(code, p, s, y_real, epsilon):
    y = _target(code, s, y_real)
    ref_loss, ref_grad = _sk_loss_and_gradient(code, y, p, epsilon)
    got_loss = losses.loss_value(code, y, p, epsilon)
    got_grad = losses.loss_derivative(code, y, p, epsilon)
    assert math.isclose(got_loss, ref_loss, rel_tol=1e-12, abs_tol=1e-12), (
        f"{NAMES[code]} loss(y={y}, p={p}, eps={epsilon}) = {got_loss}, "
        f"scikit-learn gives {ref_loss}"
    )
    assert math.isclose(got_grad, ref_grad, rel_tol=1e-12, abs_tol=1e-12), (
        f"{NAMES[code]} dloss/dp(y={y}, p={p}, eps={epsilon}) = {got_grad}, "
        f"scikit-learn gives {ref_grad}"
    )


@pytest.mark.parametrize(
    "p", [-1e4, -40.0, -37.0, -36.9, -2.0, 0.0, 18.0, 18.5, 33.3, 33.4, 700.0, 1e4]
)
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_log_loss_branch_cutoffs_match_sklearn(p, y):
    """The overflow-safe branches of the log loss, at and around each cut-off."""
    ref_loss, ref_grad = _sk_loss_and_gradient(codes.LOG_LOSS, y, p, 0.0)
    got_loss = losses.loss_value(codes.LOG_LOSS, y, p, 0.0)
    got_grad = losses.loss_derivative(codes.LOG_LOSS, y, p, 0.0)
    assert math.isfinite(got_loss) and math.isfinite(got_grad)
    assert math.isclose(got_loss, ref_loss, rel_tol=1e-12, abs_tol=1e-300), (
        f"log loss at y={y}, p={p}: {got_loss} vs scikit-learn {ref_loss}"
    )
    assert math.isclose(got_grad, ref_grad, rel_tol=1e-12, abs_tol=1e-300), (
        f"log loss gradient at y={y}, p={p}: {got_grad} vs scikit-learn {ref_grad}"
    )


def _kinks(code, y, epsilon):
    """Values of ``p`` where the loss is not differentiable."""
    if code in (codes.HINGE, codes.PERCEPTRON):
        threshold = 1.0 if code == codes.HINGE else 0.0
        return [threshold * y]
    if code == codes.EPSILON_INSENSITIVE:
        return [y - epsilon, y + epsilon]
    return []


@pytest.mark.parametrize(
    "code", CLASSIFICATION + REGRESSION + [codes.LOG_LOSS], ids=lambda c: NAMES[c]
)
@SETTINGS
@given(
    p=st.floats(-50.0, 50.0),
    s=sign,
    y_real=st.floats(-50.0, 50.0),
    epsilon=st.floats(0.0, 5.0),
)
def test_loss_derivative_is_finite_difference_of_loss(code, p, s, y_real, epsilon):
    y = _target(code, s, y_real)
    h = 1e-6 * max(1.0, abs(p))
    assume(all(abs(p - k) > 10 * h for k in _kinks(code, y, epsilon)))
    fd = (
        losses.loss_value(code, y, p + h, epsilon)
        - losses.loss_value(code, y, p - h, epsilon)
    ) / (2 * h)
    got = losses.loss_derivative(code, y, p, epsilon)
    scale = max(1.0, abs(losses.loss_value(code, y, p, epsilon)))
    # the squared losses' second derivative (at most 2) jumps at their
    # breakpoints, where the central difference is off by up to h
    assert math.isclose(got, fd, rel_tol=1e-5, abs_tol=1e-6 * scale + 2 * h), (
        f"{NAMES[code]}: loss_derivative(y={y}, p={p}, eps={epsilon}) = {got} but "
        f"the central difference of loss_value is {fd}"
    )


@pytest.mark.parametrize(
    "code",
    [codes.HINGE, codes.PERCEPTRON, codes.EPSILON_INSENSITIVE],
    ids=lambda c: NAMES[c],
)
@given(p=finite, s=sign, y_real=finite, epsilon=margin)
@SETTINGS
def test_loss_derivative_is_a_subgradient_at_kinks(code, p, s, y_real, epsilon):
    """Convex losses: ``L(q) >= L(p) + L'(p) (q - p)`` everywhere."""
    y = _target(code, s, y_real)
    for k in _kinks(code, y, epsilon):
        d = losses.loss_derivative(code, y, k, epsilon)
        base = losses.loss_value(code, y, k, epsilon)
        for q in (p, k - 1.0, k + 1.0):
            lhs = losses.loss_value(code, y, q, epsilon)
            assert lhs >= base + d * (q - k) - 1e-9 * max(1.0, abs(q)), (
                f"{NAMES[code]}: derivative {d} at the kink p={k} (y={y}) is not a "
                f"subgradient: L({q})={lhs} < {base} + {d}*({q}-{k})"
            )


@pytest.mark.parametrize(
    ("is_positive", "code", "expected"),
    [
        (True, codes.LOG_LOSS, 1.0),
        (False, codes.LOG_LOSS, 0.0),
        (True, codes.HINGE, 1.0),
        (False, codes.HINGE, -1.0),
        (False, codes.MODIFIED_HUBER, -1.0),
        (False, codes.SQUARED_ERROR, -1.0),
    ],
)
def test_binary_target_encoding(is_positive, code, expected):
    """{0, 1} for the log loss (HalfBinomialLoss), {-1, +1} otherwise."""
    assert losses.binary_target(is_positive, code) == expected


@given(d=st.floats(allow_nan=False))
@SETTINGS
def test_clip_derivative_is_numpy_clip(d):
    assert losses.clip_derivative(d) == float(np.clip(d, -1e12, 1e12))


# --------------------------------------------------------------------------
# Softmax cross-entropy against scipy
# --------------------------------------------------------------------------

score_vectors = st.integers(2, 8).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1e4, 1e4), min_size=n, max_size=n),
        st.integers(0, n - 1),
    )
)


@given(data=score_vectors)
@SETTINGS
def test_softmax_cross_entropy_matches_scipy(data):
    values, label = data
    scores = np.array(values, dtype=np.float64)
    out = np.full_like(scores, np.nan)
    loss = losses.softmax_cross_entropy(scores, label, out)
    expected_grad = softmax(scores)
    expected_grad[label] -= 1.0
    expected_loss = -log_softmax(scores)[label]
    assert math.isclose(loss, expected_loss, rel_tol=1e-10, abs_tol=1e-10), (
        f"cross-entropy of label {label} for scores {scores}: {loss}, scipy gives "
        f"{expected_loss}"
    )
    np.testing.assert_allclose(
        out,
        expected_grad,
        rtol=1e-10,
        atol=1e-12,
        err_msg="softmax_cross_entropy's gradient is not softmax - onehot",
    )
    assert np.array_equal(scores, np.array(values)), "scores were modified"


@given(data=score_vectors, k=st.integers(0, 7))
@SETTINGS
def test_softmax_cross_entropy_gradient_is_finite_difference(data, k):
    values, label = data
    scores = np.array(values, dtype=np.float64) / 100.0
    k = k % scores.shape[0]
    out = np.empty_like(scores)
    losses.softmax_cross_entropy(scores, label, out)
    h = 1e-6
    plus, minus = scores.copy(), scores.copy()
    plus[k] += h
    minus[k] -= h
    scratch = np.empty_like(scores)
    fd = (
        losses.softmax_cross_entropy(plus, label, scratch)
        - losses.softmax_cross_entropy(minus, label, scratch)
    ) / (2 * h)
    assert math.isclose(out[k], fd, rel_tol=1e-5, abs_tol=1e-6), (
        f"d CE / d score[{k}] = {out[k]}, central difference {fd}"
    )


# --------------------------------------------------------------------------
# Momentum step against torch.optim.SGD
# --------------------------------------------------------------------------


def _hand_torch_sgd(w, grads, lr, momentum, dampening, nesterov):
    """``torch.optim.SGD``'s documented update, one coordinate, written out."""
    buf = None
    for g in grads:
        if momentum != 0:
            buf = g if buf is None else momentum * buf + (1 - dampening) * g
            step = g + momentum * buf if nesterov else buf
        else:
            step = g
        w = w - lr * step
    return w


momentum_cases = st.tuples(
    st.floats(-10, 10),  # w0
    st.lists(st.floats(-10, 10), min_size=1, max_size=12),  # gradients
    st.floats(1e-4, 1.0),  # lr
    st.floats(0.0, 0.99),  # momentum
    st.floats(0.0, 1.0),  # dampening
    st.booleans(),  # nesterov
)


def _run_momentum_step(w, grads, lr, momentum, dampening, nesterov):
    buf = 0.0
    for step, g in enumerate(grads, start=1):
        w, buf = updates.momentum_step(
            w, g, buf, step == 1, lr, momentum, dampening, nesterov
        )
    return w


@given(case=momentum_cases)
@SETTINGS
def test_momentum_step_matches_hand_written_torch_rule(case):
    w0, grads, lr, momentum, dampening, nesterov = case
    if nesterov:
        dampening = 0.0
    got = _run_momentum_step(w0, grads, lr, momentum, dampening, nesterov)
    ref = _hand_torch_sgd(w0, grads, lr, momentum, dampening, nesterov)
    assert math.isclose(got, ref, rel_tol=1e-12, abs_tol=1e-12), (
        f"momentum_step trajectory ends at {got}, torch's rule at {ref} "
        f"(lr={lr}, momentum={momentum}, dampening={dampening}, nesterov={nesterov})"
    )


@given(case=momentum_cases)
@settings(max_examples=60, deadline=None)
def test_momentum_step_matches_torch_optim_sgd(case):
    torch = pytest.importorskip("torch")
    w0, grads, lr, momentum, dampening, nesterov = case
    if nesterov:
        dampening = 0.0
        assume(momentum > 0)
    param = torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = torch.optim.SGD(
        [param], lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov
    )
    for g in grads:
        param.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    ref = float(param.detach()[0])
    got = _run_momentum_step(w0, grads, lr, momentum, dampening, nesterov)
    assert math.isclose(got, ref, rel_tol=1e-10, abs_tol=1e-10), (
        f"momentum_step trajectory ends at {got}, torch.optim.SGD at {ref} "
        f"(lr={lr}, momentum={momentum}, dampening={dampening}, nesterov={nesterov})"
    )


@given(w=finite, g=finite, buf=finite, lr=st.floats(0, 1), first=st.booleans())
@SETTINGS
def test_momentum_step_without_momentum_is_plain_sgd(w, g, buf, lr, first):
    new_w, new_buf = updates.momentum_step(w, g, buf, first, lr, 0.0, 0.0, False)
    assert new_w == w - lr * g
    assert new_buf == buf, "the buffer must be left alone without momentum"


# --------------------------------------------------------------------------
# Penalties, schedules and the per-sample pieces
# --------------------------------------------------------------------------

PENALTIES = [codes.NO_PENALTY, codes.L1, codes.L2, codes.ELASTICNET]
alphas = st.floats(1e-8, 10.0)
ratios = st.floats(0.0, 1.0)


def _sk_penalty(penalty, alpha, l1_ratio, w):
    """scikit-learn's objective term (``_plain_sgd``) for a weight vector."""
    if penalty == codes.NO_PENALTY:
        return 0.0
    l1_ratio = {codes.L2: 0.0, codes.L1: 1.0}.get(penalty, l1_ratio)
    return alpha * (
        (1 - l1_ratio) * 0.5 * np.linalg.norm(w) ** 2 + l1_ratio * np.abs(w).sum()
    )


@pytest.mark.parametrize("penalty", PENALTIES)
@given(w=st.lists(finite, min_size=1, max_size=6), alpha=alphas, l1_ratio=ratios)
@SETTINGS
def test_penalty_value_matches_sklearn_objective(penalty, w, alpha, l1_ratio):
    w = np.array(w)
    if penalty == codes.L2:
        l1_ratio_arg = 0.0  # the trainer forces it, as scikit-learn does
    elif penalty == codes.L1:
        l1_ratio_arg = 1.0
    else:
        l1_ratio_arg = l1_ratio
    got = updates.penalty_value(
        penalty, alpha, l1_ratio_arg, float(w @ w), float(np.abs(w).sum())
    )
    ref = _sk_penalty(penalty, alpha, l1_ratio, w)
    assert math.isclose(got, ref, rel_tol=1e-10, abs_tol=1e-300), (
        f"penalty {penalty} of w={w}: {got}, scikit-learn's objective term {ref}"
    )


@pytest.mark.parametrize("penalty", PENALTIES)
@given(w=finite, alpha=alphas, l1_ratio=ratios)
@SETTINGS
def test_penalty_gradient_is_finite_difference(penalty, w, alpha, l1_ratio):
    if penalty == codes.L2:
        l1_ratio = 0.0
    elif penalty == codes.L1:
        l1_ratio = 1.0
    got = updates.penalty_gradient(penalty, alpha, l1_ratio, w)
    if w == 0.0:
        # |w| has subgradient [-1, 1]; zero is the choice that keeps w at 0
        assert got == 0.0
        return
    h = 1e-6 * max(1.0, abs(w))
    assume(abs(w) > 10 * h)

    def f(v):
        return _sk_penalty(penalty, alpha, l1_ratio, np.array([v]))

    fd = (f(w + h) - f(w - h)) / (2 * h)
    assert math.isclose(got, fd, rel_tol=1e-5, abs_tol=1e-9 * max(1.0, f(w))), (
        f"penalty_gradient({penalty}, alpha={alpha}, l1_ratio={l1_ratio}, w={w}) = "
        f"{got}, central difference {fd}"
    )


@given(
    eta=st.floats(1e-6, 10),
    alpha=alphas,
    power_t=st.floats(0.0, 2.0),
    t0=st.floats(1.0, 1e6),
    t=st.integers(1, 10**7),
)
@SETTINGS
def test_per_sample_learning_rate_matches_sklearn_formulas(eta, alpha, power_t, t0, t):
    """``batch=1``: scikit-learn's ``_plain_sgd`` rates at sample counter ``t``."""
    t = float(t)
    expected = {
        codes.CONSTANT: eta,
        codes.ADAPTIVE: eta,
        codes.OPTIMAL: 1.0 / (alpha * (t0 + t - 1)),
        codes.INVSCALING: eta / pow(t, power_t),
    }
    for schedule, ref in expected.items():
        got = schedules.learning_rate(schedule, eta, alpha, power_t, t0, t, 1)
        assert math.isclose(got, ref, rel_tol=1e-12), (
            f"schedule {schedule} at t={t}: {got}, scikit-learn's formula {ref}"
        )


def _per_sample_rate(schedule, eta, alpha, power_t, t0, s):
    if schedule == codes.OPTIMAL:
        return 1.0 / (alpha * (t0 + s - 1))
    return eta / s**power_t


@pytest.mark.parametrize(
    "schedule", [codes.OPTIMAL, codes.INVSCALING], ids=["optimal", "invscaling"]
)
@given(
    eta=st.floats(1e-4, 10),
    alpha=st.floats(1e-6, 1.0),
    power_t=st.floats(0.0, 2.0),
    t0=st.floats(1.0, 1e6),
    t=st.integers(1, 10**6),
    batch=st.integers(2, 512),
)
@example(eta=1.0, alpha=1.0, power_t=1.0 + 2.0**-52, t0=1.0, t=1, batch=2)
@example(eta=1.0, alpha=1.0, power_t=1.0 - 2.0**-40, t0=1.0, t=1, batch=8)
@SETTINGS
def test_minibatch_learning_rate_integrates_the_per_sample_rate(
    schedule, eta, alpha, power_t, t0, t, batch
):
    """A step over samples ``t .. t+batch-1``: the integral of the per-sample
    rate over ``[t - 1/2, t + batch - 1/2]`` (midpoint rule for their sum)."""
    from scipy.integrate import quad

    got = schedules.learning_rate(schedule, eta, alpha, power_t, t0, float(t), batch)
    ref, _ = quad(
        lambda s: _per_sample_rate(schedule, eta, alpha, power_t, t0, s),
        t - 0.5,
        t + batch - 0.5,
        epsrel=1e-12,
        limit=200,
    )
    assert math.isclose(got, ref, rel_tol=1e-8), (
        f"schedule {schedule}, t={t}, batch={batch}: {got}, integral {ref}"
    )
    # once the rate varies slowly over a batch, the integral is the sum
    if t > 100 * batch:
        total = sum(
            _per_sample_rate(schedule, eta, alpha, power_t, t0, t + i)
            for i in range(batch)
        )
        assert math.isclose(got, total, rel_tol=1e-3), (
            f"step rate {got} is not the sum {total} of the per-sample rates"
        )


@pytest.mark.parametrize("schedule", [codes.CONSTANT, codes.ADAPTIVE])
@given(eta=st.floats(1e-6, 10), t=st.integers(1, 10**6), batch=st.integers(1, 512))
@SETTINGS
def test_minibatch_constant_rates_are_torch_lr(schedule, eta, t, batch):
    """``constant``/``adaptive`` keep ``eta`` whatever the batch (torch's lr)."""
    got = schedules.learning_rate(schedule, eta, 1e-4, 0.5, 10.0, float(t), batch)
    assert got == eta


@pytest.mark.parametrize(
    "code", CLASSIFICATION + REGRESSION + [codes.LOG_LOSS], ids=lambda c: NAMES[c]
)
@given(alpha=st.floats(1e-8, 1.0), epsilon=margin)
@SETTINGS
def test_optimal_schedule_starts_at_bottous_rate(code, alpha, epsilon):
    """First rate = typw / max(1, dloss(y=1, p=-typw)), with sklearn's dloss."""
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    _, sk_dloss = _sk_loss_and_gradient(code, 1.0, -typw, epsilon)
    eta_init = typw / max(1.0, sk_dloss)
    t0 = schedules.optimal_offset(code, alpha, epsilon)
    assert math.isclose(t0, 1.0 / (eta_init * alpha), rel_tol=1e-12)
    first = schedules.learning_rate(codes.OPTIMAL, 0.0, alpha, 0.5, t0, 1.0, 1)
    assert math.isclose(first, eta_init, rel_tol=1e-10), (
        f"first 'optimal' rate {first}, expected Bottou's {eta_init}"
    )


@given(values=st.lists(finite, min_size=1, max_size=50))
@SETTINGS
def test_running_mean_is_the_mean(values):
    mean = 0.0
    for count, v in enumerate(values, start=1):
        mean = updates.running_mean(mean, v, count)
    assert math.isclose(mean, float(np.mean(values)), rel_tol=1e-9, abs_tol=1e-9), (
        f"running mean {mean} != np.mean {np.mean(values)}"
    )


@given(eta=st.floats(0, 100), alpha=st.floats(0, 100), l1_ratio=ratios)
@SETTINGS
def test_l2_shrink_factor_matches_sklearn(eta, alpha, l1_ratio):
    got = updates.l2_shrink_factor(eta, alpha, l1_ratio)
    assert got == max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha)
    assert 0.0 <= got <= 1.0


@given(w=finite, wscale=st.floats(1e-6, 10.0), u=st.floats(0, 10), q=st.floats(-10, 10))
@SETTINGS
def test_l1_truncate_is_tsuruokas_rule_on_the_actual_weight(w, wscale, u, q):
    """Tsuruoka et al. (2009) on the true weight ``w``; fastsgd stores ``w/wscale``.

    ``w > 0``: ``max(0, w - (u + q))``; ``w < 0``: ``min(0, w + (u - q))``.
    """
    v = w / wscale
    got = wscale * updates.l1_truncate(v, wscale, u, q)
    if w > 0:
        ref = max(0.0, w - (u + q))
    elif w < 0:
        ref = min(0.0, w + (u - q))
    else:
        ref = w
    assert math.isclose(got, ref, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(w))), (
        f"L1 truncation of w={w} (wscale={wscale}, u={u}, q={q}): {got}, "
        f"Tsuruoka's rule gives {ref}"
    )
    assert got * w >= 0, "L1 truncation must never flip the sign of a weight"


# --------------------------------------------------------------------------
# CPU / Python twins: the compiled functions compute the same numbers
# --------------------------------------------------------------------------
#
# The kernels compile the math layer with fastmath 'contract' (FMA) and
# 'reassoc', so a compiled result may differ from the Python one by a few
# roundings of the *operands* of the expression (e.g. ``1 - x * y`` fused
# into one FMA near 0). Two checks:
#
# * twins agree to a few ulps of the operands' magnitude (``_same``);
# * compilation must not lose accuracy: against the exact value (mpmath,
#   50 digits) the compiled error is at most twice the Python error plus a
#   few ulps of the result. A rewrite that introduces cancellation fails it.

EPS = 2.0**-52


def _same(a, b, scale=0.0):
    """Equal up to a few roundings of operands of magnitude ``scale``."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=4 * EPS, abs_tol=4 * EPS * scale + 2.0**-1070)


def _loss_operand_scale(code, y, p, epsilon, derivative):
    """Magnitude of the operands of the loss expression (its rounding unit)."""
    m = max(1.0, abs(p), abs(y), epsilon)
    squared = code in (
        codes.MODIFIED_HUBER,
        codes.SQUARED_HINGE,
        codes.SQUARED_ERROR,
        codes.HUBER,
        codes.SQUARED_EPSILON_INSENSITIVE,
    )
    return m * m if squared and not derivative else m


@given(
    code=st.sampled_from(sorted(NAMES)), p=wide, s=sign, y_real=finite, epsilon=margin
)
@SETTINGS
def test_compiled_losses_match_python(code, p, s, y_real, epsilon):
    y = _target(code, s, y_real)
    for py_fn, jit_fn, derivative in [
        (losses.loss_value, _cpu(losses.loss_value), False),
        (losses.loss_derivative, _cpu(losses.loss_derivative), True),
    ]:
        a = py_fn(code, y, p, epsilon)
        b = jit_fn(code, y, p, epsilon)
        scale = _loss_operand_scale(code, y, p, epsilon, derivative)
        assert _same(a, b, scale), (
            f"{py_fn.__name__}({NAMES[code]}, y={y}, p={p}, eps={epsilon}): "
            f"Python {a!r}, compiled {b!r}"
        )
    assert _cpu(losses.binary_target)(s > 0, code) == losses.binary_target(s > 0, code)
    assert _cpu(losses.clip_derivative)(p * 1e9) == losses.clip_derivative(p * 1e9)


def _exact_loss(code, y, p, epsilon):
    """``(loss, dloss/dp)`` in 50-digit arithmetic, from the textbook definitions."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        Y, P, E = mpmath.mpf(y), mpmath.mpf(p), mpmath.mpf(epsilon)
        z = P * Y
        r = P - Y
        if code == codes.LOG_LOSS:
            value = mpmath.log1p(mpmath.exp(P)) - Y * P
            grad = 1 / (1 + mpmath.exp(-P)) - Y
        elif code == codes.MODIFIED_HUBER:
            if z >= 1:
                value, grad = mpmath.mpf(0), mpmath.mpf(0)
            elif z >= -1:
                value, grad = (1 - z) ** 2, -2 * Y * (1 - z)
            else:
                value, grad = -4 * z, -4 * Y
        elif code == codes.SQUARED_HINGE:
            m = max(mpmath.mpf(0), 1 - z)
            value, grad = m * m, -2 * Y * m
        elif code == codes.SQUARED_ERROR:
            value, grad = r * r / 2, r
        elif code == codes.HUBER:
            if abs(r) <= E:
                value, grad = r * r / 2, r
            else:
                value, grad = E * (abs(r) - E / 2), E * mpmath.sign(r)
        elif code == codes.SQUARED_EPSILON_INSENSITIVE:
            m = max(mpmath.mpf(0), abs(r) - E)
            value, grad = m * m, 2 * m * mpmath.sign(r)
        else:
            raise AssertionError(code)
        return float(value), float(grad)


def _no_accuracy_loss(compiled, python, exact):
    return (
        abs(compiled - exact)
        <= 2 * abs(python - exact) + 8 * EPS * abs(exact) + 2.0**-1070
    )


SMOOTH = [
    codes.LOG_LOSS,
    codes.MODIFIED_HUBER,
    codes.SQUARED_HINGE,
    codes.SQUARED_ERROR,
    codes.HUBER,
    codes.SQUARED_EPSILON_INSENSITIVE,
]


@pytest.mark.parametrize("code", SMOOTH, ids=lambda c: NAMES[c])
@given(
    p=st.floats(-100, 100),
    s=sign,
    y_real=st.floats(-100, 100),
    epsilon=st.floats(0.0, 10.0),
)
@example(p=5.0, s=1.0, y_real=0.0, epsilon=0.0)
@SETTINGS
def test_compiled_losses_are_as_accurate_as_python(code, p, s, y_real, epsilon):
    y = _target(code, s, y_real)
    exact_value, exact_grad = _exact_loss(code, y, p, epsilon)
    for name, py_fn, jit_fn, exact in [
        ("loss_value", losses.loss_value, _cpu(losses.loss_value), exact_value),
        (
            "loss_derivative",
            losses.loss_derivative,
            _cpu(losses.loss_derivative),
            exact_grad,
        ),
    ]:
        a = py_fn(code, y, p, epsilon)
        b = jit_fn(code, y, p, epsilon)
        assert _no_accuracy_loss(b, a, exact), (
            f"compiled {name}({NAMES[code]}, y={y}, p={p}, eps={epsilon}) = {b!r} is "
            f"off the exact {exact!r} by {abs(b - exact):.3g}; the Python function "
            f"gives {a!r} (off by {abs(a - exact):.3g})"
        )


@pytest.mark.parametrize(
    ("y", "p"),
    [(1.0, 10.0), (1.0, 30.0), (1.0, 36.9), (0.0, -10.0), (0.0, -30.0), (1.0, 3.0)],
)
def test_compiled_log_loss_gradient_of_confident_samples(y, p):
    """Well-classified samples: the gradient ``sigmoid(p) - y`` is tiny but exact
    in scikit-learn (``-e / (1 + e)``, ``e = exp(-p)``); it must stay so."""
    sk = float(
        HalfBinomialLoss().gradient(y_true=np.array([y]), raw_prediction=np.array([p]))[
            0
        ]
    )
    compiled = _cpu(losses.loss_derivative)(codes.LOG_LOSS, y, p, 0.0)
    python = losses.loss_derivative(codes.LOG_LOSS, y, p, 0.0)
    assert math.isclose(python, sk, rel_tol=4 * EPS), (python, sk)
    assert math.isclose(compiled, sk, rel_tol=1e-12), (
        f"compiled log-loss gradient at y={y}, p={p}: {compiled!r}, scikit-learn "
        f"{sk!r} (relative error {abs(compiled - sk) / abs(sk):.2g})"
    )


@given(data=score_vectors)
@example(data=([15.0, 16.0], 0))
@SETTINGS
def test_compiled_softmax_cross_entropy_matches_python(data):
    values, label = data
    scores = np.array(values, dtype=np.float64)
    out_py = np.empty_like(scores)
    out_jit = np.empty_like(scores)
    loss_py = losses.softmax_cross_entropy(scores, label, out_py)
    loss_jit = _cpu(losses.softmax_cross_entropy)(scores, label, out_jit)
    # the shifted scores are the operands (max shift 2e4 here)
    scale = max(1.0, float(np.ptp(scores)))
    assert _same(loss_py, loss_jit, scale), (
        f"cross-entropy: Python {loss_py!r}, compiled {loss_jit!r}"
    )
    for k in range(scores.shape[0]):
        assert _same(out_py[k], out_jit[k], 1.0), (
            f"softmax gradient [{k}]: Python {out_py[k]!r}, compiled {out_jit[k]!r}"
        )


@given(data=score_vectors)
@example(data=([4.0, 0.0], 0))
@example(data=([2048.0, 2041.0], 0))
@SETTINGS
def test_compiled_softmax_cross_entropy_is_as_accurate_as_python(data):
    mpmath = pytest.importorskip("mpmath")
    values, label = data
    scores = np.array(values, dtype=np.float64)
    with mpmath.workdps(50):
        mp_scores = [mpmath.mpf(v) for v in values]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in mp_scores))
        exact_loss = float(lse - mp_scores[label])
        exact_grad = [
            float(mpmath.exp(v - lse)) - (k == label) for k, v in enumerate(mp_scores)
        ]
    out_py = np.empty_like(scores)
    out_jit = np.empty_like(scores)
    loss_py = losses.softmax_cross_entropy(scores, label, out_py)
    loss_jit = _cpu(losses.softmax_cross_entropy)(scores, label, out_jit)
    assert _no_accuracy_loss(loss_jit, loss_py, exact_loss), (
        f"compiled cross-entropy {loss_jit!r} is off the exact {exact_loss!r} by "
        f"{abs(loss_jit - exact_loss):.3g}; Python gives {loss_py!r} (off by "
        f"{abs(loss_py - exact_loss):.3g}); scores {values}, label {label}"
    )
    for k in range(scores.shape[0]):
        assert _no_accuracy_loss(out_jit[k], out_py[k], exact_grad[k]) or (
            abs(out_jit[k] - exact_grad[k])
            <= 4 * EPS  # 1 - p for p ~ 1 rounds to ulp(1)
        ), (k, out_jit[k], out_py[k], exact_grad[k])


@given(
    eta=st.floats(1e-6, 10),
    alpha=alphas,
    power_t=st.floats(0.0, 2.0),
    t0=st.floats(1.0, 1e6),
    t=st.integers(1, 10**7),
    batch=st.integers(1, 512),
    schedule=st.sampled_from(sorted(codes.SCHEDULE_CODES.values())),
)
@SETTINGS
def test_compiled_learning_rate_matches_python(
    eta, alpha, power_t, t0, t, batch, schedule
):
    a = schedules.learning_rate(schedule, eta, alpha, power_t, t0, float(t), batch)
    b = _cpu(schedules.learning_rate)(
        schedule, eta, alpha, power_t, t0, float(t), batch
    )
    assert _same(a, b), (
        f"learning_rate({schedule}, t={t}, batch={batch}): Python {a!r}, compiled {b!r}"
    )


@given(
    penalty=st.sampled_from(PENALTIES),
    alpha=alphas,
    l1_ratio=ratios,
    w=finite,
    sq=st.floats(0, 1e6),
    l1=st.floats(0, 1e3),
)
@SETTINGS
def test_compiled_penalties_match_python(penalty, alpha, l1_ratio, w, sq, l1):
    a = updates.penalty_gradient(penalty, alpha, l1_ratio, w)
    b = _cpu(updates.penalty_gradient)(penalty, alpha, l1_ratio, w)
    assert _same(a, b, alpha * abs(w)), (
        f"penalty_gradient: Python {a!r}, compiled {b!r}"
    )
    a = updates.penalty_value(penalty, alpha, l1_ratio, sq, l1)
    b = _cpu(updates.penalty_value)(penalty, alpha, l1_ratio, sq, l1)
    assert _same(a, b, alpha * (sq + l1)), (
        f"penalty_value: Python {a!r}, compiled {b!r}"
    )


@given(case=momentum_cases)
@SETTINGS
def test_compiled_momentum_step_matches_python(case):
    w, grads, lr, momentum, dampening, nesterov = case
    buf_py = buf_jit = 0.0
    w_py = w_jit = w
    for step, g in enumerate(grads, start=1):
        w_py, buf_py = updates.momentum_step(
            w_py, g, buf_py, step == 1, lr, momentum, dampening, nesterov
        )
        w_jit, buf_jit = _cpu(updates.momentum_step)(
            w_jit, g, buf_jit, step == 1, lr, momentum, dampening, nesterov
        )
    assert math.isclose(w_py, w_jit, rel_tol=1e-12, abs_tol=1e-12), (
        f"momentum trajectory: Python {w_py!r}, compiled {w_jit!r}"
    )
    assert math.isclose(buf_py, buf_jit, rel_tol=1e-12, abs_tol=1e-12)


@given(
    mean=finite,
    value=finite,
    count=st.integers(1, 1000),
    eta=st.floats(0, 10),
    alpha=st.floats(0, 10),
    l1_ratio=ratios,
    v=finite,
    wscale=st.floats(1e-6, 10.0),
    u=st.floats(0, 10),
    q=st.floats(-10, 10),
)
@SETTINGS
def test_compiled_update_pieces_match_python(
    mean, value, count, eta, alpha, l1_ratio, v, wscale, u, q
):
    checks = [
        (
            "running_mean",
            updates.running_mean(mean, value, float(count)),
            _cpu(updates.running_mean)(mean, value, float(count)),
            max(abs(mean), abs(value)),
        ),
        (
            "l2_shrink_factor",
            updates.l2_shrink_factor(eta, alpha, l1_ratio),
            _cpu(updates.l2_shrink_factor)(eta, alpha, l1_ratio),
            max(1.0, (1.0 - l1_ratio) * eta * alpha),
        ),
        (
            "l1_truncate",
            updates.l1_truncate(v, wscale, u, q),
            _cpu(updates.l1_truncate)(v, wscale, u, q),
            max(abs(v), (abs(u) + abs(q)) / wscale),
        ),
    ]
    for name, a, b, scale in checks:
        assert _same(a, b, scale), f"{name}: Python {a!r}, compiled {b!r}"


# --------------------------------------------------------------------------
# The MLP's softmax: scikit-learn's float32 arithmetic and NumPy's sum order
# --------------------------------------------------------------------------


def _numpy_softmax(scores):
    """scikit-learn's ``softmax`` in the scores' dtype, with the Python function's
    ``exp`` (``math.exp`` in float64, then rounded to the dtype) so that only the
    sum order and the precision of the sum and the division can differ."""
    shifted = scores - scores.max()
    exps = np.array([math.exp(v) for v in shifted]).astype(scores.dtype)
    return exps / np.add.reduce(exps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 7, 8, 10, 17, 64, 100, 128])
def test_softmax_sums_in_the_rows_dtype_in_numpys_order(dtype, n):
    from fastsgd._math.activations import softmax_inplace

    rng = np.random.default_rng(n)
    for _ in range(20):
        scores = (4 * rng.standard_normal(n)).astype(dtype)
        row = scores.copy()
        softmax_inplace(row)  # plain Python: exp in float64, then stored
        expected = _numpy_softmax(scores)
        assert row.dtype == dtype
        np.testing.assert_array_equal(
            row, expected, err_msg=f"softmax of {n} {dtype.__name__} scores"
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [2, 10, 130])
def test_compiled_softmax_matches_scikit_learn(dtype, n):
    import numba
    from sklearn.neural_network._base import inplace_softmax

    from fastsgd._kernels import cpu_mlp

    @numba.njit
    def rows_softmax(Z):
        for r in range(Z.shape[0]):
            cpu_mlp.softmax_inplace(Z[r])

    rng = np.random.default_rng(0)
    scores = (4 * rng.standard_normal((50, n))).astype(dtype)
    ours = scores.copy()
    rows_softmax(ours)
    theirs = scores.copy()
    inplace_softmax(theirs)
    assert ours.dtype == dtype
    # libm's exp and NumPy's may differ in the last bit; rows of over 128
    # outputs are summed in another order than NumPy's blocks
    ulp = np.finfo(dtype).eps
    np.testing.assert_allclose(ours, theirs, rtol=4 * ulp, atol=0)
