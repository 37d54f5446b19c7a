#!/usr/bin/env bash
# The GPU checks in one go, for a machine lent with a CUDA GPU (about 5 minutes, at most 8):
# the GPU and torch's view of it, the CUDA tests (no host sync per step, data on the GPU,
# pack: auto's sizing and chunks), the step benchmark, what pack: auto chooses, and
# packed trials/hour at K=32 against one trial at a time, for LeNet and HPS.
#   bash benchmarks/gpu.sh            (PYTHON=... picks the interpreter; default python3)
# Everything printed also goes to $OUT/gpu.log where OUT is set. A failing step is
# reported and the others still run; the exit status says whether any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
LOG=/dev/null
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; LOG="$OUT/gpu.log"; fi
exec > >(tee -a "$LOG") 2>&1
failed=()

# run_step NAME SECONDS COMMAND...: the command under a time limit; a failure is noted
run_step() {
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  echo "== $name (at most ${limit} s)"
  if timeout "$limit" "$@"; then
    echo "-- $name: ok in $((SECONDS - start)) s"
  else
    echo "-- $name: FAILED (status $?) after $((SECONDS - start)) s"
    failed+=("$name")
  fi
}

run_step gpu 20 nvidia-smi
run_step torch 30 "$PY" -c '
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    free, total = torch.cuda.mem_get_info(i)
    print(f"cuda:{i} {p.name} sm_{p.major}{p.minor} {p.multi_processor_count} SMs, "
          f"{total / 2**30:.1f} GiB, {free / 2**30:.1f} GiB free, bf16 {torch.cuda.is_bf16_supported()}")
assert torch.cuda.is_available(), "no CUDA device"
'
run_step "cuda tests" 150 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py
run_step "step benchmark" 90 "$PY" -m benchmarks --device cuda step --n 4096 --repeats 2
run_step "pack: auto sizing" 45 "$PY" -m benchmarks --device cuda pack-size --k 64
run_step "pack K=32 vs one at a time" 200 "$PY" -m benchmarks --device cuda pack --k 32 --repeats 1 --n-train 2048 --n-test 512

if ((${#failed[@]})); then
  echo "failed steps: ${failed[*]}"
  exit 1
fi
echo "all steps ok"
