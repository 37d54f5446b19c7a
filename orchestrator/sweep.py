"""``paretoctl sweep``: validate, check against the store, expand, check resources, prepare
data, take the sweep's lease, register, run, report — in that order, so that bad input
(a trial no Ray node can hold included) is refused before the store is written, cheap
answers (a refused spec, a rerun with nothing to do) come before the heavy imports
(trainers, Ray) and before any data is prepared, and one run at a time trains a sweep."""
from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from rich.console import Console
from rich.markup import escape

from orchestrator import paths
from orchestrator.errors import UserInputError
from orchestrator.spec import load_spec


def spec_fingerprint(spec_dict: dict[str, Any]) -> str:
    return json.dumps(spec_dict, sort_keys=True, separators=(",", ":"))


def as_current_spec(stored: dict[str, Any]) -> dict[str, Any]:
    """A spec stored by an earlier paretoctl, read by today's model: settings added since
    (e.g. resources.max_failures) take their defaults, so they do not make it differ."""
    from pydantic import ValidationError

    from orchestrator.spec import SweepSpec

    try:
        return SweepSpec.model_validate(stored).model_dump(mode="json")
    except ValidationError:  # no longer a valid spec: compared as it was stored
        return stored


def check_same_sweep(db, name: str, spec_dict: dict[str, Any], resume: bool) -> None:
    """A sweep name means one spec; changing it needs --resume (or a new name)."""
    stored = db.sweep_spec(name)
    if (stored is not None and not resume
            and spec_fingerprint(as_current_spec(stored)) != spec_fingerprint(spec_dict)):
        raise UserInputError(f"name: sweep {name!r} already exists in the store with a different "
                             "spec; pass --resume to update it, or rename the sweep")


def open_if_present(url: str):
    """The store at ``url`` opened read-only, or None when there is none yet."""
    from store.db import open_store
    from store.errors import StoreNotFound

    try:
        return open_store(url, create=False, read_only=True)
    except StoreNotFound:
        return None


def run_sweep_command(spec_path: Path, *, store_url: Optional[str], address: Optional[str],
                      resume: bool, max_concurrent: Optional[int], dry_run: bool,
                      data_dir: Optional[str], out: Console, err: Console,
                      dry_run_table: Callable, artifacts: Optional[str] = None) -> int:
    """Returns the exit code: 0 all trials done, 1 some failed (or the lease was lost),
    128 + N when signal N (SIGINT, SIGTERM) stopped the sweep."""
    spec = load_spec(spec_path)
    spec_dict = spec.model_dump(mode="json")
    existing = None
    if not dry_run:  # a dry run never reads the store (nor imports SQLAlchemy)
        from store.db import check_persistent, resolve_store_url

        url = resolve_store_url(store_url)
        check_persistent(url)
        models_dir = checked_artifacts_dir(url, artifacts)
        existing = open_if_present(url)
        if existing is not None:
            check_same_sweep(existing, spec.name, spec_dict, resume)

    from orchestrator.expand import expand_sweep  # imports the trainers (torch)

    threads = max(1, int(spec.resources.cpus_per_trial))
    trials = expand_sweep(spec, data_dir=str(paths.data_dir(data_dir)), threads=threads)
    from orchestrator.capacity import check_trial_devices

    check_trial_devices(trials, spec.resources.gpus_per_trial, str(spec_path))
    if dry_run:
        out.print(dry_run_table(trials))
        return 0
    if existing is not None:
        linked = existing.linked_statuses(spec.name, [t["key"] for t in trials])
        existing.close()
        if len(linked) == len(trials) and all(s == "done" for s in linked.values()):
            err.print(f"sweep [bold]{spec.name}[/bold]: all {len(trials)} trials already done, "
                      f"nothing to run", highlight=False)
            return 0
    concurrent = max_concurrent or spec.resources.max_concurrent
    check_resources = partial(
        check_ray_fits, spec_path, spec.resources.cpus_per_trial, spec.resources.gpus_per_trial,
        concurrent, "--max-concurrent" if max_concurrent else "resources.max_concurrent", err)
    local = None
    if not address:  # a local Ray gets this machine: checked before Ray starts
        from orchestrator.capacity import local_resources

        local = local_resources()
        check_resources([local], "the local Ray")
    # data next: missing files are exit 2 before the store is written; workers only read caches
    from orchestrator.data_cli import prepare_for_sweep
    from trainers.trial import versions

    prepare_for_sweep(trials, paths.data_dir(data_dir), err)
    if address:  # a cluster is asked for its nodes, still before any write
        from orchestrator.runner import cluster_nodes, init_ray

        init_ray(address)
        check_resources(cluster_nodes(), "the Ray cluster")
    from store.db import open_store
    from store.lease import Lease

    db = open_store(url, create=True)
    try:
        lease = Lease.acquire(db, spec.name)
    except BaseException:
        db.close()
        raise
    with db, lease:
        if lease.stale is not None:
            err.print(f"sweep [bold]{spec.name}[/bold]: taking over the lease of "
                      f"{lease.stale.holder} (expired, or its process is gone)", highlight=False,
                      soft_wrap=True)
        return register_and_run(db, spec, spec_path, spec_dict, resume, trials, versions(),
                                address=address, local=local, max_concurrent=concurrent,
                                lease_lost=lease.lost.is_set, err=err, artifacts=models_dir)


