"""Per-epoch fit time of fastsgd beside its peers, one workload at a time.

Each test fits one peer on its workload's data (``benchmark.pedantic``, the warm-up
round compiles) and records the held-out score and the physical floor in
``extra_info`` for ``report.py``.
"""

import numpy as np
import pytest

from bench.workloads import EPOCHS, PEDANTIC, WORKLOADS, floor_ms

CASES = [
    pytest.param(workload, peer, id=f"{workload.name}-{peer.name}".replace(" ", "_"))
    for workload in WORKLOADS
    for peer in workload.peers
]


@pytest.mark.parametrize(("workload", "peer"), CASES)
def test_fit(benchmark, data_for, workload, peer):
    X, X_test, y, y_test = data_for(workload.data)
    X_fit, y_fit = peer.prepare(X, y)
    benchmark.group = workload.name
    model = benchmark.pedantic(lambda: peer.make().fit(X_fit, y_fit), **PEDANTIC)
    assert model.n_iter_ == EPOCHS  # every peer trains the same number of epochs
    score = model.score(X_test, y_test)  # None: the floor, not a model
    assert score is None or np.isfinite(score)
    if score is not None:
        benchmark.extra_info.update(score_name=workload.score, score=float(score))
    benchmark.extra_info.update(
        workload=workload.name,
        title=workload.title,
        peer=peer.name,
        settings=peer.settings,
        versus=peer.versus or workload.peers[0].name,
        epochs=EPOCHS,
        unit="ms per epoch",
        floor_ms=floor_ms(X, workload.heads),
        shape=f"{X.shape[0]} x {X.shape[1]}, {X.dtype}",
    )
