"""``paretoctl sweep``: validate, expand, register, run, report — in that order, so that
bad input is refused before the store is touched."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console

from orchestrator import paths
from orchestrator.errors import UserInputError
from orchestrator.expand import expand_sweep
from orchestrator.progress import SweepProgress
from orchestrator.spec import load_spec


def spec_fingerprint(spec_dict: dict[str, Any]) -> str:
    return json.dumps(spec_dict, sort_keys=True, separators=(",", ":"))


def check_same_sweep(db, name: str, spec_dict: dict[str, Any], resume: bool) -> None:
    """A sweep name means one spec; changing it needs --resume (or a new name)."""
    stored = db.sweep_spec(name)
    if stored is not None and not resume and spec_fingerprint(stored) != spec_fingerprint(spec_dict):
        raise UserInputError(f"name: sweep {name!r} already exists in the store with a different "
                             "spec; pass --resume to update it, or rename the sweep")


def run_sweep_command(spec_path: Path, *, store_url: Optional[str], address: Optional[str],
                      resume: bool, max_concurrent: Optional[int], dry_run: bool,
                      data_dir: Optional[str], out: Console, err: Console,
                      dry_run_table: Callable) -> int:
    """Returns the exit code: 0 all trials done, 1 some failed."""
    from store.db import open_store, resolve_store_url
    from trainers.trial import versions

    spec = load_spec(spec_path)
    threads = max(1, int(spec.resources.cpus_per_trial))
    trials = expand_sweep(spec, data_dir=str(paths.data_dir(data_dir)), threads=threads)
    if dry_run:
        out.print(dry_run_table(trials))
        return 0
    # data first: missing files are exit 2 before the store exists; workers only read caches
    from orchestrator.data_cli import prepare_for_sweep
    prepare_for_sweep(trials, paths.data_dir(data_dir), err)
    spec_dict = spec.model_dump(mode="json")
    db = open_store(resolve_store_url(store_url), create=True)
    check_same_sweep(db, spec.name, spec_dict, resume)
    db.register_sweep(spec.name, Path(spec_path).read_text(), spec_dict, versions())
    statuses = db.add_trials(spec.name, trials)
    todo = [t for t in trials if statuses.get(t["key"]) != "done"]
    err.print(f"sweep [bold]{spec.name}[/bold]: {len(trials)} trials, "
              f"{len(trials) - len(todo)} already done, {len(todo)} to run "
              f"(store {db.display_url})", highlight=False)
    from orchestrator.runner import run_trials

    start = time.perf_counter()
    with SweepProgress(len(todo), console=err, enabled=bool(todo)) as progress:
        outcome = run_trials(
            todo, db, spec.name, cpus_per_trial=spec.resources.cpus_per_trial,
            gpus_per_trial=spec.resources.gpus_per_trial,
            max_concurrent=max_concurrent or spec.resources.max_concurrent,
            address=address, progress=progress)
    elapsed = time.perf_counter() - start
    missing = [t["key"] for t in todo if t["key"] not in outcome.done and t["key"] not in outcome.failed]
    for key in missing:  # e.g. Ray lost the trial without reporting
        db.mark_failed(key, "trial ended without reporting a result")
        outcome.failed[key] = "no result"
    err.print(f"done {len(outcome.done)}, failed {len(outcome.failed)} in {elapsed:.1f}s; "
              f"front: paretoctl front --dataset {trials[0]['dataset']['name']} --sweep {spec.name}",
              highlight=False)
    for key, message in outcome.failed.items():
        err.print(f"[red]failed[/red] {key}: {message}", highlight=False)
    return 1 if outcome.failed else 0
