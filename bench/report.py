"""Turn a pytest-benchmark JSON from ``bench/`` into ``docs/benchmarks.md``.

    python bench/report.py bench/results/latest.json [--out docs/benchmarks.md]

Prints the markdown and writes it to ``--out``; with matplotlib installed it also
writes a bar chart next to it (``--out`` with ``.png``).
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = (
    "mkdir -p bench/results && FASTSGD_BENCH=full python -m pytest bench "
    "--benchmark-enable --benchmark-json=bench/results/latest.json && "
    "python bench/report.py bench/results/latest.json"
)


def load(path):
    """The run's machine info and its benchmarks grouped by workload, in order."""
    with open(path) as f:
        run = json.load(f)
    machine_info = run.get("machine_info", {})
    # Written by bench/conftest.py; a JSON from elsewhere falls back to what
    # pytest-benchmark itself recorded about the machine that ran it.
    info = machine_info.get("fastsgd_bench") or {
        "mode": "unknown",
        "cpu_model": machine_info.get("cpu", {}).get("brand_raw", "unknown"),
        "cpu_count": machine_info.get("cpu", {}).get("count", "?"),
        "versions": {},
    }
    groups = {}
    for bench in run["benchmarks"]:
        x = bench.get("extra_info", {})
        if bench.get("stats") and "workload" in x:
            groups.setdefault(x["workload"], []).append(bench)
    return run.get("datetime", "unknown date"), info, groups


def rows(benches):
    """``(peer, settings, ms, ratio, score or note)`` per peer of one workload."""
    ms = {
        b["extra_info"]["peer"]: b["stats"]["median"] * 1e3 / b["extra_info"]["epochs"]
        if "epochs" in b["extra_info"]
        else b["stats"]["median"] * 1e3
        for b in benches
    }
    first = benches[0]["extra_info"]["peer"]
    for b in benches:
        x = b["extra_info"]
        versus = x.get("versus", first)
        ratio = f"{ms[x['peer']] / ms[versus]:.2f}" if versus in ms else ""
        if ratio and versus != first:
            ratio += f" (vs {versus})"
        if "score" in x:
            last = f"{x['score']:.4f}"
        elif "import_ms" in x:
            last = f"import {x['import_ms']:.0f} ms, fit {x['fit_ms']:.0f} ms"
        else:
            last = ""
        yield x["peer"], x.get("settings", ""), ms[x["peer"]], ratio, last


def markdown(date, info, groups):
    smoke = info.get("mode") != "full"
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    lines = ["# Benchmarks", ""]
    if smoke:
        lines += [
            "**Smoke run (tiny sizes) — not a measurement.** Regenerate with the "
            "command below.",
            "",
        ]
    lines += [
        f"- date: {date}",
        f"- machine: {info.get('cpu_model')}, {info.get('cpu_count')} cores "
        f"(Numba threads: {info.get('numba_threads', '?')})",
        f"- sizes: `FASTSGD_BENCH={info.get('mode')}`",
        f"- versions: {versions}",
        "",
        "Median of the timed rounds (`benchmark.pedantic`: 3 after one warm-up round, "
        "which compiles), divided by the epochs every peer runs (`max_iter` fixed, "
        "`tol=None`). *ratio* is the "
        "peer's time over that of the peer it is compared with (the first row unless "
        "noted); above 1 means slower. *floor* is the time to read `X` once from "
        "memory at 30 GB/s or to do its multiply-adds at peak, whichever is larger. "
        "Scores are on held-out data.",
        "",
        "Reproduce (see `bench/README.md`):",
        "",
        "```",
        COMMAND,
        "```",
    ]
    for benches in groups.values():
        x0 = benches[0]["extra_info"]
        unit = x0.get("unit", "ms")
        lines += ["", f"## {x0['title']}", ""]
        if "floor_ms" in x0:
            lines += [f"Floor: {x0['floor_ms']:.2f} ms per epoch.", ""]
        score_name = x0.get("score_name")
        head = ["peer", "settings", unit, "ratio"]
        head += [f"held-out {score_name}"] if score_name else ["in the process"]
        lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for peer, settings, ms, ratio, last in rows(benches):
            settings = f"`{settings}`" if settings else ""
            cells = [peer, settings, f"{ms:.1f}", ratio, last]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def chart(groups, path):
    """A bar chart of the times, if matplotlib is installed; returns whether."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(
        len(groups), 1, figsize=(8, 2.5 * len(groups)), squeeze=False
    )
    for ax, benches in zip(axes[:, 0], groups.values(), strict=True):
        data = list(rows(benches))
        ax.barh([r[0] for r in data], [r[2] for r in data])
        ax.invert_yaxis()
        ax.set_title(benches[0]["extra_info"]["title"], fontsize=9)
        ax.set_xlabel(benches[0]["extra_info"].get("unit", "ms"))
    fig.tight_layout()
    fig.savefig(path)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args(argv)
    date, info, groups = load(args.json)
    if not groups:
        parser.error(f"{args.json} holds no timed benchmarks (--benchmark-enable?)")
    text = markdown(date, info, groups)
    png = Path(args.out).with_suffix(".png")
    if chart(groups, png):
        text += f"\n![time per epoch]({png.name})\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
