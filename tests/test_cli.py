"""The command line: ``fastsgd fit``, ``predict`` and ``score``, and docs/cli.md.

The round trips run ``python -m fastsgd`` in subprocesses on files written here,
and check the predictions against an in-process fit of the same estimator with
the same parameters on the arrays the files were written from, and the printed
score against scikit-learn's metric on those predictions. The subprocesses
inherit the session's ``NUMBA_CACHE_DIR`` (tests/conftest.py), so the kernels
compile at most once per session. Every command shown in docs/cli.md is run, in
order, and its output compared with the page.

Errors found before a fit are checked in process, through
``fastsgd.__main__.main`` (the same code without an interpreter start-up); the
docs' error examples run as subprocesses (exit status, message, no traceback).
"""

import csv
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import skops.io
from datasets import classification, regression
from sklearn.datasets import dump_svmlight_file, load_diabetes, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score

import fastsgd
from fastsgd.__main__ import build_parser, demo, main
from fastsgd._cli_data import parse_param

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
LABELS = np.array(["cat", "dog", "emu"])
FLOAT = re.compile(r"-?\d+\.\d+")
#: The line a kernel's first compilation prints: only on a cold cache, and
#: which kernels the suite's other tests compiled first varies.
COMPILING = re.compile(r"fastsgd: compiling the .*\(then cached\)\n?")


# --- helpers -----------------------------------------------------------------


def run_cli(args, cwd):
    """Run ``python -m fastsgd ARGS`` in ``cwd``; the CompletedProcess."""
    assert "NUMBA_CACHE_DIR" in os.environ, "set by tests/conftest.py"
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("COLUMNS", "LINES"):  # tqdm's width on a non-terminal
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "fastsgd", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=300,
    )
    # decoded by hand: text mode would turn tqdm's carriage returns into newlines
    result.stdout = result.stdout.decode("utf-8")
    result.stderr = result.stderr.decode("utf-8")
    return result


def ok(result):
    """Assert a subprocess succeeded; return it."""
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def write_csv(path, header, rows):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)


def read_predictions(path):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["prediction"], rows[:2]
    return [row[0] for row in rows[1:]]


