"""fastsgd on a ``dask.distributed`` cluster: ``Incremental`` and parameter mixing.

One ``LocalCluster`` of two worker processes (one thread each) serves the
module. The references are in-memory: the estimator's own ``partial_fit``
over the same blocks in the same order (the single-machine path, not the
code under test), and ``reference.minibatch_sgd`` (float64 NumPy, written
from the definitions) for the averaging of the linear models' state.
"""

import copy
import logging
import pickle
import warnings

import numpy as np
import pytest
import reference
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

import fastsgd

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

from fastsgd.dask import fit_parameter_mixing  # noqa: E402  (after the skips)

N_SAMPLES, N_FEATURES, CHUNK = 400, 6, 100


def make_estimator(name, **params):
    """The four estimators, small and seeded (the MLPs with one small layer)."""
    base = {
        "SGDClassifier": lambda: fastsgd.SGDClassifier(loss="log_loss"),
        "SGDRegressor": lambda: fastsgd.SGDRegressor(),
        "MLPClassifier": lambda: fastsgd.MLPClassifier(hidden_layer_sizes=(5,)),
        "MLPRegressor": lambda: fastsgd.MLPRegressor(hidden_layer_sizes=(5,)),
    }[name]()
    return base.set_params(**{"random_state": 0, **params})


ESTIMATORS = ["SGDClassifier", "SGDRegressor", "MLPClassifier", "MLPRegressor"]


def is_classifier_name(name):
    return name.endswith("Classifier")


def data(name, n_samples=N_SAMPLES, seed=0):
    """Standardised features; class labels or a noisy linear target."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, N_FEATURES)
    score = X @ rng.randn(N_FEATURES) + 0.3 * rng.randn(n_samples)
    if is_classifier_name(name):
        return X, (score > 0).astype(np.int64)
    return X, score / np.std(score)


def fit_kwargs(name):
    return {"classes": np.array([0, 1])} if is_classifier_name(name) else {}


def parameters(est):
    """Every fitted parameter of ``est``, flattened in a fixed order."""
    if hasattr(est, "coefs_"):
        arrays = list(est.coefs_) + list(est.intercepts_)
    else:
        arrays = [est.coef_, est.intercept_]
    return np.concatenate([np.ravel(a) for a in arrays])


def blockwise_partial_fit(est, X, y, order, kwargs, n_passes=1):
    """The single-machine path: ``partial_fit`` over row blocks in ``order``."""
    for _ in range(n_passes):
        for b in order:
            rows = slice(b * CHUNK, (b + 1) * CHUNK)
            est.partial_fit(X[rows], y[rows], **kwargs)
    return est


@pytest.fixture(scope="module")
def client():
    """A two-process cluster for the module; its kernels compiled here first.

    Compiling in this process first (tiny fits of every configuration the
    tests use) fills the Numba cache that the workers inherit through
    ``NUMBA_CACHE_DIR``, so that they load the kernels instead of compiling
    them twice in parallel.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in ESTIMATORS:
            X, y = data(name, n_samples=20)
            make_estimator(name).partial_fit(X, y, **fit_kwargs(name)).predict(X)
        X, y = data("SGDClassifier", n_samples=20)
        for params in ({"batch_size": 8, "momentum": 0.9}, {"solver": "adam"}):
            name = "SGDClassifier" if "momentum" in params else "MLPClassifier"
            make_estimator(name, **params).partial_fit(X, y, classes=[0, 1])
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster) as client:
        # both workers registered before the tests read the worker list
        client.wait_for_workers(2, timeout=120)
        yield client


@pytest.fixture(scope="module")
def workers(client):
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def test_no_client_is_a_clear_error():
    """Outside the cluster fixture no client is current."""
    try:
        distributed.get_client()
    except ValueError:
        pass
    else:
        pytest.skip("a client of another test module is still open")
    X, y = data("SGDRegressor")
    with pytest.raises(ValueError, match="needs a dask.distributed Client"):
        fit_parameter_mixing(make_estimator("SGDRegressor"), X, y)


