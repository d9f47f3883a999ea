"""fastsgd: scikit-learn's SGD and MLP estimators, trained by Numba kernels.

>>> from fastsgd import MLPClassifier, MLPRegressor, SGDClassifier, SGDRegressor
"""

from fastsgd.linear_model import SGDClassifier, SGDRegressor
from fastsgd.neural_network import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "SGDClassifier", "SGDRegressor"]
__version__ = "0.1.0"
