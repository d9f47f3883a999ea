"""``fastsgd.optimize``: SGD, Adam and AdamW through ``scipy.optimize.minimize``.

References, each independent of fastsgd's code:

* ``torch.optim.SGD``, ``torch.optim.Adam`` and ``torch.optim.AdamW`` (float64
  CPU tensors), fed the same NumPy gradient at the same points, so the test
  isolates the update rule. ``fastsgd.optimize.adam`` is scikit-learn's Adam,
  whose ``eps`` is not bias-corrected; with ``eps=0`` it is the same formula as
  torch's, so torch is the reference at ``eps=0``, and scikit-learn's own
  ``AdamOptimizer`` at the default ``eps``. AdamW is torch's form exactly.
* A NumPy loop drawing the same permutations
  (``numpy.random.default_rng(seed).permutation`` once per epoch) for the
  mini-batch mode, and ``numpy.linalg.lstsq`` for where it converges.
* SciPy's documented contract for callbacks, ``jac=True``, ``args``, ``tol``.

Problems are small (at most 60 x 5) and runs at most a few hundred steps.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import OptimizeResult, OptimizeWarning, minimize
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer

from fastsgd import optimize

ATOL = 1e-10  # float64 trajectories: rounding differences only
N_STEPS = 40


# --------------------------------------------------------------------------
# A small logistic regression (float64), its value and gradient in NumPy
# --------------------------------------------------------------------------


def _logistic_problem(seed=0, n=60, d=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + 0.5 * rng.normal(size=n) > 0).astype(float)
    return X, y


X_LOG, Y_LOG = _logistic_problem()
X0 = np.random.default_rng(1).normal(size=X_LOG.shape[1])


def logistic_loss(w, X, y):
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def logistic_grad(w, X, y):
    z = X @ w
    return X.T @ (1.0 / (1.0 + np.exp(-z)) - y) / len(y)


def logistic_loss_and_grad(w, X, y):
    return logistic_loss(w, X, y), logistic_grad(w, X, y)


def _trajectory(method, n_steps=N_STEPS, **options):
    """The iterates x_1..x_n of ``method`` through ``minimize``."""
    xs = []
    res = minimize(
        logistic_loss_and_grad,
        X0,
        args=(X_LOG, Y_LOG),
        jac=True,
        method=method,
        callback=lambda xk: xs.append(xk),
        options={"maxiter": n_steps, **options},
    )
    assert res.nit == n_steps, f"ran {res.nit} steps, asked for {n_steps}"
    return np.array(xs), res


def _torch_trajectory(make_optimizer, n_steps=N_STEPS):
    """The iterates of a torch optimizer fed ``logistic_grad`` at each point."""
    param = torch.nn.Parameter(torch.tensor(X0, dtype=torch.float64))
    opt = make_optimizer([param])
    xs = []
    for _ in range(n_steps):
        w = param.detach().numpy().copy()
        param.grad = torch.tensor(logistic_grad(w, X_LOG, Y_LOG), dtype=torch.float64)
        opt.step()
        xs.append(param.detach().numpy().copy())
    return np.array(xs)


def _assert_same_trajectory(got, ref, what):
    assert got.shape == ref.shape, f"{what}: {got.shape} iterates, expected {ref.shape}"
    err = np.abs(got - ref).max(axis=1)
    bad = np.flatnonzero(err > ATOL)
    assert bad.size == 0, (
        f"{what}: iterate {bad[0] + 1} differs from the reference by {err[bad[0]]:.3g}"
        f" (max over the run {err.max():.3g})"
    )
    # The run must move: a trajectory that stays at x0 would also agree.
    assert np.abs(ref[-1] - X0).max() > 1e-2, f"{what}: the reference did not move"


# --------------------------------------------------------------------------
# Trajectories against torch and scikit-learn
# --------------------------------------------------------------------------

SGD_CASES = [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.9, dampening=0.3, nesterov=False, weight_decay=0.01),
    dict(momentum=0.8, dampening=0.0, nesterov=True, weight_decay=0.0),
    dict(momentum=0.5, dampening=0.0, nesterov=True, weight_decay=0.1),
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.2),
]


@pytest.mark.parametrize(
    "case", SGD_CASES, ids=lambda c: "-".join(map(str, c.values()))
)
def test_sgd_trajectory_matches_torch_sgd(case):
    lr = 0.5
    got, _ = _trajectory(optimize.sgd, learning_rate=lr, **case)
    ref = _torch_trajectory(lambda p: torch.optim.SGD(p, lr=lr, **case))
    _assert_same_trajectory(got, ref, f"sgd {case}")


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_trajectory_matches_torch_adam_at_eps_zero(weight_decay):
    # With eps = 0, scikit-learn's Adam (ours) and torch's are the same formula.
    kw = dict(lr=0.05, betas=(0.8, 0.99), eps=0.0, weight_decay=weight_decay)
    got, _ = _trajectory(optimize.adam, learning_rate=0.05, beta1=0.8, beta2=0.99,
                         eps=0.0, weight_decay=weight_decay)  # fmt: skip
    ref = _torch_trajectory(lambda p: torch.optim.Adam(p, **kw))
    _assert_same_trajectory(got, ref, f"adam wd={weight_decay} vs torch (eps=0)")


@pytest.mark.parametrize("eps", [1e-8, 0.05])
def test_adam_trajectory_matches_sklearn_adam_optimizer(eps):
    # scikit-learn's AdamOptimizer: its eps is added to sqrt(v), not bias-corrected;
    # a large eps makes the difference from torch's form visible.
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    got, _ = _trajectory(optimize.adam, learning_rate=lr, beta1=beta1, beta2=beta2,
                         eps=eps)  # fmt: skip
    w = X0.copy()
    opt = AdamOptimizer([w], learning_rate_init=lr, beta_1=beta1, beta_2=beta2,
                        epsilon=eps)  # fmt: skip
    ref = []
    for _ in range(N_STEPS):
        opt.update_params([w], [logistic_grad(w, X_LOG, Y_LOG)])
        ref.append(w.copy())
    _assert_same_trajectory(got, np.array(ref), f"adam eps={eps} vs scikit-learn")
    if eps == 0.05:  # the two eps forms differ: torch's Adam is not the reference
        kw = dict(lr=lr, betas=(beta1, beta2), eps=eps)
        torch_ref = _torch_trajectory(lambda p: torch.optim.Adam(p, **kw))
        assert np.abs(torch_ref - got).max() > 1e-4, "eps forms should differ"


@pytest.mark.parametrize(
    "options", [dict(), dict(weight_decay=0.3, eps=1e-3, beta1=0.5, beta2=0.9)]
)
def test_adamw_trajectory_matches_torch_adamw(options):
    got, _ = _trajectory(optimize.adamw, learning_rate=0.05, **options)
    kw = dict(
        lr=0.05,
        betas=(options.get("beta1", 0.9), options.get("beta2", 0.999)),
        eps=options.get("eps", 1e-8),
        weight_decay=options.get("weight_decay", 0.01),  # torch's default
    )
    ref = _torch_trajectory(lambda p: torch.optim.AdamW(p, **kw))
    _assert_same_trajectory(got, ref, f"adamw {options}")


def test_defaults_are_torchs():
    import inspect

    def defaults(fn):
        return {
            k: p.default
            for k, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    adam, adamw, sgd = (
        defaults(f) for f in (optimize.adam, optimize.adamw, optimize.sgd)
    )
    t_adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]).defaults
    t_adamw = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]).defaults
    assert (adam["learning_rate"], (adam["beta1"], adam["beta2"]), adam["eps"]) == (
        t_adam["lr"], t_adam["betas"], t_adam["eps"]
    )  # fmt: skip
    assert adam["weight_decay"] == t_adam["weight_decay"] == 0
    assert adamw["weight_decay"] == t_adamw["weight_decay"] == 0.01
    assert sgd["learning_rate"] == 1e-3 and sgd["momentum"] == 0.0
    assert sgd["maxiter"] == adam["maxiter"] == adamw["maxiter"] == 1000


# --------------------------------------------------------------------------
# The minimize contract: jac forms, args, counts, callbacks, tol, maxiter
# --------------------------------------------------------------------------


class _Counted:
    """Wraps a function and counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.mark.parametrize("method", [optimize.sgd, optimize.adam, optimize.adamw])
