"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators on Numba kernels.

Every scikit-learn 1.9 parameter keeps its name, default and meaning. New:
``solver="adamw"`` with ``weight_decay`` (``torch.optim.AdamW``'s decoupled
decay), and ``n_jobs``. With the same ``random_state`` a float64 fit draws the
same initial weights, the same validation split and the same shuffles as
scikit-learn, so it trains scikit-learn's model (to floating-point rounding).
See ``docs/mlp.md`` for the equations.
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.callback import CallbackSupportMixin, with_callbacks
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted, column_or_1d

from fastsgd import _mlp_trainer
from fastsgd._base import (
    DEVICE_CONSTRAINT,
    GPUScoreMixin,
    TrainingStateMixin,
    check_sample_weight,
    fit_device,
    validate_X,
    validate_X_y,
)
from fastsgd._callbacks import FitTasks
from fastsgd._device import is_device_array, take_rows
from fastsgd._math import codes
from fastsgd._math.updates import adam_step_scalars

#: The solvers that train in epochs of mini-batches (and have ``partial_fit``).
STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw")

#: scikit-learn's ``batch_size="auto"``: ``min(AUTO_BATCH_SIZE, n_samples)``.
AUTO_BATCH_SIZE = 200


def resolve_batch_size(batch_size, n_samples=None):
    """The rows per step of ``batch_size`` (``"auto"`` or an int) for
    ``n_samples`` samples (``None``: as many as needed), clipped to
    ``[1, n_samples]`` as scikit-learn does."""
    size = AUTO_BATCH_SIZE if batch_size == "auto" else int(batch_size)
    if n_samples is None:
        return max(1, size)
    return int(np.clip(size, 1, n_samples))


_NEW_PARAMETERS = {
    "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "n_jobs": [Integral, None],
    "device": DEVICE_CONSTRAINT,
}


def _binarize(binarizer, y, dtype):
    """``binarizer.transform(y).astype(dtype)``: the targets of the network's outputs.

    Binary and multiclass labels are encoded here, one ``searchsorted``
    (scikit-learn's ``label_binarize`` checks the labels again and goes
    through a sparse matrix: 6 ms for 50,000 labels, a quarter of an epoch of
    the benchmarks' small network, against 1 ms). Labels outside
    ``classes_`` (all-zero rows in scikit-learn), multilabel targets and a
    single class take the binarizer's own path.
    """
    classes = binarizer.classes_
    if binarizer.y_type_ not in ("binary", "multiclass") or len(classes) < 2:
        return binarizer.transform(y).astype(dtype)
    codes = np.searchsorted(classes, y)
    if not np.array_equal(classes[np.minimum(codes, len(classes) - 1)], y):
        return binarizer.transform(y).astype(dtype)  # unseen labels
    if binarizer.y_type_ == "binary":
        return (codes == 1).astype(dtype).reshape(-1, 1)
    Y = np.zeros((len(codes), len(classes)), dtype=dtype)
    Y[np.arange(len(codes)), codes] = 1
    return Y


