"""SGD, Adam and AdamW as custom methods of ``scipy.optimize.minimize``.

Each of :func:`sgd`, :func:`adam` and :func:`adamw` is passed as ``method``::

    scipy.optimize.minimize(fun, x0, jac=grad, method=fastsgd.optimize.adam,
                            options={"learning_rate": 0.01, "maxiter": 500})

and follows SciPy's contract for a callable method: it receives ``fun``,
``x0``, ``args``, ``jac``, ``hess``, ``hessp``, ``bounds``, ``constraints``,
``callback`` and the entries of ``options`` (``tol`` arrives there too) as
keyword arguments, and returns an :class:`scipy.optimize.OptimizeResult`.

The steps are the math layer's update rules (``fastsgd._math.updates``), the
functions the estimators' kernels compile, applied to the whole parameter
vector by one small compiled loop per rule:

- ``sgd`` is ``torch.optim.SGD``: coupled weight decay ``g += wd * x``, then
  ``momentum_step`` (the buffer starts as the first gradient; dampening,
  Nesterov);
- ``adam`` is ``mlp_step``'s Adam, scikit-learn's form (``eps`` is added to
  ``sqrt(v)`` without bias correction), with ``torch.optim.Adam``'s coupled
  weight decay;
- ``adamw`` is ``mlp_step``'s AdamW, ``torch.optim.AdamW`` step for step
  (decoupled decay ``x *= 1 - lr * wd``).

With ``n_samples`` and ``batch_size`` the methods run mini-batch SGD: ``fun``
and ``jac`` then take the indices of a batch's samples as their second
argument. ``docs/scipy.md`` states the options, the equations and the result.

>>> import numpy as np
>>> from scipy.optimize import minimize
>>> from fastsgd.optimize import sgd
>>> res = minimize(lambda x: 0.5 * x @ x, np.ones(3), jac=lambda x: x,
...                method=sgd, options={"learning_rate": 0.5, "maxiter": 50})
>>> res.nit, bool(np.abs(res.x).max() < 1e-14)
(50, True)
"""

import inspect
import numbers
import warnings

import numpy as np
from scipy.optimize import OptimizeResult, OptimizeWarning

from fastsgd._kernels._jit import cpu_kernel
from fastsgd._math.codes import ADAM, ADAMW, L2
from fastsgd._math.updates import (
    adam_step_scalars,
    decay_factor,
    mlp_step,
    momentum_step,
    penalty_gradient,
)

__all__ = ["adam", "adamw", "sgd"]

# Status codes of the result (SciPy's messages where SciPy has one).
SUCCESS = 0
MAXITER = 1
NON_FINITE = 2
CALLBACK_STOP = 99

_MESSAGES = {
    SUCCESS: "Optimization terminated successfully: max |gradient| <= tol.",
    MAXITER: "Maximum number of iterations has been exceeded.",
    CALLBACK_STOP: "`callback` raised `StopIteration`.",
}


# The kernels: one compiled loop per rule, without fast-math, so that each
# element rounds as torch's and scikit-learn's element-wise code does. The math
# (``penalty_gradient``, ``momentum_step``, ``mlp_step``, ``adam_step_scalars``,
# ``decay_factor``) is the math layer's, bound by ``cpu_kernel`` to the same
# CPU builds the estimators' kernels inline (``_jit.compiled_for``).
@cpu_kernel(fastmath=False, parallel=False)
def _sgd_update(x, g, buf, first_step, lr, momentum, dampening, nesterov, wd):
    """One ``torch.optim.SGD`` step of every coordinate, in place."""
    for i in range(x.shape[0]):
        gi = g[i] + penalty_gradient(L2, wd, 0.0, x[i])
        x[i], buf[i] = momentum_step(
            x[i], gi, buf[i], first_step, lr, momentum, dampening, nesterov
        )


