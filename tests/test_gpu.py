"""The GPU backend (``device="cuda"``), on Numba's CUDA simulator or a real GPU.

``tests/conftest.py`` turns the simulator on unless ``FASTSGD_REAL_GPU=1``;
the same tests run on both. Launches are made small (few threads per block;
on a real GPU, several blocks) so that the kernels' thread-stride loops cut
every phase into many pieces with a ragged last one.

What is checked:

- the GPU fit against the float64 NumPy reference (``reference.minibatch_sgd``)
  and against the CPU fit of the same seed, for the linear models (dense and
  CSR, OvR, multinomial and regression, momentum, Nesterov, penalties,
  averaging, schedules, weights) and the MLPs (every solver, activation
  and output, CSR, L-BFGS, early stopping);
- each CPU/GPU kernel pair: same argument list, same result from the same
  NumPy arguments;
- determinism (run to run, and across launch shapes);
- GPU inputs (``__cuda_array_interface__`` / simulator arrays) used in
  place, and every error: no GPU, per-sample settings, host/GPU mixes, wrong
  dtypes or layouts, NaN, out of memory.
"""

import inspect
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from numba import cuda
from sklearn.exceptions import ConvergenceWarning
from test_minibatch import assert_close, reference_fit

from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor, _device
from fastsgd._device import CUDAUnavailableError
from fastsgd._kernels import cpu, cpu_mlp, cuda_launch, cuda_mlp
from fastsgd._kernels import cuda as gpu
from fastsgd._kernels.bundles import (
    Data,
    LinearParams,
    LinearTargets,
    MinibatchRule,
    MLPParams,
    MLPTargets,
    StepCounters,
    empty_index,
)
from fastsgd._math import codes
from fastsgd._mlp_trainer import (
    MLPConfig,
    _float_settings,
    _int_settings,
)

REAL_GPU = os.environ.get("FASTSGD_REAL_GPU") == "1"

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def small_launch():
    """Few threads per block (and 3 blocks on a real GPU): ragged tails everywhere."""
    saved = dict(cuda_launch.LAUNCH)
    cuda_launch.LAUNCH.update(threads=32 if REAL_GPU else 8, blocks=3)
    yield
    cuda_launch.LAUNCH.clear()
    cuda_launch.LAUNCH.update(saved)


def on_device(a):
    return cuda.to_device(np.ascontiguousarray(a))


def data(n=37, d=5, seed=0, dtype=np.float64, classes=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, classes, n)
    return X, y


def sparse_version(X, seed=1):
    rng = np.random.default_rng(seed)
    return sp.csr_matrix(np.where(rng.random(X.shape) < 0.5, X, 0.0).astype(X.dtype))


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# --------------------------------------------------------------------- linear
LINEAR_CASES = {
    "binary-hinge-momentum": (
        "binary",
        dict(loss="hinge", momentum=0.9, learning_rate="constant"),
    ),
    "ovr-log-nesterov-l1": (
        "multiclass",
        dict(
            loss="log_loss",
            momentum=0.5,
            nesterov=True,
            penalty="l1",
            learning_rate="invscaling",
            eta0=0.05,
        ),
    ),  # fmt: skip
    "ovr-modified-huber-elasticnet-avg": (
        "multiclass",
        dict(
            loss="modified_huber",
            penalty="elasticnet",
            average=20,
            learning_rate="optimal",
        ),
    ),  # fmt: skip
    "multinomial-dampening": (
        "multinomial",
        dict(
            loss="log_loss",
            multi_class="multinomial",
            momentum=0.9,
            dampening=0.3,
            learning_rate="constant",
            eta0=0.05,
        ),
    ),  # fmt: skip
    "regression-huber": (
        "regression",
        dict(loss="huber", momentum=0.9, learning_rate="invscaling"),
    ),
    "regression-eps-insensitive-no-intercept": (
        "regression",
        dict(
            loss="epsilon_insensitive",
            fit_intercept=False,
            penalty=None,
            learning_rate="constant",
            eta0=0.05,
        ),
    ),  # fmt: skip
}


def linear_target(task, X, y):
    if task == "regression":
        return X @ np.arange(1.0, X.shape[1] + 1) + 0.5
    if task == "binary":
        return y % 2
    return y


