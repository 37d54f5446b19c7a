"""How long the answers that need no training take, each in a fresh process (median of
``--repeats``, interleaved): --help, --version, a malformed spec, a changed spec refused
by the store, --dry-run, and a rerun whose trials are all done.

    python -m benchmarks.cli_latency [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec
from store.db import open_store

SPEC = """
name: latency
datasets: [{name: multidigits, n_train: 100, n_val: 50, n_test: 50}]
methods:
  - name: linear
    preferences: {simplex: {n_partitions: 8}}
  - name: wc_al
    preferences: {simplex: {n_partitions: 8}}
train: {epochs: 1}
"""


def finished_store(folder: Path, spec_text: str) -> Path:
    """``folder``/spec.yaml holding ``spec_text`` and ``folder``/paretoctl.db in which every
    trial of it is done (results written directly, no training); returns the store file."""
    (folder / "spec.yaml").write_text(spec_text)
    spec = load_spec(folder / "spec.yaml")
    trials = expand_sweep(spec)
    with open_store(f"sqlite:///{folder / 'paretoctl.db'}", create=True) as store:
        store.register_sweep(spec.name, spec_text, spec.model_dump(mode="json"), {})
        store.add_trials(spec.name, trials)
        for trial in trials:
            point = {"split": "test", "ray_index": 0, "preference": trial["preference"], "metrics": {},
                     "tasks": {"left": {"loss": 0.5, "acc": 0.8}, "right": {"loss": 0.5, "acc": 0.8}}}
            store.record_result(trial["key"], {"points": [point], "time_train_s": 1.0})
    return folder / "paretoctl.db"


CASES = {
    "--help": ["--help"],
    "--version": ["--version"],
    "malformed spec (exit 2)": ["sweep", "bad.yaml"],
    "changed spec refused by the store (exit 2)": ["sweep", "changed.yaml"],
    "--dry-run (18 trials)": ["sweep", "spec.yaml", "--dry-run"],
    "rerun with nothing to do": ["sweep", "spec.yaml"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    finished_store(folder, SPEC)
    (folder / "changed.yaml").write_text(SPEC.replace("epochs: 1", "epochs: 2"))
    (folder / "bad.yaml").write_text(SPEC + "unknown_key: 1\n")
    exe = str(Path(sys.executable).with_name("paretoctl"))
    env = {**os.environ, "PARETOCTL_HOME": str(folder / ".paretoctl"), "PARETOCTL_DATA": str(folder / "data")}
    env.pop("PARETOCTL_STORE", None)
    walls: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):  # interleaved: each round runs every case once
        for name, argv in CASES.items():
            start = time.perf_counter()
            subprocess.run([exe, *argv], cwd=folder, env=env, capture_output=True)
            walls[name].append(time.perf_counter() - start)
    print(f"machine: {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}")
    for name, values in walls.items():
        print(f"{name:<45} median {statistics.median(values):.2f} s  "
              f"(min {min(values):.2f}, max {max(values):.2f})")


if __name__ == "__main__":
    main()