class _BaseMLP(TrainingStateMixin, CallbackSupportMixin, BaseEstimator):
    """Shared machinery of the two multi-layer perceptrons."""

    # ------------------------------------------------------------ structure
    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(s) for s in sizes]

    def _config(self, units, batch_size=200):
        return _mlp_trainer.MLPConfig(
            units=tuple(units),
            hidden_code=codes.ACTIVATION_CODES[self.activation],
            out_code=codes.ACTIVATION_CODES[self.out_activation_],
            solver=codes.SOLVER_CODES[self.solver],
            alpha=float(self.alpha),
            learning_rate_init=float(self.learning_rate_init),
            schedule=self.learning_rate,
            power_t=float(self.power_t),
            momentum=float(self.momentum),
            nesterov=bool(self.nesterovs_momentum),
            beta1=float(self.beta_1),
            beta2=float(self.beta_2),
            epsilon=float(self.epsilon),
            weight_decay=float(self.weight_decay) if self.solver == "adamw" else 0.0,
            batch_size=int(batch_size),
            shuffle=bool(self.shuffle),
            tol=float(self.tol),
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=bool(self.early_stopping),
            n_jobs=self.n_jobs,
            verbose=int(self.verbose),
        )

    def _initialize(self, Y, units, dtype, rng):
        """scikit-learn's ``_initialize``: attributes and Glorot-uniform weights.

        The random state is consumed as scikit-learn consumes it: per layer,
        the weights ``(fan_in, fan_out)`` then the intercepts.
        """
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(units)
        self.out_activation_ = self._output_activation()
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(units[:-1], units[1:], strict=True):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
        theta = np.hstack([c.ravel() for c in coefs + intercepts]).astype(dtype)
        self._start_state(theta)

    def _start_state(self, theta):
        """A training state at the packed parameters ``theta``, without optimizer."""
        self._state = _mlp_trainer.MLPState(
            theta=theta,
            first_moment=np.zeros_like(theta),
            second_moment=np.zeros_like(theta),
            learning_rate=float(self.learning_rate_init),
            best_theta=theta.copy(),
        )
        self._has_optimizer = False

    def _packed_parameters(self, dtype):
        """The current ``coefs_``/``intercepts_`` (possibly set by the user)."""
        return np.hstack(
            [np.asarray(c, dtype=dtype).ravel() for c in self.coefs_ + self.intercepts_]
        )

    @property
    def _optimizer(self):
        """scikit-learn's private ``_optimizer``, which its tests and some user
        code read (``_optimizer.learning_rate``): after a stochastic fit, an
        ``SGDOptimizer`` (solver 'sgd') or ``AdamOptimizer`` ('adam', 'adamw')
        over views of fastsgd's parameters and optimizer state. Built on
        access; training does not use it."""
        if not getattr(self, "_has_optimizer", False):
            raise AttributeError(f"{type(self).__name__!r} has no '_optimizer'")
        state = self._state

        def views(flat):
            coefs, intercepts = _mlp_trainer.layer_views(flat, self._units)
            return coefs + intercepts

        params = views(state.theta)
        if self.solver == "sgd":
            optimizer = SGDOptimizer(
                params, self.learning_rate_init, self.learning_rate, self.momentum,
                self.nesterovs_momentum, self.power_t,
            )  # fmt: skip
            optimizer.velocities = views(state.first_moment)
            optimizer.learning_rate = state.learning_rate
            return optimizer
        optimizer = AdamOptimizer(
            params, self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon
        )
        optimizer.ms, optimizer.vs = (
            views(state.first_moment),
            views(state.second_moment),
        )
        optimizer.t = state.step
        if state.step:  # the rate of the last step, as scikit-learn keeps it
            optimizer.learning_rate, _ = adam_step_scalars(
                codes.ADAM, self.learning_rate_init, self.beta_1, self.beta_2,
                state.step,
            )  # fmt: skip
        return optimizer

    def _publish(self):
        coefs, intercepts = _mlp_trainer.layer_views(self._state.theta, self._units)
        self.coefs_ = coefs
        self.intercepts_ = intercepts

    # ----------------------------------------------------- the training state
    def load_training_state(self, state, loss_curve):
        """Make ``state`` this model's, and publish the fitted attributes it
        gives (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``,
        ``t_``, ``loss_``), with ``loss_curve`` as its loss curve. The learning
        rate follows the model's schedule at the state's sample count.

        Parameters
        ----------
        state : MLPState
            A state of this model's shape (from ``training_state``, or an
            average of such states).
        loss_curve : list of float
            The loss of each epoch (or round) that led to ``state``.

        Returns
        -------
        self : object
        """
        self._state = state
        _mlp_trainer.update_learning_rate(state, self._config(self._units))
        state.loss_curve = list(loss_curve)
        self._publish()
        self._publish_curves()
        self.n_iter_ = len(loss_curve)
        self.t_ = state.t
        self.loss_ = loss_curve[-1]
        return self

    # ------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental=False):
        hidden = self._hidden_layer_sizes()
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        device = fit_device(self)
        X, y, Y = self._validate_input(X, y, incremental, reset=first_pass)
        n_samples, n_features = X.shape
        sample_weight_given = sample_weight is not None
        sample_weight = check_sample_weight(sample_weight, X)
        units = [n_features, *hidden, Y.shape[1]]
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, units, X.dtype, rng)
        else:
            if not hasattr(self, "_state"):  # coefs_ set by hand, as sklearn allows
                self._units = [np.shape(c)[0] for c in self.coefs_] + [
                    np.shape(self.coefs_[-1])[1]
                ]
                self.out_activation_ = self._output_activation()
                self._start_state(self._packed_parameters(X.dtype))
            if list(self._units) != units:
                raise ValueError(
                    f"The network's layer sizes {list(self._units)} do not match "
                    f"this call's {units} (hidden_layer_sizes or the number of "
                    "outputs changed): fit again without warm_start."
                )
            self._state.theta = self._packed_parameters(X.dtype)
            self._state.cast(X.dtype)
        self._units = units
        self.n_outputs_ = Y.shape[1]
        data = _mlp_trainer.MLPData.of(X, np.ascontiguousarray(Y), sample_weight)
        data = _mlp_trainer.resident(data, device)
        tasks = FitTasks(
            self, X, y, sample_weight if sample_weight_given else None,
            task_name="partial_fit" if incremental else "fit",
            n_epochs=0 if incremental else self.max_iter,
        )  # fmt: skip
        try:
            if self.solver in STOCHASTIC_SOLVERS:
                self._fit_stochastic(
                    X, Y, data, sample_weight if sample_weight_given else None,
                    units, incremental, rng, tasks,
                )  # fmt: skip
            else:
                self._fit_lbfgs(data, units, tasks)
        finally:  # also after a divergence: the last finite epoch's weights
            self._publish()
        tasks.end()
        return self

    def _fit_stochastic(self, X, Y, data, sample_weight, units, incremental, rng,
                        tasks):  # fmt: skip
        state = self._state
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        n_samples = X.shape[0]
        if not incremental or not self._has_optimizer:
            state.reset_optimizer(self.learning_rate_init)
            self._has_optimizer = True
        if self.early_stopping:
            train_index, validation_score = self._validation_split(
                X, Y, sample_weight, rng
            )
        else:
            train_index, validation_score = np.arange(n_samples), None
        batch_size = self._batch_size(train_index.shape[0], warn=True)
        config = self._config(units, batch_size)
        try:
            self.n_iter_, self.loss_ = _mlp_trainer.train_stochastic(
                data, train_index, state, config, self.max_iter, rng, incremental,
                validation_score, self.device_,
                tasks.epochs(self._stochastic_attributes),
            )  # fmt: skip
        finally:
            self.t_ = state.t
            self._publish_curves()
        if self.early_stopping:
            state.theta = state.best_theta.copy()

    def _batch_size(self, n_samples, warn=False):
        if warn and self.batch_size != "auto" and self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is "
                "going to be clipped",
                stacklevel=5,
            )
        return resolve_batch_size(self.batch_size, n_samples)

    def _validation_split(self, X, Y, sample_weight, rng):
        """scikit-learn's ``train_test_split`` of the indices (same draws)."""
        n_samples = X.shape[0]
        # scikit-learn stratifies on the binarized labels as booleans (its
        # message about a too-small class then names 'True')
        stratify = Y.astype(bool) if (is_classifier(self) and Y.shape[1] == 1) else None
        index = np.arange(n_samples)
        if sample_weight is None:
            train_index, val_index = train_test_split(
                index, random_state=rng, test_size=self.validation_fraction,
                stratify=stratify,
            )  # fmt: skip
            sw_val = None
        else:
            train_index, val_index, _, sw_val = train_test_split(
                index, sample_weight, random_state=rng,
                test_size=self.validation_fraction, stratify=stratify,
            )  # fmt: skip
        if val_index.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        if is_device_array(X):
            X_val = take_rows(X, val_index)
        else:
            X_val = X[val_index]
        y_val = self._validation_targets(Y[val_index])

        def validation_score(theta):
            prediction = self._output(theta, X_val, self.device_)
            if not np.isfinite(prediction).all():
                return np.nan
            return self._score_prediction(y_val, prediction, sw_val)

        return train_index, validation_score

    def _stochastic_attributes(self, state, n_iter, loss):
        """The fitted attributes of a stochastic fit that ended with ``state``
        after ``n_iter`` epochs (``state``: a copy, which becomes ``_state``)."""
        if self.early_stopping:
            state.theta = state.best_theta.copy()
        coefs, intercepts = _mlp_trainer.layer_views(state.theta, self._units)
        return {
            "_state": state, "coefs_": coefs, "intercepts_": intercepts,
            "n_iter_": n_iter, "loss_": loss, "t_": state.t,
            **self._curve_attributes(state),
        }  # fmt: skip

    def _lbfgs_attributes(self, x, n_iter, loss):
        """The fitted attributes of an L-BFGS fit that ended at iterate ``x``
        (float64) after ``n_iter`` iterations with loss ``loss``."""
        state = copy.deepcopy(self._state)
        state.theta = x.astype(state.theta.dtype)
        coefs, intercepts = _mlp_trainer.layer_views(state.theta, self._units)
        return {
            "_state": state, "coefs_": coefs, "intercepts_": intercepts,
            "n_iter_": n_iter, "loss_": loss,
        }  # fmt: skip

    def _fit_lbfgs(self, data, units, tasks):
        epochs = tasks.epochs(self._lbfgs_attributes, task_name="iteration")
        self.n_iter_, self.loss_ = _mlp_trainer.train_lbfgs(
            data, self._state, self._config(units), self.max_iter, self.max_fun,
            self.tol, self.device_, epochs,
        )  # fmt: skip

    def _publish_curves(self):
        for name, value in self._curve_attributes(self._state).items():
            setattr(self, name, value)

    def _curve_attributes(self, state):
        """The curves and stopping attributes of a stochastic fit's ``state``."""
        early = self.early_stopping
        return {
            "loss_curve_": list(state.loss_curve),
            "validation_scores_": list(state.validation_scores) if early else None,
            "best_validation_score_": state.best_validation_score if early else None,
            "best_loss_": None if early else state.best_loss,
            "_no_improvement_count": state.no_improvement,
        }

    # ------------------------------------------------------------ predicting
    def _output(self, theta, X, device="cpu"):
        """Output-layer activations for an already validated ``X``.

        A GPU ``X`` is always run on the GPU; a host ``X`` on ``device``.
        """
        config = self._config(self._units)
        if is_device_array(X):
            device = "cuda"
        return _mlp_trainer.forward(
            theta, config, X, np.arange(X.shape[0]), device=device
        )

    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_X(self, X)
        theta = self._packed_parameters(X.dtype)
        return self._output(theta, X)

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix ``X`` and targets ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 trains in float32; CSR stays sparse.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def _check_solver(self):
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(GPUScoreMixin, ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (scikit-learn's, on Numba kernels).

    Optimizes the log-loss with L-BFGS, SGD, Adam or AdamW. The parameters are
    scikit-learn 1.9's ``MLPClassifier``'s, with the same defaults and
    meanings; with the same ``random_state`` a float64 fit reproduces
    scikit-learn's ``coefs_`` to floating-point rounding.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of neurons in each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        'sgd' and 'adam' follow scikit-learn's update equations; 'adamw' is
        ``torch.optim.AdamW`` (decoupled weight decay ``weight_decay``, applied
        to the weights, not the intercepts); 'lbfgs' hands the loss and
        gradient to ``scipy.optimize.minimize(method="L-BFGS-B")``.
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the (weighted) sample count of
        the batch when added to the loss.
    batch_size : int or 'auto', default='auto'
        Mini-batch size of the stochastic solvers; 'auto' is
        ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver's learning rate.
    learning_rate_init : float, default=0.001
        Initial learning rate of 'sgd', 'adam' and 'adamw'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of 'lbfgs'.
    shuffle : bool, default=True
        Shuffle the samples each epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Initial weights, validation split and shuffles, drawn as scikit-learn
        draws them.
    tol : float, default=1e-4
        Tolerance of the stopping rule.
    verbose : int or bool, default=False
        0: silent. 1 (or True): print scikit-learn's line for each epoch
        (``Iteration 1, loss = ...``, then ``Validation score: ...`` with
        ``early_stopping``; for 'lbfgs' one per iteration), with the learning
        rate and time after it. 2 or more: also a tqdm progress bar over the
        batches on stderr (the epoch then runs as up to 20 kernel calls, so the
        bar moves within an epoch; the model is the same).
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    momentum : float, default=0.9
        Momentum of 'sgd'.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for 'sgd'.
    early_stopping : bool, default=False
        Stop when the validation score stalls, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of the training data set aside for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.
    weight_decay : float, default=0.01
        Decoupled weight decay of 'adamw' (``torch.optim.AdamW``'s default);
        ignored by the other solvers.
    n_jobs : int, default=None
        Threads of the kernels (``None``: all of Numba's). The result does not
        depend on it.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where to train. ``'cuda'`` runs every solver's epochs (or L-BFGS's
        loss and gradient) in ``numba.cuda`` kernels on the GPU; ``'auto'``
        takes the GPU when ``numba.cuda.is_available()``, else the CPU.
        ``X`` and ``y`` may be GPU arrays (``__cuda_array_interface__``),
        used without a copy; prediction runs where its ``X`` is. Fitted
        attributes are NumPy arrays either way.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    device_ : {'cpu', 'cuda'}
        Where the last ``fit``/``partial_fit`` trained (``device`` resolved).
    loss_ : float
        The loss of the last epoch (or of the L-BFGS solution).
    best_loss_ : float or None
        The smallest epoch loss (None with early stopping).
    loss_curve_ : list of float
        The loss of each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        The validation accuracy of each epoch (with early stopping).
    best_validation_score_ : float or None
        The best validation accuracy (with early stopping).
    t_ : int
        Samples seen by the solver.
    coefs_ : list of ndarray
        ``coefs_[i]`` holds the ``(fan_in, fan_out)`` weights of layer ``i``.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` holds the intercepts of layer ``i + 1``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of str
        Names of the features seen during ``fit`` (when they are strings).
    n_iter_ : int
        Epochs (or L-BFGS iterations) run by the last call.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        'logistic' (binary, multilabel) or 'softmax' (multiclass).

    Notes
    -----
    Callbacks: ``set_callbacks`` takes scikit-learn's callbacks
    (``sklearn.callback``: ``ProgressBar``, ``ScoringMonitor`` or your
    own). A ``fit`` runs one task per epoch (per iteration with
    ``solver='lbfgs'``), whose ``fitted_estimator`` is the model of a fit
    with ``max_iter`` set to that epoch (a copy); a callback asking to stop
    ends training after the epoch. ``partial_fit`` is one task per call.
    Callbacks never change the model.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastsgd import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                     max_iter=1000, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **_SkMLPClassifier._parameter_constraints,
        **_NEW_PARAMETERS,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.01,
        n_jobs=None,
        device="cpu",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.n_jobs = n_jobs
        self.device = device

    def _output_activation(self):
        if self._label_binarizer.y_type_ == "multiclass":
            return "softmax"
        return "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_X_y(self, X, y, reset=reset, multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            # 1-D integer labels: fitted on their unique values (the same classes
            # and label type as from y, without scanning y twice more)
            labels = y.ndim == 1 and y.dtype.kind in "iub"
            self._label_binarizer.fit(np.unique(y) if labels else y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, y, _binarize(self._label_binarizer, y, X.dtype)

    def _validation_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _score_prediction(self, y_true, output, sample_weight):
        return accuracy_score(y_true, self._labels(output), sample_weight=sample_weight)

    def _labels(self, output):
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over the given data (stochastic solvers only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            The target classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            All classes, required at the first call (not for multilabel).

        Returns
        -------
        self : object
            The trained estimator.
        """
        self._validate_params()
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict the classes of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        check_is_fitted(self)
        return self._labels(self._forward_pass_fast(X))

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``.
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(GPUScoreMixin, RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (scikit-learn's, on Numba kernels).

    Optimizes the half squared error (or the half Poisson deviance) with
    L-BFGS, SGD, Adam or AdamW; the output activation is the identity (the
    exponential for ``loss="poisson"``). Parameters and attributes are
    ``MLPClassifier``'s, plus ``loss``; see there.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        The loss; 'poisson' uses a log link and needs ``y >= 0``.
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The number of neurons in each hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu'}, default='relu'
        Activation of the hidden layers.
    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        As in ``MLPClassifier``.
    alpha : float, default=0.0001
        Strength of the L2 penalty.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule of the 'sgd' solver's learning rate.
    learning_rate_init : float, default=0.001
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs (stochastic solvers) or iterations ('lbfgs').
    shuffle : bool, default=True
        Shuffle the samples each epoch.
    random_state : int, RandomState instance or None, default=None
        Drawn as scikit-learn draws it.
    tol : float, default=1e-4
        Tolerance of the stopping rule.
    verbose : int or bool, default=False
        As in :class:`MLPClassifier`.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    momentum : float, default=0.9
        Momentum of 'sgd'.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for 'sgd'.
    early_stopping : bool, default=False
        Stop when the validation R² stalls, keeping the best weights.
    validation_fraction : float, default=0.1
        Share of the training data set aside for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of Adam's moment estimates.
    epsilon : float, default=1e-8
        Adam's numerical-stability term.
    n_iter_no_change : int, default=10
        Epochs without an improvement of ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.
    weight_decay : float, default=0.01
        Decoupled weight decay of 'adamw'.
    n_jobs : int, default=None
        Threads of the kernels; the result does not depend on it.
    device : {'cpu', 'cuda', 'auto'}, default='cpu'
        Where to train, as in ``MLPClassifier``.

    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, \
t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_, \
n_outputs_, out_activation_
        As in ``MLPClassifier``; ``out_activation_`` is 'identity' (or 'exp'
        for the Poisson loss) and the validation score is R².
    device_ : {'cpu', 'cuda'}
        Where the last ``fit``/``partial_fit`` trained (``device`` resolved).

    Notes
    -----
    Callbacks (``set_callbacks``): as in ``MLPClassifier``.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastsgd import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=5, noise=0.1,
    ...                        random_state=0)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", tol=1e-2,
    ...                    max_iter=500, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_SkMLPRegressor._parameter_constraints,
        **_NEW_PARAMETERS,
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        weight_decay=0.01,
        n_jobs=None,
        device="cpu",
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.weight_decay = weight_decay
        self.n_jobs = n_jobs
        self.device = device

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_X_y(self, X, y, reset=reset, y_numeric=True, multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for "
                "loss='poisson'."
            )
        Y = np.asarray(y, dtype=X.dtype).reshape(y.shape[0], -1)
        return X, y, Y

    def _validation_targets(self, Y_val):
        return Y_val[:, 0] if Y_val.shape[1] == 1 else Y_val

    def _score_prediction(self, y_true, output, sample_weight):
        if output.shape[1] == 1:
            output = output.ravel()
        return r2_score(y_true, output, sample_weight=sample_weight)

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the given data (stochastic solvers only).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The trained estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict with the multi-layer perceptron.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred
