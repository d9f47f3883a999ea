"""Per-epoch fit time of fastsgd on the GPU beside PyTorch, data on the device.

One test per workload x batch size x peer (``gpu_workloads.py``):
``benchmark.pedantic`` around ``peer.make(...).fit(X, y)`` between two device
synchronizations, one warm-up round (compilation) and ``REPEATS`` timed rounds.
The time per epoch is the median over ``epochs``; ``extra_info`` holds the case
(key ``gpu_workload``, which ``report.py`` ignores), the roofline and the held-out
accuracy, for ``report_gpu.py``.

Skipped as a whole without a real GPU: under the CUDA simulator, without
numba's CUDA target, or when ``numba.cuda.is_available()`` is False. The PyTorch
peers also need ``torch.cuda.is_available()``.
"""

import numpy as np
import pytest

from bench.gpu_workloads import gpu_unavailable

_REASON = gpu_unavailable()
if _REASON:
    pytest.skip(f"no GPU: {_REASON}", allow_module_level=True)

from bench.gpu_workloads import (  # noqa: E402  (after the skip)
    FULL,
    GPU_WORKLOADS,
    PEDANTIC,
    achieved,
    case_info,
    gpu_info,
    roofline_figures,
    synchronize,
    to_device,
    torch_unavailable,
)

# Every MLP fit stops at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CASES = [
    pytest.param(workload, batch, peer, id=f"{workload.name}-b{batch}-{peer.name}")
    for workload in GPU_WORKLOADS
    for batch in workload.batch_sizes
    for peer in workload.peers
]


@pytest.fixture(scope="module")
def figures():
    """The GPU and its roofline figures (copy bandwidth measured once)."""
    info = gpu_info()
    return info, roofline_figures(info, nbytes=1 << 30 if FULL else 1 << 26)


@pytest.fixture(scope="module")
def on_device(data_for):
    """``on_device(workload, backend)``: ``(X, y)`` on the GPU and the held-out
    ``(X_test, y_test)`` on the host; one workload's arrays at a time."""
    held = {}

    def get(workload, backend):
        if workload.data not in held:
            held.clear()
            held[workload.data] = {}
        found = held[workload.data]
        if backend not in found:
            X, X_test, y, y_test = data_for(workload.data)
            found[backend] = (*to_device(backend, X, y), X_test, y_test)
        return found[backend]

    return get


@pytest.mark.parametrize(("workload", "batch_size", "peer"), CASES)
def test_gpu(benchmark, figures, on_device, workload, batch_size, peer):
    if peer.backend == "torch" and (reason := torch_unavailable()):
        pytest.skip(reason)
    info, roofline = figures
    X, y, X_test, y_test = on_device(workload, peer.backend)

    def fit():
        synchronize(peer.backend)
        model = peer.make(workload, batch_size).fit(X, y)
        synchronize(peer.backend)
        return model

    benchmark.group = f"gpu {workload.name} batch {batch_size}"
    model = benchmark.pedantic(fit, **PEDANTIC)
    assert model.n_iter_ == workload.epochs  # every peer trains the same epochs
    accuracy = peer.score(model, X_test, y_test)
    assert np.isfinite(accuracy)
    case = case_info(workload, batch_size, peer, roofline)
    benchmark.extra_info.update(case, gpu=info, roofline=roofline, accuracy=accuracy)
    if benchmark.stats:  # timed (not --benchmark-disable)
        ms = benchmark.stats.stats.median * 1e3 / workload.epochs
        benchmark.extra_info.update(ms_per_epoch=ms, **achieved(case, ms))
