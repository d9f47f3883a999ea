"""Command line: ``python -m fastsgd`` (or the ``fastsgd`` console script).

- ``demo`` trains fastsgd and scikit-learn side by side on scikit-learn's
  bundled ``load_digits`` data and prints held-out accuracy and fit time of each;
- ``fit`` trains a model on a data file (CSV, ``.npz`` or svmlight) and saves it
  as a skops file (``fastsgd._model_files``: loading it cannot run code);
- ``predict`` writes a saved model's predictions on a data file as CSV;
- ``score`` prints a saved model's ``score`` on a data file;
- ``compile`` fills Numba's cache with the kernels of the common
  configurations (for Docker images, CI and clusters; ``docs/deployment.md``).

Errors print one line on stderr and exit with status 1 (usage errors, and a
pickle model file without ``--trust-pickle``: 2).
``docs/cli.md`` describes the commands and the file formats.
"""

import argparse
import contextlib
import difflib
import os
import sys
import time
import warnings

from fastsgd import __version__
from fastsgd._cli_data import (
    CLIError,
    data_format,
    load_model,
    make_artifact,
    parse_param,
    read_data,
    save_model,
)


def _timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


def compile_command(args):
    """Compile the kernels of what users run into Numba's cache."""
    from fastsgd import _precompile
    from fastsgd._kernels._jit import cache_root

    configurations = [
        c for c in _precompile.COMMON if args.only is None or c.family == args.only
    ]
    start = time.perf_counter()
    n = _precompile.compile_kernels(
        configurations, args.dtype, jobs=args.jobs,
        echo=None if args.quiet else print,
    )  # fmt: skip
    if not args.quiet:
        print(
            f"compiled or loaded the kernels of {n} configurations in "
            f"{time.perf_counter() - start:.1f}s into {cache_root()}; later fits "
            "load them from there"
        )
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _print_compile_notice(text):
    print(text, file=sys.stderr, flush=True)


def demo(args):
    """Fit fastsgd and scikit-learn on the digits and print a comparison."""
    import numpy as np
    from sklearn import linear_model, neural_network
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    import fastsgd

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train)
    X_test = scaler.transform(X_test)
    common = dict(loss="log_loss", max_iter=args.epochs, tol=None, random_state=0)
    peers = [
        ("scikit-learn SGDClassifier", linear_model.SGDClassifier(**common)),
        ("fastsgd SGDClassifier", fastsgd.SGDClassifier(**common)),
        (
            "fastsgd mini-batch 32, momentum 0.9",
            fastsgd.SGDClassifier(
                **common | {"learning_rate": "constant", "eta0": 0.01},
                batch_size=32,
                momentum=0.9,
                multi_class="multinomial",
            ),
        ),  # fmt: skip
    ]
    mlp = dict(hidden_layer_sizes=(64,), max_iter=args.epochs, random_state=0)
    peers += [
        ("scikit-learn MLPClassifier (adam)", neural_network.MLPClassifier(**mlp)),
        ("fastsgd MLPClassifier (adam)", fastsgd.MLPClassifier(**mlp)),
        ("fastsgd MLPClassifier (adamw)", fastsgd.MLPClassifier(**mlp, solver="adamw")),
    ]
    print(
        f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test samples, "
        f"{X.shape[1]} features, {len(np.unique(y))} classes, {args.epochs} epochs"
    )
    print(f"{'model':40s} {'accuracy':>9s} {'first fit':>10s} {'next fit':>9s}")
    from fastsgd._progress import announce_compilation

    with (
        warnings.catch_warnings(),
        announce_compilation(_print_compile_notice),
    ):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, estimator in peers:
            first = _timed_fit(estimator, X_train, y_train)  # includes compilation
            again = _timed_fit(estimator, X_train, y_train)
            accuracy = estimator.score(X_test, y_test)
            print(f"{name:40s} {accuracy:9.3f} {first:9.3f}s {again:8.3f}s")
    print(
        "first fit includes Numba's compilation on a cold cache; later runs load "
        "the compiled kernels from the cache."
    )
    return 0


MODELS = {
    "sgd-classifier": "SGDClassifier",
    "sgd-regressor": "SGDRegressor",
    "mlp-classifier": "MLPClassifier",
    "mlp-regressor": "MLPRegressor",
    "perceptron": "Perceptron",
    "one-class-svm": "SGDOneClassSVM",
}
#: the models ``fit`` trains without targets (outlier detectors)
UNSUPERVISED = ("one-class-svm",)


def _estimator_class(model):
    import fastsgd

    return getattr(fastsgd, MODELS[model])


def _is_regressor(model):
    return model.endswith("regressor")


