"""Where SGD is used most: hashed text, ``partial_fit`` streams and small tables.

fastsgd beside scikit-learn, every peer in the same run (``report.py`` makes one
table per workload, ratios to the first row):

- *text fit*: the text corpus of ``bench/text_data.py`` (scikit-learn's
  ``HashingVectorizer(n_features=2**18)`` + ``TfidfTransformer``, 20 classes),
  a full ``fit`` of ``EPOCHS`` epochs, ``alpha=1e-5``; ms per epoch;
- *text stream*: the same rows through ``partial_fit`` in chunks of 1,000,
  two passes (scikit-learn's out-of-core recipe); ms per pass;
- *text call*: one ``partial_fit`` call on 10 rows of the fitted 20 x 262,144
  model (the fixed cost of a call); ms per call;
- *digits*: ``load_digits`` standardised, ``SGDClassifier(alpha=1e-4)`` with
  the defaults, 50 epochs (``tol=None``), binary (digit >= 5) and 10 classes;
  ms per epoch, the fit's fixed costs included;
- *digits grid*: ``GridSearchCV`` over 5 alphas x 5 folds with the defaults
  (``tol=1e-3``); ms per search.

Smoke mode (the default) uses a corpus of 3,000 documents and a 2 x 2 grid.
"""

import numpy as np
import pytest
import sklearn.linear_model as sklm
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

import fastsgd
from bench.text_data import TextCorpus
from bench.workloads import EPOCHS, FULL, PEDANTIC, SEED, floor_ms

#: The corpus: 60,000 training documents at full size.
CORPUS = TextCorpus() if FULL else TextCorpus(n_documents=3_000)
ALPHA_TEXT = 1e-5
CHUNK = 1_000 if FULL else 200
PASSES = 2
CALL_ROWS = 10
DIGITS_EPOCHS = 50 if FULL else 5
GRID = dict(alpha=10.0 ** -np.arange(1, 6)) if FULL else dict(alpha=[1e-3, 1e-4])
FOLDS = 5 if FULL else 2
#: Rounds of the 10-row call (each a fraction of a millisecond to tens).
CALL_PEDANTIC = dict(rounds=30 if FULL else 3, iterations=1, warmup_rounds=2)

MODULES = {"scikit-learn": sklm, "fastsgd": fastsgd}

#: ``(peer, module, settings shown, parameters)`` of the text fits.
TEXT_FIT_PEERS = [
    ("scikit-learn", "scikit-learn", "n_jobs=2", dict(n_jobs=2)),
    ("fastsgd per-sample", "fastsgd", "", {}),
    ("fastsgd batch 256", "fastsgd", "batch_size=256", dict(batch_size=256)),
    (
        "fastsgd multinomial",
        "fastsgd",
        'loss="log_loss", multi_class="multinomial", batch_size=256',
        dict(loss="log_loss", multi_class="multinomial", batch_size=256),
    ),
]
#: The stream's and the call's: scikit-learn with its default ``n_jobs`` (its
#: threads cost a small call more than they save).
TEXT_STREAM_PEERS = [
    ("scikit-learn", "scikit-learn", "", {}),
    *TEXT_FIT_PEERS[1:3],
]
DIGITS_PEERS = [("scikit-learn", "scikit-learn"), ("fastsgd", "fastsgd")]


@pytest.fixture(scope="module")
def text():
    """``(X_train, X_test, y_train, y_test)`` of ``CORPUS``, made once."""
    return CORPUS.make()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _classifier(module, **params):
    return MODULES[module].SGDClassifier(random_state=SEED, **params)


def _over_peers(peers):
    """Parametrize a test over ``(peer, module, settings, params)`` rows."""
    return pytest.mark.parametrize(
        ("peer", "module", "settings", "params"), peers, ids=[p[0] for p in peers]
    )


def _info(benchmark, workload, title, peer, settings, versus="scikit-learn", **more):
    benchmark.group = workload
    benchmark.extra_info.update(
        workload=workload, title=title, peer=peer, settings=settings, versus=versus,
        **more,
    )  # fmt: skip


