"""Compile only what runs: a fit compiles the kernel of its own configuration,
each variant is shared by every fit that needs it, the first fit says that it
compiles, and ``python -m fastsgd compile`` fills the cache ahead of time.

The subprocess tests use a fresh Numba cache each, so that what they see
compiled is what that process's fits asked for.
"""

import inspect
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastsgd import SGDClassifier, SGDRegressor
from fastsgd._kernels import bundles, cpu, cpu_mlp, cpu_per_sample, cpu_sparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, cache_dir, *args):
    """Run ``script`` in a new interpreter on ``cache_dir``; its stdout, stderr."""
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=path)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, f"subprocess failed:\n{done.stderr}"
    return done.stdout, done.stderr


def test_a_fit_compiles_only_its_own_configuration():
    """A hinge fit compiles one per-sample variant, with no code of log loss
    (no exp/log1p in its LLVM); a log-loss fit's variant has that code."""
    script = """
        import json
        import numpy as np
        from fastsgd import SGDClassifier
        from fastsgd._kernels import cpu, cpu_per_sample

        rng = np.random.RandomState(0)
        X = rng.randn(50, 5)
        y = (X[:, 0] > 0).astype(int)
        SGDClassifier(max_iter=2, tol=None).fit(X, y)
        variants = cpu_per_sample._PER_SAMPLE_VARIANTS
        after_hinge = [list(map(str, key)) for key in variants]
        hinge_ir = "".join(
            "".join(v.inspect_llvm().values())
            for v in cpu_per_sample._PER_SAMPLE_VARIANTS.values()
        )
        n_minibatch = len(cpu._MINIBATCH_VARIANTS)
        SGDClassifier(loss="log_loss", max_iter=2, tol=None).fit(X, y)
        log_ir = "".join(
            "".join(v.inspect_llvm().values())
            for key, v in cpu_per_sample._PER_SAMPLE_VARIANTS.items()
            if key[0][0] == 1  # LOSS=LOG_LOSS
        )
        print(json.dumps(dict(
            after_hinge=after_hinge, n_minibatch=n_minibatch,
            hinge_has_exp="llvm.exp" in hinge_ir or "@exp" in hinge_ir,
            hinge_has_log1p="log1p" in hinge_ir,
            log_has_exp="llvm.exp" in log_ir or "@exp" in log_ir,
            log_has_log1p="log1p" in log_ir,
        )))
    """
    with tempfile.TemporaryDirectory() as cache:
        out, _ = _run(script, cache)
    seen = json.loads(out.splitlines()[-1])
    assert len(seen["after_hinge"]) == 1, seen["after_hinge"]
    assert seen["n_minibatch"] == 0, "a per-sample fit compiled a mini-batch kernel"
    assert not seen["hinge_has_exp"] and not seen["hinge_has_log1p"], (
        "the hinge kernel holds the log loss's exp/log1p: dead branches not pruned"
    )
    assert seen["log_has_exp"] and seen["log_has_log1p"], (
        "the log-loss kernel lacks exp/log1p: the LLVM check above proves nothing"
    )


def _parameters(fn):
    return list(inspect.signature(fn).parameters)


def _flat_parameters(entry, bundle_of):
    """``entry``'s parameter names as ``bundles.flatten`` passes them on:
    each bundle parameter (``bundle_of[name]``) replaced by its fields."""
    args = [bundle_of[name](*bundle_of[name]._fields) if name in bundle_of else name
            for name in _parameters(entry)]  # fmt: skip
    return list(bundles.flatten(*args))


def test_flatten_spells_out_bundles_and_keeps_the_rest():
    data = bundles.Data(np.zeros(4), np.zeros(0), np.zeros(0), 2, False)
    scratch = (np.zeros(1), np.zeros(2))  # a plain tuple is one argument
    flat = bundles.flatten(data, "order", scratch, 7)
    assert flat[:5] == tuple(data) and flat[5:7] == ("order", scratch)
    assert flat[7] == 7 and len(flat) == 8


