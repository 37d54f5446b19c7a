"""Per-trial overhead of a sweep: wall time per trial against the time spent training.

Runs ``paretoctl sweep`` (the console script next to this Python) on N tiny multidigits
trials (one epoch on 200 composites, one per seed) in a fresh folder and store, then reads
each trial's training time from the store. What is left of the wall time is the cost of
running a trial through Ray Tune (worker start, imports, data loading, bookkeeping).

    python benchmarks/trial_overhead.py [--trials 20] [--max-concurrent 2]

The code measured is whatever ``import orchestrator`` finds (set PYTHONPATH to compare
two checkouts). Prints the machine, its load before and after, and one result line.
"""
from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """
name: overhead
datasets: [{{name: multidigits, n_train: 200, n_val: 60, n_test: 60}}]
architectures: [hps]
methods: [{{name: linear, preferences: {{explicit: [[0, 0.5, 0.5]]}}}}]
seeds: [{seeds}]
train: {{epochs: 1, batch_size: 64}}
resources: {{cpus_per_trial: 1, max_concurrent: {concurrent}}}
"""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--max-concurrent", type=int, default=2)
    args = parser.parse_args()
    paretoctl = Path(sys.executable).with_name("paretoctl")
    with tempfile.TemporaryDirectory(prefix="paretoctl-overhead-") as folder:
        cwd = Path(folder)
        seeds = ", ".join(str(s) for s in range(args.trials))
        (cwd / "spec.yaml").write_text(SPEC.format(seeds=seeds, concurrent=args.max_concurrent))
        env = {**os.environ, "PARETOCTL_HOME": str(cwd / ".paretoctl")}
        env.pop("PARETOCTL_STORE", None)
        print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load before: {load()}")
        start = time.perf_counter()
        result = subprocess.run([str(paretoctl), "sweep", "spec.yaml"], cwd=cwd, env=env,
                                capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            print(result.stderr, file=sys.stderr)
            return result.returncode
        with sqlite3.connect(cwd / "paretoctl.db") as conn:
            train = [row[0] for row in conn.execute("SELECT time_train_s FROM trials")]
    print(f"load after: {load()}")
    print(f"{len(train)} trials, {args.max_concurrent} at a time: sweep wall {wall:.1f} s, "
          f"{wall / len(train):.2f} s per trial; training {sum(train) / len(train):.3f} s "
          f"per trial (mean)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
