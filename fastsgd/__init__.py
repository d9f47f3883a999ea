"""fastsgd: scikit-learn's SGD estimators, trained by Numba kernels.

>>> from fastsgd import SGDClassifier, SGDRegressor
"""

from fastsgd.linear_model import SGDClassifier, SGDRegressor

__all__ = ["SGDClassifier", "SGDRegressor"]
__version__ = "0.1.0"
