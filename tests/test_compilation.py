"""Few specialisations: each epoch kernel compiles once per dtype, whatever the
layout (dense or CSR) and hyper-parameters."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastsgd import SGDClassifier, SGDRegressor
from fastsgd._kernels import cpu


def _fit_everything(X, y):
    SGDClassifier(max_iter=2, tol=None, random_state=0).fit(X, y)
    SGDClassifier(
        loss="log_loss", penalty="elasticnet", average=True, max_iter=2, tol=None
    ).fit(X, y)
    SGDClassifier(batch_size=8, momentum=0.9, nesterov=True, max_iter=2, tol=None).fit(
        X, y
    )
    SGDClassifier(
        loss="log_loss", multi_class="multinomial", batch_size=4, max_iter=2, tol=None
    ).fit(X, y)
    SGDRegressor(max_iter=2, tol=None, learning_rate="adaptive").fit(X, y.astype(float))
    SGDRegressor(batch_size=5, max_iter=2, tol=None, penalty="l1").fit(
        X, y.astype(float)
    )


@pytest.mark.parametrize("kernel", ["sgd_epoch_per_sample", "sgd_epoch_minibatch"])
def test_one_compilation_per_dtype(kernel):
    rng = np.random.RandomState(0)
    X = rng.randn(40, 6)
    y = rng.randint(0, 3, 40)
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        _fit_everything(Xd, y)
        _fit_everything(sp.csr_matrix(Xd), y)
        _fit_everything(sp.csr_array(Xd), y)
    signatures = getattr(cpu, kernel).signatures
    dtypes = sorted({str(sig[0].dtype) for sig in signatures})
    assert len(signatures) == 2, (
        f"{kernel} compiled {len(signatures)} times (expected one per dtype): "
        f"{signatures}"
    )
    assert dtypes == ["float32", "float64"]
