"""scikit-learn's own tests of its SGD and MLP estimators, run against fastsgd.

``test_sklearn_sgd.py`` and ``test_sklearn_mlp.py`` import scikit-learn
1.9's installed test files with the estimators swapped for fastsgd's
(``swap_estimators.py``). The swap lasts for the import and, through the
autouse fixture below, for each test of this directory: other tests in the
same process see scikit-learn's classes.

Every test applies, except the groups in ``NOT_APPLICABLE`` (deselected,
with the reason); the tests in ``EXPECTED_FAILURES`` are marked xfail.
"""

import os

import pytest
from swap_estimators import swapped

HERE = os.path.dirname(os.path.abspath(__file__))

#: Tests that do not apply to fastsgd, by test function name: deselected.
NOT_APPLICABLE = {
    # scikit-learn's private Cython loss classes (sklearn.linear_model._sgd_fast)
    **dict.fromkeys(
        [
            "test_loss_hinge",
            "test_gradient_squared_hinge",
            "test_loss_modified_huber",
            "test_loss_epsilon_insensitive",
            "test_loss_squared_epsilon_insensitive",
        ],
        "tests scikit-learn's private _sgd_fast loss classes, not an estimator",
    ),
    # scikit-learn's private _ValidationScoreCallback, mocked to inspect what
    # its _plain_sgd passes to it (fastsgd scores the validation set itself)
    "test_validation_mask_correctly_subsets": (
        "mocks scikit-learn's private _stochastic_gradient._ValidationScoreCallback"
    ),
    # test_mlp.py: scikit-learn's private L-BFGS objective, called with its own
    # work arrays (fastsgd's gradient is checked against finite differences in
    # tests/test_mlp_reference.py)
    "test_gradient": "calls scikit-learn's private MLP method _loss_grad_lbfgs",
}
# Not imported at all: neural_network/tests/test_stochastic_optimizers.py tests
# scikit-learn's private SGDOptimizer/AdamOptimizer classes and builds no
# estimator, so swapping the estimators would change nothing it runs.

#: Tests (function names, optionally with the parametrization id) that fail
#: for a known reason: xfail, strict (a pass means the reason is gone).
EXPECTED_FAILURES = {}


def pytest_collection_modifyitems(config, items):
    kept, deselected = [], []
    for item in items:
        if os.path.dirname(str(item.path)) != HERE:
            kept.append(item)
            continue
        # (each name listed above occurs in only one of scikit-learn's files)
        name = getattr(item, "originalname", item.name)
        if name in NOT_APPLICABLE:
            deselected.append(item)
            continue
        reason = EXPECTED_FAILURES.get(item.name, EXPECTED_FAILURES.get(name))
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(autouse=True)
def _fastsgd_estimators():
    """scikit-learn's estimator names point to fastsgd's during each test."""
    with swapped():
        yield


def pytest_configure(config):
    # a marker of scikit-learn's test_sgd.py (its conftest declares it)
    config.addinivalue_line(
        "markers",
        "no_check_spmatrix: scikit-learn's marker (skipped there under "
        "--check_spmatrix, an option of scikit-learn's own conftest)",
    )


def pytest_generate_tests(metafunc):
    """scikit-learn's ``global_random_seed``: 42, or the seeds that
    ``SKLEARN_TESTS_GLOBAL_RANDOM_SEED`` names (``all``, ``N`` or ``N-M``)."""
    if "global_random_seed" not in metafunc.fixturenames:
        return
    value = os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED")
    if value is None:
        seeds = [42]
    elif value == "all":
        seeds = list(range(100))
    else:
        start, _, stop = value.partition("-")
        seeds = list(range(int(start), int(stop or start) + 1))
    metafunc.parametrize("global_random_seed", seeds)