def linear_estimator(task, **params):
    cls = SGDRegressor if task == "regression" else SGDClassifier
    return cls(**params)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("case", list(LINEAR_CASES))
def test_linear_gpu_matches_reference_and_cpu(case, sparse):
    task, extra = LINEAR_CASES[case]
    X, y = data()
    Xf = sparse_version(X) if sparse else X
    target = linear_target(task, X, y)
    params = dict(batch_size=8, max_iter=3, tol=None, shuffle=False, **extra)
    gpu_fit = linear_estimator(task, device="cuda", **params).fit(Xf, target)
    assert gpu_fit.device_ == "cuda"
    ref_coef, ref_intercept, _ = reference_fit(task, Xf, target, params)
    assert_close(gpu_fit.coef_, ref_coef, f"{case} coef_")
    assert_close(gpu_fit.intercept_, ref_intercept, f"{case} intercept_")
    cpu_fit = linear_estimator(task, **params).fit(Xf, target)
    assert_close(gpu_fit.loss_curve_, cpu_fit.loss_curve_, f"{case} loss_curve_")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_gpu_shuffled_weighted_matches_cpu(dtype):
    X, y = data(dtype=dtype)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    params = dict(loss="log_loss", batch_size=6, momentum=0.9, max_iter=4, tol=None,
                  class_weight={0: 2.0, 1: 0.5, 2: 1.0}, random_state=7,
                  learning_rate="adaptive", eta0=0.05)  # fmt: skip
    a = SGDClassifier(**params).fit(X, y, sample_weight=sw)
    b = SGDClassifier(device="cuda", **params).fit(X, y, sample_weight=sw)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert b.coef_.dtype == dtype
    assert_close(b.coef_, a.coef_, "coef_", rtol)
    assert_close(b.intercept_, a.intercept_, "intercept_", rtol)
    assert_close(b.loss_curve_, a.loss_curve_, "loss_curve_", rtol)
    assert b.n_iter_ == a.n_iter_


def test_linear_gpu_early_stopping_and_partial_fit_match_cpu():
    X, y = data(n=60)
    params = dict(loss="log_loss", batch_size=8, momentum=0.5, max_iter=20,
                  early_stopping=True, n_iter_no_change=2, random_state=0)  # fmt: skip
    a = SGDClassifier(**params).fit(X, y)
    b = SGDClassifier(device="cuda", **params).fit(X, y)
    assert b.n_iter_ == a.n_iter_
    assert_close(b.validation_scores_, a.validation_scores_, "validation_scores_")
    assert_close(b.coef_, a.coef_, "coef_")
    c = SGDRegressor(batch_size=5, momentum=0.9, random_state=0)
    d = SGDRegressor(batch_size=5, momentum=0.9, random_state=0, device="cuda")
    target = linear_target("regression", X, y)
    for _ in range(3):
        c.partial_fit(X, target)
        d.partial_fit(X, target)
    assert_close(d.coef_, c.coef_, "partial_fit coef_")


# ------------------------------------------------------------------------ MLP
MLP_CASES = {
    "adam-relu-2-layers": dict(
        solver="adam", activation="relu", hidden_layer_sizes=(6, 4)
    ),  # fmt: skip
    "sgd-nesterov-tanh": dict(
        solver="sgd", activation="tanh", momentum=0.9, learning_rate_init=0.05
    ),  # fmt: skip
    "sgd-plain-logistic-invscaling": dict(
        solver="sgd",
        activation="logistic",
        momentum=0.0,
        learning_rate="invscaling",
        learning_rate_init=0.1,
    ),  # fmt: skip
    "adamw-identity": dict(solver="adamw", activation="identity", weight_decay=0.1),
}


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("case", list(MLP_CASES))
def test_mlp_classifier_gpu_matches_cpu(case, sparse):
    X, y = data(n=29, d=6)
    Xf = sparse_version(X) if sparse else X
    params = dict(hidden_layer_sizes=(5,), batch_size=7, max_iter=3, alpha=0.01,
                  random_state=0, learning_rate_init=0.02)  # fmt: skip
    params.update(MLP_CASES[case])
    a = MLPClassifier(**params).fit(Xf, y)
    b = MLPClassifier(device="cuda", **params).fit(Xf, y)
    for layer, (p, q) in enumerate(zip(b.coefs_, a.coefs_, strict=True)):
        assert_close(p, q, f"{case} coefs_[{layer}]")
    for layer, (p, q) in enumerate(zip(b.intercepts_, a.intercepts_, strict=True)):
        assert_close(p, q, f"{case} intercepts_[{layer}]")
    assert_close(b.loss_curve_, a.loss_curve_, f"{case} loss_curve_")
    assert b.t_ == a.t_ and b.n_iter_ == a.n_iter_