def fit_in_process(cls, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(**params).fit(X, y)


def call_main(args, capsys):
    """Run ``main(args)`` in process: (exit status, stdout, stderr)."""
    status = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(args, capsys, *fragments):
    """``main(args)`` exits 1 with one ``fastsgd: error:`` line holding fragments."""
    status, out, err = call_main(args, capsys)
    assert status == 1, (status, out, err)
    lines = err.strip().splitlines()
    assert lines[-1].startswith("fastsgd: error: "), err
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    return lines[-1]


def params_args(params):
    return [arg for name, value in params.items() for arg in ("-p", f"{name}={value}")]


# --- round trips: fit and predict in subprocesses ----------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


MLPC_PARAMS = dict(
    hidden_layer_sizes=(5,), max_iter=15, learning_rate_init=0.05, random_state=0
)


@pytest.fixture(scope="module")
def mlp_classifier_csv(workdir):
    """mlp-classifier on a CSV file with string labels; predict on a CSV file
    with the columns shuffled, an extra text column and no target."""
    X, y = classification(3, n_samples=60, n_features=4, n_informative=3, seed=1)
    labels = LABELS[y]
    names = ["f0", "f1", "f2", "f3"]
    train = workdir / "animals.csv"
    write_csv(
        train,
        [*names[:2], "kind", *names[2:]],
        [[*x[:2], label, *x[2:]] for x, label in zip(X, labels, strict=True)],
    )
    X_new = X[::-1][:25] + 0.25
    order = [3, 1, 0, 2]
    write_csv(
        workdir / "animals_new.csv",
        ["note", *[names[i] for i in order]],
        [[f"row {i}, unlabelled", *x[order]] for i, x in enumerate(X_new)],
    )
    fit_args = ["--model", "mlp-classifier", "--target", "kind"]
    fitted = ok(
        run_cli(
            ["fit", "animals.csv", *fit_args, *params_args(MLPC_PARAMS),
             "-o", "animals.skops"],
            workdir,
        )
    )  # fmt: skip
    predicted = ok(
        run_cli(
            ["predict", "animals.skops", "animals_new.csv", "-o", "animals.out.csv"],
            workdir,
        )
    )
    reference = fit_in_process(fastsgd.MLPClassifier, X, labels, **MLPC_PARAMS)
    return dict(
        X=X, y=labels, X_new=X_new, fit=fitted, predict=predicted,
        reference=reference, model=workdir / "animals.skops",
    )  # fmt: skip


def test_mlp_classifier_csv_predictions_match_an_in_process_fit(
    mlp_classifier_csv, workdir
):
    run = mlp_classifier_csv
    expected = run["reference"].predict(run["X_new"])
    assert len(set(expected)) > 1, "a test that could not tell labels apart"
    assert read_predictions(workdir / "animals.out.csv") == expected.tolist()
    assert run["predict"].stdout == "" and run["predict"].stderr == ""


def test_mlp_classifier_csv_score_is_the_accuracy(mlp_classifier_csv, capsys):
    run = mlp_classifier_csv
    expected = accuracy_score(run["y"], run["reference"].predict(run["X"]))
    # the target column is the one the model was fit on
    status, out, err = call_main(["score", run["model"], run["model"].parent /
                                  "animals.csv"], capsys)  # fmt: skip
    assert (status, err) == (0, "")
    assert float(out) == pytest.approx(expected, rel=1e-12)


def test_fit_shows_an_epoch_bar_then_the_warnings(mlp_classifier_csv):
    result = mlp_classifier_csv["fit"]
    lines = COMPILING.sub("", result.stderr).rstrip("\n").split("\n")
    last_frame = lines[0].split("\r")[-1]
    assert last_frame.startswith("mlp-classifier: 100%"), result.stderr
    assert "| 15/15 [" in last_frame and re.search(r"loss=\d", last_frame), last_frame
    assert lines[1:] == [
        "fastsgd: warning: Stochastic Optimizer: Maximum iterations (15) reached "
        "and the optimization hasn't converged yet."
    ]
    assert result.stdout == (
        "fitted mlp-classifier on 60 samples, 4 features (15 epochs); "
        "saved to animals.skops\n"
    )


SGDC_PARAMS = dict(random_state=0)  # default tol: the fit stops early


@pytest.fixture(scope="module")
def sgd_classifier_svmlight(workdir):
    """sgd-classifier on a one-based svmlight file with integer labels 1 and 2;
    predict on a file whose last feature never occurs."""
    X, y = classification(2, n_samples=60, n_features=5, n_informative=3, seed=3)
    X[np.abs(X) < 0.5] = 0.0  # sparse rows
    y = y + 1
    dump_svmlight_file(X, y, str(workdir / "bin.svm"), zero_based=False)
    X_new = X[10:40].copy()
    X_new[:, -1] = 0.0
    dump_svmlight_file(
        X_new, np.zeros(len(X_new)), str(workdir / "bin_new.libsvm"), zero_based=False
    )
    fitted = ok(
        run_cli(
            ["fit", "bin.svm", "--model", "sgd-classifier",
             *params_args(SGDC_PARAMS), "-o", "bin.skops"],
            workdir,
        )
    )  # fmt: skip
    predicted = ok(
        run_cli(["predict", "bin.skops", "bin_new.libsvm", "-o", "bin.out.csv"],
                workdir)
    )  # fmt: skip
    reference = fit_in_process(
        fastsgd.SGDClassifier, sp.csr_matrix(X), y, **SGDC_PARAMS
    )
    return dict(
        X=X, y=y, X_new=X_new, fit=fitted, predict=predicted, reference=reference,
        model=workdir / "bin.skops",
    )  # fmt: skip


def test_sgd_classifier_svmlight_predictions_match_an_in_process_fit(
    sgd_classifier_svmlight, workdir
):
    run = sgd_classifier_svmlight
    expected = run["reference"].predict(sp.csr_matrix(run["X_new"]))
    assert set(expected) == {1, 2}
    assert read_predictions(workdir / "bin.out.csv") == [str(k) for k in expected]


def test_sgd_classifier_svmlight_score_is_the_accuracy(
    sgd_classifier_svmlight, workdir, capsys
):
    run = sgd_classifier_svmlight
    expected = accuracy_score(
        run["y"], run["reference"].predict(sp.csr_matrix(run["X"]))
    )
    status, out, _ = call_main(["score", run["model"], workdir / "bin.svm"], capsys)
    assert status == 0
    assert float(out) == pytest.approx(expected, rel=1e-12)


def test_bar_says_when_the_fit_stopped_early(sgd_classifier_svmlight):
    n_iter = sgd_classifier_svmlight["reference"].n_iter_
    assert n_iter < 1000
    last_frame = sgd_classifier_svmlight["fit"].stderr.rstrip("\n").split("\r")[-1]
    assert last_frame.startswith(
        f"sgd-classifier: stopped after {n_iter} of 1000 epochs:"
    ), last_frame
    assert f"| {n_iter}/1000 [" in last_frame, last_frame


def test_model_file_holds_the_estimator_and_metadata(sgd_classifier_svmlight):
    path = sgd_classifier_svmlight["model"]
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # a skops file (a zip archive)
    # every type in it is on the allow-list: fastsgd.load reads it untrusted
    artifact = fastsgd.load(path)
    assert artifact["model"] == "sgd-classifier"
    assert artifact["fastsgd_version"] == fastsgd.__version__
    assert artifact["svmlight_zero_based"] is False
    assert artifact["feature_names"] is None and artifact["target"] is None
    reference = sgd_classifier_svmlight["reference"]
    np.testing.assert_allclose(artifact["estimator"].coef_, reference.coef_)


MLPR_PARAMS = dict(
    hidden_layer_sizes=(4,), max_iter=12, early_stopping=True, random_state=0,
    learning_rate_init=0.01,
)  # fmt: skip


@pytest.fixture(scope="module")
def mlp_regressor_csv(workdir):
    """mlp-regressor on a numeric CSV with early stopping (validation in the bar);
    predict on the training file itself to stdout (the target column unused)."""
    X, y = regression(n_samples=60, n_features=3, seed=4)
    write_csv(
        workdir / "reg.csv",
        ["a", "b", "c", "target"],
        [[*x, t] for x, t in zip(X, y, strict=True)],
    )
    fitted = ok(
        run_cli(
            ["fit", "reg.csv", "--model", "mlp-regressor", "--target", "target",
             *params_args(MLPR_PARAMS), "-o", "mlpr.skops"],
            workdir,
        )
    )  # fmt: skip
    predicted = ok(run_cli(["predict", "mlpr.skops", "reg.csv"], workdir))
    reference = fit_in_process(fastsgd.MLPRegressor, X, y, **MLPR_PARAMS)
    return dict(
        X=X, y=y, fit=fitted, predict=predicted, reference=reference,
        model=workdir / "mlpr.skops",
    )  # fmt: skip


def test_mlp_regressor_csv_predictions_and_score(mlp_regressor_csv, workdir, capsys):
    run = mlp_regressor_csv
    lines = run["predict"].stdout.splitlines()
    assert lines[0] == "prediction"
    got = np.array([float(value) for value in lines[1:]])
    np.testing.assert_allclose(got, run["reference"].predict(run["X"]), rtol=1e-12)
    status, out, _ = call_main(
        ["score", run["model"], workdir / "reg.csv", "--target", "target"], capsys
    )
    assert status == 0
    assert float(out) == pytest.approx(r2_score(run["y"], got), rel=1e-10)
    assert re.search(r"validation=-?\d", run["fit"].stderr), run["fit"].stderr


def test_predict_into_a_closed_pipe_stops_quietly(mlp_classifier_csv, workdir):
    """``fastsgd predict model data.csv | head -1``: the reader leaves after one
    line; the command ends with status 141 (128 + SIGPIPE) and no traceback."""
    rows = np.tile(mlp_classifier_csv["X_new"], (1200, 1))  # 30,000 rows > a pipe
    write_csv(workdir / "many.csv", ["f0", "f1", "f2", "f3"], rows)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "fastsgd", "predict", "animals.skops", "many.csv"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    first = process.stdout.readline()
    process.stdout.close()  # what ``head -1`` does after its line
    stderr = process.stderr.read().decode("utf-8")
    status = process.wait(timeout=300)
    assert first == b"prediction\n"
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert status == 141, stderr


# --- docs/cli.md: every command shown there, with its output -----------------


def docs_blocks():
    """docs/cli.md's fenced blocks: (section heading, language, text)."""
    blocks, section, language, lines = [], None, None, None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        if lines is None and line.startswith("## "):
            section = line[3:].strip()
        elif lines is None and line.startswith("```"):
            language, lines = line[3:].strip(), []
        elif lines is not None and line.startswith("```"):
            blocks.append((section, language, "\n".join(lines)))
            lines = None
        elif lines is not None:
            lines.append(line)
    return blocks


def docs_commands():
    """The ``$ fastsgd ...`` commands of the console blocks, with their output."""
    commands = []
    for _, language, text in docs_blocks():
        if language != "console":
            continue
        command = None  # a block starts with a command
        for line in text.splitlines():
            if command is not None and command.endswith("\\"):
                command = command[:-1] + " " + line.strip()
                commands[-1] = (command, [])
            elif line.startswith("$ "):
                command = line[2:]
                commands.append((command, []))
            else:
                commands[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in commands]


def terminal_text(text):
    """What a terminal shows: the last ``\\r`` frame of each line, with tqdm's
    elapsed/remaining time and rate masked."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    shown = "\n".join(line for line in lines if line).strip()
    return re.sub(r"\[\d+:\d+<[^,\]]*, *[^,\]]*epoch/s", "[TIME", shown)


@pytest.fixture(scope="module")
def docs_session(tmp_path_factory):
    """Run the example session of docs/cli.md in a fresh directory."""
    where = tmp_path_factory.mktemp("docs-session")
    setup = [
        text
        for section, language, text in docs_blocks()
        if section == "Example session" and language == "python"
    ]
    assert len(setup) == 1
    subprocess.run([sys.executable, "-c", setup[0]], cwd=where, check=True, timeout=120)
    results = []
    for command, shown in docs_commands():
        words = shlex.split(command)
        assert words[0] == "fastsgd", f"docs/cli.md shows a command not run: {command}"
        results.append((command, shown, run_cli(words[1:], where)))
    return where, results


def test_docs_session_commands_print_what_the_page_shows(docs_session):
    _, results = docs_session
    assert len(results) >= 8
    for command, shown, result in results:
        expected_status = 1 if "fastsgd: error:" in shown else 0
        assert result.returncode == expected_status, (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        # stdout comes last in every command (the summary, the score)
        got = terminal_text(result.stderr + "\n" + result.stdout)
        got = COMPILING.sub("", got).strip()
        want = terminal_text(shown)
        # decimals to 1e-9 (another CPU may round a kernel's sums differently)
        assert FLOAT.sub("<float>", got) == FLOAT.sub("<float>", want), (
            f"{command}\n{got!r}"
        )
        got_floats = [float(x) for x in FLOAT.findall(got)]
        assert got_floats == pytest.approx(
            [float(x) for x in FLOAT.findall(want)], rel=1e-9
        ), command


def test_docs_model_file_example_runs(docs_session):
    where, _ = docs_session
    (example,) = [
        text
        for section, language, text in docs_blocks()
        if section == "Model files" and language == "python"
    ]
    subprocess.run([sys.executable, "-c", example], cwd=where, check=True, timeout=120)


def test_docs_session_data_file_starts_as_shown(docs_session):
    where, _ = docs_session
    shown = [
        text
        for section, language, text in docs_blocks()
        if section == "Example session" and language == "text"
    ][0]
    lines = (where / "iris.csv").read_text().splitlines()
    assert lines[: len(shown.splitlines())] == shown.splitlines()


IRIS_PARAMS = dict(
    loss="log_loss", multi_class="multinomial", batch_size=16, momentum=0.9,
    learning_rate="constant", eta0=0.01, random_state=0,
)  # fmt: skip


def test_docs_session_iris_matches_an_in_process_fit(docs_session, capsys):
    where, _ = docs_session
    iris = load_iris()
    species = iris.target_names[iris.target]
    reference = fit_in_process(fastsgd.SGDClassifier, iris.data, species, **IRIS_PARAMS)
    expected = reference.predict(iris.data)
    assert read_predictions(where / "predictions.csv") == expected.tolist()
    _, shown, _ = next(
        r for r in docs_session[1] if r[0].startswith("fastsgd score iris")
    )
    assert float(shown) == pytest.approx(accuracy_score(species, expected), rel=1e-12)
    assert f"{reference.n_iter_} of 1000 epochs" in docs_session[1][0][1]


def test_docs_session_diabetes_scores_match_in_process_fits(docs_session, capsys):
    where, results = docs_session
    X, y = load_diabetes(return_X_y=True)
    shown = {r[0].split()[2]: float(r[1]) for r in results
             if r[0].startswith("fastsgd score") and "diabetes" in r[0]}  # fmt: skip
    sgd = fit_in_process(fastsgd.SGDRegressor, X, y, eta0=0.1, random_state=0)
    assert shown["diabetes.skops"] == pytest.approx(
        r2_score(y, sgd.predict(X)), rel=1e-10
    )
    mlp = fit_in_process(
        fastsgd.MLPRegressor, sp.csr_matrix(X), y, hidden_layer_sizes=(16, 8),
        learning_rate_init=0.05, random_state=0,
    )  # fmt: skip
    assert shown["mlp.skops"] == pytest.approx(r2_score(y, mlp.predict(X)), rel=1e-10)
    # predict on an .npz file without targets, to stdout
    np.savez(where / "X_only.npz", X=X[:7])
    status, out, _ = call_main(["predict", where / "diabetes.skops",
                                where / "X_only.npz"], capsys)  # fmt: skip
    assert status == 0
    got = [float(value) for value in out.splitlines()[1:]]
    np.testing.assert_allclose(got, sgd.predict(X[:7]), rtol=1e-12)


def test_docs_session_one_class_svm_matches_an_in_process_fit(docs_session):
    where, _ = docs_session
    X = load_iris().data
    reference = fit_in_process(fastsgd.SGDOneClassSVM, X, None, nu=0.05,
                               random_state=0)  # fmt: skip
    expected = reference.predict(X)
    assert read_predictions(where / "outliers.csv") == [str(k) for k in expected]
    assert (expected == -1).sum() == 1  # as the page says


def test_docs_model_file_messages_are_what_predict_prints(
    tmp_path, tiny_csv, capsys, monkeypatch
):
    """The two messages docs/cli.md shows under "Model files" (a skops file
    naming ``os.system``, a joblib file), from files of the names shown."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    shown = [text for section, language, text in docs_blocks()
             if section == "Model files" and language == "text"]  # fmt: skip
    assert len(shown) == 2
    monkeypatch.chdir(tmp_path)
    skops.io.dump(Pipeline([("run", FunctionTransformer(func=os.system))]),
                  "model.skops")  # fmt: skip
    joblib.dump({"format": "fastsgd model file"}, "old.joblib")
    for path, text in zip(["model.skops", "old.joblib"], shown, strict=True):
        _, _, err = call_main(["predict", path, tiny_csv], capsys)
        assert err.strip() == text.replace("posix.system", os.system.__module__
                                           + ".system")  # fmt: skip