@cpu_kernel(fastmath=False, parallel=False)
def _adam_update(solver, x, g, m, v, t, lr, beta1, beta2, eps, wd):
    """The ``t``-th Adam (``solver=ADAM``) or AdamW step of every coordinate."""
    step_size, denom_scale = adam_step_scalars(solver, lr, beta1, beta2, t)
    coupled = wd if solver == ADAM else 0.0
    decay = decay_factor(lr, wd) if solver == ADAMW else 1.0
    for i in range(x.shape[0]):
        gi = g[i] + penalty_gradient(L2, coupled, 0.0, x[i])
        x[i], m[i], v[i] = mlp_step(
            solver, x[i], gi, m[i], v[i], lr, 0.0, False, beta1, beta2, eps,
            step_size, denom_scale, decay,
        )  # fmt: skip


def sgd(
    fun,
    x0,
    args=(),
    jac=None,
    hess=None,
    hessp=None,
    bounds=None,
    constraints=(),
    callback=None,
    *,
    learning_rate=1e-3,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
    tol=None,
    maxiter=1000,
    n_samples=None,
    batch_size=None,
    random_state=None,
    **unknown_options,
):
    """Minimize with ``torch.optim.SGD``'s rule (momentum, dampening, Nesterov).

    Pass as ``scipy.optimize.minimize(fun, x0, jac=..., method=sgd,
    options={...})``. With gradient ``g``, learning rate ``lr``, momentum
    ``mu``, dampening ``tau`` and weight decay ``wd``, one step is::

        g = g + wd * x
        b = g                          on the first step (momentum > 0)
        b = mu * b + (1 - tau) * g     after it
        d = g + mu * b   (Nesterov)    or  d = b   (or d = g when mu == 0)
        x = x - lr * d

    Parameters
    ----------
    fun : callable
        The objective, ``fun(x, *args) -> float``; with mini-batches
        ``fun(x, indices, *args)``.
    x0 : array_like
        Starting point: finite real numbers, any shape (flattened for the
        steps; ``fun`` and ``jac`` receive and the result returns ``x0``'s
        shape). The iterates are float64.
    args : tuple, default=()
        Extra arguments of ``fun`` and ``jac``.
    jac : callable or True
        The gradient ``jac(x, *args) -> array`` (``jac(x, indices, *args)``
        with mini-batches), or ``True`` when ``fun`` returns ``(f, gradient)``.
        A gradient is required.
    hess, hessp : ignored
        Accepted because ``minimize`` passes them.
    bounds, constraints : None
        Accepted because ``minimize`` passes them; giving either raises
        ``ValueError``, since these methods cannot honour them.
    callback : callable, optional
        Called after every step, as ``callback(xk)`` or, when its one
        parameter is named ``intermediate_result``, as
        ``callback(intermediate_result=OptimizeResult(x, fun, jac, nit))``
        (mini-batches: ``x, fun, nit, epoch``, where ``fun`` is the batch's
        value before the step). Raising ``StopIteration`` stops the run
        (``status`` 99).
    learning_rate : float, default=1e-3
        The step size ``lr`` (> 0). ``torch.optim.SGD`` has no default; this
        is ``torch.optim.Adam``'s.
    momentum : float, default=0.0
        ``mu`` (>= 0).
    dampening : float, default=0.0
        ``tau``, in [0, 1].
    nesterov : bool, default=False
        Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
    weight_decay : float, default=0.0
        Coupled L2 decay ``wd`` (>= 0), added to the gradient as in torch.
    tol : float, optional
        Stop with success (``status`` 0) when the gradient's largest absolute
        entry is <= ``tol``. With mini-batches: the gradient on all samples,
        evaluated after each complete epoch. ``None`` never stops early.
    maxiter : int, default=1000
        The most steps (>= 0). Reaching it ends the run with ``success``
        False and ``status`` 1.
    n_samples, batch_size : int, optional
        Given together, turn on mini-batches: each epoch draws a permutation
        of ``range(n_samples)`` and steps through it ``batch_size`` indices at
        a time (the last batch of an epoch may be smaller).
    random_state : None, int or numpy.random.Generator, optional
        Seeds ``numpy.random.default_rng`` for the permutations.
    **unknown_options
        Other options are ignored with an ``OptimizeWarning``, as SciPy's
        methods do.

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        ``x``, ``fun`` and ``jac`` (the objective and gradient at ``x``, on all
        samples), ``nit`` (steps to ``x``), ``nfev`` and ``njev`` (calls of
        ``fun`` and ``jac``), ``success``, ``status`` (0 tol met, 1 maxiter,
        2 non-finite objective or gradient, 99 ``StopIteration``) and
        ``message``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from fastsgd.optimize import sgd
    >>> res = minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(2),
    ...                jac=lambda x: 2.0 * (x - 3.0), method=sgd, tol=1e-8,
    ...                options={"learning_rate": 0.1, "momentum": 0.5})
    >>> res.success, np.allclose(res.x, 3.0)
    (True, True)
    """
    _check_no_bounds(bounds, constraints)
    _warn_unknown(unknown_options, stacklevel=3)  # sgd <- minimize <- user
    lr = _positive("learning_rate", learning_rate)
    momentum = _nonnegative("momentum", momentum)
    dampening = _nonnegative("dampening", dampening)
    if dampening > 1.0:
        raise ValueError(f"dampening must be in [0, 1], got {dampening!r}.")
    if not isinstance(nesterov, bool | np.bool_):
        raise ValueError(f"nesterov must be a bool, got {nesterov!r}.")
    nesterov = bool(nesterov)
    if nesterov and (momentum <= 0.0 or dampening != 0.0):
        raise ValueError(
            "nesterov=True requires momentum > 0 and dampening == 0, got "
            f"momentum={momentum!r}, dampening={dampening!r}."
        )
    wd = _nonnegative("weight_decay", weight_decay)
    problem = _Problem(fun, x0, args, jac, tol, maxiter, n_samples, batch_size,
                       random_state)  # fmt: skip
    buf = np.zeros(problem.n_params)

    def step(x, g, t):
        _sgd_update(x, g, buf, t == 1, lr, momentum, dampening, nesterov, wd)

    return problem.run(step, callback)


