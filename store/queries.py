"""Reading the store into pandas DataFrames for front, trials, report, plot, export.

Points are loaded with two set-based queries (points joined to trials, and
the matching point_tasks) and pivoted in pandas, so the cost is a few
vectorised passes however many points there are; no per-row Python.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, select

from store.payload import METRIC_FLOATS, METRIC_INTS
from store.schema import Point, PointTask, Sweep, SweepTrial, Trial

if TYPE_CHECKING:
    from store.db import Store

_POINT_VALUES = [
    "sparsity", *METRIC_FLOATS, *METRIC_INTS, "n_params", "time_train_s", "time_eval_s"
]
POINT_COLUMNS = [
    "point_id", "trial", "method", "dataset", "arch", "seed", "split", "ray_index",
    "preference", "params", *_POINT_VALUES,
]  # fmt: skip
TRIAL_COLUMNS = [
    "key", "sweeps", "method", "dataset", "arch", "seed", "preference",
    "status", "error", "time_train_s", "sr", "cr", "ps",
]  # fmt: skip

_FLOAT_COLUMNS = ["sparsity", *METRIC_FLOATS, "time_train_s", "time_eval_s"]
_INT_COLUMNS = [*METRIC_INTS, "n_params"]


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


def _frame(store: "Store", stmt: Select) -> pd.DataFrame:
    """Run ``stmt`` and return its rows as a DataFrame with the statement's columns."""
    with store.read_connection() as connection:
        result = connection.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _points_stmt(flt: PointFilter) -> Select:
    """Points joined to their trial's identifying columns."""
    point_cols = [getattr(Point, name) for name in _POINT_VALUES]
    stmt = select(
        Point.id.label("point_id"),
        Trial.key.label("trial"),
        Trial.method,
        Trial.dataset,
        Trial.arch,
        Trial.seed,
        Point.split,
        Point.ray_index,
        Point.preference,
        Trial.params,
        *point_cols,
    ).join_from(Point, Trial, Point.trial_id == Trial.id)
    return _point_filtered(stmt, flt).order_by(Point.id)


def _tasks_stmt(flt: PointFilter) -> Select:
    """Per-task rows of exactly the points that _points_stmt selects."""
    stmt = (
        select(PointTask.point_id, PointTask.task, PointTask.loss, PointTask.acc)
        .join(Point, Point.id == PointTask.point_id)
        .join(Trial, Trial.id == Point.trial_id)
    )
    return _point_filtered(stmt, flt)


def _coerce_numeric(df: pd.DataFrame) -> pd.DataFrame:
    """Give metric columns numeric dtypes even when every value is NULL."""
    for name in _FLOAT_COLUMNS:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in [*_INT_COLUMNS, "seed", "ray_index"]:
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("Int64")
    return df


def _task_wide(tasks: pd.DataFrame) -> pd.DataFrame:
    """Pivot long per-task rows to ``loss.<t>``, ``acc.<t>``, ``mcr.<t>`` columns."""
    if tasks.empty:
        return pd.DataFrame(index=pd.Index([], name="point_id"))
    tasks = tasks.astype({"loss": "float64", "acc": "float64"})
    wide = tasks.pivot(index="point_id", columns="task", values=["loss", "acc"])
    names = sorted(tasks["task"].unique())
    out = pd.DataFrame(index=wide.index)
    for task in names:
        out[f"loss.{task}"] = wide[("loss", task)]
    for task in names:
        out[f"acc.{task}"] = wide[("acc", task)]
    for task in names:
        out[f"mcr.{task}"] = 1.0 - wide[("acc", task)]
    return out


def load_points(store: "Store", flt: PointFilter | None = None) -> pd.DataFrame:
    """One wide row per point matching ``flt`` (see POINT_COLUMNS plus task columns).

    Task columns come sorted by kind then task name: all ``loss.*``, then
    ``acc.*``, then ``mcr.*`` (= 1 - acc; NaN where accuracy is unknown).
    """
    flt = flt or PointFilter()
    points = _coerce_numeric(_frame(store, _points_stmt(flt)))
    points = points.reindex(columns=POINT_COLUMNS)
    wide = _task_wide(_frame(store, _tasks_stmt(flt)))
    return points.join(wide, on="point_id").reset_index(drop=True)


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
    return links.sort_values("name").groupby("key")["name"].agg(list)


def _trial_sparsity(store: "Store", flt: PointFilter) -> pd.DataFrame:
    """SR/CR/PS of each trial's first point (ray 0) on the filter's split."""
    split = flt.split if flt.split is not None else "test"
    stmt = _trial_filtered(
        select(Trial.key, Point.sr, Point.cr, Point.ps)
        .join_from(Trial, Point, Point.trial_id == Trial.id)
        .where(_match(Point.split, split), Point.ray_index == 0),
        flt,
    )
    return _frame(store, stmt).drop_duplicates("key").set_index("key")


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
    trials["sweeps"] = trials["key"].map(_trial_sweeps(store, flt))
    trials["sweeps"] = [s if isinstance(s, list) else [] for s in trials["sweeps"]]
    trials = trials.join(_trial_sparsity(store, flt), on="key")
    trials = trials.reindex(columns=TRIAL_COLUMNS)
    for name in ("time_train_s", "sr", "cr", "ps"):
        trials[name] = pd.to_numeric(trials[name], errors="coerce").astype(np.float64)
    return trials.reset_index(drop=True)
