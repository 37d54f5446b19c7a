"""Where a sweep's time goes besides training: fixed overhead by phase, and per trial.

Each repeat runs ``paretoctl sweep``'s own code (``run_sweep_command``) on N tiny
multidigits trials (one epoch on 200 composites, one per seed) in a fresh process, folder
and store, and timestamps the phases it passes through by wrapping the functions that
mark them (nothing in paretoctl is changed): interpreter start, imports, spec, data
check, store, Ray start, the first trial's start and result, the last result, the end of
the sweep, Ray's shutdown, interpreter exit. Training and evaluation times come from the
store; a fresh process also times what a new Ray worker does first (imports, data load).

Per-trial overhead is the slot time each trial holds between the first and the last
result (their span times the concurrency over the trials finished in it) less the
trial's own training and evaluation. Prints the median of the repeats per phase.

    python -m benchmarks overhead [--trials 20] [--max-concurrent 2] [--repeats 3]
"""
from __future__ import annotations

import atexit
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.trial_overhead import SPEC  # the same tiny sweep: one trial per seed

#: what a fresh Ray worker does before its first trial trains, timed in a fresh process
WORKER_PROBE = """
import json, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
from trainers.trial import load_dataset
from contract.trial import TrialConfig
t2 = time.perf_counter()
from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec
config = TrialConfig.from_plain(expand_sweep(load_spec("spec.yaml"))[0])
t3 = time.perf_counter()
load_dataset(config)
t4 = time.perf_counter()
print(json.dumps({"ray import": t1 - t0, "torch, trainers import": t2 - t1,
                  "data load": t4 - t3}))
"""

#: (mark, what the time up to it went on): a row's time runs from the previous mark
#: present; a mark missing (Ray shut down at exit, not by the sweep) merges into the next
ROWS = [
    ("started", "interpreter start"),
    ("cli imported", "CLI imports (typer, rich, orchestrator)"),
    ("trainers imported", "driver imports (torch, trainers)"),
    ("expanded", "spec: load, validate, expand"),
    ("data prepared", "data check and prepare"),
    ("run_trials", "store: open, lease, register, add trials"),
    ("ray started", "Ray init"),
    ("first trial started", "Tune setup, first worker spawn"),
    ("first result", "first trial: imports, data load, report"),
    ("last result", "trials (first to last result)"),
    ("ray shutdown called", "Tune wind-down"),
    ("ray shut down", "Ray shutdown (by the sweep)"),
    ("sweep returned", "summary (and wind-down without the above)"),
    ("exit handlers done", "exit handlers (Ray shutdown if not above)"),
    ("exited", "interpreter exit"),
]


def child(concurrent: int) -> None:
    """Runs in the fresh process: the sweep in the current folder, marks on stdout (the
    last line once the exit handlers ran, Ray's included)."""
    marks: dict[str, float] = {"started": time.time()}
    results: list[float] = []
    # registered before Ray's own handler (which shuts Ray down if the sweep did not),
    # so it runs after it
    atexit.register(lambda: print(json.dumps({"exit handlers done": time.time()}), flush=True))

    def mark(name: str) -> None:
        marks.setdefault(name, time.time())

    def after(module, name: str, label: str, before: str | None = None, then=None) -> None:
        inner = getattr(module, name)

        def wrapper(*args, **kwargs):
            if before:
                mark(before)
            value = inner(*args, **kwargs)
            mark(label)
            if then:
                then()
            return value
        setattr(module, name, wrapper)

    import orchestrator.cli  # noqa: F401  (what the console script imports first)
    mark("cli imported")
    import orchestrator.expand
    mark("trainers imported")
    from orchestrator import data_cli, runner, sweep

    def watch_tune() -> None:  # Ray is imported now: the hooks may be wrapped
        import ray

        from orchestrator.tune_hooks import StoreWriter

        start, result = StoreWriter.on_trial_start, StoreWriter.on_trial_result

        def on_start(self, *args, **kwargs):
            mark("first trial started")
            return start(self, *args, **kwargs)

        def on_result(self, *args, **kwargs):  # Tune names every argument
            if runner.RESULT_KEY in kwargs.get("result", args[-1] if args else {}):
                results.append(time.time())
            return result(self, *args, **kwargs)
        StoreWriter.on_trial_start, StoreWriter.on_trial_result = on_start, on_result
        after(ray, "shutdown", "ray shut down", before="ray shutdown called")

    after(sweep, "load_spec", "spec loaded")
    after(orchestrator.expand, "expand_sweep", "expanded")
    after(data_cli, "prepare_for_sweep", "data prepared")
    after(runner, "init_ray", "ray started", then=watch_tune)
    after(runner, "run_trials", "sweep ran", before="run_trials")
    from rich.console import Console

    quiet = Console(file=open(os.devnull, "w"))
    code = sweep.run_sweep_command(Path("spec.yaml"), store_url=None, address=None,
                                   resume=False, max_concurrent=None, dry_run=False,
                                   data_dir=None, out=quiet, err=quiet, dry_run_table=None)
    mark("sweep returned")
    marks["first result"], marks["last result"] = results[0], results[-1]
    print(json.dumps({"code": code, "marks": marks, "results": results}), flush=True)