# --- --param ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("alpha=1e-4", ("alpha", 1e-4)),
        ("max_iter=50", ("max_iter", 50)),
        ("loss=log_loss", ("loss", "log_loss")),
        ("early_stopping=True", ("early_stopping", True)),
        ("tol=None", ("tol", None)),
        ("hidden_layer_sizes=(16, 8)", ("hidden_layer_sizes", (16, 8))),
        ("class_weight={'setosa': 2}", ("class_weight", {"setosa": 2})),
        ("loss='123'", ("loss", "123")),
        (" eta0 = 0.5 ", ("eta0", 0.5)),
        ("learning_rate=", ("learning_rate", "")),
        ("x=a=b", ("x", "a=b")),
    ],
)
def test_param_values_are_python_literals_or_strings(text, expected):
    name, value = parse_param(text)
    assert (name, value) == expected
    assert type(value) is type(expected[1])


# --- errors, in process -------------------------------------------------------


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    return path


def fit_tiny(tiny_csv, tmp_path, *params, model="sgd-classifier"):
    """``fit`` arguments for ``tiny_csv`` (target ``label``) with ``-p`` params."""
    return ["fit", tiny_csv, "--model", model, "--target", "label",
            *[arg for param in params for arg in ("-p", param)],
            "-o", tmp_path / "m"]  # fmt: skip