def test_compiled_kernels_take_the_bundles_fields_in_order():
    """The entry points take bundles; their compiled variants the bundles'
    fields, flat (``bundles.flatten``): each template's parameters must be
    its entry point's with every bundle spelled out, or a kernel would read
    one argument under another's name."""
    b = bundles
    minibatch = _flat_parameters(
        cpu.sgd_epoch_minibatch,
        dict(data=b.Data, targets=b.LinearTargets, params=b.LinearParams,
             rule=b.MinibatchRule, counters=b.StepCounters,
             scratch=b.MinibatchScratch),
    )  # fmt: skip
    assert _parameters(cpu._minibatch_epoch) == minibatch
    sparse = _flat_parameters(
        cpu_sparse.sgd_epoch_sparse,
        dict(data=b.Data, targets=b.LinearTargets, params=b.LinearParams,
             scaled=b.ScaledWeights, rule=b.MinibatchRule, counters=b.StepCounters,
             scratch=b.SparseScratch),
    )  # fmt: skip
    assert _parameters(cpu_sparse._scaled_epoch) == sparse
    per_sample = _flat_parameters(
        cpu_per_sample.sgd_epochs_per_sample,
        dict(data=b.Data, targets=b.LinearTargets, heads=b.PerSampleHeads,
             rule=b.PerSampleRule, folds=b.ColumnFolds, splits=b.Splits,
             epochs=b.PerSampleEpochs),
    )  # fmt: skip
    assert _parameters(cpu_per_sample._per_sample_epoch) == per_sample
    # the MLP's entry point passes the variant its settings vector, not the
    # int settings it picks the variant by, and adds the epoch's scratch
    training = _flat_parameters(
        cpu_mlp.mlp_train_epoch,
        dict(data=b.Data, targets=b.MLPTargets, params=b.MLPParams,
             buffers=b.MLPWorkspace),
    )  # fmt: skip
    training.remove("int_settings")
    assert _parameters(cpu_mlp._training_template) == [*training, "scratch"]
    prediction = _flat_parameters(cpu_mlp.mlp_forward, dict(data=b.Data))
    prediction.remove("int_settings")
    prediction.insert(prediction.index("rows") + 1, "start")
    assert _parameters(cpu_mlp._prediction_template) == prediction


def _variant_of(estimator, X, y):
    """The per-sample or mini-batch dispatcher a fit of ``estimator`` runs."""
    seen = {}
    real_per_sample = cpu_per_sample.plan
    real_minibatch = cpu.plan

    def spy(real):
        def select(*args):
            plan = real(*args)
            seen["kernel"] = plan.kernel
            return plan

        return select

    cpu_per_sample.plan = spy(real_per_sample)
    cpu.plan = spy(real_minibatch)
    try:
        estimator.fit(X, y)
    finally:
        cpu_per_sample.plan = real_per_sample
        cpu.plan = real_minibatch
    return seen["kernel"]


@pytest.mark.parametrize(
    "make",
    [
        lambda **p: SGDClassifier(max_iter=2, tol=None, **p),
        lambda **p: SGDClassifier(
            batch_size=8, momentum=0.9, max_iter=2, tol=None, **p
        ),  # fmt: skip
        lambda **p: SGDRegressor(max_iter=2, tol=None, **p),
    ],
    ids=["per-sample", "mini-batch", "regressor"],
)
def test_runtime_values_share_one_variant(make):
    """alpha, eta0, data sizes and dtype-independent values select no new
    variant: one compiled signature per dtype."""
    rng = np.random.RandomState(0)
    kernels = set()
    for dtype in (np.float64, np.float32):
        for n, alpha, eta0 in ((30, 1e-4, 0.01), (47, 0.1, 0.5)):
            X = rng.randn(n, 4).astype(dtype)
            y = (X[:, 0] > 0).astype(int) if n else None
            params = dict(alpha=alpha, eta0=eta0, learning_rate="invscaling")
            kernels.add(_variant_of(make(**params), X, y))
    assert len(kernels) == 1, f"{len(kernels)} variants for one configuration"
    (kernel,) = kernels
    dtypes = sorted(str(sig[0].dtype) for sig in kernel.signatures)  # X_data
    assert dtypes == ["float32", "float64"], kernel.signatures