def test_jac_true_separate_jac_and_args_agree(method):
    opts = {"learning_rate": 0.1, "maxiter": 25}
    both = _Counted(logistic_loss_and_grad)
    res_true = minimize(both, X0, args=(X_LOG, Y_LOG), jac=True, method=method,
                        options=opts)  # fmt: skip
    f, g = _Counted(logistic_loss), _Counted(logistic_grad)
    res_sep = minimize(f, X0, args=(X_LOG, Y_LOG), jac=g, method=method, options=opts)
    # args bound by a closure instead of args=
    res_closure = minimize(lambda w: logistic_loss(w, X_LOG, Y_LOG), X0,
                           jac=lambda w: logistic_grad(w, X_LOG, Y_LOG),
                           method=method, options=opts)  # fmt: skip
    np.testing.assert_array_equal(res_true.x, res_sep.x)
    np.testing.assert_array_equal(res_true.x, res_closure.x)
    # 25 steps: one evaluation at x0 and one after each step; jac=True: one call each
    assert both.calls == 26, f"jac=True called fun {both.calls} times, expected 26"
    assert (res_true.nfev, res_true.njev) == (26, 26)
    assert (f.calls, g.calls) == (26, 26)
    assert (res_sep.nfev, res_sep.njev) == (26, 26)
    # fun and jac are reported at the returned x
    assert res_sep.fun == pytest.approx(
        logistic_loss(res_sep.x, X_LOG, Y_LOG), rel=1e-14
    )
    np.testing.assert_allclose(res_sep.jac, logistic_grad(res_sep.x, X_LOG, Y_LOG),
                               rtol=1e-14, atol=1e-16)  # fmt: skip
    assert isinstance(res_sep, OptimizeResult)
    assert res_sep.nit == 25 and res_sep.status == 1 and not res_sep.success


