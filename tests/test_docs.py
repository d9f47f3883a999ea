"""The documentation site builds with Sphinx, warnings as errors.

The build runs in a subprocess (``python -m sphinx -W --keep-going -b html``)
into a temporary directory, as CI does; any warning fails the test with
Sphinx's own output. Nothing is fetched from the network (``docs/conf.py`` has
no intersphinx), and autodoc imports fastsgd without compiling a kernel.
"""

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = [
    "index",
    "getting_started",
    "migration",
    "linear",
    "tuning",
    "text",
    "mlp",
    "updates",
    "gpu",
    "api",
    "design",
    "benchmarks",
    "benchmarks_gpu",
]

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("pydata_sphinx_theme")
pytest.importorskip("myst_parser")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The built HTML site; fails with Sphinx's output on any warning."""
    out = tmp_path_factory.mktemp("html")
    command = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
        "-d", str(out / ".doctrees"), str(DOCS), str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"sphinx-build failed (exit {done.returncode}):\n"
        f"{done.stdout[-20000:]}\n{done.stderr[-20000:]}"
    )
    assert "WARNING" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    return out


def test_every_page_is_built(site):
    missing = [page for page in PAGES if not (site / f"{page}.html").is_file()]
    assert not missing, f"pages not built: {missing}"


def test_api_reference_documents_the_estimators(site):
    html = (site / "api.html").read_text()
    for name in ["SGDClassifier", "SGDRegressor", "MLPClassifier", "MLPRegressor",
                 "SGDClassifierCV", "SGDRegressorCV"]:  # fmt: skip
        assert f'id="fastsgd.{name}"' in html, f"no API entry for {name}"
    # numpydoc turned the docstrings' sections into parameter lists
    assert "batch_size" in html and "momentum" in html
    assert 'id="fastsgd.SGDClassifier.partial_fit"' in html


def test_benchmark_plot_is_drawn_from_bench_results(site):
    html = (site / "benchmarks.html").read_text()
    plots = sorted(p.name for p in (site / "_images").glob("benchmarks-*.png"))
    assert plots, "the benchmark page has no generated plot"
    assert all(f"_images/{name}" in html for name in plots)
    # a real figure, not an empty canvas
    assert (site / "_images" / plots[0]).stat().st_size > 10_000
