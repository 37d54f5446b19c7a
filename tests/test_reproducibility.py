"""A CPU trial is a function of its config, bit for bit: the same trials run in two fresh
processes (different hash seeds and OpenMP environments) store exactly equal points and
histories, and ``reproducible`` fixes threads, algorithms and every RNG."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from trainers.reproducibility import reproducible

ROOT = Path(__file__).resolve().parents[1]

# wc_al with k0 > 0 (LSUV, GrOWL prox, Affinity Propagation, tied retraining), COSMOS
# (numpy-drawn rays) and PHN-EPO (scipy's LP): every random source a trial has
TRIALS = """
import json, sys
sys.path.insert(0, "tests")
from tiny_trials import tiny_config
from trainers.trial import run_trial

configs = [
    tiny_config("wc_al", preference=[0.01, 0.5, 0.49], train={"epochs_per_iteration": 1},
                params={"phase1_iterations": 2, "phase2_iterations": 1}),
    tiny_config("cosmos", params={"test_rays": 3}),
    tiny_config("phn_epo", params={"test_rays": 3}, train={"epochs": 1}),
]

def timeless(value):
    # wall-clock times are the only fields that may differ
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if "time" not in k}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value

results = [run_trial(config) for config in configs]
print(json.dumps([timeless({"points": r["points"], "info": r["info"]}) for r in results]))
"""


def run_in_fresh_process(env: dict[str, str]) -> list:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run([sys.executable, "-c", TRIALS], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_same_trials_in_two_processes_store_identical_points():
    first = run_in_fresh_process({"PYTHONHASHSEED": "1", "OMP_NUM_THREADS": "1"})
    second = run_in_fresh_process({"PYTHONHASHSEED": "2", "OMP_NUM_THREADS": "2"})
    assert len(first) == 3 and all(r["points"] for r in first)
    for a, b in zip(first, second):
        assert a["points"] == b["points"]    # == on every float: bit-identical
        assert a["info"] == b["info"]        # per-epoch history and method state too


def test_reproducible_fixes_threads_algorithms_and_every_rng():
    generator = reproducible(7, 1, torch.device("cpu"))
    assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    draws = (torch.rand(3), random.random(), np.random.rand(), torch.rand(3, generator=generator))
    generator = reproducible(7, 1, torch.device("cpu"))
    again = (torch.rand(3), random.random(), np.random.rand(), torch.rand(3, generator=generator))
    assert torch.equal(draws[0], again[0]) and torch.equal(draws[3], again[3])
    assert draws[1:3] == again[1:3]


def test_reproducible_leaves_fresh_allocations_unfilled():
    # deterministic mode NaN-fills every torch.empty by default: a debugging aid that
    # costs every training step and changes no result of an operation that writes its output
    torch.utils.deterministic.fill_uninitialized_memory = True
    reproducible(7, 1, torch.device("cpu"))
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.utils.deterministic.fill_uninitialized_memory is False