# --------------------------------------------------------------------------
# dask_ml.wrappers.Incremental
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_incremental_trains_the_blockwise_partial_fit_model(client, name):
    X, y = data(name)
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, CHUNK)
    kwargs = fit_kwargs(name)
    inc = dask_ml_wrappers.Incremental(make_estimator(name), shuffle_blocks=False)
    inc.fit(Xd, yd, **kwargs)  # fit kwargs (classes=) reach every partial_fit
    ref = blockwise_partial_fit(make_estimator(name), X, y, range(4), kwargs)
    assert type(inc.estimator_) is type(ref)
    assert_allclose(parameters(inc.estimator_), parameters(ref), rtol=1e-12, atol=0)
    assert inc.estimator_.t_ == ref.t_
    assert_allclose(inc.estimator_.loss_curve_, ref.loss_curve_, rtol=1e-12)
    # blockwise predict, score on dask arrays, copies of the fitted wrapper
    prediction = inc.predict(Xd)
    assert isinstance(prediction, da.Array)
    assert_allclose(prediction.compute(), ref.predict(X), rtol=1e-12)
    assert inc.score(Xd, yd) == pytest.approx(ref.score(X, y), rel=1e-12)
    if is_classifier_name(name):
        assert_allclose(inc.predict_proba(Xd).compute(), ref.predict_proba(X))
    for copied in (copy.deepcopy(inc), pickle.loads(pickle.dumps(inc))):
        assert_allclose(copied.predict(X), ref.predict(X), rtol=1e-12)


def test_incremental_shuffled_blocks_follow_its_seeded_order(client):
    name = "SGDRegressor"
    X, y = data(name)
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, CHUNK)
    inc = dask_ml_wrappers.Incremental(
        make_estimator(name, batch_size=16, momentum=0.5), random_state=3
    ).fit(Xd, yd)
    order = list(range(4))
    check_random_state(3).shuffle(order)  # dask_ml's _partial.fit draws it so
    assert order != sorted(order)
    ref = blockwise_partial_fit(
        make_estimator(name, batch_size=16, momentum=0.5), X, y, order, {}
    )
    assert_allclose(parameters(inc.estimator_), parameters(ref), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------
# Parameter mixing: exact cases
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ESTIMATORS)
def test_mixing_one_partition_one_worker_is_partial_fit_rounds(client, workers, name):
    X, y = data(name)
    mixed = fit_parameter_mixing(
        make_estimator(name), X, y, n_rounds=3, workers=workers[:1]
    )
    ref = make_estimator(name)
    for _ in range(3):
        ref.partial_fit(X, y, **fit_kwargs(name))
    assert_array_equal(parameters(mixed), parameters(ref))
    assert mixed.t_ == ref.t_
    assert mixed.loss_curve_ == ref.loss_curve_
    assert mixed.n_iter_ == 3


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("SGDClassifier", {"batch_size": 8, "momentum": 0.9}),
        ("MLPClassifier", {"solver": "adam"}),
    ],
)
def test_mixing_on_one_worker_is_blockwise_partial_fit(client, workers, name, params):
    """All four partitions on one worker, in order: no averaging happens."""
    X, y = data(name)
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, CHUNK)
    mixed = fit_parameter_mixing(
        make_estimator(name, **params), Xd, yd, n_rounds=2, shuffle_blocks=False,
        workers=workers[:1],
    )  # fmt: skip
    ref = blockwise_partial_fit(
        make_estimator(name, **params), X, y, range(4), fit_kwargs(name), n_passes=2
    )
    assert_array_equal(parameters(mixed), parameters(ref))
    assert mixed.t_ == ref.t_


@pytest.mark.parametrize("name", ["Perceptron", "SGDOneClassSVM"])
def test_mixing_trains_the_perceptron_and_the_one_class_svm(client, workers, name):
    """One partition on one worker: ``partial_fit`` rounds exactly (the
    one-class SVM without targets); two workers: a fitted model."""
    X, y = data("SGDClassifier")
    one_class = name == "SGDOneClassSVM"
    target = None if one_class else y
    kwargs = {} if one_class else {"classes": np.array([0, 1])}
    estimator = getattr(fastsgd, name)(random_state=0, max_iter=5)
    mixed = fit_parameter_mixing(estimator, X, target, n_rounds=3,
                                 workers=workers[:1])  # fmt: skip
    ref = clone(estimator)
    for _ in range(3):
        ref.partial_fit(X, target, **kwargs)
    assert type(mixed) is type(ref)
    assert_array_equal(mixed.coef_, ref.coef_)
    offset = "offset_" if one_class else "intercept_"
    assert_array_equal(getattr(mixed, offset), getattr(ref, offset))
    assert mixed.t_ == ref.t_
    Xd = da.from_array(X, chunks=(CHUNK, N_FEATURES))
    yd = None if one_class else da.from_array(y, CHUNK)
    two = fit_parameter_mixing(estimator, Xd, yd, n_rounds=2, workers=workers)
    assert np.isfinite(two.coef_).all() and two.n_iter_ == 2
    assert_array_equal(np.unique(two.predict(X)), [-1, 1] if one_class else [0, 1])


