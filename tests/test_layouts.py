"""The same model whatever the memory layout, precision, thread count or chunking.

* dense vs CSR (``scipy.sparse.csr_matrix`` and ``csr_array``): the same
  model, per-sample and mini-batch;
* float32 vs float64: equal to float32 precision (and float32 trains in float32,
  without copying C-contiguous input);
* ``n_jobs=1`` vs ``n_jobs=2``, and the serial vs the parallel code path:
  bitwise identical;
* a stream of ``partial_fit`` calls vs one ``fit`` over the same batches.

These compare two fastsgd runs by design; where a run takes a path the other
test files do not reach (the parallel mini-batch path), it is also checked
against the NumPy reference.
"""

import itertools

import numpy as np
import pytest
import reference
import scipy.sparse as sp

from fastsgd import SGDClassifier, SGDRegressor, _trainer
from fastsgd._kernels import cpu, cpu_sparse

# --------------------------------------------------------------------------
# Data and helpers
# --------------------------------------------------------------------------


def make_data(task, *, n=60, n_features=5, n_classes=3, seed=0, density=0.6):
    """Gaussian features, ~``1 - density`` exact zeros, no all-zero row."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * 0.5
    X[rng.rand(n, n_features) > density] = 0.0
    X[~X.any(axis=1), 0] = 0.3
    W = rng.randn(n_features, n_classes) * 2.0 / np.sqrt(n_features / 5.0)
    S = X @ W + 0.4 * rng.randn(n, n_classes)
    if task == "binary":
        y = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
    elif task in ("multiclass", "multinomial"):
        y = S.argmax(axis=1)
        assert len(np.unique(y)) == n_classes, "degenerate test data"
    else:
        y = S[:, 0] + 0.5
    return X, y


def estimator(task, **params):
    params = {
        "shuffle": False,
        "tol": None,
        "max_iter": 4,
        "alpha": 0.01,
        "eta0": 0.05,
        "learning_rate": "constant",
        "n_jobs": 1,
        **params,
    }
    if task == "regression":
        return SGDRegressor(**params)
    if task == "multinomial":
        params["multi_class"] = "multinomial"
    return SGDClassifier(**params)


def default_loss(task):
    return {"regression": "squared_error", "multinomial": "log_loss"}.get(task, "hinge")


def fitted(est):
    return np.asarray(est.coef_), np.asarray(est.intercept_)


def assert_same_model(a, b, label, rtol=0.0):
    """``rtol=0``: bitwise; else within ``rtol`` of the larger weights."""
    for got, want, name in zip(
        fitted(a), fitted(b), ["coef_", "intercept_"], strict=True
    ):
        assert got.shape == want.shape, (
            f"{label}: {name} shapes {got.shape}, {want.shape}"
        )
        if rtol == 0.0:
            diff = np.flatnonzero(got.ravel() != want.ravel())
            assert diff.size == 0, (
                f"{label}: {name} is not bitwise identical at {diff.size} entries "
                f"(max difference {np.max(np.abs(got - want)):.3g})"
            )
        else:
            scale = max(float(np.max(np.abs(want))), 1.0)
            err = float(np.max(np.abs(got.astype(np.float64) - want)))
            assert err <= rtol * scale, (
                f"{label}: {name} differs by {err:.3g} (allowed {rtol * scale:.3g})"
                f"\n{got.ravel()}\n{want.ravel()}"
            )


def _label(**kw):
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


# --------------------------------------------------------------------------
# Dense vs CSR
# --------------------------------------------------------------------------

# (int64 indices are refused, as by scikit-learn: accept_large_sparse=False)
SPARSE_KINDS = {"csr_matrix": sp.csr_matrix, "csr_array": sp.csr_array}


PER_SAMPLE_CASES = [
    ("binary", dict(loss="hinge")),
    ("binary", dict(loss="log_loss", learning_rate="optimal", alpha=0.1, average=True)),
    ("multiclass", dict(loss="modified_huber", penalty=None)),
    ("multiclass", dict(loss="squared_hinge", learning_rate="invscaling", average=30)),
    ("regression", dict(loss="squared_error", learning_rate="invscaling")),
    ("regression", dict(loss="huber", learning_rate="pa2", eta0=0.5)),
]


@pytest.mark.parametrize("kind", list(SPARSE_KINDS))
@pytest.mark.parametrize(
    "task,params", PER_SAMPLE_CASES, ids=[_label(t=t, **p) for t, p in PER_SAMPLE_CASES]
)
def test_dense_vs_csr_per_sample(task, params, kind):
    """Per-sample training: dense and CSR agree where scikit-learn's do.

    ``fit_intercept=False``, L2 or no penalty: CSR input differs *by design*
    in its intercept decay (0.01) and in where the L1 truncation applies
    (stored entries only), as in scikit-learn.
    """
    X, y = make_data(task)
    params = {"fit_intercept": False, **params}
    if params.get("learning_rate") == "pa2":
        params["loss"] = "epsilon_insensitive"
    dense = estimator(task, **params).fit(X, y)
    csr = estimator(task, **params).fit(SPARSE_KINDS[kind](X), y)
    assert_same_model(csr, dense, _label(task=task, input=kind, **params), rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 8], ids=["per-sample", "mini-batch"])
def test_csr_intercept_decay_differs(batch_size):
    """With an intercept, CSR training decays the intercept's steps
    (scikit-learn's 0.01), per-sample and in mini-batches alike."""
    X, y = make_data("regression")
    params = dict(loss="squared_error", batch_size=batch_size)
    dense = estimator("regression", **params).fit(X, y)
    csr = estimator("regression", **params).fit(sp.csr_matrix(X), y)
    assert abs(csr.intercept_[0]) < 0.2 * abs(dense.intercept_[0]), (
        f"batch_size={batch_size}: CSR intercept {csr.intercept_} is not decayed "
        f"relative to dense {dense.intercept_}"
    )


MINIBATCH_CASES = [
    ("binary", dict(loss="log_loss", batch_size=8, momentum=0.9, penalty=None)),
    (
        "multiclass",
        dict(loss="hinge", batch_size=7, momentum=0.5, dampening=0.5, average=True),
    ),
    ("multiclass", dict(loss="hinge", batch_size=7, average=True)),
    ("multinomial", dict(loss="log_loss", batch_size=16, momentum=0.9, nesterov=True)),
    (
        "regression",
        dict(loss="huber", batch_size=5, learning_rate="invscaling", eta0=0.2),
    ),
    ("regression", dict(loss="squared_error", batch_size=1, momentum=0.9)),
    (
        "multiclass",
        dict(
            loss="modified_huber",
            batch_size=13,
            learning_rate="optimal",
            alpha=0.1,
            class_weight="balanced",
        ),
    ),
]


@pytest.mark.parametrize("kind", list(SPARSE_KINDS))
@pytest.mark.parametrize(
    "task,params", MINIBATCH_CASES, ids=[_label(t=t, **p) for t, p in MINIBATCH_CASES]
)
def test_dense_vs_csr_minibatch(task, params, kind):
    """Mini-batch training: CSR gives the dense model (the O(nnz) kernels
    too, without momentum).

    ``fit_intercept=False``, L2 or no penalty: CSR input differs *by design*
    in its intercept decay (0.01) and in where the L1 truncation applies
    (the columns a batch stores values in), as per-sample training does.
    """
    X, y = make_data(task)
    params = {"fit_intercept": False, **params}
    sw = np.random.RandomState(3).uniform(0.2, 2.0, size=len(y))
    dense = estimator(task, **params).fit(X, y, sample_weight=sw)
    csr = estimator(task, **params).fit(SPARSE_KINDS[kind](X), y, sample_weight=sw)
    assert_same_model(csr, dense, _label(task=task, input=kind, **params), rtol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 8], ids=["per-sample", "mini-batch"])