def test_direct_call_with_jac_true_and_2d_x0():
    # Outside minimize: jac=True is handled too, and x0's shape is kept.
    target = np.arange(6.0).reshape(2, 3)
    shapes = []

    def fun(x):
        shapes.append(x.shape)
        return 0.5 * ((x - target) ** 2).sum(), x - target

    res = optimize.sgd(fun, np.zeros((2, 3)), jac=True, learning_rate=0.5, tol=1e-12,
                       maxiter=200)  # fmt: skip
    assert set(shapes) == {(2, 3)}, f"fun saw shapes {set(shapes)}"
    assert res.x.shape == (2, 3) and res.jac.shape == (2, 3)
    np.testing.assert_allclose(res.x, target, atol=1e-12)
    assert res.success and res.status == 0


def test_integer_x0_is_promoted_and_not_modified():
    x0 = np.array([3, -2])
    res = optimize.sgd(lambda x: 0.5 * x @ x, x0, jac=lambda x: x, learning_rate=0.5,
                       maxiter=3)  # fmt: skip
    np.testing.assert_array_equal(x0, [3, -2])
    np.testing.assert_allclose(res.x, np.array([3.0, -2.0]) * 0.5**3, rtol=1e-15)
    assert res.x.dtype == np.float64


def test_callback_forms_receive_each_iterate():
    opts = {"learning_rate": 0.3, "momentum": 0.9, "maxiter": 12}
    ref, _ = _trajectory(optimize.sgd, n_steps=12, **opts)

    old = []
    minimize(logistic_loss, X0, args=(X_LOG, Y_LOG), jac=logistic_grad,
             method=optimize.sgd, callback=lambda xk: old.append(xk),
             options=opts)  # fmt: skip
    assert all(isinstance(xk, np.ndarray) for xk in old)
    np.testing.assert_array_equal(np.array(old), ref)

    new = []

    def callback(intermediate_result):
        new.append(intermediate_result)

    minimize(logistic_loss, X0, args=(X_LOG, Y_LOG), jac=logistic_grad,
             method=optimize.sgd, callback=callback, options=opts)  # fmt: skip
    assert all(isinstance(r, OptimizeResult) for r in new)
    assert [r.nit for r in new] == list(range(1, 13))
    np.testing.assert_array_equal(np.array([r.x for r in new]), ref)
    for r in new:
        assert r.fun == pytest.approx(logistic_loss(r.x, X_LOG, Y_LOG), rel=1e-14)
        np.testing.assert_allclose(r.jac, logistic_grad(r.x, X_LOG, Y_LOG),
                                   rtol=1e-13, atol=1e-16)  # fmt: skip
    # each callback gets its own copy: later steps do not overwrite it
    assert not np.shares_memory(new[0].x, new[1].x)


