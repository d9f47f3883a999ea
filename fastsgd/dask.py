"""Data-parallel training on a ``dask.distributed`` cluster: iterative parameter mixing.

Each round, every worker trains a copy of the model on the partitions of the
data it holds, with the estimator's own ``partial_fit`` (fastsgd's kernels);
then the parameters *and* the optimizer state of the copies are averaged,
weighted by the samples each copy saw, and the average starts the next round.
Only the model travels: the data partitions are persisted on the workers once
and stay there. The result is an ordinary fitted fastsgd estimator.

For sequential block-by-block training (one model, the blocks visited in turn)
use ``dask_ml.wrappers.Incremental``, which needs nothing from this module.
See ``docs/dask.md`` for both, and for what is averaged.

``dask[array]`` and ``distributed`` are optional dependencies, imported when a
function of this module is called (``import fastsgd`` never imports dask).
"""

import copy
import math
import time
from numbers import Integral

import numpy as np
from sklearn.base import clone, is_classifier, is_outlier_detector
from sklearn.utils import check_random_state

from fastsgd.linear_model import SGDClassifier, SGDOneClassSVM, SGDRegressor
from fastsgd.neural_network import (
    STOCHASTIC_SOLVERS,
    MLPClassifier,
    MLPRegressor,
    resolve_batch_size,
)

#: What parameter mixing trains (Perceptron is an SGDClassifier).
_LINEAR = (SGDClassifier, SGDRegressor, SGDOneClassSVM)
_MLP = (MLPClassifier, MLPRegressor)

__all__ = ["fit_parameter_mixing"]

#: Largest seed drawn for an estimator whose ``random_state`` is None.
_MAX_SEED = np.iinfo(np.int32).max


def _dask_modules():
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError as exc:  # pragma: no cover - the optional extra is missing
        raise ImportError(
            "fastsgd.dask needs dask[array] and distributed: "
            "pip install 'dask[array]' distributed"
        ) from exc
    return dask, da, distributed