@pytest.mark.parametrize(
    "target", ["binary", "multilabel", "regression", "poisson"]
)  # fmt: skip
def test_mlp_outputs_gpu_match_cpu(target):
    X, y = data(n=26, d=4)
    rng = np.random.default_rng(5)
    params = dict(hidden_layer_sizes=(5,), batch_size=6, max_iter=3, random_state=1,
                  solver="adam", learning_rate_init=0.01)  # fmt: skip
    if target == "binary":
        est, Y = MLPClassifier, y % 2
    elif target == "multilabel":
        est, Y = MLPClassifier, rng.integers(0, 2, (26, 3))
    elif target == "regression":
        est, Y = MLPRegressor, rng.normal(size=(26, 2))
    else:
        est, Y = MLPRegressor, rng.poisson(2.0, 26).astype(float)
        params["loss"] = "poisson"
    sw = rng.uniform(0.5, 2.0, 26)
    a = est(**params).fit(X, Y, sample_weight=sw)
    b = est(device="cuda", **params).fit(X, Y, sample_weight=sw)
    for p, q in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_, strict=True):
        assert_close(p, q, target)
    assert_close(b.loss_curve_, a.loss_curve_, f"{target} loss_curve_")
    assert_close(b.predict(X), a.predict(X), f"{target} predict")


def test_mlp_lbfgs_early_stopping_float32_gpu_match_cpu():
    X, y = data(n=40, d=5)
    params = dict(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=15, random_state=0)
    a = MLPClassifier(**params).fit(X, y)
    b = MLPClassifier(device="cuda", **params).fit(X, y)
    assert b.n_iter_ == a.n_iter_
    assert_close(b.coefs_[0], a.coefs_[0], "lbfgs coefs_[0]", 1e-7)
    params = dict(hidden_layer_sizes=(4,), max_iter=6, early_stopping=True,
                  n_iter_no_change=2, random_state=0)  # fmt: skip
    a = MLPClassifier(**params).fit(X, y)
    b = MLPClassifier(device="cuda", **params).fit(X, y)
    assert_close(b.validation_scores_, a.validation_scores_, "validation_scores_")
    X32 = X.astype(np.float32)
    a = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X32, y)
    b = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                      device="cuda").fit(X32, y)  # fmt: skip
    assert b.coefs_[0].dtype == np.float32
    assert_close(b.coefs_[0], a.coefs_[0], "float32 coefs_[0]", 1e-4)


# ------------------------------------------------------- kernel twins, determinism

#: Device functions the GPU kernels define for themselves: how the GPU spreads
#: a phase's work over threads (4-row register blocks, a thread per weight or
#: per (row, unit)), where the CPU kernels run the same arithmetic as batched
#: products (``matmul_into``) over row parts. Everything else a GPU kernel
#: calls is a plain Python function the CPU kernels compile too.
GPU_ONLY = {
    "input_value",  # a layer's input, read from X through the order (no gather)
    "forward_unit",  # 4 rows x 1 unit of a dense layer (CPU: one gemm per part)
    "forward_unit_sparse",  # 1 row x 1 unit of a CSR first layer
    "backward_unit",  # 4 rows x 1 unit of delta @ W.T (CPU: one gemm per part)
    "output_layer_row",  # one row of the output phase, a thread per row
    "weight_gradient",  # one weight's gradient, a thread per weight
    "weight_unit",  # thread index -> (layer, j, k) of a weight
    "intercept_unit",  # thread index -> (layer, k) of an intercept
    # the step of a weight or intercept: momentum_step and running_mean, which
    # the CPU composes in configured helpers that prune the momentum buffer
    # and the averaging at compile time (shared, it cost 0.2-0.4 s of a cold
    # CPU mini-batch fit: minibatch.py)
    "parameter_step",
}


