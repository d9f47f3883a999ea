"""The command line's files: data sets (CSV, ``.npz``, svmlight) and model files.

Every problem with a file raises ``CLIError`` with a message that names the file
(and, for CSV, the line and column); ``fastsgd.__main__`` prints it on stderr and
exits with the error's ``status`` (1; 2 for a pickle model file refused without
``--trust-pickle``). See ``docs/cli.md`` for the formats.
"""

import ast
import csv
import dataclasses
import difflib
import math
import warnings
from pathlib import Path

import numpy as np

CSV_SUFFIXES = (".csv",)
NPZ_SUFFIXES = (".npz",)
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm")

# marks a model file (a skops file; a joblib file before) as ``fastsgd fit``'s
MODEL_FILE_FORMAT = "fastsgd model file"
MODEL_FILE_VERSION = 1
#: extensions of pickle files: ``fit`` warns when asked to write one (it
#: writes a skops file whatever the name)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit ``status``.

    Parameters
    ----------
    message : str
        The line to print (after ``fastsgd: error:``).
    status : int, default=1
        The exit status.
    """

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Dataset:
    """Features and targets read from a data file.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features) or scipy.sparse.csr_matrix
        The features (CSR for svmlight files).
    y : ndarray of shape (n_samples,) or None
        The targets, None where the file has none (or none was asked for).
    feature_names : list of str or None
        The CSV columns of ``X``, in order; None for ``.npz`` and svmlight.
    target : str or None
        The CSV column of ``y``.
    svmlight_zero_based : bool or None
        For svmlight files, whether the feature indices start at 0.
    """

    X: object
    y: np.ndarray | None
    feature_names: list | None = None
    target: str | None = None
    svmlight_zero_based: bool | None = None


def data_format(path):
    """The format of a data file from its extension: "csv", "npz" or "svmlight".

    Examples
    --------
    >>> data_format("train.csv"), data_format("a.npz"), data_format("b.libsvm")
    ('csv', 'npz', 'svmlight')
    """
    suffix = Path(path).suffix.lower()
    for name, suffixes in [
        ("csv", CSV_SUFFIXES),
        ("npz", NPZ_SUFFIXES),
        ("svmlight", SVMLIGHT_SUFFIXES),
    ]:
        if suffix in suffixes:
            return name
    known = ", ".join(CSV_SUFFIXES + NPZ_SUFFIXES + SVMLIGHT_SUFFIXES)
    raise CLIError(
        f"{path}: unknown data file type {suffix or '(no extension)'!r}; "
        f"the extension must be one of {known}"
    )


def parse_param(text):
    """Split a ``--param key=value`` into the name and a Python value.

    The value is read as a Python literal (``ast.literal_eval``): numbers,
    ``True``/``False``/``None``, tuples, lists, dicts and quoted strings; any
    other text is taken as a string.

    Examples
    --------
    >>> parse_param("alpha=1e-4"), parse_param("loss=log_loss")
    (('alpha', 0.0001), ('loss', 'log_loss'))
    >>> parse_param("hidden_layer_sizes=(8, 4)"), parse_param("tol=None")
    (('hidden_layer_sizes', (8, 4)), ('tol', None))
    """
    name, equals, value = text.partition("=")
    name = name.strip()
    if not equals:
        raise CLIError(
            f"expected KEY=VALUE, got {text!r}: write --param {name or 'KEY'}=VALUE "
            "as one argument, with no space around '='"
        )
    if not name:
        raise CLIError(f"expected KEY=VALUE, got {text!r}: no KEY before '='")
    try:
        return name, ast.literal_eval(value.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return name, value.strip()


def read_data(
    path,
    *,
    target=None,
    features=None,
    need_target=False,
    label_dtype=None,
    regression=False,
    n_features=None,
    svmlight_zero_based="auto",
):
    """Read a data file in the format its extension names.

    Parameters
    ----------
    path : str or Path
        The file.
    target : str, optional
        CSV only: the column holding the targets (left out of the features).
    features : list of str, optional
        CSV only: the feature columns to read, by name; by default every column
        but ``target``.
    need_target : bool, default=False
        Whether a missing target is an error.
    label_dtype : numpy dtype, optional
        Classification: the dtype of the model's ``classes_`` to read text
        labels as (where every label converts); by default integers when every
        label is one, else numbers, else the strings.
    regression : bool, default=False
        Whether the targets must be numbers (regression).
    n_features : int, optional
        svmlight only: the number of features (the model's).
    svmlight_zero_based : bool or "auto", default="auto"
        svmlight only: whether feature indices start at 0 ("auto": they do
        when an index 0 appears in the file).

    Returns
    -------
    Dataset
    """
    kind = data_format(path)
    if kind == "csv":
        return _read_csv(path, target, features, need_target, label_dtype, regression)
    if kind == "npz":
        return _read_npz(path, need_target)
    return _read_svmlight(
        path, n_features, svmlight_zero_based, label_dtype, regression
    )


def _open_text(path):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except OSError as error:
        raise CLIError(f"{path}: cannot read: {error.strerror or error}") from None


def _read_csv(path, target, features, need_target, label_dtype, regression):
    with _open_text(path) as file:
        try:
            return _parse_csv(
                path, csv.reader(file), target, features, need_target,
                label_dtype, regression,
            )  # fmt: skip
        except UnicodeDecodeError:
            raise CLIError(f"{path}: not a UTF-8 text file") from None
        except csv.Error as error:
            raise CLIError(f"{path}: not a valid CSV file: {error}") from None


def _parse_csv(path, reader, target, features, need_target, label_dtype, regression):
    header = next(reader, None)
    if not header:
        raise CLIError(f"{path}: empty file (a CSV file starts with a header row)")
    header = [name.strip() for name in header]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CLIError(f"{path}, line 1: duplicate column name(s) {_names(duplicates)}")
    if target is not None and target not in header:
        if need_target:
            close = _close_column(target, header)
            if close is not None:
                raise CLIError(
                    f"{path}: no target column {target!r}; did you mean {close!r}? "
                    f"(columns: {_names(header)})"
                )
            raise CLIError(
                f"{path}: no target column {target!r} (columns: {_names(header)})"
            )
        target = None
    if need_target and target is None:
        raise CLIError(f"{path}: which column is the target? Pass --target COLUMN")
    if features is None:
        features = [name for name in header if name != target]
        if not features:
            raise CLIError(f"{path}: no feature columns (only the target {target!r})")
    else:
        missing = [name for name in features if name not in header]
        if missing:
            raise CLIError(
                f"{path}: missing feature column(s) {_names(missing)} "
                f"(the model's features: {_names(features)})"
            )
    columns = [header.index(name) for name in features]
    target_column = None if target is None else header.index(target)

    rows, targets = [], []
    for row in reader:
        line = reader.line_num
        if not row or row == [""]:  # a blank line
            continue
        if len(row) != len(header):
            raise CLIError(
                f"{path}, line {line}: {len(row)} fields, but the header has "
                f"{len(header)}"
            )
        rows.append([_number(path, line, header[i], row[i]) for i in columns])
        if target_column is not None:
            value = row[target_column].strip()
            if not value:
                raise CLIError(f"{path}, line {line}, column {target!r}: empty target")
            targets.append((line, value))
    if not rows:
        raise CLIError(f"{path}: no data rows after the header")
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(columns))
    y = None
    if target_column is not None:
        if regression:
            y = np.array([_number(path, line, target, v) for line, v in targets])
        else:
            y = _labels([value for _, value in targets], label_dtype)
    return Dataset(X, y, feature_names=list(features), target=target)


def _number(path, line, column, text):
    """A CSV field as a finite float, or a CLIError naming where it is."""
    text = text.strip()
    where = f"{path}, line {line}, column {column!r}"
    if not text:
        raise CLIError(f"{where}: empty value (missing values are not supported)")
    try:
        value = float(text)
    except ValueError:
        raise CLIError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CLIError(f"{where}: {text!r} is not a finite number")
    return value


def _labels(values, label_dtype=None):
    """Text class labels as ints, floats or strings (see ``read_data``)."""
    if label_dtype is not None:
        kinds = {"i": int, "u": int, "f": float, "b": None}.get(
            np.dtype(label_dtype).kind, None
        )
        order = [kinds] if kinds is not None else []
    else:
        order = [int, float]
    for convert in order:
        try:
            return np.array([convert(value) for value in values])
        except ValueError:
            continue
    return np.array(values, dtype=str)


def _integral_labels(y):
    """Float labels (svmlight) as ints where every one is a whole number."""
    if y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


def _read_npz(path, need_target):
    import pickle
    import zipfile

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such file")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError):
        raise CLIError(f"{path}: not a NumPy .npz file") from None
    except OSError as error:
        raise CLIError(f"{path}: cannot read: {error.strerror or error}") from None
    if not isinstance(arrays, np.lib.npyio.NpzFile):  # a .npy file
        raise CLIError(f"{path}: not a NumPy .npz file (a single .npy array)")
    with arrays:
        names = list(arrays.files)
        if "X" not in names:
            raise CLIError(
                f"{path}: no array 'X' (arrays in the file: {_names(names)})"
            )
        if need_target and "y" not in names:
            raise CLIError(
                f"{path}: no array 'y' with the targets "
                f"(arrays in the file: {_names(names)})"
            )
        X = _npz_array(path, arrays, "X")
        y = _npz_array(path, arrays, "y") if "y" in names else None
    return Dataset(X, y)


def _npz_array(path, arrays, name):
    try:
        return arrays[name]
    except ValueError as error:  # an object array: pickles are not loaded
        raise CLIError(f"{path}: array {name!r} cannot be read: {error}") from None


def _read_svmlight(path, n_features, zero_based, label_dtype, regression):
    from sklearn.datasets import load_svmlight_file

    from fastsgd._base import int32_indexable

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such file")
    try:
        if zero_based == "auto" and n_features is None:
            # scikit-learn's "auto" rule, made explicit so that the model file
            # can record it and read later files the same way
            X, y = load_svmlight_file(str(path), zero_based=True)
            zero_based = bool(X.nnz == 0 or X.indices.min() == 0)
            if not zero_based:
                X = X[:, 1:]
        else:
            X, y = load_svmlight_file(
                str(path), zero_based=zero_based, n_features=n_features
            )
    except (ValueError, UnicodeDecodeError) as error:
        raise CLIError(f"{path}: not a valid svmlight/libsvm file: {error}") from None
    if int32_indexable(X):
        # fastsgd's kernels read CSR with int32 indices (as_csr would copy and
        # warn on every call; a file's matrix is cast once, here)
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    if not regression:
        if label_dtype is not None and np.dtype(label_dtype).kind not in "iuf":
            y = _labels([str(value) for value in _integral_labels(y)], label_dtype)
        else:
            y = _integral_labels(y)
    zero_based = zero_based if isinstance(zero_based, bool) else None
    return Dataset(X, y, svmlight_zero_based=zero_based)


def _names(names):
    return ", ".join(repr(name) for name in names)


def _close_column(name, header):
    """The column of ``header`` that ``name`` most likely meant, or None.

    A column that differs only in case comes first, then the closest spelling
    (``difflib``), compared case-insensitively.

    Examples
    --------
    >>> _close_column("Diagnosis", ["age", "diagnosis"])
    'diagnosis'
    >>> _close_column("diagnosys", ["age", "Diagnosis"])
    'Diagnosis'
    >>> _close_column("weight", ["age", "diagnosis"]) is None
    True
    """
    folded = name.casefold()
    for column in header:
        if column.casefold() == folded:
            return column
    by_folded = {}
    for column in header:
        by_folded.setdefault(column.casefold(), column)
    close = difflib.get_close_matches(folded, list(by_folded), n=1)
    return by_folded[close[0]] if close else None


def save_model(path, artifact):
    """Write a model file: ``artifact`` (a dict) as a skops file.

    Every object in it is of a type ``fastsgd.load`` allows (the estimator,
    strings, lists, None), so ``predict`` and ``score`` read it back without
    trusting it.
    """
    from fastsgd._model_files import _write

    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        warnings.warn(
            f"{path}: fastsgd writes skops files, not pickles, whatever the "
            "extension; name model files .skops",
            UserWarning,
            stacklevel=2,
        )
    try:
        _write(artifact, path)
    except OSError as error:
        raise CLIError(f"{path}: cannot write: {error.strerror or error}") from None
    except TypeError as error:
        raise CLIError(f"{path}: cannot save the model: {error}") from None


def make_artifact(estimator, model, dataset, version):
    """The dict a model file holds: the fitted estimator and how to feed it."""
    return {
        "format": MODEL_FILE_FORMAT,
        "format_version": MODEL_FILE_VERSION,
        "fastsgd_version": version,
        "model": model,
        "estimator": estimator,
        "feature_names": dataset.feature_names,
        "target": dataset.target,
        "svmlight_zero_based": dataset.svmlight_zero_based,
    }


def _estimator_artifact(estimator):
    """The artifact of a bare estimator (a file of ``fastsgd.save``): its
    feature names where it was fit on named columns, no target column."""
    names = getattr(estimator, "feature_names_in_", None)
    return {
        "format": MODEL_FILE_FORMAT,
        "format_version": MODEL_FILE_VERSION,
        "fastsgd_version": None,
        "model": None,
        "estimator": estimator,
        "feature_names": None if names is None else [str(n) for n in names],
        "target": None,
        "svmlight_zero_based": None,
    }


def load_model(path, trust_pickle=False):
    """Read a model file written by ``fastsgd fit`` (or ``fastsgd.save``).

    A skops file is read through ``fastsgd.load``'s allow-list: a file that
    names any other type is refused before anything in it is built. A pickle
    or joblib file (a model file of fastsgd before skops) is refused unless
    ``trust_pickle``, since unpickling runs whatever code the file carries.

    Parameters
    ----------
    path : str or Path
        The model file.
    trust_pickle : bool, default=False
        Load a pickle or joblib file (``--trust-pickle``).

    Returns
    -------
    dict
        The artifact of ``make_artifact`` (for a file of ``fastsgd.save``,
        one made from the estimator: no target column, its
        ``feature_names_in_`` if it has them).
    """
    from sklearn.base import BaseEstimator

    from fastsgd._model_files import (
        ModelFileError,
        PickleFileError,
        UntrustedTypesError,
        load,
    )

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such file")
    try:
        artifact = load(path, trusted=trust_pickle)
    except PickleFileError:
        raise CLIError(
            f"{path} is a pickle (joblib) file: loading it would run any code it "
            "carries, so it is refused. If you made it or trust it as you would "
            "a program, pass --trust-pickle; fastsgd fit writes skops files, "
            "which load without running code",
            status=2,
        ) from None
    except UntrustedTypesError as error:
        raise CLIError(str(error)) from None
    except ModelFileError:
        raise CLIError(f"{path} is not a fastsgd model file") from None
    except OSError as error:
        raise CLIError(f"{path}: cannot read: {error.strerror or error}") from None
    if isinstance(artifact, BaseEstimator) and hasattr(artifact, "predict"):
        return _estimator_artifact(artifact)
    if not (
        isinstance(artifact, dict)
        and artifact.get("format") == MODEL_FILE_FORMAT
        and "estimator" in artifact
    ):
        raise CLIError(f"{path} is not a fastsgd model file")
    if artifact.get("format_version") != MODEL_FILE_VERSION:
        raise CLIError(
            f"{path}: model file format {artifact.get('format_version')!r}; this "
            f"fastsgd reads format {MODEL_FILE_VERSION}"
        )
    from fastsgd import __version__

    if artifact.get("fastsgd_version") != __version__:
        warnings.warn(
            f"{path} was written by fastsgd {artifact.get('fastsgd_version')}; "
            f"this is fastsgd {__version__}",
            UserWarning,
            stacklevel=2,
        )
    return artifact