def _estimator(model, params):
    """A ``model`` estimator with the ``--param KEY=VALUE`` settings."""

    cls = _estimator_class(model)
    valid = sorted(cls().get_params())
    settings = {}
    for text in params or []:
        name, value = parse_param(text)
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CLIError(
                f"unknown parameter {name!r} for {model}{hint}; valid parameters: "
                + ", ".join(valid)
            )
        if name in settings:
            raise CLIError(f"--param {name} given twice")
        settings[name] = value
    return cls(**settings)


class EpochBar:
    """A tqdm bar on stderr over a fit's epochs: a scikit-learn callback.

    Set on the estimator with ``set_callbacks`` (``sklearn.callback``), it
    moves at the end of each epoch task (each L-BFGS iteration) and shows the
    loss, and the validation score with early stopping, of the epoch's
    ``fitted_estimator``.

    Parameters
    ----------
    description : str
        The bar's label.
    """

    def __init__(self, description):
        self.description = description
        self.bar = None

    def setup(self, estimator, context):
        """Start a fit: its bar opens at its first epoch (after any compilation)."""
        self.close()

    def on_fit_task_begin(self, estimator, context):
        """Nothing to show before an epoch has run."""

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        """Advance the bar by one finished epoch (not at the end of the fit)."""
        if context.parent is None:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=context.parent.max_subtasks, desc=self.description,
                unit="epoch", file=sys.stderr, dynamic_ncols=True,
            )  # fmt: skip
        loss = getattr(fitted_estimator, "loss_", None)  # the MLPs'
        if loss is None:
            loss = fitted_estimator.loss_curve_[-1]
        postfix = {"loss": f"{loss:.4g}"}
        scores = getattr(fitted_estimator, "validation_scores_", None)
        if scores:
            postfix["validation"] = f"{scores[-1]:.4g}"
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def teardown(self, estimator, context):
        """End a fit: close its bar."""
        self.close()

    def close(self):
        """Close the bar, saying so where the fit stopped before ``max_iter``."""
        if self.bar is None:
            return
        if self.bar.n < self.bar.total:
            self.bar.set_description(
                f"{self.description}: stopped after {self.bar.n} of "
                f"{self.bar.total} epochs",
                refresh=False,
            )
        self.bar.close()
        self.bar = None


def _fit_with_progress(estimator, X, y, description, quiet):
    """Fit, with the epoch bar unless ``quiet``; warnings come after the bar."""

    bar = None if quiet else EpochBar(description)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            from fastsgd._progress import announce_compilation

            with announce_compilation(_print_compile_notice):
                if bar is not None:
                    estimator.set_callbacks(bar)
                estimator.fit(X, y)
        except (ValueError, TypeError) as error:
            raise CLIError(str(error)) from None
        finally:
            if bar is not None:
                bar.close()
                estimator.set_callbacks()  # the saved model carries no callback
            _print_warnings(caught)


def _print_warnings(caught):
    """Print and forget the recorded warnings, one line each, on stderr."""
    for warning in caught:
        print(f"fastsgd: warning: {warning.message}", file=sys.stderr)
    caught.clear()


def _param_argument(text):
    """``--param``'s argparse type: ``text`` itself, where it reads as KEY=VALUE.

    A malformed one (``--param batch_size 32``) is a usage error of the
    subcommand, with its usage line, rather than a stray ``32`` reported
    with the top-level usage.
    """
    try:
        parse_param(text)
    except CLIError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _check_target_option(args, kind):

    if args.target is not None and kind != "csv":
        raise CLIError(
            f"--target names a CSV column; {args.data} holds its targets itself "
            "(.npz: the array 'y'; svmlight: the first field of each line)"
        )


def fit(args):
    """Fit a model on a data file and save it."""
    import fastsgd

    kind = data_format(args.data)
    _check_target_option(args, kind)
    estimator = _estimator(args.model, args.param)
    supervised = args.model not in UNSUPERVISED
    # an outlier detector takes no target: a CSV file's --target column, if
    # named, is left out of the features; the other formats' targets unused
    dataset = read_data(
        args.data, target=args.target, need_target=supervised,
        regression=_is_regressor(args.model),
    )  # fmt: skip
    y = dataset.y if supervised else None
    _fit_with_progress(estimator, dataset.X, y, args.model, args.quiet)
    save_model(
        args.output, make_artifact(estimator, args.model, dataset, fastsgd.__version__)
    )
    if not args.quiet:
        n_samples, n_features = dataset.X.shape
        print(
            f"fitted {args.model} on {n_samples} samples, {n_features} features "
            f"({estimator.n_iter_} epochs); saved to {args.output}",
            flush=True,
        )
    return 0


