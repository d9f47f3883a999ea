"""Workloads, peers and arithmetic floors of the multi-layer perceptron benchmarks.

The sizes follow ``workloads.py``'s switch (``FASTSGD_BENCH=full``; smoke sizes
otherwise). Every peer trains the same network (Glorot-uniform start, ReLU,
softmax cross-entropy) with the same optimizer (SGD, Nesterov momentum 0.9, rate
0.01, the same batch size, a new permutation each epoch) for ``EPOCHS`` epochs:
``max_iter=EPOCHS``, ``tol=0`` and an ``n_iter_no_change`` no fit can reach, so
no early stop. The median fit time divided by ``EPOCHS`` is a time per epoch.

The floor of an epoch is its flops (forward and backward products) at this
machine's matmul peak, measured once per process with a large numpy product on
all cores.
"""

import functools
import time
from dataclasses import dataclass, replace

import numpy as np
import sklearn.neural_network as sknn

import fastsgd
from bench.workloads import FULL, HAVE_TORCH, SEED, TEST_FRACTION, THREADS, Peer

EPOCHS = 3 if FULL else 1
#: Rows are divided by this in smoke mode (the layer widths stay).
_SCALE = 1 if FULL else 100
LEARNING_RATE = 0.01
MOMENTUM = 0.9
#: scikit-learn's default L2 penalty (``alpha / batch_size`` on the weights per step).
ALPHA = 1e-4
#: Never reached, so the loss plateau rule never stops a fit before ``EPOCHS``.
NO_EARLY_STOP = dict(tol=0.0, n_iter_no_change=10**6)
#: Side of the square matrices timed for the matmul peak.
PEAK_SIZE = 2048 if FULL else 512


# ------------------------------------------------------------------------ floor
@functools.cache
def matmul_peak(dtype):
    """FLOP/s of a ``PEAK_SIZE``-square numpy matmul in ``dtype`` (best of 5).

    numpy's BLAS uses all its threads (all cores); measured once per process.
    """
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype)
    b = rng.standard_normal((PEAK_SIZE, PEAK_SIZE)).astype(dtype)
    out = a @ b  # warm-up: threads started, pages touched
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * PEAK_SIZE**3 / best


def layer_shapes(units):
    """``(fan_in, fan_out)`` of each layer of a network with these widths."""
    return list(zip(units[:-1], units[1:], strict=False))


def epoch_flops(n_samples, units, strict=False):
    """Floating-point operations of one epoch of mini-batch training.

    Forward ``2 n Σ fan_in·fan_out``; backward twice that (the gradient of the
    layer's input and of its weights). ``strict`` leaves out the gradient of the
    network's input (the first layer's input gradient), which nobody needs.
    """
    forward = 2 * n_samples * sum(a * b for a, b in layer_shapes(units))
    flops = 3 * forward
    if strict:
        fan_in, fan_out = units[0], units[1]
        flops -= 2 * n_samples * fan_in * fan_out
    return flops


def floor_ms(n_samples, units, dtype, strict=False):
    """Lower bound on one epoch (ms): its flops at ``matmul_peak(dtype)``."""
    return 1e3 * epoch_flops(n_samples, units, strict) / matmul_peak(dtype)


# ------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TeacherData:
    """Classes from a random two-layer teacher on a low-dimensional latent.

    ``X = Z P + 0.25 ε`` with a ``latent``-dimensional Gaussian ``Z``; the label is
    the argmax of ``3 tanh(1.5 Z W1) W2`` (16 tanh units) plus a little noise. A
    student network learns it within a few epochs (about 0.8 held-out accuracy
    after 3) without reaching it, so accuracy gaps between peers show.
    ``make()`` is deterministic; float32 data is the float64 data rounded.
    """

    n_samples: int  # training rows; TEST_FRACTION more are held out
    n_features: int
    dtype: type = np.float64
    n_classes: int = 10
    latent: int = 16
    teacher_units: int = 16

    def make(self):
        """``(X_train, X_test, y_train, y_test)``."""
        rng = np.random.default_rng(SEED)
        n = self.n_samples + int(self.n_samples * TEST_FRACTION)
        Z = rng.standard_normal((n, self.latent))
        P = rng.standard_normal((self.latent, self.n_features)) / np.sqrt(self.latent)
        X = Z @ P
        X += 0.25 * rng.standard_normal((n, self.n_features))
        W1 = rng.standard_normal((self.latent, self.teacher_units))
        W2 = rng.standard_normal((self.teacher_units, self.n_classes))
        hidden = np.tanh(1.5 / np.sqrt(self.latent) * (Z @ W1))
        logits = 3 / np.sqrt(self.teacher_units) * (hidden @ W2)
        logits += 0.1 * rng.standard_normal((n, self.n_classes))
        y = logits.argmax(axis=1)
        X = X.astype(self.dtype, copy=False)
        m = self.n_samples
        return X[:m], X[m:], y[:m], y[m:]