def test_missing_data_file(tmp_path, capsys):
    missing = tmp_path / "nothing.csv"
    assert_error(
        [
            "fit",
            missing,
            "--model",
            "sgd-classifier",
            "--target",
            "y",
            "-o",
            tmp_path / "m.skops",
        ],
        capsys,
        f"{missing}: no such file",
    )
    for suffix in ("npz", "svm"):
        missing = tmp_path / f"nothing.{suffix}"
        assert_error(
            ["fit", missing, "--model", "sgd-regressor", "-o", tmp_path / "m.skops"],
            capsys,
            f"{missing}: no such file",
        )


def test_unknown_extension(tmp_path, capsys):
    path = tmp_path / "data.xlsx"
    path.write_text("a")
    assert_error(
        ["fit", path, "--model", "sgd-regressor", "-o", tmp_path / "m"],
        capsys,
        "unknown data file type '.xlsx'",
        ".csv, .npz, .svm",
    )


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("a,b,label\n1,2,x\n3,4\n", ["line 3: 2 fields, but the header has 3"]),
        ("a,b,label\n1,2,x\n\n3,4,y,9\n", ["line 4: 4 fields, but the header has 3"]),
        ("a,b,label\n1,2,x\n3,abc,y\n", ["line 3, column 'b': 'abc' is not a number"]),
        ("a,b,label\n1,,x\n", ["line 2, column 'b': empty value"]),
        ("a,b,label\n1,nan,x\n", ["line 2, column 'b': 'nan' is not a finite number"]),
        ("a,b,label\n1,2,\n", ["line 2, column 'label': empty target"]),
        ("a,a,label\n1,2,x\n", ["line 1: duplicate column name(s) 'a'"]),
        ("a,b,label\n", ["no data rows"]),
        ("", ["empty file"]),
        ("a,b,c\n1,2,3\n", ["no target column 'label' (columns: 'a', 'b', 'c')"]),
        ("label\nx\n", ["no feature columns"]),
    ],
)
def test_malformed_csv(tmp_path, capsys, content, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    args = [
        "fit",
        path,
        "--model",
        "sgd-classifier",
        "--target",
        "label",
        "-o",
        tmp_path / "m.skops",
    ]
    message = assert_error(args, capsys, str(path), *fragments)
    assert not (tmp_path / "m.skops").exists(), message


def test_regression_target_must_be_numbers(tmp_path, capsys):
    path = tmp_path / "reg.csv"
    path.write_text("a,t\n1,2.5\n2,high\n")
    assert_error(
        [
            "fit",
            path,
            "--model",
            "sgd-regressor",
            "--target",
            "t",
            "-o",
            tmp_path / "m",
        ],
        capsys,
        "line 3, column 't': 'high' is not a number",
    )


def test_target_column_in_another_case_is_suggested(tmp_path, capsys):
    path = tmp_path / "patients.csv"
    path.write_text("age,diagnosis\n50,benign\n61,malignant\n")
    args = ["fit", path, "--model", "sgd-classifier", "--target", "Diagnosis",
            "-o", tmp_path / "m"]  # fmt: skip
    assert_error(
        args, capsys, f"{path}: no target column 'Diagnosis'; did you mean 'diagnosis'?"
    )
    args[5] = "DIAGNOSYS"  # a misspelling: the closest column, in any case
    assert_error(
        args, capsys, "no target column 'DIAGNOSYS'; did you mean 'diagnosis'?"
    )
    assert not (tmp_path / "m").exists()


def test_csv_fit_needs_a_target_and_other_formats_refuse_one(
    tmp_path, tiny_csv, capsys
):
    assert_error(
        ["fit", tiny_csv, "--model", "sgd-classifier", "-o", tmp_path / "m"],
        capsys,
        "Pass --target COLUMN",
    )
    np.savez(tmp_path / "d.npz", X=np.ones((3, 2)), y=np.arange(3.0))
    assert_error(
        [
            "fit",
            tmp_path / "d.npz",
            "--model",
            "sgd-regressor",
            "--target",
            "y",
            "-o",
            tmp_path / "m",
        ],
        capsys,
        "--target names a CSV column",
    )


def test_malformed_npz(tmp_path, capsys):
    np.savez(tmp_path / "noX.npz", data=np.ones((3, 2)), y=np.arange(3.0))
    assert_error(
        ["fit", tmp_path / "noX.npz", "--model", "sgd-regressor", "-o", tmp_path / "m"],
        capsys,
        "no array 'X' (arrays in the file: 'data', 'y')",
    )
    np.savez(tmp_path / "noy.npz", X=np.ones((3, 2)))
    assert_error(
        ["fit", tmp_path / "noy.npz", "--model", "sgd-regressor", "-o", tmp_path / "m"],
        capsys,
        "no array 'y'",
    )
    (tmp_path / "text.npz").write_text("not a zip")
    assert_error(
        [
            "fit",
            tmp_path / "text.npz",
            "--model",
            "sgd-regressor",
            "-o",
            tmp_path / "m",
        ],
        capsys,
        "not a NumPy .npz file",
    )


def test_malformed_svmlight(tmp_path, capsys):
    path = tmp_path / "bad.svmlight"
    path.write_text("1 1:0.5 2:x\n")
    assert_error(
        ["fit", path, "--model", "sgd-classifier", "-o", tmp_path / "m"],
        capsys,
        "not a valid svmlight/libsvm file",
    )


def test_unknown_param_lists_the_valid_ones(tmp_path, tiny_csv, capsys):
    message = assert_error(
        fit_tiny(tiny_csv, tmp_path, "hiden_layer_sizes=(3,)", model="mlp-classifier"),
        capsys,
        "unknown parameter 'hiden_layer_sizes' for mlp-classifier",
        "did you mean 'hidden_layer_sizes'?",
    )
    valid = message.split("valid parameters: ")[1].split(", ")
    assert valid == sorted(fastsgd.MLPClassifier().get_params())


@pytest.mark.parametrize(
    "param, fragment",
    [
        (
            "alpha=-1",
            "The 'alpha' parameter of SGDClassifier must be a float in the "
            "range [0.0, inf). Got -1 instead.",
        ),
        ("loss=hingee", "The 'loss' parameter of SGDClassifier must be a str among"),
    ],
)
def test_bad_param_value(tmp_path, tiny_csv, capsys, param, fragment):
    assert_error(fit_tiny(tiny_csv, tmp_path, param), capsys, fragment)


def usage_error(args, capsys):
    """``main(args)`` exits 2 (argparse's usage error); its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2, (exit_info.value.code, out, err)
    return err


@pytest.mark.parametrize(
    "params, fragment",
    [
        (
            ["batch_size", "32"],  # a space for the "="
            "argument -p/--param: expected KEY=VALUE, got 'batch_size': write "
            "--param batch_size=VALUE as one argument, with no space around '='",
        ),
        (["alpha"], "argument -p/--param: expected KEY=VALUE, got 'alpha'"),
        (["=3"], "argument -p/--param: expected KEY=VALUE, got '=3': no KEY"),
    ],
)
def test_malformed_param_is_a_usage_error_of_fit(
    tmp_path, tiny_csv, capsys, params, fragment
):
    args = ["fit", tiny_csv, "--model", "sgd-classifier", "--target", "label",
            "--param", *params, "-o", tmp_path / "m"]  # fmt: skip
    err = usage_error(args, capsys)
    assert err.startswith("usage: fastsgd fit "), err
    assert f"fastsgd fit: error: {fragment}" in err, err
    assert not (tmp_path / "m").exists()


def test_stray_arguments_show_the_subcommands_usage(tmp_path, tiny_csv, capsys):
    err = usage_error([*fit_tiny(tiny_csv, tmp_path, "alpha=1"), "32"], capsys)
    assert err.startswith("usage: fastsgd fit "), err
    assert "fastsgd fit: error: unrecognized arguments: 32" in err, err
    err = usage_error(["score", tmp_path / "m", tiny_csv, "extra"], capsys)
    assert err.startswith("usage: fastsgd score "), err
    assert "fastsgd score: error: unrecognized arguments: extra" in err, err


def test_version_option(capsys):
    version = importlib.metadata.version("fastsgd")
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"fastsgd {version}\n"
    result = ok(run_cli(["--version"], cwd=Path.cwd()))
    assert result.stdout == f"fastsgd {version}\n", result


def test_param_given_twice(tmp_path, tiny_csv, capsys):
    assert_error(
        fit_tiny(tiny_csv, tmp_path, "alpha=1", "alpha=2"),
        capsys,
        "--param alpha given twice",
    )


def test_usage_errors_exit_2(tmp_path, tiny_csv, capsys):
    for args in [
        ["fit", tiny_csv, "--model", "sgd-classifer", "-o", tmp_path / "m"],
        ["fit", tiny_csv, "--model", "sgd-classifier"],  # no -o
        ["predict", tmp_path / "m"],  # no DATA
        ["train"],
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main([str(arg) for arg in args])
        assert exit_info.value.code == 2
        assert "usage: fastsgd" in capsys.readouterr().err


def test_demo_is_still_a_command():
    args = build_parser().parse_args(["demo", "--epochs", "3"])
    assert args.run is demo and args.epochs == 3


def test_not_a_fastsgd_model_file(tmp_path, tiny_csv, capsys):
    not_skops = tmp_path / "text.skops"
    not_skops.write_text("hello")
    other_skops = tmp_path / "dict.skops"
    skops.io.dump({"estimator": "something"}, other_skops)
    not_skops_zip = tmp_path / "data.skops"
    with open(not_skops_zip, "wb") as file:  # a zip archive, but not a skops file
        np.savez(file, X=np.ones((2, 2)))
    other_pickle = tmp_path / "dict.joblib"
    joblib.dump({"estimator": "something"}, other_pickle)
    for path in (not_skops, other_skops, not_skops_zip, tiny_csv):
        for command in ("predict", "score"):
            assert_error(
                [command, path, tiny_csv], capsys, f"{path} is not a fastsgd model file"
            )
            assert_error(  # --trust-pickle: still not one
                [command, path, tiny_csv, "--trust-pickle"], capsys,
                f"{path} is not a fastsgd model file",
            )  # fmt: skip
    assert_error(
        ["predict", other_pickle, tiny_csv, "--trust-pickle"],
        capsys,
        f"{other_pickle} is not a fastsgd model file",
    )
    assert_error(
        ["predict", tmp_path / "none.skops", tiny_csv],
        capsys,
        "none.skops: no such file",
    )


def test_predict_needs_the_models_feature_columns(
    mlp_classifier_csv, workdir, tmp_path, capsys
):
    path = tmp_path / "partial.csv"
    path.write_text("f0,f2,f3,kind\n1,2,3,cat\n")
    assert_error(
        ["predict", workdir / "animals.skops", path],
        capsys,
        "missing feature column(s) 'f1' (the model's features: 'f0', 'f1', 'f2', 'f3')",
    )
    assert_error(
        ["score", workdir / "animals.skops", path, "--target", "species"],
        capsys,
        "no target column 'species'",
    )


def test_model_without_column_names_takes_csv_columns_in_order(
    docs_session, tmp_path, capsys
):
    model = docs_session[0] / "diabetes.skops"  # fit on an .npz file
    row = np.linspace(-0.05, 0.05, 10)
    path = tmp_path / "rows.csv"
    write_csv(path, [f"x{i}" for i in range(10)] + ["t"], [[*row, 1.0]])
    assert_error(["score", model, path], capsys, "Pass --target COLUMN")
    np.savez(tmp_path / "noy.npz", X=row[None, :])
    assert_error(["score", model, tmp_path / "noy.npz"], capsys, "no array 'y'")
    # --target leaves the target column out of the features
    status, out, _ = call_main(["predict", model, path, "--target", "t"], capsys)
    assert status == 0
    estimator = fastsgd.load(model)["estimator"]
    expected = row @ estimator.coef_ + estimator.intercept_[0]
    assert float(out.splitlines()[1]) == pytest.approx(expected, rel=1e-12)
    assert_error(
        ["predict", model, path], capsys, "X has 11 features, but SGDRegressor"
    )


def test_predict_cannot_write(mlp_classifier_csv, workdir, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir.csv"
    assert_error(
        ["predict", workdir / "animals.skops", workdir / "animals_new.csv", "-o", out],
        capsys,
        f"{out}: cannot write",
    )


def test_model_file_of_another_version_loads_with_a_warning(
    sgd_classifier_svmlight, workdir, tmp_path, capsys
):
    artifact = fastsgd.load(sgd_classifier_svmlight["model"])
    artifact["fastsgd_version"] = "0.0.1"
    old = tmp_path / "old.skops"
    skops.io.dump(artifact, old)
    status, out, err = call_main(["score", old, workdir / "bin.svm"], capsys)
    assert status == 0 and float(out) > 0.5
    assert err == (
        f"fastsgd: warning: {old} was written by fastsgd 0.0.1; "
        f"this is fastsgd {fastsgd.__version__}\n"
    )


def test_fit_perceptron_is_scikit_learns(tmp_path):
    """``--model perceptron`` fits ``fastsgd.Perceptron``: with the default
    ``random_state`` (0), scikit-learn's ``Perceptron``'s coefficients."""
    from sklearn.linear_model import Perceptron

    X, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.csv"
    rows = ["a,b,c,d,label"] + [
        ",".join(map(str, row.tolist())) + f",{label}"
        for row, label in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    assert main(["fit", str(path), "--model", "perceptron", "--target", "label",
                 "--quiet", "-o", str(tmp_path / "m.skops")]) == 0  # fmt: skip
    fitted = fastsgd.load(tmp_path / "m.skops")["estimator"]
    theirs = Perceptron().fit(X, y)
    assert type(fitted).__name__ == "Perceptron"
    np.testing.assert_allclose(fitted.coef_, theirs.coef_, rtol=1e-12, atol=0)


# --- model files: skops, the allow-list, --trust-pickle -----------------------


class _OpensOnUnpickle:
    """A pickle payload: unpickling it creates the file ``path`` (``open``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_model_file_is_refused_without_running_it(tmp_path, tiny_csv, capsys):
    marker = tmp_path / "ran"
    evil = tmp_path / "model.joblib"
    joblib.dump(_OpensOnUnpickle(marker), evil)
    # the payload works: unpickling this file does create a file
    control = tmp_path / "control"
    joblib.dump(_OpensOnUnpickle(control), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib").close()
    assert control.exists()

    disguised = tmp_path / "model.skops"  # told by content, not by extension
    disguised.write_bytes(evil.read_bytes())
    for path in (evil, disguised):
        for command in ("predict", "score"):
            status, out, err = call_main([command, path, tiny_csv], capsys)
            assert (status, out) == (2, ""), err
            (line,) = err.strip().splitlines()
            assert line.startswith(f"fastsgd: error: {path} is a pickle"), line
            assert "would run any code it carries" in line, line
            assert "--trust-pickle" in line, line
    assert not marker.exists()
    # the installed command, in a subprocess: exit 2, the message, no traceback
    result = run_cli(["predict", evil, tiny_csv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"fastsgd: error: {evil} is a pickle" in result.stderr
    assert result.stdout == "" and not marker.exists()


def test_trust_pickle_reads_an_older_joblib_model_file(
    sgd_classifier_svmlight, workdir, tmp_path, capsys
):
    """A model file of fastsgd before skops (the same dict, dumped by joblib)."""
    artifact = fastsgd.load(sgd_classifier_svmlight["model"])
    old = tmp_path / "old.joblib"
    joblib.dump(artifact, old, compress=3)  # compressed: still told a pickle
    data = workdir / "bin_new.libsvm"
    status, _, err = call_main(["predict", old, data], capsys)
    assert status == 2 and "--trust-pickle" in err, err
    status, out, err = call_main(["predict", old, data, "--trust-pickle"], capsys)
    assert (status, err) == (0, "")
    expected = sgd_classifier_svmlight["reference"].predict(
        sp.csr_matrix(sgd_classifier_svmlight["X_new"])
    )
    assert out.splitlines()[1:] == [str(k) for k in expected]
    status, out, err = call_main(
        ["score", old, workdir / "bin.svm", "--trust-pickle"], capsys
    )
    assert (status, err) == (0, "") and float(out) > 0.5


class _TouchesOnLoad:
    """Builds (``__setstate__``, which skops calls) by creating ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __setstate__(self, state):
        open(state["path"], "w").close()
        self.__dict__.update(state)


def _hostile_artifacts(marker):
    """Model files' dicts whose estimator names a type outside the allow-list:
    (artifact, the type's name)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    system = f"{os.system.__module__}.{os.system.__name__}"  # posix.system
    runs = Pipeline([("run", FunctionTransformer(func=os.system))])
    builds = fastsgd.SGDClassifier()
    builds.extra_ = _TouchesOnLoad(marker)
    touch = f"{_TouchesOnLoad.__module__}._TouchesOnLoad"
    base = {"format": "fastsgd model file", "format_version": 1,
            "fastsgd_version": fastsgd.__version__, "model": "sgd-classifier",
            "feature_names": ["a", "b"], "target": "label",
            "svmlight_zero_based": None}  # fmt: skip
    return [(base | {"estimator": runs}, system),
            (base | {"estimator": builds}, touch)]  # fmt: skip


def test_skops_model_file_naming_other_types_is_refused(tmp_path, tiny_csv, capsys):
    marker = tmp_path / "ran"
    for i, (artifact, name) in enumerate(_hostile_artifacts(marker)):
        path = tmp_path / f"hostile{i}.skops"
        skops.io.dump(artifact, path)
        assert name in skops.io.get_untrusted_types(file=path)
        for command in ("predict", "score"):
            for trust in ([], ["--trust-pickle"]):  # which is for pickles only
                message = assert_error(
                    [command, path, tiny_csv, *trust], capsys, str(path), name
                )
                assert "refused" in message, message
    assert not marker.exists()
    # the second file does build its payload when its types are trusted
    path = tmp_path / "hostile1.skops"
    skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    assert marker.exists()


def test_predict_and_score_read_a_file_of_fastsgd_save(tmp_path, capsys):
    """``fastsgd.save(model, path)``: a bare estimator (here a Pipeline fit on a
    DataFrame), fed the columns it was fit on."""
    pandas = pytest.importorskip("pandas")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True, as_frame=True)
    model = make_pipeline(
        StandardScaler(), fastsgd.SGDClassifier(max_iter=5, tol=None, random_state=0)
    ).fit(X, y)
    fastsgd.save(model, tmp_path / "pipe.skops")
    frame = pandas.concat([X.iloc[:, ::-1], y.rename("kind")], axis=1)
    frame.to_csv(tmp_path / "iris.csv", index=False)
    status, out, err = call_main(
        ["predict", tmp_path / "pipe.skops", tmp_path / "iris.csv"], capsys
    )
    assert (status, err) == (0, "")
    expected = model.predict(X)
    assert out.splitlines()[1:] == [str(k) for k in expected]
    status, out, err = call_main(
        ["score", tmp_path / "pipe.skops", tmp_path / "iris.csv", "--target", "kind"],
        capsys,
    )
    assert (status, err) == (0, "")
    assert float(out) == pytest.approx(model.score(X, y), rel=1e-12)


def test_fit_warns_that_a_pickle_extension_gets_a_skops_file(
    tmp_path, tiny_csv, capsys
):
    status, _, err = call_main(
        ["fit", tiny_csv, "--model", "sgd-classifier", "--target", "label", "-q",
         "-p", "max_iter=3", "-p", "tol=None", "-o", tmp_path / "m.joblib"],
        capsys,
    )  # fmt: skip
    assert status == 0
    assert "fastsgd: warning: " in err and "name model files .skops" in err, err
    assert (tmp_path / "m.joblib").read_bytes()[:4] == b"PK\x03\x04"
    status, _, err = call_main(["predict", tmp_path / "m.joblib", tiny_csv], capsys)
    assert (status, err) == (0, "")


# --- one-class-svm ---------------------------------------------------------------

OCSVM_PARAMS = dict(nu=0.2, max_iter=20, tol=None, random_state=0)


def test_one_class_svm_fits_without_targets_and_predicts_inliers(tmp_path, capsys):
    X, _ = regression(n_samples=60, n_features=3, seed=5)
    X_new = np.vstack([X[:10], 8 * X[:10]])
    np.savez(tmp_path / "train.npz", X=X)  # no y
    np.savez(tmp_path / "new.npz", X=X_new)
    model = tmp_path / "ocsvm.skops"
    status, _, err = call_main(
        ["fit", tmp_path / "train.npz", "--model", "one-class-svm", "--quiet",
         *params_args(OCSVM_PARAMS), "-o", model],
        capsys,
    )  # fmt: skip
    assert status == 0, err
    reference = fit_in_process(fastsgd.SGDOneClassSVM, X, None, **OCSVM_PARAMS)
    assert type(fastsgd.load(model)["estimator"]) is fastsgd.SGDOneClassSVM
    status, out, err = call_main(["predict", model, tmp_path / "new.npz"], capsys)
    assert (status, err) == (0, "")
    expected = reference.predict(X_new)
    assert set(expected) == {-1, 1}
    assert out.splitlines() == ["prediction", *[str(k) for k in expected]]
    # an outlier detector has no score (scikit-learn's have none either)
    np.savez(tmp_path / "new_y.npz", X=X_new, y=np.ones(len(X_new)))
    assert_error(
        ["score", model, tmp_path / "new_y.npz"], capsys,
        "SGDOneClassSVM is an outlier detector, which has no score",
        "fastsgd predict",
    )  # fmt: skip


def test_one_class_svm_csv_target_is_optional_and_left_out(tmp_path, capsys):
    X, _ = regression(n_samples=40, n_features=2, seed=6)
    write_csv(tmp_path / "all.csv", ["a", "b"], X)
    write_csv(tmp_path / "labelled.csv", ["a", "label", "b"],
              [[x[0], "some text", x[1]] for x in X])  # fmt: skip
    reference = fit_in_process(fastsgd.SGDOneClassSVM, X, None, **OCSVM_PARAMS)
    for data, target in [("all.csv", []), ("labelled.csv", ["--target", "label"])]:
        model = tmp_path / f"{data}.skops"
        status, _, err = call_main(
            ["fit", tmp_path / data, "--model", "one-class-svm", *target, "-q",
             *params_args(OCSVM_PARAMS), "-o", model],
            capsys,
        )  # fmt: skip
        assert status == 0, err
        artifact = fastsgd.load(model)
        assert artifact["feature_names"] == ["a", "b"]
        np.testing.assert_array_equal(artifact["estimator"].coef_, reference.coef_)
        status, out, _ = call_main(
            ["predict", model, tmp_path / "labelled.csv"], capsys
        )
        assert status == 0
        assert out.splitlines()[1:] == [str(k) for k in reference.predict(X)]
