"""Turn the GPU benchmark JSON into Markdown tables (for ``docs/benchmarks_gpu.md``).

    python bench/report_gpu.py bench/results/gpu.json [--out FILE]

Reads ``gpu_run.py``'s JSON, or a pytest-benchmark JSON of ``test_gpu.py``
(``--benchmark-json``; that one has no launch-overhead measurement). Prints the
Markdown, and writes it to ``--out`` if given. ``markdown(results)`` returns it
for a loaded JSON; ``text_table(results)`` is the plain table ``gpu_run.py``
prints.
"""

import argparse
import json
import statistics
from pathlib import Path

COMMAND = (
    "python bench/gpu_run.py --out bench/results/gpu.json && "
    "python bench/report_gpu.py bench/results/gpu.json"
)


# ------------------------------------------------------------------------ loading
def load(path):
    """The results of ``gpu_run.py`` (a pytest-benchmark JSON is converted)."""
    with open(path) as f:
        run = json.load(f)
    return from_pytest(run) if "benchmarks" in run else run


def from_pytest(run):
    """``gpu_run.py``'s layout from a pytest-benchmark JSON of ``test_gpu.py``."""
    results = []
    gpu, roofline = {}, {}
    for bench in run["benchmarks"]:
        x = dict(bench.get("extra_info", {}))
        if "gpu_workload" not in x or not bench.get("stats"):
            continue
        gpu, roofline = x.pop("gpu", gpu), x.pop("roofline", roofline)
        stats = bench["stats"]
        x.setdefault("ms_per_epoch", stats["median"] * 1e3 / x["epochs"])
        x.setdefault("repeats", stats.get("rounds"))
        x.setdefault("bandwidth_fraction", x["bytes_floor_ms"] / x["ms_per_epoch"])
        x.setdefault("fp32_fraction", x["flops_floor_ms"] / x["ms_per_epoch"])
        results.append(x)
    info = run.get("machine_info", {}).get("fastsgd_bench", {})
    return {
        "date": run.get("datetime", "unknown date"),
        "mode": info.get("mode", "unknown"),
        "source": "pytest-benchmark (bench/test_gpu.py)",
        "gpu": gpu,
        "versions": info.get("versions", {}),
        "roofline": roofline,
        "launch_overhead_us": {},
        "results": add_ratios(results),
    }


def add_ratios(results):
    """Set each result's ``ratio``: its time over that of its ``versus`` peer on
    the same workload and batch size (None where either is missing)."""
    ms = {
        (r["gpu_workload"], r["batch_size"], r["peer"]): r.get("ms_per_epoch")
        for r in results
    }
    for r in results:
        base = ms.get((r["gpu_workload"], r["batch_size"], r.get("versus")))
        own = r.get("ms_per_epoch")
        r["ratio"] = own / base if own and base else None
    return results


# ------------------------------------------------------------------------- cells
def _ms(value):
    if value is None:
        return "—"
    return f"{value:.{3 if value < 1 else 2 if value < 10 else 1}f}"


def _percent(value):
    if value is None:
        return "—"
    return f"{100 * value:.{2 if value < 0.01 else 1}f} %"


def time_cell(r):
    """The time per epoch, or why there is none."""
    if r.get("error"):
        return "failed"
    if r.get("skipped"):
        return "skipped"
    return _ms(r.get("ms_per_epoch"))


def fraction(r):
    """The achieved share of the roof that binds: bandwidth (linear), FP32 (MLP)."""
    if not r.get("ms_per_epoch"):
        return None
    return r.get("bandwidth_fraction" if r["kind"] == "linear" else "fp32_fraction")


def launch_floor_ms(r, results):
    """``steps_per_epoch`` empty-kernel launches (one per batch), if measured."""
    overhead = results.get("launch_overhead_us", {})
    us = overhead.get("numba empty kernel, launch")
    return r["steps_per_epoch"] * us / 1e3 if us else None


