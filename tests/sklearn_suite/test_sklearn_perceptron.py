"""scikit-learn 1.9's ``linear_model/tests/test_perceptron.py``, run against fastsgd.

The tests are scikit-learn's own, imported from the installed package with
``Perceptron`` swapped for fastsgd's (every one applies).
"""

from swap_estimators import import_with_fastsgd

_module = import_with_fastsgd("sklearn.linear_model.tests.test_perceptron")
globals().update(
    {name: value for name, value in vars(_module).items() if name.startswith("test")}
)
