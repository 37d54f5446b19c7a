"""Reading the store into numpy columns (front) and pandas DataFrames (trials, report,
plot, export).

load_points runs two set-based queries over the matching points, aligned by point id:
one all-numeric row per point (the per-task rows of point_tasks and the metrics of
point_metrics come as columns, each a key lookup, and only the metrics asked for are
joined), fetched as the driver's tuples straight into one float64 array; and their split
and preference text (``details``). Each trial's fields are read once and spread by index.
There is no per-point query, no per-point Python object beyond the fetched tuples, no
pivot. A front loads without details and reads them, with the metrics it shows, for its
own rows only (``point_details``). ``load_point_columns`` and ``point_detail_columns``
give the same as numpy arrays without importing pandas (what ``paretoctl front`` reads).

latest_epochs and trial_epochs read the ``epochs`` table (live progress of running
trials); live_points turns running trials' latest epochs into provisional points.
"""
from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Select, Text, and_, case, cast, select
from sqlalchemy.orm import aliased

from analysis.columns import Indexed
from store.db import flat_view_names
from store.schema import (
    INT_METRICS, POINT_METRICS, POINT_TIMES, Epoch, Point, PointMetric, PointTask, Sweep,
    SweepTrial, Trial, join_metrics, known_metrics, known_tasks, metric_aliases,
)

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from store.db import Store

_TRIAL_FIELDS = ["trial", "method", "dataset", "arch", "seed", "params"]
_TIME_VALUES = list(POINT_TIMES)
POINT_COLUMNS = [
    "point_id", "trial", "method", "dataset", "arch", "seed", "split", "ray_index",
    "preference", "params", *POINT_METRICS, *_TIME_VALUES,
]  # fmt: skip
TRIAL_COLUMNS = [
    "key", "sweeps", "method", "dataset", "arch", "seed", "preference",
    "status", "error", "time_train_s", "sr", "cr", "ps", "node", "attempts", "pack",
    "precision",
]  # fmt: skip


@dataclass
class PointFilter:
    """Which points to load; None means "any". Values may also be lists (IN).

    ``sweep`` selects trials linked to the named sweep; ``split`` defaults to
    the test split because fronts are reported on test data.
    """

    dataset: str | list[str] | None = None
    sweep: str | list[str] | None = None
    method: str | list[str] | None = None
    arch: str | list[str] | None = None
    split: str | list[str] | None = "test"
    seed: int | list[int] | None = None


def _match(column: Any, value: Any) -> Any:
    """Equality for a scalar filter value, IN for a list or tuple."""
    if isinstance(value, list | tuple):
        return column.in_(list(value))
    return column == value


def _trial_filtered(stmt: Select, flt: PointFilter) -> Select:
    """Apply the trial-level filters (all bound parameters) to ``stmt``."""
    for column, value in (
        (Trial.dataset, flt.dataset),
        (Trial.method, flt.method),
        (Trial.arch, flt.arch),
        (Trial.seed, flt.seed),
    ):
        if value is not None:
            stmt = stmt.where(_match(column, value))
    if flt.sweep is not None:
        in_sweep = (
            select(SweepTrial.trial_id)
            .join(Sweep, Sweep.id == SweepTrial.sweep_id)
            .where(_match(Sweep.name, flt.sweep))
        )
        stmt = stmt.where(Trial.id.in_(in_sweep))
    return stmt


def _point_filtered(stmt: Select, flt: PointFilter) -> Select:
    """Trial filters plus the split filter, for statements that join points."""
    stmt = _trial_filtered(stmt, flt)
    if flt.split is not None:
        stmt = stmt.where(_match(Point.split, flt.split))
    return stmt


def _fetch_columns(store: "Store", stmt: Select) -> dict[str, tuple]:
    """Run ``stmt`` and return its result column-wise: {name: tuple of values}."""
    with store.read_connection() as connection:
        result = connection.execute(stmt)
        names, rows = list(result.keys()), result.all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return dict(zip(names, columns, strict=True))