@pytest.mark.parametrize("form", ["xk", "intermediate_result"])
def test_callback_stop_iteration_stops_the_run(form):
    seen = []

    def stop_at_3(x):
        seen.append(x)
        if len(seen) == 3:
            raise StopIteration

    if form == "xk":
        callback = stop_at_3
    else:

        def callback(intermediate_result):
            stop_at_3(intermediate_result.x)

    res = minimize(logistic_loss, X0, args=(X_LOG, Y_LOG), jac=logistic_grad,
                   method=optimize.adam, callback=callback,
                   options={"learning_rate": 0.1})  # fmt: skip
    assert res.nit == 3 and res.status == 99 and not res.success
    assert "StopIteration" in res.message
    np.testing.assert_array_equal(res.x, seen[-1])


def test_tol_stops_with_success_on_the_gradient_infinity_norm():
    # A quadratic with known iterates: x_k = x0 * (1 - lr)**k, gradient = x_k.
    x0 = np.array([1.0, -0.5])
    lr, tol = 0.5, 1e-3
    res = minimize(lambda x: 0.5 * x @ x, x0, jac=lambda x: x, method=optimize.sgd,
                   tol=tol, options={"learning_rate": lr})  # fmt: skip
    # first k with max|x0| * 0.5**k <= 1e-3 is k = 10
    assert res.status == 0 and res.success and res.nit == 10, res
    assert np.abs(res.jac).max() <= tol < np.abs(x0).max() * (1 - lr) ** 9
    np.testing.assert_allclose(res.x, x0 * (1 - lr) ** 10, rtol=1e-15)
    assert res.fun == pytest.approx(0.5 * res.x @ res.x)
    assert "successfully" in res.message
    # already satisfied at x0: no step at all
    res0 = optimize.sgd(lambda x: 0.5 * x @ x, x0, jac=lambda x: x, tol=2.0)
    assert (res0.nit, res0.nfev, res0.status) == (0, 1, 0)


@pytest.mark.parametrize("method", [optimize.sgd, optimize.adam, optimize.adamw])
def test_maxiter_reached_is_status_1(method):
    res = minimize(logistic_loss, X0, args=(X_LOG, Y_LOG), jac=logistic_grad,
                   method=method, tol=1e-12, options={"maxiter": 7})  # fmt: skip
    assert (res.nit, res.status, res.success) == (7, 1, False)
    assert "Maximum number of iterations" in res.message
    res0 = minimize(logistic_loss, X0, args=(X_LOG, Y_LOG), jac=logistic_grad,
                    method=method, options={"maxiter": 0})  # fmt: skip
    assert (res0.nit, res0.status, res0.nfev) == (0, 1, 1)
    np.testing.assert_array_equal(res0.x, X0)


def test_non_finite_gradient_stops_with_status_2_at_last_finite_iterate():
    calls = []

    def grad(x):
        calls.append(x)
        return np.full_like(x, np.nan) if len(calls) == 5 else x

    res = minimize(lambda x: 0.5 * x @ x, np.array([1.0, 2.0]), jac=grad,
                   method=optimize.sgd, options={"learning_rate": 0.5})  # fmt: skip
    # evaluations at x0..x4; the one at x4 is NaN: x3 = x0 / 8 is returned
    assert (res.status, res.success, res.nit) == (2, False, 3), res
    np.testing.assert_array_equal(res.x, [1.0 / 8, 2.0 / 8])
    np.testing.assert_array_equal(res.jac, res.x)
    assert "Non-finite" in res.message