def _average(states, fractions, name):
    return sum(f * getattr(s, name) for f, s in zip(fractions, states, strict=True))


def test_mixing_averages_weights_momentum_and_asgd_state(client, workers):
    """Two workers, three rounds, against ``reference.minibatch_sgd``.

    Partitions of 150 + 50 rows go to the first worker, 100 + 100 to the
    second (contiguous runs of about equal rows, workers in address order).
    The documented rules: weights, intercepts, momentum buffers and averaged
    weights are averaged with the workers' sample shares; the sample counter
    adds up; the step and averaging counters are the largest.
    """
    params = dict(
        batch_size=16, momentum=0.9, learning_rate="invscaling", eta0=0.02,
        power_t=0.25, average=150, shuffle=False, alpha=1e-3,
    )  # fmt: skip
    X, y = data("SGDRegressor")
    chunks = (150, 50, 100, 100)
    Xd, yd = da.from_array(X, chunks=(chunks, N_FEATURES)), da.from_array(y, (chunks,))
    mixed = fit_parameter_mixing(
        make_estimator("SGDRegressor", **params), Xd, yd, n_rounds=3,
        shuffle_blocks=False, workers=workers,
    )  # fmt: skip

    kw = dict(
        task="regression", loss="squared_error", penalty="l2", alpha=1e-3,
        learning_rate="invscaling", eta0=0.02, power_t=0.25, batch_size=16,
        momentum=0.9, average=150,
    )  # fmt: skip
    edges = np.cumsum((0,) + chunks)
    blocks = [slice(edges[i], edges[i + 1]) for i in range(4)]
    local = [blocks[:2], blocks[2:]]
    state = None
    for _ in range(3):
        start = 0 if state is None else state.samples_seen
        states = []
        for worker_blocks in local:
            s = copy.deepcopy(state)
            for rows in worker_blocks:
                s = reference.minibatch_sgd(X[rows], y[rows], state=s, **kw)
            states.append(s)
        fractions = [0.5, 0.5]  # 200 rows each
        state = copy.deepcopy(states[0])
        for field in ("coef", "intercept", "coef_buf", "intercept_buf",
                      "avg_coef", "avg_intercept"):  # fmt: skip
            setattr(state, field, _average(states, fractions, field))
        state.samples_seen = start + sum(s.samples_seen - start for s in states)
        state.n_steps = max(s.n_steps for s in states)
        state.n_averaged = max(s.n_averaged for s in states)
    coef, intercept = state.published(150)
    assert state.n_averaged > 0  # the averaged weights are the ones published
    assert_allclose(mixed.coef_, coef[0], rtol=1e-10, atol=1e-12)
    assert_allclose(mixed.intercept_, intercept, rtol=1e-10, atol=1e-12)
    assert mixed.t_ == state.samples_seen + 1 == 3 * N_SAMPLES + 1


def test_mixing_weights_the_average_by_samples(client, workers):
    """One round on 300 + 100 rows: the MLP weights are the 3:1 average."""
    name = "MLPRegressor"
    X, y = data(name)
    Xd, yd = (
        da.from_array(X, chunks=((300, 100), N_FEATURES)),
        da.from_array(y, ((300, 100),)),
    )
    mixed = fit_parameter_mixing(
        make_estimator(name), Xd, yd, n_rounds=1, workers=workers
    )
    first = make_estimator(name).partial_fit(X[:300], y[:300])
    second = make_estimator(name).partial_fit(X[300:], y[300:])
    want = 0.75 * parameters(first) + 0.25 * parameters(second)
    assert_allclose(parameters(mixed), want, rtol=1e-12, atol=1e-15)
    assert mixed.t_ == N_SAMPLES
    assert mixed.loss_curve_ == pytest.approx(
        [0.75 * first.loss_curve_[-1] + 0.25 * second.loss_curve_[-1]]
    )


