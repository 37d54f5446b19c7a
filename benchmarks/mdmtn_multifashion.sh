#!/usr/bin/env bash
# Reproduces the "MDMTN on Multi-Fashion" figures of benchmarks/RESULTS.md: WC-AL on
# MDMTN, dense (k0 = 0) against sparse and tied (k0 = 1e-3) with the same task weights,
# at the CPU budget of sweeps/multifashion_mdmtn.yaml (two trials side by side, one CPU
# thread each).
#
#   benchmarks/mdmtn_multifashion.sh [STORE_URL]
#
# Needs Debian's dataset-fashion-mnist files (or --source/--download, see
# `paretoctl data prepare --help`). Writes a fresh SQLite store under benchmarks/out/ unless
# a store URL is given, and prints the table of RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/timed_sweep.sh
OUT=benchmarks/out
mkdir -p "$OUT"
STORE=${1:-sqlite:///$OUT/mdmtn_multifashion.db}

timed_sweep multifashion sweeps/multifashion_mdmtn.yaml "$STORE"
"$BIN/python" benchmarks/mdmtn_report.py "$STORE" multifashion_mdmtn