def _python_function(compiled):
    """The Python function a CPU dispatcher, a CUDA dispatcher or a simulator
    kernel was compiled from."""
    return getattr(compiled, "py_func", None) or compiled.fn


def test_gpu_kernels_compile_the_cpu_kernels_helpers():
    """One source: every device function the GPU kernels call is compiled from
    the same plain Python function as the CPU kernels' helper (the math layer,
    ``rows.py``, ``minibatch.py``, ``mlp_layout.py``), or is one of ``GPU_ONLY``."""
    from fastsgd._kernels import _jit, mlp_layout

    gpu_sources = _jit.sources("gpu")
    own = {fn.__name__ for fn in gpu_sources if not _jit.is_source(fn)}
    assert own == GPU_ONLY
    shared = {fn for fn in gpu_sources if _jit.is_source(fn)}
    for name in ("row_dot", "weighted_derivative", "sum_chunks", "momentum_step",
                 "batch_counters", "coef_offset", "layer_offset", "mlp_gradient",
                 "output_row", "read_float_settings", "softmax_inplace"):  # fmt: skip
        assert name in {fn.__name__ for fn in shared}, name
    # the CPU kernels read their integer settings on the host: compile-time
    # constants of their variant (cpu_mlp.settings_of), the same function
    missing = shared - _jit.sources("cpu") - {mlp_layout.read_int_settings}
    names = sorted(fn.__name__ for fn in missing)
    assert not missing, f"compiled for the GPU only: {names}"
    for fn in shared:
        for target in ("cpu", "gpu"):
            compiled = _python_function(_jit.compiled_for(target, fn))
            assert compiled.__code__ is fn.__code__, (target, fn.__qualname__)


def test_twins_share_argument_lists():
    pairs = [
        (cpu.sgd_epoch_minibatch, gpu.sgd_epoch_minibatch),
        (cpu.minibatch_scratch, gpu.minibatch_scratch),
        (cpu_mlp.mlp_train_epoch, cuda_mlp.mlp_train_epoch),
        (cpu_mlp.mlp_objective, cuda_mlp.mlp_objective),
        (cpu_mlp.mlp_forward, cuda_mlp.mlp_forward),
    ]
    for cpu_fn, gpu_fn in pairs:
        assert cpu_fn.__name__ == gpu_fn.__name__
        assert inspect.signature(cpu_fn) == inspect.signature(gpu_fn)


def _linear_kernel_args(backend, X, y, momentum):
    n, d = X.shape
    n_heads = 3
    order = np.random.default_rng(2).permutation(n).astype(np.int64)
    coef = np.random.default_rng(4).normal(size=(n_heads, d))
    state = LinearParams(coef, np.zeros(n_heads), np.zeros((n_heads, d)),
                         np.zeros(n_heads), np.zeros((n_heads, d)),
                         np.zeros(n_heads), np.zeros((n_heads, d)),
                         np.zeros(n_heads))  # fmt: skip
    scratch = backend.minibatch_scratch(8, n_heads, d, X.dtype, False)
    loss_sum = np.zeros(n_heads)
    args = (
        Data(X.reshape(-1), empty_index(), empty_index(), d, False),
        LinearTargets(y.astype(np.float64), y.astype(np.int64), codes.ONE_VS_REST,
                      np.arange(n_heads, dtype=np.int64), np.ones(n_heads),
                      np.full(n_heads, 0.5), np.ones(n)),  # fmt: skip
        order, np.ones(n_heads, dtype=np.uint8), 8, state,
        # elastic-net: the L2 part in the gradient, the L1 part's truncation;
        # the intercept's linear term (the one-class SVM's) on
        MinibatchRule(codes.LOG_LOSS, 0.1, codes.ELASTICNET, 1e-2, 0.3,
                      codes.INVSCALING, np.full(n_heads, 0.1), 0.5, 0.0, momentum,
                      0.0, True, True, 1.0, 0.3, 10),  # fmt: skip
        StepCounters(0, 0, 0), scratch, loss_sum,
    )  # fmt: skip
    return args, state, loss_sum


def test_linear_twins_same_result():
    X, y = data(n=45, d=7)
    results = []
    for backend in (cpu, gpu):
        args, state, loss_sum = _linear_kernel_args(backend, X, y, momentum=0.9)
        steps = backend.sgd_epoch_minibatch(*args)
        results.append((steps, state, loss_sum))
    (steps_c, state_c, loss_c), (steps_g, state_g, loss_g) = results
    assert steps_c == steps_g
    names = ("coef", "intercept", "coef_buf", "intercept_buf", "avg_coef", "avg_int",
             "l1_q", "l1_u")  # fmt: skip
    for name, a, b in zip(names, state_g, state_c, strict=True):
        assert_close(a, b, name)
    assert_close(loss_g, loss_c, "loss_sum")


def _mlp_twin_problem(hidden_code, solver):
    """21 samples of 4 features, 3 classes, a (4, 5, 3) network: ``(X, Y, units,
    config, n_params, theta)``."""
    X, _ = data(n=21, d=4)
    Y = np.eye(3)[np.random.default_rng(1).integers(0, 3, 21)]
    units = (4, 5, 3)
    config = MLPConfig(units=units, hidden_code=hidden_code, out_code=codes.SOFTMAX,
                       solver=solver, alpha=0.01)  # fmt: skip
    n_params = 4 * 5 + 5 * 3 + 5 + 3
    theta = np.random.default_rng(3).uniform(-0.5, 0.5, n_params)
    return X, Y, units, config, n_params, theta


def test_mlp_twins_same_result():
    X, Y, units, config, n_params, theta0 = _mlp_twin_problem(codes.TANH, codes.ADAM)
    results = []
    for backend in (cpu_mlp, cuda_mlp):
        theta, s1, s2 = theta0.copy(), np.zeros(n_params), np.zeros(n_params)
        grad = np.zeros(n_params)
        work = cpu_mlp.workspace(units, 6, False, np.float64)
        total, step = backend.mlp_train_epoch(
            Data(X.reshape(-1), empty_index(), empty_index(), 4, False),
            MLPTargets(Y, np.ones(21)), np.arange(21)[::-1].copy(), 6,
            np.asarray(units), MLPParams(theta, s1, s2, grad), work,
            _int_settings(config, codes.ADAM),
            _float_settings(config, 0.01, np.float64), 0,
        )  # fmt: skip
        results.append((total, step, theta, s1, s2))
    (tc, sc, *arrays_c), (tg, sg, *arrays_g) = results
    assert sc == sg == 4
    assert_close(tg, tc, "total loss")
    for a, b in zip(arrays_g, arrays_c, strict=True):
        assert_close(a, b, "parameters / moments")


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_mlp_objective_and_forward_twins_same_result(sparse):
    """The L-BFGS objective (loss and gradient) and the forward pass: GPU = CPU."""
    X, Y, units, config, n_params, theta = _mlp_twin_problem(
        codes.RELU, codes.OBJECTIVE
    )
    if sparse:
        Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
        X_args = (Xs.data, Xs.indices.astype(np.int32), Xs.indptr.astype(np.int32))
    else:
        X_args = (X.reshape(-1), empty_index(), empty_index())
    x = Data(*X_args, 4, sparse)
    rows = np.arange(21)[::-1].copy()
    results = []
    for backend in (cpu_mlp, cuda_mlp):
        grad = np.zeros(n_params)
        work = cpu_mlp.workspace(units, 21, sparse, np.float64)
        total = backend.mlp_objective(
            x, MLPTargets(Y, np.linspace(0.5, 1.5, 21)), np.asarray(units), theta,
            grad, work, _int_settings(config, codes.OBJECTIVE),
            _float_settings(config, 0.0, np.float64),
        )  # fmt: skip
        X_batch = np.empty(0 if sparse else 21 * 4)
        acts = np.empty(21 * 8)
        backend.mlp_forward(
            x, rows, np.asarray(units), theta, X_batch, acts,
            _int_settings(config, codes.SGD),
        )  # fmt: skip
        results.append((total, grad, acts[21 * 5 :]))
    (tc, gc, pc), (tg, gg, pg) = results
    assert np.all(gc != 0.0), "test set-up: the objective left gradients at zero"
    assert_close(tg, tc, "objective")
    assert_close(gg, gc, "objective's gradient")
    assert_close(pg, pc, "forward pass's outputs")