def test_csr_matrix_vs_csr_array_bitwise(batch_size):
    X, y = make_data("multiclass")
    params = dict(loss="log_loss", batch_size=batch_size, penalty="elasticnet")
    a = estimator("multiclass", **params).fit(sp.csr_matrix(X), y)
    b = estimator("multiclass", **params).fit(sp.csr_array(X), y)
    assert_same_model(a, b, f"csr_matrix vs csr_array, batch_size={batch_size}")


# --------------------------------------------------------------------------
# float32 vs float64
# --------------------------------------------------------------------------

DTYPE_CASES = [
    ("binary", dict(loss="hinge")),
    ("multiclass", dict(loss="log_loss", penalty="elasticnet", average=True)),
    ("regression", dict(loss="squared_error", learning_rate="invscaling")),
    ("binary", dict(loss="modified_huber", batch_size=8, momentum=0.9)),
    (
        "multinomial",
        dict(loss="log_loss", batch_size=10, momentum=0.9, nesterov=True, average=20),
    ),
    (
        "regression",
        dict(
            loss="huber", batch_size=6, learning_rate="optimal", alpha=0.1, penalty="l1"
        ),
    ),
]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    "task,params", DTYPE_CASES, ids=[_label(t=t, **p) for t, p in DTYPE_CASES]
)
def test_float32_matches_float64(task, params, sparse):
    X, y = make_data(task)
    X32 = X.astype(np.float32)
    if sparse:
        X, X32 = sp.csr_matrix(X), sp.csr_matrix(X32)
    # the float64 run sees exactly the float32 values
    X64 = X32.astype(np.float64)
    est64 = estimator(task, **params).fit(X64, y)
    est32 = estimator(task, **params).fit(X32, y)
    label = _label(task=task, sparse=sparse, **params)
    assert est32.coef_.dtype == np.float32, (
        f"{label}: float32 input trained {est32.coef_.dtype}"
    )
    assert est64.coef_.dtype == np.float64, (
        f"{label}: float64 input trained {est64.coef_.dtype}"
    )
    assert est32.intercept_.dtype == np.float32, (
        f"{label}: float32 intercept_ is {est32.intercept_.dtype}"
    )
    assert_same_model(est32, est64, label, rtol=2e-5)
    score = "predict" if task == "regression" else "decision_function"
    np.testing.assert_allclose(
        np.asarray(getattr(est32, score)(X32), dtype=np.float64),
        getattr(est64, score)(X64),
        rtol=1e-4,
        atol=1e-4,
        err_msg=f"{label}: float32 vs float64 {score}",
    )