def rows(results):
    """Cells of every result: workload, batch, steps, peer, ms per epoch,
    × PyTorch, floor ms, % of roof, 1 launch per batch ms, accuracy."""
    found = []
    for r in results["results"]:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") else "—"
        accuracy = r.get("accuracy")
        found.append(
            [
                r["gpu_workload"],
                str(r["batch_size"]),
                str(r["steps_per_epoch"]),
                r["peer"],
                time_cell(r),
                ratio,
                _ms(r["floor_ms"]),
                _percent(fraction(r)),
                _ms(launch_floor_ms(r, results)),
                f"{accuracy:.4f}" if accuracy is not None else "—",
            ]
        )
    return found


HEAD = ["workload", "batch", "steps", "peer", "ms/epoch", "× PyTorch", "floor ms",
        "% of roof", "1 launch/batch ms", "accuracy"]  # fmt: skip


def text_table(results):
    """A fixed-width table of every result (what ``gpu_run.py`` prints)."""
    body = rows(results)
    widths = [max(len(c) for c in column) for column in zip(HEAD, *body, strict=True)]
    lines = []
    for cells in [HEAD, ["-" * w for w in widths], *body]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def table(head, body):
    """Markdown table lines."""
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


# ---------------------------------------------------------------------- markdown
def _run_lines(results):
    gpu, roof = results.get("gpu", {}), results.get("roofline", {})
    lines = []
    if results.get("mode") != "full":
        lines += [
            f"**{results.get('mode', 'unknown').capitalize()} run (tiny sizes) — not "
            "a measurement.** Regenerate with the command below.",
            "",
        ]
    described = gpu.get("name", "unknown GPU")
    details = [
        f"compute capability {gpu['compute_capability']}"
        if gpu.get("compute_capability")
        else "",
        f"{gpu['sm_count']} SMs" if gpu.get("sm_count") else "",
        f"{gpu['memory_gib']:.0f} GiB" if gpu.get("memory_gib") else "",
        f"driver {gpu['driver']}" if gpu.get("driver") else "",
        f"CUDA driver API {gpu['cuda_driver_api']}"
        if gpu.get("cuda_driver_api")
        else "",
    ]
    details = ", ".join(d for d in details if d)
    versions = ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items())
    lines += [
        f"- date: {results.get('date', 'unknown')}",
        f"- GPU: {described}" + (f" ({details})" if details else ""),
        f"- versions: {versions}",
    ]
    if roof:
        measured = roof.get("measured_copy_bandwidth")
        peak = roof.get("fp32_peak")
        lines += [
            f"- roofline: memory {roof['bandwidth'] / 1e12:.2f} TB/s "
            f"({roof.get('bandwidth_source')}), FP32 "
            + (f"{peak / 1e12:.1f} TFLOP/s" if peak else "unknown")
            + f" ({roof.get('fp32_peak_source')})"
            + (
                f"; measured device-to-device copy {measured / 1e12:.2f} TB/s"
                if measured
                else ""
            ),
        ]
    return lines


def _summary(results):
    """workload x batch: every peer's ms per epoch and fastsgd's ratios."""
    by_case, peers = {}, []
    for r in results["results"]:
        by_case.setdefault((r["gpu_workload"], r["batch_size"]), {})[r["peer"]] = r
        if r["peer"] not in peers:
            peers.append(r["peer"])
    others = [p for p in peers if p != "fastsgd"]
    head = ["workload", "batch", *(f"{p} ms" for p in peers)]
    head += [f"fastsgd ÷ {p}" for p in others if "fastsgd" in peers]
    body = []
    for (workload, batch), found in by_case.items():
        cells = [workload, str(batch)]
        cells += [time_cell(found[p]) if p in found else "—" for p in peers]
        ours = found.get("fastsgd", {}).get("ms_per_epoch")
        for p in others if "fastsgd" in peers else []:
            theirs = found.get(p, {}).get("ms_per_epoch")
            cells.append(f"{ours / theirs:.2f}" if ours and theirs else "—")
        body.append(cells)
    return table(head, body)


