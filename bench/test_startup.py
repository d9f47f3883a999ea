"""``import`` and a first fit in a new interpreter: fastsgd on a cold and on a warm
Numba cache, beside scikit-learn.

The benchmark times the whole subprocess (interpreter start included); the import and
the fit, timed inside it, go to ``extra_info``.
"""

import os
import shutil

import numpy as np
import pytest

from bench.workloads import (
    FULL,
    STARTUP_CASES,
    new_cache_dir,
    run_startup,
    startup_module,
)

#: Cold rounds compile the fit's kernels (~5 s each), so smoke runs do one.
PEDANTIC = dict(rounds=3, warmup_rounds=1) if FULL else dict(rounds=1)
PEERS = ["fastsgd warm cache", "fastsgd cold cache", "scikit-learn"]


@pytest.fixture(scope="module")
def warm_cache():
    """The session's Numba cache, holding the start-up fits' kernels."""
    cache_dir = os.environ["NUMBA_CACHE_DIR"]  # set by conftest.py
    for case in STARTUP_CASES:
        run_startup("fastsgd", cache_dir, case)
    return cache_dir


@pytest.mark.parametrize("case", list(STARTUP_CASES))
@pytest.mark.parametrize("peer", PEERS)
def test_startup(benchmark, request, peer, case):
    module = "sklearn" if peer == "scikit-learn" else "fastsgd"
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
        inner.append(run_startup(module, used_dir, case))

    benchmark.group = f"startup {case}"
    try:
        benchmark.pedantic(target, setup=setup, **PEDANTIC)
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    inner = inner[-PEDANTIC["rounds"] :]  # the timed rounds
    benchmark.extra_info.update(
        workload=f"startup {case}",
        title=f"Start-up: import + first fit of {case} (2000 x 20, 5 epochs) in a "
        "new process",
        peer=peer,
        settings=f"import {startup_module(module, case)}",
        unit="ms per process",
        import_ms=1e3 * float(np.median([t["import_s"] for t in inner])),
        fit_ms=1e3 * float(np.median([t["fit_s"] for t in inner])),
    )
