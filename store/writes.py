"""All writes to the store, each in one short transaction.

The orchestrator calls these in order: register_sweep, add_trials (to learn
which trials are already done), then per trial mark_running (start_pack for the
members of a pack) and either record_result, mark_failed or (the sweep was stopped)
mark_interrupted, and record_run (the node it ran on, its attempts); while it trains,
record_epochs with its finished epochs (clear_epochs when an attempt starts).
record_result replaces a trial's points wholesale and record_epochs replaces its
(stage, epoch) row, so a resumed or retried trial never leaves duplicate rows.
"""

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from contract.result import Artifact
from store.errors import StoreError
from store.payload import (
    check_key,
    error_text,
    json_safe,
    to_float,
    to_int,
    point_rows,
    read_result,
    trial_result_fields,
    trial_row,
)
from store.schema import Epoch, Point, PointMetric, PointTask, Sweep, SweepTrial, Trial

if TYPE_CHECKING:
    from store.db import Store

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Keeps IN (...) lists well below every backend's bound-parameter limit.
_CHUNK = 500


def _utcnow() -> datetime:
    """Timestamps are stored in UTC so stores can move between machines."""
    return datetime.now(timezone.utc)


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` elements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _paretoctl_version(versions: Mapping[str, Any]) -> str | None:
    """Installed paretoctl version, falling back to what the caller reported."""
    try:
        return metadata.version("paretoctl")
    except metadata.PackageNotFoundError:
        reported = versions.get("paretoctl")
        return None if reported is None else str(reported)


def register_sweep(
    store: "Store", name: str, spec_yaml: str, spec: dict[str, Any], versions: dict[str, Any]
) -> int:
    """Insert the sweep ``name`` or update its spec; returns the sweep id.

    Re-running a sweep file under the same name updates the stored spec
    (the latest one is what `--resume` and reports should show).
    """
    if not isinstance(name, str) or not name.strip():
        raise StoreError("sweep name must be a non-empty string")
    now = _utcnow()
    with store.write_session() as session:
        sweep = session.scalar(select(Sweep).where(Sweep.name == name))
        if sweep is None:
            sweep = Sweep(name=name, created_at=now)
            session.add(sweep)
        sweep.spec_yaml = spec_yaml
        sweep.spec = json_safe(spec)
        sweep.versions = json_safe(versions)
        sweep.paretoctl_version = _paretoctl_version(versions or {})
        sweep.updated_at = now
        session.flush()
        return sweep.id


def _sweep_id(session: Session, sweep_name: str) -> int:
    """Id of a registered sweep, or StoreError if it was never registered."""
    sweep_id = session.scalar(select(Sweep.id).where(Sweep.name == sweep_name))
    if sweep_id is None:
        raise StoreError(f"unknown sweep {sweep_name!r}: register it before adding trials")
    return sweep_id


def _trials_by_key(session: Session, keys: list[str]) -> dict[str, tuple[int, str]]:
    """``{key: (trial id, status)}`` for the given keys that exist."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(keys):
        stmt = select(Trial.key, Trial.id, Trial.status).where(Trial.key.in_(chunk))
        found.update({key: (tid, status) for key, tid, status in session.execute(stmt)})
    return found


def _link_trials(session: Session, sweep_id: int, trial_ids: list[int]) -> None:
    """Link trials to a sweep, skipping links that already exist."""
    for chunk in _chunks(trial_ids):
        stmt = select(SweepTrial.trial_id).where(
            SweepTrial.sweep_id == sweep_id, SweepTrial.trial_id.in_(chunk)
        )
        linked = set(session.scalars(stmt))
        rows = [{"sweep_id": sweep_id, "trial_id": t} for t in chunk if t not in linked]
        if rows:
            session.execute(insert(SweepTrial), rows)


def add_trials(store: "Store", sweep_name: str, trials: list[dict[str, Any]]) -> dict[str, str]:
    """Insert unseen trials as 'pending', link all to the sweep, return each key's status.

    A key that already exists (from this or another sweep) is reused, never
    duplicated, and keeps its status, so the runner can skip 'done' trials.
    """
    rows: dict[str, dict[str, Any]] = {}
    for trial in trials:
        row = trial_row(trial)
        rows.setdefault(row["key"], row)
    keys = list(rows)
    with store.write_session() as session:
        sweep_id = _sweep_id(session, sweep_name)
        existing = _trials_by_key(session, keys)
        new_rows = [rows[k] for k in keys if k not in existing]
        if new_rows:
            session.execute(insert(Trial), new_rows)
            existing = _trials_by_key(session, keys)
        _link_trials(session, sweep_id, [existing[k][0] for k in keys])
        return {key: existing[key][1] for key in keys}


def _update_trial(session: Session, key: str, **values: Any) -> None:
    """Update one trial by key; an unknown key is a StoreError."""
    stmt = update(Trial).where(Trial.key == check_key(key)).values(**values)
    if session.execute(stmt).rowcount == 0:
        raise StoreError(f"unknown trial {key!r}")


def mark_running(store: "Store", key: str) -> None:
    """Record that a trial started on its own (clears any earlier error, finish time, pack
    and node)."""
    with store.write_session() as session:
        _update_trial(
            session, key, status="running", started_at=_utcnow(), finished_at=None, error=None,
            pack=None, node=None,
        )


def start_pack(store: "Store", keys: list[str], pack: str | None) -> None:
    """Mark the members ``keys`` of a pack running, all in one transaction, each with
    ``pack``: the key of the pack's first member (None for a pack of one)."""
    with store.write_session() as session:
        for key in keys:
            _update_trial(session, key, status="running", started_at=_utcnow(),
                          finished_at=None, error=None, pack=pack, node=None)


def mark_failed(store: "Store", key: str, error: str) -> None:
    """Record that a trial failed, with the error text shown by `paretoctl trials`."""
    with store.write_session() as session:
        _update_trial(session, key, status="failed", error=error_text(error), finished_at=_utcnow())


def mark_interrupted(store: "Store", key: str) -> None:
    """Record that a running trial was stopped (SIGINT/SIGTERM); the next run of its
    sweep runs it again, like a failed one."""
    with store.write_session() as session:
        _update_trial(session, key, status="interrupted", error=None, finished_at=_utcnow())


def record_run(store: "Store", key: str, *, node: str | None = None,
               attempts: int | None = None) -> None:
    """Record where a trial ran (the Ray node it reported from) and how many times it
    was started (retries included); a value left None is kept as it was."""
    values: dict[str, Any] = {}
    if node is not None:
        values["node"] = str(node)[:255]
    if attempts is not None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise StoreError(f"trial {key!r}: attempts must be an integer >= 1, not {attempts!r}")
        values["attempts"] = attempts
    if not values:
        return
    with store.write_session() as session:
        _update_trial(session, key, **values)


def _trial_id(session: Session, key: str) -> int:
    """Id of the trial with ``key``, or StoreError."""
    trial_id = session.scalar(select(Trial.id).where(Trial.key == check_key(key)))
    if trial_id is None:
        raise StoreError(f"unknown trial {key!r}: add it with add_trials first")
    return trial_id


def _insert_points(
    session: Session, trial_id: int, parts: list[tuple[dict, dict, dict]]
) -> tuple[set[str], set[str]]:
    """Insert points with their per-task and metric rows; returns the task names and
    the metric names written."""
    if not parts:
        return set(), set()
    stmt = insert(Point).returning(Point.id, sort_by_parameter_order=True)
    point_ids = session.scalars(stmt, [{**row, "trial_id": trial_id} for row, _, _ in parts]).all()
    task_rows, metric_rows = [], []
    for point_id, (_, tasks, metrics) in zip(point_ids, parts, strict=True):
        task_rows += [{"point_id": point_id, "task": task, **values} for task, values in tasks.items()]
        metric_rows += [{"point_id": point_id, "name": name, "value": value}
                        for name, value in metrics.items()]
    if task_rows:
        session.execute(insert(PointTask), task_rows)
    if metric_rows:
        session.execute(insert(PointMetric), metric_rows)
    return {row["task"] for row in task_rows}, {row["name"] for row in metric_rows}


def artifact_fields(key: str, artifact: Artifact | None) -> dict[str, Any]:
    """The trial's saved-model columns (all NULL without a saved model)."""
    if artifact is None:
        return {"artifact_path": None, "artifact_bytes": None, "artifact_sha256": None}
    path, size, digest = artifact.path, artifact.bytes, artifact.sha256
    if not isinstance(path, str) or not path:
        raise StoreError(f"trial {key!r}: artifact path must be a non-empty string")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise StoreError(f"trial {key!r}: artifact size must be a whole number >= 0, got {size!r}")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise StoreError(f"trial {key!r}: artifact SHA-256 must be 64 lower-case hex digits")
    return {"artifact_path": path, "artifact_bytes": size, "artifact_sha256": digest}


def record_result(store: "Store", key: str, result: dict[str, Any],
                  artifact: Artifact | None = None) -> None:
    """Store a finished trial: replace its points, mark it 'done', keep times and info
    and its saved model (``artifact``; none clears an earlier one).

    Delete-then-insert in one transaction makes this idempotent: recording
    the same (or a newer) result again leaves exactly one set of rows.
    """
    check_key(key)
    typed = read_result(key, result)
    parts = point_rows(key, typed)
    fields = {**trial_result_fields(key, typed), **artifact_fields(key, artifact)}
    with store.write_session() as session:
        trial_id = _trial_id(session, key)
        session.execute(
            delete(Point).where(Point.trial_id == trial_id),
            execution_options={"synchronize_session": False},
        )
        tasks, metrics = _insert_points(session, trial_id, parts)
        session.execute(
            update(Trial)
            .where(Trial.id == trial_id)
            .values(status="done", error=None, finished_at=_utcnow(), **fields,
                    precision=None if typed.precision is None else str(typed.precision))
        )
        store.ensure_flat_view(session.connection(), tasks, metrics)


def _epoch_row(key: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``epochs`` row (without trial_id) of one epoch record: its ``stage``, ``epoch``,
    ``val_score`` and ``elapsed_s``, and the whole record as JSON."""
    where = f"epoch of trial {key}"
    if not isinstance(record, Mapping):
        raise StoreError(f"{where}: expected a mapping, got {type(record).__name__}")
    stage, epoch = record.get("stage"), record.get("epoch")
    if not isinstance(stage, str) or not stage or len(stage) > 32:
        raise StoreError(f"{where}: stage must be a name of 1 to 32 characters, got {stage!r}")
    number = to_int(epoch, f"{where}: epoch")
    if number is None or number < 0:
        raise StoreError(f"{where}: epoch must be a whole number >= 0, got {epoch!r}")
    return {"stage": stage, "epoch": number,
            "val_score": to_float(record.get("val_score"), f"{where}: val_score"),
            "elapsed_s": to_float(record.get("elapsed_s"), f"{where}: elapsed_s"),
            "record": json_safe(dict(record)), "recorded_at": _utcnow()}


def record_epochs(store: "Store", key: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Store finished epochs of a running trial (live progress), in one transaction: each
    record names its ``stage`` and ``epoch`` and may hold ``val_score``, ``elapsed_s``
    (seconds since the attempt started), losses and the method state.

    Idempotent on (trial, stage, epoch): writing an epoch again replaces its row.
    """
    check_key(key)
    # one row per (stage, epoch), the last given
    rows = list({(r["stage"], r["epoch"]): r
                 for r in (_epoch_row(key, record) for record in records)}.values())
    if not rows:
        return
    with store.write_session() as session:
        trial_id = _trial_id(session, key)
        for row in rows:
            session.execute(delete(Epoch).where(
                Epoch.trial_id == trial_id, Epoch.stage == row["stage"],
                Epoch.epoch == row["epoch"]))
        session.execute(insert(Epoch), [{"trial_id": trial_id, **row} for row in rows])


def record_epoch(
    store: "Store", key: str, stage: str, epoch: int, *, val_score: float | None = None,
    elapsed_s: float | None = None, record: Mapping[str, Any] | None = None,
) -> None:
    """Store one finished epoch (see record_epochs); ``record`` holds the rest of it."""
    given = {"val_score": val_score, "elapsed_s": elapsed_s}
    record_epochs(store, key, [{**(record or {}), "stage": stage, "epoch": epoch,
                                **{k: v for k, v in given.items() if v is not None}}])


def clear_epochs(store: "Store", key: str) -> None:
    """Forget a trial's stored epochs: a new attempt (a retry, a resumed sweep) starts
    its progress afresh, so no epoch of an earlier attempt passes for its latest."""
    with store.write_session() as session:
        trial_id = _trial_id(session, key)
        session.execute(delete(Epoch).where(Epoch.trial_id == trial_id))