def adam(
    fun,
    x0,
    args=(),
    jac=None,
    hess=None,
    hessp=None,
    bounds=None,
    constraints=(),
    callback=None,
    *,
    learning_rate=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    tol=None,
    maxiter=1000,
    n_samples=None,
    batch_size=None,
    random_state=None,
    **unknown_options,
):
    """Minimize with Adam (scikit-learn's form; torch's coupled weight decay).

    Step ``t`` (from 1), with the moments ``m``, ``v`` starting at zero::

        g = g + wd * x
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        x = x - lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)

    This is scikit-learn's ``AdamOptimizer`` (and the ``MLP*`` estimators'
    ``solver="adam"``): ``eps`` is added to ``sqrt(v)``, not to the
    bias-corrected ``sqrt(v / (1 - beta2**t))`` as in ``torch.optim.Adam``.
    The two agree exactly when ``eps == 0``; otherwise this form's effective
    ``eps`` is torch's divided by ``sqrt(1 - beta2**t)``, larger early on.

    Parameters
    ----------
    fun, x0, args, jac, hess, hessp, bounds, constraints, callback
        As in :func:`sgd`.
    learning_rate : float, default=1e-3
        ``lr`` (> 0).
    beta1, beta2 : float, default=0.9, 0.999
        The moments' decay rates, in [0, 1).
    eps : float, default=1e-8
        Added to ``sqrt(v)`` (>= 0).
    weight_decay : float, default=0.0
        Coupled L2 decay ``wd`` (>= 0), as ``torch.optim.Adam``'s.
    tol, maxiter, n_samples, batch_size, random_state, **unknown_options
        As in :func:`sgd`.

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        As in :func:`sgd`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from fastsgd.optimize import adam
    >>> res = minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(2),
    ...                jac=lambda x: 2.0 * (x - 3.0), method=adam,
    ...                options={"learning_rate": 0.1, "maxiter": 500})
    >>> np.allclose(res.x, 3.0, atol=1e-3)
    True
    """
    return _adam_family(ADAM, fun, x0, args, jac, bounds, constraints, callback,
                        learning_rate, beta1, beta2, eps, weight_decay, tol,
                        maxiter, n_samples, batch_size, random_state,
                        unknown_options)  # fmt: skip