def test_gpu_results_do_not_depend_on_launch_shape():
    X, y = data(n=50, d=6)
    lin = dict(loss="log_loss", batch_size=16, momentum=0.9, max_iter=2, tol=None,
               random_state=0, device="cuda", multi_class="multinomial")  # fmt: skip
    mlp = dict(hidden_layer_sizes=(7, 3), batch_size=9, max_iter=2, random_state=0,
               device="cuda")  # fmt: skip
    fits = []
    for threads, blocks in [(8, 3), (32, 1), (32, 2)]:
        cuda_launch.LAUNCH.update(threads=threads, blocks=blocks)
        fits.append((SGDClassifier(**lin).fit(X, y), MLPClassifier(**mlp).fit(X, y)))
    (lin0, mlp0), *others = fits
    for lin_i, mlp_i in others:
        np.testing.assert_array_equal(lin_i.coef_, lin0.coef_)
        np.testing.assert_array_equal(lin_i.loss_curve_, lin0.loss_curve_)
        for p, q in zip(mlp_i.coefs_, mlp0.coefs_, strict=True):
            np.testing.assert_array_equal(p, q)


# ------------------------------------------------------------------ GPU inputs
def test_gpu_inputs_are_used_in_place_and_give_the_host_result():
    X, y = data(n=40, d=5)
    target = linear_target("regression", X, y)
    sw = np.linspace(0.5, 1.5, 40)
    params = dict(batch_size=8, momentum=0.9, max_iter=3, tol=None, random_state=0)
    host = SGDRegressor(device="cuda", **params).fit(X, target, sample_weight=sw)
    dev = SGDRegressor(device="cuda", **params)
    dev.fit(on_device(X), on_device(target), sample_weight=on_device(sw))
    assert isinstance(dev.coef_, np.ndarray)
    assert_close(dev.coef_, host.coef_, "coef_")
    assert_close(dev.predict(on_device(X)), host.predict(X), "predict")
    params = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0,
                  early_stopping=True, n_iter_no_change=1)  # fmt: skip
    clf = MLPClassifier(device="cuda", **params).fit(on_device(X), on_device(y))
    ref = MLPClassifier(**params).fit(X, y)
    assert_close(clf.coefs_[0], ref.coefs_[0], "coefs_[0]")
    assert_close(clf.predict_proba(on_device(X)), ref.predict_proba(X), "proba")
    lin = SGDClassifier(loss="log_loss", batch_size=8, max_iter=2, tol=None,
                        random_state=0, device="cuda")  # fmt: skip
    lin.fit(on_device(X), on_device(y))
    assert_close(lin.decision_function(on_device(X)), lin.decision_function(X), "df")
    np.testing.assert_array_equal(lin.predict(on_device(X)), lin.predict(X))
    assert lin.score(on_device(X), on_device(y)) == lin.score(X, y)
    assert dev.score(on_device(X), on_device(target), on_device(sw)) == pytest.approx(
        dev.score(X, target, sw)
    )
    assert clf.score(on_device(X), on_device(y)) == ref.score(X, y)
    with pytest.raises(ValueError, match="y is a host array"):
        clf.score(on_device(X), y)


def test_gpu_input_errors():
    X, y = data(n=20, d=3)
    est = SGDClassifier(batch_size=4, max_iter=2, device="cuda")
    with pytest.raises(ValueError, match="y is a host array"):
        est.fit(on_device(X), y)
    with pytest.raises(ValueError, match="X is a host array but y is a GPU"):
        est.fit(X, on_device(y))
    with pytest.raises(ValueError, match="sample_weight is a host array"):
        est.fit(on_device(X), on_device(y), sample_weight=np.ones(20))
    with pytest.raises(ValueError, match="float32 or float64"):
        est.fit(on_device(X.astype(np.int64)), on_device(y))
    with pytest.raises(ValueError, match="2D array"):
        est.fit(on_device(X[:, 0]), on_device(y))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.fit(on_device(bad), on_device(y))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(on_device(X), on_device(y[:-1]))
    with pytest.raises(ValueError, match="device='cpu'"):
        SGDClassifier(batch_size=4).fit(on_device(X), on_device(y))
    est.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(on_device(X[:, :2]))
    with pytest.raises(ValueError, match="device='cpu'"):
        MLPClassifier(max_iter=1).fit(X, y).predict(on_device(X))


