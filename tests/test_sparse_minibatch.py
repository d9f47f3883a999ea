"""Mini-batches on CSR data in O(nnz) per step (``_kernels/cpu_sparse.py``).

The O(nnz) kernels step only the weights a batch's rows touch and bring the
others up to date in closed form (without momentum, a scale per head; with
momentum, the products of the skipped steps' linear maps). Every
configuration is compared with the
dense-step kernel (``cpu._minibatch_epoch``, which steps every weight at
every batch; ``_trainer.SPARSE_KERNELS = False`` selects it) on the same
data, to rounding, in float64 and float32: one-vs-rest, multinomial and
regression heads, every penalty (the L1 part's cumulative truncation of the
touched columns), every schedule, averaging, sample and class weights, and
``partial_fit``. ``tests/test_minibatch.py`` checks the same kernels against
the NumPy reference.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from fastsgd import SGDClassifier, SGDRegressor, _trainer
from fastsgd._kernels import cpu_sparse

TASKS = ["binary", "multiclass", "multinomial", "regression"]
PENALTIES = ["l2", None, "l1", "elasticnet"]
SCHEDULES = ["constant", "optimal", "invscaling", "adaptive"]
#: float64 runs agree to rounding; float32 runs to float32's precision
RTOL = {np.float64: 1e-10, np.float32: 2e-4}


def make_sparse_data(task, *, n=150, n_features=80, density=0.05, seed=3):
    """CSR data where a batch of 8 rows leaves most columns untouched."""
    rng = np.random.RandomState(seed)
    X = sp.random(n, n_features, density=density, format="csr", random_state=rng)
    X.data = rng.randn(X.nnz)
    X = X.tolil()
    X[np.flatnonzero(X.getnnz(axis=1) == 0), 0] = 0.5  # no empty row
    X = sp.csr_matrix(X)
    W = rng.randn(n_features, 3) * 2.0
    S = np.asarray(X @ W) + 0.2 * rng.randn(n, 3)
    if task == "binary":
        y = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
    elif task in ("multiclass", "multinomial"):
        y = S.argmax(axis=1)
    else:
        y = S[:, 0]
    return X, y


def estimator(task, **params):
    params = {"shuffle": True, "random_state": 0, "tol": None, "max_iter": 3,
              "batch_size": 8, "alpha": 0.01, "eta0": 0.05, **params}  # fmt: skip
    if task == "regression":
        params.setdefault("loss", "squared_error")
        return SGDRegressor(**params)
    if task == "multinomial":
        params.update(multi_class="multinomial", loss="log_loss")
    return SGDClassifier(**params)


class _Calls:
    """Counts the O(nnz) kernel's calls."""

    def __init__(self, monkeypatch):
        self.n = 0
        run = cpu_sparse.sgd_epoch_sparse

        def counted(*args):
            self.n += 1
            return run(*args)

        monkeypatch.setattr(cpu_sparse, "sgd_epoch_sparse", counted)


def fit_both(task, X, y, params, monkeypatch, sample_weight=None, fit=None):
    """``(O(nnz) model, dense-step model)``, each fitted by ``fit(est)``."""
    fit = fit or (lambda est: est.fit(X, y, sample_weight=sample_weight))
    calls = _Calls(monkeypatch)
    lazy = fit(estimator(task, **params))
    assert calls.n > 0, f"{params}: the O(nnz) kernel did not run"
    with monkeypatch.context() as m:
        m.setattr(_trainer, "SPARSE_KERNELS", False)
        before = calls.n
        dense = fit(estimator(task, **params))
        assert calls.n == before, "the dense-step fit ran the O(nnz) kernel"
    return lazy, dense


