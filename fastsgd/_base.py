"""What every fastsgd estimator shares: the input funnel and weight checks.

One funnel (``validate_data(..., dtype=[np.float64, np.float32], order="C",
accept_sparse="csr")``): float32 stays float32, a C-contiguous array is not
copied, CSR stays sparse. ``as_kernel_data`` turns the result into the flat
arrays every kernel takes.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils.validation import _check_sample_weight, validate_data

from fastsgd._kernels.cpu import empty_index


def validate_X_y(estimator, X, y, *, reset, y_numeric=False, multi_output=False):
    """Validate ``X`` and ``y`` through the one funnel."""
    return validate_data(
        estimator,
        X,
        y,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=False,
        y_numeric=y_numeric,
        multi_output=multi_output,
        reset=reset,
    )


def validate_X(estimator, X):
    """Validate ``X`` for prediction (features must match the fit)."""
    return validate_data(
        estimator,
        X,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=False,
        reset=False,
    )


def as_kernel_data(X):
    """``(X_data, X_indices, X_indptr, n_features, is_sparse)`` for a kernel.

    A dense ``X`` becomes its flat view (no copy); a CSR matrix or array its
    three arrays, with int32 indices. The values are a read-only view.
    """
    n_features = X.shape[1]
    if sp.issparse(X):
        return (
            _read_only(X.data),
            X.indices.astype(np.int32, copy=False),
            X.indptr.astype(np.int32, copy=False),
            n_features,
            True,
        )
    return _read_only(X.reshape(-1)), empty_index(), empty_index(), n_features, False


def _read_only(values):
    """A read-only view: Numba types read-only arrays apart, so the kernels
    always get one (a memory-mapped or shared ``X`` then needs no new compile)."""
    view = values.view()
    view.flags.writeable = False
    return view


def check_sample_weight(sample_weight, X, *, allow_all_zero=False):
    """Sample weights as ``X.dtype``: finite, non-negative, not all zero."""
    sample_weight = _check_sample_weight(
        sample_weight,
        X,
        dtype=X.dtype,
        ensure_non_negative=True,
        allow_all_zero_weights=True,
    )
    if not allow_all_zero and not np.any(sample_weight > 0):
        raise ValueError(
            "The total sample weight is zero: at least one sample needs a "
            "positive weight."
        )
    return sample_weight


def validation_split(estimator, y, sample_weight, *, stratify):
    """Boolean mask of the early-stopping validation set (scikit-learn's split).

    The same ``(Stratified)ShuffleSplit`` and ``random_state`` as
    scikit-learn, so a seed selects the same validation samples.
    """
    n_samples = y.shape[0]
    mask = np.zeros(n_samples, dtype=bool)
    if not estimator.early_stopping:
        return mask
    splitter = StratifiedShuffleSplit if stratify else ShuffleSplit
    cv = splitter(
        test_size=estimator.validation_fraction, random_state=estimator.random_state
    )
    idx_train, idx_val = next(cv.split(np.zeros((n_samples, 1)), y))
    if idx_train.shape[0] == 0 or idx_val.shape[0] == 0:
        raise ValueError(
            f"Splitting {n_samples} samples into a train set and a validation set "
            f"with validation_fraction={estimator.validation_fraction!r} led to an "
            f"empty set ({idx_train.shape[0]} and {idx_val.shape[0]} samples). "
            "Please either change validation_fraction, increase number of samples, "
            "or disable early_stopping."
        )
    if not np.any(sample_weight[idx_val] > 0):
        raise ValueError(
            "The sample weights for validation set are all zero, consider using a "
            "different random state."
        )
    mask[idx_val] = True
    return mask
