"""scikit-learn's callback API (``sklearn.callback``) for the four estimators.

The estimators take ``set_callbacks`` from scikit-learn's
``CallbackSupportMixin`` and run each training call as a tree of tasks, through
scikit-learn's own ``CallbackContext`` (as ``LogisticRegression`` does):

- ``fit``: a root task ``"fit"`` with one subtask per epoch (``"epoch"``), or per
  L-BFGS iteration (``"iteration"``) for ``solver="lbfgs"``; at most
  ``max_iter`` of them, exactly ``n_iter_``;
- ``partial_fit``: a root task ``"partial_fit"`` without subtasks (the call is
  its one epoch).

A task's ``fitted_estimator`` is a copy of the estimator that holds the model
as the call would leave it had it stopped there: after an epoch, the model of
a fit with ``max_iter`` set to that epoch. It is built from copies of the
trainer's state, and only when a callback's hook asks for it, so callbacks
cannot change the training and cost nothing when none asks. An epoch's
``on_fit_task_end`` returning True (a stop request) ends training after that
epoch. Without callbacks the trainers get no epoch hooks at all (``None``):
no per-epoch cost.
"""

import copy

#: Attributes of an estimator that the callback machinery owns (never copied).
_CALLBACK_ATTRIBUTES = ("_skl_callbacks", "_callback_fit_ctx", "_parent_callback_ctx")


class FitTasks:
    """The callback tasks of one ``fit`` or ``partial_fit`` call.

    Creating it opens the call's root task (``_init_callback_context``, then
    ``on_fit_task_begin``); ``end`` closes it. The call must run inside
    ``sklearn.callback.with_callbacks``, which tears the callbacks down. An
    estimator without callbacks, outside any meta-estimator's task tree, has
    no task at all (``context`` is None): nobody could observe it, and a
    stream of small ``partial_fit`` calls saves the context's set-up.

    Parameters
    ----------
    estimator : estimator instance
        The estimator being trained (a ``CallbackSupportMixin``).
    X : array-like of shape (n_samples, n_features)
        The validated training data, passed to the hooks.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        The training targets, passed to the hooks.
    sample_weight : array-like of shape (n_samples,) or None
        Passed to the hooks as ``metadata={"sample_weight": ...}`` when given.
    task_name : {"fit", "partial_fit"}
        The root task's name.
    n_epochs : int
        The most epoch subtasks of the root task (0: a leaf, as ``partial_fit``).
    """

    def __init__(self, estimator, X, y, sample_weight, *, task_name, n_epochs):
        self.estimator = estimator
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.hook_data = {"X": X, "y": y, "metadata": metadata}
        self.context = None
        if not _observed(estimator):
            return
        self.context = estimator._init_callback_context(
            task_name=task_name, max_subtasks=n_epochs
        )
        self.context.call_on_fit_task_begin(estimator=estimator, **self.hook_data)

    def epochs(self, attributes, task_name="epoch"):
        """The trainer's per-epoch hooks, or None without callbacks.

        Parameters
        ----------
        attributes : callable
            ``attributes(*snapshot)`` returns the fitted attributes of a
            trainer's snapshot (see ``EpochTasks``).
        task_name : str, default="epoch"
            The name of each epoch's task.

        Returns
        -------
        EpochTasks or None
        """
        if (
            self.context is None
            or self.context.max_subtasks == 0
            or not hasattr(self.estimator, "_skl_callbacks")
        ):
            return None
        return EpochTasks(self, attributes, task_name)

    def end(self):
        """Close the root task; its ``fitted_estimator`` is a copy of the result."""
        if self.context is None:
            return
        self.context.call_on_fit_task_end(
            estimator=self.estimator,
            **self.hook_data,
            reconstruction_attributes=lambda: fitted_copy(self.estimator),
        )


class EpochTasks:
    """One subtask per epoch of a root task: the hooks a trainer calls.

    The trainer calls ``begin(snapshot)`` before an epoch and
    ``end(snapshot)`` after it, where ``snapshot()`` returns copies of its
    state as a tuple; ``attributes(*snapshot())`` turns it into the fitted
    attributes of the reconstruction. Neither runs unless a hook asks for
    ``fitted_estimator``.

    Parameters
    ----------
    tasks : FitTasks
        The call's root task.
    attributes : callable
        Fitted attributes (a dict) of a trainer's snapshot.
    task_name : str
        The name of each epoch's task.
    """

    def __init__(self, tasks, attributes, task_name):
        self.tasks = tasks
        self.attributes = attributes
        self.task_name = task_name
        self.context = None

    def _reconstruction(self, snapshot):
        return lambda: self.attributes(*snapshot())

    def begin(self, snapshot):
        """Open the next epoch's task (``snapshot``: the model before it)."""
        self.context = self.tasks.context.subcontext(task_name=self.task_name)
        self.context.call_on_fit_task_begin(
            estimator=self.tasks.estimator,
            **self.tasks.hook_data,
            reconstruction_attributes=self._reconstruction(snapshot),
        )

    def end(self, snapshot):
        """Close the epoch's task (``snapshot``: the model after it).

        Returns
        -------
        bool
            Whether a callback asks to stop training.
        """
        return self.context.call_on_fit_task_end(
            estimator=self.tasks.estimator,
            **self.tasks.hook_data,
            reconstruction_attributes=self._reconstruction(snapshot),
        )


def _observed(estimator):
    """Whether callbacks, or a meta-estimator's task tree, can see ``estimator``."""
    return hasattr(estimator, "_skl_callbacks") or hasattr(
        estimator, "_parent_callback_ctx"
    )


def fitted_copy(estimator):
    """Deep copies of ``estimator``'s fitted attributes and training state.

    Everything in ``vars(estimator)`` except its parameters and the callback
    machinery's attributes: set on a shallow copy of the estimator, they make
    a fitted estimator that shares no mutable state with ``estimator``.
    """
    params = estimator.get_params(deep=False)
    return {
        name: copy.deepcopy(value)
        for name, value in vars(estimator).items()
        if name not in params and not name.startswith(_CALLBACK_ATTRIBUTES)
    }
