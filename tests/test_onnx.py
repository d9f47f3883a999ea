"""ONNX export (``fastsgd.onnx``): onnxruntime predicts what the estimators predict.

Every estimator and configuration is converted with ``skl2onnx.to_onnx`` and run
by ``onnxruntime``, on float64 and on float32 input. Labels must equal
``predict`` exactly on the rows that are not within rounding of a tie (the
float32 graph rounds the weights); probabilities and values must agree to
float32 rounding. scikit-learn is the independent reference where skl2onnx's
own SGD converter is not: with ``shuffle=False`` fastsgd trains scikit-learn's
coefficients, and our graph predicts scikit-learn's labels on the rows where
skl2onnx's converter, taking the argmax of saturated or clipped
probabilities, does not.
"""

import copy
import functools

import numpy as np
import onnxruntime
import pytest
import skl2onnx
from datasets import classification, regression
from skl2onnx.common.data_types import Int64TensorType
from sklearn import linear_model as sk_linear_model
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastsgd.onnx  # noqa: F401  (registers the converters)
from fastsgd import (
    MLPClassifier,
    MLPRegressor,
    Perceptron,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
)

_classification = functools.partial(
    classification, n_samples=120, n_features=4, n_informative=3
)
X2, Y2 = _classification(2)
X3, Y3 = _classification(3)
XR, YR = regression(n_samples=120, n_features=4)
_, YR2 = regression(n_samples=120, n_features=4, n_targets=2)
# multilabel targets: three overlapping 0/1 columns
YML = np.column_stack([X3[:, 0] > 0, X3[:, 1] > 0, X3[:, 0] + X3[:, 2] > 0.5])
YML = YML.astype(np.int64)

# deterministic and short: scikit-learn's own trajectory with shuffle=False
LINEAR = dict(shuffle=False, max_iter=5, tol=None, random_state=0)
MLP = dict(hidden_layer_sizes=(6, 5), max_iter=5, random_state=0)
ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

# float32 rounding of probabilities and values; a decision value within
# TIE_MARGIN of the threshold or of the runner-up may round the other way
RTOL, ATOL = 1e-5, 1e-6
TIE_MARGIN = 1e-4