# --------------------------------------------------------------------------
# Parameter mixing: accuracy against single-machine training
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classification_split():
    X, y = make_classification(
        3000, 20, n_informative=6, n_redundant=4, class_sep=1.0, random_state=0
    )
    return X[:2000], y[:2000], X[2000:], y[2000:]


@pytest.mark.parametrize(
    ("estimator", "epochs", "single_params"),
    [
        pytest.param(
            fastsgd.SGDClassifier(
                loss="log_loss",
                batch_size=32,
                momentum=0.9,
                learning_rate="constant",
                eta0=0.002,
                random_state=0,
            ),
            30,
            {"tol": None},
            id="SGDClassifier-momentum",
        ),
        pytest.param(
            fastsgd.MLPClassifier(
                hidden_layer_sizes=(16,),
                solver="adam",
                learning_rate_init=0.01,
                random_state=0,
            ),
            60,
            {"tol": 0.0, "n_iter_no_change": 10**6},
            id="MLPClassifier-adam",
        ),
    ],
)
def test_mixing_reaches_single_machine_accuracy(
    client, classification_split, estimator, epochs, single_params
):
    """Two workers, as many rounds as the single machine's epochs: held-out
    accuracy within one point (the issue's criterion)."""
    X, y, X_test, y_test = classification_split
    Xd, yd = da.from_array(X, chunks=(500, 20)), da.from_array(y, 500)
    mixed = fit_parameter_mixing(estimator, Xd, yd, n_rounds=epochs, random_state=0)
    single = clone(estimator).set_params(max_iter=epochs, **single_params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        single.fit(X, y)
    mixed_accuracy, single_accuracy = (
        mixed.score(X_test, y_test),
        single.score(X_test, y_test),
    )
    assert mixed_accuracy >= single_accuracy - 0.01, (
        f"parameter mixing {mixed_accuracy:.3f}, one machine {single_accuracy:.3f}"
    )


# --------------------------------------------------------------------------
# Parameter mixing: the result is an ordinary estimator; options
# --------------------------------------------------------------------------


def test_mixed_estimator_predicts_pickles_and_continues(client):
    name = "SGDClassifier"
    X, y = data(name)
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, CHUNK)
    est = make_estimator(name, batch_size=8, momentum=0.9, random_state=None)
    mixed = fit_parameter_mixing(est, Xd, yd, n_rounds=2, random_state=0)
    assert mixed is not est and not hasattr(est, "coef_")
    assert mixed.get_params() == est.get_params()  # random_state None again
    assert_array_equal(mixed.classes_, [0, 1])
    assert len(mixed.loss_curve_) == mixed.n_iter_ == 2
    restored = pickle.loads(pickle.dumps(mixed))
    assert_array_equal(restored.predict(X), mixed.predict(X))
    assert restored.score(X, y) == mixed.score(X, y) > 0.8
    restored.partial_fit(X, y)  # continues from the mixed state
    assert restored.t_ == mixed.t_ + N_SAMPLES
    assert len(restored.loss_curve_) == 3
    again = fit_parameter_mixing(est, Xd, yd, n_rounds=2, random_state=0)
    assert_array_equal(parameters(again), parameters(mixed))  # reproducible


def test_steps_per_round_walks_through_the_partitions(client, workers):
    """``steps_per_round`` on one worker: windows of steps x batch rows, cyclic."""
    name = "SGDRegressor"
    params = {"batch_size": 10, "momentum": 0.5, "shuffle": False}
    X, y = data(name)
    Xd, yd = da.from_array(X, chunks=(CHUNK, N_FEATURES)), da.from_array(y, CHUNK)
    mixed = fit_parameter_mixing(
        make_estimator(name, **params), Xd, yd, n_rounds=3, steps_per_round=15,
        workers=workers[:1],
    )  # fmt: skip
    ref = make_estimator(name, **params)
    rows = np.arange(3 * 150) % N_SAMPLES  # 150 rows a round, wrapping at 400
    for r in range(3):
        window = rows[150 * r : 150 * (r + 1)]
        ref.partial_fit(X[window], y[window])
    assert_array_equal(parameters(mixed), parameters(ref))
    assert mixed.t_ == 1 + 450


