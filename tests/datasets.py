"""Small, standardised toy data sets shared by the API test modules."""

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler


def classification(n_classes=2, *, n_samples, n_features, n_informative, seed=0):
    """Well-separated classes (one cluster each), standardised features."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=1.5,
        random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


def regression(*, n_samples, n_features, n_targets=1, seed=0):
    """A noisy linear target, scaled to unit standard deviation."""
    X, y = make_regression(
        n_samples=n_samples,
        n_features=n_features,
        n_targets=n_targets,
        noise=0.1,
        random_state=seed,
    )
    return X, y / np.std(y)
