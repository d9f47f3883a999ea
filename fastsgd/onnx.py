"""ONNX export of fastsgd's estimators, through skl2onnx.

Importing this module registers a converter for ``SGDClassifier``,
``Perceptron``, ``SGDRegressor``, ``SGDOneClassSVM``, ``MLPClassifier`` and
``MLPRegressor`` with
:func:`skl2onnx.update_registered_converter`; from then on
:func:`skl2onnx.to_onnx` (or ``convert_sklearn``) turns a fitted fastsgd
estimator, alone or inside a pipeline, into an ONNX graph that
``onnxruntime`` runs (``pip install skl2onnx onnxruntime``, or the ``onnx`` extra).

The graph computes what the estimator's methods compute:

- classifiers output the label and the probabilities, as skl2onnx's own
  classifiers do (a list of dictionaries by default, an array with the option
  ``zipmap=False``; the options ``nocl`` and ``output_class_labels`` work too);
- the label is ``predict``'s: the argmax of ``decision_function`` for
  ``SGDClassifier`` (the sign in the binary case), the argmax of the output
  layer for ``MLPClassifier`` (its output above 0.5 for binary and
  multilabel targets; multilabel labels are the 0/1 indicator matrix);
- the probabilities are ``predict_proba``'s (``log_loss``: the logistic
  function, normalised over one-vs-rest heads, or the softmax for
  ``multi_class="multinomial"``; ``modified_huber``: the clipped, normalised
  decision). An ``SGDClassifier`` whose loss has no ``predict_proba``
  outputs its decision function in their place (``[-d, d]`` in the binary
  case), as skl2onnx does for scikit-learn's; so does any ``SGDClassifier``
  converted with the option ``raw_scores=True``;
- regressors output ``predict`` as an ``(n_samples, n_outputs)`` array;
- ``SGDOneClassSVM`` outputs ``predict``'s label (int64, 1 where the
  decision function is at least 0, else -1) and ``decision_function``, as
  skl2onnx's converter of scikit-learn's (whose label is 0 where the
  decision is exactly 0).

The arithmetic runs in the input's type: float32 input gives float32
probabilities and values (the weights are rounded to float32), float64 input
float64 ones; integer and boolean input is cast to float32.

Examples
--------
>>> import numpy as np
>>> import onnxruntime
>>> import skl2onnx
>>> import fastsgd.onnx
>>> from fastsgd import SGDClassifier
>>> rng = np.random.RandomState(0)
>>> X = rng.randn(100, 3)
>>> y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
>>> clf = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
>>> onx = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False})
>>> session = onnxruntime.InferenceSession(
...     onx.SerializeToString(), providers=["CPUExecutionProvider"])
>>> labels, probabilities = session.run(None, {"X": X})
>>> bool((labels == clf.predict(X)).all())
True
>>> bool(np.allclose(probabilities, clf.predict_proba(X)))
True
"""

import numpy as np
import scipy.sparse as sp
from skl2onnx import update_registered_converter
from skl2onnx.common._apply_operation import apply_reshape
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
)
from skl2onnx.common.shape_calculator import (
    calculate_linear_classifier_output_shapes,
    calculate_linear_regressor_output_shapes,
)
from skl2onnx.common.utils_classifier import get_label_classes
from skl2onnx.operator_converters.sgd_classifier import (
    _predict_proba_modified_huber,
)
from skl2onnx.proto import onnx_proto
from skl2onnx.shape_calculators.sgd_oneclass_svm import (
    calculate_sgd_oneclass_svm_output_shapes,
)

from fastsgd.linear_model import (
    Perceptron,
    SGDClassifier,
    SGDOneClassSVM,
    SGDRegressor,
)
from fastsgd.neural_network import MLPClassifier, MLPRegressor

#: The options of skl2onnx's classifier converters that ours accept.
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

#: ``activation`` / ``out_activation_`` -> the ONNX operator that applies it.
ACTIVATION_OPERATORS = {
    "identity": "Identity",
    "logistic": "Sigmoid",
    "tanh": "Tanh",
    "relu": "Relu",
    "exp": "Exp",
}


# ---------------------------------------------------------------- shared parts
def _compute_type(operator):
    """The ONNX element type the graph computes in: double for float64 input,
    else float."""
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return onnx_proto.TensorProto.DOUBLE
    return onnx_proto.TensorProto.FLOAT


