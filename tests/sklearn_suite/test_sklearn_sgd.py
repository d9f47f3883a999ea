"""scikit-learn 1.9's ``linear_model/tests/test_sgd.py``, run against fastsgd.

The tests are scikit-learn's own, imported from the installed package with
``SGDClassifier``/``SGDRegressor`` swapped for fastsgd's (``conftest.py``
lists the tests that do not apply and the expected failures, with reasons).
"""

from swap_estimators import import_with_fastsgd

_module = import_with_fastsgd("sklearn.linear_model.tests.test_sgd")
globals().update(
    {name: value for name, value in vars(_module).items() if name.startswith("test")}
)
