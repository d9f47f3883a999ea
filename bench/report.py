"""Turn pytest-benchmark JSONs from ``bench/`` into ``docs/benchmarks.md``.

    python bench/report.py bench/results/latest.json [more.json] [--out FILE] [--best]

The document has two parts: the linear workloads (``test_fit.py``,
``test_startup.py``) and, last, the section "Multi-layer perceptrons"
(``test_mlp.py``, ``test_mlp_layers.py``). A part the given JSONs hold no results
for is kept as it is in ``--out``, so a run of the MLP benchmarks alone
(``bench/results/mlp.json``) rewrites only that section. Of several runs of the
same tests the last file's results are shown, or with ``--best`` each test's
lowest median (noise on shared cores only adds time).

Prints the markdown and writes it to ``--out``. The linear chart is drawn when the
docs are built (``PLOT_SECTION``, ``docs/_ext/bench_plots.py`` calls ``chart``);
with matplotlib installed the MLP chart is written next to ``--out``
(``benchmarks_mlp.png``).
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
MLP_COMMAND = (
    "mkdir -p bench/results && FASTSGD_BENCH=full python -m pytest bench/test_mlp.py "
    "bench/test_mlp_layers.py --benchmark-enable "
    "--benchmark-json=bench/results/mlp.json -p no:cacheprovider && "
    "python bench/report.py bench/results/mlp.json"
)
#: First line of the MLP section; everything from it to the end of the document.
MLP_HEADING = "## Multi-layer perceptrons"


def load(path):
    """The run's date, machine info and timed benchmarks (in run order)."""
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
    benches = [b for b in run["benchmarks"] if b.get("stats") and _ours(b)]
    return run.get("datetime", "unknown date"), info, benches


def _ours(bench):
    """Whether a benchmark is one of ``bench/``'s (they say what they measure)."""
    x = bench.get("extra_info", {})
    return "workload" in x or x.get("section") == "layers"


class Part:
    """The results of one part of the document and the run they come from."""

    def __init__(self, best=False):
        self.date, self.info = None, None
        self.dates, self.paths = [], []  # of every run that contributed
        self.best = best
        self.groups = {}  # workload -> benchmarks
        self.layers = []  # test_mlp_layers.py's benchmarks

    def __bool__(self):
        return bool(self.groups or self.layers)

    def add(self, date, info, bench, path):
        """Add a benchmark. One of a later file replaces the same test's, or with
        ``best`` the one with the lower median does."""
        self.date, self.info = date, info  # the last file's
        if path not in self.paths:
            self.dates.append(date)
            self.paths.append(path)
        x = bench["extra_info"]
        if x.get("section") == "layers":
            found = self.layers
        else:
            found = self.groups.setdefault(x["workload"], [])
        names = [b.get("fullname") for b in found]
        if bench.get("fullname") not in names:
            found.append(bench)
            return
        i = names.index(bench["fullname"])
        if not self.best or bench["stats"]["median"] < found[i]["stats"]["median"]:
            found[i] = bench


def shown_path(path):
    """``path`` relative to the repository if it is inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def load_all(paths, best=False):
    """``(linear, mlp)`` parts from one or more JSONs (later files win, or with
    ``best`` the lowest median of each test)."""
    linear, mlp = Part(best), Part(best)
    for path in paths:
        date, info, benches = load(path)
        for bench in benches:
            part = mlp if bench["extra_info"].get("section") else linear
            part.add(date, info, bench, path)
    return linear, mlp


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


def run_lines(date, info):
    """The smoke warning (if any) and the date, machine, sizes and versions."""
    lines = []
    if info.get("mode") != "full":
        lines += [
            "**Smoke run (tiny sizes) — not a measurement.** Regenerate with the "
            "command below.",
            "",
        ]
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    return lines + [
        f"- date: {date}",
        f"- machine: {info.get('cpu_model')}, {info.get('cpu_count')} cores "
        f"(Numba threads: {info.get('numba_threads', '?')})",
        f"- sizes: `FASTSGD_BENCH={info.get('mode')}`",
        f"- versions: {versions}",
    ]


def combined_runs(part):
    """The paragraph naming the runs a part's tables combine (``--best``)."""
    if not (part.best and len(part.dates) > 1):
        return []
    runs = ", ".join(
        f"`{shown_path(path)}` ({date[:19]})"
        for path, date in zip(part.paths, part.dates, strict=True)
    )
    return [
        "",
        f"The tables combine {len(part.dates)} runs ({runs}): each row is the run "
        "with the lowest median for that test (`python bench/report.py --best "
        f"{' '.join(map(shown_path, part.paths))}`). On these shared cores a "
        "disturbance lasting seconds slows whichever tests run then, by up to 2x, "
        "and only adds time; the rows' own rounds are in the JSONs.",
    ]