def adamw(
    fun,
    x0,
    args=(),
    jac=None,
    hess=None,
    hessp=None,
    bounds=None,
    constraints=(),
    callback=None,
    *,
    learning_rate=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.01,
    tol=None,
    maxiter=1000,
    n_samples=None,
    batch_size=None,
    random_state=None,
    **unknown_options,
):
    """Minimize with ``torch.optim.AdamW``'s rule (decoupled weight decay).

    Step ``t`` (from 1), with the moments ``m``, ``v`` starting at zero::

        x = x * (1 - lr * wd)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        x = x - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    ``eps`` is added to the bias-corrected ``sqrt(v)``, as in torch (unlike
    :func:`adam`, which follows scikit-learn).

    Parameters
    ----------
    fun, x0, args, jac, hess, hessp, bounds, constraints, callback
        As in :func:`sgd`.
    learning_rate : float, default=1e-3
        ``lr`` (> 0).
    beta1, beta2 : float, default=0.9, 0.999
        The moments' decay rates, in [0, 1).
    eps : float, default=1e-8
        Added to the bias-corrected ``sqrt(v)`` (>= 0).
    weight_decay : float, default=0.01
        Decoupled decay ``wd`` (>= 0), torch's default.
    tol, maxiter, n_samples, batch_size, random_state, **unknown_options
        As in :func:`sgd`.

    Returns
    -------
    res : scipy.optimize.OptimizeResult
        As in :func:`sgd`.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> from fastsgd.optimize import adamw
    >>> res = minimize(lambda x: ((x - 3.0) ** 2).sum(), np.zeros(2),
    ...                jac=lambda x: 2.0 * (x - 3.0), method=adamw,
    ...                options={"learning_rate": 0.1, "weight_decay": 0.0,
    ...                         "maxiter": 500})
    >>> np.allclose(res.x, 3.0, atol=1e-3)
    True
    """
    return _adam_family(ADAMW, fun, x0, args, jac, bounds, constraints, callback,
                        learning_rate, beta1, beta2, eps, weight_decay, tol,
                        maxiter, n_samples, batch_size, random_state,
                        unknown_options)  # fmt: skip


def _adam_family(solver, fun, x0, args, jac, bounds, constraints, callback,
                 learning_rate, beta1, beta2, eps, weight_decay, tol, maxiter,
                 n_samples, batch_size, random_state, unknown_options):  # fmt: skip
    """Validate Adam's or AdamW's options and run it."""
    _check_no_bounds(bounds, constraints)
    _warn_unknown(unknown_options, stacklevel=4)  # here <- adam <- minimize <- user
    lr = _positive("learning_rate", learning_rate)
    beta1 = _nonnegative("beta1", beta1)
    beta2 = _nonnegative("beta2", beta2)
    for name, beta in (("beta1", beta1), ("beta2", beta2)):
        if beta >= 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {beta!r}.")
    eps = _nonnegative("eps", eps)
    wd = _nonnegative("weight_decay", weight_decay)
    problem = _Problem(fun, x0, args, jac, tol, maxiter, n_samples, batch_size,
                       random_state)  # fmt: skip
    m = np.zeros(problem.n_params)
    v = np.zeros(problem.n_params)

    def step(x, g, t):
        _adam_update(solver, x, g, m, v, t, lr, beta1, beta2, eps, wd)

    return problem.run(step, callback)


def _memoized_jac(fun, jac):
    """Whether ``minimize(jac=True)`` wrapped the user's ``(value, gradient)``
    function: SciPy then passes an object holding it as ``fun.fun``, and its
    bound method ``fun.derivative`` as ``jac`` (the documented behaviour of
    ``jac=True``; recognised by that shape, not by SciPy's private class)."""
    return (
        getattr(jac, "__self__", None) is fun
        and getattr(jac, "__name__", None) == "derivative"
        and callable(getattr(fun, "fun", None))
    )


def _result_callback(callback):
    """``callback`` as a function of the iteration's ``OptimizeResult`` that
    says whether to stop: SciPy's documented contract for ``minimize``
    callbacks. A callback whose only parameter is named
    ``intermediate_result`` gets the result; any other gets a copy of ``x``
    (the legacy form). Raising ``StopIteration`` stops the run."""
    if callback is None:
        return lambda result: False
    if set(inspect.signature(callback).parameters) == {"intermediate_result"}:

        def call(result):
            callback(intermediate_result=result)

    else:

        def call(result):
            callback(np.copy(result.x))

    def halt(result):
        try:
            call(result)
        except StopIteration:
            return True
        return False

    return halt


