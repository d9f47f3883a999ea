"""The multi-layer perceptrons against independent references.

* ``solver="adamw"`` has no scikit-learn counterpart: its trajectory is
  replayed with ``torch.optim.AdamW`` (CPU, float64) from the same initial
  weights (drawn as scikit-learn draws them) over the same batches. The torch
  loss is built so that autograd returns scikit-learn's gradient: the weighted
  mean of the output delta ``p - y`` (not divided by the number of outputs,
  also for the squared error) plus ``alpha * W / sw_sum``. Weights are one
  parameter group with ``weight_decay``, intercepts another with
  ``weight_decay=0``.
* The L-BFGS objective ``_mlp_trainer.loss_and_gradient`` against central
  finite differences (float64) and against a float64 NumPy rewrite of
  scikit-learn's ``_backprop`` written here, for every hidden activation and
  every output layer, with ``alpha > 0`` and sample weights.

Nothing here compares with scikit-learn's estimators (``test_mlp_parity.py``
does); the references are written from the definitions.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle as sklearn_shuffle

from fastsgd import MLPClassifier, MLPRegressor, _mlp_trainer
from fastsgd._kernels import cpu_mlp
from fastsgd._math import codes

RTOL = 1e-9
ATOL = 1e-12
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def make_targets(output, S, rng):
    """``(y for the estimator, Y as the network's (n, n_outputs) targets)``."""
    if output == "softmax":
        y = S.argmax(axis=1)
        return y, np.eye(S.shape[1])[y]
    if output == "logistic-binary":
        y = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
        return y, y[:, None].astype(np.float64)
    if output == "logistic-multilabel":
        y = (S > 0.0).astype(np.int64)
        return y, y.astype(np.float64)
    if output == "identity":
        y = 2.0 * S[:, 0] + 0.5
        return y, y[:, None]
    if output == "identity-2":
        y = np.column_stack([2.0 * S[:, 0] + 0.5, S[:, 1] - S[:, 2]])
        return y, y
    if output == "exp":
        y = rng.poisson(np.exp(0.7 * S[:, 0])).astype(np.float64)
        return y, y[:, None]
    raise ValueError(output)


def make_data(output, *, n=90, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features)
    S = np.tanh(X @ rng.randn(n_features, 3)) + 0.3 * rng.randn(n, 3)
    y, Y = make_targets(output, S, rng)
    return X, y, Y


def sample_weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.2, 2.0, size=n)


OUT_ACTIVATION = {
    "softmax": "softmax",
    "logistic-binary": "logistic",
    "logistic-multilabel": "logistic",
    "identity": "identity",
    "identity-2": "identity",
    "exp": "exp",
}


# --------------------------------------------------------------------------
# The NumPy reference: scikit-learn's forward pass, loss and backprop
# --------------------------------------------------------------------------


def sklearn_initial_weights(units, activation, rng):
    """Glorot-uniform weights, drawn in scikit-learn's order (coef, then bias)."""
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:], strict=True):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


def np_activation(name, z):
    if name == "identity":
        return z
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "exp":
        return np.exp(z)
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def np_activation_derivative(name, a):
    """The derivative from the activation's output ``a`` (identity: 1)."""
    if name == "logistic":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a**2
    if name == "relu":
        return (a > 0.0).astype(a.dtype)
    return np.ones_like(a)


def np_forward(coefs, intercepts, X, hidden, out):
    """Activations of every layer, and the pre-activations of the hidden ones."""
    activations, pre = [X], []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        z = activations[-1] @ W + b
        last = i == len(coefs) - 1
        if not last:
            pre.append(z)
        activations.append(np_activation(out if last else hidden, z))
    return activations, pre


def np_data_loss(out, Y, P, sw):
    """scikit-learn's loss value: weighted mean over samples, summed over outputs.

    The squared error is also averaged over the outputs (``0.5 * mean``).
    """
    eps = np.finfo(np.float64).eps
    if out in ("softmax", "logistic"):
        q = np.clip(P, eps, 1.0 - eps)
        per_output = -xlogy(Y, q)
        if out == "logistic":
            per_output -= xlogy(1.0 - Y, 1.0 - q)
        return np.average(per_output, weights=sw, axis=0).sum()
    if out == "exp":
        return np.average(xlogy(Y, Y / P) - Y + P, weights=sw, axis=0).sum()
    return 0.5 * np.average((Y - P) ** 2, weights=sw, axis=0).mean()