def markdown(part):
    """The linear part: ``# Benchmarks``, how it was run, one table per workload."""
    date, info, groups = part.date, part.info, part.groups
    lines = ["# Benchmarks", "", *run_lines(date, info)]
    lines += [
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
        *combined_runs(part),
    ]
    for benches in groups.values():
        x0 = benches[0]["extra_info"]
        unit = x0.get("unit", "ms")
        lines += ["", f"## {x0['title']}", ""]
        if "floor_ms" in x0:
            lines += [f"Floor: {x0['floor_ms']:.2f} ms per epoch.", ""]
        score_name = x0.get("score_name")
        head = ["peer", "settings", unit, "ratio"]
        score_head = x0.get("score_label") or f"held-out {score_name}"
        head += [score_head] if score_name else ["in the process"]
        lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for peer, settings, ms, ratio, last in rows(benches):
            settings = f"`{settings}`" if settings else ""
            cells = [
                peer,
                settings,
                f"{ms:.1f}" if ms >= 10 else f"{ms:.3g}",
                ratio,
                last,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table(head, body):
    """Markdown table lines."""
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def epoch_ms(bench):
    """Median time per epoch (ms) of an MLP fit."""
    x = bench["extra_info"]
    return bench["stats"]["median"] * 1e3 / x["epochs"]


def peak_gflops(part, dtype):
    """The highest matmul peak of ``dtype`` measured in the part's runs."""
    return max(
        b["extra_info"]["peak_gflops"]
        for benches in part.groups.values()
        for b in benches
        if b["extra_info"]["dtype"] == dtype
    )


def floor_ms(part, benches):
    """A workload's floor (ms per epoch) at ``peak_gflops`` (its runs may differ)."""
    x = benches[0]["extra_info"]
    return x["flops_per_epoch"] / peak_gflops(part, x["dtype"]) / 1e6


def mlp_markdown(part):
    """The section "Multi-layer perceptrons": a summary, one table per workload,
    the layer table."""
    groups = part.groups
    lines = [MLP_HEADING, "", *run_lines(part.date, part.info)]
    peaks = {}
    for benches in groups.values():
        x = benches[0]["extra_info"]
        peaks[x["dtype"]] = peak_gflops(part, x["dtype"])
    if peaks:
        shown = ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in sorted(peaks.items()))
        lines.append(f"- measured matmul peak (all cores): {shown}")
    first = next(iter(groups.values()), [{"extra_info": {}, "stats": {}}])[0]
    epochs = first["extra_info"].get("epochs", "?")
    rounds = first["stats"].get("rounds", "?")
    side = first["extra_info"].get("peak_size", "?")
    lines += [
        "",
        f"Every peer trains the same network for {epochs} "
        f"{'epoch' if epochs == 1 else 'epochs'}: ReLU hidden "
        "layers, softmax cross-entropy, Glorot-uniform start, SGD with rate 0.01 "
        "and Nesterov momentum 0.9, a new permutation of the rows each epoch "
        "(`max_iter` epochs, `tol=0`, `n_iter_no_change=10**6`: no early stop). "
        "fastsgd and scikit-learn use the same parameters (`alpha=1e-4`, "
        "`random_state=0`); the PyTorch loop (`nn.Sequential` of `Linear` and "
        "`ReLU`, `CrossEntropyLoss`, `torch.optim.SGD(lr=0.01, momentum=0.9, "
        "nesterov=True)`) has no L2 term (scikit-learn's adds `alpha / batch_size` "
        "times the weights to their gradient, under 1e-6) and as many threads as "
        "Numba. The data: 10 classes from a "
        "random two-layer teacher on a 16-dimensional latent (`bench/"
        "mlp_workloads.py`); accuracy is on 20 % more rows held out.",
        "",
        f"Times are medians of the timed rounds ({rounds}, after one warm-up round "
        "that compiles) divided by the epochs. *× fastsgd* is a peer's time over "
        "fastsgd's (fastsgd's speed-up over that peer); *× floor* its time over the "
        "floor. *floor*: an epoch's flops, `3 × 2 n Σ fan_in·fan_out` (forward, "
        "then the gradients of each layer's input and weights), at the measured "
        f"matmul peak of the dtype (numpy, a square product of side {side} on all "
        "cores, best of 5; the highest of the runs).",
    ]
    strict = [
        b[0]["extra_info"]["floor_strict_ms"] / b[0]["extra_info"]["floor_ms"]
        for b in groups.values()
    ]
    if strict:
        lines[-1] += (
            " No peer needs the gradient of the network's input (the first layer's "
            "input gradient); without it the floor is "
            f"{min(strict):.2f}–{max(strict):.2f} times this one."
        )
    lines += ["", "Reproduce:", "", "```", MLP_COMMAND, "```"]
    lines += combined_runs(part)
    if groups:
        lines += ["", "### Time per epoch", ""]
        names = []
        for benches in groups.values():
            names += [b["extra_info"]["peer"] for b in benches if b["extra_info"]
                      ["peer"] not in names]  # fmt: skip
        base, others = names[0], names[1:]
        head = ["workload", "floor ms", *(f"{n} ms" for n in names)]
        head += [f"{n} ÷ {base}" for n in others] + [f"{base} ÷ floor"]
        head += [f"accuracy {n}" for n in names]
        body = []
        for benches in groups.values():
            x0 = benches[0]["extra_info"]
            ms = {b["extra_info"]["peer"]: epoch_ms(b) for b in benches}
            acc = {b["extra_info"]["peer"]: b["extra_info"]["score"] for b in benches}
            label = x0["title"].split(":")[0] + f", {x0['dtype']}"
            floor = floor_ms(part, benches)
            cells = [label, f"{floor:.1f}"]
            cells += [f"{ms[n]:.1f}" if n in ms else "—" for n in names]
            cells += [
                f"{ms[n] / ms[base]:.2f}" if n in ms and base in ms else "—"
                for n in others
            ]
            cells.append(f"{ms[base] / floor:.2f}" if base in ms else "—")
            cells += [f"{acc[n]:.4f}" if n in acc else "—" for n in names]
            body.append(cells)
        lines += table(head, body)
    for benches in groups.values():
        x0 = benches[0]["extra_info"]
        lines += ["", f"### {x0['title']}", ""]
        lines += [
            f"Floor: {floor_ms(part, benches):.1f} ms per epoch "
            f"({x0['flops_per_epoch'] / 1e9:.3g} GFLOP at "
            f"{peak_gflops(part, x0['dtype']):.0f} "
            "GFLOP/s).",
            "",
        ]
        body = []
        for peer, settings, ms, ratio, score in rows(benches):
            settings = f"`{settings}`" if settings else ""
            floor = floor_ms(part, benches)
            body.append(
                [peer, settings, f"{ms:.1f}", ratio, f"{ms / floor:.2f}", score]
            )
        head = ["peer", "settings", "ms per epoch", "× fastsgd", "× floor"]
        lines += table(head + ["held-out accuracy"], body)
    if part.layers:
        lines += ["", *layer_markdown(part.layers)]
    return "\n".join(lines) + "\n"


