"""What every fastsgd estimator shares: the input funnel and weight checks.

One funnel (``validate_data(..., dtype=[np.float64, np.float32], order="C",
accept_sparse="csr")``): float32 stays float32, a C-contiguous array is not
copied, CSR stays sparse. Every SciPy sparse type is accepted: CSC, COO (and
the other formats) are converted to CSR, and int64 indices to int32, once per
call, with an ``EfficiencyWarning`` naming the copy (``as_csr``).
The trainers turn the result into the ``Data`` bundle every kernel takes
(``bundles.data_of``).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import EfficiencyWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    _check_y,
    check_is_fitted,
    validate_data,
)

from fastsgd._device import (
    DEVICES,
    check_device_X,
    check_same_side,
    host_copy,
    is_device_array,
    resolve_device,
)
from fastsgd._progress import caller_stacklevel

_INT32_MAX = np.iinfo(np.int32).max


def int32_indexable(X):
    """Whether int32 indices, which the kernels read, address the sparse ``X``
    (its stored values and its columns)."""
    return X.nnz <= _INT32_MAX and X.shape[1] <= _INT32_MAX


def as_csr(X, what="X"):
    """A sparse ``X`` as CSR with int32 indices, the layout the kernels read.

    Other formats (CSC, COO, ...) and int64 indices (``load_svmlight_file``
    makes them) are converted here, once per call, with an
    ``EfficiencyWarning`` that names the copy and its size. Dense input is
    returned as it is.

    Raises
    ------
    ValueError
        When the matrix has more stored values or columns than int32 indices
        can address.
    """
    if not sp.issparse(X):
        return X
    steps = []
    if X.format != "csr":
        steps.append(f"converted from {X.format.upper()} to CSR")
        X = X.tocsr()
    if X.indices.dtype != np.int32 or X.indptr.dtype != np.int32:
        if not int32_indexable(X):
            raise ValueError(
                f"{what} has {X.nnz} stored values and {X.shape[1]} columns; "
                "fastsgd's kernels index sparse rows with int32, which addresses "
                f"at most {_INT32_MAX} of each. Split the data into smaller "
                "blocks (partial_fit) instead."
            )
        steps.append(f"its {X.indices.dtype} indices cast to int32")
        X = type(X)(
            (X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
            shape=X.shape,
        )
    if steps:
        size = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
        warnings.warn(
            f"{what} was copied for fastsgd's kernels, which read CSR rows with "
            f"int32 indices: {' and '.join(steps)} ({size:.3g} MiB, on every "
            "call). Pass a CSR matrix with int32 indices to avoid the copy: "
            "X = X.tocsr(); X.indices = X.indices.astype('int32'); "
            "X.indptr = X.indptr.astype('int32').",
            EfficiencyWarning,
            stacklevel=caller_stacklevel(),
        )
    return X


#: The ``device`` parameter's constraint (all four estimators).
DEVICE_CONSTRAINT = [StrOptions(set(DEVICES))]


class TrainingStateMixin:
    """``training_state()``: the public read side of the state protocol that
    parameter mixing (``fastsgd.dask``) uses; each estimator family writes a
    state back with its own ``load_training_state``."""

    def training_state(self):
        """The trainer's state of this model: what ``partial_fit`` resumes.

        Parameters, optimizer state (momentum buffers, or Adam's moments),
        step and sample counts, learning rates and stopping state: a
        ``LinearState`` for the linear models, an ``MLPState`` for the MLPs.
        For parameter mixing: the states of copies trained on disjoint data
        are averaged with ``type(state).average(states, fractions, seen)``
        and loaded into one copy with ``load_training_state``. Read it, do
        not modify it.

        Returns
        -------
        state : LinearState or MLPState
        """
        check_is_fitted(self, "_state")
        return self._state


class GPUScoreMixin:
    """``score`` that also takes GPU inputs: ``y``/``sample_weight`` go to the host.

    Placed before scikit-learn's ``ClassifierMixin``/``RegressorMixin``, whose
    metric needs host targets while ``predict`` runs where ``X`` is.
    """

    def score(self, X, y, sample_weight=None):
        """The mean accuracy (classifiers) or R² (regressors) on ``X``, ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix, GPU array} of shape (n_samples, n_features)
            Test samples; a GPU array (with ``device='cuda'`` or ``'auto'``)
            is predicted on the GPU.
        y : array-like or GPU array of shape (n_samples,) or (n_samples, n_outputs)
            True targets, on the same side as ``X``.
        sample_weight : array-like or GPU array of shape (n_samples,), default=None
            Sample weights, on the same side as ``X``.

        Returns
        -------
        float
            scikit-learn's score of ``self.predict(X)`` against ``y``.
        """
        check_same_side(X, y=y, sample_weight=sample_weight)
        if is_device_array(y):
            y = host_copy(y, "y")
        if is_device_array(sample_weight):
            sample_weight = host_copy(sample_weight, "sample_weight")
        return super().score(X, y, sample_weight=sample_weight)


def fit_device(estimator, gpu_capable=True):
    """Resolve ``estimator.device`` for a fit; sets and returns ``device_``.

    ``gpu_capable=False`` (a setting the GPU does not train): ``"auto"``
    means the CPU, and ``"cuda"`` raises the caller's error (the caller
    checks ``gpu_capable`` itself; here it only steers ``"auto"``).
    """
    if estimator.device == "auto" and not gpu_capable:
        estimator.device_ = "cpu"
    else:
        estimator.device_ = resolve_device(estimator.device)
    return estimator.device_


def _check_gpu_input(estimator, where):
    """A GPU ``X`` needs ``device="cuda"`` (or ``"auto"`` on a machine with a GPU)."""
    device = getattr(estimator, "device_", None) or resolve_device(estimator.device)
    if estimator.device == "cpu" or device != "cuda":
        raise ValueError(
            f"X passed to {where} is a GPU array (it has __cuda_array_interface__) "
            f"but {type(estimator).__name__} has device={estimator.device!r}: use "
            "device='cuda' (or 'auto'), or copy X to the host first."
        )


def _validate_gpu_X(estimator, X, where, reset):
    """A GPU ``X`` for ``where``: the device allows it, the array is sound
    (``check_device_X``) and its features match the fit's (or set them)."""
    _check_gpu_input(estimator, where)
    X = check_device_X(X, type(estimator).__name__)
    _check_n_features(estimator, X, reset=reset)
    return X


