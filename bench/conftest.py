"""Benchmark session set-up: a fresh Numba cache unless one is chosen, machine info.

As in ``tests/conftest.py``: Numba's cache does not notice edits in the modules a
kernel inlines from, so each run compiles into a new cache directory (the warm-up
round of every benchmark pays the compilation). The size switch,
``FASTSGD_BENCH=full``, is read in ``workloads.py``.
"""

import os
import tempfile

import pytest

if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastsgd-numba-")


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    from bench.workloads import machine  # after NUMBA_CACHE_DIR is set

    machine_info["fastsgd_bench"] = machine()


@pytest.fixture(scope="module")
def data_for():
    """``data_for(spec)``: the data set of a workload spec, made once.

    Holds one data set at a time (the cases come workload by workload).
    """
    held = {}

    def get(spec):
        if spec not in held:
            held.clear()
            held[spec] = spec.make()
        return held[spec]

    return get