def np_loss_and_gradient(coefs, intercepts, X, Y, sw, hidden, out, alpha):
    """scikit-learn's ``_backprop``: loss and gradient (coef grads, intercept grads).

    The output delta is ``(p - y) * sw`` for every (canonical) output/loss pair,
    so for several squared-error outputs the gradient is ``n_outputs`` times
    the derivative of the loss value, as in scikit-learn.
    """
    activations, _ = np_forward(coefs, intercepts, X, hidden, out)
    sw_sum = sw.sum()
    loss = np_data_loss(out, Y, activations[-1], sw)
    loss += 0.5 * alpha * sum(np.sum(W**2) for W in coefs) / sw_sum
    delta = (activations[-1] - Y) * sw[:, None]
    coef_grads = [None] * len(coefs)
    intercept_grads = [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        coef_grads[i] = (activations[i].T @ delta + alpha * coefs[i]) / sw_sum
        intercept_grads[i] = delta.sum(axis=0) / sw_sum
        if i > 0:
            delta = (delta @ coefs[i].T) * np_activation_derivative(
                hidden, activations[i]
            )
    return loss, coef_grads, intercept_grads


def pack(coefs, intercepts):
    return np.concatenate([a.ravel() for a in list(coefs) + list(intercepts)])


def unpack(theta, units):
    coefs, intercepts, start = [], [], 0
    for fan_in, fan_out in zip(units[:-1], units[1:], strict=True):
        coefs.append(theta[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for fan_out in units[1:]:
        intercepts.append(theta[start : start + fan_out])
        start += fan_out
    assert start == theta.shape[0]
    return coefs, intercepts


def parameter_names(units):
    names = []
    for layer, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:], strict=True)):
        names += [
            f"coefs_[{layer}][{i}, {j}]" for i in range(fan_in) for j in range(fan_out)
        ]
    for layer, fan_out in enumerate(units[1:]):
        names += [f"intercepts_[{layer}][{j}]" for j in range(fan_out)]
    return names


# --------------------------------------------------------------------------
# AdamW against torch.optim.AdamW
# --------------------------------------------------------------------------


