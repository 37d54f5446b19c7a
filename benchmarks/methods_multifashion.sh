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
source benchmarks/timed_sweep.sh
OUT=benchmarks/out
mkdir -p "$OUT"
STORE=${1:-sqlite:///$OUT/methods_multifashion.db}

timed_sweep multifashion sweeps/multifashion_methods.yaml "$STORE"
"$BIN/paretoctl" report --dataset multifashion --sweep multifashion_methods --store "$STORE" --format csv
"$BIN/paretoctl" report --dataset multifashion --sweep multifashion_methods --store "$STORE" \
  --objectives 'loss.*' --ref-point 2,2 --format csv
