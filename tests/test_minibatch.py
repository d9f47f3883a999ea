"""Mini-batch training (batch_size > 1, or momentum > 0) against references.

(a) The NumPy reference (``tests/reference.py``: mean gradient of each batch
    plus the penalty gradient, ``torch.optim.SGD``'s momentum rule, schedules
    counted in batches) for every loss, penalty and schedule, OvR, multinomial
    and regression, with sample and class weights, averaging, CSR input and
    ``partial_fit`` continuations; float64, ``rtol ~ 1e-10``.
(b) PyTorch itself: the same linear model in float64, the same batches, loss =
    mean of the per-sample losses (+ the penalty), ``torch.optim.SGD`` with
    ``momentum``, ``dampening`` and ``nesterov``.

All fits use ``shuffle=False`` and ``tol=None``, so the batches are the
consecutive slices of the data and every fit runs exactly ``max_iter`` epochs.
"""

import numpy as np
import pytest
import reference
import scipy.sparse as sp

from fastsgd import SGDClassifier, SGDRegressor

RTOL = 1e-10

# --------------------------------------------------------------------------
# Data and helpers
# --------------------------------------------------------------------------


def make_data(task, *, n=60, n_features=5, n_classes=3, seed=0, sparse=False):
    """Gaussian features with ~30% exact zeros; noisy linear labels.

    No row is all zeros: such a row scores exactly the intercept, and the
    perceptron's tie ``y * p == 0`` would then hang on the last bit of an
    intercept that is a sum of cancelling steps (rounding, not semantics).
    """
    rng = np.random.RandomState(seed)
    X = rng.randn(n, n_features) * 0.5
    X[rng.rand(n, n_features) < 0.3] = 0.0
    X[~X.any(axis=1), 0] = 0.3
    W = rng.randn(n_features, n_classes) * 2.0
    S = X @ W + 0.4 * rng.randn(n, n_classes)
    if task == "binary":
        y = (S[:, 0] > np.median(S[:, 0]) - 0.2).astype(np.int64)
    elif task in ("multiclass", "multinomial"):
        y = S.argmax(axis=1)
        assert len(np.unique(y)) == n_classes, "degenerate test data"
    else:
        y = S[:, 0] + 0.5
    if sparse:
        X = sp.csr_matrix(X)
    return X, y


def fastsgd_estimator(task, **params):
    params = {"shuffle": False, "tol": None, "n_jobs": 1, **params}
    if task == "regression":
        return SGDRegressor(**params)
    if task == "multinomial":
        params["multi_class"] = "multinomial"
    return SGDClassifier(**params)


def reference_kwargs(task, params):
    """fastsgd parameters -> ``reference.minibatch_sgd`` keyword arguments."""
    defaults = {
        "loss": "squared_error" if task == "regression" else "hinge",
        "penalty": "l2",
        "alpha": 1e-4,
        "l1_ratio": 0.15,
        "learning_rate": "invscaling" if task == "regression" else "optimal",
        "eta0": 0.01,
        "power_t": 0.25 if task == "regression" else 0.5,
        "epsilon": 0.1,
        "fit_intercept": True,
        "batch_size": 1,
        "momentum": 0.0,
        "dampening": 0.0,
        "nesterov": False,
        "average": 0,
    }
    kw = {k: params.get(k, v) for k, v in defaults.items()}
    kw["average"] = int(kw["average"])
    kw["n_epochs"] = params["max_iter"]
    return kw


def reference_targets(task, y, loss, sample_weight, class_weight, classes=None):
    """``(y_targets, weights, n_classes, classes)`` for the reference."""
    n = len(y)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    if task == "regression":
        return np.asarray(y, float), sw, None, None
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if task == "multinomial":
        labels = np.searchsorted(classes, y)
        cw = reference.resolve_class_weight(class_weight, classes, y)
        return labels, sw * cw[labels], len(classes), classes
    Y, W = reference.ovr_targets(y, classes, loss, sw, class_weight)
    return Y, W, None, classes


def reference_fit(
    task,
    X,
    y,
    params,
    sample_weight=None,
    coef_init=None,
    intercept_init=None,
    state=None,
    classes=None,
):
    """The reference's fit; ``classes`` (default ``np.unique(y)``) for slices."""
    kw = reference_kwargs(task, params)
    average = kw["average"]
    targets, weights, n_classes, _ = reference_targets(
        task, y, kw["loss"], sample_weight, params.get("class_weight"), classes
    )
    state = reference.minibatch_sgd(
        X,
        targets,
        task="ovr" if task in ("binary", "multiclass") else task,
        weights=weights,
        n_classes=n_classes,
        coef_init=coef_init,
        intercept_init=intercept_init,
        state=state,
        **kw,
    )
    coef, intercept = state.published(average)
    if task == "regression":
        coef = coef[0]
    return coef, intercept, state


