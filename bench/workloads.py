"""Workloads, peers and physical floors of the fastsgd benchmarks.

``FASTSGD_BENCH=full`` selects the full sizes; anything else (the default) the smoke
sizes, which only check that every peer runs and are not measurements.

Every peer of a workload trains the same data in the same dtype for the same number
of epochs (``max_iter=EPOCHS, tol=None``), so the median fit time divided by
``EPOCHS`` is a time per epoch that can be compared across peers.
"""

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata

import numba
import numpy as np
import scipy.sparse as sp
import sklearn.linear_model as sklm

import fastsgd
from fastsgd._kernels._jit import prefetch

MODE = "full" if os.environ.get("FASTSGD_BENCH", "smoke") == "full" else "smoke"
FULL = MODE == "full"
SEED = 0
EPOCHS = 5 if FULL else 2
BATCH = 256
#: Held-out rows, as a share of the training rows.
TEST_FRACTION = 0.2
#: ``benchmark.pedantic`` settings; the warm-up round pays Numba's compilation.
PEDANTIC = dict(rounds=3, iterations=1, warmup_rounds=1)
#: Threads of the PyTorch peer: as many as the Numba kernels get.
THREADS = numba.config.NUMBA_NUM_THREADS
HAVE_TORCH = importlib.util.find_spec("torch") is not None

#: Read bandwidth of main memory on the 2-core development machine (bytes/s).
MEMORY_BANDWIDTH = 30e9
#: float64 flops per cycle and core: two 256-bit FMA pipes (AVX2, or Zen 4's AVX-512).
FLOPS_PER_CYCLE_F64 = 16


