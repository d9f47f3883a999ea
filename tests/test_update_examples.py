"""The two classic momentum examples of ``docs/updates.md``, checked at the source.

(a) PyTorch's ``torch.optim.SGD(lr=0.01, momentum=0.9)`` on an ``nn.Linear(3, 2)``
    with the mean squared error, against torch itself;
(b) Keras' ``SGD(learning_rate=0.1, momentum=0.9)`` on ``var**2 / 2`` from
    ``var = 1.0`` (documented: 0.9 after one step, 0.72 after two), and the cases
    where the PyTorch and Keras momentum forms part: the PyTorch form against
    ``torch.optim.SGD``, the Keras form against a NumPy transcription of Keras'
    ``SGD.update_step`` (Keras is not installed).
"""

import warnings

import numpy as np
import pytest
import torch

from fastsgd import SGDRegressor
from fastsgd._math import codes
from fastsgd._math.updates import mlp_step, momentum_step

# --------------------------------------------------------------------------
# (a) torch.optim.SGD on nn.Linear(3, 2) with MSELoss
# --------------------------------------------------------------------------

X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
Y = np.array([[1.0, 0.0], [0.0, 1.0]])
W0 = np.array([[0.1, -0.2, 0.3], [0.0, 0.5, -0.4]])
B0 = np.array([0.1, -0.1])


def mse_and_gradient(W, b):
    """``mean((X Wᵀ + b − Y)²)`` and its gradients in ``W`` and ``b`` (NumPy)."""
    R = X @ W.T + b - Y
    return float(np.mean(R**2)), 2 * R.T @ X / R.size, 2 * R.sum(axis=0) / R.size