# --------------------------------------------------------------------- public
def fit_parameter_mixing(
    estimator,
    X,
    y,
    *,
    n_rounds=10,
    steps_per_round=None,
    classes=None,
    sample_weight=None,
    shuffle_blocks=True,
    random_state=None,
    client=None,
    workers=None,
):
    """Train ``estimator`` data-parallel on a Dask cluster by parameter mixing.

    Each round, every training worker runs ``partial_fit`` of its own copy of
    the model over the partitions it holds (or over ``steps_per_round``
    mini-batches of them); the copies' parameters and optimizer state are
    then averaged, weighted by the samples each saw, and the average starts
    the next round on every worker. The partitions are persisted on the
    workers once (each moved at most once, to its assigned worker); each round
    sends only the model to the workers and back.

    Parameters
    ----------
    estimator : SGDClassifier, Perceptron, SGDRegressor, SGDOneClassSVM, \
MLPClassifier or MLPRegressor
        A fastsgd estimator with ``partial_fit`` (MLPs: a stochastic solver);
        ``early_stopping`` must be False. It is cloned, never modified.
    X : dask.array.Array or array-like of shape (n_samples, n_features)
        Training data; its row chunks are the partitions. A NumPy array is
        one partition.
    y : dask.array.Array or array-like of shape (n_samples,) or \
(n_samples, n_outputs), or None
        Targets. A dask array must have the row chunks of ``X``; a NumPy
        array is cut into them. None for ``SGDOneClassSVM`` (which has
        none).
    n_rounds : int, default=10
        Rounds of local training followed by one average.
    steps_per_round : int or None, default=None
        None: each round, every worker makes one pass over its partitions,
        one ``partial_fit`` call per partition (a round is an epoch of the
        whole data). An int: every worker trains on its next
        ``steps_per_round * batch_size`` rows (one ``partial_fit`` call,
        ``steps_per_round`` optimizer steps), walking through its partitions
        cyclically from round to round.
    classes : array-like of shape (n_classes,), default=None
        All class labels (classifiers). None: computed from ``y`` with
        ``dask.array.unique``, so that every worker's model has every class.
    sample_weight : dask.array.Array or array-like of shape (n_samples,), default=None
        Weights of the samples, chunked as ``X``'s rows.
    shuffle_blocks : bool, default=True
        Visit each worker's partitions in a new random order every round
        (``steps_per_round=None`` only), as ``dask_ml.wrappers.Incremental``
        does; False keeps their order in ``X``.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of the partitions, and the initial weights and
        shuffles of an estimator whose own ``random_state`` is None (every
        worker must start from the same weights; the returned estimator has
        ``random_state=None`` again).
    client : distributed.Client, default=None
        The cluster's client; None: ``distributed.get_client()``.
    workers : list of str, default=None
        Addresses of the workers to train on; None: all of the cluster's.
        At most one worker per partition is used. Workers that have not
        registered with the scheduler yet (a cluster just started) are waited
        for up to 5 s; then an unknown address raises ``ValueError``.

    Returns
    -------
    estimator : fitted clone of ``estimator``
        With the usual fitted attributes; ``n_iter_`` is ``n_rounds``,
        ``loss_curve_`` holds one value per round (the samples-weighted mean
        of the workers' training losses) and ``t_`` counts the samples of all
        workers. ``predict``, ``score``, ``partial_fit`` and pickling work as
        after ``fit``.

    Raises
    ------
    ValueError
        For a non-fastsgd estimator, one without ``partial_fit`` or with
        ``early_stopping=True``, ``n_rounds`` or ``steps_per_round`` below 1,
        inputs whose rows or row chunks disagree, unknown chunk sizes, no
        client, or an unknown worker address.

    Notes
    -----
    What is averaged (weights: samples seen in the round): the weights and
    intercepts, the momentum buffers, Adam's moments and the averaged-SGD
    weights. Sample counters (``t_``) add up: after a round the model has
    seen every worker's samples, so learning-rate schedules of the sample
    count (``'optimal'``, ``'invscaling'``) continue as after the same
    number of epochs on one machine. Step counters (mini-batch steps, Adam's
    bias-correction step, averaged steps) are the largest of the workers':
    each worker's state has been through that many updates, which is what
    the bias correction and the running average count. Adaptive learning
    rates take the smallest of the workers'. One worker reproduces
    ``partial_fit`` over its partitions exactly.
    """
    dask, da, distributed = _dask_modules()
    _check_estimator(estimator)
    classifier = is_classifier(estimator)
    targets_needed = not is_outlier_detector(estimator)
    _check_positive_int(n_rounds, "n_rounds")
    if steps_per_round is not None:
        _check_positive_int(steps_per_round, "steps_per_round")
    client = _resolve_client(client, distributed)
    train_workers = _resolve_workers(client, workers)

    model = clone(estimator)
    rng = check_random_state(random_state)
    restore_random_state = model.random_state is None
    if restore_random_state:
        # identical copies on every worker: the same initial weights
        model.set_params(random_state=np.random.RandomState(rng.randint(_MAX_SEED)))

    X, y, sample_weight = _as_dask(da, X, y, sample_weight, targets_needed)
    X, y, *weight = client.persist(
        [X, y] + ([] if sample_weight is None else [sample_weight])
    )
    sample_weight = weight[0] if weight else None
    fit_kwargs = {}
    if classifier:
        if classes is None:
            classes = client.compute(da.unique(y.ravel())).result()
        fit_kwargs["classes"] = np.asarray(classes)

    rows = [int(n) for n in X.chunks[0]]
    used = [i for i, n in enumerate(rows) if n > 0]
    train_workers = train_workers[: len(used)]
    owner = _assign_partitions([rows[i] for i in used], len(train_workers))
    parts = _place_partitions(
        dask, distributed, client, X, y, sample_weight, used, owner, train_workers
    )
    local = [
        [parts[k] for k in range(len(used)) if owner[k] == w]
        for w in range(len(train_workers))
    ]
    local_rows = [
        [rows[used[k]] for k in range(len(used)) if owner[k] == w]
        for w in range(len(train_workers))
    ]
    rows_per_round = None
    if steps_per_round is not None:
        rows_per_round = steps_per_round * _rows_per_step(model)

    curve = []
    try:
        for round_ in range(n_rounds):
            shared = client.scatter(
                model, workers=train_workers, broadcast=True, hash=False
            )
            futures = []
            for w, address in enumerate(train_workers):
                plan = _plan(local_rows[w], round_, rows_per_round, shuffle_blocks, rng)
                futures.append(
                    client.submit(
                        _train_on_worker,
                        shared,
                        local[w],
                        fit_kwargs,
                        plan,
                        workers=[address],
                        allow_other_workers=False,
                        pure=False,
                    )
                )
            results = client.gather(futures)
            model, state, round_loss = _mix(results)
            curve.append(round_loss)
            model.load_training_state(state, curve)
    finally:
        del parts, local
    if restore_random_state:
        model.set_params(random_state=None)
    return model


# ------------------------------------------------------------------ validation
def _check_positive_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")


