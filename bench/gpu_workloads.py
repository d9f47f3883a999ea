"""Workloads, peers and roofline of the GPU benchmarks.

Used by ``test_gpu.py`` (pytest-benchmark) and ``gpu_run.py`` (standalone).

fastsgd with ``device="cuda"`` beside plain PyTorch loops. Every peer trains from
data already on the GPU (moved there once per workload, outside the timed fit):
fastsgd from numba device arrays, PyTorch from CUDA tensors. A timed fit is
``peer.make(workload, batch).fit(X, y)`` between two device synchronizations.

- Linear: 10-class softmax regression (``multi_class="multinomial"``) on the
  linear-teacher data of ``workloads.py`` in float32, 100k x 200 and 1M x 200.
  fastsgd's ``SGDClassifier`` (constant rate 0.01, momentum 0.9, no penalty) and
  ``nn.Linear`` + ``CrossEntropyLoss`` + ``torch.optim.SGD(lr=0.01, momentum=0.9)``,
  both from zero weights: the same algorithm step for step, up to the shuffling.
- MLP: the small (50k x 100, hidden (100,)) and MNIST-sized (60k x 784, hidden
  (256, 256)) teacher data of ``mlp_workloads.py`` in float32, 10 classes. fastsgd's
  ``MLPClassifier`` (Adam, rate 1e-3, ``alpha=0``) and a ``Linear``/``ReLU`` stack
  with ``torch.optim.Adam(lr=1e-3)``, default (foreach) and ``fused=True``, both
  from scikit-learn's Glorot-uniform start.

Each at batch sizes ``BATCH_SIZES``. Sizes follow ``workloads.py``'s switch
(``FASTSGD_BENCH=full``; otherwise smoke sizes and one epoch, which only check that
every peer runs). ``gpu_unavailable()`` says why no benchmark can run here: this
module imports neither ``numba.cuda`` nor ``torch`` itself, so it imports on any
machine.

Roofline of one epoch (``roofline``): reading ``X`` once (``n d`` values) at the
GPU's memory bandwidth, and its flops ``6 n Σ fan_in·fan_out`` (forward, input and
weight gradients) at its FP32 (non-tensor-core) peak. Datasheet figures for the
GPUs in ``DATASHEETS``; otherwise the bandwidth of a large device-to-device copy
and the peak from the SM count and clock.
"""

import importlib.util
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from bench.mlp_workloads import TeacherData, glorot_relu_mlp, layer_shapes
from bench.workloads import FULL, SEED, Data

BATCH_SIZES = (128, 256, 1024, 4096)
#: Constant rate and momentum of the linear fits (fastsgd and PyTorch).
LINEAR_LR = 0.01
MOMENTUM = 0.9
#: Adam's rate in the MLP fits (scikit-learn's and PyTorch's default).
ADAM_LR = 1e-3
#: Timed fits per case, after one untimed warm-up fit that pays compilation.
REPEATS = 3
#: ``benchmark.pedantic`` settings of ``test_gpu.py``.
PEDANTIC = dict(rounds=REPEATS, iterations=1, warmup_rounds=1)
#: The peer every time is divided by.
VERSUS = "PyTorch"
#: ``(name contains, memory bytes/s, FP32 FLOP/s, source)``; the first match wins.
DATASHEETS = (
    ("H100 PCIe", 2.0e12, 51.2e12, "NVIDIA H100 PCIe datasheet"),
    ("H100 NVL", 3.9e12, 60e12, "NVIDIA H100 NVL datasheet"),
    ("H100", 3.35e12, 67e12, "NVIDIA H100 SXM datasheet"),
    ("H200", 4.8e12, 67e12, "NVIDIA H200 SXM datasheet"),
)
#: FP32 lanes per SM by compute capability (128 when not listed).
FP32_LANES = {(6, 0): 64, (7, 0): 64, (7, 2): 64, (7, 5): 64, (8, 0): 64}


# ------------------------------------------------------------------ availability
def gpu_unavailable():
    """Why fastsgd's GPU benchmarks cannot run here, or ``None`` if they can.

    The CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which the test suite may set)
    is no GPU; neither is a numba without its CUDA target.
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1 (the CUDA simulator is no GPU)"
    try:
        import numba
        from numba import cuda
    except ImportError as error:
        return f"numba.cuda cannot be imported ({error})"
    if getattr(numba.config, "ENABLE_CUDASIM", 0):
        return "numba's CUDA simulator is enabled"
    try:
        if not cuda.is_available():
            return "numba.cuda.is_available() is False (no GPU or driver)"
    except Exception as error:  # a broken driver or toolkit
        return f"numba.cuda.is_available() failed ({error})"
    return None


def torch_unavailable():
    """Why the PyTorch peers cannot run here, or ``None`` if they can."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    try:
        import torch
    except ImportError as error:
        return f"torch cannot be imported ({error})"
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False"
    return None


