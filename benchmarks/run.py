"""The benchmark runner: ``python -m benchmarks`` (or ``python -m benchmarks.run``).

Runs the workloads W1-W5 (README.md, Workloads) in minigrad, PyTorch and the
hand-written NumPy floor, and prints one row per workload: median and min ms
per step for each framework, and the ratios minigrad/torch and minigrad/numpy.

Every (framework, workload) pair runs in a fresh subprocess (``--worker``),
with the thread count fixed in the environment before NumPy or PyTorch is
imported, so that one framework's thread pools, caches or allocator cannot
slow down or speed up another, and a crash in one cell leaves the others
running.  A worker prints one result line (JSON) that the parent collects.

A step is forward + loss + backward + optimizer update (W5: one chain of 100
elementwise ops forward and backward).  Each step is timed on its own, with
the device synchronised before each clock read; ``--warmup`` steps first, then
``--steps`` timed steps.
"""
from __future__ import annotations

import argparse
import ast
import datetime
import gc
import importlib
import importlib.util
import io
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stdout

from . import WORKLOADS, NoFloor

FRAMEWORKS = ("minigrad", "minigrad-nokernels", "torch", "numpy")
# minigrad with its compiled CPU kernels turned off (MINIGRAD_CPU_KERNELS=0): the NumPy-only figure.
KERNELS_OFF = "minigrad-nokernels"
MODULES = {"minigrad": "minigrad", KERNELS_OFF: "minigrad", "torch": "torch", "numpy": "numpy"}
DEFAULT_WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
LARGE_ROWS = {"W1": "W1-large", "W2": "W2-large"}  # added by --size large
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
RESULT_MARK = "@@benchmark-result@@ "
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
MIN_RECORDED_STEPS = 20  # the workloads ask for the median of at least 20 steps
KEPT_SECTION = "## Where the time goes"  # RESULTS.md from this heading on is written by hand and kept