def test_settings_select_distinct_variants():
    """Loss, the L1 part, PA rules, averaging, objective tracking and layout are
    compile-time: each its variant. The step-size schedules (a formula each)
    share one code, no penalty shares L2's and L1 elastic-net's; a fit with no
    stopping rule on the objective (``tol=None``, or early stopping) tracks no
    objective."""
    rng = np.random.RandomState(1)
    X = rng.randn(40, 4)
    y = (X[:, 0] > 0).astype(int)

    def variant(**params):
        params = {"tol": None, **params}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # two epochs
            return _variant_of(SGDClassifier(max_iter=2, **params), X, y)

    base = variant(learning_rate="constant", eta0=0.1)
    for params in (
        dict(learning_rate="adaptive", eta0=0.1),
        dict(learning_rate="optimal"),
        dict(learning_rate="invscaling", eta0=0.1),
        dict(learning_rate="constant", eta0=0.1, penalty=None),
        dict(learning_rate="constant", eta0=0.1, early_stopping=True),
        dict(learning_rate="constant", eta0=0.1, early_stopping=True, tol=1e-3),
    ):
        assert variant(**params) is base, params
    l1 = variant(learning_rate="constant", eta0=0.1, penalty="l1")
    assert l1 is not base
    assert variant(learning_rate="constant", eta0=0.1, penalty="elasticnet") is l1
    for params in (
        dict(loss="log_loss"),
        dict(average=True),
        dict(tol=1e-3),
        dict(learning_rate="pa1"),
    ):
        params = {"learning_rate": "constant", "eta0": 0.1, **params}
        assert variant(**params) is not base, params


_NOTICE_SCRIPT = """
    import sys
    import numpy as np
    from fastsgd import MLPClassifier, SGDClassifier
    from fastsgd._progress import announce_compilation

    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    heard = []
    with announce_compilation(heard.append):
        if sys.argv[2] == "sgd":
            SGDClassifier(max_iter=2, tol=None, verbose=int(sys.argv[1])).fit(X, y)
        else:
            MLPClassifier(
                hidden_layer_sizes=(3,), max_iter=2, verbose=int(sys.argv[1])
            ).fit(X, y)
    print("HEARD", len(heard))
"""


@pytest.mark.parametrize(
    "estimator, settings",
    [
        ("sgd", "the per-sample kernel (binary hinge/l2/optimal, dense float64, "
         "serial): about 4 s, once (then cached)"),
        ("mlp", "the MLP kernel (adam/relu/logistic, dense float64, serial): "
         "about 5 s, once (then cached)"),
    ],
)  # fmt: skip
def test_first_fit_says_it_compiles_once(estimator, settings):
    with tempfile.TemporaryDirectory() as cache:
        cold, _ = _run(_NOTICE_SCRIPT, cache, "1", estimator)
        warm, _ = _run(_NOTICE_SCRIPT, cache, "1", estimator)
        quiet, _ = _run(_NOTICE_SCRIPT, cache, "0", estimator)
    lines = cold.splitlines()
    notices = [line for line in lines if "compiling" in line]
    assert len(notices) == 1, cold
    assert notices[0] == "fastsgd: compiling " + settings, notices
    assert lines.index(notices[0]) < min(
        i
        for i, line in enumerate(lines)
        if line.startswith(("-- Epoch 1", "Iteration 1,"))
    ), "the notice came after training started"
    assert lines[-1] == "HEARD 1", cold
    assert "compiling" not in warm and warm.splitlines()[-1] == "HEARD 0", warm
    assert quiet.splitlines() == ["HEARD 0"], quiet


_SILENT_SCRIPT = """
    import logging
    import sys
    import numpy as np
    from fastsgd import SGDRegressor

    if sys.argv[1] == "log":
        logging.basicConfig(level=logging.INFO, format="LOG %(name)s %(message)s")
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    SGDRegressor(max_iter=2, tol=None).fit(X, X[:, 0])
    print("DONE")
"""

_NOTICE = ("fastsgd: compiling the per-sample kernel (regression "
           "squared_error/l2/invscaling, dense float64, serial): about 4 s, once "
           "(then cached)")  # fmt: skip


def _run_in_terminal(script, cache_dir, *args):
    """Run ``script`` with stderr on a pseudo-terminal; what it wrote there."""
    import pty

    main, follower = pty.openpty()
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=path)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=env, stdout=subprocess.PIPE, stderr=follower, text=True, timeout=600,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert done.returncode == 0
    return done.stdout, b"".join(chunks).decode()


def test_a_quiet_fit_compiles_silently_but_logs_and_tells_a_terminal():
    """verbose=0: no notice in a non-interactive run, the notice in the
    ``fastsgd`` logger's records, and on stderr when stderr is a terminal."""
    with tempfile.TemporaryDirectory() as cache:
        quiet_out, quiet_err = _run(_SILENT_SCRIPT, cache, "plain")
    with tempfile.TemporaryDirectory() as cache:
        _, logged = _run(_SILENT_SCRIPT, cache, "log")
    with tempfile.TemporaryDirectory() as cache:
        out, terminal = _run_in_terminal(_SILENT_SCRIPT, cache, "plain")
    assert quiet_out == "DONE\n" and "compiling" not in quiet_err, quiet_err
    assert f"LOG fastsgd {_NOTICE}" in logged.splitlines(), logged
    assert out == "DONE\n"
    assert _NOTICE in terminal.splitlines()[0], terminal


def test_compile_command_fills_the_cache():
    """``fastsgd compile`` (two configurations here, to keep the suite short;
    two worker processes) prints a line per configuration and leaves nothing
    to compile for them in a new process; another configuration still
    compiles."""
    fill = """
        import sys
        from fastsgd import _precompile
        from fastsgd.__main__ import main

        _precompile.COMMON = (
            _precompile.Configuration("SGDClassifier", {}),
            _precompile.Configuration(
                "SGDRegressor", {"batch_size": 16, "momentum": 0.9}, parallel=True
            ),
        )
        sys.exit(main(["compile", "--only", "linear", "--dtype", "float64",
                       "--jobs", "2"]))
    """
    use = """
        import numpy as np
        from fastsgd import SGDClassifier, SGDRegressor
        from fastsgd._progress import announce_compilation

        rng = np.random.RandomState(3)
        X = rng.randn(300, 7)
        heard = []
        with announce_compilation(heard.append):
            SGDClassifier(alpha=0.01).fit(X, (X[:, 1] > 0).astype(int))
            SGDRegressor(batch_size=32, momentum=0.5, eta0=0.001).fit(X, X[:, 0])
            print("PRECOMPILED", len(heard))
            SGDRegressor(loss="huber").fit(X, X[:, 0])
            print("OTHER", len(heard))
    """
    with tempfile.TemporaryDirectory() as cache:
        out, _ = _run(fill, cache)
        again, _ = _run(fill, cache)
        used, _ = _run(use, cache)
    lines = out.splitlines()
    assert sorted(line.split("]", 1)[0] for line in lines[:2]) == ["[1/2", "[2/2"]
    regressor = ("SGDRegressor(batch_size=16, momentum=0.9) [float64, dense, serial "
                 "and parallel]: ")  # fmt: skip
    assert any(line[line.index("] ") + 2 :].startswith(regressor) and " compiled ("
               in line for line in lines[:2]), out  # fmt: skip
    assert "compiled or loaded the kernels of 2 configurations" in lines[2], out
    assert again.count("all loaded from the cache") == 2, again
    assert "PRECOMPILED 0" in used, used
    assert "OTHER 1" in used, used


_DOCS_SCRIPT = """
    import doctest
    import glob
    import os
    import subprocess
    import sys
    import warnings

    from numba.core import event

    warnings.simplefilter("ignore")
    compiled = []


    class Listener(event.Listener):
        def on_start(self, ev):
            dispatcher = ev.data.get("dispatcher")
            name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", "?")
            compiled.append((where, name))

        def on_end(self, ev):
            pass


    os.chdir(sys.argv[1])
    files = ["README.md"] + sorted(glob.glob("docs/*.md"))
    with event.install_listener("numba:compile", Listener()):
        for where in files:
            result = doctest.testfile(
                where, module_relative=False, report=False,
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            )
            assert result.failed == 0, where
        where = "demo"
        from fastsgd.__main__ import main

        main(["demo", "--epochs", "2"])
    for where, name in compiled:
        print("COMPILED", where, name)
    print("EXAMPLES RUN")
"""


def test_compile_covers_the_demo_and_every_readme_and_docs_example():
    """After ``python -m fastsgd compile`` (the default set, into a fresh
    cache), the README's and the docs' examples and the demo compile nothing:
    every kernel they run is in the cache."""
    with tempfile.TemporaryDirectory() as cache:
        out, _ = _run("from fastsgd.__main__ import main; main(['compile'])", cache)
        assert "compiled or loaded the kernels of" in out, out
        ran, _ = _run(_DOCS_SCRIPT, cache, ROOT)
    assert ran.splitlines()[-1] == "EXAMPLES RUN", ran
    missing = [line for line in ran.splitlines() if line.startswith("COMPILED")]
    assert not missing, "\n".join(missing)


_README_SCRIPT = """
    import doctest
    import json
    import sys
    import warnings
    from numba.core import event
    import fastsgd

    warnings.simplefilter("ignore")
    compiled = []


    class Listener(event.Listener):
        def on_start(self, ev):
            compiled.append(ev.data["dispatcher"].py_func.__qualname__)

        def on_end(self, ev):
            pass


    with event.install_listener("numba:compile", Listener()):
        if sys.argv[1] == "demo":
            from fastsgd.__main__ import main

            main(["demo", "--epochs", "2"])
        else:
            result = doctest.testfile(
                sys.argv[1], module_relative=False, report=False,
                optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
            )
            assert result.attempted and not result.failed
    print(json.dumps([fastsgd.__file__, compiled]))
"""


def test_one_cache_wherever_fastsgd_is_imported_from(tmp_path):
    """The new user's path: the demo run with one copy of the package (as the
    README's ``pip install . && python -m fastsgd demo`` run in the checkout
    does), then the README's examples run elsewhere with another copy (the
    installed one): they compile nothing the demo compiled, which is all
    their kernels; one cache, named by fastsgd's version."""
    import shutil

    copy = tmp_path / "site-packages"
    shutil.copytree(os.path.join(ROOT, "fastsgd"), copy / "fastsgd",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    readme = os.path.join(ROOT, "README.md")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        runs = []
        for where, path, what in ((ROOT, ROOT, "demo"), (tmp_path, copy, readme)):
            done = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(_README_SCRIPT), what],
                env=dict(env, PYTHONPATH=str(path)), cwd=where,
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            runs.append(json.loads(done.stdout.splitlines()[-1]))
        assert os.listdir(cache) == ["fastsgd-" + _version()]
    (checkout, by_demo), (copied, by_readme) = runs
    assert checkout.startswith(ROOT) and copied.startswith(str(copy))
    assert by_demo, "the demo compiled its kernels"
    assert by_readme == [], "the README's examples compiled again"


