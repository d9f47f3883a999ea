"""Command line: ``python -m fastsgd demo`` (or the ``fastsgd`` console script).

``demo`` trains fastsgd and scikit-learn side by side on scikit-learn's bundled
``load_digits`` data and prints held-out accuracy and fit time of each.
"""

import argparse
import sys
import time
import warnings


def _timed_fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start


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
    ]
    print(
        f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test samples, "
        f"{X.shape[1]} features, {len(np.unique(y))} classes, {args.epochs} epochs"
    )
    print(f"{'model':40s} {'accuracy':>9s} {'first fit':>10s} {'next fit':>9s}")
    with warnings.catch_warnings():
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fastsgd", description="SGD estimators on Numba kernels."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="train fastsgd beside scikit-learn on the bundled digits data"
    )
    demo_parser.add_argument("--epochs", type=int, default=20, help="epochs per fit")
    demo_parser.set_defaults(run=demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
