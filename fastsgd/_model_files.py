"""Model files that cannot run code: ``fastsgd.save`` and ``fastsgd.load``.

A model file is a `skops <https://skops.readthedocs.io>`_ file (``skops.io``):
a zip archive holding a JSON description of the object and its arrays, from
which ``load`` rebuilds only objects of *allowed* types. A pickle (and so a
joblib file) is a program that the unpickler runs; loading one from someone
else runs their code, so ``load`` refuses pickles unless told the file is
trusted.

The allow-list (``is_allowed``):

- the types skops trusts by default: Python's numbers, strings, ``None`` and
  containers, NumPy arrays, dtypes, scalars, ufuncs and random generators,
  SciPy sparse matrices and ``scipy.special`` ufuncs, scikit-learn's public
  estimators (``sklearn.utils.all_estimators()``) and the few scikit-learn
  loss and link types skops lists;
- fastsgd's estimators and the trainer state they carry (``FASTSGD_TYPES``);
- any other class defined in a ``sklearn`` module (not in its test helpers:
  a module whose dotted name has a part containing ``test``, ``_mocking``,
  ``estimator_checks``) that is a subclass of ``sklearn.base.BaseEstimator``
  (the private estimators a fitted meta-estimator may hold), named by its
  defining module and name.

Nothing else: no function (``os.system``, ``builtins.eval``, any
scikit-learn or user function: a ``FunctionTransformer`` is allowed, its
``func`` only if it is a NumPy or SciPy ufunc), no class of another package.
"""

import importlib
import io
import os
import re

__all__ = ["save", "load", "ModelFileError", "PickleFileError", "UntrustedTypesError"]

#: fastsgd's types that a fitted estimator's state holds (found by saving
#: each estimator fitted in each mode and asking
#: ``skops.io.get_untrusted_types``; tests/test_model_files.py checks it).
FASTSGD_ESTIMATORS = (
    "fastsgd.linear_model.SGDClassifier",
    "fastsgd.linear_model.Perceptron",
    "fastsgd.linear_model.SGDRegressor",
    "fastsgd.linear_model.SGDOneClassSVM",
    "fastsgd.neural_network.MLPClassifier",
    "fastsgd.neural_network.MLPRegressor",
    "fastsgd.tuning.SGDClassifierCV",
    "fastsgd.tuning.SGDRegressorCV",
)
FASTSGD_TYPES = FASTSGD_ESTIMATORS + (
    "fastsgd._trainer.LinearState",
    "fastsgd._trainer.PendingFolds",
    "fastsgd._mlp_trainer.MLPState",
)

#: the first bytes of the files joblib writes compressed (its compressors'
#: magic numbers: zlib, gzip, bz2, xz, lzma, lz4)
_COMPRESSED_PICKLE_MAGIC = (
    b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda",
    b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"]\x00\x00", b"\x04\x22\x4d\x18",
)  # fmt: skip
_PICKLE_PROTOCOL = b"\x80"  # the PROTO opcode: pickles of protocol 2 and up

#: scikit-learn's modules of test helpers, besides those named ``*test*``
_SKLEARN_TEST_HELPERS = ("_mocking", "estimator_checks", "conftest")

_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")


class ModelFileError(ValueError):
    """A file that ``fastsgd.load`` refuses (not a model file, or unsafe)."""


class PickleFileError(ModelFileError):
    """A pickle or joblib file, refused because loading it would run its code."""


