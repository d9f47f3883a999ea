"""Time fastsgd on the GPU beside PyTorch without pytest: print a table, write a JSON.

    python bench/gpu_run.py --out bench/results/gpu.json [--quick]

The cases of ``test_gpu.py`` (``gpu_workloads.py``: four workloads x batch sizes
128, 256, 1024, 4096 x peers), timed with ``time.perf_counter`` around fits
between two device synchronizations: per case every peer fits once untimed
(compilation, cuBLAS start-up), then ``--repeats`` timed rounds that take the
peers in turn; the median over the epochs is the time per epoch. Also measured:
the GPU's device-to-device copy bandwidth (roofline) and the launch overhead of
an empty numba kernel and of a one-element torch op (1000 calls each).

Full sizes by default (about 6 minutes on one H100 if fastsgd is about as fast as
PyTorch); ``--quick`` runs the smoke sizes (one epoch, tiny data: checks that every
case runs, in well under a minute, and is not a measurement). ``--budget-s`` bounds
the run: once it is spent each remaining peer fits at most once more, and the
cases not started are recorded as skipped. The JSON is rewritten after every case,
so a run cut short keeps what it measured. A fit that raises is recorded with its
error and the run goes on.

``python bench/report_gpu.py bench/results/gpu.json`` turns the JSON into Markdown.
"""

import argparse
import datetime
import gc
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

# numba-cuda 0.30.4 (the GPU image's) still names ``np.row_stack``, which NumPy 2.5
# removed, while it loads; alias it before numba.cuda is imported (docs/gpu.md).
if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack  # noqa: NPY201

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: this checkout's bench and fastsgd
    sys.path.insert(0, str(ROOT))
# As bench/conftest.py: compile into a new Numba cache (the warm-up fit pays it).
if "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastsgd-numba-")

from bench import gpu_workloads as gw  # noqa: E402
from bench.report_gpu import add_ratios, median_ms, text_table  # noqa: E402