# ------------------------------------------------------------------------ peers
def glorot_relu_mlp(units, dtype, generator):
    """A PyTorch ``Linear``/``ReLU`` stack (no ReLU on the logits) from
    scikit-learn's Glorot-uniform start: weights and biases in
    ``±sqrt(6 / (fan_in + fan_out))``, drawn on the host from ``generator``."""
    import torch
    from torch import nn

    layers = []
    for fan_in, fan_out in layer_shapes(units):
        linear = nn.Linear(fan_in, fan_out, dtype=dtype)
        bound = np.sqrt(6 / (fan_in + fan_out))
        with torch.no_grad():
            for p in (linear.weight, linear.bias):
                p.uniform_(-bound, bound, generator=generator)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class TorchMLP:
    """A plain PyTorch loop: ``nn.Sequential`` of ``Linear`` and ``ReLU``,
    ``CrossEntropyLoss``, ``torch.optim.SGD`` with Nesterov momentum.

    Starts from scikit-learn's Glorot-uniform draw (weights and biases, the
    bound ``sqrt(6 / (fan_in + fan_out))``); no L2 penalty (scikit-learn's
    ``alpha / batch_size`` is under 1e-6 here).
    """

    def __init__(self, hidden, batch_size, epochs=EPOCHS, lr=LEARNING_RATE):
        self.hidden, self.batch_size = tuple(hidden), batch_size
        self.epochs, self.lr = epochs, lr

    @staticmethod
    def prepare(X, y):
        import torch

        return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def fit(self, X, y):
        import torch
        from torch import nn

        torch.set_num_threads(THREADS)
        generator = torch.Generator().manual_seed(SEED)
        n, d = X.shape
        units = [d, *self.hidden, int(y.max()) + 1]
        model = glorot_relu_mlp(units, X.dtype, generator)
        loss_fn = nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(
            model.parameters(), lr=self.lr, momentum=MOMENTUM, nesterov=True
        )
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad()
                loss_fn(model(X[batch]), y[batch]).backward()
                optimizer.step()
        self.model_, self.n_iter_ = model, self.epochs
        return self

    def score(self, X, y):
        import torch

        with torch.no_grad():
            predicted = self.model_(torch.from_numpy(X)).argmax(dim=1).numpy()
        return float(np.mean(predicted == y))


def _mlp_params(hidden, batch_size):
    return dict(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="sgd",
        alpha=ALPHA,
        batch_size=batch_size,
        learning_rate_init=LEARNING_RATE,
        momentum=MOMENTUM,
        nesterovs_momentum=True,
        max_iter=EPOCHS,
        random_state=SEED,
        **NO_EARLY_STOP,
    )


def peers(hidden, batch_size, torch=True):
    """fastsgd, scikit-learn and (if wanted and installed) PyTorch."""
    params = _mlp_params(hidden, batch_size)
    found = [
        Peer(
            "fastsgd",
            f"n_jobs=None ({THREADS} threads)",
            lambda: fastsgd.MLPClassifier(**params, n_jobs=None),
        ),
        Peer("scikit-learn", "", lambda: sknn.MLPClassifier(**params)),
    ]
    if torch and HAVE_TORCH:
        found.append(
            Peer(
                "PyTorch",
                f"{THREADS} threads",
                lambda: TorchMLP(hidden, batch_size),
                prepare=TorchMLP.prepare,
            )
        )
    return tuple(found)


@dataclass(frozen=True)
class MLPWorkload:
    """Peers side by side on one data set; ``name`` is the benchmark group."""

    name: str
    title: str
    data: TeacherData
    hidden: tuple
    batch_size: int
    peers: tuple

    @property
    def units(self):
        return [self.data.n_features, *self.hidden, self.data.n_classes]


def _workload(name, label, data, hidden, batch_size, torch=True):
    dtype = np.dtype(data.dtype).name
    title = (
        f"{label}: {data.n_samples} x {data.n_features}, {data.n_classes} classes, "
        f"hidden {hidden}, batch {batch_size}, {dtype}"
    )
    return MLPWorkload(
        f"{name}-{dtype}", title, data, hidden, batch_size,
        peers(hidden, batch_size, torch),
    )  # fmt: skip


SMALL = TeacherData(50_000 // _SCALE, 100)
MNIST = TeacherData(60_000 // _SCALE, 784)
_F32 = dict(dtype=np.float32)

MLP_WORKLOADS = [
    _workload("mlp-small", "Small MLP", replace(SMALL, **_F32), (100,), 200),
    _workload("mlp-small", "Small MLP", SMALL, (100,), 200),
    _workload("mlp-mnist", "MNIST-sized MLP", replace(MNIST, **_F32), (256, 256), 128),
    # PyTorch in float32 only, as in the issue
    _workload("mlp-mnist", "MNIST-sized MLP", MNIST, (256, 256), 128, torch=False),
]