def checked_artifacts_dir(url: str, cli_value: Optional[str]) -> Path:
    """The folder for saved models (orchestrator.paths.artifacts_dir); one that cannot be
    made or written there (checked at its nearest existing folder) is bad input."""
    import os

    folder = paths.artifacts_dir(url, cli_value)
    flag = "--artifacts" if cli_value else "the saved models' folder"
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserInputError(f"{flag}: {existing} exists and is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f"{flag}: cannot write in {existing}")
    return folder


def check_ray_fits(spec_path: Path, cpus_per_trial: float, gpus_per_trial: float,
                   max_concurrent: int, concurrency_field: str, err: Console,
                   nodes: list[tuple[float, float]], where: str) -> None:
    """Exit 2 (SpecError) when no node can hold a trial; warn when fewer than
    ``max_concurrent`` trials fit at once."""
    from orchestrator.capacity import Capacity, check_capacity

    warning = check_capacity(Capacity(nodes, where), str(spec_path),
                             cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial,
                             max_concurrent=max_concurrent, concurrency_field=concurrency_field)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)


def register_and_run(db, spec, spec_path: Path, spec_dict: dict[str, Any], resume: bool,
                     trials: list[dict[str, Any]], versions: dict[str, Any], *,
                     address: Optional[str], local: Optional[tuple[float, float]],
                     max_concurrent: int, lease_lost: Callable[[], bool], err: Console,
                     artifacts: Optional[Path] = None) -> int:
    """Register the sweep and its trials, run those not done, report; under the lease."""
    from orchestrator.interrupts import exit_code, signal_name
    from orchestrator.progress import SweepProgress
    from orchestrator.runner import run_trials

    check_same_sweep(db, spec.name, spec_dict, resume)  # again: another run may have written it
    db.register_sweep(spec.name, Path(spec_path).read_text(), spec_dict, versions)
    statuses = db.add_trials(spec.name, trials)
    todo = [t for t in trials if statuses.get(t["key"]) != "done"]
    packs, share = None, None
    if spec.resources.pack != 1:  # packs of the trials still to do: done members never rerun
        from orchestrator.packs import gpu_share, group_trials, pack_size

        gpus = spec.resources.gpus_per_trial
        packs = group_trials(todo, pack_size(spec.resources.pack, len(todo), max_concurrent,
                                             gpu=gpus > 0))
        share = gpu_share(spec.resources.pack, gpus)
    err.print(f"sweep [bold]{spec.name}[/bold]: {len(trials)} trials, "
              f"{len(trials) - len(todo)} already done, {len(todo)} to run"
              f"{f' in {len(packs)} pack' + 's' * (len(packs) != 1) if packs else ''} "
              f"(store {escape(db.display_url)}, models in {escape(str(artifacts))})",
              highlight=False, soft_wrap=True)

    start = time.perf_counter()
    with SweepProgress(len(todo), console=err, enabled=bool(todo)) as progress:
        outcome = run_trials(
            todo, db, spec.name, cpus_per_trial=spec.resources.cpus_per_trial,
            gpus_per_trial=spec.resources.gpus_per_trial, max_concurrent=max_concurrent,
            address=address, progress=progress, local_resources=local, lease_lost=lease_lost,
            max_failures=spec.resources.max_failures, packs=packs, artifacts=artifacts,
            pack_share=share)
    elapsed = time.perf_counter() - start
    if outcome.lease_lost:
        err.print(f"[red]stopped:[/red] another run took over sweep {spec.name} (this one was "
                  "stalled for longer than its lease); nothing more was recorded", highlight=False,
                  soft_wrap=True)
        return 1
    if outcome.stopped_by is not None:
        not_started = len(todo) - len(outcome.started)
        err.print(f"stopped by {signal_name(outcome.stopped_by)}: done {len(outcome.done)}, "
                  f"failed {len(outcome.failed)}, interrupted {len(outcome.interrupted)}, "
                  f"not started {not_started} in {elapsed:.1f}s; run the same command again "
                  "to finish", highlight=False, soft_wrap=True)
        return exit_code(outcome.stopped_by)
    missing = [t["key"] for t in todo if t["key"] not in outcome.done and t["key"] not in outcome.failed]
    for key in missing:  # e.g. Ray lost the trial without reporting
        db.mark_failed(key, "trial ended without reporting a result")
        outcome.failed[key] = "no result"
    err.print(f"done {len(outcome.done)}, failed {len(outcome.failed)} in {elapsed:.1f}s; "
              f"front: paretoctl front --dataset {trials[0]['dataset']['name']} --sweep {spec.name}",
              highlight=False, soft_wrap=True)
    for key, message in outcome.failed.items():
        err.print(f"[red]failed[/red] {key}: {escape(message)}", highlight=False)
    return 1 if outcome.failed else 0