class TorchMLP:
    """The network in torch (float64), trained by ``torch.optim.AdamW``."""

    def __init__(self, coefs, intercepts, hidden, out, alpha):
        self.W = [
            torch.tensor(c, dtype=torch.float64, requires_grad=True) for c in coefs
        ]
        self.b = [
            torch.tensor(c, dtype=torch.float64, requires_grad=True) for c in intercepts
        ]
        self.hidden, self.out, self.alpha = hidden, out, alpha

    def new_optimizer(self, lr, betas, eps, weight_decay, decay_intercepts=False):
        return torch.optim.AdamW(
            [
                {"params": self.W, "weight_decay": weight_decay},
                {
                    "params": self.b,
                    "weight_decay": weight_decay if decay_intercepts else 0.0,
                },
            ],
            lr=lr,
            betas=betas,
            eps=eps,
            foreach=False,
        )

    def _hidden(self, z):
        if self.hidden == "identity":
            return z
        return {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[
            self.hidden
        ](z)

    def batch_loss(self, X, Y, sw):
        """``(objective for autograd, scikit-learn's loss value)`` of one batch."""
        a = torch.from_numpy(X)
        for W, b in zip(self.W[:-1], self.b[:-1], strict=True):
            a = self._hidden(a @ W + b)
        z = a @ self.W[-1] + self.b[-1]
        Yt, swt = torch.from_numpy(Y), torch.from_numpy(sw)[:, None]
        sw_sum = sw.sum()
        if self.out == "softmax":
            per_output = -Yt * torch.log_softmax(z, dim=1)
            P = torch.softmax(z, dim=1)
        elif self.out == "logistic":
            per_output = torch.nn.functional.binary_cross_entropy_with_logits(
                z, Yt, reduction="none"
            )
            P = torch.sigmoid(z)
        elif self.out == "exp":
            per_output = torch.exp(z) - Yt * z
            P = torch.exp(z)
        else:
            per_output = 0.5 * (z - Yt) ** 2
            P = z
        l2 = sum((W**2).sum() for W in self.W)
        objective = (swt * per_output).sum() / sw_sum + 0.5 * self.alpha * l2 / sw_sum
        value = np_data_loss(self.out, Y, P.detach().numpy(), sw)
        value += 0.5 * self.alpha * l2.item() / sw_sum
        return objective, value

    def epoch(self, optimizer, X, Y, sw, order, batch_size):
        """One epoch over ``order``; returns the mean of the batch losses."""
        total = 0.0
        for start in range(0, order.shape[0], batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad()
            objective, value = self.batch_loss(X[rows], Y[rows], sw[rows])
            objective.backward()
            optimizer.step()
            total += value * rows.shape[0]
        return total / order.shape[0]

    def coefs(self):
        return [W.detach().numpy().copy() for W in self.W]

    def intercepts(self):
        return [b.detach().numpy().copy() for b in self.b]


def assert_matches_torch(est, net, losses, what):
    for i, (ours, ref) in enumerate(zip(est.coefs_, net.coefs(), strict=True)):
        np.testing.assert_allclose(
            ours,
            ref,
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"{what}: coefs_[{i}] differs from torch.optim.AdamW's",
        )
    for i, (ours, ref) in enumerate(
        zip(est.intercepts_, net.intercepts(), strict=True)
    ):
        np.testing.assert_allclose(
            ours,
            ref,
            rtol=RTOL,
            atol=ATOL,
            err_msg=f"{what}: intercepts_[{i}] differs from torch.optim.AdamW's",
        )
    np.testing.assert_allclose(
        est.loss_curve_,
        losses,
        rtol=RTOL,
        atol=ATOL,
        err_msg=f"{what}: loss_curve_ differs from the torch replay's",
    )


ADAMW_CASES = [
    pytest.param(
        "softmax",
        dict(activation="relu", hidden_layer_sizes=(7, 5)),
        id="multiclass-relu",
    ),
    pytest.param("logistic-binary", dict(activation="tanh"), id="binary-tanh"),
    pytest.param(
        "logistic-multilabel", dict(activation="logistic"), id="multilabel-logistic"
    ),
    pytest.param("identity", dict(activation="identity"), id="regression-identity"),
    pytest.param(
        "identity-2",
        dict(activation="tanh", hidden_layer_sizes=(7, 5)),
        id="multi-regression-tanh",
    ),
    pytest.param("exp", dict(activation="relu", loss="poisson"), id="poisson-relu"),
    pytest.param(
        "softmax",
        dict(activation="tanh", hidden_layer_sizes=()),
        id="multiclass-no-hidden-layer",
    ),
    pytest.param(
        "softmax",
        dict(
            activation="relu", weight_decay=0.0, beta_1=0.8, beta_2=0.99, epsilon=1e-6
        ),
        id="no-decay-other-betas",
    ),
    pytest.param(
        "identity",
        dict(activation="relu", weight_decay=0.5, alpha=0.0),
        id="strong-decay-no-alpha",
    ),
]


def _estimator(output, params):
    cls = (
        MLPClassifier
        if OUT_ACTIVATION[output] in ("softmax", "logistic")
        else (MLPRegressor)
    )
    base = dict(
        solver="adamw",
        hidden_layer_sizes=(8,),
        batch_size=32,
        learning_rate_init=0.02,
        alpha=0.05,
        weight_decay=0.1,
        max_iter=4,
        random_state=3,
    )
    return cls(**{**base, **params})


def _torch_replay(est, X, Y, sw, output, *, orders, decay_intercepts=False):
    """Fresh weights from ``est.random_state`` trained over ``orders`` by torch."""
    rng = np.random.RandomState(est.random_state)
    hidden = est._hidden_layer_sizes()
    units = [X.shape[1], *hidden, Y.shape[1]]
    coefs, intercepts = sklearn_initial_weights(units, est.activation, rng)
    net = TorchMLP(coefs, intercepts, est.activation, OUT_ACTIVATION[output], est.alpha)
    optimizer = net.new_optimizer(
        est.learning_rate_init,
        (est.beta_1, est.beta_2),
        est.epsilon,
        est.weight_decay,
        decay_intercepts,
    )
    if callable(orders):
        orders = orders(rng)
    losses = [net.epoch(optimizer, X, Y, sw, order, est.batch_size) for order in orders]
    return net, losses


@pytest.mark.parametrize(("output", "params"), ADAMW_CASES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_adamw_matches_torch(output, params, weighted):
    """shuffle=False: four epochs over the samples in order, ragged last batch."""
    X, y, Y = make_data(output)
    sw = sample_weights(len(y)) if weighted else np.ones(len(y))
    est = _estimator(output, {**params, "shuffle": False})
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y, sample_weight=sw if weighted else None)
    orders = [np.arange(len(y))] * est.max_iter
    net, losses = _torch_replay(est, X, Y, sw, output, orders=orders)
    assert_matches_torch(est, net, losses, f"adamw {output} {params}")
    assert est.t_ == est.max_iter * len(y), f"t_ is {est.t_}"


@pytest.mark.parametrize(("output", "params"), ADAMW_CASES[:3])
def test_adamw_with_shuffle_matches_torch_on_sklearns_order(output, params):
    """The epoch orders are scikit-learn's: shuffles drawn after the weights."""
    X, y, Y = make_data(output)
    est = _estimator(output, params)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)

    def orders(rng):
        idx = np.arange(len(y))
        result = []
        for _ in range(est.max_iter):
            idx = sklearn_shuffle(idx, random_state=rng)
            result.append(idx)
        return result

    net, losses = _torch_replay(est, X, Y, np.ones(len(y)), output, orders=orders)
    assert_matches_torch(est, net, losses, f"shuffled adamw {output}")


def test_adamw_does_not_decay_intercepts():
    """Negative control: decaying the intercepts too gives other intercepts."""
    output, params = "identity", dict(activation="relu", weight_decay=0.5)
    X, y, Y = make_data(output)
    est = _estimator(output, {**params, "shuffle": False})
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    orders = [np.arange(len(y))] * est.max_iter
    wrong, _ = _torch_replay(
        est, X, Y, np.ones(len(y)), output, orders=orders, decay_intercepts=True
    )
    right, losses = _torch_replay(est, X, Y, np.ones(len(y)), output, orders=orders)
    assert_matches_torch(est, right, losses, "adamw")
    for i, (ours, decayed) in enumerate(
        zip(est.intercepts_, wrong.intercepts(), strict=True)
    ):
        assert not np.allclose(ours, decayed, rtol=1e-6, atol=0), (
            f"intercepts_[{i}] match a run that decays the intercepts"
        )


@pytest.mark.parametrize("output", ["softmax", "identity-2"])
def test_adamw_partial_fit_keeps_the_optimizer_state_like_torch(output):
    """partial_fit on chunks: one AdamW optimizer throughout (its step counts on)."""
    X, y, Y = make_data(output)
    est = _estimator(output, dict(activation="tanh", shuffle=False))
    chunks = [slice(0, 40), slice(40, 90), slice(0, 90), slice(20, 70)]
    net = optimizer = None
    losses = []
    for i, rows in enumerate(chunks):
        kw = {"classes": np.unique(y)} if isinstance(est, MLPClassifier) else {}
        est.partial_fit(X[rows], y[rows], **(kw if i == 0 else {}))
        if net is None:
            rng = np.random.RandomState(est.random_state)
            units = [X.shape[1], *est._hidden_layer_sizes(), Y.shape[1]]
            coefs, intercepts = sklearn_initial_weights(units, est.activation, rng)
            net = TorchMLP(
                coefs, intercepts, est.activation, OUT_ACTIVATION[output], est.alpha
            )
            optimizer = net.new_optimizer(
                est.learning_rate_init,
                (est.beta_1, est.beta_2),
                est.epsilon,
                est.weight_decay,
            )
        Xc, Yc = X[rows], Y[rows]
        losses.append(
            net.epoch(
                optimizer, Xc, Yc, np.ones(len(Yc)), np.arange(len(Yc)), est.batch_size
            )
        )
        assert_matches_torch(est, net, losses, f"after partial_fit call {i + 1}")


def test_adamw_warm_start_restarts_the_optimizer_like_torch():
    """Each fit builds a new AdamW (moments and step count reset), from coefs_."""
    output = "softmax"
    X, y, Y = make_data(output)
    est = _estimator(
        output, dict(activation="relu", shuffle=False, max_iter=2, warm_start=True)
    )
    rng = np.random.RandomState(est.random_state)
    units = [X.shape[1], *est._hidden_layer_sizes(), Y.shape[1]]
    coefs, intercepts = sklearn_initial_weights(units, est.activation, rng)
    net = TorchMLP(coefs, intercepts, est.activation, "softmax", est.alpha)
    losses = []
    for call in range(3):
        with pytest.warns(ConvergenceWarning):
            est.fit(X, y)
        optimizer = net.new_optimizer(
            est.learning_rate_init,
            (est.beta_1, est.beta_2),
            est.epsilon,
            est.weight_decay,
        )
        ones = np.ones(len(y))
        losses += [
            net.epoch(optimizer, X, Y, ones, np.arange(len(y)), est.batch_size)
            for _ in range(est.max_iter)
        ]
        assert_matches_torch(est, net, losses, f"after warm-start fit {call + 1}")


# --------------------------------------------------------------------------
# The L-BFGS objective: loss and gradient
# --------------------------------------------------------------------------

GRADIENT_OUTPUTS = [
    "softmax",
    "logistic-binary",
    "logistic-multilabel",
    "identity",
    "identity-2",
    "exp",
]
GRADIENT_UNITS_HIDDEN = (6, 4)


def _gradient_problem(output, hidden_activation, *, sparse=False, seed=0):
    """``(theta, data, config, reference)`` of a 40-sample problem, alpha = 0.3."""
    X, _, Y = make_data(output, n=40, n_features=5, seed=seed)
    X[np.random.RandomState(seed + 1).rand(*X.shape) < 0.3] = 0.0
    sw = sample_weights(len(Y), seed=seed + 2)
    units = (X.shape[1], *GRADIENT_UNITS_HIDDEN, Y.shape[1])
    theta = np.random.RandomState(seed + 3).normal(
        0.0, 0.5, cpu_mlp.n_parameters(units)
    )
    alpha = 0.3
    out = OUT_ACTIVATION[output]
    config = _mlp_trainer.MLPConfig(
        units=units,
        hidden_code=codes.ACTIVATION_CODES[hidden_activation],
        out_code=codes.ACTIVATION_CODES[out],
        solver=codes.SOLVER_CODES["lbfgs"],
        alpha=alpha,
    )
    X_in = sp.csr_matrix(X) if sparse else X
    data = _mlp_trainer.MLPData.of(X_in, Y, sw)

    def reference(theta):
        coefs, intercepts = unpack(theta, units)
        loss, cg, ig = np_loss_and_gradient(
            coefs, intercepts, X, Y, sw, hidden_activation, out, alpha
        )
        return loss, pack(cg, ig)

    def pre_activations(theta):
        coefs, intercepts = unpack(theta, units)
        return np_forward(coefs, intercepts, X, hidden_activation, out)[1]

    return theta, data, config, reference, pre_activations, units


@pytest.mark.parametrize("output", GRADIENT_OUTPUTS)
@pytest.mark.parametrize("hidden_activation", ACTIVATIONS)
def test_loss_and_gradient_match_numpy_backprop(output, hidden_activation):
    theta, data, config, reference, _, units = _gradient_problem(
        output, hidden_activation
    )
    loss, grad = _mlp_trainer.loss_and_gradient(theta, data, config)
    ref_loss, ref_grad = reference(theta)
    assert loss == pytest.approx(ref_loss, rel=1e-12), (
        f"loss {loss!r} != NumPy reference {ref_loss!r}"
    )
    names = parameter_names(units)
    bad = ~np.isclose(grad, ref_grad, rtol=1e-10, atol=1e-13)
    assert not bad.any(), "gradient differs from the NumPy backprop at " + ", ".join(
        f"{names[k]}: {grad[k]!r} vs {ref_grad[k]!r}" for k in np.flatnonzero(bad)[:5]
    )


@pytest.mark.parametrize("output", [o for o in GRADIENT_OUTPUTS if o != "identity-2"])
@pytest.mark.parametrize("hidden_activation", ACTIVATIONS)
def test_gradient_matches_finite_differences(output, hidden_activation):
    """Central differences of the kernel's own loss, every parameter.

    (Several squared-error outputs are left out: there scikit-learn's gradient
    is ``n_outputs`` times the derivative of its loss value; see the next test.)
    """
    theta, data, config, _, pre_activations, units = _gradient_problem(
        output, hidden_activation
    )
    if hidden_activation == "relu":
        closest = min(np.abs(z).min() for z in pre_activations(theta))
        assert closest > 1e-3, f"test set-up: a relu pre-activation at {closest}"
    _, grad = _mlp_trainer.loss_and_gradient(theta, data, config)
    h = 1e-6
    numeric = np.empty_like(theta)
    for k in range(theta.shape[0]):
        step = np.zeros_like(theta)
        step[k] = h
        plus = _mlp_trainer.loss_and_gradient(theta + step, data, config)[0]
        minus = _mlp_trainer.loss_and_gradient(theta - step, data, config)[0]
        numeric[k] = (plus - minus) / (2 * h)
    names = parameter_names(units)
    bad = ~np.isclose(grad, numeric, rtol=1e-6, atol=1e-8)
    assert not bad.any(), "gradient != finite differences at " + ", ".join(
        f"{names[k]}: {grad[k]!r} vs {numeric[k]!r}" for k in np.flatnonzero(bad)[:5]
    )


@pytest.mark.parametrize("hidden_activation", ["tanh", "logistic"])
def test_multi_output_squared_error_gradient_is_sklearns_convention(hidden_activation):
    """Two outputs: the data part of the gradient is twice the loss derivative.

    scikit-learn's squared loss value is ``0.5 * mean`` over samples *and*
    outputs, while its output delta is ``p - y`` (not divided by the outputs);
    fastsgd keeps both. Checked by finite differences along random directions
    of the loss without the L2 term (``alpha = 0``).
    """
    theta, data, config, _, _, units = _gradient_problem(
        "identity-2", hidden_activation
    )
    config = _mlp_trainer.MLPConfig(**{**config.__dict__, "alpha": 0.0})
    _, grad = _mlp_trainer.loss_and_gradient(theta, data, config)
    rng = np.random.RandomState(0)
    h = 1e-6
    for _ in range(5):
        v = rng.randn(theta.shape[0])
        plus = _mlp_trainer.loss_and_gradient(theta + h * v, data, config)[0]
        minus = _mlp_trainer.loss_and_gradient(theta - h * v, data, config)[0]
        derivative = (plus - minus) / (2 * h)
        assert grad @ v == pytest.approx(units[-1] * derivative, rel=1e-6), (
            "the gradient is not n_outputs times the loss derivative"
        )


@pytest.mark.parametrize("output", ["softmax", "identity-2", "exp"])
@pytest.mark.parametrize("hidden_activation", ["relu", "logistic"])
def test_loss_and_gradient_csr_equals_dense(output, hidden_activation):
    dense = _gradient_problem(output, hidden_activation)
    sparse = _gradient_problem(output, hidden_activation, sparse=True)
    assert sparse[1].is_sparse and not dense[1].is_sparse
    loss_d, grad_d = _mlp_trainer.loss_and_gradient(dense[0], dense[1], dense[2])
    loss_s, grad_s = _mlp_trainer.loss_and_gradient(sparse[0], sparse[1], sparse[2])
    assert loss_s == pytest.approx(loss_d, rel=1e-13), "CSR loss differs from dense"
    np.testing.assert_allclose(
        grad_s, grad_d, rtol=1e-12, atol=1e-15, err_msg="CSR gradient differs"
    )