def test_non_finite_at_x0_and_infinite_fun():
    res = optimize.adam(lambda x: np.inf, np.ones(2), jac=lambda x: x)
    assert (res.status, res.nit, res.success) == (2, 0, False)
    np.testing.assert_array_equal(res.x, np.ones(2))


# --------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------


def _least_squares(seed=3, n=23, d=3, noise=0.3):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    b = A @ rng.normal(size=d) + noise * rng.normal(size=n)
    return A, b


def batch_loss(x, idx, A, b):
    r = A[idx] @ x - b[idx]
    return 0.5 * float(r @ r) / len(idx)


def batch_grad(x, idx, A, b):
    return A[idx].T @ (A[idx] @ x - b[idx]) / len(idx)


def test_minibatch_indices_and_trajectory_match_numpy_reference():
    A, b = _least_squares()
    n, batch_size, seed, lr, maxiter = len(b), 5, 42, 0.1, 17  # 5 batches / epoch
    received, xs = [], []

    def grad(x, idx, A, b):
        received.append(np.array(idx))
        return batch_grad(x, idx, A, b)

    res = minimize(batch_loss, np.zeros(3), args=(A, b), jac=grad,
                   method=optimize.sgd, callback=lambda xk: xs.append(xk),
                   options={"learning_rate": lr, "n_samples": n,
                            "batch_size": batch_size, "random_state": seed,
                            "maxiter": maxiter})  # fmt: skip
    # NumPy reference: a fresh permutation per epoch, cut into batches of 5
    rng = np.random.default_rng(seed)
    ref_idx, x, ref_xs = [], np.zeros(3), []
    while len(ref_idx) < maxiter:
        perm = rng.permutation(n)
        for start in range(0, n, batch_size):
            if len(ref_idx) == maxiter:
                break
            idx = perm[start : start + batch_size]
            ref_idx.append(idx)
            x = x - lr * (A[idx].T @ (A[idx] @ x - b[idx]) / len(idx))
            ref_xs.append(x)
    assert len(received) == maxiter + 1, "one call per step, one on all samples"
    for k, (got, ref) in enumerate(zip(received[:-1], ref_idx, strict=True)):
        np.testing.assert_array_equal(got, ref, err_msg=f"batch {k}")
    assert [len(i) for i in received[:5]] == [5, 5, 5, 5, 3], "ragged last batch"
    np.testing.assert_array_equal(received[-1], np.arange(n))
    np.testing.assert_allclose(np.array(xs), np.array(ref_xs), rtol=1e-13, atol=1e-15)
    assert (res.nit, res.status, res.nfev, res.njev) == (17, 1, 18, 18)
    # the result's fun and jac are on all samples, at res.x
    assert res.fun == pytest.approx(batch_loss(res.x, np.arange(n), A, b), rel=1e-14)
    np.testing.assert_allclose(res.jac, batch_grad(res.x, np.arange(n), A, b),
                               rtol=1e-13)  # fmt: skip


def test_minibatch_with_momentum_and_jac_true_matches_torch():
    A, b = _least_squares()
    n, batch_size, seed, lr = len(b), 4, 7, 0.05
    opts = dict(learning_rate=lr, momentum=0.9, nesterov=True, weight_decay=0.01)

    def fun(x, idx, A, b):
        return batch_loss(x, idx, A, b), batch_grad(x, idx, A, b)

    xs = []
    res = minimize(fun, np.zeros(3), args=(A, b), jac=True, method=optimize.sgd,
                   callback=lambda xk: xs.append(xk),
                   options={"n_samples": n, "batch_size": batch_size,
                            "random_state": seed, "maxiter": 30, **opts})  # fmt: skip
    param = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = torch.optim.SGD([param], lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=0.01)  # fmt: skip
    rng, ref = np.random.default_rng(seed), []
    while len(ref) < 30:
        perm = rng.permutation(n)
        for start in range(0, n, batch_size):
            if len(ref) == 30:
                break
            idx = perm[start : start + batch_size]
            x = param.detach().numpy().copy()
            param.grad = torch.tensor(batch_grad(x, idx, A, b), dtype=torch.float64)
            opt.step()
            ref.append(param.detach().numpy().copy())
    np.testing.assert_allclose(np.array(xs), np.array(ref), atol=ATOL, rtol=0)
    assert res.nfev == res.njev == 31


