"""``import`` and a first fit in a new interpreter: fastsgd on a cold and on a warm
Numba cache, beside scikit-learn.

The benchmark times the whole subprocess (interpreter start included); the import and
the fit, timed inside it, go to ``extra_info``.
"""

import os
import shutil

import numpy as np
import pytest

from bench.workloads import FULL, new_cache_dir, run_startup

#: Cold rounds compile everything (~20 s each), so smoke runs do one.
PEDANTIC = dict(rounds=3, warmup_rounds=1) if FULL else dict(rounds=1)
PEERS = ["fastsgd warm cache", "fastsgd cold cache", "scikit-learn"]


@pytest.fixture(scope="module")
def warm_cache():
    """The session's Numba cache, holding the start-up fit's kernels."""
    cache_dir = os.environ["NUMBA_CACHE_DIR"]  # set by conftest.py
    run_startup("fastsgd", cache_dir)
    return cache_dir


@pytest.mark.parametrize("peer", PEERS)
def test_startup(benchmark, request, peer):
    module = "sklearn.linear_model" if peer == "scikit-learn" else "fastsgd"
    cold = peer == "fastsgd cold cache"
    cache_dir = os.environ["NUMBA_CACHE_DIR"]  # set by conftest.py
    if peer == "fastsgd warm cache":
        cache_dir = request.getfixturevalue("warm_cache")
    inner, made = [], []

    def setup():  # a fresh cache for each cold round
        if cold:
            made.append(new_cache_dir())
        return ((made[-1] if cold else cache_dir),), {}

    def target(used_dir):
        inner.append(run_startup(module, used_dir))

    benchmark.group = "startup"
    try:
        benchmark.pedantic(target, setup=setup, **PEDANTIC)
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    inner = inner[-PEDANTIC["rounds"] :]  # the timed rounds
    benchmark.extra_info.update(
        workload="startup",
        title="Start-up: import + first fit (2000 x 20, 5 epochs) in a new process",
        peer=peer,
        settings=f"import {module}",
        unit="ms per process",
        import_ms=1e3 * float(np.median([t["import_s"] for t in inner])),
        fit_ms=1e3 * float(np.median([t["fit_s"] for t in inner])),
    )
