"""Sphinx configuration of fastsgd's documentation.

Build it with ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
Nothing here reaches the network: no intersphinx, no remote images.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# fastsgd itself (autodoc imports it; importing compiles no kernel) and bench/,
# whose report.py turns the benchmark JSONs into the plot of benchmarks.md.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

project = "fastsgd"
author = "the fastsgd developers"
copyright = "fastsgd developers"
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# Pages are the .md/.rst files here; nothing else (a README, build output) is one.
exclude_patterns = ["_build", "_ext", "README.md", "**/README.md", ".DS_Store"]

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autosummary_generate = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = "fastsgd"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
}

# matplotlib's plot directive draws benchmarks.md's figures from bench/results/
# (docs/_ext/bench_plots.py) into the build directory: PNG only, no source link.
plot_formats = [("png", 110)]
plot_html_show_source_link = False
plot_html_show_formats = False
plot_include_source = False
plot_pre_code = "import matplotlib\nmatplotlib.use('Agg')\n"


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_*_request`` methods.

    scikit-learn's metadata routing adds them to every estimator class; their
    docstrings cross-reference scikit-learn's own user guide.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_routing)