def _version():
    import fastsgd

    return fastsgd.__version__


def test_an_mlp_fit_compiles_only_its_own_configuration():
    """An MLP fit compiles its training epoch and its forward pass, with no
    code of the other activations or solvers (a tanh/SGD kernel holds no
    square root, a ReLU/Adam kernel no tanh); a pickled model predicts on a
    cold cache compiling the forward pass alone."""
    script = """
        import json, pickle, sys, warnings
        import numpy as np
        from fastsgd import MLPClassifier
        from fastsgd._kernels import cpu_mlp

        def ir_of(kind):
            return "".join(
                "".join(kernel.inspect_llvm().values())
                for key, kernel in cpu_mlp._VARIANTS.items()
                if key[0] == "_training_template" and dict(key[1])["SOLVER"] == kind
            )

        rng = np.random.RandomState(0)
        X = rng.randn(60, 4)
        y = (X[:, 0] > 0).astype(int)
        warnings.simplefilter("ignore")
        if sys.argv[1] == "fit":
            params = dict(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
            sgd = MLPClassifier(activation="tanh", solver="sgd", **params).fit(X, y)
            sgd.predict(X)
            after_sgd = sorted(key[0] for key in cpu_mlp._VARIANTS)
            MLPClassifier(activation="relu", solver="adam", **params).fit(X, y)
            sgd_ir, adam_ir = ir_of(0), ir_of(1)
            with open(sys.argv[2], "wb") as f:
                pickle.dump(sgd, f)
            print(json.dumps(dict(
                after_sgd=after_sgd,
                sgd=["tanh" in sgd_ir, "sqrt" in sgd_ir],
                adam=["tanh" in adam_ir, "sqrt" in adam_ir],
            )))
        else:
            with open(sys.argv[2], "rb") as f:
                model = pickle.load(f)
            model.predict(X)
            print(json.dumps(dict(kernels=[key[0] for key in cpu_mlp._VARIANTS])))
    """
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as cold:
        model = os.path.join(cache, "model.pkl")
        out, _ = _run(script, cache, "fit", model)
        predicted, _ = _run(script, cold, "predict", model)
    seen = json.loads(out.splitlines()[-1])
    assert seen["after_sgd"] == ["_prediction_template", "_training_template"], seen
    assert seen["sgd"] == [True, False], "tanh/SGD kernel: [has tanh, has sqrt]"
    assert seen["adam"] == [False, True], "ReLU/Adam kernel: [has tanh, has sqrt]"
    kernels = json.loads(predicted.splitlines()[-1])["kernels"]
    assert kernels == ["_prediction_template"], kernels


def _imports_of(source):
    """The modules a source imports (its import statements)."""
    import ast

    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _fastsgd_imports(path):
    """The ``fastsgd`` modules a source file imports (its import statements)."""
    return [
        name for name in _imports_of(path.read_text()) if name.startswith("fastsgd")
    ]