# --------------------------------------------------------------------------
# Threads and the parallel path: bitwise identical
# --------------------------------------------------------------------------


def _fits_by_threads(task, X, y, params, monkeypatch):
    """Fits for n_jobs=1 and 2, and with the parallel path forced on / off.

    ``cpu.PARALLEL_WORK`` (``cpu_sparse.PARALLEL_WORK`` on CSR data) is the
    batch size (in multiply-adds) from which a mini-batch runs the parallel
    kernel variant on several threads: 1 forces
    the parallel variant on every batch, a huge value the serial one (two
    different compiled kernels, which must agree bitwise).
    """
    out = {}
    for n_jobs in (1, 2):
        out[f"n_jobs={n_jobs}"] = estimator(task, n_jobs=n_jobs, **params).fit(X, y)
    with monkeypatch.context() as m:
        for module in (cpu, cpu_sparse):  # dense and CSR mini-batch kernels
            m.setattr(module, "PARALLEL_WORK", 1)
        out["always parallel"] = estimator(task, n_jobs=2, **params).fit(X, y)
        for module in (cpu, cpu_sparse):
            m.setattr(module, "PARALLEL_WORK", 1 << 62)
        out["always serial"] = estimator(task, n_jobs=2, **params).fit(X, y)
    return out


def test_per_sample_multiclass_threads_bitwise(monkeypatch):
    """Per-sample OvR heads are spread over threads: the same bits."""
    X, y = make_data("multiclass", n=120, n_features=8, n_classes=4)
    for params in (
        dict(loss="hinge", penalty="elasticnet", average=True),
        dict(
            loss="log_loss",
            learning_rate="optimal",
            alpha=0.1,
            shuffle=True,
            random_state=3,
        ),
    ):
        fits = _fits_by_threads("multiclass", X, y, params, monkeypatch)
        base = fits.pop("n_jobs=1")
        for name, est in fits.items():
            assert_same_model(
                est, base, f"per-sample 4-class {params}: {name} vs n_jobs=1"
            )


BIG_CASES = [
    # several chunks of samples (phase 1) and several (head, feature block)
    # units (phase 2), so that the parallel path really splits the work
    (
        "multiclass",
        dict(n=300, n_features=64, n_classes=4),
        dict(
            loss="hinge",
            batch_size=128,
            momentum=0.9,
            penalty="elasticnet",
            average=True,
        ),
    ),
    (
        "multinomial",
        dict(n=300, n_features=64, n_classes=4),
        dict(
            loss="log_loss",
            batch_size=128,
            momentum=0.9,
            nesterov=True,
            learning_rate="invscaling",
            eta0=0.5,
        ),
    ),
    (
        "regression",
        dict(n=1100, n_features=96),
        dict(
            loss="squared_error", batch_size=512, momentum=0.5, dampening=0.2, eta0=0.02
        ),
    ),
    (
        "binary",
        dict(n=1100, n_features=96),
        dict(
            loss="log_loss",
            batch_size=400,
            learning_rate="optimal",
            alpha=0.1,
            shuffle=True,
            random_state=0,
        ),
    ),
]


