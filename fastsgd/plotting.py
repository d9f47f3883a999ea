"""Pictures of a fit (matplotlib, the optional ``plot`` extra).

``plot_learning_curve`` draws a fitted estimator's ``loss_curve_`` and, with
``early_stopping=True``, its ``validation_scores_`` on a second axis.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted


def plot_learning_curve(estimator, ax=None):
    """Draw the training loss and the validation score of each epoch.

    Parameters
    ----------
    estimator : fitted fastsgd estimator
        One of ``SGDClassifier``, ``SGDRegressor``, ``MLPClassifier``,
        ``MLPRegressor`` (or anything fitted with a ``loss_curve_``). L-BFGS
        MLPs keep no per-iteration curve, so they have nothing to draw.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure's axes by default.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes with the loss (left scale). With validation scores, the
        right-hand axes that hold them are ``ax.right_ax``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When the estimator is not fitted.
    ValueError
        When it has no loss curve to draw.
    ImportError
        When matplotlib is not installed (``pip install matplotlib``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from fastsgd import SGDClassifier, plot_learning_curve
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SGDClassifier(batch_size=16, momentum=0.9, early_stopping=True,
    ...                     random_state=0).fit(X, y)
    >>> ax = plot_learning_curve(clf)
    >>> ax.get_ylabel(), ax.right_ax.get_ylabel()
    ('training loss', 'validation score')
    >>> len(ax.lines[0].get_ydata()) == clf.n_iter_
    True
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "plot_learning_curve needs matplotlib: pip install matplotlib"
        ) from error
    check_is_fitted(estimator)
    losses = getattr(estimator, "loss_curve_", None)
    if losses is None or len(losses) == 0:
        raise ValueError(
            f"{type(estimator).__name__} has no loss_curve_ to draw (an L-BFGS "
            "MLP keeps none: use a stochastic solver, 'sgd', 'adam' or 'adamw')."
        )
    scores = getattr(estimator, "validation_scores_", None)
    if ax is None:
        _, ax = plt.subplots()
    epochs = np.arange(1, len(losses) + 1)
    ax.plot(epochs, losses, color="C0", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="C0")
    ax.set_title(f"{type(estimator).__name__} learning curve")
    if scores:
        right = ax.twinx()
        right.plot(
            np.arange(1, len(scores) + 1), scores, color="C1",
            label="validation score",
        )  # fmt: skip
        right.set_ylabel("validation score", color="C1")
        ax.right_ax = right
    return ax
