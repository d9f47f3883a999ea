"""``partial_fit`` streams on sparse data cost their chunk, not the model.

scikit-learn folds the scale of its scaled weights (``w = wscale * v``, and
the lazy average) into every weight at the end of each call. fastsgd's calls
of one epoch on CSR data record that fold instead (``_trainer.PendingFolds``)
and apply it to a column when a later call reads the column, or to the whole
model when ``coef_`` is read: the same arithmetic in the same order, so the
model is bitwise the one of eager folds (``_trainer.LAZY_FOLDS = False``)
and, per-sample, scikit-learn's. These tests check that equality, that the
weights a call does not reach stay untouched in memory, and that roll-back,
pickling and the amortised flush keep it.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sklm

import fastsgd
from fastsgd import SGDClassifier, SGDRegressor, _trainer


def make_stream(task, *, n_chunks=6, rows=20, n_features=300, seed=0):
    """CSR chunks whose rows store values in a few columns each, drawn from a
    vocabulary that drifts from chunk to chunk (so that every call leaves
    most columns alone)."""
    rng = np.random.RandomState(seed)
    W = rng.randn(n_features, 3)
    chunks = []
    for c in range(n_chunks):
        lo = (c * n_features // (2 * n_chunks)) % n_features
        cols = lo + rng.randint(0, n_features // 3, size=(rows, 6))
        cols %= n_features
        X = sp.lil_matrix((rows, n_features))
        for i in range(rows):
            X[i, cols[i]] = rng.randn(6)
        X = sp.csr_matrix(X)
        S = np.asarray(X @ W) + 0.1 * rng.randn(rows, 3)
        if task == "binary":
            y = (S[:, 0] > 0).astype(int)
        elif task == "multiclass":
            y = S.argmax(axis=1)
        else:
            y = S[:, 0]
        chunks.append((X, y))
    return chunks


CASES = [
    ("binary", dict(loss="hinge")),
    ("multiclass", dict(loss="log_loss", penalty="elasticnet", average=True)),
    (
        "multiclass",
        dict(loss="modified_huber", penalty="l1", learning_rate="optimal", alpha=0.05),
    ),  # fmt: skip
    ("regression", dict(loss="squared_error", average=30, penalty="l1")),
    ("multiclass", dict(loss="hinge", batch_size=8)),  # O(nnz) mini-batches
    (
        "multiclass",
        dict(loss="hinge", batch_size=8, penalty="elasticnet", average=40),
    ),  # fmt: skip
]


def _make(module, task, params):
    params = {"random_state": 0, "eta0": 0.05, **params}
    if module is sklm:
        params.pop("batch_size", None)
    if task == "regression":
        return module.SGDRegressor(**params)
    return module.SGDClassifier(**params)


def _stream(est, chunks, task, dtype=np.float64):
    kw = (
        {}
        if task == "regression"
        else {"classes": np.arange(3 if task != "binary" else 2)}
    )
    for X, y in chunks:
        est.partial_fit(X.astype(dtype), y, **kw)
    return est


def _model(est):
    return np.asarray(est.coef_), np.asarray(est.intercept_)


def _assert_bitwise(got, want, label):
    for a, b, name in zip(got, want, ("coef_", "intercept_"), strict=True):
        differ = np.flatnonzero(a.ravel() != b.ravel())
        assert differ.size == 0, (
            f"{label}: {name} differs at {differ.size} entries (max "
            f"{np.max(np.abs(a - b)):.3g})"
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("task,params", CASES, ids=[f"{t}-{p}" for t, p in CASES])
def test_lazy_folds_give_the_eager_model_bitwise(task, params, dtype, monkeypatch):
    chunks = make_stream(task)
    lazy = _stream(_make(fastsgd, task, params), chunks, task, dtype)
    assert lazy.__dict__["_state"].pending.n_events > 0, "no fold was left pending"
    with monkeypatch.context() as m:
        m.setattr(_trainer, "LAZY_FOLDS", False)
        eager = _stream(_make(fastsgd, task, params), chunks, task, dtype)
    _assert_bitwise(_model(lazy), _model(eager), f"{task} {params} lazy vs eager")
    if (
        params.get("batch_size", 1) == 1
        and not params.get("average")
        and (dtype == np.float64)
    ):
        # per-sample, no average, float64: scikit-learn's model, bit for bit
        skl = _stream(_make(sklm, task, params), chunks, task, dtype)
        _assert_bitwise(_model(lazy), _model(skl), f"{task} {params} vs scikit-learn")


@pytest.mark.parametrize("batch_size", [1, 8], ids=["per-sample", "mini-batch"])
def test_a_call_leaves_the_columns_it_does_not_read_alone(batch_size):
    """After a call whose rows store values in columns ``C`` only, every other
    column's weights are the same bytes as before it: the call cost its
    chunk, not the model (its fold waits in ``PendingFolds``)."""
    chunks = make_stream("multiclass")
    est = _make(fastsgd, "multiclass", dict(batch_size=batch_size))
    _stream(est, chunks[:3], "multiclass")
    state = est.__dict__["_state"]
    before = np.array(state.coef, copy=True)  # raw weights: nothing applied
    X, y = chunks[3]
    est.partial_fit(X, y)
    read = np.unique(X.indices)
    others = np.setdiff1d(np.arange(X.shape[1]), read)
    assert np.array_equal(state.coef[:, others], before[:, others]), (
        "a partial_fit call changed weights of columns its chunk does not read"
    )
    assert not np.array_equal(state.coef[:, read], before[:, read])
    pending = state.pending
    assert pending.n_events > 0 and np.all(pending.stamp[others] < pending.n_events)
    # reading coef_ applies every pending fold
    assert est.coef_.shape == (3, X.shape[1]) and pending.n_events == 0


def test_pending_folds_flush_when_full(monkeypatch):
    """More calls than ``PendingFolds.CAPACITY`` apply the folds to the whole
    model (amortised) and start again: the same bits."""
    chunks = make_stream("multiclass", n_chunks=9)
    params = dict(loss="hinge", average=True)
    with monkeypatch.context() as m:
        m.setattr(_trainer.PendingFolds, "CAPACITY", 2)
        small = _stream(_make(fastsgd, "multiclass", params), chunks,
                        "multiclass")  # fmt: skip
    m2 = _stream(_make(fastsgd, "multiclass", params), chunks,
                 "multiclass")  # fmt: skip
    _assert_bitwise(_model(small), _model(m2), "capacity 2 vs 64")


def test_pickle_keeps_the_pending_folds():
    chunks = make_stream("multiclass")
    est = _stream(_make(fastsgd, "multiclass", dict(average=True)),
                  chunks, "multiclass")  # fmt: skip
    copy = pickle.loads(pickle.dumps(est))
    _assert_bitwise(_model(copy), _model(est), "unpickled vs original")
    X, y = chunks[0]
    copy.partial_fit(X, y)
    est.partial_fit(X, y)
    _assert_bitwise(_model(copy), _model(est), "one more call after unpickling")


@pytest.mark.parametrize("penalty", ["l2", None], ids=["eager", "lazy"])
@pytest.mark.parametrize("batch_size", [1, 8], ids=["per-sample", "mini-batch"])
def test_a_diverging_call_restores_the_model_before_it(batch_size, penalty):
    """Without a penalty the call cannot fold its scale into every weight, so
    it runs lazily and rolls back only the columns it read; with L2 at a huge
    rate the scale can vanish, so it runs eagerly."""
    chunks = make_stream("regression")
    est = SGDRegressor(random_state=0, batch_size=batch_size, eta0=0.01,
                       penalty=penalty)  # fmt: skip
    _stream(est, chunks[:3], "regression")
    est.partial_fit(*chunks[3])  # left pending
    reference = _model(pickle.loads(pickle.dumps(est)))
    X, y = chunks[4]
    est.set_params(learning_rate="constant", eta0=1e300)
    with pytest.raises(ValueError, match="diverged"):
        est.partial_fit(X, y * 1e300)
    _assert_bitwise(_model(est), reference, "after a diverging call")


def test_classifier_float32_stream_stays_float32():
    chunks = make_stream("multiclass")
    est = _stream(SGDClassifier(random_state=0), chunks, "multiclass", np.float32)
    assert est.coef_.dtype == np.float32