# ----------------------------------------------------------------------------- command line
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time the workloads W1-W5 in minigrad, PyTorch and a hand-written NumPy floor.")
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                        help="comma-separated ids: " + ", ".join(WORKLOADS) + " (default: W1-W5)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated, from " + ", ".join(FRAMEWORKS) + f" (default: all; {KERNELS_OFF}"
                             " is minigrad with MINIGRAD_CPU_KERNELS=0)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for BLAS/OpenMP and PyTorch, the same for every framework (default 2)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: minigrad on CuPy vs PyTorch on CUDA; the NumPy floor is skipped")
    parser.add_argument("--size", choices=("default", "large"), default="default",
                        help="large: also run the arithmetic-bound rows W1-large (batch 512) and "
                             "W2-large (hidden 1024, batch 256)")
    parser.add_argument("--steps", type=int, default=MIN_RECORDED_STEPS,
                        help=f"timed steps per cell (default {MIN_RECORDED_STEPS})")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing (default 3)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every cell this many times, interleaved; report the median of the medians")
    parser.add_argument("--variant", default=None,
                        help="keyword arguments for minigrad's recurrent layers in W2/W3, e.g. 'fused' or "
                             "'fused=false' (comma-separated key=value; a bare key means True)")
    parser.add_argument("--json", metavar="PATH", default=None, help="write every number and the machine to PATH")
    parser.add_argument("--write-results", action="store_true",
                        help="rewrite benchmarks/RESULTS.md with this run's table (needs --steps >= 20)")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one (framework, workload) cell may take (default 1800)")
    parser.add_argument("--verbose", action="store_true", help="print the workers' error output")
    # Internal: one worker subprocess runs one (framework, workload) cell.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def parse_variant(text):
    """``'fused'`` -> ``{'fused': True}``; ``'fused=false,chunk=8'`` -> ``{'fused': False, 'chunk': 8}``."""
    if not text:
        return {}
    options = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"--variant: {item!r} is not key or key=value")
        if not sep:
            options[key] = True
            continue
        value = value.strip()
        lowered = value.lower()
        if lowered in ("true", "false", "none"):
            options[key] = {"true": True, "false": False, "none": None}[lowered]
        else:
            try:
                options[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                options[key] = value
    return options


def select_workloads(text, size):
    """The workload ids to run, in order, with the -large rows after their base row for ``size='large'``."""
    ids = []
    for wid in (w.strip() for w in text.split(",")):
        if not wid:
            continue
        if wid not in WORKLOADS:
            raise SystemExit(f"unknown workload {wid!r}: choose from {', '.join(WORKLOADS)}")
        if wid not in ids:
            ids.append(wid)
        if size == "large" and wid in LARGE_ROWS and LARGE_ROWS[wid] not in ids:
            ids.append(LARGE_ROWS[wid])
    return ids


def select_frameworks(text):
    names = [f.strip() for f in text.split(",") if f.strip()]
    for name in names:
        if name not in FRAMEWORKS:
            raise SystemExit(f"unknown framework {name!r}: choose from {', '.join(FRAMEWORKS)}")
    return names


# ----------------------------------------------------------------------------- worker (one cell)
def fix_threads(n):
    """Set every BLAS/OpenMP thread variable; must run before NumPy or PyTorch is imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)


def time_steps(bench, warmup, steps):
    """Run ``warmup`` untimed and ``steps`` timed steps; returns (ms per step, first loss, last loss).

    The device is synchronised before each clock read, so each time covers the
    whole step, queued GPU work included.
    """
    first = last = None
    for _ in range(warmup):
        last = bench.step()
        if first is None:
            first = bench.loss_value(last)
    gc.collect()  # start timing with no garbage from building the model
    times = []
    for _ in range(steps):
        bench.sync()
        start = time.perf_counter()
        last = bench.step()
        bench.sync()
        times.append((time.perf_counter() - start) * 1e3)
        if first is None:
            first = bench.loss_value(last)  # only when there is no warmup: read after the clock stopped
    return times, first, (bench.loss_value(last) if last is not None else None)


def _framework_missing(framework, device):
    """A reason why ``framework`` cannot run on ``device`` here, or None."""
    if framework == "torch":
        if importlib.util.find_spec("torch") is None:
            return "PyTorch is not installed"
        if device == "cuda":
            import torch  # noqa: PLC0415

            if not torch.cuda.is_available():
                return "PyTorch sees no CUDA device"
    if framework in ("minigrad", KERNELS_OFF) and device == "cuda":
        import minigrad as mg  # noqa: PLC0415

        if not mg.cuda.is_available():
            return "minigrad needs CuPy and a CUDA device"
    if framework == "numpy" and device != "cpu":
        return "the NumPy floor runs on the CPU only"
    return None


def worker(args):
    """Run one (framework, workload) cell and print its result line (JSON)."""
    fix_threads(args.threads)  # before anything below imports NumPy or PyTorch
    cfg = WORKLOADS[args.workload]
    result = dict(framework=args.framework, workload=args.workload, kind=cfg["kind"], device=args.device,
                  threads=args.threads, variant=args.variant or None, steps=args.steps, warmup=args.warmup,
                  status="error")
    try:
        missing = _framework_missing(args.framework, args.device)
        if missing:
            result.update(status="n/a", reason=missing)
        else:
            module = importlib.import_module(f"benchmarks.workloads_{MODULES[args.framework]}")
            if args.framework == "torch":
                module.set_threads(args.threads)
            result["info"] = module.info(args.device)
            bench = module.build(cfg, args.device, variant=parse_variant(args.variant))
            result["n_params"] = int(bench.n_params)
            times, first, last = time_steps(bench, args.warmup, args.steps)
            result.update(
                status="ok", times_ms=times, median_ms=statistics.median(times), min_ms=min(times),
                mean_ms=statistics.fmean(times), loss_first=first, loss_last=last,
            )
            if cfg["kind"] == "overhead":
                result["us_per_op"] = result["median_ms"] * 1e3 / cfg["chain"]
                result["min_us_per_op"] = result["min_ms"] * 1e3 / cfg["chain"]
            if MODULES[args.framework] == "minigrad":  # were compiled CPU kernels on, and which ran
                from minigrad import _cpu_kernels  # noqa: PLC0415

                result["cpu_kernels"] = _cpu_kernels.status()
    except NoFloor as e:
        result.update(status="skipped", reason=str(e))
    except Exception as e:  # noqa: BLE001 - reported in the cell; the other cells still run
        result.update(status="error", error=f"{type(e).__name__}: {e}")
        traceback.print_exc()
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


# ----------------------------------------------------------------------------- parent
def run_cell(framework, workload, args):
    """Run one cell in a fresh subprocess; returns its result dict (status ok, n/a, skipped or error)."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", "--framework", framework, "--workload", workload,
           "--threads", str(args.threads), "--device", args.device, "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    if args.variant:
        cmd += ["--variant", args.variant]
    env = dict(os.environ)
    if framework == KERNELS_OFF:
        env["MINIGRAD_CPU_KERNELS"] = "0"
    for name in THREAD_VARIABLES:
        env[name] = str(args.threads)
    env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # minigrad tunes glibc's allocator when imported (see minigrad/_backend.py); give every framework
    # the same allocator settings through the environment, so no column gets an advantage from it.
    from minigrad._backend import MALLOC_ENV  # noqa: PLC0415 - the parent does no array work

    env.update(MALLOC_ENV)
    base = dict(framework=framework, workload=workload, status="error")
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return dict(base, error=f"timed out after {args.timeout:.0f} s")
    wall = time.perf_counter() - started
    result = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            break
    stderr_tail = [line for line in proc.stderr.splitlines() if line.strip()][-25:]
    if result is None:  # the worker died before reporting (crash, out of memory, killed)
        last = stderr_tail[-1] if stderr_tail else f"worker exited with code {proc.returncode} and no output"
        result = dict(base, error=last)
    if result["status"] == "error":
        result["stderr_tail"] = stderr_tail
        if args.verbose:
            print("\n".join(stderr_tail), file=sys.stderr)
    result["wall_s"] = round(wall, 2)
    return result


def combine_repeats(results):
    """One cell from its repeated runs: the median of their medians and the min of their mins."""
    if len(results) == 1:
        return results[0]
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        return failed[0]
    combined = dict(results[0])
    combined["median_ms"] = statistics.median(r["median_ms"] for r in results)
    combined["min_ms"] = min(r["min_ms"] for r in results)
    combined["repeat_medians_ms"] = [r["median_ms"] for r in results]
    if "us_per_op" in combined:  # W5: rescale the per-op figure to the combined median
        combined["us_per_op"] = results[0]["us_per_op"] * combined["median_ms"] / results[0]["median_ms"]
    combined["wall_s"] = round(sum(r.get("wall_s", 0) for r in results), 2)
    return combined


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Processor") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_blas():
    """NumPy's version and the BLAS it was built with (from ``numpy.show_config``)."""
    import numpy as np  # noqa: PLC0415 - the parent only reads the config; no work runs here

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        detail = blas.get("openblas configuration")
        return np.__version__, (f"{text} ({detail})" if detail else text)
    except Exception:  # NumPy < 1.25 has no mode="dicts": keep the printed lines that name a library
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            np.show_config()
        lines = [line.strip() for line in buffer.getvalue().splitlines()
                 if any(word in line.lower() for word in ("blas", "mkl", "accelerate", "libraries ="))]
        return np.__version__, "; ".join(dict.fromkeys(lines))[:300] or "unknown"


def package_version(name):
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return version(name)
    except Exception:
        return None


def machine_info(args):
    """What the numbers depend on: CPU, cores, threads, NumPy/BLAS, PyTorch, Python, date."""
    np_version, blas = numpy_blas()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "threads": args.threads,
        "thread_variables": list(THREAD_VARIABLES) + ["torch.set_num_threads", "torch.set_num_interop_threads"],
        "numpy": np_version,
        "blas": blas,
        "torch": package_version("torch"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ----------------------------------------------------------------------------- the table
def fmt_ms(x):
    """Three significant figures, without exponents: 0.0123, 1.23, 12.3, 123, 1234."""
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def cell_text(result, notes):
    """The text of one framework's cell: 'median / min', or why there is no number."""
    if result is None:
        return "-"
    status = result["status"]
    if status == "ok":
        return f"{fmt_ms(result['median_ms'])} / {fmt_ms(result['min_ms'])}"
    if status == "n/a":
        return "n/a"
    if status == "skipped":
        return "-"
    message = result.get("error", "error")
    notes.append(f"{result['framework']} {result['workload']}: {message}")
    kind = message.split(":")[0] if ":" in message and " " not in message.split(":")[0] else "error"
    return f"{kind} [{len(notes)}]"  # the whole message is note [n] under the table


def ratio_text(a, b):
    """``median ratio (min ratio)``: on a shared machine the ratio of the minimums moves least between runs."""
    if a and b and a.get("status") == "ok" and b.get("status") == "ok":
        return f"{a['median_ms'] / b['median_ms']:.2f}x ({a['min_ms'] / b['min_ms']:.2f}x)"
    return "-"


def build_table(workload_ids, results, args):
    """Rows of strings (header first) and the notes under the table."""
    notes = []
    variant = f" [{args.variant}]" if args.variant else ""
    header = ["workload", "unit", f"minigrad{variant} median / min", "minigrad, kernels off median / min",
              "torch median / min", "numpy floor median / min", "minigrad / torch median (min)",
              "kernels off / torch median (min)", "minigrad / numpy median (min)"]
    rows = [header]
    for wid in workload_ids:
        cells = {fw: results.get((fw, wid)) for fw in FRAMEWORKS}
        cfg = WORKLOADS[wid]
        unit = "ms / chain" if cfg["kind"] == "overhead" else "ms / step"
        rows.append([f"{wid} {cfg['kind']}", unit] + [cell_text(cells[fw], notes) for fw in FRAMEWORKS]
                    + [ratio_text(cells["minigrad"], cells["torch"]), ratio_text(cells[KERNELS_OFF], cells["torch"]),
                       ratio_text(cells["minigrad"], cells["numpy"])])
        if cfg["kind"] == "overhead":
            per_op = [f"{fw} {cells[fw]['us_per_op']:.1f} us/op" for fw in ("minigrad", KERNELS_OFF, "torch")
                      if cells[fw] and cells[fw]["status"] == "ok"]
            if per_op:
                notes.append(f"{wid}: {cfg['chain']} elementwise ops forward + backward per chain: "
                             + ", ".join(per_op) + " (median)")
        # The frameworks start from the same weights and data: their first losses must agree.
        losses = {fw: c["loss_first"] for fw, c in cells.items()
                  if c and c["status"] == "ok" and c.get("loss_first") is not None}
        if len(losses) > 1:
            values = list(losses.values())
            if max(values) - min(values) > 1e-3 * max(1.0, max(abs(v) for v in values)):
                notes.append(f"{wid}: first-step losses differ ("
                             + ", ".join(f"{fw} {v:.5g}" for fw, v in losses.items())
                             + "): the frameworks are not computing the same thing")
    notes += kernel_notes(results)
    na = sorted({f"{r['framework']}: {r['reason']}" for r in results.values() if r["status"] == "n/a"})
    notes += [f"n/a: {text}" for text in na]
    return rows, notes


def kernel_notes(results):
    """Whether minigrad's compiled CPU kernels were on in each minigrad column, and which compiler built them."""
    notes = []
    for fw in ("minigrad", KERNELS_OFF):
        states = [r["cpu_kernels"] for (f, _), r in sorted(results.items()) if f == fw and r.get("cpu_kernels")]
        if not states:
            continue
        on = [st for st in states if st["enabled"]]
        if on:
            used = sum(1 for st in on if st["loaded"])
            notes.append(f"{fw}: compiled CPU kernels on ({on[0]['compiler_version'] or on[0]['compiler']}, "
                         f"{on[0]['flags']}); used in {used} of {len(states)} rows")
        else:
            notes.append(f"{fw}: compiled CPU kernels off ({states[0]['reason']}): NumPy code only")
    return notes


def format_text_table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        # workload and unit left-aligned, numbers right-aligned
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown_table(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(rows[0]) - 2)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def describe_machine(machine):
    """Lines naming the machine, for the console and RESULTS.md."""
    gpus = sorted({info["gpu"] for info in machine.get("frameworks", {}).values() if info.get("gpu")})
    lines = [
        f"CPU: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable)"
        + (f"; GPU: {', '.join(gpus)}" if gpus else ""),
        f"threads: {machine['threads']} (OMP/OPENBLAS/MKL_NUM_THREADS and torch.set_num_threads, every framework)",
        f"NumPy {machine['numpy']}, BLAS: {machine['blas']}",
        f"PyTorch {machine['torch'] or 'not installed'}; {machine['python']}; {machine['platform']}",
    ]
    extra = machine.get("frameworks", {})
    if extra.get("torch", {}).get("cudnn"):
        lines.append(f"cuDNN {extra['torch']['cudnn']}")
    if extra.get("minigrad", {}).get("cupy"):
        lines.append(f"CuPy {extra['minigrad']['cupy']}")
    return lines


def write_results_md(path, text_rows, notes, machine, settings):
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m benchmarks --write-results` (see README.md): rerun it to update, do not edit by hand.",
        "Workloads W1-W5 as defined in README.md (Workloads). Each cell: median / min milliseconds per step"
        " (forward + loss + backward + optimizer update; W5: per chain of elementwise ops, forward + backward).",
        "Ratios: of the medians, and in brackets of the minimums, which vary least from run to run on a shared"
        " machine (medians of either framework can move by 1.5x between runs here).",
        "",
        f"- Command: `{settings['command']}`",
        f"- Date: {machine['date']}",
        f"- Device: {settings['device']}; warm-up steps: {settings['warmup']}; timed steps: {settings['steps']}",
    ]
    lines += [f"- {line}" for line in describe_machine(machine)]
    lines += ["", format_markdown_table(text_rows), ""]
    if notes:
        lines += ["Notes:", ""] + [f"{k}. {note}" for k, note in enumerate(notes, 1)] + [""]
    kept = ""
    try:  # the written analysis under KEPT_SECTION survives a rewrite of the table above it
        with open(path) as f:
            old = f.read()
        if KEPT_SECTION in old:
            kept = old[old.index(KEPT_SECTION):]
    except OSError:
        pass
    with open(path, "w") as f:
        f.write("\n".join(lines) + ("\n" + kept if kept else ""))


def main(argv=None):
    parser, args = parse_args(argv)
    if args.worker:
        return worker(args)
    if args.threads < 1 or args.steps < 1 or args.warmup < 0 or args.repeat < 1:
        parser.error("--threads, --steps and --repeat must be >= 1 and --warmup >= 0")
    if args.write_results and args.steps < MIN_RECORDED_STEPS:
        parser.error(f"--write-results records numbers: it needs --steps >= {MIN_RECORDED_STEPS}")
    try:
        parse_variant(args.variant)
    except ValueError as e:
        parser.error(str(e))
    workload_ids = select_workloads(args.workloads, args.size)
    frameworks = select_frameworks(args.frameworks)
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    machine = machine_info(args)
    print(f"minigrad benchmarks on {args.device}, {args.threads} thread(s), {args.warmup} warm-up + "
          f"{args.steps} timed steps per cell", file=sys.stderr)
    if args.steps < MIN_RECORDED_STEPS:
        print(f"note: fewer than {MIN_RECORDED_STEPS} timed steps: a smoke run, not a measurement", file=sys.stderr)

    runs = {}
    cells = [(wid, fw) for wid in workload_ids for fw in frameworks]
    # With --repeat R every cell runs R times, the frameworks of a row in a rotated order each round, so
    # a machine that drifts (other tenants, clock changes) does not favour whichever column ran first.
    order = [(r, wid, frameworks[(i + r) % len(frameworks)]) for r in range(args.repeat) for wid in workload_ids
             for i in range(len(frameworks))]
    for k, (r, wid, fw) in enumerate(order, 1):
        print(f"[{k}/{len(order)}] {wid} {fw} ...", end=" ", file=sys.stderr, flush=True)
        if fw == "numpy" and args.device != "cpu":
            result = dict(framework=fw, workload=wid, status="skipped", reason="the NumPy floor is CPU only")
        else:
            result = run_cell(fw, wid, args)
        runs.setdefault((fw, wid), []).append(result)
        if result["status"] == "ok":
            print(f"median {fmt_ms(result['median_ms'])} ms, min {fmt_ms(result['min_ms'])} ms", file=sys.stderr)
        else:
            print(f"{result['status']}: {result.get('error') or result.get('reason', '')}", file=sys.stderr)
        info = result.get("info")
        if info:
            machine.setdefault("frameworks", {}).setdefault(fw, info)
    results = {key: combine_repeats(rs) for key, rs in runs.items()}

    rows, notes = build_table(workload_ids, results, args)
    print()
    for line in describe_machine(machine):
        print(line)
    print(f"date: {machine['date']}; {args.warmup} warm-up + {args.steps} timed steps per cell"
          + (f", each cell run {args.repeat} times (median of the runs' medians, min of their mins)"
             if args.repeat > 1 else "") + "; cells: median / min ms")
    print()
    print(format_text_table(rows))
    if notes:
        print()
        for k, note in enumerate(notes, 1):
            print(f"[{k}] {note}")

    settings = dict(command=command, workloads=workload_ids, frameworks=frameworks, threads=args.threads,
                    device=args.device, size=args.size, steps=args.steps, warmup=args.warmup, variant=args.variant,
                    repeat=args.repeat)
    if args.json:
        report = dict(settings=settings, machine=machine, table=rows, notes=notes,
                      results=[results[(fw, wid)] for wid, fw in cells])
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"\nwrote {args.json}", file=sys.stderr)
    if args.write_results:
        write_results_md(RESULTS_MD, rows, notes, machine, settings)
        print(f"wrote {RESULTS_MD}", file=sys.stderr)
    failed = any(r["status"] == "error" for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
