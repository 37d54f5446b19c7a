"""Reading the store into pandas DataFrames for front, trials, report, plot, export.

load_points runs three set-based queries: the matching points (joined to
trials for filtering, and to point_metrics once per standard metric, so those
come as columns as they did when they were point columns), those points'
trials (once per trial, so the params JSON is decoded once per trial, not once
per point) and their point_tasks, then pivots and aligns them in pandas; a
fourth fetches other metrics when the store has any. Columns are built as typed
numpy arrays straight from the fetched rows; there is no per-point query and no
per-point JSON decoding, which keeps 1e5 points around a second on SQLite.
"""

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, Text, cast, select

from store.schema import (
    INT_METRICS, POINT_METRICS, POINT_TIMES, Point, PointMetric, PointTask, Sweep, SweepTrial,
    Trial, join_metrics, known_metrics, metric_aliases,
)

if TYPE_CHECKING:
    from store.db import Store

_TRIAL_FIELDS = ["trial", "method", "dataset", "arch", "seed", "params"]
_TIME_VALUES = list(POINT_TIMES)
POINT_COLUMNS = [
    "point_id", "trial", "method", "dataset", "arch", "seed", "split", "ray_index",
    "preference", "params", *POINT_METRICS, *_TIME_VALUES,
]  # fmt: skip
TRIAL_COLUMNS = [
    "key", "sweeps", "method", "dataset", "arch", "seed", "preference",
    "status", "error", "time_train_s", "sr", "cr", "ps",
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
    columns = _fetch_columns(store, stmt)
    return pd.DataFrame({name: list(values) for name, values in columns.items()})


def _floats(values: tuple) -> np.ndarray:
    """float64 array; NULL becomes NaN."""
    return np.array(values, dtype=np.float64)


def _decode_json_texts(values: tuple) -> pd.Series:
    """Decode JSON texts, each distinct text once (identical values share one object)."""
    texts = pd.Series(values, dtype=object)
    decoded = {text: json.loads(text) for text in texts.dropna().unique()}
    out = texts.map(decoded)
    out[texts.isna()] = None
    return out


def _points_stmt(flt: PointFilter) -> Select:
    """The matching points with their POINT_METRICS; preference comes as JSON text to be
    decoded in bulk."""
    metrics = metric_aliases(list(POINT_METRICS))
    stmt = select(
        Point.id.label("point_id"),
        Point.trial_id,
        Point.split,
        Point.ray_index,
        cast(Point.preference, Text).label("preference"),
        *[alias.value.label(name) for name, alias in metrics.items()],
        *[getattr(Point, n) for n in _TIME_VALUES],
    ).join_from(Point, Trial, Point.trial_id == Trial.id)
    return _point_filtered(join_metrics(stmt, metrics), flt).order_by(Point.id)


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


def _tasks_stmt(flt: PointFilter) -> Select:
    """Per-task rows of exactly the points that _points_stmt selects."""
    stmt = (
        select(PointTask.point_id, PointTask.task, PointTask.loss, PointTask.acc)
        .join(Point, Point.id == PointTask.point_id)
        .join(Trial, Trial.id == Point.trial_id)
    )
    return _point_filtered(stmt, flt)


def _extra_metrics_stmt(flt: PointFilter, names: list[str]) -> Select:
    """Rows of the metrics ``names`` of exactly the points that _points_stmt selects."""
    stmt = (
        select(PointMetric.point_id, PointMetric.name, PointMetric.value)
        .join(Point, Point.id == PointMetric.point_id)
        .join(Trial, Trial.id == Point.trial_id)
        .where(PointMetric.name.in_(names))
    )
    return _point_filtered(stmt, flt)


def _extra_metric_columns(cols: dict[str, tuple], point_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Pivot long metric rows onto ``point_ids`` (ascending): one float64 column per name
    found, sorted by name, NaN where a point has none. Rows of points not in
    ``point_ids`` (written between the queries) are ignored."""
    ids = np.array(cols["point_id"], dtype=np.int64)
    rows = np.searchsorted(point_ids, ids)
    known = rows < len(point_ids)
    known[known] = point_ids[rows[known]] == ids[known]
    codes, names = pd.factorize(np.array(cols["name"], dtype=object)[known], sort=True)
    grid = np.full((len(names), len(point_ids)), np.nan)
    grid[codes, rows[known]] = _floats(cols["value"])[known]
    return dict(zip(names, grid, strict=True))


def _points_frame(cols: dict[str, tuple], trials: pd.DataFrame) -> pd.DataFrame:
    """Typed point columns with their trial's columns aligned by trial id."""
    trial_ids = np.array(cols["trial_id"], dtype=np.int64)
    per_point = trials.set_index("id").reindex(trial_ids)
    data: dict[str, Any] = {"point_id": np.array(cols["point_id"], dtype=np.int64)}
    for name in _TRIAL_FIELDS[:-1]:
        data[name] = per_point[name].to_numpy()
    data["seed"] = pd.array(per_point["seed"].to_numpy(), dtype="Int64")
    data["split"] = np.array(cols["split"], dtype=object)
    data["ray_index"] = np.array(cols["ray_index"], dtype=np.int64)
    data["preference"] = _decode_json_texts(cols["preference"]).to_numpy()
    data["params"] = per_point["params"].to_numpy()
    for name in POINT_METRICS:  # stored as REAL: counts become Int64 again
        values = _floats(cols[name])
        data[name] = pd.array(values, dtype="Int64") if name in INT_METRICS else values
    for name in _TIME_VALUES:
        data[name] = _floats(cols[name])
    return pd.DataFrame(data, columns=POINT_COLUMNS)


def _task_wide(cols: dict[str, tuple]) -> pd.DataFrame:
    """Pivot long per-task rows to ``loss.<t>``, ``acc.<t>``, ``mcr.<t>`` columns."""
    tasks = pd.DataFrame(
        {
            "point_id": np.array(cols["point_id"], dtype=np.int64),
            "task": np.array(cols["task"], dtype=object),
            "loss": _floats(cols["loss"]),
            "acc": _floats(cols["acc"]),
        }
    )
    names = sorted(tasks["task"].unique())
    wide = tasks.pivot(index="point_id", columns="task", values=["loss", "acc"])
    out = {f"loss.{t}": wide[("loss", t)] for t in names}
    out |= {f"acc.{t}": wide[("acc", t)] for t in names}
    out |= {f"mcr.{t}": 1.0 - wide[("acc", t)] for t in names}
    return pd.DataFrame(out, index=wide.index)


def load_points(store: "Store", flt: PointFilter | None = None) -> pd.DataFrame:
    """One wide row per point matching ``flt``: POINT_COLUMNS, then task columns, then
    any metric beyond POINT_METRICS (sorted by name).

    Task columns come grouped by kind, tasks sorted by name: all ``loss.*``,
    then ``acc.*``, then ``mcr.*`` (= 1 - acc; NaN where accuracy is NULL).
    Rows are in point-id (insertion) order; NULL metrics are NaN / <NA>.
    """
    flt = flt or PointFilter()
    trials = _frame(store, _trials_stmt(flt))
    if trials.empty:
        trials = pd.DataFrame(columns=["id", *_TRIAL_FIELDS])
    points = _points_frame(_fetch_columns(store, _points_stmt(flt)), trials)
    wide = _task_wide(_fetch_columns(store, _tasks_stmt(flt)))
    points = points.join(wide, on="point_id")
    with store.read_connection() as connection:
        names = known_metrics(connection)
    if names:
        extra = _fetch_columns(store, _extra_metrics_stmt(flt, names))
        points = points.assign(**_extra_metric_columns(extra, points["point_id"].to_numpy()))
    return points


def task_names(df: pd.DataFrame) -> list[str]:
    """Task names present in a load_points frame, in column order."""
    return [c[len("loss.") :] for c in df.columns if c.startswith("loss.")]


def _trial_sweeps(store: "Store", flt: PointFilter) -> pd.Series:
    """Sorted sweep names per trial key, for the trials matching ``flt``."""
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
    """Trials matching ``flt`` with sweeps, status, error, train time and SR/CR/PS.

    SR/CR/PS are taken from each trial's ray-0 point on ``flt.split`` (test by
    default) and are NaN for trials without such a point (pending, failed).
    """
    flt = flt or PointFilter()
    stmt = _trial_filtered(
        select(
            Trial.key, Trial.method, Trial.dataset, Trial.arch, Trial.seed,
            Trial.preference, Trial.status, Trial.error, Trial.time_train_s,
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
    return trials.reindex(columns=TRIAL_COLUMNS)