# -------------------------------------------------------------------- the device
def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _driver_version():
    """The NVIDIA driver's version from nvidia-smi, or None."""
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def gpu_info():
    """Name, compute capability, SMs, clock, memory and driver of the GPU."""
    from numba import cuda

    device = cuda.get_current_device()
    info = {"name": _text(device.name)}
    info["compute_capability"] = ".".join(map(str, device.compute_capability))
    for key, attribute in (("sm_count", "MULTIPROCESSOR_COUNT"),
                           ("clock_khz", "CLOCK_RATE")):  # fmt: skip
        try:
            info[key] = int(getattr(device, attribute))
        except Exception:  # an attribute this numba does not expose
            info[key] = None
    try:
        info["memory_gib"] = cuda.current_context().get_memory_info()[1] / 2**30
    except Exception:
        info["memory_gib"] = None
    info["driver"] = _driver_version()
    try:
        from numba.cuda.cudadrv.driver import driver

        info["cuda_driver_api"] = ".".join(map(str, driver.get_version()))
    except Exception:
        info["cuda_driver_api"] = None
    return info


def versions():
    """Python, the packages the peers use, and the CUDA builds."""
    found = {"python": platform.python_version()}
    for name in ("fastsgd", "numpy", "numba", "numba-cuda", "torch", "scikit-learn"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    if "fastsgd" not in found:  # a checkout that is not installed
        import fastsgd

        found["fastsgd"] = fastsgd.__version__
    if "torch" in sys.modules:
        import torch

        found["torch CUDA"] = torch.version.cuda
        found["torch float32 matmul precision"] = torch.get_float32_matmul_precision()
    try:
        from numba import cuda

        found["numba CUDA runtime"] = ".".join(map(str, cuda.runtime.get_version()))
    except Exception:
        pass
    return found


def measure_bandwidth(nbytes=1 << 30, copies=10):
    """Bytes/s of a device-to-device copy of ``nbytes`` (read plus write), the
    best of ``copies``; with torch if it has CUDA, else numba."""
    if torch_unavailable() is None:
        import torch

        a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
        b = torch.empty_like(a)
        copy, sync = (lambda: b.copy_(a)), torch.cuda.synchronize
    else:
        from numba import cuda

        a = cuda.device_array(nbytes // 4, dtype=np.float32)
        b = cuda.device_array_like(a)
        copy, sync = (lambda: b.copy_to_device(a)), cuda.synchronize
    copy()
    sync()
    best = math.inf
    for _ in range(copies):
        start = time.perf_counter()
        copy()
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * nbytes / best


def roofline_figures(info, measure=True, nbytes=1 << 30):
    """Memory bandwidth and FP32 peak of the GPU, and where they come from.

    Datasheet figures when the name matches ``DATASHEETS``; otherwise the measured
    copy bandwidth and ``SMs x FP32 lanes x 2 x clock``. With ``measure`` the copy
    bandwidth is measured (and recorded) in every case.
    """
    figures = {"gpu": info["name"]}
    measured = measure_bandwidth(nbytes) if measure else None
    figures["measured_copy_bandwidth"] = measured
    for needle, bandwidth, peak, source in DATASHEETS:
        if needle in info["name"]:
            figures.update(bandwidth=bandwidth, bandwidth_source=source)
            figures.update(fp32_peak=peak, fp32_peak_source=source)
            return figures
    if measured is None:
        measured = measure_bandwidth(nbytes)
        figures["measured_copy_bandwidth"] = measured
    figures.update(
        bandwidth=measured,
        bandwidth_source=f"device-to-device copy of {nbytes / 2**20:.0f} MiB",
    )
    cc = tuple(int(c) for c in info["compute_capability"].split("."))
    lanes = FP32_LANES.get(cc, 128)
    if info.get("sm_count") and info.get("clock_khz"):
        peak = info["sm_count"] * lanes * 2 * info["clock_khz"] * 1e3
        source = f"{info['sm_count']} SMs x {lanes} FP32 lanes x 2 x boost clock"
    else:
        peak, source = None, "unknown"
    figures.update(fp32_peak=peak, fp32_peak_source=source)
    return figures


def launch_overhead(calls=1000):
    """Mean µs per call of empty kernel launches and a one-element torch op.

    "launch" rows enqueue ``calls`` launches and synchronize once (the host's cost
    of a launch); "+ sync" rows synchronize after every call (a round trip).
    """
    from numba import cuda
    from numba.core.errors import NumbaPerformanceWarning

    @cuda.jit
    def empty():
        pass

    @cuda.jit
    def empty_args(a, b, c, d):
        pass

    arrays = [cuda.device_array(256, dtype=np.float32) for _ in range(4)]

    def mean_us(call, sync, each=False):
        call()  # compiles
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            call()
            if each:
                sync()
        sync()
        return (time.perf_counter() - start) / calls * 1e6

    found = {}
    with warnings.catch_warnings():  # a grid of one block is the point here
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        found["numba empty kernel, launch"] = mean_us(
            lambda: empty[1, 32](), cuda.synchronize
        )
        found["numba empty kernel, 4 device arrays, launch"] = mean_us(
            lambda: empty_args[1, 32](*arrays), cuda.synchronize
        )
        found["numba empty kernel, launch + sync"] = mean_us(
            lambda: empty[1, 32](), cuda.synchronize, each=True
        )
    if torch_unavailable() is None:
        import torch

        x = torch.zeros(1, device="cuda")
        sync = torch.cuda.synchronize
        found["torch add_ on 1 element, launch"] = mean_us(lambda: x.add_(1), sync)
        found["torch add_ on 1 element, launch + sync"] = mean_us(
            lambda: x.add_(1), sync, each=True
        )
    return found


# ------------------------------------------------------------------ the workloads
@dataclass(frozen=True)
class GPUWorkload:
    """One data set on the GPU; its peers run at every batch size."""

    name: str
    title: str
    kind: str  # "linear" or "mlp"
    data: object  # workloads.Data or mlp_workloads.TeacherData
    epochs: int
    hidden: tuple = ()
    batch_sizes: tuple = BATCH_SIZES

    @property
    def n_samples(self):
        return self.data.n_samples

    @property
    def units(self):
        return [self.data.n_features, *self.hidden, self.data.n_classes]

    def steps(self, batch_size):
        """Optimizer steps (batches) per epoch."""
        return -(-self.n_samples // batch_size)

    def bytes_per_epoch(self):
        """``X`` read once."""
        itemsize = np.dtype(self.data.dtype).itemsize
        return self.n_samples * self.data.n_features * itemsize

    def flops_per_epoch(self):
        """Forward ``2 n Σ fan_in·fan_out``, backward twice that."""
        return 6 * self.n_samples * sum(a * b for a, b in layer_shapes(self.units))

    @property
    def peers(self):
        return LINEAR_PEERS if self.kind == "linear" else MLP_PEERS


def workloads(full=FULL):
    """The four workloads at full or smoke size (smoke: small, one epoch)."""

    def rows(n_full, n_smoke):
        return n_full if full else n_smoke

    def epochs(n_full):
        return n_full if full else 1

    def linear(n):
        return Data("multiclass", n, 200, dtype=np.float32, n_classes=10)

    found = [
        ("linear-100k", "10-class softmax regression", "linear",
         linear(rows(100_000, 5_000)), epochs(5), ()),
        ("mlp-small", "Small MLP", "mlp",
         TeacherData(rows(50_000, 5_000), 100, np.float32), epochs(3), (100,)),
        ("mlp-mnist", "MNIST-sized MLP", "mlp",
         TeacherData(rows(60_000, 6_000), 784, np.float32), epochs(3), (256, 256)),
        # last: the longest, so a run out of time loses the least
        ("linear-1m", "10-class softmax regression", "linear",
         linear(rows(1_000_000, 10_000)), epochs(2), ()),
    ]  # fmt: skip
    made = []
    for name, label, kind, data, n_epochs, hidden in found:
        title = f"{label}: {data.n_samples} x {data.n_features}, 10 classes"
        title += f", hidden {hidden}" if hidden else ""
        title += f", float32, {n_epochs} {'epoch' if n_epochs == 1 else 'epochs'}"
        made.append(GPUWorkload(name, title, kind, data, n_epochs, hidden))
    return made


GPU_WORKLOADS = workloads()


# ------------------------------------------------------------------------- peers
def to_device(backend, X, y):
    """``X`` and ``y`` on the GPU: numba device arrays or torch CUDA tensors."""
    X = np.ascontiguousarray(X)
    if backend == "numba":
        from numba import cuda

        found = cuda.to_device(X), cuda.to_device(np.ascontiguousarray(y))
    else:
        import torch

        found = (
            torch.from_numpy(X).to("cuda"),
            torch.from_numpy(y.astype(np.int64)).to("cuda"),
        )
    synchronize(backend)
    return found


def synchronize(backend):
    """Wait for the GPU (``numba.cuda.synchronize`` or ``torch.cuda.synchronize``)."""
    if backend == "numba":
        from numba import cuda

        cuda.synchronize()
    else:
        import torch

        torch.cuda.synchronize()


def _predict(classes, scores):
    classes = np.asarray(classes)
    if scores.shape[1] == 1:
        return classes[(scores[:, 0] > 0).astype(np.intp)]
    return classes[scores.argmax(axis=1)]


def linear_accuracy(model, X, y):
    """Held-out accuracy from a fitted linear model's host attributes."""
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    return float(np.mean(_predict(model.classes_, X @ coef.T + intercept) == y))


def mlp_accuracy(model, X, y):
    """Held-out accuracy from a fitted ReLU MLP's host ``coefs_``/``intercepts_``."""
    a = X
    last = len(model.coefs_) - 1
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        a = a @ np.asarray(W) + np.asarray(b)
        if i < last:
            a = np.maximum(a, 0)
    return float(np.mean(_predict(model.classes_, a) == y))


def _train(model, optimizer, X, y, batch_size, epochs):
    """The PyTorch loop: a new ``randperm`` on the device each epoch, batches by
    indexing, ``CrossEntropyLoss``, one optimizer step per batch."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    n = X.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, device=X.device)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(model(X[batch]), y[batch]).backward()
            optimizer.step()


class _TorchModel:
    """Held-out accuracy of a fitted ``self.model_`` (host data in, on its device)."""

    def score(self, X, y):
        import torch

        device = next(self.model_.parameters()).device
        with torch.no_grad():
            logits = self.model_(torch.from_numpy(np.ascontiguousarray(X)).to(device))
        return float(np.mean(logits.argmax(dim=1).cpu().numpy() == y))


class TorchSoftmaxGPU(_TorchModel):
    """``nn.Linear(d, classes)`` from zero weights, ``CrossEntropyLoss``,
    ``torch.optim.SGD(lr, momentum)`` (foreach, PyTorch's CUDA default), on the
    device of ``X``. The number of classes is given, so the fit never waits for
    the GPU to read ``y``."""

    def __init__(self, n_classes, batch_size, epochs, lr=LINEAR_LR, momentum=MOMENTUM):
        self.n_classes, self.batch_size, self.epochs = n_classes, batch_size, epochs
        self.lr, self.momentum = lr, momentum

    def fit(self, X, y):
        import torch

        torch.manual_seed(SEED)
        model = torch.nn.Linear(
            X.shape[1], self.n_classes, device=X.device, dtype=X.dtype
        )
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=self.lr, momentum=self.momentum
        )
        _train(model, optimizer, X, y, self.batch_size, self.epochs)
        self.model_, self.n_iter_ = model, self.epochs
        return self


class TorchMLPGPU(_TorchModel):
    """A ``Linear``/``ReLU`` stack from scikit-learn's Glorot-uniform start
    (weights and biases in ``±sqrt(6 / (fan_in + fan_out))``, drawn on the host),
    ``CrossEntropyLoss``, ``torch.optim.Adam(lr)``: foreach, or ``fused``."""

    def __init__(self, hidden, n_classes, batch_size, epochs, lr=ADAM_LR, fused=False):
        self.hidden, self.n_classes = tuple(hidden), n_classes
        self.batch_size, self.epochs = batch_size, epochs
        self.lr, self.fused = lr, fused

    def fit(self, X, y):
        import torch

        torch.manual_seed(SEED)
        units = [X.shape[1], *self.hidden, self.n_classes]
        generator = torch.Generator().manual_seed(SEED)
        model = glorot_relu_mlp(units, X.dtype, generator).to(X.device)
        fused = dict(fused=True) if self.fused else {}
        optimizer = torch.optim.Adam(model.parameters(), lr=self.lr, **fused)
        _train(model, optimizer, X, y, self.batch_size, self.epochs)
        self.model_, self.n_iter_ = model, self.epochs
        return self


def _fastsgd_linear(workload, batch_size):
    import fastsgd

    return fastsgd.SGDClassifier(
        loss="log_loss",
        penalty=None,
        learning_rate="constant",
        eta0=LINEAR_LR,
        batch_size=batch_size,
        momentum=MOMENTUM,
        max_iter=workload.epochs,
        tol=None,
        shuffle=True,
        random_state=SEED,
        device="cuda",
        multi_class="multinomial",
    )


def _fastsgd_mlp(workload, batch_size):
    import fastsgd

    return fastsgd.MLPClassifier(
        hidden_layer_sizes=workload.hidden,
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=batch_size,
        learning_rate_init=ADAM_LR,
        max_iter=workload.epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        shuffle=True,
        random_state=SEED,
        device="cuda",
    )


@dataclass(frozen=True)
class GPUPeer:
    """One contender: ``make(workload, batch_size)`` returns an unfitted model."""

    name: str
    backend: str  # "numba" (fastsgd) or "torch": the kind of device arrays it fits
    settings: str  # what the report lists
    make: Callable
    score: Callable = lambda model, X, y: model.score(X, y)


LINEAR_PEERS = (
    GPUPeer(
        "fastsgd",
        "numba",
        f'multi_class="multinomial", learning_rate="constant", eta0={LINEAR_LR}, '
        f'momentum={MOMENTUM}, penalty=None, device="cuda"',
        _fastsgd_linear,
        linear_accuracy,
    ),
    GPUPeer(
        VERSUS,
        "torch",
        f"nn.Linear, SGD(lr={LINEAR_LR}, momentum={MOMENTUM}), foreach",
        lambda w, b: TorchSoftmaxGPU(w.data.n_classes, b, w.epochs),
    ),
)
MLP_PEERS = (
    GPUPeer(
        "fastsgd",
        "numba",
        f'solver="adam", learning_rate_init={ADAM_LR}, alpha=0, device="cuda"',
        _fastsgd_mlp,
        mlp_accuracy,
    ),
    GPUPeer(
        VERSUS,
        "torch",
        f"Adam(lr={ADAM_LR}), foreach",
        lambda w, b: TorchMLPGPU(w.hidden, w.data.n_classes, b, w.epochs),
    ),
    GPUPeer(
        "PyTorch fused",
        "torch",
        f"Adam(lr={ADAM_LR}, fused=True)",
        lambda w, b: TorchMLPGPU(w.hidden, w.data.n_classes, b, w.epochs, fused=True),
    ),
)


def timed_fit(peer, workload, batch_size, X, y):
    """``(model, seconds)`` of one fit between two synchronizations."""
    synchronize(peer.backend)
    start = time.perf_counter()
    model = peer.make(workload, batch_size).fit(X, y)
    synchronize(peer.backend)
    return model, time.perf_counter() - start


# ---------------------------------------------------------------------- roofline
def case_info(workload, batch_size, peer, figures):
    """What a result records about its case (the same in the pytest JSON's
    ``extra_info`` and in ``gpu_run.py``'s JSON).

    The key is ``gpu_workload``, not ``workload``: ``report.py`` takes every
    benchmark with a ``workload`` for one of its CPU tables.
    """
    bytes_, flops = workload.bytes_per_epoch(), workload.flops_per_epoch()
    bytes_floor = 1e3 * bytes_ / figures["bandwidth"]
    flops_floor = 1e3 * flops / figures["fp32_peak"] if figures["fp32_peak"] else 0.0
    return {
        "gpu_workload": workload.name,
        "title": workload.title,
        "kind": workload.kind,
        "peer": peer.name,
        "settings": peer.settings,
        "versus": VERSUS,
        "batch_size": batch_size,
        "epochs": workload.epochs,
        "n_samples": workload.n_samples,
        "n_features": workload.data.n_features,
        "units": workload.units,
        "dtype": np.dtype(workload.data.dtype).name,
        "steps_per_epoch": workload.steps(batch_size),
        "bytes_per_epoch": bytes_,
        "flops_per_epoch": flops,
        "bandwidth": figures["bandwidth"],
        "fp32_peak": figures["fp32_peak"],
        "bytes_floor_ms": bytes_floor,
        "flops_floor_ms": flops_floor,
        "floor_ms": max(bytes_floor, flops_floor),
    }


def achieved(info, ms_per_epoch):
    """Fraction of the bandwidth (reading ``X``) and of the FP32 peak reached."""
    return {
        "bandwidth_fraction": info["bytes_floor_ms"] / ms_per_epoch,
        "fp32_fraction": info["flops_floor_ms"] / ms_per_epoch,
    }