def layer_cells(part_layers):
    """``{(layer, where, dtype): {variant: (µs, GFLOP/s)}}`` of the layer run."""
    cells = {}
    for b in part_layers:
        x = b["extra_info"]
        seconds = b["stats"]["median"] / x["reps"]
        key = (x["layer"], x["where"], x["dtype"])
        cells.setdefault(key, {})[x["variant"]] = (
            seconds * 1e6,
            x["flops_per_call"] / seconds / 1e9,
        )
    return cells


LAYER_VARIANTS = [
    ("np.dot(A, W, out)", "blocked_matmul(A, W, out)"),
    ("np.dot(A.T, D, out)", "blocked_matmul_tn(A, D, out)"),
]


def layer_markdown(part_layers):
    """The table "BLAS vs blocked loops per layer"."""
    rounds = part_layers[0]["stats"].get("rounds", "?")
    lines = [
        "### BLAS vs blocked loops per layer",
        "",
        "One product of a layer on one core (`bench/test_mlp_layers.py`): "
        "`A` is the layer's input (batch x fan_in), `W` its weights, `D` its delta "
        "(batch x fan_out). *BLAS* is `np.dot` inside a `numba.njit` function "
        "(Numba calls gemm) with BLAS pinned to one thread "
        '(`threadpool_limits(1, user_api="blas")`); *blocked* is a hand-written '
        "Numba loop of the same product (i-k-j, the j loop along contiguous rows, "
        "the reduction in blocks of 64, four output rows by four reduction steps at "
        "a time). Each cell: µs "
        f"per product (median of {rounds} rounds, each a loop of many products in one "
        "compiled call) and GFLOP/s; *faster* is the winner and its ratio.",
        "",
    ]
    head = ["layer (batch x fan_in x fan_out)", "dtype", "BLAS A·W", "blocked A·W",
            "faster", "BLAS Aᵀ·D", "blocked Aᵀ·D", "faster"]  # fmt: skip
    body = []
    for (layer, where, dtype), found in layer_cells(part_layers).items():
        cells = [f"{layer} ({where})", dtype]
        for blas, blocked in LAYER_VARIANTS:
            pair = [found.get(blas), found.get(blocked)]
            cells += [f"{t:.1f} µs, {g:.1f}" if t else "—" for t, g in
                      (p or (None, None) for p in pair)]  # fmt: skip
            if all(pair):
                (t_blas, _), (t_blocked, _) = pair
                winner = "BLAS" if t_blas <= t_blocked else "blocked"
                ratio = max(t_blas, t_blocked) / min(t_blas, t_blocked)
                cells.append(f"{winner} {ratio:.2f}x")
            else:
                cells.append("—")
        body.append(cells)
    return lines + table(head, body)