@_over_peers(TEXT_FIT_PEERS)
def test_text_fit(benchmark, text, peer, module, settings, params):
    X, X_test, y, y_test = text
    model = benchmark.pedantic(
        lambda: _classifier(
            module, alpha=ALPHA_TEXT, max_iter=EPOCHS, tol=None, **params
        ).fit(X, y),
        **PEDANTIC,
    )
    assert model.n_iter_ == EPOCHS
    _info(
        benchmark, "text fit",
        f"Text, 20 classes: hashed tf-idf, CSR {X.shape[0]} x {X.shape[1]} "
        f"(~{X.nnz / X.shape[0]:.0f} non-zeros a row), full fit, alpha=1e-5",
        peer, settings, epochs=EPOCHS, unit="ms per epoch",
        score_name="accuracy", score=float(model.score(X_test, y_test)),
        floor_ms=floor_ms(X, CORPUS.n_classes),
    )  # fmt: skip


def _stream(module, params, X, y, classes):
    model = _classifier(module, alpha=ALPHA_TEXT, **params)
    for _ in range(PASSES):
        for start in range(0, X.shape[0], CHUNK):
            stop = start + CHUNK
            model.partial_fit(X[start:stop], y[start:stop], classes=classes)
    return model


@_over_peers(TEXT_STREAM_PEERS)
def test_text_stream(benchmark, text, peer, module, settings, params):
    X, X_test, y, y_test = text
    classes = np.unique(y)
    model = benchmark.pedantic(
        lambda: _stream(module, params, X, y, classes), **PEDANTIC
    )
    _info(
        benchmark, "text stream",
        f"Text stream: partial_fit on chunks of {CHUNK} rows, {PASSES} passes "
        f"over the {X.shape[0]} training rows",
        peer, (settings + ", " if settings else "") + f"chunks of {CHUNK}",
        epochs=PASSES, unit="ms per pass", score_name="accuracy",
        score=float(model.score(X_test, y_test)),
    )  # fmt: skip


@_over_peers(TEXT_STREAM_PEERS[:2])
def test_text_call(benchmark, text, peer, module, settings, params):
    """One ``partial_fit`` call on 10 rows of a fitted 20-class model."""
    X, X_test, y, y_test = text
    model = _classifier(module, alpha=ALPHA_TEXT, max_iter=1, tol=None, **params)
    model.fit(X[: 10 * CHUNK], y[: 10 * CHUNK])
    rows, labels = X[-CALL_ROWS:], y[-CALL_ROWS:]
    benchmark.pedantic(lambda: model.partial_fit(rows, labels), **CALL_PEDANTIC)
    _info(
        benchmark, "text call",
        f"One partial_fit call on {CALL_ROWS} rows of a fitted "
        f"{CORPUS.n_classes} x {X.shape[1]} model",
        peer, settings, unit="ms per call",
    )  # fmt: skip


@pytest.mark.parametrize("target", ["binary", "10 classes"])
@pytest.mark.parametrize(("peer", "module"), DIGITS_PEERS, ids=["sklearn", "fastsgd"])
def test_digits(benchmark, digits, target, peer, module):
    X, y = digits
    y = (y >= 5).astype(int) if target == "binary" else y
    model = benchmark.pedantic(
        lambda: _classifier(module, alpha=1e-4, max_iter=DIGITS_EPOCHS, tol=None).fit(
            X, y
        ),
        **PEDANTIC,
    )
    assert model.n_iter_ == DIGITS_EPOCHS
    _info(
        benchmark, f"digits {target}",
        f"Digits ({X.shape[0]} x {X.shape[1]}), {target}, the defaults, "
        f"{DIGITS_EPOCHS} epochs (a fit's fixed costs included)",
        peer, "alpha=1e-4", epochs=DIGITS_EPOCHS, unit="ms per epoch",
        score_name="accuracy", score_label="training accuracy",
        score=float(model.score(X, y)),
    )  # fmt: skip


@pytest.mark.parametrize(("peer", "module"), DIGITS_PEERS, ids=["sklearn", "fastsgd"])
def test_digits_grid(benchmark, digits, peer, module):
    X, y = digits
    search = benchmark.pedantic(
        lambda: GridSearchCV(_classifier(module), GRID, cv=FOLDS).fit(X, y),
        **PEDANTIC,
    )
    _info(
        benchmark, "digits grid",
        f"GridSearchCV on digits, 10 classes: {len(GRID['alpha'])} alphas x "
        f"{FOLDS} folds, the defaults",
        peer, "", unit="ms per search", score_name="accuracy",
        score_label="best CV accuracy",
        score=float(search.best_score_),
    )  # fmt: skip