def test_classes_are_computed_and_sample_weight_is_used(client, workers):
    name = "SGDClassifier"
    X, y = data(name)
    weight = np.random.RandomState(1).uniform(0.5, 2.0, N_SAMPLES)
    mixed = fit_parameter_mixing(
        make_estimator(name), X, y, n_rounds=2, sample_weight=weight,
        workers=workers[:1],
    )  # fmt: skip
    ref = make_estimator(name)
    for _ in range(2):
        ref.partial_fit(X, y, classes=[0, 1], sample_weight=weight)
    assert_array_equal(mixed.classes_, [0, 1])
    assert_array_equal(parameters(mixed), parameters(ref))


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_bad_input_raises_value_error(client):
    X, y = data("SGDRegressor")
    Xd = da.from_array(X, chunks=(CHUNK, N_FEATURES))
    est = make_estimator("SGDRegressor")
    with pytest.raises(ValueError, match="fastsgd's SGDClassifier"):
        fit_parameter_mixing(object(), Xd, y)
    with pytest.raises(ValueError, match="n_rounds must be an integer >= 1"):
        fit_parameter_mixing(est, Xd, y, n_rounds=0)
    with pytest.raises(ValueError, match="steps_per_round must be"):
        fit_parameter_mixing(est, Xd, y, steps_per_round=2.5)
    with pytest.raises(ValueError, match="row chunks of y"):
        fit_parameter_mixing(est, Xd, da.from_array(y, chunks=50))
    with pytest.raises(ValueError, match="row chunks of sample_weight"):
        fit_parameter_mixing(
            est, Xd, y, sample_weight=da.ones(N_SAMPLES, chunks=(200,))
        )
    with pytest.raises(ValueError, match="one row per sample"):
        fit_parameter_mixing(est, Xd, y[:-1])
    with pytest.raises(ValueError, match="one row per sample"):
        fit_parameter_mixing(est, Xd, da.from_array(y[:-1], chunks=CHUNK))
    with pytest.raises(ValueError, match="early_stopping"):
        fit_parameter_mixing(clone(est).set_params(early_stopping=True), Xd, y)
    with pytest.raises(ValueError, match="solver='lbfgs'"):
        fit_parameter_mixing(fastsgd.MLPRegressor(solver="lbfgs"), Xd, y)
    with pytest.raises(ValueError, match="workers must be addresses"):
        fit_parameter_mixing(est, Xd, y, workers=["tcp://127.0.0.1:1"])
    unknown = da.from_array(X, chunks=(CHUNK, N_FEATURES))[da.from_array(y) > 0]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fit_parameter_mixing(est, unknown, y)


class _RegisteringClient:
    """A client whose scheduler learns of its workers one poll at a time."""

    def __init__(self, registrations):
        self.registrations = list(registrations)
        self.polls = 0

    def scheduler_info(self, n_workers=5):
        self.polls += 1
        known = self.registrations[: self.polls - 1]
        return {"workers": {address: {} for address in known}}


def test_named_workers_are_waited_for_until_they_register():
    """The race of a just-started cluster: a named worker that registers after
    the first look is used, not refused; one that never does is refused (after
    the bounded wait), naming the known workers."""
    from fastsgd.dask import _resolve_workers

    client = _RegisteringClient(["tcp://b", "tcp://a"])
    assert _resolve_workers(client, ["tcp://a", "tcp://b"]) == ["tcp://a", "tcp://b"]
    assert client.polls == 3
    client = _RegisteringClient(["tcp://b"])
    assert _resolve_workers(client, None) == ["tcp://b"]
    with pytest.raises(ValueError, match=r"workers \['tcp://b'\]; got \['tcp://c'\]"):
        _resolve_workers(_RegisteringClient(["tcp://b"]), "tcp://c", timeout=0.2)
    with pytest.raises(ValueError, match="no workers"):
        _resolve_workers(_RegisteringClient([]), None, timeout=0.2)
