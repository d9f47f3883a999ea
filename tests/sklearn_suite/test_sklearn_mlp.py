"""scikit-learn 1.9's ``neural_network/tests/test_mlp.py``, run against fastsgd.

The tests are scikit-learn's own, imported from the installed package with
``MLPClassifier``/``MLPRegressor`` swapped for fastsgd's (``conftest.py``
lists the tests that do not apply and the expected failures, with reasons).
"""

from swap_estimators import import_with_fastsgd

_module = import_with_fastsgd("sklearn.neural_network.tests.test_mlp")
globals().update(
    {name: value for name, value in vars(_module).items() if name.startswith("test")}
)