def _read_for_model(args, artifact, need_target):
    """Read ``args.data`` the way the model in ``artifact`` was fed."""
    from sklearn.base import is_regressor

    kind = data_format(args.data)
    _check_target_option(args, kind)
    estimator = artifact["estimator"]
    target = args.target if args.target is not None else artifact["target"]
    if kind == "csv" and need_target and target is None:
        raise CLIError(
            f"{args.data}: which column is the target? Pass --target COLUMN "
            "(the model file names none)"
        )
    zero_based = artifact["svmlight_zero_based"]
    classes = getattr(estimator, "classes_", None)
    return read_data(
        args.data, target=target, features=artifact["feature_names"],
        need_target=need_target, regression=is_regressor(estimator),
        label_dtype=None if classes is None else classes.dtype,
        n_features=estimator.n_features_in_ if kind == "svmlight" else None,
        svmlight_zero_based="auto" if zero_based is None else zero_based,
    )  # fmt: skip


@contextlib.contextmanager
def _columns_matched_by_name(artifact):
    """Silence scikit-learn's warning that an array has no feature names, for
    an estimator fit on named columns (a ``fastsgd.save`` file): ``read_data``
    took the file's columns by those names."""
    with warnings.catch_warnings():
        if artifact["feature_names"] is not None and hasattr(
            artifact["estimator"], "feature_names_in_"
        ):
            warnings.filterwarnings(
                "ignore", message="X does not have valid feature names"
            )
        yield


def _format_value(value):
    """A prediction as CSV text (floats in full precision)."""
    return repr(value) if isinstance(value, float) else str(value)


def predict(args):
    """Write a saved model's predictions on a data file as CSV."""
    import csv

    artifact = load_model(args.model_file, trust_pickle=args.trust_pickle)
    dataset = _read_for_model(args, artifact, need_target=False)
    try:
        with _columns_matched_by_name(artifact):
            predictions = artifact["estimator"].predict(dataset.X)
    except (ValueError, TypeError) as error:
        raise CLIError(f"{args.data}: {error}") from None
    rows = [["prediction"]] + [[_format_value(v)] for v in predictions.tolist()]
    if args.output in (None, "-"):
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        sys.stdout.flush()
        return 0
    try:
        with open(args.output, "w", newline="", encoding="utf-8") as file:
            csv.writer(file, lineterminator="\n").writerows(rows)
    except OSError as error:
        raise CLIError(
            f"{args.output}: cannot write: {error.strerror or error}"
        ) from None
    return 0