@pytest.mark.skipif(not REAL_GPU, reason="strided views need a real GPU array")
def test_non_contiguous_gpu_X_is_refused():
    X, y = data(n=20, d=6)
    with pytest.raises(ValueError, match="C-contiguous"):
        SGDClassifier(batch_size=4, device="cuda").fit(
            on_device(X)[:, ::2], on_device(y)
        )


# ---------------------------------------------------------------- device choice
def test_no_gpu_cuda_raises_and_auto_falls_back(monkeypatch):
    monkeypatch.setattr(_device, "cuda_available", lambda: False)
    X, y = data(n=20, d=3)
    with pytest.raises(CUDAUnavailableError, match="no usable CUDA GPU"):
        SGDClassifier(batch_size=4, device="cuda").fit(X, y)
    with pytest.raises(CUDAUnavailableError, match="no usable CUDA GPU"):
        MLPRegressor(device="cuda").fit(X, y)
    auto = SGDClassifier(batch_size=4, max_iter=2, device="auto").fit(X, y)
    assert auto.device_ == "cpu"
    assert MLPClassifier(max_iter=1, device="auto").fit(X, y).device_ == "cpu"


def test_auto_takes_the_gpu_when_there_is_one():
    X, y = data(n=20, d=3)
    assert SGDClassifier(batch_size=4, max_iter=2, device="auto").fit(X, y).device_ == (
        "cuda"
    )
    assert MLPClassifier(max_iter=1, device="auto").fit(X, y).device_ == "cuda"


def test_per_sample_settings_stay_on_the_cpu():
    X, y = data(n=20, d=3)
    with pytest.raises(ValueError, match="trains mini-batches"):
        SGDClassifier(device="cuda").fit(X, y)
    assert SGDClassifier(max_iter=2, device="auto").fit(X, y).device_ == "cpu"
    multinomial = SGDClassifier(loss="log_loss", multi_class="multinomial",
                                max_iter=2, device="cuda").fit(X, y)  # fmt: skip
    assert multinomial.device_ == "cuda"


def test_bad_device_value():
    X, y = data(n=20, d=3)
    with pytest.raises(ValueError, match="'device' parameter"):
        SGDRegressor(device="gpu").fit(X, y.astype(float))


def test_out_of_memory_is_a_clear_memory_error(monkeypatch):
    def no_memory(*args, **kwargs):
        raise RuntimeError("[CUDA_ERROR_OUT_OF_MEMORY] Call to cuMemAlloc results in "
                           "CUDA_ERROR_OUT_OF_MEMORY")  # fmt: skip

    monkeypatch.setattr(gpu.cuda, "to_device", no_memory)
    X, y = data(n=20, d=3)
    with pytest.raises(MemoryError, match="GPU ran out of memory"):
        SGDClassifier(batch_size=4, device="cuda").fit(X, y)
    with pytest.raises(MemoryError, match="GPU ran out of memory"):
        MLPClassifier(device="cuda").fit(X, y)


def test_cpu_use_never_imports_numba_cuda():
    code = (
        "import sys, numpy as np, fastsgd\n"
        "X = np.random.default_rng(0).normal(size=(30, 3)); y = np.arange(30) % 2\n"
        "fastsgd.SGDClassifier(batch_size=4, max_iter=2).fit(X, y).predict(X)\n"
        "fastsgd.MLPClassifier(max_iter=2).fit(X, y).predict(X)\n"
        "print(sorted(m for m in sys.modules if m.startswith('numba.cuda')))\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", code], capture_output=True,
            text=True, check=True, env=os.environ | {"PYTHONPATH": os.getcwd()},
        )  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout


def test_docs_gpu_example_runs():
    # docs/gpu.md's example, as written (ConvergenceWarning: it trains 3 epochs)
    page = (Path(__file__).parent.parent / "docs" / "gpu.md").read_text()
    example = page.split("```python\n", 1)[1].split("```", 1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(example, "docs/gpu.md", "exec"), {})
