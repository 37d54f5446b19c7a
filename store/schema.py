"""ORM tables of the results store and the derived ``points_flat`` SQL view.

Per-task numbers live in the long table ``point_tasks`` so that a dataset
with any number of tasks fits without schema changes. Because long tables
are awkward to query by hand, ``points_flat`` pivots them back into one
column per task (``loss_<task>``, ``acc_<task>``, ``mcr_<task>``); the view
is regenerated whenever a write brings a task name it does not know yet.
All types are generic SQLAlchemy types so the same schema runs on SQLite
and PostgreSQL.
"""

import re
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    case,
    func,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store.errors import StoreError

SCHEMA_VERSION = 2
"""Bumped on every incompatible schema change; stores newer than this are refused, older
ones are upgraded when opened for writing (store/migrate.py). 2: trial status
'interrupted', table sweep_leases."""

FLAT_VIEW = "points_flat"
# interrupted: stopped by SIGINT/SIGTERM while it ran; run again like a failed trial
TRIAL_STATUSES = ("pending", "running", "done", "failed", "interrupted")
TRIAL_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in TRIAL_STATUSES) + ")"
SPLITS = ("train", "val", "test")

# Task names become SQL column names of the view, so they must be plain
# identifiers; 50 characters keeps ``loss_<task>`` under PostgreSQL's 63.
_TASK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TASK_NAME_MAX = 50

# none_as_null: a Python None must be SQL NULL (e.g. "no preference"), not
# the JSON text 'null', so that `preference IS NULL` works in plain SQL.
_JSON = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base mapping Python annotations to portable column types."""

    type_annotation_map = {
        dict[str, Any]: _JSON,
        list[Any]: _JSON,
        datetime: DateTime(timezone=True),
        float: Float,
        str: Text,
    }


class Meta(Base):
    """Key/value facts about the store itself (``schema_version``)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str]


