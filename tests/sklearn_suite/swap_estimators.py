"""Put fastsgd's estimators where scikit-learn's test files look for theirs.

scikit-learn's ``linear_model/tests/test_sgd.py`` reads
``linear_model.SGDClassifier`` both when it is imported (it subclasses it)
and inside its tests; ``test_perceptron.py`` and
``neural_network/tests/test_mlp.py`` bind ``Perceptron`` and
``MLPClassifier``/``MLPRegressor`` at import. ``swapped()`` replaces the six
names in ``sklearn.linear_model`` and ``sklearn.neural_network`` (and in the
private modules that define them) for the duration of a ``with`` block only,
so the rest of the suite, run in the same process under ``pytest -n auto``,
sees scikit-learn's classes.
"""

import contextlib
import importlib
import sys

import sklearn.linear_model
import sklearn.linear_model._perceptron
import sklearn.linear_model._stochastic_gradient
import sklearn.neural_network
import sklearn.neural_network._multilayer_perceptron

import fastsgd

#: (module, attribute) pairs that name scikit-learn's six estimators.
_TARGETS = [
    (module, name)
    for module, names in [
        (
            sklearn.linear_model,
            ("SGDClassifier", "SGDRegressor", "Perceptron", "SGDOneClassSVM"),
        ),
        (
            sklearn.linear_model._stochastic_gradient,
            ("SGDClassifier", "SGDRegressor", "SGDOneClassSVM"),
        ),
        (sklearn.linear_model._perceptron, ("Perceptron",)),
        (sklearn.neural_network, ("MLPClassifier", "MLPRegressor")),
        (
            sklearn.neural_network._multilayer_perceptron,
            ("MLPClassifier", "MLPRegressor"),
        ),
    ]
    for name in names
]


#: scikit-learn's test modules as imported by ``import_with_fastsgd``.
_IMPORTED = {}


@contextlib.contextmanager
def swapped():
    """scikit-learn's six estimator names point to fastsgd's inside the block,
    and ``sys.modules`` holds the test modules imported with them (pickle
    finds their estimator subclasses there)."""
    saved = [(module, name, getattr(module, name)) for module, name in _TARGETS]
    saved_modules = {name: sys.modules.get(name) for name in _IMPORTED}
    try:
        for module, name in _TARGETS:
            setattr(module, name, getattr(fastsgd, name))
        sys.modules.update(_IMPORTED)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def import_with_fastsgd(module_name):
    """A fresh import of scikit-learn's test module ``module_name``, made while
    the names are swapped (its module-level subclasses and parameter lists
    then hold fastsgd's classes). Outside ``swapped()`` it is not in
    ``sys.modules``: a plain import elsewhere gets scikit-learn's own."""
    sys.modules.pop(module_name, None)
    with swapped():
        try:
            _IMPORTED[module_name] = importlib.import_module(module_name)
        finally:
            sys.modules.pop(module_name, None)
    return _IMPORTED[module_name]