@pytest.mark.parametrize(
    "sparse", [False, True, "dense-step"], ids=["dense", "csr", "csr-dense-step"]
)
@pytest.mark.parametrize(
    "task,shape,params", BIG_CASES, ids=[t for t, _, _ in BIG_CASES]
)
def test_minibatch_threads_bitwise(task, shape, params, sparse, monkeypatch):
    """Any thread count, and the serial and parallel variants, give the same
    bits; on CSR data for the O(nnz) kernels (``cpu_sparse``) and for the
    dense-step kernel that the GPU mirrors (``SPARSE_KERNELS = False``)."""
    X, y = make_data(task, **shape)
    if sparse:
        X = sp.csr_matrix(X)
    if sparse == "dense-step":
        monkeypatch.setattr(_trainer, "SPARSE_KERNELS", False)
    # Whatever cpu.PARALLEL_WORK is, _fits_by_threads also forces every
    # batch onto the parallel path (and onto the serial one).
    params = {"max_iter": 2, **params}
    fits = _fits_by_threads(task, X, y, params, monkeypatch)
    base = fits.pop("n_jobs=1")
    label = _label(task=task, sparse=sparse, **params)
    for name, est in fits.items():
        assert_same_model(est, base, f"{label}: {name} vs n_jobs=1")
    if not params.get("shuffle"):
        # the parallel path is also the reference's algorithm
        if task == "regression":
            targets, weights, n_classes, kind = y, None, None, "regression"
        elif task == "multinomial":
            targets, weights, n_classes, kind = y, None, shape["n_classes"], task
        else:
            targets, weights = reference.ovr_targets(y, np.unique(y), params["loss"])
            n_classes, kind = None, "ovr"
        kw = {
            k: v
            for k, v in params.items()
            if k
            in (
                "loss",
                "penalty",
                "learning_rate",
                "eta0",
                "batch_size",
                "momentum",
                "dampening",
                "nesterov",
                "alpha",
            )
        }
        kw = {"alpha": 0.01, "eta0": 0.05, "learning_rate": "constant", **kw}
        state = reference.minibatch_sgd(
            X,
            targets,
            task=kind,
            weights=weights,
            n_classes=n_classes,
            n_epochs=params["max_iter"],
            average=int(params.get("average", 0)),
            power_t=0.25 if task == "regression" else 0.5,
            **kw,
        )
        coef, intercept = state.published(int(params.get("average", 0)))
        got_coef = np.asarray(base.coef_).reshape(coef.shape)
        scale = max(float(np.abs(coef).max()), 1.0)
        assert np.max(np.abs(got_coef - coef)) <= 1e-10 * scale, (
            f"{label}: parallel-path coef_ differs from the NumPy reference by "
            f"{np.max(np.abs(got_coef - coef)):.3g}"
        )
        assert np.max(np.abs(base.intercept_ - intercept)) <= 1e-10 * scale, (
            f"{label}: parallel-path intercept_ differs from the NumPy reference"
        )


# --------------------------------------------------------------------------
# partial_fit stream == fit
# --------------------------------------------------------------------------

STREAM_CASES = [
    ("binary", dict(loss="log_loss", batch_size=6, momentum=0.9)),
    (
        "multiclass",
        dict(
            loss="hinge",
            batch_size=4,
            momentum=0.9,
            nesterov=True,
            learning_rate="invscaling",
            eta0=0.2,
            average=True,
        ),
    ),
    (
        "multinomial",
        dict(
            loss="log_loss",
            batch_size=6,
            momentum=0.5,
            dampening=0.5,
            learning_rate="optimal",
            alpha=0.1,
            average=50,
        ),
    ),
    (
        "regression",
        dict(
            loss="squared_error",
            batch_size=12,
            momentum=0.9,
            learning_rate="invscaling",
            penalty="l1",
        ),
    ),
    ("regression", dict(loss="huber", batch_size=1, momentum=0.9, average=7)),
]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    "task,params", STREAM_CASES, ids=[_label(t=t, **p) for t, p in STREAM_CASES]
)
def test_partial_fit_stream_equals_fit(task, params, sparse):
    """Mini-batch with momentum: partial_fit on slices (multiples of batch_size)
    over 3 epochs == fit(max_iter=3): momentum buffers, the step count, the
    schedule's sample counter and the averages carry over."""
    X, y = make_data(task)
    if sparse:
        X = sp.csr_matrix(X)
    b = params["batch_size"]
    n = X.shape[0]
    cuts = [0] + [k * b for k in (2, 3, 5) if k * b < n] + [n]  # last slice ragged
    full = estimator(task, max_iter=3, **params).fit(X, y)
    stream = estimator(task, **params)
    kw = {} if task == "regression" else {"classes": np.unique(y)}
    for _ in range(3):
        for lo, hi in itertools.pairwise(cuts):
            stream.partial_fit(X[lo:hi], y[lo:hi], **kw)
    label = _label(task=task, sparse=sparse, **params)
    assert_same_model(stream, full, f"{label}: partial_fit stream vs fit", rtol=1e-13)
    assert stream.t_ == full.t_, f"{label}: t_ {stream.t_} vs {full.t_}"