#: The layers (docs/design.md), each with the modules of ``fastsgd`` it must
#: not import: the kernels import nothing above them; the trainers import no
#: estimator; the estimators reach the kernels only through the trainers.
_LAYERS = {
    "_kernels/*.py": ("fastsgd._device", "fastsgd._trainer", "fastsgd._mlp_trainer",
                      "fastsgd._base", "fastsgd.linear_model",
                      "fastsgd.neural_network"),
    "_trainer.py": ("fastsgd._base", "fastsgd.linear_model", "fastsgd.neural_network"),
    "_mlp_trainer.py": ("fastsgd._base", "fastsgd.linear_model",
                        "fastsgd.neural_network"),
    "_epoch.py": ("fastsgd._kernels", "fastsgd._trainer", "fastsgd._mlp_trainer",
                  "fastsgd._base", "fastsgd.linear_model", "fastsgd.neural_network"),
    "_base.py": ("fastsgd._kernels",),
    "linear_model.py": ("fastsgd._kernels",),
    "neural_network.py": ("fastsgd._kernels",),
    # integrations: on top of the estimators (dask) or the math (optimize,
    # compiled through _jit's one binding list)
    "dask.py": ("fastsgd._kernels", "fastsgd._trainer", "fastsgd._base"),
    # the search sits on the estimators (and names their DivergenceError)
    "tuning.py": ("fastsgd._kernels", "fastsgd._trainer", "fastsgd._mlp_trainer",
                  "fastsgd.neural_network"),
    "optimize.py": ("fastsgd._kernels.cpu", "fastsgd._kernels.cuda",
                    "fastsgd._trainer", "fastsgd._mlp_trainer", "fastsgd._base",
                    "fastsgd.linear_model", "fastsgd.neural_network"),
}  # fmt: skip


@pytest.mark.parametrize("module", ["dask.py", "optimize.py"])
def test_integrations_use_no_private_names_of_other_objects(module):
    """``fastsgd.dask`` and ``fastsgd.optimize`` reach the estimators through
    their public state protocol (``training_state``, ``load_training_state``)
    and SciPy through its public API: no ``obj._name`` but their own
    (``self._...``), read from the source."""
    import ast
    import pathlib

    import fastsgd

    source = (pathlib.Path(fastsgd.__file__).parent / module).read_text()
    private = sorted(
        f"{ast.unparse(node.value)}.{node.attr}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and ast.unparse(node.value) != "self"
    )
    assert not private, private
    private_imports = [
        name
        for name in _imports_of(source)
        if not name.startswith("fastsgd") and "._" in name
    ]
    assert not private_imports, private_imports
    # nor a private name of fastsgd's (``from fastsgd.x import _y``); dask.py
    # sits on the estimators, so no private fastsgd module either (optimize.py
    # is built on the math and _jit: its layer, _LAYERS)
    private_names = sorted(
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    )
    assert not private_names, private_names
    if module == "dask.py":
        private_modules = [
            name for name in _imports_of(source) if name.startswith("fastsgd._")
        ]
        assert not private_modules, private_modules


@pytest.mark.parametrize("pattern", list(_LAYERS))
def test_layers_import_only_the_layers_below(pattern):
    """Read from the sources' import statements (lazy imports included)."""
    import pathlib

    import fastsgd

    package = pathlib.Path(fastsgd.__file__).parent
    offending = [
        f"{path.name}: {name}"
        for path in sorted(package.glob(pattern))
        for name in _fastsgd_imports(path)
        if name.startswith(_LAYERS[pattern])
    ]
    assert not offending, offending


def test_only_jit_reads_numba_private_names():
    """Numba's private names (its cache index and locators, its threading
    layer's flag) are read in ``_kernels/_jit.py`` only: where Numba changes
    them, one file changes. Read from the sources: a private name imported
    from a ``numba`` module, or a private attribute of an object imported
    from one (``parallel._is_initialized``, ``numba.core.caching._Cache``),
    or of a dispatcher's internals (``._cache``, ``._index_key``)."""
    import ast
    import pathlib

    import fastsgd

    package = pathlib.Path(fastsgd.__file__).parent
    offending = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_jit.py":
            continue
        tree = ast.parse(path.read_text())
        from_numba = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "numba"
            ):
                for alias in node.names:
                    from_numba.add(alias.asname or alias.name)
                    if alias.name.startswith("_"):
                        offending.append(f"{path.name}: {node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "numba":
                        from_numba.add((alias.asname or alias.name).split(".")[0])
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if private and (
                (isinstance(root, ast.Name) and root.id in from_numba)
                or node.attr in ("_cache", "_index_key", "_cache_file", "_load_index")
            ):
                offending.append(f"{path.name}: {ast.unparse(node)}")
    assert not offending, offending
