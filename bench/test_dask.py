"""Parameter mixing on a Dask cluster: time per round against the worker count.

Runs only with ``FASTSGD_BENCH=dask`` (a cluster start and Numba's compilation
in the workers cost too much for the default suite, which skips this module):

    FASTSGD_BENCH=dask python -m pytest bench/test_dask.py --benchmark-enable \
        --benchmark-json=bench/results/dask.json -p no:cacheprovider
    python bench/dask_run.py bench/results/dask.json

One ``LocalCluster`` of two worker processes, one thread each, holds the data
(generated on the workers, persisted there). Each case times
``fit_parameter_mixing(..., workers=<1 or 2 of them>)`` with ``n_rounds`` of 1
and of ``1 + ROUNDS``: the difference over ``ROUNDS`` is the time per round,
the set-up (placing the partitions on their workers, once per call) cancels
out. Beside them, one epoch of the same estimator's ``partial_fit`` in this
process (``local``): the time a round would take without Dask. Every
estimator has ``n_jobs=1``: one Numba thread per worker, one worker per core.
"""

import os
import time

import numpy as np
import pytest

if os.environ.get("FASTSGD_BENCH") != "dask":
    pytest.skip("set FASTSGD_BENCH=dask to run", allow_module_level=True)

import logging  # noqa: E402

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402

import fastsgd  # noqa: E402
from fastsgd.dask import fit_parameter_mixing  # noqa: E402

#: Timed rounds of a case beyond the first (the per-round time's denominator).
ROUNDS = 5
#: ``benchmark.pedantic``: the warm-up call compiles (and places the data).
PEDANTIC = dict(rounds=5, iterations=1, warmup_rounds=1)
N_PARTITIONS = 8


def _teacher_block(seed, n_rows, n_features, n_classes):
    """Rows of a random linear teacher's classification problem."""
    teacher = np.random.RandomState(0).randn(n_features, n_classes)
    X = np.random.RandomState(1000 + seed).randn(n_rows, n_features)
    scores = X @ teacher
    y = (scores[:, 0] > 0) if n_classes == 1 else scores.argmax(axis=1)
    return X, y.astype(np.int64)


def _sgd_classifier(**params):
    """The linear workloads' model: mini-batch 256, momentum 0.9, constant rate
    0.01, one thread (hinge unless ``params`` say otherwise)."""
    return fastsgd.SGDClassifier(
        batch_size=256,
        momentum=0.9,
        learning_rate="constant",
        eta0=0.01,
        n_jobs=1,
        random_state=0,
        **params,
    )


WORKLOADS = {
    "linear": dict(
        shape=(200_000, 100),
        n_classes=1,
        make=_sgd_classifier,
        title="SGDClassifier hinge, batch 256, momentum 0.9, 200k x 100 float64",
    ),
    "linear-10": dict(
        shape=(200_000, 100),
        n_classes=10,
        make=lambda: _sgd_classifier(loss="log_loss", multi_class="multinomial"),
        title="SGDClassifier multinomial, 10 classes, batch 256, momentum 0.9, "
        "200k x 100 float64",
    ),
    "mlp": dict(
        shape=(50_000, 100),
        n_classes=10,
        make=lambda: fastsgd.MLPClassifier(
            hidden_layer_sizes=(100,),
            solver="adam",
            batch_size=200,
            n_jobs=1,
            random_state=0,
        ),  # fmt: skip
        title="MLPClassifier (100,) adam, batch 200, 10 classes, 50k x 100 float64",
    ),
    "tiny": dict(
        shape=(8_000, 10),
        n_classes=1,
        make=_sgd_classifier,
        title="tiny: SGDClassifier, 8k x 10 (the cost of a round itself)",
    ),
}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
        silence_logs=logging.ERROR,
    )  # fmt: skip
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def workload_data(client):
    """``(X, y)`` of a workload, persisted on the workers, held one at a time."""
    held = {}

    def get(name):
        if name not in held:
            held.clear()
            spec = WORKLOADS[name]
            n_rows, n_features = spec["shape"]
            rows = n_rows // N_PARTITIONS
            blocks = [
                dask.delayed(_teacher_block, nout=2)(
                    i, rows, n_features, spec["n_classes"]
                )
                for i in range(N_PARTITIONS)
            ]
            X = da.concatenate(
                [da.from_delayed(b[0], (rows, n_features), float) for b in blocks]
            )
            y = da.concatenate([da.from_delayed(b[1], (rows,), int) for b in blocks])
            X, y = client.persist([X, y])
            distributed.wait([X, y])
            held[name] = X, y
        return held[name]

    return get


CASES = [
    pytest.param(name, n_workers, n_rounds, id=f"{name}-{n_workers}w-{n_rounds}r")
    for name in WORKLOADS
    for n_workers in (1, 2)
    for n_rounds in (1, 1 + ROUNDS)
]


@pytest.mark.parametrize(("name", "n_workers", "n_rounds"), CASES)
def test_parameter_mixing(benchmark, client, workload_data, name, n_workers, n_rounds):
    X, y = workload_data(name)
    spec = WORKLOADS[name]
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])[:n_workers]
    classes = np.arange(max(2, spec["n_classes"]))
    model = benchmark.pedantic(
        lambda: fit_parameter_mixing(
            spec["make"](),
            X,
            y,
            n_rounds=n_rounds,
            classes=classes,
            shuffle_blocks=False,
            workers=workers,
        ),  # fmt: skip
        **PEDANTIC,
    )
    assert model.n_iter_ == n_rounds
    benchmark.group = name
    benchmark.extra_info.update(
        dask_workload=name, title=spec["title"], peer=f"{n_workers} workers",
        n_workers=n_workers, n_rounds=n_rounds, shape=list(spec["shape"]),
        cpu_count=os.cpu_count(),
        train_accuracy=float(model.score(X[:20_000].compute(), y[:20_000].compute())),
    )  # fmt: skip


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_local_epoch(benchmark, workload_data, name):
    """One epoch of ``partial_fit`` in this process, partition by partition."""
    X, y = workload_data(name)
    X, y = X.compute(), y.compute()
    spec = WORKLOADS[name]
    classes = np.arange(max(2, spec["n_classes"]))
    bounds = np.linspace(0, X.shape[0], N_PARTITIONS + 1).astype(int)

    def epoch():
        model = spec["make"]()
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            model.partial_fit(X[lo:hi], y[lo:hi], classes=classes)
        return model

    start = time.perf_counter()
    epoch()  # compiles
    benchmark.extra_info["first_call_s"] = time.perf_counter() - start
    benchmark.pedantic(epoch, rounds=5, iterations=1, warmup_rounds=0)
    benchmark.group = name
    benchmark.extra_info.update(
        dask_workload=name, title=spec["title"], peer="local", n_workers=0,
        n_rounds=1, shape=list(spec["shape"]), cpu_count=os.cpu_count(),
    )  # fmt: skip