def run_onnx(model, X, **options):
    """Convert ``model`` for inputs like ``X`` and run it on ``X``: the outputs."""
    onx = skl2onnx.to_onnx(model, X[:1], options=options or None)
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def clear_rows(scores, threshold):
    """Rows whose label does not hang on rounding: the one score is not within
    TIE_MARGIN of ``threshold``, or the largest leads the runner-up by more."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if scores.shape[1] == 1:
        clear = np.abs(scores[:, 0] - threshold) > TIE_MARGIN
    else:
        top_two = np.sort(scores, axis=1)[:, -2:]
        clear = top_two[:, 1] - top_two[:, 0] > TIE_MARGIN
    assert clear.mean() > 0.9, "the test data has too many near-ties to be a test"
    return clear


def assert_labels_equal(labels, expected, clear):
    expected = np.asarray(expected)
    assert labels.shape == expected.shape, (labels.shape, expected.shape)
    wrong = np.flatnonzero((labels != expected).reshape(len(labels), -1).any(axis=1))
    wrong = wrong[clear[wrong]]
    assert wrong.size == 0, (
        f"onnxruntime's labels differ from predict on rows {wrong.tolist()}: "
        f"{labels[wrong].tolist()} against {expected[wrong].tolist()}"
    )


def assert_values_close(values, expected, what):
    expected = np.asarray(expected)
    scale = max(1.0, float(np.abs(expected).max()))  # unbounded values: relative
    np.testing.assert_allclose(
        values, expected, rtol=RTOL, atol=ATOL * scale,
        err_msg=f"onnxruntime's {what} differ from the estimator's",
    )  # fmt: skip


# ---------------------------------------------------------------- linear models
LINEAR_CASES = {
    "hinge-binary": (dict(loss="hinge"), X2, Y2),
    "hinge-3-class": (dict(loss="hinge"), X3, Y3),
    "log_loss-binary": (dict(loss="log_loss"), X2, Y2),
    "log_loss-3-class": (dict(loss="log_loss"), X3, Y3),
    "modified_huber-binary": (dict(loss="modified_huber"), X2, Y2),
    "modified_huber-3-class": (dict(loss="modified_huber"), X3, Y3),
    "multinomial-3-class": (dict(loss="log_loss", multi_class="multinomial"), X3, Y3),
    "multinomial-binary": (dict(loss="log_loss", multi_class="multinomial"), X2, Y2),
    "squared_error-binary": (dict(loss="squared_error"), X2, Y2),
    # float32 weights (trained in float32)
    "perceptron-3-class-float32": (dict(loss="perceptron"), X3.astype("f4"), Y3),
    "string-labels-3-class": (dict(loss="hinge"), X3, np.array(["b", "a", "c"])[Y3]),
    "string-labels-binary": (dict(loss="log_loss"), X2, np.array(["no", "yes"])[Y2]),
    "int-labels-3-class": (dict(loss="modified_huber"), X3, np.array([-1, 5, 7])[Y3]),
}


@functools.cache
def linear_classifier(case):
    params, X, y = LINEAR_CASES[case]
    return SGDClassifier(**params, **LINEAR).fit(X, y), X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(LINEAR_CASES))
def test_sgd_classifier(case, dtype):
    clf, X = linear_classifier(case)
    X = X.astype(dtype)
    labels, second = run_onnx(clf, X, zipmap=False)

    decision = clf.decision_function(X)
    assert_labels_equal(labels, clf.predict(X), clear_rows(decision, 0.0))
    if hasattr(clf, "predict_proba"):
        assert_values_close(second, clf.predict_proba(X), "probabilities")
    else:  # the decision function in their place, as skl2onnx's converter
        expected = (
            np.column_stack([-decision, decision]) if decision.ndim == 1 else decision
        )
        assert_values_close(second, expected, "decision values")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_regressor(dtype):
    reg = SGDRegressor(**LINEAR).fit(XR, YR)
    X = XR.astype(dtype)
    (values,) = run_onnx(reg, X)
    assert values.shape == (len(X), 1) and values.dtype == dtype
    assert_values_close(values[:, 0], reg.predict(X), "predictions")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("y", [Y2, Y3], ids=["binary", "3-class"])
def test_perceptron(dtype, y):
    X = (X2 if y is Y2 else X3).astype(dtype)
    clf = Perceptron(**LINEAR).fit(X, y)
    labels, decision_values = run_onnx(clf, X, zipmap=False)
    decision = clf.decision_function(X)
    assert_labels_equal(labels, clf.predict(X), clear_rows(decision, 0.0))
    if decision.ndim == 1:
        decision = np.column_stack([-decision, decision])
    assert_values_close(decision_values, decision, "decision values")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_sgd_one_class_svm(dtype):
    X = np.round(XR * 3) if dtype == np.int64 else XR
    est = SGDOneClassSVM(nu=0.3, **LINEAR).fit(X.astype(np.float64))
    X = X.astype(dtype)
    labels, scores = run_onnx(est, X)
    assert labels.dtype == np.int64 and labels.shape == (len(X),)
    decision = est.decision_function(X)
    assert_values_close(scores, decision, "decision values")
    assert_labels_equal(labels, est.predict(X), clear_rows(decision, 0.0))
    # the boundary is an inlier, as predict says (skl2onnx's Sign gives 0)
    on_boundary = SGDOneClassSVM(**LINEAR).fit(XR)
    on_boundary.coef_ = np.zeros_like(on_boundary.coef_)
    on_boundary.offset_ = np.zeros(1)
    labels, _ = run_onnx(on_boundary, XR[:3])
    assert labels.tolist() == on_boundary.predict(XR[:3]).tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("loss", "scale"), [("log_loss", 10.0), ("modified_huber", 1.0)]
)
def test_labels_agree_with_sklearn_where_skl2onnx_converter_does_not(loss, scale):
    # large decision values: sigmoids saturate to 1, modified_huber clips at 1,
    # and skl2onnx's argmax over those probabilities picks the first tied class
    X = X3 * scale
    theirs = sk_linear_model.SGDClassifier(loss=loss, **LINEAR).fit(X, Y3)
    ours = SGDClassifier(loss=loss, **LINEAR).fit(X, Y3)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-8)
    expected = theirs.predict(X)
    clear = clear_rows(theirs.decision_function(X), 0.0)

    skl2onnx_labels = run_onnx(theirs, X, zipmap=False)[0]
    assert (skl2onnx_labels != expected).sum() > 0, (
        "skl2onnx's own converter agrees with scikit-learn here: the data no "
        "longer shows the difference"
    )
    labels, probabilities = run_onnx(ours, X, zipmap=False)
    assert_labels_equal(labels, expected, clear)
    assert_values_close(probabilities, theirs.predict_proba(X), "probabilities")


def test_ovr_log_loss_probabilities_where_every_sigmoid_underflows_in_float32():
    # every head's score below -88: float32 sigmoids are all zero, yet the
    # normalised probabilities are finite (scipy's float64 expit is not zero)
    clf, _ = linear_classifier("log_loss-3-class")
    scores = np.array([-100.0, -110.0, -120.0])
    X = np.linalg.lstsq(clf.coef_, scores - clf.intercept_, rcond=None)[0]
    X = X.reshape(1, -1).astype(np.float32)
    assert (clf.decision_function(X) < -90).all()
    probabilities = run_onnx(clf, X, zipmap=False)[1]
    assert_values_close(probabilities, clf.predict_proba(X), "probabilities")


def test_classifier_options():
    clf, X = linear_classifier("int-labels-3-class")
    X = X[:5].astype(np.float32)  # ZipMap takes float32 probabilities only
    labels, dictionaries = run_onnx(clf, X)  # skl2onnx's default: zipmap=True
    classes = clf.classes_.tolist()
    assert [sorted(row) for row in dictionaries] == [classes] * len(X)
    assert_values_close(
        [[row[c] for c in classes] for row in dictionaries],
        clf.predict_proba(X),
        "ZipMap's probabilities",
    )
    indices = run_onnx(clf, X, zipmap=False, nocl=True)[0]
    np.testing.assert_array_equal(indices, np.searchsorted(clf.classes_, labels))
    _, _, classes = run_onnx(clf, X, zipmap=False, output_class_labels=True)
    np.testing.assert_array_equal(classes, clf.classes_)
    raw = run_onnx(clf, X, zipmap=False, raw_scores=True)[1]
    assert_values_close(raw, clf.decision_function(X), "raw scores")


def test_sparsified_coefficients_and_integer_input():
    clf, X = linear_classifier("int-labels-3-class")
    sparsified = copy.deepcopy(clf).sparsify()
    X = np.round(X * 4).astype(np.int64)  # cast to float32 in the graph
    onx = skl2onnx.to_onnx(
        sparsified,
        initial_types=[("X", Int64TensorType([None, X.shape[1]]))],
        options={"zipmap": False},
    )
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, probabilities = session.run(None, {"X": X})
    clear = clear_rows(clf.decision_function(X), 0.0)
    assert_labels_equal(labels, clf.predict(X), clear)
    assert_values_close(probabilities, clf.predict_proba(X), "probabilities")


@pytest.mark.parametrize("target_opset", [11, 13, None])
def test_target_opset(target_opset):
    clf, X = linear_classifier("log_loss-3-class")
    onx = skl2onnx.to_onnx(
        clf, X[:1], target_opset=target_opset, options={"zipmap": False}
    )
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    labels, probabilities = session.run(None, {"X": X})
    assert_labels_equal(labels, clf.predict(X), clear_rows(clf.decision_function(X), 0))
    assert_values_close(probabilities, clf.predict_proba(X), "probabilities")


def test_pipeline():
    clf, X = linear_classifier("modified_huber-3-class")
    X = X * 3 + 1  # unscaled input: the pipeline's scaler is part of the graph
    pipe = make_pipeline(StandardScaler(), clone(clf)).fit(X, Y3)
    labels, probabilities = run_onnx(pipe, X, zipmap=False)
    clear = clear_rows(pipe.decision_function(X), 0.0)
    assert_labels_equal(labels, pipe.predict(X), clear)
    assert_values_close(probabilities, pipe.predict_proba(X), "probabilities")


# ---------------------------------------------------------------- perceptrons
MLP_CASES = {
    "relu-3-class": (dict(activation="relu"), X3, Y3),
    "tanh-3-class": (dict(activation="tanh"), X3, Y3),
    "logistic-3-class": (dict(activation="logistic"), X3, Y3),
    "identity-3-class": (dict(activation="identity"), X3, Y3),
    "relu-binary": (dict(activation="relu"), X2, Y2),
    "relu-binary-strings": (dict(activation="relu"), X2, np.array(["no", "yes"])[Y2]),
    "relu-multilabel": (dict(activation="relu"), X3, YML),
}


def same_points_in_float64(X):
    """The MLPs' reference input: the network's outputs on the (float32-rounded)
    points of ``X``, computed in float64, are what the graph approximates.
    (fastsgd's float32 forward pass rounds too, and compiles one more kernel
    per configuration.)"""
    return X.astype(np.float64)


@functools.cache
def mlp_classifier(case):
    params, X, y = MLP_CASES[case]
    return MLPClassifier(**params, **MLP).fit(X, y), X


@ignore_convergence
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(MLP_CASES))
def test_mlp_classifier(case, dtype):
    clf, X = mlp_classifier(case)
    X = X.astype(dtype)
    labels, probabilities = run_onnx(clf, X, zipmap=False)

    exact = same_points_in_float64(X)
    expected = clf.predict_proba(exact)
    if case.endswith("multilabel"):  # each column on its own
        clear = np.abs(expected - 0.5).min(axis=1) > TIE_MARGIN
    else:
        clear = clear_rows(expected[:, 1:] if expected.shape[1] == 2 else expected, 0.5)
    assert_labels_equal(labels, clf.predict(exact), clear)
    assert_values_close(probabilities, expected, "probabilities")


@ignore_convergence
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("loss", "y"),
    [("squared_error", YR), ("squared_error", YR2), ("poisson", np.exp(YR))],
    ids=["single-output", "two-outputs", "poisson"],
)
def test_mlp_regressor(loss, y, dtype):
    reg = MLPRegressor(loss=loss, **MLP).fit(XR, y)
    X = XR.astype(dtype)
    (values,) = run_onnx(reg, X)
    expected = reg.predict(same_points_in_float64(X)).reshape(len(X), -1)
    assert values.shape == expected.shape and values.dtype == dtype
    assert_values_close(values, expected, "predictions")