def _check_estimator(estimator):
    if isinstance(estimator, _LINEAR):
        pass
    elif isinstance(estimator, _MLP):
        if estimator.solver not in STOCHASTIC_SOLVERS:
            raise ValueError(
                f"Parameter mixing trains with partial_fit, which solver="
                f"{estimator.solver!r} does not have; use one of "
                f"{list(STOCHASTIC_SOLVERS)}."
            )
    else:
        raise ValueError(
            "fit_parameter_mixing trains fastsgd's SGDClassifier, Perceptron, "
            "SGDRegressor, SGDOneClassSVM, MLPClassifier or MLPRegressor; got"
            f" {type(estimator).__name__}. For "
            "another estimator with partial_fit use dask_ml.wrappers.Incremental."
        )
    if estimator.early_stopping:
        raise ValueError(
            "Parameter mixing trains with partial_fit, which does not support "
            "early_stopping=True; set early_stopping=False."
        )


def _resolve_client(client, distributed):
    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            "fit_parameter_mixing needs a dask.distributed Client: create one "
            "first (distributed.Client() for a local cluster, "
            "distributed.Client('tcp://scheduler:8786') for a running one) or "
            "pass client=."
        ) from None


#: How long ``_resolve_workers`` waits for named workers to register.
_REGISTER_TIMEOUT_S = 5.0


def _resolve_workers(client, workers, timeout=_REGISTER_TIMEOUT_S):
    """The addresses to train on: ``workers``, or all the cluster's.

    A cluster that has just started may not have registered all its workers
    with the scheduler yet: named workers (or, for ``None``, at least one) are
    waited for up to ``timeout`` seconds before they count as unknown.
    """
    if isinstance(workers, str):
        workers = [workers]
    wanted = None if workers is None else list(workers)
    deadline = time.monotonic() + timeout
    while True:
        known = sorted(client.scheduler_info(n_workers=-1)["workers"])
        if wanted is None:
            ready = bool(known)
        else:
            ready = bool(wanted) and all(w in known for w in wanted)
        if ready or not (wanted is None or wanted) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if wanted is None:
        if not known:
            raise ValueError("The Dask cluster has no workers.")
        return known
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise ValueError(
            f"workers must be addresses of the cluster's workers {known}; got "
            f"{wanted!r}."
        )
    return list(dict.fromkeys(wanted))


def _as_dask(da, X, y, sample_weight, targets_needed=True):
    """``X``, ``y``, ``sample_weight`` as dask arrays chunked by rows alike
    (``y`` zeros, which ``partial_fit`` ignores, for a model without targets)."""
    if not isinstance(X, da.Array):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D; got an array of shape {X.shape}.")
        X = da.from_array(X, chunks=X.shape)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D; got a dask array of shape {X.shape}.")
    if any(math.isnan(n) for n in X.chunks[0]):
        raise ValueError(
            "X has unknown chunk sizes; call X.compute_chunk_sizes() first."
        )
    X = X.rechunk({1: -1})  # a partition is a block of whole rows
    n_samples = X.shape[0]
    if n_samples == 0:
        raise ValueError("X has no samples.")

    def along_rows(values, name):
        if values is None:
            return None
        if not isinstance(values, da.Array):
            values = np.asarray(values)
        if values.ndim not in (1, 2) or values.shape[0] != n_samples:
            raise ValueError(
                f"{name} must have one row per sample of X ({n_samples}); got "
                f"shape {values.shape}."
            )
        if not isinstance(values, da.Array):
            chunks = (X.chunks[0],) + ((values.shape[1],) if values.ndim == 2 else ())
            return da.from_array(values, chunks=chunks)
        if values.chunks[0] != X.chunks[0]:
            raise ValueError(
                f"The row chunks of {name} {values.chunks[0]} differ from those of "
                f"X {X.chunks[0]}; rechunk one to match the other "
                f"({name}.rechunk({{0: X.chunks[0]}}))."
            )
        return values.rechunk({1: -1}) if values.ndim == 2 else values

    y = along_rows(y, "y")
    if y is None:
        if targets_needed:
            raise ValueError("y is required.")
        y = da.zeros(n_samples, chunks=(X.chunks[0],), dtype=np.int8)
    if sample_weight is not None and np.ndim(sample_weight) != 1:
        raise ValueError("sample_weight must be 1-D.")
    return X, y, along_rows(sample_weight, "sample_weight")


