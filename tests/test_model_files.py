"""Model files: ``fastsgd.save`` / ``fastsgd.load`` (``fastsgd/_model_files.py``).

Every estimator round-trips through a skops file (its predictions, and for the
linear models and the MLPs a ``partial_fit`` continued after loading, equal the
original's to the bit). Hostile files of both kinds are refused before anything
in them runs: a pickle whose unpickling creates a marker file, and skops files
that name a function (``os.system``) or a class whose building creates the
marker; each test first checks that its payload does create the marker when
loaded without fastsgd's checks (so the test can fail).
"""

import importlib
import os
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import skops.io
from datasets import classification, regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import fastsgd
from fastsgd._model_files import (
    FASTSGD_TYPES,
    ModelFileError,
    PickleFileError,
    UntrustedTypesError,
    file_kind,
    is_allowed,
)

SYSTEM = f"{os.system.__module__}.{os.system.__name__}"  # posix.system

# --- round trips ----------------------------------------------------------------

X, Y3 = classification(3, n_samples=60, n_features=4, n_informative=3, seed=11)
LABELS = np.array(["ant", "bee", "cow"])[Y3]
Y2 = (Y3 == 0).astype(int)
X_REG, Y_REG = regression(n_samples=60, n_features=4, seed=12)

LINEAR = dict(max_iter=5, tol=None, random_state=0)
MLP = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)

#: (id, estimator, X, y): every estimator fastsgd has, dense data, quick fits
CASES = [
    ("sgd-classifier", fastsgd.SGDClassifier(**LINEAR), X, LABELS),
    ("sgd-classifier-binary-averaged", fastsgd.SGDClassifier(average=True, **LINEAR),
     X, Y2),
    ("sgd-classifier-momentum", fastsgd.SGDClassifier(
        loss="log_loss", batch_size=8, momentum=0.9, multi_class="multinomial",
        learning_rate="constant", eta0=0.05, **LINEAR), X, LABELS),
    ("perceptron", fastsgd.Perceptron(**LINEAR), X, LABELS),
    ("sgd-regressor", fastsgd.SGDRegressor(**LINEAR), X_REG, Y_REG),
    ("one-class-svm", fastsgd.SGDOneClassSVM(nu=0.3, **LINEAR), X, None),
    ("mlp-classifier", fastsgd.MLPClassifier(**MLP), X, LABELS),
    ("mlp-regressor", fastsgd.MLPRegressor(solver="sgd", **MLP), X_REG, Y_REG),
    ("pipeline", make_pipeline(StandardScaler(), fastsgd.SGDClassifier(**LINEAR)),
     X, LABELS),
]  # fmt: skip
OUTPUTS = ("predict", "decision_function", "predict_proba", "score_samples")


def fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def flat(value):
    """An attribute as one array (the MLPs' lists of arrays concatenated)."""
    if isinstance(value, list):
        return np.concatenate([np.ravel(array) for array in value])
    return np.asarray(value)


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def case(request):
    _, estimator, X, y = request.param
    from sklearn.base import clone

    return fitted(clone(estimator), X, y), X, y