def assert_close(got, want, label, rtol=RTOL):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (
        f"{label}: shape {got.shape}, reference {want.shape}"
    )
    assert np.all(np.isfinite(want)), f"{label}: the reference is not finite"
    scale = max(float(np.max(np.abs(want))), 1.0)
    err = float(np.max(np.abs(got - want)))
    assert err <= rtol * scale, (
        f"{label}: differs from the reference by {err:.3g} (allowed "
        f"{rtol * scale:.3g})\nfastsgd:   {got.ravel()}\nreference: {want.ravel()}"
    )


def _label(**kw):
    return ", ".join(f"{k}={v!r}" for k, v in kw.items())


# --------------------------------------------------------------------------
# (a) NumPy reference
# --------------------------------------------------------------------------

LOSSES = {
    "binary": reference.CLASSIFICATION_LOSSES + reference.REGRESSION_LOSSES,
    "multiclass": reference.CLASSIFICATION_LOSSES,
    "regression": reference.REGRESSION_LOSSES,
}
PENALTIES = ["l2", "l1", "elasticnet", None]
SCHEDULES = ["constant", "optimal", "invscaling", "adaptive"]
OPTIMIZERS = [
    dict(batch_size=8),
    dict(batch_size=7, momentum=0.9),
    dict(batch_size=16, momentum=0.5, dampening=0.3),
    dict(batch_size=13, momentum=0.8, nesterov=True),
]