# ----------------------------------------------------------------------- machine
def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_ghz():
    """The clock from /proc/cpuinfo ("cpu MHz", the current one), else 3 GHz."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) / 1000
    except (OSError, ValueError):
        pass
    return 3.0


def versions():
    """Versions of Python and of the packages the peers use."""
    found = {"python": platform.python_version(), "fastsgd": fastsgd.__version__}
    for name in ("numpy", "scipy", "numba", "scikit-learn", "torch"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def machine():
    """What ``report.py`` prints about the run (stored in the benchmark JSON)."""
    return {
        "mode": MODE,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "numba_threads": THREADS,
        "versions": versions(),
    }


def floor_ms(X, heads=1):
    """Lower bound on one epoch (ms): read ``X`` once, or its flops at peak.

    Every stored value of ``X`` costs two multiply-adds per head (``w·x`` and the
    update ``w += u·x``); peak is all cores at ``FLOPS_PER_CYCLE_F64`` (twice that
    in float32).
    """
    if sp.issparse(X):
        nbytes = X.data.nbytes + 4 * (X.indices.size + X.indptr.size)  # int32
        nnz = X.nnz
    else:
        nbytes, nnz = X.nbytes, X.size
    peak = os.cpu_count() * cpu_ghz() * 1e9 * FLOPS_PER_CYCLE_F64
    peak *= 8 // X.dtype.itemsize
    return 1e3 * max(nbytes / MEMORY_BANDWIDTH, 4 * nnz * heads / peak)


# -------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Data:
    """A synthetic data set from a linear teacher; ``make()`` is deterministic."""

    kind: str  # "binary", "multiclass", "regression" or "sparse" (binary, CSR)
    n_samples: int  # training rows; TEST_FRACTION more are held out
    n_features: int
    dtype: type = np.float64
    n_classes: int = 2
    density: float = 1.0  # of the CSR matrix

    def make(self):
        """``(X_train, X_test, y_train, y_test)``."""
        rng = np.random.default_rng(SEED)
        n = self.n_samples + int(self.n_samples * TEST_FRACTION)
        if self.kind == "sparse":
            X = sp.random(
                n,
                self.n_features,
                density=self.density,
                format="csr",
                dtype=self.dtype,
                rng=rng,
            )
        else:
            X = rng.standard_normal((n, self.n_features), dtype=self.dtype)
        heads = self.n_classes if self.kind == "multiclass" else 1
        nnz_per_row = self.n_features * self.density
        W = rng.standard_normal((self.n_features, heads)) / np.sqrt(nnz_per_row)
        scores = X @ W + 0.3 * rng.standard_normal((n, heads))
        if self.kind == "regression":
            y = scores[:, 0]
        elif self.kind == "multiclass":
            y = scores.argmax(axis=1)
        else:
            y = (scores[:, 0] > 0).astype(np.int64)
        m = self.n_samples
        return X[:m], X[m:], y[:m], y[m:]


_SCALE = 1 if FULL else 100
BINARY = Data("binary", 200_000 // _SCALE, 100)
MULTICLASS = Data("multiclass", 100_000 // _SCALE, 200, n_classes=10)
REGRESSION = Data("regression", 500_000 // _SCALE, 50)
# ~100 non-zeros per row at both sizes (smoke: 1000 x 1000 at density 0.1).
SPARSE = Data("sparse", 100_000 // _SCALE, 100_000 // _SCALE, density=1e-3 * _SCALE)


# ------------------------------------------------------------------------- peers
def _identity(X, y):
    return X, y


@dataclass(frozen=True)
class Peer:
    """One contender: ``make()`` returns an unfitted model with fit and score."""

    name: str
    settings: str  # what differs from the defaults, for the report
    make: Callable[[], object]
    versus: str | None = None  # the peer its time is divided by (default: first)
    prepare: Callable = _identity  # converts the data outside the timed fit


def _sgd(module, estimator, settings="", **params):
    """A peer running ``module.<estimator>(max_iter=EPOCHS, tol=None, ...)``."""
    name = "fastsgd" if module is fastsgd else "scikit-learn"
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())

    def make():
        cls = getattr(module, estimator)
        return cls(max_iter=EPOCHS, tol=None, random_state=SEED, **params)

    return Peer(f"{name} {settings}".strip(), shown, make)


class TorchSoftmax:
    """A plain PyTorch loop: ``nn.Linear``, cross-entropy, ``torch.optim.SGD``.

    The same model and update as fastsgd's ``multi_class='multinomial'`` with
    ``learning_rate='constant'``: zero initial weights, the mean gradient of each
    batch, L2 ``alpha`` on the weights only.
    """

    def __init__(self, lr, alpha=1e-4, batch_size=BATCH, epochs=EPOCHS):
        self.lr, self.alpha = lr, alpha
        self.batch_size, self.epochs = batch_size, epochs

    @staticmethod
    def prepare(X, y):
        import torch

        return torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def fit(self, X, y):
        import torch

        torch.set_num_threads(THREADS)
        torch.manual_seed(SEED)
        n, d = X.shape
        model = torch.nn.Linear(d, int(y.max()) + 1, dtype=X.dtype)
        torch.nn.init.zeros_(model.weight)
        torch.nn.init.zeros_(model.bias)
        optimizer = torch.optim.SGD(
            [
                {"params": [model.weight], "weight_decay": self.alpha},
                {"params": [model.bias]},
            ],
            lr=self.lr,
        )
        for _ in range(self.epochs):
            order = torch.randperm(n)
            for start in range(0, n, self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
                optimizer.step()
        self.model_, self.n_iter_ = model, self.epochs
        return self

    def score(self, X, y):
        import torch

        with torch.no_grad():
            predicted = self.model_(torch.from_numpy(X)).argmax(dim=1).numpy()
        return float(np.mean(predicted == y))


@dataclass(frozen=True)
class Workload:
    """Peers side by side on one data set; ``name`` is the benchmark group."""

    name: str
    title: str
    data: Data
    peers: tuple
    heads: int = 1  # weight vectors each sample updates (for the flop floor)
    score: str = "accuracy"


_CLF, _REG = "SGDClassifier", "SGDRegressor"
_LR = 0.1  # constant rate of the multinomial fits (fastsgd and PyTorch)
_OVR = dict(loss="log_loss", batch_size=BATCH)
_MULTINOMIAL = dict(
    loss="log_loss",
    batch_size=BATCH,
    multi_class="multinomial",
    learning_rate="constant",
    eta0=_LR,
)
_TORCH = Peer(
    f"torch batch {BATCH}",
    f"lr={_LR}, weight_decay=1e-4 (weights), {THREADS} threads",
    lambda: TorchSoftmax(_LR),
    versus=f"fastsgd multinomial batch {BATCH}",
    prepare=TorchSoftmax.prepare,
)


# ------------------------------------------------------------------ shuffled read
@numba.njit(parallel=True, nogil=True, cache=True, fastmath={"reassoc"})
def _read_rows(X_data, X_indptr, n_features, is_sparse, order, n_parts):
    """Sum every stored value of ``X``, rows in ``order``, prefetching 16 rows ahead."""
    m = order.shape[0]
    sums = np.zeros(n_parts)
    for part in numba.prange(n_parts):
        lo, hi = part * m // n_parts, (part + 1) * m // n_parts
        acc = 0.0
        for idx in range(lo, hi):
            if idx + 16 < hi:
                ahead = order[idx + 16]
                start = X_indptr[ahead] if is_sparse else ahead * n_features
                stop = X_indptr[ahead + 1] if is_sparse else start + n_features
                for jj in range(start, min(stop, start + 128), 8):
                    prefetch(X_data, jj)
            i = order[idx]
            start = X_indptr[i] if is_sparse else i * n_features
            stop = X_indptr[i + 1] if is_sparse else start + n_features
            row = X_data[start:stop]
            for j in range(row.shape[0]):
                acc += row[j]
        sums[part] = acc
    return sums.sum()


class ShuffledRead:
    """The shuffled-read floor: each epoch reads every row once, in a new random
    order (drawn outside the timed fit), with software prefetch, on all threads.
    An SGD epoch cannot be faster than this on data that does not fit in cache."""

    def __init__(self, epochs=EPOCHS):
        self.epochs = epochs

    @staticmethod
    def prepare(X, y):
        rng = np.random.default_rng(SEED)
        orders = [rng.permutation(X.shape[0]) for _ in range(EPOCHS)]
        return X, orders

    def fit(self, X, orders):
        if sp.issparse(X):
            data, indptr, sparse = X.data, X.indptr, True
        else:
            data, indptr, sparse = X.reshape(-1), np.zeros(1, np.int64), False
        for order in orders[: self.epochs]:
            self.total_ = _read_rows(data, indptr, X.shape[1], sparse, order, THREADS)
        self.n_iter_ = self.epochs
        return self

    def score(self, X, y):
        return None  # not a model


_FLOOR = Peer(
    "shuffled-read floor",
    f"read each row once in random order, prefetch 16 rows ahead, {THREADS} threads",
    ShuffledRead,
    prepare=ShuffledRead.prepare,
)

WORKLOADS = [
    Workload(
        "binary-f64",
        f"Binary hinge, dense {BINARY.n_samples} x {BINARY.n_features}, float64, "
        "per-sample",
        BINARY,
        (_sgd(fastsgd, _CLF, "batch 1"), _sgd(sklm, _CLF)),
    ),
    Workload(
        "binary-f32",
        f"Binary hinge, dense {BINARY.n_samples} x {BINARY.n_features}, float32, "
        f"mini-batch {BATCH}",
        replace(BINARY, dtype=np.float32),
        (
            _sgd(fastsgd, _CLF, f"batch {BATCH}", batch_size=BATCH),
            _sgd(sklm, _CLF),
            _FLOOR,
        ),
    ),
    Workload(
        "multiclass-f64",
        f"10 classes log_loss, dense {MULTICLASS.n_samples} x "
        f"{MULTICLASS.n_features}, float64",
        MULTICLASS,
        (
            _sgd(fastsgd, _CLF, f"ovr batch {BATCH}", **_OVR),
            _sgd(fastsgd, _CLF, f"ovr batch {BATCH} n_jobs=1", **_OVR, n_jobs=1),
            _sgd(fastsgd, _CLF, f"multinomial batch {BATCH}", **_MULTINOMIAL),
            _sgd(sklm, _CLF, "ovr n_jobs=1", loss="log_loss", n_jobs=1),
            *([_TORCH] if HAVE_TORCH else []),
            _FLOOR,
        ),
        heads=10,
    ),
    Workload(
        "regression-f64",
        f"Regression squared_error, dense {REGRESSION.n_samples} x "
        f"{REGRESSION.n_features}, float64",
        REGRESSION,
        (
            _sgd(fastsgd, _REG, f"batch {BATCH}", batch_size=BATCH),
            _sgd(fastsgd, _REG, "batch 1"),
            _sgd(sklm, _REG),
            _FLOOR,
        ),
        score="R^2",
    ),
    Workload(
        "sparse-f64",
        f"Binary hinge, CSR {SPARSE.n_samples} x {SPARSE.n_features}, "
        f"~{SPARSE.n_features * SPARSE.density:.0f} non-zeros per row, float64, "
        "per-sample and mini-batch",
        SPARSE,
        (
            _sgd(fastsgd, _CLF, "batch 1"),
            _sgd(fastsgd, _CLF, f"batch {BATCH}", batch_size=BATCH),
            _sgd(sklm, _CLF),
            _FLOOR,
        ),
    ),
]


# ----------------------------------------------------------------------- start-up
#: ``import`` and a first fit on a small data set, timed inside a new interpreter.
STARTUP_SCRIPT = """\
import json, time, warnings
import numpy as np
start = time.perf_counter()
import {module} as m
imported = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.standard_normal((2000, 20)).astype("{dtype}")
y = (X[:, 0] > 0).astype(int) if "{estimator}".endswith("Classifier") else X[:, 0]
fit_start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # 5 epochs do not converge
    m.{estimator}(max_iter=5, random_state=0, {params}).fit(X, y)