def test_round_trip_predicts_as_the_original(case, tmp_path):
    model, X, _ = case
    path = tmp_path / "model.skops"
    fastsgd.save(model, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    loaded = fastsgd.load(path)
    assert type(loaded) is type(model)
    assert repr(loaded) == repr(model)
    n_outputs = 0
    for method in OUTPUTS:
        if hasattr(model, method):
            np.testing.assert_array_equal(
                getattr(loaded, method)(X), getattr(model, method)(X)
            )
            n_outputs += 1
    assert n_outputs >= 1


@pytest.mark.parametrize(
    "case_id",
    [c[0] for c in CASES if c[0] != "pipeline"],
)
def test_loaded_model_continues_partial_fit_as_the_original(case_id, tmp_path):
    _, estimator, X, y = next(c for c in CASES if c[0] == case_id)
    from sklearn.base import clone

    model = fitted(clone(estimator), X, y)
    fastsgd.save(model, tmp_path / "model.skops")
    loaded = fastsgd.load(tmp_path / "model.skops")
    chunk = slice(10, 40)
    y_chunk = None if y is None else y[chunk]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for estimator in (model, loaded):
            estimator.partial_fit(X[chunk], y_chunk)
            estimator.partial_fit(X[:10], None if y is None else y[:10])
    for name in ("coef_", "intercept_", "offset_", "coefs_", "intercepts_", "t_"):
        if hasattr(model, name):
            np.testing.assert_array_equal(
                flat(getattr(loaded, name)), flat(getattr(model, name))
            )
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_sparse_partial_fit_state_round_trips(tmp_path):
    """A CSR ``partial_fit`` stream leaves folds pending in the state
    (``_trainer.PendingFolds``, on the allow-list): saved and loaded, the
    model continues as the original."""
    Xs = X.copy()
    Xs[np.abs(Xs) < 0.7] = 0.0
    Xs = sp.csr_matrix(Xs)
    model = fastsgd.SGDClassifier(random_state=0)
    for start in (0, 20, 40):
        model.partial_fit(
            Xs[start : start + 20], Y2[start : start + 20], classes=[0, 1]
        )
    assert model._state.pending is not None and model._state.pending.n_events > 0
    fastsgd.save(model, tmp_path / "model.skops")
    names = skops.io.get_untrusted_types(file=tmp_path / "model.skops")
    assert "fastsgd._trainer.PendingFolds" in names
    loaded = fastsgd.load(tmp_path / "model.skops")
    for estimator in (model, loaded):
        estimator.partial_fit(Xs[5:25], Y2[5:25])
    np.testing.assert_array_equal(loaded.coef_, model.coef_)
    np.testing.assert_array_equal(loaded.intercept_, model.intercept_)


# --- the allow-list ---------------------------------------------------------------


def test_fastsgd_types_are_what_fitted_estimators_hold(case):
    """Each estimator's file names fastsgd types on the list, and nothing
    outside the allow-list; each listed name is a class fastsgd defines."""
    model, _, _ = case
    names = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    assert names, "skops trusts fastsgd's types by itself: the list is moot"
    assert set(names) <= set(FASTSGD_TYPES), names
    for name in FASTSGD_TYPES:
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        assert isinstance(cls, type) and cls.__module__ == module, name


@pytest.mark.parametrize(
    "name, allowed",
    [
        ("fastsgd.linear_model.SGDClassifier", True),
        ("fastsgd.neural_network.MLPRegressor", True),
        ("fastsgd._mlp_trainer.MLPState", True),
        # a private scikit-learn estimator (what a fitted OneVsRestClassifier holds)
        ("sklearn.multiclass._ConstantPredictor", True),
        ("sklearn.pipeline.Pipeline", True),
        # functions: never
        (SYSTEM, False),
        ("builtins.eval", False),
        ("sklearn.preprocessing._data.scale", False),
        ("numpy.load", False),
        # classes that are not scikit-learn estimators, or not where named
        ("sklearn.utils._bunch.Bunch", False),
        ("sklearn.linear_model.LogisticRegression", False),  # an alias
        ("sklearn.utils._mocking.CheckingClassifier", False),  # a test helper
        ("fastsgd.__main__.EpochBar", False),
        ("fastsgd._trainer.LinearProblem", False),
        ("subprocess.Popen", False),
        ("sklearn.no_such_module.Thing", False),
        ("sklearn.base.BaseEstimator.__init__", False),
        ("sklearn", False),
    ],
)
def test_allow_list(name, allowed):
    assert is_allowed(name) is allowed


def test_file_kind_is_told_by_content():
    assert file_kind(pickle.dumps([1])) == "pickle"
    assert file_kind(skops.io.dumps([1])) == "skops"
    assert file_kind(b"a,b\n1,2\n") is None


# --- hostile files ------------------------------------------------------------------


class OpensOnUnpickle:
    """A pickle payload: unpickling it creates the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("name", ["model.joblib", "model.pkl", "model.skops"])
@pytest.mark.parametrize("compress", [0, 3])
def test_pickle_file_is_refused_without_running(tmp_path, name, compress):
    control = tmp_path / "control"
    joblib.dump(OpensOnUnpickle(control), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib").close()
    assert control.exists(), "the payload does not work: a test that cannot fail"

    marker = tmp_path / "ran"
    path = tmp_path / name  # told by content: a .skops name changes nothing
    joblib.dump(OpensOnUnpickle(marker), path, compress=compress)
    with pytest.raises(PickleFileError) as error:
        fastsgd.load(path)
    assert isinstance(error.value, ValueError)
    message = str(error.value)
    assert f"{path} is a pickle (or joblib) file" in message
    assert "runs the code it carries" in message
    for how in ("trusted=True", "--trust-pickle", "fastsgd.save"):
        assert how in message, (how, message)
    assert not marker.exists()


def test_trusted_pickle_loads_with_joblib(tmp_path):
    model = fitted(fastsgd.SGDRegressor(**LINEAR), X_REG, Y_REG)
    joblib.dump(model, tmp_path / "model.joblib")
    with pytest.raises(PickleFileError):
        fastsgd.load(tmp_path / "model.joblib")
    loaded = fastsgd.load(tmp_path / "model.joblib", trusted=True)
    np.testing.assert_array_equal(loaded.predict(X_REG), model.predict(X_REG))
    # and re-saved as a skops file, it loads untrusted
    fastsgd.save(loaded, tmp_path / "model.skops")
    again = fastsgd.load(tmp_path / "model.skops")
    np.testing.assert_array_equal(again.predict(X_REG), model.predict(X_REG))


class TouchesOnLoad:
    """A class whose building creates ``path`` (skops calls ``__setstate__``)."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        open(state["path"], "w").close()
        self.__dict__.update(state)


def test_skops_file_with_a_disallowed_function_is_refused(tmp_path):
    marker = tmp_path / "ran"
    hostile = Pipeline(
        [("scale", FunctionTransformer()), ("run", FunctionTransformer(func=os.system))]
    )
    path = tmp_path / "model.skops"
    skops.io.dump(hostile, path)  # fastsgd.save refuses to write it
    # FunctionTransformer is a scikit-learn estimator, trusted; its func is not
    assert skops.io.get_untrusted_types(file=path) == [SYSTEM]
    # loaded without fastsgd's check, the model runs a shell command when used
    unchecked = skops.io.load(path, trusted=[SYSTEM])
    unchecked.transform(f"touch {tmp_path / 'control'}")
    assert (tmp_path / "control").exists()

    with pytest.raises(UntrustedTypesError) as error:
        fastsgd.load(path)
    assert isinstance(error.value, ValueError)
    assert error.value.types == [SYSTEM]
    assert SYSTEM in str(error.value) and str(path) in str(error.value)
    with pytest.raises(UntrustedTypesError):  # trusted=True is for pickles
        fastsgd.load(path, trusted=True)
    assert not marker.exists()


def test_skops_file_with_a_class_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    model = fitted(fastsgd.SGDClassifier(**LINEAR), X, LABELS)
    model.extra_ = TouchesOnLoad(marker)
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    name = f"{__name__}.TouchesOnLoad"
    assert name in skops.io.get_untrusted_types(file=path)
    with pytest.raises(UntrustedTypesError, match=name) as error:
        fastsgd.load(path)
    assert error.value.types == [name]
    assert not marker.exists()
    # the control: skops builds it where told to trust it, and that runs code
    skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert marker.exists()


# --- save's refusals, and files that are no model files ----------------------------


@pytest.mark.parametrize(
    "obj",
    [{"coef": np.ones(3)}, np.ones(3), print, "model", OpensOnUnpickle("x")],
    ids=["dict", "array", "function", "str", "object"],
)
def test_save_refuses_what_is_not_an_estimator(obj, tmp_path):
    with pytest.raises(TypeError, match="saves fastsgd and scikit-learn estimators"):
        fastsgd.save(obj, tmp_path / "x.skops")
    assert not (tmp_path / "x.skops").exists()


def test_save_refuses_an_estimator_that_holds_disallowed_types(tmp_path):
    hostile = make_pipeline(FunctionTransformer(func=os.system))
    with pytest.raises(TypeError, match=f"holds {SYSTEM}"):
        fastsgd.save(hostile, tmp_path / "x.skops")
    holder = fastsgd.SGDClassifier()
    holder.extra_ = TouchesOnLoad(tmp_path / "ran")
    with pytest.raises(TypeError, match="TouchesOnLoad"):
        fastsgd.save(holder, tmp_path / "x.skops")
    assert not (tmp_path / "x.skops").exists()


def test_not_a_model_file(tmp_path):
    text = tmp_path / "model.skops"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(ModelFileError, match="not a model file"):
        fastsgd.load(text)
    archive = tmp_path / "data.skops"
    with open(archive, "wb") as file:
        np.savez(file, X=np.ones(2))  # a zip archive without skops' schema
    with pytest.raises(ModelFileError, match="not a valid skops file"):
        fastsgd.load(archive)
    with pytest.raises(FileNotFoundError):
        fastsgd.load(tmp_path / "none.skops")


def test_save_and_load_are_fastsgd_names():
    assert "save" in fastsgd.__all__ and "load" in fastsgd.__all__
    assert fastsgd.save.__module__ == fastsgd.load.__module__ == "fastsgd._model_files"
