"""Per-epoch fit time of fastsgd's MLPClassifier beside scikit-learn and PyTorch.

Each test fits one peer on its workload's data (``benchmark.pedantic``, the warm-up
round compiles) and records the held-out accuracy after ``EPOCHS`` epochs and the
arithmetic floor in ``extra_info`` for ``report.py``.
"""

import numpy as np
import pytest

from bench.mlp_workloads import (
    EPOCHS,
    MLP_WORKLOADS,
    PEAK_SIZE,
    epoch_flops,
    floor_ms,
    matmul_peak,
)
from bench.workloads import PEDANTIC

# Every fit stops at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CASES = [
    pytest.param(workload, peer, id=f"{workload.name}-{peer.name}".replace(" ", "_"))
    for workload in MLP_WORKLOADS
    for peer in workload.peers
]


@pytest.mark.parametrize(("workload", "peer"), CASES)
def test_mlp(benchmark, data_for, workload, peer):
    X, X_test, y, y_test = data_for(workload.data)
    X_fit, y_fit = peer.prepare(X, y)
    benchmark.group = workload.name
    model = benchmark.pedantic(lambda: peer.make().fit(X_fit, y_fit), **PEDANTIC)
    assert model.n_iter_ == EPOCHS  # every peer trains the same number of epochs
    accuracy = model.score(X_test, y_test)
    assert np.isfinite(accuracy)
    n, units = X.shape[0], workload.units
    benchmark.extra_info.update(
        section="mlp",
        workload=workload.name,
        title=workload.title,
        peer=peer.name,
        settings=peer.settings,
        versus=workload.peers[0].name,
        epochs=EPOCHS,
        unit="ms per epoch",
        score_name="accuracy",
        score=float(accuracy),
        dtype=X.dtype.name,
        units=units,
        batch_size=workload.batch_size,
        flops_per_epoch=epoch_flops(n, units),
        peak_gflops=matmul_peak(X.dtype) / 1e9,
        peak_size=PEAK_SIZE,
        floor_ms=floor_ms(n, units, X.dtype),
        floor_strict_ms=floor_ms(n, units, X.dtype, strict=True),
        shape=f"{n} x {X.shape[1]}, {X.dtype}",
    )
