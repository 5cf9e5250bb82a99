#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the gpu tests on the real device, then the GPU benchmark rows (W1-W5, and
# W2 at hidden 1024, batch 256) with minigrad on CuPy against PyTorch on CUDA; one table at the end.
# Needs CuPy (cupy-cuda12x or cupy-cuda13x), PyTorch with CUDA, pytest and hypothesis.  At most 5 minutes (each part has a time limit).
#
#   bash benchmarks/gpu_check.sh            # from the repository root or anywhere
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
#
# Writes benchmarks/results/gpu-check.txt (what was printed) and gpu-check.json (every number).
set -uo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-python}"
unset MINIGRAD_EMULATE_CUDA  # the real device, never the test suite's emulated one
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out=benchmarks/results
mkdir -p "$out"

"$py" - <<'EOF' || exit 2
import sys
import minigrad as mg
try:
    import cupy, torch, pytest, hypothesis  # noqa: F401
except ImportError as e:
    sys.exit(f"gpu_check: {e.name} is missing (needs CuPy, PyTorch with CUDA, pytest, hypothesis)")
try:
    mg._backend.cupy()
except mg.DeviceError as e:
    sys.exit(f"gpu_check: {e}")
if not torch.cuda.is_available():
    sys.exit("gpu_check: PyTorch sees no CUDA device (a CPU-only PyTorch build?)")
name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
print(f"GPU: {name.decode() if isinstance(name, bytes) else name}; CuPy {cupy.__version__}, "
      f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}; PyTorch {torch.__version__}; "
      f"NumPy {__import__('numpy').__version__}; Python {sys.version.split()[0]}")
EOF

echo "== the gpu tests on the real device"
tests_log="$out/gpu-check-tests.txt"
timeout 150 "$py" -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$tests_log"
tests_rc=${PIPESTATUS[0]}
tests_summary=$(grep -E "passed|failed|error" "$tests_log" | tail -1)

echo "== the GPU benchmark rows"
bench_log="$out/gpu-check-bench.txt"
timeout 140 "$py" -m benchmarks --device cuda --workloads W1,W2,W3,W4,W5,W2-large --frameworks minigrad,torch \
    --steps 20 --warmup 3 --timeout 40 --json "$out/gpu-check.json" > "$bench_log"
bench_rc=$?

{
    echo
    echo "gpu tests (real device): ${tests_summary:-no result} (exit $tests_rc)"
    cat "$bench_log"
} | tee "$out/gpu-check.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