def _grid():
    cases = []
    i = 0
    for task, losses in LOSSES.items():
        for loss in losses:
            for penalty in PENALTIES:
                schedule = SCHEDULES[i % 4]
                optimizer = OPTIMIZERS[(i // 4 + i) % 4]
                cases.append(
                    (
                        task,
                        dict(
                            loss=loss,
                            penalty=penalty,
                            learning_rate=schedule,
                            **optimizer,
                        ),
                    )
                )
                i += 1
    return cases


def _step_sizes(params):
    if params["learning_rate"] == "optimal":
        return {"alpha": 0.1}
    return {"alpha": 0.01, "eta0": 0.05}


@pytest.mark.parametrize("task,params", _grid(), ids=lambda v: str(v))
def test_grid_against_numpy_reference(task, params):
    """Every loss x penalty, cycling through schedules and momentum settings."""
    X, y = make_data(task)
    params = {"max_iter": 3, **_step_sizes(params), **params}
    est = fastsgd_estimator(task, **params).fit(X, y)
    coef, intercept, _ = reference_fit(task, X, y, params)
    label = _label(task=task, **params)
    assert_close(est.coef_, coef, f"{label}: coef_")
    assert_close(est.intercept_, intercept, f"{label}: intercept_")
    assert est.n_iter_ == params["max_iter"], f"{label}: n_iter_ {est.n_iter_}"
    assert est.t_ == 1 + params["max_iter"] * X.shape[0], f"{label}: t_ {est.t_}"


OPTION_CASES = {
    # multinomial softmax cross-entropy
    "multinomial": ("multinomial", dict(loss="log_loss", batch_size=8)),
    "multinomial-momentum": (
        "multinomial",
        dict(loss="log_loss", batch_size=7, momentum=0.9, nesterov=True),
    ),
    "multinomial-4-classes-l1": (
        "multinomial4",
        dict(
            loss="log_loss",
            batch_size=10,
            penalty="l1",
            learning_rate="optimal",
            alpha=0.1,
        ),
    ),
    "multinomial-batch-1": ("multinomial", dict(loss="log_loss", batch_size=1)),
    "multinomial-weights": (
        "multinomial",
        dict(
            loss="log_loss",
            batch_size=9,
            momentum=0.5,
            dampening=0.5,
            class_weight={0: 2.0, 2: 0.3},
        ),
        "sample_weight",
    ),
    "multinomial-balanced-csr": (
        "multinomial",
        dict(
            loss="log_loss",
            batch_size=12,
            class_weight="balanced",
            penalty="elasticnet",
        ),
        "sparse",
    ),
    "multinomial-average": (
        "multinomial",
        dict(loss="log_loss", batch_size=8, average=True, momentum=0.9),
    ),
    # per-sample momentum (batch_size=1 with momentum > 0 is the mini-batch rule)
    "batch-1-momentum-binary": (
        "binary",
        dict(loss="hinge", batch_size=1, momentum=0.9),
    ),
    "batch-1-nesterov-multi": (
        "multiclass",
        dict(
            loss="log_loss",
            batch_size=1,
            momentum=0.6,
            nesterov=True,
            penalty="elasticnet",
        ),
    ),
    "batch-1-dampening-reg": (
        "regression",
        dict(loss="huber", batch_size=1, momentum=0.5, dampening=0.9),
    ),
    # batch sizes: ragged last batch, one full batch, larger than the data
    "batch-full": (
        "regression",
        dict(loss="squared_error", batch_size=60, momentum=0.9, eta0=0.5),
    ),
    "batch-larger-than-data": (
        "binary",
        dict(loss="log_loss", batch_size=500, momentum=0.9, eta0=0.5),
    ),
    "batch-ragged-2": ("multiclass", dict(loss="modified_huber", batch_size=29)),
    # weights
    "class-weight-binary": (
        "binary",
        dict(loss="hinge", batch_size=8, class_weight={0: 0.3, 1: 3.0}),
    ),
    "class-weight-balanced-multi": (
        "multiclass",
        dict(loss="squared_hinge", batch_size=8, momentum=0.9, class_weight="balanced"),
    ),
    "sample-weight-binary": (
        "binary",
        dict(loss="log_loss", batch_size=8, momentum=0.9),
        "sample_weight",
    ),
    "sample-weight-zeros": (
        "regression",
        dict(loss="squared_error", batch_size=8, momentum=0.9),
        "zero_weights",
    ),
    "sample-and-class-weight": (
        "multiclass",
        dict(loss="hinge", batch_size=8, class_weight={1: 2.5}),
        "sample_weight",
    ),
    # averaging (counted in samples seen, published once reached)
    "average-true": (
        "regression",
        dict(loss="squared_error", batch_size=8, momentum=0.9, average=True),
    ),
    "average-int": (
        "multiclass",
        dict(loss="log_loss", batch_size=8, average=70, learning_rate="invscaling"),
    ),
    "average-int-mid-batch": (
        "binary",
        dict(loss="hinge", batch_size=8, average=13, momentum=0.5),
    ),
    "average-not-reached": (
        "binary",
        dict(loss="hinge", batch_size=8, average=10**6),
    ),
    # other settings
    "no-intercept": (
        "multiclass",
        dict(loss="hinge", batch_size=8, momentum=0.9, fit_intercept=False),
    ),
    "csr-binary": (
        "binary",
        dict(loss="log_loss", batch_size=8, momentum=0.9, penalty="l1"),
        "sparse",
    ),
    "csr-regression": (
        "regression",
        dict(
            loss="epsilon_insensitive",
            batch_size=5,
            nesterov=True,
            momentum=0.7,
            learning_rate="optimal",
            alpha=0.1,
        ),
        "sparse",
    ),
    "csr-multi-average": (
        "multiclass",
        dict(loss="squared_hinge", batch_size=8, average=True, momentum=0.9),
        "sparse",
    ),
    "power-t": (
        "regression",
        dict(
            loss="squared_error",
            batch_size=4,
            learning_rate="invscaling",
            eta0=0.2,
            power_t=0.7,
        ),
    ),
    "l1-ratio": (
        "binary",
        dict(loss="modified_huber", batch_size=8, penalty="elasticnet", l1_ratio=0.8),
    ),
    "epsilon": (
        "regression",
        dict(loss="huber", batch_size=6, epsilon=0.05, momentum=0.9),
    ),
    "string-labels": ("strings", dict(loss="hinge", batch_size=8, momentum=0.9)),
}


def _option_data(kind, extras):
    sparse = "sparse" in extras
    if kind == "multinomial4":
        task = "multinomial"
        X, y = make_data("multinomial", n_classes=4, n=80, sparse=sparse)
    elif kind == "strings":
        task = "multiclass"
        X, y = make_data("multiclass", sparse=sparse)
        y = np.array(["cat", "ant", "bee"])[y]
    else:
        task = kind
        X, y = make_data(kind, sparse=sparse)
    sw = None
    if "sample_weight" in extras or "zero_weights" in extras:
        sw = np.random.RandomState(1).uniform(0.2, 2.0, size=X.shape[0])
        if "zero_weights" in extras:
            sw[::3] = 0.0
    return task, X, y, sw


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_options_against_numpy_reference(name):
    kind, params, *extras = OPTION_CASES[name]
    task, X, y, sw = _option_data(kind, extras)
    params = {
        "max_iter": 4,
        "alpha": 0.01,
        "eta0": 0.05,
        "learning_rate": "constant",
        **params,
    }
    est = fastsgd_estimator(task, **params).fit(X, y, sample_weight=sw)
    coef, intercept, _ = reference_fit(task, X, y, params, sample_weight=sw)
    label = f"{name}: {_label(task=task, **params)}"
    assert_close(est.coef_, coef, f"{label}: coef_")
    assert_close(est.intercept_, intercept, f"{label}: intercept_")
    assert est.t_ == 1 + params["max_iter"] * X.shape[0], f"{label}: t_ {est.t_}"


def make_sparse_data(task, *, n=120, n_features=60, density=0.05, seed=3):
    """CSR data where a batch of 8 rows leaves most columns untouched."""
    rng = np.random.RandomState(seed)
    X = sp.random(n, n_features, density=density, format="csr", random_state=rng)
    X.data = rng.randn(X.nnz)
    X = X.tolil()
    X[np.flatnonzero(X.getnnz(axis=1) == 0), 0] = 0.5  # no empty row
    W = rng.randn(n_features, 3) * 2.0
    S = np.asarray(X @ W) + 0.2 * rng.randn(n, 3)
    if task == "binary":
        y = (S[:, 0] > np.median(S[:, 0])).astype(np.int64)
    elif task in ("multiclass", "multinomial"):
        y = S.argmax(axis=1)
    else:
        y = S[:, 0]
    return sp.csr_matrix(X), y


LAZY_CASES = {
    "l2-optimal": dict(loss="hinge", penalty="l2", learning_rate="optimal", alpha=0.1),
    "l2-invscaling": dict(loss="log_loss", penalty="l2", learning_rate="invscaling"),
    "no-penalty-adaptive": dict(
        loss="squared_hinge", penalty=None, learning_rate="adaptive"
    ),  # fmt: skip
    "l2-momentum": dict(loss="modified_huber", penalty="l2", momentum=0.9),
    "l2-nesterov": dict(loss="log_loss", penalty="l2", momentum=0.8, nesterov=True),
    "no-penalty-dampening": dict(
        loss="hinge", penalty=None, momentum=0.5, dampening=0.3
    ),  # fmt: skip
    # 1 - eta0 * alpha = 1e-8 per step: the O(nnz) kernel's scale of the
    # weights falls below its floor (1e-9) every other step and is folded in
    "l2-folded": dict(
        loss="hinge", penalty="l2", eta0=1.0, alpha=1.0 - 1e-8, batch_size=4
    ),  # fmt: skip
    "l1-optimal": dict(
        loss="log_loss", penalty="l1", learning_rate="optimal", alpha=0.05
    ),  # fmt: skip
    "elasticnet-averaged": dict(
        loss="hinge", penalty="elasticnet", l1_ratio=0.4, average=20
    ),  # fmt: skip
    "elasticnet-momentum": dict(
        loss="modified_huber", penalty="elasticnet", momentum=0.9
    ),  # fmt: skip
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "multinomial", "regression"])
@pytest.mark.parametrize("name", list(LAZY_CASES))
def test_sparse_minibatch_catch_up_against_numpy_reference(name, task):
    """CSR mini-batches step only the weights their rows touch (the O(nnz)
    kernels, ``cpu_sparse``) and bring the others up to date in closed form:
    the NumPy reference steps every weight at every batch."""
    X, y = make_sparse_data(task)
    params = {"max_iter": 3, "batch_size": 8, "alpha": 0.01, "eta0": 0.05,
              "learning_rate": "constant", **LAZY_CASES[name]}  # fmt: skip
    if task == "multinomial":
        params["loss"] = "log_loss"
    elif task == "regression":
        params["loss"] = "squared_error"
    est = fastsgd_estimator(task, **params).fit(X, y)
    coef, intercept, _ = reference_fit(task, X, y, params)
    label = f"{name}: {_label(task=task, **params)}"
    assert_close(est.coef_, coef, f"{label}: coef_")
    assert_close(est.intercept_, intercept, f"{label}: intercept_")


@pytest.mark.parametrize("task", ["binary", "multinomial", "regression"])
def test_coef_init_with_momentum(task):
    X, y = make_data(task)
    n_heads = 1 if task != "multinomial" else 3
    rng = np.random.RandomState(4)
    coef_init = rng.randn(n_heads, X.shape[1])
    intercept_init = rng.randn(n_heads)
    params = dict(
        loss="log_loss" if task != "regression" else "squared_error",
        batch_size=8,
        momentum=0.9,
        nesterov=True,
        alpha=0.01,
        eta0=0.05,
        learning_rate="constant",
        max_iter=3,
    )
    est = fastsgd_estimator(task, **params)
    fit_coef = coef_init.ravel() if task == "regression" else coef_init
    est.fit(X, y, coef_init=fit_coef, intercept_init=intercept_init)
    coef, intercept, _ = reference_fit(
        task, X, y, params, coef_init=coef_init, intercept_init=intercept_init
    )
    assert_close(est.coef_, coef, f"{task}: coef_ from coef_init")
    assert_close(est.intercept_, intercept, f"{task}: intercept_ from intercept_init")


@pytest.mark.parametrize(
    "task,params",
    [
        (
            "regression",
            dict(
                loss="squared_error",
                momentum=0.9,
                nesterov=True,
                learning_rate="invscaling",
                average=25,
            ),
        ),
        (
            "multiclass",
            dict(
                loss="hinge",
                momentum=0.5,
                dampening=0.2,
                learning_rate="optimal",
                alpha=0.1,
            ),
        ),
        ("multinomial", dict(loss="log_loss", momentum=0.9, average=True)),
        (
            "binary",
            dict(loss="modified_huber", momentum=0.9, penalty="l1", sparse=True),
        ),
    ],
    ids=str,
)
def test_partial_fit_continues_optimizer_state(task, params):
    """partial_fit calls on slices (multiples of batch_size): the momentum
    buffers, step count, schedule and average continue from call to call."""
    params = dict(params)
    X, y = make_data(task, sparse=params.pop("sparse", False))
    params = {
        "alpha": 0.01,
        "eta0": 0.05,
        "learning_rate": "constant",
        "batch_size": 6,
        **params,
    }
    est = fastsgd_estimator(task, **params)
    classes = None if task == "regression" else {"classes": np.unique(y)}
    state = None
    label = _label(task=task, **params)
    for call, (lo, hi) in enumerate([(0, 18), (18, 24), (24, 60), (0, 30), (30, 60)]):
        est.partial_fit(X[lo:hi], y[lo:hi], **(classes or {}))
        coef, intercept, state = reference_fit(
            task,
            X[lo:hi],
            y[lo:hi],
            {**params, "max_iter": 1},
            state=state,
            classes=None if classes is None else classes["classes"],
        )
        assert_close(
            est.coef_, coef, f"{label}: coef_ after partial_fit call {call + 1}"
        )
        assert_close(
            est.intercept_,
            intercept,
            f"{label}: intercept_ after partial_fit call {call + 1}",
        )


def test_partial_fit_multinomial_with_missing_classes():
    """A partial_fit slice need not contain every class (labels map to classes)."""
    X, y = make_data("multinomial", n=60)
    order = np.argsort(y, kind="stable")  # slices with 1-2 classes only
    X, y = X[order], y[order]
    params = dict(
        loss="log_loss",
        batch_size=5,
        momentum=0.9,
        alpha=0.01,
        eta0=0.05,
        learning_rate="constant",
    )
    est = fastsgd_estimator("multinomial", **params)
    classes = np.unique(y)
    state = None
    kw = reference_kwargs("multinomial", {**params, "max_iter": 1})
    for lo, hi in [(0, 20), (20, 40), (40, 60)]:
        est.partial_fit(X[lo:hi], y[lo:hi], classes=classes)
        state = reference.minibatch_sgd(
            X[lo:hi],
            np.searchsorted(classes, y[lo:hi]),
            task="multinomial",
            n_classes=3,
            state=state,
            **kw,
        )
    assert_close(
        est.coef_, state.coef, "multinomial partial_fit on sorted slices: coef_"
    )
    assert_close(
        est.intercept_,
        state.intercept,
        "multinomial partial_fit on sorted slices: intercept_",
    )


def _reference_with_stopping(task, X, y, params, sample_weight):
    """The trainer's stopping rules around the reference, one epoch at a time.

    scikit-learn's rule: an epoch is "no improvement" when the objective
    (mean unweighted loss over the epoch + penalty of the weights after it)
    is above ``best - tol``, or, with ``early_stopping``, when the
    validation score (accuracy / R^2 of the held-out split, weighted) is
    below ``best + tol``; after ``n_iter_no_change`` of them, 'adaptive'
    divides the rate by 5 (while it is above 1e-6), other schedules stop.
    The split is scikit-learn's ``(Stratified)ShuffleSplit``.
    """
    from sklearn.metrics import r2_score
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    mask = np.zeros(n, dtype=bool)
    if params.get("early_stopping"):
        splitter = ShuffleSplit if task == "regression" else StratifiedShuffleSplit
        cv = splitter(
            test_size=params.get("validation_fraction", 0.1),
            random_state=params.get("random_state"),
        )
        _, val = next(cv.split(np.zeros((n, 1)), y))
        mask[val] = True
    train = np.flatnonzero(~mask)
    classes = None if task == "regression" else np.unique(y)
    kw = reference_kwargs(task, params)
    targets, weights, n_classes, _ = reference_targets(
        task, y, kw["loss"], sw, params.get("class_weight"), classes
    )
    kw.pop("n_epochs")
    tol = params["tol"]
    eta = kw.pop("eta0")
    best = -np.inf if params.get("early_stopping") else np.inf
    no_improvement = 0
    state = None
    for epoch in range(1, params["max_iter"] + 1):
        n_iter = epoch
        state = reference.minibatch_sgd(
            X[train],
            targets[train],
            task="ovr" if task in ("binary", "multiclass") else task,
            weights=weights[train],
            n_classes=n_classes,
            state=state,
            eta0=eta,
            n_epochs=1,
            **kw,
        )
        if params.get("early_stopping"):
            scores = X[mask] @ state.coef.T + state.intercept
            if task == "regression":
                value = r2_score(y[mask], scores[:, 0], sample_weight=sw[mask])
            elif task == "multinomial":
                value = np.average(
                    scores.argmax(axis=1) == targets[mask], weights=sw[mask]
                )
            else:
                value = np.average(
                    (scores[:, 0] > 0) == (y[mask] == classes[1]), weights=sw[mask]
                )
            worse = value < best + tol
            best = max(best, value)
        else:
            value = state.loss_sum.sum() / len(train) + reference.penalty_value(
                kw["penalty"], kw["alpha"], kw["l1_ratio"], state.coef
            )
            worse = value > best - tol
            best = min(best, value)
        no_improvement = no_improvement + 1 if worse else 0
        if no_improvement >= params["n_iter_no_change"]:
            if kw["learning_rate"] == "adaptive" and eta > 1e-6:
                eta /= 5.0
                no_improvement = 0
            else:
                break
    coef, intercept = state.published(kw["average"])
    if task == "regression":
        coef = coef[0]
    return coef, intercept, n_iter


STOPPING_CASES = [
    ("regression", dict(loss="squared_error", batch_size=8, momentum=0.9)),
    (
        "regression",
        dict(
            loss="huber", batch_size=5, learning_rate="adaptive", penalty="elasticnet"
        ),
    ),
    (
        "binary",
        dict(
            loss="hinge", batch_size=6, momentum=0.5, learning_rate="optimal", alpha=0.1
        ),
    ),
    (
        "binary",
        dict(loss="log_loss", batch_size=4, learning_rate="adaptive", average=True),
    ),
    (
        "multinomial",
        dict(
            loss="log_loss",
            batch_size=8,
            momentum=0.9,
            nesterov=True,
            learning_rate="invscaling",
            eta0=0.3,
        ),
    ),
    (
        "multinomial",
        dict(
            loss="log_loss",
            batch_size=3,
            learning_rate="adaptive",
            penalty="l1",
            sample_weight=True,
        ),
    ),
]


@pytest.mark.parametrize(
    "early_stopping", [False, True], ids=["objective", "early-stopping"]
)
@pytest.mark.parametrize(
    "task,params", STOPPING_CASES, ids=[_label(t=t, **p) for t, p in STOPPING_CASES]
)
def test_stopping_rules_against_numpy_reference(task, params, early_stopping):
    """tol / n_iter_no_change / adaptive / early_stopping with mini-batches:
    the same epoch count, the same weights, t_ counting every sample."""
    params = dict(params)
    X, y = make_data(task, n=80)
    sw = None
    if params.pop("sample_weight", False):
        sw = np.random.RandomState(1).uniform(0.2, 2.0, size=len(y))
    params = {
        "alpha": 0.01,
        "eta0": 0.05,
        "learning_rate": "constant",
        "tol": 1e-3 if early_stopping else 1e-4,
        "n_iter_no_change": 3,
        "max_iter": 300,
        "early_stopping": early_stopping,
        "validation_fraction": 0.2,
        "random_state": 2,
        **params,
    }
    est = fastsgd_estimator(task, **params).fit(X, y, sample_weight=sw)
    coef, intercept, n_iter = _reference_with_stopping(task, X, y, params, sw)
    label = _label(task=task, **params)
    assert n_iter < params["max_iter"], f"{label}: the stopping rule never fired"
    assert est.n_iter_ == n_iter, (
        f"{label}: stopped after {est.n_iter_} epochs, the reference after {n_iter}"
    )
    assert est.t_ == 1 + n_iter * X.shape[0], f"{label}: t_ {est.t_}"
    assert_close(est.coef_, coef, f"{label}: coef_")
    assert_close(est.intercept_, intercept, f"{label}: intercept_")


def test_reference_is_plain_sgd_without_momentum():
    """Sanity check of the reference itself: batch_size=n, momentum=0 and
    squared error is full-batch gradient descent on the least-squares loss."""
    X, y = make_data("regression")
    X = np.asarray(X)
    state = reference.minibatch_sgd(
        X,
        y,
        task="regression",
        loss="squared_error",
        penalty="l2",
        alpha=0.1,
        learning_rate="constant",
        eta0=0.3,
        batch_size=len(y),
        n_epochs=5,
    )
    w = np.zeros(X.shape[1])
    b = 0.0
    for _ in range(5):
        r = X @ w + b - y
        w, b = w - 0.3 * (X.T @ r / len(y) + 0.1 * w), b - 0.3 * r.mean()
    np.testing.assert_allclose(
        state.coef[0], w, rtol=1e-12, err_msg="reference != full-batch gradient descent"
    )
    np.testing.assert_allclose(state.intercept[0], b, rtol=1e-12)


# --------------------------------------------------------------------------
# (b) PyTorch
# --------------------------------------------------------------------------

try:  # a test dependency (pyproject's [test] extra); only this section needs it
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


def torch_fit(
    X,
    y,
    *,
    kind,
    batch_size,
    n_epochs,
    lr_at,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    penalty="l2",
    alpha=0.0,
    l1_ratio=0.15,
    epsilon=0.1,
    n_heads=1,
    sample_weight=None,
    fit_intercept=True,
):
    """A linear model trained by ``torch.optim.SGD`` on consecutive batches.

    ``kind``: 'squared_error', 'huber' (regression), 'log_loss' (one logistic
    head, y in {0, 1}), 'multinomial' (softmax cross-entropy). The loss of a
    batch is the mean of ``sample_weight_i * loss_i`` plus the L2 part of the
    penalty ``alpha * (1 - r) / 2 ||W||^2`` (the intercept is never
    penalised); after each ``opt.step()`` the L1 part ``alpha * r ||W||_1`` is
    applied as scikit-learn's cumulative penalty (Tsuruoka et al.), in torch:
    the total ``u`` grows by ``lr * alpha * r`` and each weight moves toward
    zero by what it has not received yet, without crossing it (the data is
    dense: every weight is touched). ``lr_at(t, b)`` sets the learning rate
    of the step over the ``b`` samples ``t .. t + b - 1`` (``t``: samples
    seen before, plus one).
    """
    X = torch.tensor(np.asarray(X), dtype=torch.float64)
    n, n_features = X.shape
    if kind == "multinomial":
        y = torch.tensor(np.asarray(y), dtype=torch.int64)
    else:
        y = torch.tensor(np.asarray(y), dtype=torch.float64)
    sw = (
        torch.ones(n, dtype=torch.float64)
        if sample_weight is None
        else torch.tensor(np.asarray(sample_weight), dtype=torch.float64)
    )
    W = torch.zeros(n_heads, n_features, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_heads, dtype=torch.float64, requires_grad=fit_intercept)
    params = [W, b] if fit_intercept else [W]
    opt = torch.optim.SGD(
        params, lr=1.0, momentum=momentum, dampening=dampening, nesterov=nesterov
    )
    r = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(penalty, l1_ratio)
    u = 0.0  # the cumulative L1 penalty, and what each weight received
    q = torch.zeros(n_heads, n_features, dtype=torch.float64)
    seen = 0
    for _ in range(n_epochs):
        for start in range(0, n, batch_size):
            xb, yb, wb = (
                X[start : start + batch_size],
                y[start : start + batch_size],
                sw[start : start + batch_size],
            )
            scores = xb @ W.T + b
            if kind == "squared_error":
                per_sample = 0.5 * (scores[:, 0] - yb) ** 2
            elif kind == "huber":
                per_sample = torch.nn.functional.huber_loss(
                    scores[:, 0], yb, reduction="none", delta=epsilon
                )
            elif kind == "log_loss":
                per_sample = torch.nn.functional.binary_cross_entropy_with_logits(
                    scores[:, 0], yb, reduction="none"
                )
            elif kind == "multinomial":
                per_sample = torch.nn.functional.cross_entropy(
                    scores, yb, reduction="none"
                )
            else:
                raise ValueError(kind)
            objective = (wb * per_sample).mean()
            if penalty is not None:
                objective = objective + alpha * (1.0 - r) * 0.5 * (W**2).sum()
            opt.zero_grad()
            objective.backward()
            lr = lr_at(seen + 1, len(xb))
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            if penalty is not None and r > 0.0:
                with torch.no_grad():
                    u += lr * alpha * r
                    z = W.detach().clone()
                    shrunk = torch.where(
                        z > 0, torch.clamp(z - (u + q), min=0.0),
                        torch.where(z < 0, torch.clamp(z + (u - q), max=0.0), z),
                    )  # fmt: skip
                    q += shrunk - z
                    W.copy_(shrunk)
            seen += len(xb)
    return W.detach().numpy(), b.detach().numpy()


TORCH_OPTIMIZERS = {
    "momentum": dict(momentum=0.9),
    "dampening": dict(momentum=0.7, dampening=0.4),
    "nesterov": dict(momentum=0.9, nesterov=True),
    "plain": dict(),
}


def _lr_at(schedule, eta0, alpha, power_t, loss):
    t0 = reference.optimal_t0(alpha, loss) if schedule == "optimal" else 0.0
    return lambda t, b: reference.batch_learning_rate(
        schedule, t, b, eta0=eta0, alpha=alpha, power_t=power_t, t0=t0
    )


@needs_torch
@pytest.mark.parametrize("optimizer", list(TORCH_OPTIMIZERS))
@pytest.mark.parametrize(
    "loss,penalty,schedule",
    [
        ("squared_error", "l2", "constant"),
        ("squared_error", "elasticnet", "invscaling"),
        ("huber", None, "constant"),
    ],
)
def test_regressor_against_torch(loss, penalty, schedule, optimizer):
    X, y = make_data("regression")
    X = np.asarray(X)
    opt = TORCH_OPTIMIZERS[optimizer]
    params = dict(
        loss=loss,
        penalty=penalty,
        learning_rate=schedule,
        alpha=0.01,
        eta0=0.05,
        power_t=0.3,
        batch_size=7,
        max_iter=4,
        epsilon=0.3,
        **opt,
    )
    est = fastsgd_estimator("regression", **params).fit(X, y)
    W, b = torch_fit(
        X,
        y,
        kind=loss,
        batch_size=7,
        n_epochs=4,
        penalty=penalty,
        alpha=0.01,
        epsilon=0.3,
        lr_at=_lr_at(schedule, 0.05, 0.01, 0.3, loss),
        **opt,
    )
    label = _label(**params)
    assert_close(est.coef_, W[0], f"{label}: coef_ vs torch.optim.SGD")
    assert_close(est.intercept_, b, f"{label}: intercept_ vs torch.optim.SGD")


@needs_torch
@pytest.mark.parametrize("optimizer", list(TORCH_OPTIMIZERS))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_logistic_against_torch(optimizer, weighted):
    X, y = make_data("binary")
    X = np.asarray(X)
    opt = TORCH_OPTIMIZERS[optimizer]
    sw = np.random.RandomState(2).uniform(0.2, 2.0, len(y)) if weighted else None
    params = dict(
        loss="log_loss",
        penalty="l2",
        learning_rate="optimal",
        alpha=0.1,
        batch_size=8,
        max_iter=3,
        **opt,
    )
    est = fastsgd_estimator("binary", **params).fit(X, y, sample_weight=sw)
    W, b = torch_fit(
        X,
        y.astype(float),
        kind="log_loss",
        batch_size=8,
        n_epochs=3,
        penalty="l2",
        alpha=0.1,
        sample_weight=sw,
        lr_at=_lr_at("optimal", 0.0, 0.1, 0.5, "log_loss"),
        **opt,
    )
    label = _label(weighted=weighted, **params)
    assert_close(est.coef_, W, f"{label}: coef_ vs torch.optim.SGD")
    assert_close(est.intercept_, b, f"{label}: intercept_ vs torch.optim.SGD")


@needs_torch
@pytest.mark.parametrize("optimizer", list(TORCH_OPTIMIZERS))
@pytest.mark.parametrize("penalty", ["l2", "l1", None], ids=str)
def test_multinomial_against_torch(optimizer, penalty):
    X, y = make_data("multinomial", n=70)
    X = np.asarray(X)
    opt = TORCH_OPTIMIZERS[optimizer]
    params = dict(
        loss="log_loss",
        penalty=penalty,
        learning_rate="invscaling",
        eta0=0.2,
        power_t=0.5,
        alpha=0.01,
        batch_size=9,
        max_iter=4,
        **opt,
    )
    est = fastsgd_estimator("multinomial", **params).fit(X, y)
    W, b = torch_fit(
        X,
        y,
        kind="multinomial",
        n_heads=3,
        batch_size=9,
        n_epochs=4,
        penalty=penalty,
        alpha=0.01,
        lr_at=_lr_at("invscaling", 0.2, 0.01, 0.5, "log_loss"),
        **opt,
    )
    label = _label(**params)
    assert_close(est.coef_, W, f"{label}: coef_ vs torch.optim.SGD")
    assert_close(est.intercept_, b, f"{label}: intercept_ vs torch.optim.SGD")


@needs_torch
def test_no_intercept_against_torch():
    X, y = make_data("regression")
    X = np.asarray(X)
    params = dict(
        loss="squared_error",
        learning_rate="constant",
        eta0=0.05,
        alpha=0.01,
        batch_size=10,
        max_iter=3,
        momentum=0.9,
        nesterov=True,
        fit_intercept=False,
    )
    est = fastsgd_estimator("regression", **params).fit(X, y)
    W, b = torch_fit(
        X,
        y,
        kind="squared_error",
        batch_size=10,
        n_epochs=3,
        penalty="l2",
        alpha=0.01,
        lr_at=lambda t, b: 0.05,
        momentum=0.9,
        nesterov=True,
        fit_intercept=False,
    )
    assert_close(est.coef_, W[0], "fit_intercept=False: coef_ vs torch.optim.SGD")
    assert np.all(est.intercept_ == 0.0), (
        f"fit_intercept=False trained an intercept: {est.intercept_}"
    )
