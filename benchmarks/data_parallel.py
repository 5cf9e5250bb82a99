"""Data-parallel throughput: W1 and W2 on 1 and more MPI ranks (``python -m benchmarks.data_parallel``).

For each workload and each (ranks, threads per rank) setting, ``mpiexec -n R`` starts R workers.  Each
builds the workload of README.md (Workloads) with a per-rank batch of ``batch / R`` (its own synthetic data), wraps
the model in ``DistributedDataParallel`` and times full steps (forward, backward with the gradient
all-reduce, optimizer update), with a barrier before and after each step so that a step lasts until the
slowest rank is done.  The row reports the median and minimum ms per step, samples per second for the
global batch (``batch / median step``), the speed-up over one rank with the same threads per rank, and the
time of one all-reduce of the whole gradient alone (a flat float32 buffer of the model's size, median of 50).

    python -m benchmarks.data_parallel                       # W1, W2; 1 rank x 1 thread, 1 x 2, 2 x 1
    python -m benchmarks.data_parallel --settings 1x1,2x1,4x1 --workloads W1

Needs the mpi extra (mpi4py and an MPI runtime with ``mpiexec``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from . import WORKLOADS, make_data

MARK = "@@data-parallel@@ "
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                    "NUMEXPR_NUM_THREADS")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker(workload, steps, warmup):
    import numpy as np

    import minigrad as mg
    import minigrad.distributed as dist

    from .workloads_minigrad import MinigradWorkload

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    cfg = dict(WORKLOADS[workload])
    if cfg["batch"] % world:
        raise SystemExit(f"batch {cfg['batch']} does not split over {world} ranks")
    local = dict(cfg, batch=cfg["batch"] // world)
    w = MinigradWorkload(local, data=make_data(local, seed=1234 + rank))
    w.model = mg.nn.parallel.DistributedDataParallel(w.model)
    times = []
    for k in range(warmup + steps):
        dist.barrier()
        start = time.perf_counter()
        w.step()
        dist.barrier()
        if k >= warmup:
            times.append(time.perf_counter() - start)
    flat = mg.tensor(np.zeros(w.n_params, dtype=np.float32))
    comm = []
    for _ in range(55):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        comm.append(time.perf_counter() - start)
    if rank == 0:
        print(MARK + json.dumps({"times": times, "allreduce": comm[5:], "n_params": w.n_params,
                                 "buckets": len(w.model.buckets), "batch": cfg["batch"]}), flush=True)
    dist.destroy_process_group()


def _mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.path.exists(beside) else shutil.which("mpiexec")


def run_cell(workload, ranks, threads, steps, warmup, timeout):
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARIABLES})
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "benchmarks.data_parallel", "--worker", workload,
           "--steps", str(steps), "--warmup", str(warmup)]
    res = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    for line in res.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{workload} on {ranks} ranks failed:\n{res.stderr[-2000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_parallel", description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--settings", default="1x1,1x2,2x1", help="RANKSxTHREADS per rank, comma-separated")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="run every cell this many times, interleaved")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", default=None, help="write the raw numbers here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.steps, args.warmup)
    if _mpiexec() is None:
        raise SystemExit("benchmarks.data_parallel needs mpiexec: pip install \"minigrad[mpi]\"")
    settings = [tuple(int(v) for v in s.split("x")) for s in args.settings.split(",")]
    workloads = args.workloads.split(",")
    results = {}
    for _ in range(args.repeat):
        for wl in workloads:
            for ranks, threads in settings:
                r = run_cell(wl, ranks, threads, args.steps, args.warmup, args.timeout)
                cell = results.setdefault((wl, ranks, threads), {"times": [], "allreduce": [], **r})
                cell["times"] += r["times"]
                cell["allreduce"] += r["allreduce"]
    print(f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} cores; "
          f"{args.steps} timed steps per cell x {args.repeat}; ms per step median / min")
    print("| workload | ranks x threads | ms / step | samples / s | speed-up | all-reduce of the gradient |")
    print("|---|---|---|---|---|---|")
    rows = []
    for (wl, ranks, threads), cell in results.items():
        med, low = statistics.median(cell["times"]), min(cell["times"])
        base = results.get((wl, 1, threads))
        speed = statistics.median(base["times"]) / med if base else float("nan")
        comm = statistics.median(cell["allreduce"]) if ranks > 1 else 0.0
        rows.append({"workload": wl, "ranks": ranks, "threads": threads, "median_ms": med * 1e3, "min_ms": low * 1e3,
                     "samples_per_s": cell["batch"] / med, "speedup": speed, "allreduce_ms": comm * 1e3,
                     "n_params": cell["n_params"], "buckets": cell["buckets"]})
        comm_text = f"{comm * 1e3:.2f} ms ({cell['n_params'] * 4 / 1e6:.2f} MB)" if ranks > 1 else "-"
        print(f"| {wl} (batch {cell['batch']}) | {ranks} x {threads} | {med * 1e3:.1f} / {low * 1e3:.1f} | "
              f"{cell['batch'] / med:.0f} | {speed:.2f} | {comm_text} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