class _Problem:
    """The objective, the starting point and the stopping rules of one run.

    ``run(step, callback)`` drives the loop; ``step(x, g, t)`` applies the
    ``t``-th update (``t`` from 1) to the float64 vector ``x`` in place.
    """

    def __init__(self, fun, x0, args, jac, tol, maxiter, n_samples, batch_size,
                 random_state):  # fmt: skip
        if not callable(fun):
            raise ValueError(f"fun must be callable, got {fun!r}.")
        self.args = args if isinstance(args, tuple) else (args,)
        if _memoized_jac(fun, jac):
            # minimize(jac=True) wrapped fun; call the user's (f, g) function
            # directly: one call per point, whatever indices it is given.
            self.fun_and_grad, self.fun, self.jac = fun.fun, None, None
        elif jac is True:
            self.fun_and_grad, self.fun, self.jac = fun, None, None
        elif callable(jac):
            self.fun_and_grad, self.fun, self.jac = None, fun, jac
        else:
            raise ValueError(
                "these methods need the gradient: pass jac=callable, or jac=True "
                f"when fun returns (value, gradient); got jac={jac!r}."
            )

        x0 = np.asarray(x0)
        if x0.dtype.kind not in "iuf":
            raise ValueError(f"x0 must hold real numbers, got dtype {x0.dtype}.")
        if x0.size == 0:
            raise ValueError("x0 must not be empty.")
        self.shape = x0.shape
        self.x0 = np.array(x0, dtype=np.float64).reshape(-1)
        if not np.isfinite(self.x0).all():
            raise ValueError("x0 must be finite (it holds NaN or inf).")
        self.n_params = self.x0.size

        if tol is not None:
            tol = _nonnegative("tol", tol)
        self.tol = tol
        self.maxiter = _integer("maxiter", maxiter, minimum=0)
        if (n_samples is None) != (batch_size is None):
            raise ValueError(
                "n_samples and batch_size turn on mini-batches together; got "
                f"n_samples={n_samples!r}, batch_size={batch_size!r}."
            )
        self.minibatch = n_samples is not None
        if self.minibatch:
            self.n_samples = _integer("n_samples", n_samples, minimum=1)
            self.batch_size = _integer("batch_size", batch_size, minimum=1)
            try:
                self.rng = np.random.default_rng(random_state)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    "random_state must be None, an int or a numpy Generator, "
                    f"got {random_state!r}."
                ) from error
        self.nfev = 0
        self.njev = 0

    def evaluate(self, x, indices=None):
        """``(f, gradient)`` at ``x`` (on ``indices``' samples when given)."""
        args = self.args if indices is None else (indices, *self.args)
        if self.fun_and_grad is not None:
            out = self.fun_and_grad(x.reshape(self.shape).copy(), *args)
            self.nfev += 1
            self.njev += 1
            try:
                f, g = out
            except (TypeError, ValueError):
                raise ValueError(
                    "with jac=True, fun must return (value, gradient)."
                ) from None
        else:
            f = self.fun(x.reshape(self.shape).copy(), *args)
            self.nfev += 1
            g = self.jac(x.reshape(self.shape).copy(), *args)
            self.njev += 1
        f = np.asarray(f)
        if f.size != 1 or f.dtype.kind not in "biuf":
            raise ValueError(
                f"fun must return a real scalar, got shape {f.shape} and dtype "
                f"{f.dtype}."
            )
        # a C-ordered float64 copy: the kernels compile for one layout, and the
        # caller may reuse its array
        g = np.array(g, dtype=np.float64, order="C")
        if g.size != self.n_params:
            raise ValueError(
                f"the gradient has {g.size} entries, x has {self.n_params}."
            )
        return float(f.reshape(())), g.reshape(-1)

    def run(self, step, callback):
        """The loop: full-batch or mini-batch; returns the OptimizeResult."""
        callback = _result_callback(callback)
        if self.minibatch:
            return self._run_minibatch(step, callback)
        return self._run_full(step, callback)

    def _run_full(self, step, callback):
        x = self.x0.copy()
        x_prev = np.empty_like(x)
        f, g = self.evaluate(x)
        nit = 0
        if not _finite(f, g):
            message = _non_finite_message(0)
            return self._result(x, f, g, nit, NON_FINITE, message)
        while True:
            if self.tol is not None and np.abs(g).max() <= self.tol:
                status = SUCCESS
                break
            if nit == self.maxiter:
                status = MAXITER
                break
            x_prev[:] = x
            step(x, g, nit + 1)
            f_new, g_new = self.evaluate(x)
            if not _finite(f_new, g_new):
                message = _non_finite_message(nit + 1)
                return self._result(x_prev, f, g, nit, NON_FINITE, message)
            nit, f, g = nit + 1, f_new, g_new
            state = OptimizeResult(
                x=x.reshape(self.shape).copy(),
                fun=f,
                jac=g.reshape(self.shape).copy(),
                nit=nit,
            )
            if callback(state):
                status = CALLBACK_STOP
                break
        return self._result(x, f, g, nit, status)

    def _run_minibatch(self, step, callback):
        x = self.x0.copy()
        x_prev = np.empty_like(x)
        nit, epoch = 0, 0
        status, message = None, None
        full = None  # (nit, f, g) of the last evaluation on all samples
        all_samples = np.arange(self.n_samples)
        while status is None:
            if nit == self.maxiter:
                status = MAXITER
                break
            order = self.rng.permutation(self.n_samples)
            epoch += 1
            for start in range(0, self.n_samples, self.batch_size):
                if nit == self.maxiter:
                    status = MAXITER
                    break
                f, g = self.evaluate(x, order[start : start + self.batch_size])
                if not _finite(f, g):
                    status, message = NON_FINITE, _non_finite_message(nit)
                    if nit > 0:  # return the iterate before the step to here
                        x, nit = x_prev, nit - 1
                    break
                x_prev[:] = x
                step(x, g, nit + 1)
                nit += 1
                state = OptimizeResult(
                    x=x.reshape(self.shape).copy(), fun=f, nit=nit, epoch=epoch
                )
                if callback(state):
                    status = CALLBACK_STOP
                    break
            else:  # a complete epoch
                if self.tol is not None:
                    full = (nit, *self.evaluate(x, all_samples))
                    if np.abs(full[2]).max() <= self.tol:
                        status = SUCCESS
        if status == NON_FINITE or full is None or full[0] != nit:
            full = (nit, *self.evaluate(x, all_samples))
        _, f, g = full
        return self._result(x, f, g, nit, status, message)

    def _result(self, x, f, g, nit, status, message=None):
        return OptimizeResult(
            x=x.reshape(self.shape),
            fun=f,
            jac=g.reshape(self.shape),
            nit=nit,
            nfev=self.nfev,
            njev=self.njev,
            success=status == SUCCESS,
            status=status,
            message=_MESSAGES[status] if message is None else message,
        )


