"""Slow, obviously-correct float64 NumPy references for the test-suite.

Nothing here imports fastsgd: the loss derivatives, schedules, penalties and
the optimizer rule are written out again from their definitions
(scikit-learn's ``_sgd_fast`` / ``_loss`` losses, ``torch.optim.SGD``'s
momentum), so that a test comparing fastsgd with these functions compares two
independent implementations.

The mini-batch rule (``batch_size > 1``, or any ``momentum > 0``):

* the epoch's ``order`` is cut into consecutive slices of ``batch_size``
  samples (the last one ragged);
* the gradient of a batch is the *mean* over its samples of
  ``sample_weight_i * class_weight_i * dloss/dp(y_i, p_i) * x_i`` (``p`` computed
  with the weights from before the step), plus the penalty gradient at the
  current weights; the intercept gets the mean of the weighted derivatives and
  is never penalised;
* ``torch.optim.SGD``'s momentum: ``b = g`` on the very first step, then
  ``b = momentum * b + (1 - dampening) * g``; ``step = g + momentum * b`` with
  Nesterov, else ``b``; ``w -= lr * step``;
* learning rate of a step over the ``b`` samples ``t .. t + b - 1`` (``t`` is
  scikit-learn's sample counter: samples seen before, across epochs and
  ``partial_fit`` calls, plus one); see ``docs/linear.md``:
  ``constant``/``adaptive``: ``eta0``; with ``b = 1`` the per-sample rates
  (``optimal``: ``1 / (alpha * (t0 + t - 1))`` with scikit-learn's ``t0``;
  ``invscaling``: ``eta0 / t ** power_t``); with ``b > 1`` the sum of the
  per-sample rates of the batch's samples by the midpoint rule, i.e. the
  integral of the per-sample rate over ``[t - 1/2, t + b - 1/2]``
  (``optimal``: ``ln((c + b - 1/2) / (c - 1/2)) / alpha``, ``c = t0 + t - 1``;
  ``invscaling``: ``eta0 * (hi^(1-p) - lo^(1-p)) / (1 - p)``, a logarithm for
  ``p = 1``);
* averaging (``average = a > 0``): a step is averaged once the number of
  samples seen (before and including its batch) reaches ``a``; the average is
  the plain mean of the weights after each averaged step, and it is published
  once ``a`` samples have been seen.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

CLASSIFICATION_LOSSES = (
    "hinge",
    "log_loss",
    "modified_huber",
    "squared_hinge",
    "perceptron",
)
REGRESSION_LOSSES = (
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)
ALL_LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES

MAX_DLOSS = 1e12


# --------------------------------------------------------------------------
# Losses (scikit-learn's definitions; the target of log_loss is in {0, 1})
# --------------------------------------------------------------------------


def _expit(p):
    if p >= 0:
        return 1.0 / (1.0 + np.exp(-p))
    e = np.exp(p)
    return e / (1.0 + e)


def loss_value(loss, y, p, epsilon=0.1):
    """Per-sample loss of raw prediction ``p`` for target ``y`` (scalar)."""
    y = float(y)
    p = float(p)
    if loss == "hinge":
        return max(0.0, 1.0 - y * p)
    if loss == "perceptron":
        return max(0.0, -y * p)
    if loss == "log_loss":
        # log(1 + exp(p)) - y p
        return np.logaddexp(0.0, p) - y * p
    if loss == "modified_huber":
        z = y * p
        if z >= 1.0:
            return 0.0
        if z >= -1.0:
            return (1.0 - z) ** 2
        return -4.0 * z
    if loss == "squared_hinge":
        return max(0.0, 1.0 - y * p) ** 2
    if loss == "squared_error":
        return 0.5 * (p - y) ** 2
    if loss == "huber":
        r = abs(p - y)
        return 0.5 * r * r if r <= epsilon else epsilon * (r - 0.5 * epsilon)
    if loss == "epsilon_insensitive":
        return max(0.0, abs(y - p) - epsilon)
    if loss == "squared_epsilon_insensitive":
        return max(0.0, abs(y - p) - epsilon) ** 2
    raise ValueError(loss)


def loss_derivative(loss, y, p, epsilon=0.1):
    """``d loss / d p`` (scikit-learn's branches and cut-offs), not clipped."""
    y = float(y)
    p = float(p)
    if loss == "hinge":
        return -y if y * p <= 1.0 else 0.0
    if loss == "perceptron":
        return -y if y * p <= 0.0 else 0.0
    if loss == "log_loss":
        return _expit(p) - y
    if loss == "modified_huber":
        z = y * p
        if z >= 1.0:
            return 0.0
        if z >= -1.0:
            return -2.0 * y * (1.0 - z)
        return -4.0 * y
    if loss == "squared_hinge":
        z = 1.0 - y * p
        return -2.0 * y * z if z > 0.0 else 0.0
    if loss == "squared_error":
        return p - y
    if loss == "huber":
        r = p - y
        if abs(r) <= epsilon:
            return r
        return epsilon if r >= 0.0 else -epsilon
    if loss == "epsilon_insensitive":
        if y - p > epsilon:
            return -1.0
        if p - y > epsilon:
            return 1.0
        return 0.0
    if loss == "squared_epsilon_insensitive":
        z = y - p
        if z > epsilon:
            return -2.0 * (z - epsilon)
        if z < -epsilon:
            return 2.0 * (-z - epsilon)
        return 0.0
    raise ValueError(loss)


def clipped_derivative(loss, y, p, epsilon=0.1):
    return float(np.clip(loss_derivative(loss, y, p, epsilon), -MAX_DLOSS, MAX_DLOSS))


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


# --------------------------------------------------------------------------
# Schedules and penalties
# --------------------------------------------------------------------------


def optimal_t0(alpha, loss, epsilon=0.1):
    """scikit-learn's offset: the first 'optimal' rate is typw / max(1, dloss)."""
    typw = np.sqrt(1.0 / np.sqrt(alpha))
    eta_init = typw / max(1.0, loss_derivative(loss, 1.0, -typw, epsilon))
    return 1.0 / (eta_init * alpha)


def learning_rate_at(schedule, t, *, eta0, alpha, power_t, t0):
    """Learning rate of step ``t`` (1-based)."""
    if schedule in ("constant", "adaptive"):
        return eta0
    if schedule == "optimal":
        return 1.0 / (alpha * (t0 + t - 1.0))
    if schedule == "invscaling":
        return eta0 / t**power_t
    raise ValueError(schedule)


def batch_learning_rate(schedule, t, batch, *, eta0, alpha, power_t, t0):
    """Rate of a mini-batch step over samples ``t .. t + batch - 1``.

    ``batch == 1``: the per-sample rate. Otherwise, for the decaying schedules,
    the integral of the per-sample rate ``r(s)`` over ``[t - 1/2, t + b - 1/2]``
    (the midpoint-rule sum of the ``b`` per-sample rates), written out:
    ``optimal``: ``r(s) = 1 / (alpha (t0 + s - 1))``;
    ``invscaling``: ``r(s) = eta0 s^-p``.
    """
    if batch == 1 or schedule in ("constant", "adaptive"):
        return learning_rate_at(
            schedule, t, eta0=eta0, alpha=alpha, power_t=power_t, t0=t0
        )
    lo = t - 0.5
    hi = t + batch - 0.5
    if schedule == "optimal":
        # int 1/(alpha (t0 + s - 1)) ds = ln(t0 + s - 1) / alpha
        return (np.log(t0 + hi - 1.0) - np.log(t0 + lo - 1.0)) / alpha
    if schedule == "invscaling":
        if power_t == 1.0:
            return eta0 * (np.log(hi) - np.log(lo))
        e = 1.0 - power_t
        return eta0 * (hi**e - lo**e) / e
    raise ValueError(schedule)


def penalty_value(penalty, alpha, l1_ratio, W):
    """``alpha * ((1 - r) / 2 ||W||^2 + r ||W||_1)`` over all of ``W``."""
    if penalty is None or penalty == "none":
        return 0.0
    r = {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)
    W = np.asarray(W, dtype=np.float64)
    return float(alpha * ((1.0 - r) * 0.5 * np.sum(W * W) + r * np.sum(np.abs(W))))


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------


def resolve_class_weight(class_weight, classes, y):
    """Class weights in the order of ``classes`` (dict, 'balanced' or None)."""
    classes = np.asarray(classes)
    if class_weight is None:
        return np.ones(len(classes))
    if class_weight == "balanced":
        counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
        return len(y) / (len(classes) * counts)
    return np.array([float(class_weight.get(c, 1.0)) for c in classes])


def ovr_targets(y, classes, loss, sample_weight=None, class_weight=None):
    """One-vs-rest heads as scikit-learn builds them.

    Binary problems get one head whose positive class is ``classes[1]``, with
    class weights ``cw[1]`` (positive) and ``cw[0]`` (negative); ``K >= 3``
    classes get ``K`` heads, head ``k`` positive for ``classes[k]`` with
    weights ``cw[k]`` (positive) and 1 (negative). Targets are +-1, or
    {0, 1} for ``log_loss``.

    Returns ``(Y, W)``, both ``(n_samples, n_heads)``: targets and per-sample
    weights (``sample_weight * class_weight``).
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    n = y.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    cw = resolve_class_weight(class_weight, classes, y)
    negative = 0.0 if loss == "log_loss" else -1.0
    if len(classes) == 2:
        positive = [(classes[1], cw[1], cw[0])]
    else:
        positive = [(c, cw[k], 1.0) for k, c in enumerate(classes)]
    Y = np.empty((n, len(positive)))
    W = np.empty((n, len(positive)))
    for k, (c, w_pos, w_neg) in enumerate(positive):
        is_pos = y == c
        Y[:, k] = np.where(is_pos, 1.0, negative)
        W[:, k] = sw * np.where(is_pos, w_pos, w_neg)
    return Y, W


# --------------------------------------------------------------------------
# Mini-batch SGD
# --------------------------------------------------------------------------


@dataclass
class MiniBatchState:
    """Everything a continuation (``partial_fit``) needs."""

    coef: np.ndarray
    intercept: np.ndarray
    coef_buf: np.ndarray
    intercept_buf: np.ndarray
    avg_coef: np.ndarray
    avg_intercept: np.ndarray
    #: the cumulative L1 penalty (Tsuruoka et al.): the total per head, and
    #: the part each weight received
    l1_u: np.ndarray = None
    l1_q: np.ndarray = None
    n_steps: int = 0
    samples_seen: int = 0
    n_averaged: int = 0
    #: per head, the unweighted per-sample losses (at each batch's pre-step
    #: weights) summed over the last call; MULTINOMIAL: all in head 0
    loss_sum: np.ndarray = None

    def published(self, average):
        """``(coef, intercept)`` a fitted estimator would expose."""
        if average and average <= self.samples_seen:
            return self.avg_coef.copy(), self.avg_intercept.copy()
        return self.coef.copy(), self.intercept.copy()


def _dense(X):
    if sp.issparse(X):
        X = X.toarray()
    return np.asarray(X, dtype=np.float64)


def minibatch_sgd(
    X,
    y_targets,
    *,
    task="ovr",
    loss="squared_error",
    weights=None,
    n_classes=None,
    penalty="l2",
    alpha=1e-4,
    l1_ratio=0.15,
    learning_rate="constant",
    eta0=0.01,
    power_t=0.5,
    epsilon=0.1,
    fit_intercept=True,
    batch_size=1,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    n_epochs=1,
    order=None,
    average=0,
    coef_init=None,
    intercept_init=None,
    state=None,
    intercept_alpha=0.0,
):
    """Mini-batch SGD in float64, one Python loop iteration per sample.

    Each step: the mean of the batch's weighted loss gradients plus the L2
    part of the penalty (``alpha * (1 - l1_ratio) * w``), ``torch.optim.SGD``'s
    momentum rule; then the L1 part (``alpha * l1_ratio``) as scikit-learn's
    per-sample SGD applies it, Tsuruoka et al.'s cumulative penalty: the
    total ``u`` grows by ``lr * alpha * l1_ratio``, and each weight the batch
    touches (every column of dense data; the columns a row of the batch
    stores a value in, for sparse data) moves toward zero by what it has not
    yet received (``u - |q|``) without crossing it; then the running average.
    The intercepts are not penalised, but ``intercept_alpha`` (the one-class
    SVM's ``nu``: its objective's term ``nu * b``) is added to their
    gradient; on sparse data their gradient is scaled by 0.01
    (scikit-learn's ``SPARSE_INTERCEPT_DECAY``).

    Parameters
    ----------
    X : (n_samples, n_features) array or sparse matrix
    y_targets :
        ``task='regression'``: real targets, shape ``(n,)``.
        ``task='ovr'``: per-head binary targets, shape ``(n, n_heads)`` (see
        :func:`ovr_targets`).
        ``task='multinomial'``: integer labels in ``[0, n_classes)``.
    weights :
        Per-sample weights (``(n,)``; ``(n, n_heads)`` for OvR), already
        multiplied by the class weights. Default: ones.
    order : sequence of sample indices visited each epoch (default: 0..n-1).
    average : int
        0 (off) or the sample count from which steps are averaged.
    state : MiniBatchState, optional
        Continue from it (``coef_init``/``intercept_init`` are then ignored).

    Returns
    -------
    MiniBatchState
    """
    sparse_structure = sp.csr_matrix(X) if sp.issparse(X) else None
    intercept_decay = 0.01 if sparse_structure is not None else 1.0
    X = _dense(X)
    n, n_features = X.shape
    if task == "regression":
        Y = np.asarray(y_targets, dtype=np.float64).reshape(n, 1)
        n_heads = 1
    elif task == "ovr":
        Y = np.asarray(y_targets, dtype=np.float64).reshape(n, -1)
        n_heads = Y.shape[1]
    elif task == "multinomial":
        labels = np.asarray(y_targets, dtype=np.int64)
        n_heads = int(n_classes if n_classes is not None else labels.max() + 1)
    else:
        raise ValueError(task)
    if weights is None:
        Wt = np.ones((n, n_heads))
    else:
        Wt = np.asarray(weights, dtype=np.float64)
        Wt = np.repeat(Wt.reshape(n, -1), n_heads, axis=1) if Wt.ndim == 1 else Wt
    if task == "multinomial":
        Wt = Wt[:, :1]
    if order is None:
        order = np.arange(n)
    order = np.asarray(order)

    if state is None:
        coef = (
            np.zeros((n_heads, n_features))
            if coef_init is None
            else np.array(coef_init, dtype=np.float64).reshape(n_heads, n_features)
        )
        intercept = (
            np.zeros(n_heads)
            if intercept_init is None
            else np.array(intercept_init, dtype=np.float64).reshape(n_heads)
        )
        state = MiniBatchState(
            coef=coef,
            intercept=intercept,
            coef_buf=np.zeros_like(coef),
            intercept_buf=np.zeros_like(intercept),
            avg_coef=np.zeros_like(coef),
            avg_intercept=np.zeros_like(intercept),
        )
    if state.l1_q is None:
        state.l1_q = np.zeros_like(state.coef)
        state.l1_u = np.zeros(n_heads)
    average = int(average)
    t0 = optimal_t0(alpha, loss, epsilon) if learning_rate == "optimal" else 0.0
    if penalty == "l2":
        l1_ratio = 0.0
    elif penalty == "l1":
        l1_ratio = 1.0
    state.loss_sum = np.zeros(n_heads)

    for _ in range(n_epochs):
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            B = len(batch)
            state.n_steps += 1
            t = state.samples_seen + 1  # scikit-learn's t of the batch's first sample
            state.samples_seen += B
            step = state.n_steps
            lr = batch_learning_rate(
                learning_rate, t, B, eta0=eta0, alpha=alpha, power_t=power_t, t0=t0
            )
            W = state.coef
            # weighted loss derivatives, with the weights before the step
            D = np.zeros((B, n_heads))
            for s, i in enumerate(batch):
                x = X[i]
                scores = np.array(
                    [x @ W[k] + state.intercept[k] for k in range(n_heads)]
                )
                if task == "multinomial":
                    d = softmax(scores)
                    top = scores.max()
                    state.loss_sum[0] += np.log(np.sum(np.exp(scores - top))) - (
                        scores[labels[i]] - top
                    )
                    d[labels[i]] -= 1.0
                    D[s] = d * Wt[i, 0]
                else:
                    for k in range(n_heads):
                        state.loss_sum[k] += loss_value(
                            loss, Y[i, k], scores[k], epsilon
                        )
                        D[s, k] = (
                            clipped_derivative(loss, Y[i, k], scores[k], epsilon)
                            * Wt[i, k]
                        )
            grad = np.zeros_like(W)
            for s, i in enumerate(batch):
                grad += np.outer(D[s], X[i])
            l1_part = 0.0 if penalty in (None, "none") else alpha * l1_ratio
            l2_part = 0.0 if penalty in (None, "none") else alpha * (1.0 - l1_ratio)
            grad = grad / B + l2_part * W
            grad_b = (D.sum(axis=0) / B + intercept_alpha) * intercept_decay

            new_W, state.coef_buf = _torch_sgd_step(
                W, grad, state.coef_buf, step == 1, lr, momentum, dampening, nesterov
            )
            if fit_intercept:
                new_b, state.intercept_buf = _torch_sgd_step(
                    state.intercept,
                    grad_b,
                    state.intercept_buf,
                    step == 1,
                    lr,
                    momentum,
                    dampening,
                    nesterov,
                )
            else:
                new_b = state.intercept
            if l1_part > 0.0:
                state.l1_u = state.l1_u + lr * l1_part
                if sparse_structure is None:
                    touched = np.arange(n_features)
                else:
                    touched = np.unique(sparse_structure[batch].indices)
                for k in range(n_heads):
                    for j in touched:
                        z = new_W[k, j]
                        u, q = state.l1_u[k], state.l1_q[k, j]
                        if z > 0.0:
                            new_W[k, j] = max(0.0, z - (u + q))
                        elif z < 0.0:
                            new_W[k, j] = min(0.0, z + (u - q))
                        state.l1_q[k, j] += new_W[k, j] - z
            state.coef = new_W
            state.intercept = new_b
            if average and state.samples_seen >= average:
                state.n_averaged += 1
                m = state.n_averaged
                state.avg_coef = state.avg_coef + (new_W - state.avg_coef) / m
                state.avg_intercept = (
                    state.avg_intercept + (new_b - state.avg_intercept) / m
                )
    return state


def _torch_sgd_step(w, g, buf, first_step, lr, momentum, dampening, nesterov):
    """``torch.optim.SGD.step`` (no weight decay) on one array."""
    if momentum != 0.0:
        buf = g.copy() if first_step else momentum * buf + (1.0 - dampening) * g
        step = g + momentum * buf if nesterov else buf
    else:
        step = g
    return w - lr * step, buf


# --------------------------------------------------------------------------
# Per-sample SGD (scikit-learn's ``_plain_sgd``, on the true weights)
# --------------------------------------------------------------------------


@dataclass
class PerSampleState:
    """One binary head (or the regressor) between ``_plain_sgd`` calls."""

    coef: np.ndarray
    intercept: float
    avg_coef: np.ndarray
    avg_intercept: float
    t: float = 1.0

    def published(self, average):
        if average and average <= self.t - 1:
            return self.avg_coef.copy(), self.avg_intercept
        return self.coef.copy(), self.intercept


def per_sample_sgd(
    X,
    y,
    *,
    loss,
    weights=None,
    penalty="l2",
    alpha=1e-4,
    l1_ratio=0.15,
    learning_rate="constant",
    eta0=0.01,
    power_t=0.5,
    epsilon=0.1,
    fit_intercept=True,
    n_epochs=1,
    average=0,
    state=None,
):
    """One head of scikit-learn's per-sample SGD, ``shuffle=False``, ``tol=None``.

    Written on the true weights ``w`` (scikit-learn stores ``w = wscale * v``;
    the arithmetic is the same up to rounding): per sample, in order, with
    ``t`` the global sample counter,

    * ``update = -eta_t * clip(dloss(y, p))`` (PA1: ``min(eta0, loss / ||x||^2)``
      and PA2: ``loss / (||x||^2 + 0.5 / eta0)``, signed by ``y`` for the hinge
      and by ``sign(y - p)`` for regression; PA1 skips an all-zero row without
      counting it), times ``sample_weight * class_weight``;
    * L2 part: ``w *= max(0, 1 - (1 - l1_ratio) * eta * alpha)``;
    * ``w += update * x``, ``b += update * decay`` (decay 0.01 for CSR input);
    * averaging once ``t >= average``: running mean of ``(w, b)`` after the step;
    * L1 part: Tsuruoka's cumulative truncation on the row's stored features.

    The lazy average scikit-learn keeps is exact only without the L1
    truncation, so ``average`` with an L1 part is refused here.
    Each call is one ``_plain_sgd`` call (a ``fit`` or one ``partial_fit``):
    the L1 accumulators start afresh, ``t`` and the average carry over in
    ``state``.
    """
    is_sparse = sp.issparse(X)
    Xd = _dense(X)
    if is_sparse:
        Xc = sp.csr_matrix(X)
        rows = [Xc.indices[Xc.indptr[i] : Xc.indptr[i + 1]] for i in range(Xd.shape[0])]
    else:
        rows = [np.arange(Xd.shape[1])] * Xd.shape[0]
    decay = 0.01 if is_sparse else 1.0
    n, n_features = Xd.shape
    y = np.asarray(y, dtype=np.float64)
    sw = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if penalty == "l2":
        l1_ratio = 0.0
    elif penalty == "l1":
        l1_ratio = 1.0
    has_l2 = penalty in ("l2", "elasticnet")
    has_l1 = penalty in ("l1", "elasticnet")
    average = int(average)
    if average and has_l1:
        raise NotImplementedError("scikit-learn's lazy average leaks the L1 truncation")
    if state is None:
        state = PerSampleState(
            coef=np.zeros(n_features),
            intercept=0.0,
            avg_coef=np.zeros(n_features),
            avg_intercept=0.0,
        )
    w = state.coef.copy()
    b = float(state.intercept)
    t0 = optimal_t0(alpha, loss, epsilon) if learning_rate == "optimal" else 0.0
    q = np.zeros(n_features)
    u = 0.0
    t = t_start = state.t
    for _ in range(n_epochs):
        for i in range(n):
            x = Xd[i]
            p = float(x @ w) + b
            eta = (
                eta0
                if learning_rate in ("pa1", "pa2")
                else learning_rate_at(
                    learning_rate, t, eta0=eta0, alpha=alpha, power_t=power_t, t0=t0
                )
            )
            sq = float(x @ x)
            if learning_rate == "pa1":
                if sq == 0.0:
                    continue
                update = min(eta0, loss_value(loss, y[i], p, epsilon) / sq)
            elif learning_rate == "pa2":
                update = loss_value(loss, y[i], p, epsilon) / (sq + 0.5 / eta0)
            else:
                update = -eta * clipped_derivative(loss, y[i], p, epsilon)
            if learning_rate in ("pa1", "pa2"):
                if loss in ("hinge", "perceptron"):
                    update *= y[i]
                elif y[i] - p < 0:
                    update = -update
            update *= sw[i]
            if has_l2:
                w *= max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha)
            if update != 0.0:
                w += update * x
                if fit_intercept:
                    b += update * decay
            if 0 < average <= t:
                m = t - average + 1
                state.avg_coef = state.avg_coef + (w - state.avg_coef) / m
                state.avg_intercept += (b - state.avg_intercept) / m
            if has_l1:
                u += l1_ratio * eta * alpha
                for j in rows[i]:
                    z = w[j]
                    if z > 0.0:
                        w[j] = max(0.0, z - (u + q[j]))
                    elif z < 0.0:
                        w[j] = min(0.0, z + (u - q[j]))
                    q[j] += w[j] - z
            t += 1.0
    state.coef = w
    state.intercept = b
    # scikit-learn's t_ counts every sample (PA1's skipped rows included)
    state.t = t_start + n_epochs * n
    return state