# ------------------------------------------------------------------- placement
def _assign_partitions(rows, n_workers):
    """Worker of each partition: contiguous runs with about equal rows.

    Depends only on the chunk sizes and the worker count, so a run is
    reproducible whatever worker Dask first computed a chunk on.
    """
    total = sum(rows)
    before = np.cumsum([0, *rows[:-1]])
    middle = before + np.asarray(rows) / 2.0
    owner = np.minimum((middle * n_workers / total).astype(int), n_workers - 1)
    # every worker gets at least one partition (there are at least as many)
    for w in range(n_workers):
        if not np.any(owner == w):
            owner[np.flatnonzero(owner == np.bincount(owner).argmax())[-1]] = w
            owner = np.sort(owner)
    return owner.tolist()


def _pack(X_block, y_block, weight_block):
    return X_block, y_block, weight_block


def _place_partitions(
    dask, distributed, client, X, y, sample_weight, used, owner, workers
):
    """One future per partition, ``(X, y, sample_weight)``, on its worker."""
    X_blocks = X.to_delayed().ravel()
    y_blocks = y.to_delayed().ravel()
    w_blocks = (
        sample_weight.to_delayed().ravel()
        if sample_weight is not None
        else [None] * len(X_blocks)
    )
    pack = dask.delayed(_pack, pure=True)
    parts = [
        client.compute(
            pack(X_blocks[i], y_blocks[i], w_blocks[i]),
            workers=[workers[owner[k]]],
            allow_other_workers=False,
        )
        for k, i in enumerate(used)
    ]
    distributed.wait(parts)
    return parts


# --------------------------------------------------------------------- rounds
def _plan(rows, round_, rows_per_round, shuffle_blocks, rng):
    """What a worker trains on this round, as ``(partition, start, stop)`` calls.

    ``rows_per_round=None``: one call per partition, whole; else one call on
    the rows ``[round_ * rows_per_round, (round_ + 1) * rows_per_round)`` of
    the worker's partitions laid end to end, modulo their total (a list of
    slices that make one batch).
    """
    if rows_per_round is None:
        order = np.arange(len(rows))
        if shuffle_blocks:
            rng.shuffle(order)
        return [[(int(p), 0, rows[p])] for p in order]
    total = sum(rows)
    starts = np.cumsum([0, *rows])
    slices = []
    position = (round_ * rows_per_round) % total
    left = rows_per_round
    while left > 0:
        p = int(np.searchsorted(starts, position, side="right") - 1)
        lo = position - starts[p]
        take = min(left, rows[p] - lo)
        slices.append((p, int(lo), int(lo + take)))
        left -= take
        position = (position + take) % total
    return [slices]


def _rows(block, lo, hi):
    return None if block is None else block[lo:hi]


def _stack(blocks):
    if any(b is None for b in blocks):
        return None
    if len(blocks) == 1:
        return blocks[0]
    if hasattr(blocks[0], "tocsr"):  # scipy.sparse
        import scipy.sparse as sp

        return sp.vstack(blocks, format="csr")
    return np.concatenate(blocks)


def _train_on_worker(model, parts, fit_kwargs, plan):
    """Run on a worker: ``partial_fit`` calls of a copy of ``model``.

    Returns the trained copy and ``[(n_samples, mean loss)]`` of each call.
    """
    model = copy.deepcopy(model)  # the scattered model is shared: never mutated
    calls = []
    for slices in plan:
        X = _stack([_rows(parts[p][0], lo, hi) for p, lo, hi in slices])
        y = _stack([_rows(parts[p][1], lo, hi) for p, lo, hi in slices])
        weight = _stack([_rows(parts[p][2], lo, hi) for p, lo, hi in slices])
        model.partial_fit(X, y, sample_weight=weight, **fit_kwargs)
        calls.append((X.shape[0], float(model.loss_curve_[-1])))
    return model, calls


def _mix(results):
    """The average of the workers' models (a new estimator holding the mixed
    state, its attributes not yet published) and the round's loss."""
    models = [model for model, _ in results]
    seen = [sum(n for n, _ in calls) for _, calls in results]
    total = sum(seen)
    fractions = [n / total for n in seen]
    every_call = [(n, loss) for _, calls in results for n, loss in calls]
    round_loss = sum(n / total * loss for n, loss in every_call)
    states = [model.training_state() for model in models]
    state = type(states[0]).average(states, fractions, seen)
    return models[0], state, float(round_loss)  # models[0]: a fresh copy


# ------------------------------------------------------------- rows per step
def _rows_per_step(model):
    """The rows of one ``partial_fit`` step of ``model`` (its ``batch_size``;
    an MLP's ``"auto"`` by the trainer's rule, at its largest)."""
    if isinstance(model, _MLP):
        return resolve_batch_size(model.batch_size)
    return int(model.batch_size)