def assert_close(got, want, label, rtol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{label}: shapes {got.shape}, {want.shape}"
    assert np.all(np.isfinite(want)), f"{label}: the dense-step model is not finite"
    scale = max(float(np.max(np.abs(want))), 1.0)
    err = float(np.max(np.abs(got - want)))
    assert err <= rtol * scale, (
        f"{label}: the O(nnz) kernel differs from the dense-step kernel by "
        f"{err:.3g} (allowed {rtol * scale:.3g})"
    )


def assert_same_model(lazy, dense, label, rtol):
    assert_close(lazy.coef_, dense.coef_, f"{label}: coef_", rtol)
    assert_close(lazy.intercept_, dense.intercept_, f"{label}: intercept_", rtol)


#: momentum settings: none (the scaled kernel), and torch.optim.SGD's rules
OPTIMIZERS = {
    "plain": {},
    "momentum": dict(momentum=0.9),
    "nesterov": dict(momentum=0.8, nesterov=True),
    "dampening": dict(momentum=0.5, dampening=0.3),
}


def _grid():
    cases, i = [], 0
    for task in TASKS:
        for penalty in PENALTIES:
            for average in (False, 40):
                for optimizer in (
                    "plain",
                    ("momentum", "nesterov", "dampening")[i % 3],
                ):
                    schedule = SCHEDULES[i % len(SCHEDULES)]
                    i += 1
                    cases.append((task, penalty, average, schedule, optimizer))
    return cases


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize(
    "task,penalty,average,schedule,optimizer", _grid(),
    ids=[f"{t}-{p}-avg{a}-{s}-{o}" for t, p, a, s, o in _grid()],
)  # fmt: skip
def test_sparse_kernel_matches_dense_step(task, penalty, average, schedule, optimizer,
                                          dtype, monkeypatch):  # fmt: skip
    X, y = make_sparse_data(task)
    X = X.astype(dtype)
    sw = np.random.RandomState(5).uniform(0.3, 2.0, size=len(y))
    params = dict(penalty=penalty, average=average, learning_rate=schedule,
                  l1_ratio=0.4, n_iter_no_change=1,
                  **OPTIMIZERS[optimizer])  # fmt: skip
    if schedule == "optimal":
        params["alpha"] = 0.05
    if task == "multiclass":
        params.update(loss="log_loss", class_weight={0: 0.5, 1: 2.0})
    elif task == "binary":
        params["loss"] = "modified_huber"
    lazy, dense = fit_both(task, X, y, params, monkeypatch, sample_weight=sw)
    label = f"{task} {params} {np.dtype(dtype).name}"
    assert_same_model(lazy, dense, label, RTOL[dtype])
    assert lazy.coef_.dtype == dtype
    if penalty in ("l1", "elasticnet") and not average and optimizer == "plain":
        # the truncation makes exact zeros, in both
        assert np.count_nonzero(dense.coef_ == 0) > 0, f"{label}: no zero weight"


def test_sparse_kernel_folds_a_vanishing_scale(monkeypatch):
    """``1 - lr * alpha = 1e-8`` per step: the scale of ``w = wscale * v``
    falls below its floor every other step and is folded into ``v``.

    The dense-step kernel computes ``w - lr * alpha * w``, which cancels all
    but 1e-8 of ``w`` and so carries a relative error of about 1e-8 itself;
    the tolerance is that.
    """
    X, y = make_sparse_data("multiclass")
    params = dict(loss="hinge", learning_rate="constant", eta0=1.0,
                  alpha=1.0 - 1e-8, batch_size=4, average=10)  # fmt: skip
    lazy, dense = fit_both("multiclass", X, y, params, monkeypatch)
    assert_same_model(lazy, dense, str(params), 1e-7)


@pytest.mark.parametrize("optimizer", ["plain", "nesterov"])
@pytest.mark.parametrize("task", TASKS)
def test_sparse_partial_fit_matches_dense_step(task, optimizer, monkeypatch):
    """``partial_fit`` over slices: the scale is folded at the end of each
    call and the optimizer state (steps, momentum buffers, average, L1
    totals) carries on."""
    X, y = make_sparse_data(task)
    params = dict(penalty="elasticnet", average=30, learning_rate="invscaling",
                  shuffle=False, **OPTIMIZERS[optimizer])  # fmt: skip
    extra = {} if task == "regression" else {"classes": np.unique(y)}

    def stream(est):
        for lo, hi in [(0, 40), (40, 48), (48, 150), (0, 70)]:
            est.partial_fit(X[lo:hi], y[lo:hi], **extra)
        return est

    lazy, dense = fit_both(task, X, y, params, monkeypatch, fit=stream)
    assert_same_model(lazy, dense, f"{task} partial_fit {params}", RTOL[np.float64])


@pytest.mark.parametrize("optimizer", ["plain", "momentum"])
@pytest.mark.parametrize("task", ["multiclass", "multinomial"])
def test_sparse_kernel_threads_and_parts_bitwise(task, optimizer, monkeypatch):
    """The rows are scored in parallel chunks and the scatter split by column
    ranges (with momentum, the catch-up by blocks of columns too): the same
    bits for any thread count, part count, and for the serial and parallel
    variants."""
    X, y = make_sparse_data(task, n=300, n_features=600)
    params = dict(penalty="elasticnet", average=50, learning_rate="optimal",
                  batch_size=40, **OPTIMIZERS[optimizer])  # fmt: skip
    fits = {}
    for n_jobs in (1, 2):
        fits[f"n_jobs={n_jobs}"] = estimator(task, n_jobs=n_jobs, **params).fit(X, y)
    with monkeypatch.context() as m:
        m.setattr(cpu_sparse, "PARALLEL_WORK", 1)
        fits["parallel"] = estimator(task, n_jobs=2, **params).fit(X, y)
        run = cpu_sparse.sgd_epoch_sparse

        def five_parts(*args):
            return run(*args[:-1], 5)

        m.setattr(cpu_sparse, "sgd_epoch_sparse", five_parts)
        fits["5 parts"] = estimator(task, n_jobs=2, **params).fit(X, y)
    with monkeypatch.context() as m:
        m.setattr(cpu_sparse, "PARALLEL_WORK", 1 << 62)
        fits["serial"] = estimator(task, n_jobs=2, **params).fit(X, y)
    base = fits.pop("n_jobs=1")
    for name, est in fits.items():
        for attr in ("coef_", "intercept_"):
            got, want = getattr(est, attr), getattr(base, attr)
            assert np.array_equal(got, want), (
                f"{task}: {name} differs from n_jobs=1 in {attr} at "
                f"{np.count_nonzero(got != want)} entries"
            )


def test_sparse_state_is_feature_major_and_coef_keeps_its_shape():
    """The O(nnz) kernel keeps one column's heads together; ``coef_`` is
    scikit-learn's ``(n_classes, n_features)`` (a view); a dense
    ``partial_fit`` afterwards moves the state back to head-major."""
    X, y = make_sparse_data("multiclass")
    est = estimator("multiclass").fit(X, y)
    state = est.training_state()
    assert state.feature_major
    assert est.coef_.shape == (3, X.shape[1])
    assert np.shares_memory(est.coef_, state.coef)
    before = est.decision_function(X)
    np.testing.assert_allclose(before, X @ est.coef_.T + est.intercept_)
    est.partial_fit(X[:10].toarray(), y[:10])
    assert not est.training_state().feature_major
    assert est.coef_.flags.c_contiguous
