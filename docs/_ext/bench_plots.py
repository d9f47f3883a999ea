"""The benchmark page's plots, drawn at documentation build time from ``bench/``.

``docs/benchmarks.md`` calls these through matplotlib's ``plot`` directive, so
the figures always show the JSONs in ``bench/results/`` that the tables of the
page were made from; the drawing itself is ``bench/report.py``'s.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def _report():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench import report

    return report


def linear_figure():
    """Time per epoch of each linear workload (``bench/results/latest.json``)."""
    report = _report()
    linear, _ = report.load_all([RESULTS / "latest.json"])
    report.chart(linear.groups)  # left open: the plot directive collects it