def test_minibatch_converges_to_lstsq_solution_with_tol():
    # A consistent system: every batch's gradient vanishes at the solution.
    A, _ = _least_squares(n=40, d=4)
    b = A @ np.array([1.0, -2.0, 0.5, 3.0])
    res = minimize(batch_loss, np.zeros(4), args=(A, b), jac=batch_grad,
                   method=optimize.adam, tol=1e-7,
                   options={"learning_rate": 0.05, "n_samples": 40,
                            "batch_size": 8, "random_state": 0,
                            "maxiter": 20000})  # fmt: skip
    assert res.success and res.status == 0, res.message
    assert res.nit % 5 == 0, "tol is checked after complete epochs"
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-5)
    assert np.abs(res.jac).max() <= 1e-7


def test_minibatch_callback_and_non_finite_batch():
    A, b = _least_squares()
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result)

    def grad(x, idx, A, b):
        return np.full(3, np.inf) if len(seen) == 6 else batch_grad(x, idx, A, b)

    res = minimize(batch_loss, np.zeros(3), args=(A, b), jac=grad, method=optimize.sgd,
                   callback=callback,
                   options={"learning_rate": 0.1, "n_samples": len(b),
                            "batch_size": 10, "random_state": 0})  # fmt: skip
    assert [r.nit for r in seen] == [1, 2, 3, 4, 5, 6]
    assert [r.epoch for r in seen] == [1, 1, 1, 2, 2, 2]  # 23 samples: 3 batches
    # the 7th batch gradient is infinite at x_6: x_5 is returned
    assert (res.status, res.nit) == (2, 5), res
    np.testing.assert_array_equal(res.x, seen[4].x)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def _quadratic(**kw):
    return minimize(lambda x: 0.5 * x @ x, np.ones(2), jac=lambda x: x, **kw)


@pytest.mark.parametrize("method", [optimize.sgd, optimize.adam, optimize.adamw])
def test_bounds_and_constraints_are_refused(method):
    with pytest.raises(ValueError, match="cannot honour bounds"):
        _quadratic(method=method, bounds=[(0, 1), (0, 1)])
    with pytest.raises(ValueError, match="cannot honour constraints"):
        _quadratic(method=method, constraints={"type": "eq", "fun": lambda x: x[0]})
    # minimize's default constraints=() and None are fine; hess is ignored
    assert _quadratic(method=method, hess=lambda x: np.eye(2)).nit == 1000
    assert method(lambda x: x @ x, np.ones(2), jac=lambda x: x,
                  constraints=None, maxiter=2).nit == 2  # fmt: skip