def _frame(store: "Store", stmt: Select) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a DataFrame (object columns as fetched)."""
    import pandas as pd

    columns = _fetch_columns(store, stmt)
    return pd.DataFrame({name: list(values) for name, values in columns.items()})


def _decode_json_texts(values: Any) -> np.ndarray:
    """Decode JSON texts (None stays None), each distinct text once (identical values
    share one object), as an object array."""
    texts = list(values)
    decoded = {text: json.loads(text) for text in set(texts) if text is not None}
    decoded[None] = None
    return _objects(decoded[text] for text in texts)


def _trials_stmt(flt: PointFilter) -> Select:
    """Identifying columns and params of the trials matching ``flt``."""
    stmt = select(
        Trial.id,
        Trial.key.label("trial"),
        Trial.method,
        Trial.dataset,
        Trial.arch,
        Trial.seed,
        Trial.params,
    )
    return _trial_filtered(stmt, flt)


def _stored_names(connection: "Connection") -> tuple[list[str], list[str]]:
    """Task names and extra metric names a point may have, sorted: the columns of
    ``points_flat``, which every write keeps covering them (a catalogue lookup, where
    scanning the long tables costs a second per 1e6 points); the scans without the view."""
    tasks, metrics = flat_view_names(connection)
    if not (tasks or metrics):
        return known_tasks(connection), known_metrics(connection)
    return sorted(tasks), sorted(metrics)


TASK_VALUES = ("loss", "acc")  # what point_tasks holds per task (mcr is derived from acc)
_MASK_BITS = 52  # tasks per presence mask: its sum stays exact in the float64 array


def _presence_masks(aliases: list[Any]) -> list[Any]:
    """Which of the tasks' rows a point has, as sums of powers of two (bit i: the i-th
    task of the group), one column per _MASK_BITS tasks instead of one per task."""
    masks = []
    for start in range(0, len(aliases), _MASK_BITS):
        group = aliases[start:start + _MASK_BITS]
        bits = [case((a.point_id.is_(None), 0), else_=1 << i) for i, a in enumerate(group)]
        masks.append(functools.reduce(operator.add, bits))
    return masks


def _numbers_stmt(flt: PointFilter, tasks: list[str], point_columns: list[str],
                  metrics: list[str], task_values: tuple[str, ...] = TASK_VALUES) -> Select:
    """One all-numeric row per matching point: id, trial id, the ``point_columns`` (ray
    index, times), then which tasks it has (``_presence_masks``), the ``task_values`` of
    each task and one value per metric, each a key lookup in the long tables (only the
    tasks and metrics asked for are joined). Every column fetched costs time per point.
    Unordered: sorting a million ids in numpy is cheaper than SQL's sort."""
    per_task = {task: aliased(PointTask, name=f"pt_{task}") for task in tasks}
    per_metric = metric_aliases(metrics)
    stmt = select(
        Point.id, Point.trial_id, *[getattr(Point, n) for n in point_columns],
        *_presence_masks(list(per_task.values())),
        *[getattr(a, v) for a in per_task.values() for v in task_values],
        *[a.value for a in per_metric.values()],
    ).join_from(Point, Trial, Point.trial_id == Trial.id)
    for task, alias in per_task.items():
        stmt = stmt.outerjoin(alias, and_(alias.point_id == Point.id, alias.task == task))
    return _point_filtered(join_metrics(stmt, per_metric), flt)


def _texts_stmt(flt: PointFilter) -> Select:
    """Id, split and preference (JSON text, decoded in bulk) of the matching points."""
    stmt = select(Point.id, Point.split, cast(Point.preference, Text)).join_from(
        Point, Trial, Point.trial_id == Trial.id)
    return _point_filtered(stmt, flt)


def _raw_rows(connection: "Connection", stmt: Select) -> list[tuple]:
    """The DBAPI's own row tuples (the columns need no conversion: numbers and text)."""
    return connection.execute(stmt).cursor.fetchall()