def validate_X_y(estimator, X, y, *, reset, y_numeric=False, multi_output=False):
    """Validate ``X`` and ``y`` through the one funnel.

    GPU arrays (``__cuda_array_interface__``) are checked where they are: ``X``
    stays on the GPU, uncopied; ``y`` (small) is copied to the host. ``X`` and
    ``y`` must be on the same side.
    """
    if is_device_array(X) or is_device_array(y):
        check_same_side(X, y=y)
        X = _validate_gpu_X(estimator, X, "fit", reset)
        _check_feature_names(estimator, X, reset=reset)
        y = _check_y(
            host_copy(y, "y"), multi_output=multi_output, y_numeric=y_numeric,
            estimator=estimator,
        )  # fmt: skip
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{X.shape[0]}, {y.shape[0]}]"
            )
        return X, y
    return validate_data(
        estimator,
        as_csr(X),
        y,
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=False,
        y_numeric=y_numeric,
        multi_output=multi_output,
        reset=reset,
    )


def validate_X(estimator, X, *, reset=False):
    """Validate ``X`` for prediction (features must match the fit), or, with
    ``reset=True``, for the fit of a model without targets.

    A GPU ``X`` is checked on the GPU and returned as a Numba device array.
    """
    if is_device_array(X):
        return _validate_gpu_X(estimator, X, "fit" if reset else "prediction", reset)
    return validate_data(
        estimator,
        as_csr(X),
        accept_sparse="csr",
        dtype=[np.float64, np.float32],
        order="C",
        accept_large_sparse=False,
        reset=reset,
    )


def check_sample_weight(sample_weight, X, *, allow_all_zero=False):
    """Sample weights as ``X.dtype``: finite, non-negative, not all zero.

    GPU weights (with a GPU ``X``) are copied to the host; mixing a GPU ``X``
    with host weights, or the reverse, raises.
    """
    check_same_side(X, sample_weight=sample_weight)
    if is_device_array(sample_weight):
        sample_weight = host_copy(sample_weight, "sample_weight")
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