def _node(scope, container, op_type, inputs, output=None, **attributes):
    """Add one ``op_type`` node; returns the name of its output (a new one
    unless ``output`` is given)."""
    output = output or scope.get_unique_variable_name(op_type.lower())
    container.add_node(
        op_type,
        inputs,
        output,
        name=scope.get_unique_operator_name(op_type),
        **attributes,
    )
    return output


def _constant(scope, container, name, values, proto_type):
    """An initializer of ``proto_type`` (double, float or int64) holding
    ``values`` (a scalar, or an array of any shape); returns its name."""
    dtype = {
        onnx_proto.TensorProto.DOUBLE: np.float64,
        onnx_proto.TensorProto.INT64: np.int64,
    }.get(proto_type, np.float32)
    values = np.asarray(values, dtype=dtype)
    unique = scope.get_unique_variable_name(name)
    container.add_initializer(unique, proto_type, list(values.shape), values.ravel())
    return unique


def _input(scope, operator, container, proto_type):
    """The name of the input, cast to ``proto_type`` unless it is float or double."""
    name = operator.inputs[0].full_name
    if isinstance(operator.inputs[0].type, (FloatTensorType, DoubleTensorType)):
        return name
    return _node(scope, container, "Cast", name, to=proto_type)


def _affine(scope, container, inputs, weights, bias, proto_type):
    """``inputs @ weights + bias`` for ``weights`` of shape ``(fan_in, fan_out)``;
    returns the name of the ``(n_samples, fan_out)`` result."""
    weights = _constant(scope, container, "coef", weights, proto_type)
    bias = _constant(
        scope, container, "intercept", np.reshape(bias, (1, -1)), proto_type
    )
    product = _node(scope, container, "MatMul", [inputs, weights])
    return _node(scope, container, "Add", [product, bias])


def _above(scope, container, scores, threshold, proto_type, output=None):
    """``scores > threshold`` as int64 zeros and ones, in the shape of ``scores``."""
    threshold = _constant(scope, container, "threshold", threshold, proto_type)
    above = _node(scope, container, "Greater", [scores, threshold])
    return _node(
        scope, container, "Cast", above, output, to=onnx_proto.TensorProto.INT64
    )


def _predicted_labels(scope, operator, container, scores, threshold, proto_type):
    """Write ``predict``'s labels into the operator's first output.

    ``scores`` has one column (binary: ``classes_[1]`` where it exceeds
    ``threshold``, else ``classes_[0]``) or one per class (the class of the
    largest, the first of equal ones, as ``numpy.argmax``).
    """
    classes = get_label_classes(scope, operator.raw_operator)  # arange with nocl
    if all(isinstance(c, str) for c in classes):  # as skl2onnx's shape calculator
        classes_type = onnx_proto.TensorProto.STRING
        classes = np.array([c.encode("utf-8") for c in classes])
    else:  # which declares other labels int64
        classes_type = onnx_proto.TensorProto.INT64
        classes = classes.astype(np.int64)
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, classes_type, classes.shape, classes)

    if len(classes) == 2:
        above = _above(scope, container, scores, threshold, proto_type)
        index = scope.get_unique_variable_name("class_index")
        apply_reshape(scope, above, index, container, desired_shape=(-1,))
    else:
        index = _node(scope, container, "ArgMax", scores, axis=1, keepdims=0)
    _node(
        scope, container, "Gather", [classes_name, index],
        operator.outputs[0].full_name, axis=0,
    )  # fmt: skip


def _two_columns(scope, container, column, output, proto_type, first="complement"):
    """Write ``[1 - column, column]`` (``first="complement"``) or ``[-column,
    column]`` (``first="opposite"``) into ``output``."""
    if first == "complement":
        one = _constant(scope, container, "one", 1.0, proto_type)
        other = _node(scope, container, "Sub", [one, column])
    else:
        other = _node(scope, container, "Neg", column)
    _node(scope, container, "Concat", [other, column], output, axis=1)


# ---------------------------------------------------------------- linear models
def _normalised_sigmoids(scope, container, scores, output, proto_type):
    """Write the one-vs-rest ``log_loss`` probabilities into ``output``: each
    row's sigmoids divided by their sum.

    Computed as ``softmax(log_sigmoid(scores))``, the same numbers, with
    ``log_sigmoid(s) = min(s, 0) - log(1 + exp(-|s|))``: where every score of
    a row is below about -88, float32 sigmoids all round to zero and their
    quotient is 0/0, while their logarithms stay finite.
    """
    zero = _constant(scope, container, "zero", 0.0, proto_type)
    one = _constant(scope, container, "one", 1.0, proto_type)
    minus_abs = _node(scope, container, "Neg", _node(scope, container, "Abs", scores))
    exp = _node(scope, container, "Exp", minus_abs)
    log1p = _node(scope, container, "Log", _node(scope, container, "Add", [exp, one]))
    negative_part = _node(scope, container, "Min", [scores, zero])
    log_sigmoid = _node(scope, container, "Sub", [negative_part, log1p])
    _node(scope, container, "Softmax", log_sigmoid, output, axis=1)