fit_end = time.perf_counter()
print(json.dumps({{"import_s": imported - start, "fit_s": fit_end - fit_start}}))
"""


def new_cache_dir():
    """A fresh, empty Numba cache directory."""
    return tempfile.mkdtemp(prefix="fastsgd-bench-numba-")


#: The start-up fits: name -> (estimator, parameters of both peers, fastsgd's
#: extra parameters, dtype). scikit-learn has no mini-batches: its peer of
#: ``minibatch`` is its default fit.
STARTUP_CASES = {
    "SGDClassifier() float64": ("SGDClassifier", "tol=None", "", "float64"),
    "SGDClassifier(batch_size=64, momentum=0.9) float32": (
        "SGDClassifier",
        "tol=None",
        "batch_size=64, momentum=0.9",
        "float32",
    ),
    "SGDRegressor() float64": ("SGDRegressor", "tol=None", "", "float64"),
    "MLPClassifier(hidden_layer_sizes=(32,)) float64": (
        "MLPClassifier",
        "hidden_layer_sizes=(32,)",
        "",
        "float64",
    ),
    "MLPRegressor(hidden_layer_sizes=(32,)) float32": (
        "MLPRegressor",
        "hidden_layer_sizes=(32,)",
        "",
        "float32",
    ),
}


def startup_module(module, case):
    """The module ``run_startup`` imports: fastsgd, or scikit-learn's of ``case``."""
    if module == "fastsgd":
        return module
    if STARTUP_CASES[case][0].startswith("MLP"):
        return "sklearn.neural_network"
    return "sklearn.linear_model"


def run_startup(module, cache_dir, case="SGDClassifier() float64"):
    """Run ``STARTUP_SCRIPT`` for ``module`` (``"fastsgd"`` or ``"sklearn"``) and
    ``case`` in a subprocess; its timings (s)."""
    estimator, shared, extra, dtype = STARTUP_CASES[case]
    params = ", ".join(filter(None, [shared, extra if module == "fastsgd" else ""]))
    root = os.path.dirname(os.path.dirname(fastsgd.__file__))  # fastsgd's checkout
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=path)
    script = STARTUP_SCRIPT.format(
        module=startup_module(module, case), estimator=estimator, params=params,
        dtype=dtype,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"start-up run of {module} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])
