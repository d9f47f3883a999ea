"""Tuning ``alpha``: ``SGDClassifierCV`` / ``SGDRegressorCV`` beside ``GridSearchCV``.

Each workload searches 6 alphas (``10.0 ** -np.arange(1, 7)``) over 5 folds,
5 epochs a fit (``tol=None``), and refits the best on all training rows;
every peer in the same run (``report.py`` makes one table per workload,
ratios to the first row):

- ``GridSearchCV`` over scikit-learn's estimator, ``n_jobs=2``;
- ``GridSearchCV`` over fastsgd's estimator (its kernels use the threads);
- fastsgd's CV estimator: the grid and the folds as heads of one pass.

Workloads (issue 31): binary hinge, dense 100k x 100; 5-class ``log_loss``,
dense 60k x 200; regression, dense 100k x 50 (all float64); and the text
corpus of ``bench/text_data.py`` hashed to 2**16 features, 20 classes. A
fifth of the rows is held out: ``score`` is the refit model's on them,
``best_cv_score`` the chosen alpha's mean CV score.

Smoke mode (the default) uses 2,000 rows (300 documents), 2 alphas and 2 folds.
"""

import numpy as np
import pytest
import sklearn.linear_model as sklm
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV, train_test_split

import fastsgd
from bench.text_data import TextCorpus
from bench.workloads import FULL, SEED

ALPHAS = 10.0 ** -np.arange(1, 7) if FULL else np.array([1e-2, 1e-4])
FOLDS = 5 if FULL else 2
EPOCHS = 5
ROWS = 1 if FULL else 0.02  # share of the row counts
#: Timed rounds of a search, after a warm-up round (fastsgd's compilation) for
#: fastsgd's peers, none for scikit-learn's: the median of three on the dense
#: workloads (one round moved a ratio by up to 1.2x from run to run), one on
#: text, whose scikit-learn search is 40 s a round.
ROUNDS = {"tuning text": 1}

WORKLOADS = {
    "tuning binary": ("Binary hinge, dense {n} x 100 float64", True,
                      dict(loss="hinge")),
    "tuning 5 classes": ("5 classes log_loss, dense {n} x 200 float64", True,
                         dict(loss="log_loss")),
    "tuning regression": ("Regression squared_error, dense {n} x 50 float64", False,
                          {}),
    "tuning text": ("Text, 20 classes: hashed tf-idf, CSR {n} x 2^16", True, {}),
}  # fmt: skip

PEERS = [
    ("GridSearchCV(scikit-learn)", "sklearn", "n_jobs=2"),
    ("GridSearchCV(fastsgd)", "fastsgd", ""),
    ("fastsgd *CV", "cv", "one pass"),
]


def _make(workload):
    """``(X_train, X_test, y_train, y_test)`` of a workload."""
    if workload == "tuning text":
        corpus = TextCorpus(n_features=2**16, **({} if FULL else {"n_documents": 375}))
        return corpus.make()
    if workload == "tuning regression":
        X, y = make_regression(int(100_000 * ROWS), 50, n_informative=20, noise=10.0,
                               random_state=SEED)  # fmt: skip
    elif workload == "tuning binary":
        X, y = make_classification(int(100_000 * ROWS), 100, n_informative=20,
                                   random_state=SEED)  # fmt: skip
    else:
        X, y = make_classification(int(60_000 * ROWS), 200, n_informative=30,
                                   n_classes=5, random_state=SEED)  # fmt: skip
    return train_test_split(X, y, test_size=0.2, random_state=SEED)


@pytest.fixture(scope="module", autouse=True)
def _started_workers():
    """Start joblib's worker processes (and their scikit-learn imports) before
    the timed rounds: otherwise the first scikit-learn search timed pays it
    (about 1.5 s: its first round took 4.7 s, the next two 3.2 and 2.9 s).
    At full size only: a smoke run measures nothing."""
    if not FULL:
        return
    X, y = make_classification(200, 5, random_state=SEED)
    GridSearchCV(sklm.SGDClassifier(max_iter=1, tol=None), {"alpha": ALPHAS},
                 cv=2, n_jobs=2).fit(X, y)  # fmt: skip


@pytest.fixture(scope="module")
def data_of():
    held = {}

    def get(workload):
        if workload not in held:
            held.clear()
            held[workload] = _make(workload)
        return held[workload]

    return get


def _search(peer, classifier, params):
    params = dict(params, max_iter=EPOCHS, tol=None, random_state=SEED)
    if peer == "cv":
        estimator = fastsgd.SGDClassifierCV if classifier else fastsgd.SGDRegressorCV
        return estimator(alphas=ALPHAS, cv=FOLDS, **params)
    module = sklm if peer == "sklearn" else fastsgd
    estimator = module.SGDClassifier if classifier else module.SGDRegressor
    return GridSearchCV(estimator(**params), {"alpha": ALPHAS}, cv=FOLDS,
                        n_jobs=2 if peer == "sklearn" else None)  # fmt: skip


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize(("peer", "kind", "settings"), PEERS, ids=[p[0] for p in PEERS])
def test_tuning(benchmark, data_of, workload, peer, kind, settings):
    X, X_test, y, y_test = data_of(workload)
    title, classifier, params = WORKLOADS[workload]
    search = benchmark.pedantic(
        lambda: _search(kind, classifier, params).fit(X, y),
        warmup_rounds=0 if kind == "sklearn" else 1, iterations=1,
        rounds=ROUNDS.get(workload, 3) if FULL else 1,
    )  # fmt: skip
    best = search.best_params_["alpha"]
    benchmark.group = workload
    benchmark.extra_info.update(
        workload=workload,
        title=title.format(n=X.shape[0]) + f": {len(ALPHAS)} alphas x {FOLDS} folds, "
        f"{EPOCHS} epochs, refit",
        peer=peer, settings=settings, versus="GridSearchCV(scikit-learn)",
        unit="ms per search", score_name="held-out score",
        score=float(search.score(X_test, y_test)),
        best_cv_score=float(search.best_score_), alpha=float(best),
    )  # fmt: skip
