"""The benchmark page's plots, drawn at documentation build time from ``bench/``.

``docs/benchmarks.md`` calls these through matplotlib's ``plot`` directive, so
the figures always show the JSONs in ``bench/results/`` that the tables of the
page were made from; the drawing itself is ``bench/report.py``'s.
"""

import io
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def _report():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bench import report

    return report


@contextmanager
def _figures_kept_open(report):
    """Run one of ``report``'s charts with its figure left open for the directive.

    ``report.chart`` saves its figure to a file and closes it; the ``plot``
    directive collects the figures that are still open, so the saving goes to
    memory and the closing is skipped.
    """
    pyplot = report._pyplot()

    class KeepOpen:
        def __getattr__(self, name):
            return getattr(pyplot, name)

        def close(self, fig=None):
            pass

    original = report._pyplot
    report._pyplot = lambda: KeepOpen()
    try:
        yield
    finally:
        report._pyplot = original


def linear_figure():
    """Time per epoch of each linear workload (``bench/results/latest.json``)."""
    report = _report()
    linear, _ = report.load_all([RESULTS / "latest.json"])
    with _figures_kept_open(report):
        report.chart(linear.groups, io.BytesIO())