class Sweep(Base):
    """A named sweep file as last registered; trials are linked via sweep_trials."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec_yaml: Mapped[str]
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paretoctl_version: Mapped[str | None] = mapped_column(String(64))
    versions: Mapped[dict[str, Any] | None]


class Trial(Base):
    """One training run, identified by the stable hash ``key`` of its config.

    A key is stored once and shared by every sweep that expands to it, which
    is what makes ``--resume`` and overlapping sweeps skip finished work.
    """

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(16), unique=True)
    method: Mapped[str] = mapped_column(String(100))
    dataset: Mapped[str] = mapped_column(String(100))
    arch: Mapped[str] = mapped_column(String(100))
    seed: Mapped[int]
    preference: Mapped[list[Any] | None]
    params: Mapped[dict[str, Any]]
    config: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    time_train_s: Mapped[float | None]
    time_phase1_s: Mapped[float | None]
    time_phase2_s: Mapped[float | None]
    device: Mapped[str | None] = mapped_column(String(64))
    versions: Mapped[dict[str, Any] | None]
    info: Mapped[dict[str, Any] | None]

    points: Mapped[list["Point"]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint(TRIAL_STATUS_CHECK, name="ck_trials_status"),
        Index("ix_trials_dataset_method_arch", "dataset", "method", "arch"),
    )


class SweepLease(Base):
    """Which run holds a sweep now (at most one: see store/lease.py), until when.

    Keyed by sweep name, not id: the lease is taken before the sweep is registered."""

    __tablename__ = "sweep_leases"

    sweep: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SweepTrial(Base):
    """Many-to-many link: a trial can belong to several sweeps."""

    __tablename__ = "sweep_trials"

    sweep_id: Mapped[int] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True
    )
    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_sweep_trials_trial_id", "trial_id"),)


class Point(Base):
    """One evaluated point of a trial: a split, and for front learners a test ray.

    ``sr/cr/ps`` are counted over rows (neuron groups) as in the paper; the
    ``*_scalar`` columns are the same rates over individual scalar weights.
    """

    __tablename__ = "points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(8))
    ray_index: Mapped[int] = mapped_column(default=0)
    preference: Mapped[list[Any] | None]
    sparsity: Mapped[float | None]
    sr: Mapped[float | None]
    cr: Mapped[float | None]
    ps: Mapped[float | None]
    sr_scalar: Mapped[float | None]
    cr_scalar: Mapped[float | None]
    ps_scalar: Mapped[float | None]
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    rows_zero: Mapped[int | None] = mapped_column(BigInteger)
    rows_unique: Mapped[int | None] = mapped_column(BigInteger)
    weights_total: Mapped[int | None] = mapped_column(BigInteger)
    weights_zero: Mapped[int | None] = mapped_column(BigInteger)
    weights_unique: Mapped[int | None] = mapped_column(BigInteger)
    n_params: Mapped[int | None] = mapped_column(BigInteger)
    time_train_s: Mapped[float | None]
    time_eval_s: Mapped[float | None]

    trial: Mapped[Trial] = relationship(back_populates="points")
    tasks: Mapped[list["PointTask"]] = relationship(
        back_populates="point", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("trial_id", "split", "ray_index", name="uq_points_trial_split_ray"),
        CheckConstraint("split IN ('train', 'val', 'test')", name="ck_points_split"),
        Index("ix_points_trial_id", "trial_id"),
    )


class PointTask(Base):
    """Per-task loss and accuracy of a point (accuracy NULL for regression)."""

    __tablename__ = "point_tasks"

    point_id: Mapped[int] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), primary_key=True
    )
    task: Mapped[str] = mapped_column(String(_TASK_NAME_MAX), primary_key=True)
    loss: Mapped[float | None]
    acc: Mapped[float | None]

    point: Mapped[Point] = relationship(back_populates="tasks")

    __table_args__ = (Index("ix_point_tasks_task", "task"),)


def validate_task_name(name: object) -> str:
    """Return ``name`` if it is a safe view-column identifier, else raise StoreError.

    The view embeds task names as column names and literals, so this check is
    what keeps that DDL free of anything but plain identifiers.
    """
    if not isinstance(name, str) or len(name) > _TASK_NAME_MAX or not _TASK_NAME_RE.fullmatch(name):
        raise StoreError(
            f"invalid task name {name!r}: use lowercase letters, digits and '_', "
            f"starting with a letter, at most {_TASK_NAME_MAX} characters"
        )
    return name


def known_tasks(connection: Connection) -> list[str]:
    """All task names present in point_tasks, sorted (the view's task columns)."""
    stmt = select(PointTask.task).distinct().order_by(PointTask.task)
    return [validate_task_name(t) for t in connection.execute(stmt).scalars()]


def _task_pivot(tasks: list[str]):
    """Subquery with one row per point and loss/acc columns per task."""
    columns = [PointTask.point_id]
    for task in tasks:
        is_task = PointTask.task == task
        columns.append(func.max(case((is_task, PointTask.loss))).label(f"loss_{task}"))
        columns.append(func.max(case((is_task, PointTask.acc))).label(f"acc_{task}"))
    return select(*columns).group_by(PointTask.point_id).subquery("pt")


_POINT_VIEW_COLUMNS = (
    "split", "ray_index", "preference", "sparsity", "sr", "cr", "ps",
    "sr_scalar", "cr_scalar", "ps_scalar", "rows_total", "rows_zero", "rows_unique",
    "weights_total", "weights_zero", "weights_unique", "n_params",
    "time_train_s", "time_eval_s",
)  # fmt: skip


def flat_view_select(tasks: list[str]) -> Select:
    """The SELECT behind ``points_flat`` for the given task names.

    Pivoting in a grouped subquery (rather than grouping the outer join)
    keeps the outer SELECT free of GROUP BY, which PostgreSQL would reject
    for the JSON ``preference`` column.
    """
    pt = _task_pivot(tasks)
    per_task = []
    for task in tasks:
        acc = pt.c[f"acc_{task}"]
        per_task += [pt.c[f"loss_{task}"], acc, (1 - acc).label(f"mcr_{task}")]
    point_cols = [getattr(Point, name) for name in _POINT_VIEW_COLUMNS]
    return (
        select(
            Point.id.label("point_id"),
            Trial.key.label("trial"),
            Trial.method,
            Trial.dataset,
            Trial.arch,
            Trial.seed,
            Trial.status,
            *point_cols,
            *per_task,
        )
        .join_from(Point, Trial, Point.trial_id == Trial.id)
        .outerjoin(pt, pt.c.point_id == Point.id)
    )


def refresh_flat_view(connection: Connection) -> list[str]:
    """Drop and recreate ``points_flat`` with a column set for every known task.

    The DROP comes first so that on PostgreSQL it takes the view's lock before
    the task names are read: a concurrent refresh then waits and sees the
    other writer's committed tasks. Task names are validated identifiers and
    are rendered by SQLAlchemy's literal compiler, never by string formatting.
    Returns the task names the new view covers.
    """
    connection.execute(DDL(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
    tasks = known_tasks(connection)
    compiled = flat_view_select(tasks).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    connection.execute(DDL(f"CREATE VIEW {FLAT_VIEW} AS {compiled}"))
    return tasks