def torch_linear_steps(n_steps):
    """``(W, b, weight buffer)`` after ``n_steps`` of torch's SGD, float64."""
    layer = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W0))
        layer.bias.copy_(torch.from_numpy(B0))
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01, momentum=0.9)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(n_steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(layer(inputs), targets).backward()
        optimizer.step()
    buffer = optimizer.state[layer.weight]["momentum_buffer"]
    return (
        layer.weight.detach().numpy().copy(),
        layer.bias.detach().numpy().copy(),
        buffer.numpy().copy(),
    )


def test_gradient_of_the_linear_layer_is_torchs():
    layer = torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W0))
        layer.bias.copy_(torch.from_numpy(B0))
    loss = torch.nn.functional.mse_loss(layer(torch.from_numpy(X)), torch.from_numpy(Y))
    loss.backward()
    ours, g_W, g_b = mse_and_gradient(W0, B0)
    assert ours == pytest.approx(loss.item(), abs=1e-15)
    np.testing.assert_allclose(g_W, layer.weight.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(g_b, layer.bias.grad.numpy(), atol=1e-15)


@pytest.mark.parametrize("n_steps", [1, 2, 5])
def test_momentum_step_follows_torch_sgd_on_linear_layer(n_steps):
    W, b = W0, B0
    buf_W = buf_b = None
    for step in range(n_steps):
        _, g_W, g_b = mse_and_gradient(W, b)
        W, buf_W = momentum_step(W, g_W, buf_W, step == 0, 0.01, 0.9, 0.0, False)
        b, buf_b = momentum_step(b, g_b, buf_b, step == 0, 0.01, 0.9, 0.0, False)
    W_torch, b_torch, buf_torch = torch_linear_steps(n_steps)
    for name, ours, theirs in [
        ("weights", W, W_torch),
        ("bias", b, b_torch),
        ("momentum buffer", buf_W, buf_torch),
    ]:
        np.testing.assert_allclose(
            ours, theirs, rtol=0, atol=1e-15, err_msg=f"{name} after {n_steps} steps"
        )


def test_numbers_printed_in_the_docs_are_torchs():
    W1, b1, buf1 = torch_linear_steps(1)
    np.testing.assert_allclose(
        W1, [[0.104, -0.19825, 0.2995], [-0.00675, 0.507125, -0.379]], atol=1e-15
    )
    np.testing.assert_allclose(b1, [0.099, -0.09025], atol=1e-15)
    W2, b2, buf2 = torch_linear_steps(2)
    np.testing.assert_allclose(
        buf2,
        [[-0.7549375, -0.32878125, 0.097375], [1.29159375, -1.257984375, -3.8075625]],
        atol=1e-14,
    )
    np.testing.assert_allclose(
        W2,
        [
            [0.111549375, -0.1949621875, 0.29852625],
            [-0.0196659375, 0.51970484375, -0.340924375],
        ],
        atol=1e-14,
    )
    np.testing.assert_allclose(b2, [0.097100625, -0.0724365625], atol=1e-14)


@pytest.mark.parametrize("maxiter", [1, 2])
def test_scipy_minimize_with_fastsgd_sgd_is_torch_sgd(maxiter):
    """The same steps through ``minimize(method=fastsgd.optimize.sgd)``."""
    optimize = pytest.importorskip("fastsgd.optimize")
    from scipy.optimize import minimize

    def fun(params):
        loss, g_W, g_b = mse_and_gradient(params[:6].reshape(2, 3), params[6:])
        return loss, np.concatenate([g_W.ravel(), g_b])

    x0 = np.concatenate([W0.ravel(), B0])
    options = dict(learning_rate=0.01, momentum=0.9, maxiter=maxiter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged after 1-2 steps
        result = minimize(fun, x0, jac=True, method=optimize.sgd, options=options)
    W_torch, b_torch, _ = torch_linear_steps(maxiter)
    np.testing.assert_allclose(result.x[:6].reshape(2, 3), W_torch, atol=1e-15)
    np.testing.assert_allclose(result.x[6:], b_torch, atol=1e-15)


# --------------------------------------------------------------------------
# (b) Keras SGD on var**2 / 2, and where the two forms part
# --------------------------------------------------------------------------


def keras_sgd(rates, momentum=0.9, nesterov=False, weight_decay=0.0, var=1.0):
    """Keras 3 ``SGD`` on ``var**2 / 2``, transcribed in NumPy.

    ``BaseOptimizer.apply``: the gradient is taken first, then
    ``_apply_weight_decay`` (``var -= var * wd * lr``), then ``update_step``:
    ``m = momentum * m - lr * g``; ``var += m``, or with Nesterov
    ``var += momentum * m - lr * g``; ``m`` starts at 0.
    """
    var, m = np.float64(var), np.float64(0.0)
    for lr in rates:
        g = var  # d/dvar of var**2 / 2
        var = var - var * weight_decay * lr
        m = momentum * m - lr * g
        var = var + (momentum * m - lr * g if nesterov else m)
    return float(var)


def torch_sgd(rates, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0):
    """``torch.optim.SGD`` on ``var**2 / 2`` from ``var = 1``; ``rates`` per step."""
    var = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD(
        [var],
        lr=rates[0],
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=weight_decay,
    )
    for lr in rates:
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        (var**2 / 2).sum().backward()
        optimizer.step()
    return var.item()


#: ``SGDRegressor`` on the one sample ``x = 1, y = 0`` without an intercept: its
#: one coefficient has the loss ``var**2 / 2``; one epoch is one step.
VAR_SQUARED = dict(
    loss="squared_error",
    penalty=None,
    fit_intercept=False,
    learning_rate="constant",
    eta0=0.1,
    momentum=0.9,
    tol=None,
    shuffle=False,
)


def fastsgd_regressor(n_steps=2, **settings):
    """``SGDRegressor`` whose one coefficient has the loss ``var**2 / 2``."""
    params = VAR_SQUARED | dict(max_iter=n_steps) | settings
    reg = SGDRegressor(**params).fit(np.ones((1, 1)), [0.0], coef_init=[1.0])
    return float(reg.coef_[0])


def fastsgd_mlp_rule(rates, momentum=0.9, nesterov=False):
    """fastsgd's MLP ``sgd`` update (``mlp_step``) on ``var**2 / 2``."""
    var, velocity = 1.0, 0.0
    for lr in rates:
        var, velocity, _ = mlp_step(
            codes.SGD,
            var,
            var,
            velocity,
            0.0,
            lr,
            momentum,
            nesterov,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        )
    return var


def test_keras_documented_numbers():
    """Keras' docs: the first step moves var by 0.1, the second by 0.18."""
    assert keras_sgd([0.1]) == pytest.approx(0.9, abs=1e-15)
    assert keras_sgd([0.1, 0.1]) == pytest.approx(0.72, abs=1e-15)
    assert fastsgd_mlp_rule([0.1]) == pytest.approx(0.9, abs=1e-15)
    assert fastsgd_mlp_rule([0.1, 0.1]) == pytest.approx(0.72, abs=1e-15)
    assert fastsgd_regressor(1) == pytest.approx(0.9, abs=1e-15)
    assert fastsgd_regressor(2) == pytest.approx(0.72, abs=1e-15)
    assert torch_sgd([0.1, 0.1]) == pytest.approx(0.72, abs=1e-15)


def test_regressor_partial_fit_continues_the_momentum():
    reg = SGDRegressor(**VAR_SQUARED, max_iter=1)
    reg.fit(np.ones((1, 1)), [0.0], coef_init=[1.0])
    reg.partial_fit(np.ones((1, 1)), [0.0])
    assert float(reg.coef_[0]) == pytest.approx(keras_sgd([0.1, 0.1]), abs=1e-15)


# (case, fastsgd SGDRegressor settings, torch settings, documented torch value)
TORCH_CASES = [
    ("constant", {}, dict(rates=[0.1, 0.1]), 0.72),
    ("nesterov", dict(nesterov=True), dict(rates=[0.1, 0.1], nesterov=True), 0.5751),
    (
        "rate 0.1 then 0.05",
        dict(learning_rate="invscaling", power_t=1.0),
        dict(rates=[0.1, 0.05]),
        0.81,
    ),
    ("dampening", dict(dampening=0.1), dict(rates=[0.1, 0.1], dampening=0.1), 0.729),
    (
        "weight decay",
        dict(penalty="l2", alpha=0.1),
        dict(rates=[0.1, 0.1], weight_decay=0.1),
        0.6931,
    ),
]


@pytest.mark.parametrize(
    "case, ours, theirs, documented", TORCH_CASES, ids=[c[0] for c in TORCH_CASES]
)
def test_linear_minibatch_rule_is_the_torch_form(case, ours, theirs, documented):
    expected = torch_sgd(**theirs)
    assert expected == pytest.approx(documented, abs=1e-12), (
        f"{case}: torch gives {expected}, the docs say {documented}"
    )
    got = fastsgd_regressor(**ours)
    assert got == pytest.approx(expected, abs=1e-14), (
        f"{case}: SGDRegressor gives {got}, torch.optim.SGD {expected}"
    )


KERAS_CASES = [
    ("constant", dict(rates=[0.1, 0.1]), 0.72),
    ("nesterov", dict(rates=[0.1, 0.1], nesterov=True), 0.5751),
    ("rate 0.1 then 0.05", dict(rates=[0.1, 0.05]), 0.765),
]


@pytest.mark.parametrize(
    "case, settings, documented", KERAS_CASES, ids=[c[0] for c in KERAS_CASES]
)
def test_mlp_sgd_rule_is_the_keras_form(case, settings, documented):
    expected = keras_sgd(**settings)
    assert expected == pytest.approx(documented, abs=1e-12)
    got = fastsgd_mlp_rule(**settings)
    assert got == pytest.approx(expected, abs=1e-15), (
        f"{case}: mlp_step gives {got}, Keras' rule {expected}"
    )


def test_where_the_two_forms_part():
    """The docs' table: same at a constant rate, apart when the rate changes or
    under weight decay (coupled in torch, decoupled in Keras)."""
    assert torch_sgd([0.1, 0.1]) == pytest.approx(keras_sgd([0.1, 0.1]), abs=1e-15)
    assert torch_sgd([0.1, 0.1], nesterov=True) == pytest.approx(
        keras_sgd([0.1, 0.1], nesterov=True), abs=1e-15
    )
    assert torch_sgd([0.1, 0.05]) == pytest.approx(0.81, abs=1e-12)
    assert keras_sgd([0.1, 0.05]) == pytest.approx(0.765, abs=1e-12)
    assert torch_sgd([0.1, 0.1], weight_decay=0.1) == pytest.approx(0.6931, abs=1e-12)
    assert keras_sgd([0.1, 0.1], weight_decay=0.1) == pytest.approx(0.7021, abs=1e-12)
    # torch skips the dampening on the first step; a buffer started at zero would not.
    assert torch_sgd([0.1], dampening=0.1) == pytest.approx(0.9, abs=1e-15)