def write(doc, path):
    """Write ``doc`` to ``path`` through a temporary file (never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.json")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=lambda o: getattr(o, "item", str)(o))
    os.replace(tmp, path)


def _error(peer, batch, error):
    print(f"  {peer.name} batch {batch} failed:", file=sys.stderr)
    traceback.print_exception(error, limit=-4, file=sys.stderr)
    return f"{type(error).__name__}: {error}"


def run_case(workload, batch, peers, arrays, test, figures, args, deadline):
    """Warm-up fits, then ``args.repeats`` rounds over the peers; one result each."""
    found = {p.name: dict(gw.case_info(workload, batch, p, figures), times_s=[])
             for p in peers}  # fmt: skip
    models = {}
    for peer in peers:
        r = found[peer.name]
        if time.perf_counter() > deadline:
            r["skipped"] = "time budget spent"
            continue
        try:
            X, y = arrays[peer.backend]
            models[peer.name], r["warmup_s"] = gw.timed_fit(peer, workload, batch, X, y)
        except Exception as error:
            r["error"] = _error(peer, batch, error)
    for _ in range(args.repeats):
        for peer in peers:
            r, times = found[peer.name], found[peer.name]["times_s"]
            if peer.name not in models or r.get("error"):
                continue
            if times and (time.perf_counter() > deadline or times[0] > args.slow_s):
                continue  # one timed fit is enough for a slow or late case
            try:
                X, y = arrays[peer.backend]
                models[peer.name], dt = gw.timed_fit(peer, workload, batch, X, y)
                times.append(dt)
            except Exception as error:
                r["error"] = _error(peer, batch, error)
    for peer in peers:
        r = found[peer.name]
        if r["times_s"] and not r.get("error"):
            r["repeats"] = len(r["times_s"])
            r["ms_per_epoch"] = median_ms(r["times_s"], workload.epochs)
            r.update(gw.achieved(r, r["ms_per_epoch"]))
            try:
                r["accuracy"] = peer.score(models[peer.name], *test)
            except Exception as error:
                r["score_error"] = _error(peer, batch, error)
        shown = (
            f"{r['ms_per_epoch']:10.3f} ms/epoch, warm-up {r['warmup_s']:6.2f} s, "
            f"accuracy {r.get('accuracy', float('nan')):.4f}"
            if "ms_per_epoch" in r
            else r.get("skipped") or f"failed ({r.get('error')})"
        )
        print(f"{workload.name:12} batch {batch:5}  {peer.name:14} {shown}", flush=True)
    return list(found.values())


def _free():
    """Give the device memory of the last workload back."""
    gc.collect()
    try:
        from numba import cuda

        cuda.current_context().deallocations.clear()
    except Exception:
        pass
    if gw.torch_unavailable() is None:
        import torch

        torch.cuda.empty_cache()


def _skipped(workload, batches, peers, figures, why):
    return [dict(gw.case_info(workload, b, p, figures), times_s=[], skipped=why)
            for b in batches for p in peers]  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "gpu.json"))
    parser.add_argument(
        "--quick", action="store_true", help="smoke sizes, one epoch (not a measure)"
    )
    parser.add_argument("--repeats", type=int, default=gw.REPEATS)
    parser.add_argument(
        "--budget-s",
        type=float,
        help="stop starting fits after this many seconds (default 330; 50 --quick)",
    )
    parser.add_argument(
        "--slow-s",
        type=float,
        default=20.0,
        help="a peer whose first timed fit takes longer is timed once",
    )
    parser.add_argument("--workload", action="append", help="only these (repeatable)")
    parser.add_argument("--batch", type=int, action="append", help="only these")
    parser.add_argument("--peer", action="append", help="only these peers")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    full = not args.quick
    budget = args.budget_s if args.budget_s is not None else (330 if full else 50)
    deadline = started + budget
    out = Path(args.out)

    reason = gw.gpu_unavailable()
    if reason:
        print(f"gpu_run.py: no GPU: {reason}", file=sys.stderr)
        return 2
    torch_reason = gw.torch_unavailable()
    if torch_reason:
        print(f"PyTorch peers left out: {torch_reason}", file=sys.stderr)
    from sklearn.exceptions import ConvergenceWarning

    # Every MLP fit stops at max_iter on purpose.
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    info = gw.gpu_info()
    print(f"GPU: {info['name']} (driver {info['driver']})", flush=True)
    figures = gw.roofline_figures(info, nbytes=1 << 30 if full else 1 << 28)
    copy = figures["measured_copy_bandwidth"]
    print(
        f"roofline: {figures['bandwidth'] / 1e12:.2f} TB/s "
        f"({figures['bandwidth_source']}), FP32 "
        f"{(figures['fp32_peak'] or 0) / 1e12:.1f} TFLOP/s "
        f"({figures['fp32_peak_source']})"
        + (f"; copy measured {copy / 1e12:.2f} TB/s" if copy else ""),
        flush=True,
    )
    overhead = gw.launch_overhead(1000)
    for name, us in overhead.items():
        print(f"{name}: {us:.2f} µs", flush=True)
    doc = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "full" if full else "quick",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "gpu": info,
        "versions": gw.versions(),
        "roofline": figures,
        "launch_overhead_us": overhead,
        "repeats": args.repeats,
        "budget_s": budget,
        "results": [],
    }
    write(doc, out)

    for workload in gw.workloads(full):
        if args.workload and workload.name not in args.workload:
            continue
        peers = [
            p
            for p in workload.peers
            if (p.backend == "numba" or torch_reason is None)
            and (not args.peer or p.name in args.peer)
        ]
        batches = [b for b in workload.batch_sizes
                   if not args.batch or b in args.batch]  # fmt: skip
        if time.perf_counter() > deadline:
            doc["results"] += _skipped(
                workload, batches, peers, figures, "time budget spent"
            )
            continue
        start = time.perf_counter()
        X, X_test, y, y_test = workload.data.make()
        arrays = {b: gw.to_device(b, X, y) for b in {p.backend for p in peers}}
        del X, y
        print(
            f"{workload.title}: data made and moved in "
            f"{time.perf_counter() - start:.1f} s",
            flush=True,
        )
        for batch in batches:
            doc["results"] += run_case(
                workload, batch, peers, arrays, (X_test, y_test), figures, args,
                deadline,
            )  # fmt: skip
            add_ratios(doc["results"])
            doc["elapsed_s"] = time.perf_counter() - started
            write(doc, out)
        del arrays
        _free()

    doc["elapsed_s"] = time.perf_counter() - started
    write(doc, out)
    print()
    print(text_table(doc))
    print(f"\n{doc['elapsed_s']:.0f} s in all; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
