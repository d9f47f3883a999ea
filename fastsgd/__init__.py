"""fastsgd: scikit-learn's SGD and MLP estimators, trained by Numba kernels.

>>> from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor

Each name loads its module on first use: ``fastsgd.MLPClassifier`` does not
import the linear models (nor scikit-learn's ``sklearn.linear_model``, which
they extend), so an MLP program starts faster. The submodules
``fastsgd.optimize`` (methods for ``scipy.optimize.minimize``) and
``fastsgd.dask`` (Dask scale-out) load on first use too:

>>> import fastsgd
>>> fastsgd.optimize.sgd.__name__
'sgd'
"""

import importlib

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "Perceptron",
    "SGDClassifier",
    "SGDClassifierCV",
    "SGDOneClassSVM",
    "SGDRegressor",
    "SGDRegressorCV",
    "load",
    "plot_learning_curve",
    "save",
]
__version__ = "0.1.0"

#: Public name -> the module that defines it (imported on first access).
_LAZY_NAMES = {
    "SGDClassifier": "linear_model",
    "SGDRegressor": "linear_model",
    "Perceptron": "linear_model",
    "SGDOneClassSVM": "linear_model",
    "SGDClassifierCV": "tuning",
    "SGDRegressorCV": "tuning",
    "MLPClassifier": "neural_network",
    "MLPRegressor": "neural_network",
    "plot_learning_curve": "plotting",
    "save": "_model_files",
    "load": "_model_files",
}
_LAZY_SUBMODULES = ("optimize", "dask")


def __getattr__(name):
    if name in _LAZY_NAMES:
        module = importlib.import_module(f"fastsgd.{_LAZY_NAMES[name]}")
        return getattr(module, name)
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"fastsgd.{name}")
    raise AttributeError(f"module 'fastsgd' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_LAZY_NAMES, *_LAZY_SUBMODULES})
