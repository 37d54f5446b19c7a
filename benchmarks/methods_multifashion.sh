#!/usr/bin/env bash
# Reproduces the "Every method on Multi-Fashion" figures of benchmarks/RESULTS.md: the
# sweep sweeps/multifashion_methods.yaml (23 trials, two side by side, one CPU thread
# each), then the method comparison on MCR (reference point (1, 1), the MTL-not-MOO
# protocol) and on the loss (reference point (2, 2), the COSMOS protocol).
#
#   benchmarks/methods_multifashion.sh [STORE_URL]
#
# Needs Debian's dataset-fashion-mnist files (or --source/--download, see
# `paretoctl data prepare --help`). Writes a fresh SQLite store under benchmarks/out/
# unless a store URL is given.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
OUT=benchmarks/out
mkdir -p "$OUT"
STORE=${1:-sqlite:///$OUT/methods_multifashion.db}

"$BIN/paretoctl" data prepare multifashion
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
"$BIN/paretoctl" sweep sweeps/multifashion_methods.yaml --store "$STORE"
echo "sweep wall time: $(( $(date +%s) - start )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN/paretoctl" report --dataset multifashion --sweep multifashion_methods --store "$STORE" --format csv
"$BIN/paretoctl" report --dataset multifashion --sweep multifashion_methods --store "$STORE" \
  --objectives 'loss.*' --ref-point 2,2 --format csv