# --------------------------------------------------------------------------
# No copy of float32 / C-contiguous input
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_input_is_not_copied(dtype, sparse, batch_size, monkeypatch):
    """C-contiguous float32/float64 (and CSR with int32 indices) reach the
    kernels as views of the caller's arrays."""
    X, y = make_data("multiclass", n=200, n_features=10)
    X = np.ascontiguousarray(X, dtype=dtype)
    if sparse:
        X = sp.csr_matrix(X)
        assert X.indices.dtype == np.int32
    seen = {}
    real_train = _trainer.train

    def spy(problem, *args, **kwargs):
        seen["X_data"] = problem.X_data
        seen["X_indices"] = problem.X_indices
        return real_train(problem, *args, **kwargs)

    monkeypatch.setattr(_trainer, "train", spy)
    est = estimator("multiclass", batch_size=batch_size, max_iter=1).fit(X, y)
    assert "X_data" in seen, "the trainer was not called"
    data = X.data if sparse else X
    assert seen["X_data"].dtype == dtype, f"X was cast to {seen['X_data'].dtype}"
    assert np.shares_memory(seen["X_data"], data), (
        f"{np.dtype(dtype).name} {'CSR' if sparse else 'C-contiguous'} input was "
        "copied before training"
    )
    if sparse:
        assert np.shares_memory(seen["X_indices"], X.indices), "CSR indices were copied"
    assert est.coef_.dtype == dtype, (
        f"coef_ is {est.coef_.dtype}, not {np.dtype(dtype)}"
    )


def test_fortran_float32_is_converted_not_upcast():
    """A Fortran-ordered float32 array is made C-contiguous, still float32."""
    X, y = make_data("regression")
    X32 = np.asfortranarray(X.astype(np.float32))
    est = estimator("regression", loss="squared_error").fit(X32, y)
    ref = estimator("regression", loss="squared_error").fit(
        np.ascontiguousarray(X32), y
    )
    assert est.coef_.dtype == np.float32, f"Fortran float32 trained {est.coef_.dtype}"
    assert_same_model(est, ref, "Fortran vs C-ordered float32 input")


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
@pytest.mark.parametrize("batch_size", [1, 8])
def test_partial_fit_follows_a_change_of_dtype(estimator, batch_size):
    """float64 batches then a float32 one: training goes on in float32 and agrees
    with the all-float64 stream to float32 precision."""
    rng = np.random.RandomState(0)
    X = rng.randn(64, 5)
    if estimator == "classifier":
        y = (X[:, 0] + 0.3 * rng.randn(64) > 0).astype(int)
        make = lambda: SGDClassifier(batch_size=batch_size, shuffle=False)  # noqa: E731
        extra = {"classes": [0, 1]}
    else:
        y = X @ np.arange(1.0, 6.0)
        make = lambda: SGDRegressor(batch_size=batch_size, shuffle=False)  # noqa: E731
        extra = {}
    mixed, plain = make(), make()
    for part, dtype in ((slice(0, 32), np.float64), (slice(32, 64), np.float32)):
        mixed.partial_fit(X[part].astype(dtype), y[part], **extra)
        plain.partial_fit(X[part], y[part], **extra)
    assert mixed.coef_.dtype == np.float32, "coef_ should follow the last batch's dtype"
    np.testing.assert_allclose(
        mixed.coef_, plain.coef_, rtol=1e-4, atol=1e-5,
        err_msg="a float32 batch after float64 ones trains a different model",
    )  # fmt: skip