def _pyplot():
    """matplotlib's pyplot on the Agg backend, or None if it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


PLOT_SECTION = """
## Plot

Time per epoch (per process for the start-up) of every peer above, drawn when this
page is built from `bench/results/latest.json` by `bench/report.py`'s `chart`
(`docs/_ext/bench_plots.py`).

```{eval-rst}
.. plot::
   :alt: Time per epoch of fastsgd, scikit-learn and PyTorch on each linear workload

   from bench_plots import linear_figure
   linear_figure()
```
"""


def chart(groups):
    """A bar chart of the times (the figure, left open), or None without matplotlib.

    The docs build draws it (``docs/_ext/bench_plots.py``): the ``plot``
    directive collects the figures still open.
    """
    plt = _pyplot()
    if plt is None:
        return None
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
    return fig


def mlp_chart(part, path):
    """Time per epoch of each MLP workload with its floor, and the layer
    products' GFLOP/s; returns whether matplotlib was there to draw it."""
    plt = _pyplot()
    if plt is None:
        return False
    ratios = [1] * len(part.groups) + ([2.5] if part.layers else [])
    fig, axes = plt.subplots(
        len(ratios),
        1,
        figsize=(8, 2.4 * sum(ratios)),
        squeeze=False,
        height_ratios=ratios,
    )
    axes = list(axes[:, 0])
    for ax, benches in zip(axes, part.groups.values(), strict=False):
        x0 = benches[0]["extra_info"]
        data = list(rows(benches))
        bars = ax.barh([r[0] for r in data], [r[2] for r in data], color="C0")
        labels = [f"{r[2]:.{0 if r[2] >= 100 else 1}f} ms, acc. {r[4]}" for r in data]
        ax.bar_label(bars, labels, fontsize=7)
        ax.axvline(floor_ms(part, benches), color="C3", linestyle="--", label="floor")
        ax.invert_yaxis()
        ax.set_xlim(0, 1.35 * max(r[2] for r in data))
        ax.set_title(x0["title"], fontsize=9)
        ax.set_xlabel("ms per epoch")
        ax.legend(fontsize=7, loc="lower right")
    if part.layers:
        ax = axes[-1]
        found = layer_cells(part.layers)
        labels = [f"{layer} {dtype}" for layer, _, dtype in found]
        ys = range(len(labels))
        names = [v for pair in LAYER_VARIANTS for v in pair]
        height = 0.8 / len(names)
        for n, name in enumerate(names):
            ax.barh(
                [y + n * height for y in ys],
                [cell.get(name, (0, 0))[1] for cell in found.values()],
                height,
                label=name,
            )
        ax.set_yticks([y + 0.4 - height / 2 for y in ys], labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("GFLOP/s, one core")
        ax.set_title("BLAS vs blocked loops per layer", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def split(text):
    """An existing document's linear part and its MLP section (or "")."""
    head, found, tail = text.partition("\n" + MLP_HEADING + "\n")
    return head.rstrip("\n") + "\n", (MLP_HEADING + "\n" + tail) if found else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "json", nargs="+", help="pytest-benchmark JSON (--benchmark-json)"
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--best",
        action="store_true",
        help="with several runs of the same tests, keep each test's lowest median "
        "(default: the last file's)",
    )
    args = parser.parse_args(argv)
    linear, mlp = load_all(args.json, args.best)
    if not (linear or mlp):
        parser.error(f"{args.json} hold no timed benchmarks (--benchmark-enable?)")
    out = Path(args.out)
    old_linear, old_mlp = split(out.read_text()) if out.exists() else ("", "")
    if linear:
        # the docs build draws the linear chart from the JSON (docs/_ext)
        text = markdown(linear) + PLOT_SECTION
    else:
        text = old_linear
    if mlp:
        section = mlp_markdown(mlp)
        png = out.with_name(out.stem + "_mlp.png")
        if mlp_chart(mlp, png):
            section += f"\n![MLP time per epoch and layer products]({png.name})\n"
    else:
        section = old_mlp
    if section:
        text += ("\n" if text else "") + section
    out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