def _finite(f, g):
    return bool(np.isfinite(f)) and bool(np.isfinite(g).all())


def _non_finite_message(n_steps):
    return (
        f"Non-finite objective or gradient encountered after {n_steps} steps; x "
        "is the last iterate whose objective and gradient were finite."
    )


def _check_no_bounds(bounds, constraints):
    if bounds is not None:
        raise ValueError(
            "fastsgd.optimize methods cannot honour bounds; got bounds="
            f"{bounds!r}. Use e.g. method='L-BFGS-B'."
        )
    if constraints is not None and not (
        isinstance(constraints, list | tuple) and len(constraints) == 0
    ):
        raise ValueError(
            "fastsgd.optimize methods cannot honour constraints; got "
            f"constraints={constraints!r}. Use e.g. method='SLSQP'."
        )


def _warn_unknown(options, stacklevel):
    """SciPy's warning for unknown options, pointed at ``minimize``'s caller."""
    if options:
        warnings.warn(
            f"Unknown solver options: {', '.join(sorted(options))}",
            OptimizeWarning,
            stacklevel=stacklevel + 1,
        )


def _real(name, value):
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return value


def _positive(name, value):
    value = _real(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return value


def _nonnegative(name, value):
    value = _real(name, value)
    if value < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}.")
    return value


def _integer(name, value, minimum):
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}.")
    return int(value)
