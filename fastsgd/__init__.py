"""fastsgd: scikit-learn's SGD and MLP estimators, trained by Numba kernels.

>>> from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor

The submodules ``fastsgd.optimize`` (methods for ``scipy.optimize.minimize``)
and ``fastsgd.dask`` (Dask scale-out) load on first use, so ``import fastsgd``
stays light:

>>> import fastsgd
>>> fastsgd.optimize.sgd.__name__
'sgd'
"""

import importlib

from fastsgd.linear_model import SGDClassifier, SGDRegressor
from fastsgd.neural_network import MLPClassifier, MLPRegressor
from fastsgd.plotting import plot_learning_curve

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "SGDClassifier",
    "SGDRegressor",
    "plot_learning_curve",
]
__version__ = "0.1.0"

_LAZY_SUBMODULES = ("optimize", "dask")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"fastsgd.{name}")
    raise AttributeError(f"module 'fastsgd' has no attribute {name!r}")