def one_sweep(trials: int, concurrent: int) -> dict:
    """One repeat in a fresh folder: the phases (s), trials' training and evaluation."""
    with tempfile.TemporaryDirectory(prefix="paretoctl-overhead-") as folder:
        cwd = Path(folder)
        seeds = ", ".join(str(s) for s in range(trials))
        (cwd / "spec.yaml").write_text(SPEC.format(seeds=seeds, concurrent=concurrent))
        env = {**os.environ, "PARETOCTL_HOME": str(cwd / ".paretoctl")}
        env.pop("PARETOCTL_STORE", None)
        spawned = time.time()
        run = subprocess.run([sys.executable, "-m", "benchmarks.sweep_overhead", "--child",
                              str(concurrent)], cwd=cwd, env=env, capture_output=True, text=True)
        exited = time.time()
        if run.returncode != 0:
            raise RuntimeError(f"the sweep failed ({run.returncode}): {run.stderr[-2000:]}")
        lines = run.stdout.strip().splitlines()
        said, at_exit = json.loads(lines[-2]), json.loads(lines[-1])
        if said["code"] != 0:
            raise RuntimeError(f"the sweep ended with exit code {said['code']}")
        marks = {**said["marks"], **at_exit, "spawned": spawned, "exited": exited}
        with sqlite3.connect(cwd / "paretoctl.db") as conn:
            work = [t + e for t, e in conn.execute(
                "SELECT t.time_train_s, SUM(p.time_eval_s) FROM trials t JOIN points p "
                "ON p.trial_id = t.id GROUP BY t.id")]
        probe = subprocess.run([sys.executable, "-c", WORKER_PROBE], cwd=cwd, env=env,
                               capture_output=True, text=True)
        worker = json.loads(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 else {}
    phases, previous = {}, marks["spawned"]
    for name, label in ROWS:
        if name in marks:
            phases[label], previous = marks[name] - previous, marks[name]
    work_mean = statistics.fmean(work)
    span = marks["last result"] - marks["first result"]
    finished_in_span = max(len(said["results"]) - 1, 1)
    per_trial = span * concurrent / finished_in_span
    return {"phases": phases, "wall": exited - spawned, "per_trial_slot": per_trial,
            "work": work_mean, "per_trial_overhead": per_trial - work_mean,
            "fixed": (exited - spawned) - span - work_mean, "worker": worker,
            "trials": len(work)}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(trials: int = 20, concurrent: int = 2, repeats: int = 3) -> dict:
    """Runs ``repeats`` sweeps, prints the machine, its load and the table of medians."""
    from benchmarks.machine import cpu_model

    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; load before: {load()}")
    runs = [one_sweep(trials, concurrent) for _ in range(repeats)]
    print(f"load after: {load()}; {runs[0]['trials']} trials, {concurrent} at a time, "
          f"median of {repeats} fresh sweeps (min-max)")

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):7.2f}  ({min(values):.2f}-{max(values):.2f})"

    print(f"{'phase':<44} {'s':>7}")
    for _, label in ROWS:
        values = [r["phases"][label] for r in runs if label in r["phases"]]
        print(f"{label:<44} {cell(values) if values else '      -'}")
    for name in ("ray import", "torch, trainers import", "data load"):
        values = [r["worker"][name] for r in runs if name in r["worker"]]
        if values:
            print(f"{'  fresh process: ' + name:<44} {cell(values)}")
    print(f"{'sweep wall':<44} {cell([r['wall'] for r in runs])}")
    print(f"{'fixed overhead (wall - trials span - 1 trial)':<44} {cell([r['fixed'] for r in runs])}")
    print(f"{'slot time per trial':<44} {cell([r['per_trial_slot'] for r in runs])}")
    print(f"{'training + evaluation per trial':<44} {cell([r['work'] for r in runs])}")
    print(f"{'per-trial overhead':<44} {cell([r['per_trial_overhead'] for r in runs])}")
    return {"runs": runs}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--trials", type=int, default=20)
        parser.add_argument("--max-concurrent", type=int, default=2)
        parser.add_argument("--repeats", type=int, default=3)
        args = parser.parse_args()
        run(args.trials, args.max_concurrent, args.repeats)
