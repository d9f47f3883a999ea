"""Every SciPy sparse type reaches the kernels as CSR with int32 indices.

CSC and COO (matrix and array), the other formats, and CSR with int64 indices
(what ``load_svmlight_file`` returns) are converted once per call, with an
``EfficiencyWarning`` that names the copy; the model is bitwise the one a CSR
fit of the same values gives (CSR is checked against the dense path and the
references in ``test_layouts.py``). CSR with int32 indices is used as it is, with no
warning.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import EfficiencyWarning

from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor

RNG = np.random.RandomState(0)
X_DENSE = np.where(RNG.rand(80, 6) < 0.5, 0.0, RNG.randn(80, 6))
X_DENSE[~X_DENSE.any(axis=1), 0] = 1.0
Y_CLASS = (X_DENSE[:, 0] + X_DENSE[:, 1] > 0).astype(int)
Y_REAL = X_DENSE @ RNG.randn(6)

ESTIMATORS = {
    "SGDClassifier": (SGDClassifier(max_iter=3, tol=None, random_state=0), Y_CLASS),
    "SGDRegressor mini-batch": (
        SGDRegressor(batch_size=8, momentum=0.9, max_iter=3, tol=None,
                     random_state=0),
        Y_REAL,
    ),
    "MLPClassifier": (
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0), Y_CLASS
    ),
    "MLPRegressor": (
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0), Y_REAL
    ),
}  # fmt: skip

CONVERTED = ["csc_matrix", "csc_array", "coo_matrix", "coo_array", "lil_array",
             "dok_matrix", "bsr_array", "dia_array"]  # fmt: skip


def _int64_csr(X):
    csr = sp.csr_matrix(X)  # the constructor would pick int32 indices again
    csr.indices, csr.indptr = csr.indices.astype(np.int64), csr.indptr.astype(np.int64)
    return csr


def _params(est):
    if hasattr(est, "coefs_"):
        return [*est.coefs_, *est.intercepts_]
    return [est.coef_, est.intercept_]


def _fit(est, X, y):
    est = est.__class__(**est.get_params())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Stochastic Optimizer")
        return est.fit(X, y)


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("kind", [*CONVERTED, "int64 csr"])
def test_every_sparse_type_trains_the_csr_model_and_warns(name, kind):
    est, y = ESTIMATORS[name]
    X = _int64_csr(X_DENSE) if kind == "int64 csr" else getattr(sp, kind)(X_DENSE)
    reference = _fit(est, sp.csr_matrix(X_DENSE), y)
    expected = "int64 indices" if kind == "int64 csr" else kind[:3].upper()
    with pytest.warns(EfficiencyWarning, match=f"{expected}.*MiB") as record:
        fitted = _fit(est, X, y)
    # the warning names the caller's line, not fastsgd's internals
    assert all(w.filename == __file__ for w in record), [w.filename for w in record]
    for got, want in zip(_params(fitted), _params(reference), strict=True):
        np.testing.assert_array_equal(got, want, err_msg=f"{name} on {kind}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EfficiencyWarning)
        predicted = fitted.predict(X)
    np.testing.assert_allclose(predicted, reference.predict(X_DENSE), rtol=1e-12)


@pytest.mark.parametrize("kind", ["csr_matrix", "csr_array"])
def test_int32_csr_is_used_as_it_is(kind):
    X = getattr(sp, kind)(X_DENSE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EfficiencyWarning)
        est = _fit(ESTIMATORS["SGDClassifier"][0], X, Y_CLASS)
        est.predict(X)


def test_svmlight_file_trains(tmp_path):
    from sklearn.datasets import dump_svmlight_file, load_svmlight_file

    path = str(tmp_path / "data.svm")
    dump_svmlight_file(X_DENSE, Y_CLASS, path)
    X, y = load_svmlight_file(path, n_features=X_DENSE.shape[1])
    with pytest.warns(EfficiencyWarning, match="int64 indices cast to int32"):
        est = _fit(ESTIMATORS["SGDClassifier"][0], X, y)
    reference = _fit(ESTIMATORS["SGDClassifier"][0], sp.csr_matrix(X_DENSE), Y_CLASS)
    # the text file holds the values to 16 significant digits
    np.testing.assert_allclose(est.coef_, reference.coef_, rtol=1e-12)
