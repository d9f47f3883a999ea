"""The table of ``bench/test_dask.py``'s run: time per round against worker count.

    python bench/dask_run.py bench/results/dask*.json

For each workload and worker count, the time per round is the difference of
the median times of ``n_rounds = 1 + ROUNDS`` and ``n_rounds = 1``, over
``ROUNDS``; the set-up (per call: placing the partitions on their workers,
the first round's compilation is in the untimed warm-up) is the rest of the
one-round median. ``local`` is one ``partial_fit`` epoch in the client process.
Given several runs, each case keeps its lowest median (as ``report.py --best``):
other work on shared cores only ever slows a case down.
"""

import argparse
import json
from collections import defaultdict


def table(paths):
    """Markdown rows of the runs in ``paths`` (each case's lowest median)."""
    medians = defaultdict(dict)
    titles = {}
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        for bench in run["benchmarks"]:
            info = bench["extra_info"]
            times = medians[(info["dask_workload"], info["n_workers"])]
            median = bench["stats"]["median"]
            times[info["n_rounds"]] = min(median, times.get(info["n_rounds"], median))
            titles[info["dask_workload"]] = info["title"]
    lines = [
        "| workload | where | time per round (s) | speed-up vs 1 worker | "
        "set-up per call (s) |",
        "|---|---|---|---|---|",
    ]
    for workload, title in titles.items():
        one = _per_round(medians[(workload, 1)])
        for n_workers in (0, 1, 2):
            times = medians.get((workload, n_workers))
            if not times:
                continue
            if n_workers == 0:
                lines.append(
                    f"| {title} | one process, no Dask (one epoch) | "
                    f"{times[1]:.3f} | | |"
                )
                continue
            per_round = _per_round(times)
            setup = times[1] - per_round
            lines.append(
                f"| {title} | {n_workers} worker{'s' * (n_workers > 1)} | "
                f"{per_round:.3f} | {one / per_round:.2f}x | {setup:.3f} |"
            )
    return "\n".join(lines)


def _per_round(times):
    rounds = max(times)
    return (times[rounds] - times[1]) / (rounds - 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "json", nargs="+", help="--benchmark-json files of bench/test_dask.py"
    )
    print(table(parser.parse_args().json))


if __name__ == "__main__":
    main()