class UntrustedTypesError(ModelFileError):
    """A skops file that names types outside the allow-list.

    Attributes
    ----------
    types : list of str
        The refused types, by their full names (``posix.system``).
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = list(types)


def is_allowed(name):
    """Whether ``load`` may build objects of the type (or function) ``name``.

    ``name`` is a full name as ``skops.io.get_untrusted_types`` reports it
    (module, then qualified name): the types skops trusts by default are not
    reported and need no check.

    Parameters
    ----------
    name : str
        For example ``"fastsgd.linear_model.SGDClassifier"``.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_allowed("fastsgd._trainer.LinearState")
    True
    >>> is_allowed("sklearn.multiclass._ConstantPredictor")
    True
    >>> is_allowed("posix.system"), is_allowed("sklearn.preprocessing.scale")
    (False, False)
    """
    if name in FASTSGD_TYPES:
        return True
    return _is_sklearn_estimator_class(name)


def _is_sklearn_estimator_class(name):
    """``name`` is a class defined in a ``sklearn`` module (not one of its test
    helpers: ``tests``, ``_testing``, ``_mocking``...), subclass of
    ``BaseEstimator``. Only ``sklearn``'s installed modules are imported to
    tell (they hold scikit-learn's code, not the file's)."""
    if not (
        isinstance(name, str)
        and name.startswith("sklearn.")
        and _DOTTED_NAME.match(name)
    ):
        return False
    module_name, _, class_name = name.rpartition(".")
    if any(
        "test" in part or part in _SKLEARN_TEST_HELPERS
        for part in module_name.split(".")
    ):
        return False
    try:
        module = importlib.import_module(module_name)
    except Exception:  # no such module (or one that cannot be imported here)
        return False
    cls = getattr(module, class_name, None)
    from sklearn.base import BaseEstimator

    return (
        isinstance(cls, type)
        and issubclass(cls, BaseEstimator)
        and f"{cls.__module__}.{cls.__qualname__}" == name
    )


def file_kind(data):
    """What a model file's bytes are: ``"skops"``, ``"pickle"`` or None.

    By content, not by extension: a skops file is a zip archive; a pickle of
    protocol 2 or later (every joblib file, and ``pickle.dump``'s default)
    starts with the byte 0x80, a compressed joblib file with its compressor's
    magic number.

    Parameters
    ----------
    data : bytes
        The file's content (its first few bytes suffice for pickles).

    Returns
    -------
    str or None

    Examples
    --------
    >>> import pickle
    >>> file_kind(pickle.dumps({"a": 1})), file_kind(b"hello")
    ('pickle', None)
    """
    if data[:4] == b"PK\x03\x04":
        return "skops"
    if data[:1] == _PICKLE_PROTOCOL or data.startswith(_COMPRESSED_PICKLE_MAGIC):
        return "pickle"
    return None


def _type_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def save(model, path):
    """Save a fitted (or unfitted) estimator to a skops model file.

    The file is written with ``skops.io.dump`` (a zip archive of JSON and
    NumPy arrays; the extension ``.skops`` is customary) and read back with
    :func:`fastsgd.load`, which rebuilds only objects of allowed types and so
    cannot run code that the file carries.

    Parameters
    ----------
    model : estimator
        A fastsgd estimator (``SGDClassifier``, ``Perceptron``,
        ``SGDRegressor``, ``SGDOneClassSVM``, ``MLPClassifier``,
        ``MLPRegressor``) or a scikit-learn estimator, such as a
        ``Pipeline``, made of fastsgd and scikit-learn estimators.
    path : str or path-like
        The file to write (replaced if it exists).

    Raises
    ------
    TypeError
        Where ``model`` is not a fastsgd or scikit-learn estimator, or holds
        an object that :func:`fastsgd.load` would refuse (a function, a
        callback, an estimator of another package): the message names the
        types. Nothing is written then.

    See Also
    --------
    fastsgd.load : Read the file back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import fastsgd
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> model = fastsgd.SGDRegressor(max_iter=5, tol=None, random_state=0)
    >>> model = model.fit(X, [0.0, 1.0, 2.0, 3.0])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
    >>> fastsgd.save(model, path)
    >>> loaded = fastsgd.load(path)
    >>> bool(np.all(loaded.predict(X) == model.predict(X)))
    True
    >>> fastsgd.save({"coef": model.coef_}, path)
    Traceback (most recent call last):
    ...
    TypeError: fastsgd.save saves fastsgd and scikit-learn estimators, not builtins.dict
    """
    from sklearn.base import BaseEstimator

    if not (isinstance(model, BaseEstimator) and is_allowed(_type_name(model))):
        raise TypeError(
            "fastsgd.save saves fastsgd and scikit-learn estimators, not "
            f"{_type_name(model)}"
        )
    _write(model, path)


def _write(obj, path):
    """``skops.io.dump`` ``obj`` to ``path``, where ``load`` would read it back."""
    import skops.io

    try:
        data = skops.io.dumps(obj)
    except Exception as error:  # an object skops cannot describe
        raise TypeError(f"cannot save {_type_name(obj)}: {error}") from error
    refused = [name for name in skops.io.get_untrusted_types(data=data)
               if not is_allowed(name)]  # fmt: skip
    if refused:
        raise TypeError(
            f"cannot save {_type_name(obj)}: it holds {_names(refused)}, which "
            "fastsgd.load refuses (it loads fastsgd's and scikit-learn's "
            "estimators, and NumPy and SciPy data, only)"
        )
    with open(path, "wb") as file:
        file.write(data)


def load(path, *, trusted=False):
    """Load a model file written by :func:`fastsgd.save` (or ``fastsgd fit``).

    A skops file is checked before anything in it is built: every type and
    function it names must be on the allow-list (fastsgd's estimators and
    their state; scikit-learn's estimators; NumPy and SciPy data, as skops
    trusts by default; see ``docs/deployment.md``); else it is refused with
    ``UntrustedTypesError``, naming the types. A pickle or joblib file
    (told apart by content, not extension) is refused with
    ``PickleFileError``, since unpickling runs whatever code the file
    carries, unless ``trusted=True``.

    Parameters
    ----------
    path : str or path-like
        The model file.
    trusted : bool, default=False
        Load a pickle or joblib file (with ``joblib.load``): only for a file
        you made, or trust as you would a program. It does not widen the
        allow-list of skops files.

    Returns
    -------
    object
        The saved estimator (for a file of ``fastsgd fit``, the dict of the
        estimator and its metadata: ``docs/cli.md``).

    Raises
    ------
    FileNotFoundError
        Where there is no such file.
    UntrustedTypesError
        A skops file that names a type outside the allow-list (a
        ``ValueError``).
    PickleFileError
        A pickle or joblib file, without ``trusted=True`` (a ``ValueError``).
    ModelFileError
        A file that is neither a skops file nor a pickle (a ``ValueError``).

    See Also
    --------
    fastsgd.save : Write a model file.

    Examples
    --------
    >>> import os, pickle, tempfile
    >>> import fastsgd
    >>> path = os.path.join(tempfile.mkdtemp(), "model.pkl")
    >>> with open(path, "wb") as file:
    ...     pickle.dump(fastsgd.SGDClassifier(), file)
    >>> fastsgd.load(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fastsgd._model_files.PickleFileError: ...model.pkl is a pickle (or joblib) file: ...
    >>> fastsgd.load(path, trusted=True)
    SGDClassifier()
    """
    with open(path, "rb") as file:
        data = file.read()
    kind = file_kind(data)
    if kind == "skops":
        return _load_skops(path, data)
    if trusted:
        return _load_pickle(path, data)
    if kind == "pickle":
        raise PickleFileError(
            f"{os.fspath(path)} is a pickle (or joblib) file: loading a pickle "
            "runs the code it carries, so fastsgd refuses it. If you made the "
            "file or trust it as a program, load it with trusted=True "
            "(fastsgd.load(path, trusted=True); on the command line "
            "--trust-pickle), then re-save it as a skops file with fastsgd.save"
        )
    raise ModelFileError(
        f"{os.fspath(path)} is not a model file (neither a skops file nor a pickle)"
    )


def _load_skops(path, data):
    import skops.io

    try:
        names = skops.io.get_untrusted_types(data=data)
    except Exception as error:  # a zip archive that is not a skops file
        raise ModelFileError(
            f"{os.fspath(path)} is not a model file (a zip archive, but not a "
            f"valid skops file: {error or type(error).__name__})"
        ) from None
    refused = [name for name in names if not is_allowed(name)]
    if refused:
        raise UntrustedTypesError(
            f"{os.fspath(path)} names {_names(refused)}, outside the types "
            "fastsgd loads (fastsgd's and scikit-learn's estimators, NumPy and "
            "SciPy data): refused, and nothing in the file was loaded",
            refused,
        )
    try:
        return skops.io.loads(data, trusted=names)
    except Exception as error:  # a malformed file that passed the check
        raise ModelFileError(
            f"{os.fspath(path)} is not a valid skops file: "
            f"{error or type(error).__name__}"
        ) from None


def _load_pickle(path, data):
    import joblib

    try:
        return joblib.load(io.BytesIO(data))
    except Exception as error:  # anything an unpickler can raise
        raise ModelFileError(
            f"{os.fspath(path)} is not a model file (not a skops file, and "
            f"unpickling failed: {error or type(error).__name__})"
        ) from None


def _names(names):
    return ", ".join(names)