def _positions(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Index of each of ``values`` in ``known`` (-1 where absent)."""
    if not len(known):
        return np.full(len(values), -1)
    order = np.argsort(known, kind="stable")
    at = order[np.minimum(np.searchsorted(known, values, sorter=order), len(known) - 1)]
    return np.where(known[at] == values, at, -1)


def _selected(names: Iterable[str], wanted: set[str] | None) -> list[str]:
    return list(names) if wanted is None else [n for n in names if n in wanted]


def _objects(values: Iterable[Any]) -> np.ndarray:
    """A 1-D object array of ``values`` (lists and dicts stay one item each)."""
    values = list(values)
    return np.fromiter(values, dtype=object, count=len(values))


def load_point_columns(store: "Store", flt: PointFilter | None = None,
                       metrics: Iterable[str] | None = None, details: bool = True,
                       task_values: Iterable[str] = TASK_VALUES) -> dict[str, np.ndarray]:
    """``load_points``' columns as numpy arrays, without pandas: the trial's fields
    (``trial`` ... ``params``) as ``analysis.columns.Indexed`` arrays of objects,
    ``preference`` and ``split`` as objects, ``point_id`` and ``ray_index`` as int64,
    every metric (counts too) as float64 with NaN where NULL. ``task_values`` keeps the
    task columns to those of ``loss`` or ``acc`` (with its ``mcr``): a front reads what
    its objectives need, as every column fetched costs time per point."""
    flt = flt or PointFilter()
    task_values = tuple(v for v in TASK_VALUES if v in set(task_values))
    wanted = None if metrics is None else set(metrics)
    with store.read_connection() as connection:
        tasks, extra = _stored_names(connection)
        standard, extra = _selected(POINT_METRICS, wanted), _selected(extra, wanted)
        point_columns = ["ray_index"] * details + _selected(_TIME_VALUES, wanted)
        stmt = _numbers_stmt(flt, tasks, point_columns, [*standard, *extra], task_values)
        numbers = np.array(_raw_rows(connection, stmt), dtype=np.float64)
        texts = np.array(_raw_rows(connection, _texts_stmt(flt)) if details else [],
                         dtype=object).reshape(-1, 3)
        trial_rows = connection.execute(_trials_stmt(flt)).all()
    n_masks = -(-len(tasks) // _MASK_BITS)
    width = (2 + len(point_columns) + n_masks + len(task_values) * len(tasks) + len(standard)
             + len(extra))
    numbers = numbers.reshape(-1, width)
    if (np.diff(numbers[:, 0]) < 0).any():  # SQLite's scan mostly gives them in order already
        numbers = numbers[np.argsort(numbers[:, 0], kind="stable")]
    trials = {name: _objects(row[i] for row in trial_rows)
              for i, name in enumerate(["id", *_TRIAL_FIELDS])}
    # rows are aligned by point id: a point re-recorded between the queries is left out
    trial = _positions(numbers[:, 1].astype(np.int64), trials["id"].astype(np.int64))
    keep = trial >= 0
    if details:
        at = _positions(numbers[:, 0].astype(np.int64), texts[:, 0].astype(np.int64))
        keep &= at >= 0
        texts = texts[at[keep]]
    if not keep.all():
        numbers, trial = numbers[keep], trial[keep]
    columns = iter(numbers.T)
    data: dict[str, Any] = {"point_id": next(columns).astype(np.int64)}
    next(columns)  # trial id, replaced by the trial's fields
    data |= {name: Indexed(trials[name], trial) for name in _TRIAL_FIELDS}
    data |= {name: next(columns) for name in point_columns}
    if details:
        data["ray_index"] = data["ray_index"].astype(np.int64)
        data["split"] = texts[:, 1]
        data["preference"] = _decode_json_texts(texts[:, 2])
    # the tasks some matching point has: the bits set in any row's mask
    masks = [np.bitwise_or.reduce(next(columns).astype(np.int64)) for _ in range(n_masks)]
    present = [bool(masks[i // _MASK_BITS] >> (i % _MASK_BITS) & 1) for i in range(len(tasks))]
    values: dict[str, dict[str, np.ndarray]] = {"loss": {}, "acc": {}}
    for task, has in zip(tasks, present, strict=True):
        for value in task_values:
            column = next(columns)
            if has:
                values[value][task] = column
    loss, acc = values["loss"], values["acc"]
    data |= {name: next(columns) for name in standard}
    data = {c: data[c] for c in POINT_COLUMNS if c in data}
    data |= {f"loss.{t}": v for t, v in loss.items()} | {f"acc.{t}": v for t, v in acc.items()}
    data |= {f"mcr.{t}": 1.0 - v for t, v in acc.items()}
    data |= {name: next(columns) for name in extra}
    return data


def load_points(store: "Store", flt: PointFilter | None = None,
                metrics: Iterable[str] | None = None, details: bool = True) -> pd.DataFrame:
    """One wide row per point matching ``flt``: POINT_COLUMNS, then task columns, then
    any metric beyond POINT_METRICS (sorted by name).

    ``metrics`` keeps the metric columns (POINT_METRICS, the times and the others) to
    those named, which is what makes a front over many points cheap; None loads all.
    ``details=False`` leaves out ``split``, ``ray_index`` and ``preference`` (a front
    reads them for its own rows only, with ``point_details``).
    Task columns come grouped by kind, tasks sorted by name: all ``loss.*``,
    then ``acc.*``, then ``mcr.*`` (= 1 - acc; NaN where accuracy is NULL), for the
    tasks the matching points have. Rows are in point-id (insertion) order; NULL
    metrics are NaN / <NA>. Values come as numpy arrays straight from the fetched rows.
    """
    import pandas as pd

    data = load_point_columns(store, flt, metrics, details)
    data = {k: np.asarray(v) if isinstance(v, Indexed) else v for k, v in data.items()}
    data["seed"] = pd.array(data["seed"], dtype="Int64")
    return pd.DataFrame(_int_metrics(data))


def _int_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the count metrics (stored as REAL) as Int64 again."""
    import pandas as pd

    return {k: pd.array(v, dtype="Int64") if k in INT_METRICS else v for k, v in data.items()}


_DETAIL_CHUNK = 5000  # point ids per IN list (SQLite allows 32766 bound values)


def _detail_rows(store: "Store", ids: np.ndarray,
                 metrics: Iterable[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The points among ``ids`` (sorted, unique) that exist, and their ``ray_index``, the
    named metrics (float64), ``split`` and ``preference``, in that order."""
    with store.read_connection() as connection:
        _, extra = _stored_names(connection)
        names = [m for m in (*POINT_METRICS, *extra) if m in set(metrics)]
        per_metric = metric_aliases(names)
        stmt = join_metrics(select(
            Point.id, Point.ray_index, *[a.value for a in per_metric.values()],
            Point.split, cast(Point.preference, Text)), per_metric)
        rows = []
        for start in range(0, len(ids), _DETAIL_CHUNK):
            chunk = ids[start:start + _DETAIL_CHUNK]
            low, high = int(chunk[0]), int(chunk[-1])
            if high - low < 2 * len(chunk):  # dense ids (a large front): a range, no IN list
                rows += _raw_rows(connection, stmt.where(Point.id.between(low, high)))
            else:
                rows += _raw_rows(connection, stmt.where(Point.id.in_([int(i) for i in chunk])))
    table = np.array(rows, dtype=object).reshape(-1, 4 + len(names))
    table = table[np.isin(table[:, 0].astype(np.int64), ids)]  # a range brings others too
    numbers = table[:, :2 + len(names)].astype(np.float64).T
    data = {"ray_index": numbers[1].astype(np.int64)}
    data |= dict(zip(names, numbers[2:], strict=True))
    data |= {"split": table[:, -2], "preference": _decode_json_texts(table[:, -1])}
    return numbers[0].astype(np.int64), data


def point_detail_columns(store: "Store", point_ids: Iterable[int],
                         metrics: Iterable[str]) -> dict[str, np.ndarray]:
    """What ``point_details`` reads, without pandas, one row per given id in the given
    order (a point gone since: NaN and None, ``ray_index`` then float)."""
    wanted = np.asarray(list(point_ids), dtype=np.int64)
    found, data = _detail_rows(store, np.unique(wanted), metrics)
    at = _positions(wanted, found)
    if (at >= 0).all():
        return {name: column[at] for name, column in data.items()}
    at = np.where(at >= 0, at, len(found))  # the missing row appended below
    out = {}
    for name, column in data.items():
        missing = None if column.dtype == object else np.nan
        column = column.astype(float) if column.dtype.kind == "i" else column
        out[name] = np.append(column, np.array([missing], dtype=column.dtype))[at]
    return out


def point_details(store: "Store", point_ids: Iterable[int], metrics: Iterable[str]) -> pd.DataFrame:
    """``split``, ``ray_index``, ``preference`` and the named metrics (of POINT_METRICS or
    the others) of the given points, indexed by point id: what ``load_points(...,
    details=False)`` left out, read for the few rows a front shows."""
    import pandas as pd

    found, data = _detail_rows(store, np.unique(np.asarray(list(point_ids), dtype=np.int64)),
                               metrics)
    order = ["ray_index", "split", "preference"]
    data = {name: data[name] for name in [*order, *[k for k in data if k not in order]]}
    return pd.DataFrame(_int_metrics(data), index=pd.Index(found, name="point_id"))


def trial_configs(store: "Store", flt: PointFilter | None = None) -> dict[str, dict[str, Any]]:
    """The stored config of each trial matching ``flt``, by trial key (for grouping trials
    into hyper-parameter configurations)."""
    stmt = _trial_filtered(select(Trial.key, Trial.config), flt or PointFilter())
    with store.read_connection() as connection:
        return {key: config for key, config in connection.execute(stmt)}


def task_names(df: pd.DataFrame) -> list[str]:
    """Task names present in a load_points frame, in column order."""
    return [c[len("loss.") :] for c in df.columns if c.startswith("loss.")]


def _trial_sweeps(store: "Store", flt: PointFilter) -> pd.Series:
    """Sorted sweep names per trial key, for the trials matching ``flt``."""
    import pandas as pd

    stmt = _trial_filtered(
        select(Trial.key, Sweep.name)
        .join_from(Trial, SweepTrial, SweepTrial.trial_id == Trial.id)
        .join(Sweep, Sweep.id == SweepTrial.sweep_id),
        flt,
    )
    links = _frame(store, stmt)
    if links.empty:
        return pd.Series(dtype=object)
    return links.sort_values("name").groupby("key")["name"].agg(list)


def _trial_sparsity(store: "Store", flt: PointFilter) -> pd.DataFrame:
    """SR/CR/PS of each trial's first point (ray 0) on the filter's split."""
    import pandas as pd

    split = flt.split if flt.split is not None else "test"
    metrics = metric_aliases(["sr", "cr", "ps"])
    stmt = _trial_filtered(
        join_metrics(
            select(Trial.key, *[alias.value.label(name) for name, alias in metrics.items()])
            .join_from(Trial, Point, Point.trial_id == Trial.id), metrics)
        .where(_match(Point.split, split), Point.ray_index == 0),
        flt,
    ).order_by(Point.id)
    sparsity = _frame(store, stmt)
    if sparsity.empty:
        return pd.DataFrame(columns=list(metrics), index=pd.Index([], name="key"))
    return sparsity.drop_duplicates("key").set_index("key")


def list_trials(store: "Store", flt: PointFilter | None = None) -> pd.DataFrame:
    """Trials matching ``flt`` with sweeps, status, error, train time, SR/CR/PS and where
    and how each ran: node, attempts (Int64), pack (its first member's key), precision.

    SR/CR/PS are taken from each trial's ray-0 point on ``flt.split`` (test by
    default) and are NaN for trials without such a point (pending, failed); the run
    columns are None (attempts <NA>) where not recorded.
    """
    import pandas as pd

    flt = flt or PointFilter()
    stmt = _trial_filtered(
        select(
            Trial.key, Trial.method, Trial.dataset, Trial.arch, Trial.seed,
            Trial.preference, Trial.status, Trial.error, Trial.time_train_s,
            Trial.node, Trial.attempts, Trial.pack, Trial.precision,
        ),
        flt,
    ).order_by(Trial.id)  # fmt: skip
    trials = _frame(store, stmt)
    if trials.empty:
        return pd.DataFrame(columns=TRIAL_COLUMNS)
    sweeps = trials["key"].map(_trial_sweeps(store, flt))
    trials["sweeps"] = [names if isinstance(names, list) else [] for names in sweeps]
    trials = trials.join(_trial_sparsity(store, flt), on="key")
    for name in ("time_train_s", "sr", "cr", "ps"):
        trials[name] = pd.to_numeric(trials[name], errors="coerce").astype(np.float64)
    trials["attempts"] = pd.array(trials["attempts"].tolist(), dtype="Int64")
    return trials.reindex(columns=TRIAL_COLUMNS)


EPOCH_COLUMNS = ["key", "stage", "epoch", "stage_epochs", "val_score", "elapsed_s", "record",
                 "recorded_at"]


def _epoch_frame(store: "Store", stmt: Select) -> pd.DataFrame:
    """Epoch rows with ``stage_epochs`` (the stage's length, from the record) as a column."""
    import pandas as pd

    epochs = _frame(store, stmt)
    if epochs.empty:
        return pd.DataFrame(columns=[*stmt.selected_columns.keys(), "stage_epochs"])
    epochs["record"] = [r if isinstance(r, dict) else {} for r in epochs["record"]]
    epochs["stage_epochs"] = pd.array([r.get("stage_epochs") for r in epochs["record"]],
                                      dtype="Int64")
    epochs["val_score"] = np.array(tuple(epochs["val_score"]), dtype=np.float64)  # NULL: NaN
    epochs["elapsed_s"] = np.array(tuple(epochs["elapsed_s"]), dtype=np.float64)
    return epochs


def trial_epochs(store: "Store", key: str) -> pd.DataFrame:
    """Every stored epoch of the trial ``key`` in the order they were recorded
    (EPOCH_COLUMNS); empty for an unknown key or a trial that stored none."""
    stmt = (select(Trial.key, Epoch.stage, Epoch.epoch, Epoch.val_score, Epoch.elapsed_s,
                   Epoch.record, Epoch.recorded_at)
            .join_from(Epoch, Trial, Epoch.trial_id == Trial.id)
            .where(Trial.key == key)
            .order_by(Epoch.recorded_at, Epoch.epoch))
    return _epoch_frame(store, stmt).reindex(columns=EPOCH_COLUMNS)


def latest_epochs(store: "Store", flt: PointFilter | None = None,
                  status: str | None = "running") -> pd.DataFrame:
    """The last recorded epoch of each trial matching ``flt`` whose status is ``status``
    (None: any), one row per trial: EPOCH_COLUMNS plus the trial's method, dataset,
    arch, seed, preference, params and status. Trials without a stored epoch are absent."""
    stmt = select(
        Trial.key, Trial.method, Trial.dataset, Trial.arch, Trial.seed, Trial.preference,
        Trial.params, Trial.status, Epoch.stage, Epoch.epoch, Epoch.val_score,
        Epoch.elapsed_s, Epoch.record, Epoch.recorded_at,
    ).join_from(Epoch, Trial, Epoch.trial_id == Trial.id)
    if status is not None:
        stmt = stmt.where(Trial.status == status)
    stmt = _trial_filtered(stmt, flt or PointFilter()).order_by(Epoch.recorded_at, Epoch.epoch)
    epochs = _epoch_frame(store, stmt)
    return epochs.drop_duplicates("key", keep="last").reset_index(drop=True)


def live_points(store: "Store", flt: PointFilter | None = None) -> pd.DataFrame:
    """One provisional validation point per running trial matching ``flt``: its latest
    epoch's per-task validation loss and accuracy (``val_loss``/``val_acc`` of the
    record) as load_points columns, plus ``stage`` and ``epoch``. Metrics an epoch does
    not have (SR, CR, ...; per-task scores of a front learner) are NaN."""
    import pandas as pd

    epochs = latest_epochs(store, flt)
    rows = []
    for epoch in epochs.to_dict("records"):
        record = epoch["record"]
        losses, accs = record.get("val_loss") or {}, record.get("val_acc") or {}
        row: dict[str, Any] = {name: epoch[name] for name in _TRIAL_FIELDS[1:]}
        row |= {"trial": epoch["key"], "split": "val", "ray_index": 0,
                "preference": epoch["preference"], "stage": epoch["stage"],
                "epoch": int(epoch["epoch"])}
        for task in sorted(losses):
            acc = accs.get(task)
            row |= {f"loss.{task}": losses[task], f"acc.{task}": acc,
                    f"mcr.{task}": None if acc is None else 1.0 - acc}
        rows.append(row)
    live = pd.DataFrame(rows)
    for name in POINT_COLUMNS:
        if name not in live.columns:
            live[name] = np.nan
    tasks = sorted({c for c in live.columns if c.startswith(("loss.", "acc.", "mcr."))},
                   key=lambda c: (("loss.", "acc.", "mcr.").index(c[:c.index(".") + 1]), c))
    live = live.reindex(columns=[*POINT_COLUMNS, *tasks, "stage", "epoch"])
    for name in tasks:
        live[name] = pd.to_numeric(live[name], errors="coerce").astype(np.float64)
    return live