def score(args):
    """Print a saved model's ``score`` on a data file."""
    from sklearn.base import is_outlier_detector

    artifact = load_model(args.model_file, trust_pickle=args.trust_pickle)
    estimator = artifact["estimator"]
    if is_outlier_detector(estimator):
        raise CLIError(
            f"{args.model_file}: {type(estimator).__name__} is an outlier "
            "detector, which has no score (as in scikit-learn); fastsgd predict "
            "writes its labels, 1 for an inlier and -1 for an outlier"
        )
    if not hasattr(estimator, "score"):
        raise CLIError(
            f"{args.model_file}: {type(estimator).__name__} has no score method"
        )
    dataset = _read_for_model(args, artifact, need_target=True)
    try:
        with _columns_matched_by_name(artifact):
            value = artifact["estimator"].score(dataset.X, dataset.y)
    except (ValueError, TypeError) as error:
        raise CLIError(f"{args.data}: {error}") from None
    print(repr(float(value)), flush=True)
    return 0


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: it reports arguments it does not take itself.

    argparse hands a subcommand's leftover arguments up to the top-level
    parser, whose error shows the top-level usage; this one's shows the
    subcommand's (``usage: fastsgd fit ...``).
    """

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def build_parser():
    """The argument parser of ``fastsgd``."""
    parser = argparse.ArgumentParser(
        prog="fastsgd",
        description="SGD estimators on Numba kernels.",
        epilog="Exit status: 0 success, 1 an error (printed on stderr), 2 bad usage "
        "or a pickle model file without --trust-pickle, 141 the output pipe "
        "closed early.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_CommandParser
    )
    demo_parser = commands.add_parser(
        "demo", help="train fastsgd beside scikit-learn on the bundled digits data"
    )
    demo_parser.add_argument("--epochs", type=int, default=20, help="epochs per fit")
    demo_parser.set_defaults(run=demo)

    data_help = (
        "data file: .csv (header row), .npz (arrays X and y) or "
        "svmlight/libsvm (.svm, .svmlight, .libsvm)"
    )
    fit_parser = commands.add_parser(
        "fit", help="fit a model on a data file and save it",
        description="Fit a model on a data file and save it as a skops file "
        "(.skops), which predict and score load without running code.",
    )  # fmt: skip
    fit_parser.add_argument("data", metavar="DATA", help=data_help)
    fit_parser.add_argument(
        "--model", required=True, choices=list(MODELS), help="the estimator"
    )
    fit_parser.add_argument(
        "--target", metavar="COLUMN",
        help="CSV: the column to predict (one-class-svm: optional, a column to "
        "leave out of the features)",
    )  # fmt: skip
    fit_parser.add_argument(
        "-p", "--param", action="append", metavar="KEY=VALUE", type=_param_argument,
        help="an estimator parameter; VALUE is read as a Python literal, "
        "else as a string (repeat for several)",
    )  # fmt: skip
    fit_parser.add_argument(
        "-o", "--output", required=True, metavar="MODEL",
        help="model file to write: a skops file, such as model.skops",
    )  # fmt: skip
    fit_parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress bar and no summary line",
    )  # fmt: skip
    fit_parser.set_defaults(run=fit)

    predict_parser = commands.add_parser(
        "predict", help="write a saved model's predictions as CSV",
        description="Write a saved model's predictions on a data file as CSV.",
    )  # fmt: skip
    predict_parser.add_argument(
        "model_file", metavar="MODEL", help="model file (.skops)"
    )
    predict_parser.add_argument("data", metavar="DATA", help=data_help)
    predict_parser.add_argument(
        "-o", "--output", metavar="FILE",
        help="CSV file to write (default: standard output)",
    )  # fmt: skip
    predict_parser.add_argument(
        "--target", metavar="COLUMN",
        help="CSV: the target column, left out of the features where the model "
        "file names no feature columns",
    )  # fmt: skip
    predict_parser.add_argument(
        "--trust-pickle", action="store_true",
        help="load MODEL even if it is a pickle or joblib file (an older fastsgd's "
        "model file): loading a pickle runs any code it carries, so only for a "
        "file you made or trust",
    )  # fmt: skip
    predict_parser.set_defaults(run=predict)

    score_parser = commands.add_parser(
        "score", help="print a saved model's score on a data file",
        description="Print a saved model's score (accuracy or R²) on a data file "
        "(not for one-class-svm, an outlier detector: it has no score).",
    )  # fmt: skip
    score_parser.add_argument("model_file", metavar="MODEL", help="model file (.skops)")
    score_parser.add_argument("data", metavar="DATA", help=data_help)
    score_parser.add_argument(
        "--target", metavar="COLUMN",
        help="CSV: the target column (default: the one the model was fit on)",
    )  # fmt: skip
    score_parser.add_argument(
        "--trust-pickle", action="store_true",
        help="load MODEL even if it is a pickle or joblib file (an older fastsgd's "
        "model file): loading a pickle runs any code it carries, so only for a "
        "file you made or trust",
    )  # fmt: skip
    score_parser.set_defaults(run=score)

    compile_parser = commands.add_parser(
        "compile", help="fill Numba's cache with the kernels users run",
        description="Compile the kernels of every variant of the estimators' "
        "defaults (binary, one-vs-rest, regression; serial and parallel; dense "
        "and CSR; float64 and float32), of the demo and of the examples of the "
        "README and the docs into Numba's cache, one worker process per core, "
        "so that no later fit waits for a compilation. The cache is "
        "NUMBA_CACHE_DIR/fastsgd-<version>, else fastsgd-<version> in the user's "
        "cache folder.",
    )  # fmt: skip
    compile_parser.add_argument(
        "--dtype", action="append", choices=["float64", "float32"],
        help="only this dtype (repeatable; default: each configuration's own)",
    )  # fmt: skip
    compile_parser.add_argument(
        "--only", choices=["linear", "mlp"], help="only the linear or the MLP kernels"
    )
    compile_parser.add_argument(
        "-j", "--jobs", type=_positive_int, metavar="N",
        help="worker processes (default: one per core)",
    )  # fmt: skip
    compile_parser.add_argument(
        "-q", "--quiet", action="store_true",
        help="no line per configuration and no summary",
    )  # fmt: skip
    compile_parser.set_defaults(run=compile_command)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""

    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            status = args.run(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return status
        except BrokenPipeError:
            # The reader went away (``fastsgd predict ... | head -1``): stop
            # quietly, as a program killed by SIGPIPE would. Python's docs'
            # recipe: point stdout at devnull so the exit flush cannot fail.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE (13), the shells' status for it
        except CLIError as error:
            _print_warnings(caught)
            print(f"fastsgd: error: {error}", file=sys.stderr)
            return error.status
        except KeyboardInterrupt:
            print("fastsgd: interrupted", file=sys.stderr)
            return 130
        finally:
            _print_warnings(caught)


if __name__ == "__main__":
    sys.exit(main())