def convert_sgd_classifier(scope, operator, container):
    """skl2onnx converter of :class:`fastsgd.SGDClassifier`.

    Parameters
    ----------
    scope : skl2onnx.common._topology.Scope
        Names of the graph being built.
    operator : skl2onnx.common._topology.Operator
        The estimator (``operator.raw_operator``), its input and its two
        outputs (label, probabilities).
    container : skl2onnx.common._container.ModelComponentContainer
        The graph's nodes and initializers, and the conversion options.
    """
    model = operator.raw_operator
    proto_type = _compute_type(operator)
    inputs = _input(scope, operator, container, proto_type)
    coef = model.coef_.toarray() if sp.issparse(model.coef_) else model.coef_
    scores = _affine(scope, container, inputs, coef.T, model.intercept_, proto_type)
    _predicted_labels(scope, operator, container, scores, 0.0, proto_type)

    raw_scores = container.get_options(model, dict(raw_scores=False))["raw_scores"]
    n_classes = len(model.classes_)
    output = operator.outputs[1].full_name
    if raw_scores or not hasattr(model, "predict_proba"):
        if n_classes == 2:
            _two_columns(scope, container, scores, output, proto_type, "opposite")
        else:
            _node(scope, container, "Identity", scores, output)
    elif model._multinomial():
        _node(scope, container, "Softmax", scores, output, axis=1)
    elif model.loss == "log_loss" and n_classes == 2:
        positive = _node(scope, container, "Sigmoid", scores)
        _two_columns(scope, container, positive, output, proto_type)
    elif model.loss == "log_loss":
        _normalised_sigmoids(scope, container, scores, output, proto_type)
    else:  # modified_huber: scikit-learn's SGDClassifier's, built by skl2onnx
        _predict_proba_modified_huber(
            scope, operator, container, scores, n_classes, proto_type
        )


def convert_sgd_regressor(scope, operator, container):
    """skl2onnx converter of :class:`fastsgd.SGDRegressor`.

    Parameters
    ----------
    scope, operator, container
        As in :func:`convert_sgd_classifier`; the one output holds
        ``predict`` with shape ``(n_samples, 1)``.
    """
    model = operator.raw_operator
    proto_type = _compute_type(operator)
    inputs = _input(scope, operator, container, proto_type)
    coef = model.coef_.reshape(-1, 1)
    values = _affine(scope, container, inputs, coef, model.intercept_, proto_type)
    _node(scope, container, "Identity", values, operator.outputs[0].full_name)


def convert_sgd_one_class_svm(scope, operator, container):
    """skl2onnx converter of :class:`fastsgd.SGDOneClassSVM`.

    Parameters
    ----------
    scope, operator, container
        As in :func:`convert_sgd_classifier`; the outputs are ``predict``'s
        labels (int64, ``(n_samples,)``) and ``decision_function``
        (``(n_samples,)``).
    """
    model = operator.raw_operator
    proto_type = _compute_type(operator)
    inputs = _input(scope, operator, container, proto_type)
    scores = _affine(scope, container, inputs, model.coef_.reshape(-1, 1),
                     -model.offset_, proto_type)  # fmt: skip
    apply_reshape(scope, scores, operator.outputs[1].full_name, container,
                  desired_shape=(-1,))  # fmt: skip
    # predict: 1 where the decision is >= 0, else -1 (2 * (d >= 0) - 1)
    below = _node(scope, container, "Less",
                  [operator.outputs[1].full_name,
                   _constant(scope, container, "zero", 0.0, proto_type)])  # fmt: skip
    inlier = _node(scope, container, "Not", below)
    as_int = _node(scope, container, "Cast", inlier, to=onnx_proto.TensorProto.INT64)
    two = _constant(scope, container, "two", 2, onnx_proto.TensorProto.INT64)
    one = _constant(scope, container, "one", 1, onnx_proto.TensorProto.INT64)
    doubled = _node(scope, container, "Mul", [as_int, two])
    _node(scope, container, "Sub", [doubled, one], operator.outputs[0].full_name)