def _launch_lines(results):
    overhead = results.get("launch_overhead_us") or {}
    if not overhead:
        return []
    lines = [
        "",
        "## Launch overhead",
        "",
        "Mean over 1000 calls. *launch*: the calls are enqueued back to back and "
        "the device synchronized once (the host's cost per launch); *launch + "
        "sync*: synchronized after every call (a round trip).",
        "",
    ]
    return lines + table(
        ["call", "µs per call"], [[k, f"{v:.2f}"] for k, v in overhead.items()]
    )


def markdown(results, heading="# GPU benchmarks"):
    """The Markdown of a loaded JSON: run, summary, launch overhead, one table per
    workload."""
    results = dict(results, results=add_ratios([dict(r) for r in results["results"]]))
    lines = [heading, "", *_run_lines(results), ""]
    lines += [
        'fastsgd (`device="cuda"`, numba device arrays) beside PyTorch loops '
        "(CUDA tensors), the data on the GPU before the timed fit. A time is the "
        "median of the timed fits (a warm-up fit first, which compiles), each "
        "between two device synchronizations, divided by the epochs (fixed: "
        "`max_iter`, no early stop). *× PyTorch*: the time over PyTorch's (default "
        "optimizer) at the same batch size; above 1 is slower. *floor*: the larger "
        "of reading `X` once at the memory bandwidth and the epoch's flops "
        "(`6 n Σ fan_in·fan_out`, forward and both gradients) at the FP32 peak; "
        "*% of roof*: that floor's bandwidth share (linear) or FP32 share (MLP) "
        "over the time. *1 launch/batch*: one empty numba kernel launch per batch, "
        "a floor for a loop that launches at least one kernel per step. Accuracy "
        "is on 20 % more rows held out.",
        "",
        "Reproduce (one GPU; see `bench/gpu_run.py`):",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "## Time per epoch (ms)",
        "",
        *_summary(results),
        *_launch_lines(results),
    ]
    groups = {}
    for r in results["results"]:
        groups.setdefault(r["gpu_workload"], []).append(r)
    for found in groups.values():
        r0 = found[0]
        floor_note = (
            f"Floor: reading `X` ({r0['bytes_per_epoch'] / 1e6:.0f} MB) "
            f"{_ms(r0['bytes_floor_ms'])} ms; its "
            f"{r0['flops_per_epoch'] / 1e9:.3g} GFLOP {_ms(r0['flops_floor_ms'])} ms "
            "per epoch."
        )
        lines += ["", f"## {r0['title']}", "", floor_note, ""]
        body, settings = [], {}
        for cells, r in zip(rows(dict(results, results=found)), found, strict=True):
            settings.setdefault(r["peer"], r.get("settings", ""))
            repeats = r.get("repeats")
            body.append([*cells[1:], str(repeats) if repeats else "—"])
        head = [*HEAD[1:], "timed fits"]
        lines += table(head, body)
        lines += [""] + [f"- {p}: `{s}`" for p, s in settings.items() if s]
        failed = [r for r in found if r.get("error")]
        lines += [
            f"- failed: {r['peer']} batch {r['batch_size']}: `{r['error']}`"
            for r in failed
        ]
    return "\n".join(lines) + "\n"


def median_ms(times_s, epochs):
    """Median of the timed fits, per epoch (ms)."""
    return statistics.median(times_s) * 1e3 / epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", help="gpu_run.py's JSON or test_gpu.py's pytest JSON")
    parser.add_argument("--out", help="also write the Markdown to this file")
    args = parser.parse_args(argv)
    results = load(args.json)
    if not results["results"]:
        parser.error(f"{args.json} holds no GPU results")
    text = markdown(results)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
