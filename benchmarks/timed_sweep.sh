# Sourced by the benchmark scripts: the timed run of one sweep on data already prepared.
#   timed_sweep DATASET SWEEP_FILE STORE_URL
# Prepares the dataset's cache (not timed), prints the machine and its load, runs the
# sweep and prints its wall time and the load after it. Uses $BIN (default .venv/bin).
BIN=${BIN:-.venv/bin}

timed_sweep() {
  local dataset=$1 spec=$2 store=$3 start
  "$BIN/paretoctl" data prepare "$dataset"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s)
  "$BIN/paretoctl" sweep "$spec" --store "$store"
  echo "sweep wall time: $(( $(date +%s) - start )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