BAD_SGD_OPTIONS = [
    ({"learning_rate": 0.0}, "learning_rate must be > 0"),
    ({"learning_rate": np.nan}, "learning_rate must be finite"),
    ({"learning_rate": "0.1"}, "learning_rate must be a real number"),
    ({"momentum": -0.1}, "momentum must be >= 0"),
    ({"dampening": 1.5}, r"dampening must be in \[0, 1\]"),
    ({"nesterov": 1}, "nesterov must be a bool"),
    ({"nesterov": True}, "requires momentum > 0"),
    ({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening == 0"),
    ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
    ({"maxiter": -1}, "maxiter must be >= 0"),
    ({"maxiter": 2.5}, "maxiter must be an integer"),
    ({"tol": -1e-3}, "tol must be >= 0"),
    ({"batch_size": 4}, "n_samples and batch_size"),
    ({"n_samples": 10}, "n_samples and batch_size"),
    ({"n_samples": 0, "batch_size": 4}, "n_samples must be >= 1"),
    ({"n_samples": 10, "batch_size": 0}, "batch_size must be >= 1"),
    ({"n_samples": 10, "batch_size": 4, "random_state": "seed"}, "random_state"),
]
BAD_ADAM_OPTIONS = [
    ({"beta1": 1.0}, r"beta1 must be in \[0, 1\)"),
    ({"beta2": -0.1}, "beta2 must be >= 0"),
    ({"eps": -1e-8}, "eps must be >= 0"),
    ({"weight_decay": np.inf}, "weight_decay must be finite"),
    ({"learning_rate": -1.0}, "learning_rate must be > 0"),
]


@pytest.mark.parametrize("options, match", BAD_SGD_OPTIONS)
def test_bad_sgd_options_raise_value_error(options, match):
    with pytest.raises(ValueError, match=match):
        _quadratic(method=optimize.sgd, options=options)


@pytest.mark.parametrize("method", [optimize.adam, optimize.adamw])
@pytest.mark.parametrize("options, match", BAD_ADAM_OPTIONS)
def test_bad_adam_options_raise_value_error(method, options, match):
    with pytest.raises(ValueError, match=match):
        _quadratic(method=method, options=options)


@pytest.mark.parametrize(
    "x0, match",
    [
        (np.array([1.0, np.nan]), "x0 must be finite"),
        (np.array([1.0 + 1j, 0.0]), "x0 must hold real numbers"),
        (np.array(["a", "b"]), "x0 must hold real numbers"),
        (np.array([]), "x0 must not be empty"),
    ],
)
def test_bad_x0_raises_value_error(x0, match):
    with pytest.raises(ValueError, match=match):
        optimize.sgd(lambda x: 0.0, x0, jac=lambda x: x)


def test_missing_jac_and_bad_returns_raise_value_error():
    with pytest.raises(ValueError, match="need the gradient"):
        minimize(lambda x: x @ x, np.ones(2), method=optimize.adam)
    with pytest.raises(ValueError, match="need the gradient"):
        minimize(lambda x: x @ x, np.ones(2), jac="2-point", method=optimize.adam)
    with pytest.raises(ValueError, match="gradient has 3 entries, x has 2"):
        minimize(lambda x: x @ x, np.ones(2), jac=lambda x: np.ones(3),
                 method=optimize.sgd)  # fmt: skip
    with pytest.raises(ValueError, match="fun must return a real scalar"):
        minimize(lambda x: x, np.ones(2), jac=lambda x: x, method=optimize.sgd)
    with pytest.raises(ValueError, match=r"return \(value, gradient\)"):
        optimize.sgd(lambda x: 1.0, np.ones(2), jac=True)


def test_unknown_option_warns_like_scipy():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: lr"):
        _quadratic(method=optimize.sgd, options={"lr": 0.1, "maxiter": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _quadratic(method=optimize.sgd, options={"maxiter": 1})


def test_update_kernels_compile_once():
    # Few specialisations: whatever the options' Python types, x0's dtype and
    # shape, or the gradient's layout, each kernel has one float64 signature.
    def strided_grad(x):
        out = np.zeros((x.size, 2))
        out[:, 0] = x.ravel()
        return out[:, 0]  # a strided view

    for x0 in (np.ones(4), np.ones(4, dtype=np.float32), np.ones((2, 2)), [1, 2, 3]):
        for jac in (lambda x: x, strided_grad):
            fun = lambda x: 0.5 * float(np.sum(np.square(x)))
            optimize.sgd(fun, x0, jac=jac, maxiter=2, learning_rate=1)
            optimize.sgd(fun, x0, jac=jac, maxiter=2, momentum=1, nesterov=np.True_)
            optimize.adam(fun, x0, jac=jac, maxiter=2, weight_decay=1, eps=0)
            optimize.adamw(fun, x0, jac=jac, maxiter=2, beta1=0, learning_rate=1)
    for kernel in (optimize._sgd_update, optimize._adam_update):
        assert len(kernel.signatures) == 1, (
            f"{kernel.__name__} compiled {len(kernel.signatures)} times: "
            f"{kernel.signatures}"
        )