# ---------------------------------------------------------------- perceptrons
def _forward(scope, operator, container, proto_type):
    """The MLP's forward pass; returns the name of its output layer's activations.

    The hidden layers apply ``activation``, the output layer
    ``out_activation_`` (softmax, logistic, identity or exp).
    """
    model = operator.raw_operator
    activations = _input(scope, operator, container, proto_type)
    n_layers = len(model.coefs_)
    for layer, (weights, bias) in enumerate(
        zip(model.coefs_, model.intercepts_, strict=True)
    ):
        z = _affine(scope, container, activations, weights, bias, proto_type)
        function = model.activation if layer < n_layers - 1 else model.out_activation_
        if function == "softmax":
            activations = _node(scope, container, "Softmax", z, axis=1)
        else:
            activations = _node(scope, container, ACTIVATION_OPERATORS[function], z)
    return activations


def _multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def convert_mlp_classifier(scope, operator, container):
    """skl2onnx converter of :class:`fastsgd.MLPClassifier`.

    Parameters
    ----------
    scope, operator, container
        As in :func:`convert_sgd_classifier`.
    """
    model = operator.raw_operator
    proto_type = _compute_type(operator)
    output = _forward(scope, operator, container, proto_type)
    labels, probabilities = (variable.full_name for variable in operator.outputs[:2])
    if _multilabel(model):  # predict: the indicator matrix, output > 0.5
        _above(scope, container, output, 0.5, proto_type, labels)
        _node(scope, container, "Identity", output, probabilities)
        return
    _predicted_labels(scope, operator, container, output, 0.5, proto_type)
    if model.n_outputs_ == 1:
        _two_columns(scope, container, output, probabilities, proto_type)
    else:
        _node(scope, container, "Identity", output, probabilities)


def convert_mlp_regressor(scope, operator, container):
    """skl2onnx converter of :class:`fastsgd.MLPRegressor`.

    Parameters
    ----------
    scope, operator, container
        As in :func:`convert_sgd_classifier`; the one output holds
        ``predict`` with shape ``(n_samples, n_outputs)``.
    """
    proto_type = _compute_type(operator)
    output = _forward(scope, operator, container, proto_type)
    _node(scope, container, "Identity", output, operator.outputs[0].full_name)


# ---------------------------------------------------------------- shapes
def calculate_mlp_classifier_output_shapes(operator):
    """skl2onnx's classifier shapes; multilabel labels are ``(N, n_classes)``.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator whose outputs get their types.
    """
    calculate_linear_classifier_output_shapes(operator)
    model = operator.raw_operator
    if _multilabel(model):
        n_samples = operator.inputs[0].get_first_dimension()
        operator.outputs[0].set_type(
            Int64TensorType(shape=[n_samples, len(model.classes_)])
        )


def calculate_mlp_regressor_output_shapes(operator):
    """skl2onnx's regressor shapes, with ``n_outputs_`` columns.

    Parameters
    ----------
    operator : skl2onnx.common._topology.Operator
        The operator whose output gets its type.
    """
    calculate_linear_regressor_output_shapes(operator)
    n_samples = operator.inputs[0].get_first_dimension()
    value_type = type(operator.outputs[0].type)
    operator.outputs[0].set_type(
        value_type([n_samples, operator.raw_operator.n_outputs_])
    )


update_registered_converter(
    SGDClassifier,
    "FastsgdSGDClassifier",
    calculate_linear_classifier_output_shapes,
    convert_sgd_classifier,
    options={**CLASSIFIER_OPTIONS, "raw_scores": [True, False]},
)
update_registered_converter(
    Perceptron,
    "FastsgdPerceptron",
    calculate_linear_classifier_output_shapes,
    convert_sgd_classifier,
    options={**CLASSIFIER_OPTIONS, "raw_scores": [True, False]},
)
update_registered_converter(
    SGDOneClassSVM,
    "FastsgdSGDOneClassSVM",
    calculate_sgd_oneclass_svm_output_shapes,
    convert_sgd_one_class_svm,
)
update_registered_converter(
    SGDRegressor,
    "FastsgdSGDRegressor",
    calculate_linear_regressor_output_shapes,
    convert_sgd_regressor,
)
update_registered_converter(
    MLPClassifier,
    "FastsgdMLPClassifier",
    calculate_mlp_classifier_output_shapes,
    convert_mlp_classifier,
    options=CLASSIFIER_OPTIONS,
)
update_registered_converter(
    MLPRegressor,
    "FastsgdMLPRegressor",
    calculate_mlp_regressor_output_shapes,
    convert_mlp_regressor,
)
