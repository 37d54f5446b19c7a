"""ORM tables of the results store (at the head revision of store/migrations) and the
derived ``points_flat`` SQL view.

Per-task numbers live in the long table ``point_tasks`` and model-level metrics (SR, CR,
PS, the row and weight counts, the sparsity value, parameter counts, any other named
metric) in the long table ``point_metrics``, so that any number of tasks or metrics fits
without schema changes. Because long tables are awkward to query by hand, ``points_flat``
pivots both back into columns (``loss_<task>``, ``acc_<task>``, ``mcr_<task>``, one per
metric); the view is regenerated whenever a write brings a name it does not know yet.
All types are generic SQLAlchemy types so the same schema runs on SQLite and PostgreSQL.
"""

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
    and_,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column, relationship

from contract import metrics as registry
from contract.result import SPLITS
from store.errors import StoreError

SCHEMA_VERSION = 6
"""The schema these tables describe: the number of the head Alembic revision
(store/migrations/versions/NNNN_*.py, revision id "NNNN"). Older stores are refused
until ``paretoctl db upgrade``; newer ones are refused. 1: the first schema; 2: trial
status 'interrupted', table sweep_leases; 3: metrics in the long table point_metrics;
4: a trial's node, precision, attempts, pack and saved model, and the table epochs;
5: the sparsity weights only in the params (and keys) of the methods that train L0;
6: point_tasks clustered on its key on SQLite (WITHOUT ROWID)."""
HEAD_REVISION = f"{SCHEMA_VERSION:04d}"

FLAT_VIEW = "points_flat"
# interrupted: stopped by SIGINT/SIGTERM while it ran; run again like a failed trial
TRIAL_STATUSES = ("pending", "running", "done", "failed", "interrupted")
TRIAL_STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in TRIAL_STATUSES) + ")"

# Task and metric names become SQL column names of the view, so they must be plain
# identifiers (the registry's rule); 50 characters keeps ``loss_<task>`` under PostgreSQL's 63.
_NAME_RE, _NAME_MAX = registry.NAME_RE, registry.NAME_MAX

# The point-level figures that are columns of ``points``: how a point was computed.
POINT_TIMES = ("time_train_s", "time_eval_s")
# The other metrics every trial reports (the registry's standard ones), in the view's (and
# load_points') column order; counts are integers (stored as REAL, exact below 2**53, shown
# as BIGINT by the view).
POINT_METRICS = tuple(name for name in registry.STANDARD if name not in POINT_TIMES)
INT_METRICS = frozenset(name for name in POINT_METRICS if registry.get(name).integer)
# The view's other columns (and load_points' ``params``): a metric may not take their
# names, nor a task column's prefix.
_RESERVED_NAMES = frozenset({
    "point_id", "trial", "method", "dataset", "arch", "seed", "status", "split",
    "ray_index", "preference", "params", "time_train_s", "time_eval_s",
})  # fmt: skip
TASK_COLUMN_PREFIXES = ("loss_", "acc_", "mcr_")

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
    #: the Ray node that ran the trial (its address), NULL before schema 4
    node: Mapped[str | None] = mapped_column(String(255))
    #: the numeric precision that ran: 'fp32' or 'bf16'
    precision: Mapped[str | None] = mapped_column(String(16))
    #: how many times Ray started the trial (1 without a retry)
    attempts: Mapped[int | None]
    #: the key of the pack's first member when the trial trained in a pack
    pack: Mapped[str | None] = mapped_column(String(16))
    #: the saved model: a safetensors file, its size and SHA-256
    artifact_path: Mapped[str | None]
    artifact_bytes: Mapped[int | None] = mapped_column(BigInteger)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))

    points: Mapped[list["Point"]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint(TRIAL_STATUS_CHECK, name="ck_trials_status"),
        Index("ix_trials_dataset_method_arch", "dataset", "method", "arch"),
    )


class Epoch(Base):
    """One trained epoch of a trial's stage, stored while the sweep runs (live progress):
    the validation score, seconds since the trial started, and the losses and method
    state of the epoch as JSON."""

    __tablename__ = "epochs"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    epoch: Mapped[int] = mapped_column(primary_key=True)
    val_score: Mapped[float | None]
    elapsed_s: Mapped[float | None]
    record: Mapped[dict[str, Any] | None]
    recorded_at: Mapped[datetime]


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

    Its model-level metrics are rows of ``point_metrics``; the times stay columns: they
    say how the point was computed (every point has both), not what the model is.
    """

    __tablename__ = "points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(8))
    ray_index: Mapped[int] = mapped_column(default=0)
    preference: Mapped[list[Any] | None]
    time_train_s: Mapped[float | None]
    time_eval_s: Mapped[float | None]

    trial: Mapped[Trial] = relationship(back_populates="points")
    tasks: Mapped[list["PointTask"]] = relationship(
        back_populates="point", cascade="all, delete-orphan", passive_deletes=True
    )
    metrics: Mapped[list["PointMetric"]] = relationship(
        back_populates="point", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("trial_id", "split", "ray_index", name="uq_points_trial_split_ray"),
        CheckConstraint("split IN (" + ", ".join(f"'{s}'" for s in SPLITS) + ")",
                        name="ck_points_split"),
        Index("ix_points_trial_id", "trial_id"),
    )


class PointTask(Base):
    """Per-task loss and accuracy of a point (accuracy NULL for regression).

    On SQLite the table is clustered on its key (WITHOUT ROWID, since schema 6): reading
    a point's task values is one B-tree lookup per task, not two (index, then row)."""

    __tablename__ = "point_tasks"

    point_id: Mapped[int] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), primary_key=True
    )
    task: Mapped[str] = mapped_column(String(_NAME_MAX), primary_key=True)
    loss: Mapped[float | None]
    acc: Mapped[float | None]

    point: Mapped[Point] = relationship(back_populates="tasks")

    __table_args__ = (Index("ix_point_tasks_task", "task"), {"sqlite_with_rowid": False})


class PointMetric(Base):
    """One model-level metric of a point (SR, a count, or any other named number);
    NULL where it was not a finite number.

    On SQLite the table is clustered on its key (WITHOUT ROWID): reading a point's
    metrics is one B-tree lookup per metric, not two (index, then row)."""

    __tablename__ = "point_metrics"

    point_id: Mapped[int] = mapped_column(
        ForeignKey("points.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(_NAME_MAX), primary_key=True)
    value: Mapped[float | None]

    point: Mapped[Point] = relationship(back_populates="metrics")

    __table_args__ = (Index("ix_point_metrics_name", "name"), {"sqlite_with_rowid": False})


def _validate_name(name: object, kind: str) -> str:
    """``name`` if it is a plain lowercase identifier of at most _NAME_MAX characters."""
    if not isinstance(name, str) or len(name) > _NAME_MAX or not _NAME_RE.fullmatch(name):
        raise StoreError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits and '_', "
            f"starting with a letter, at most {_NAME_MAX} characters"
        )
    return name


def validate_task_name(name: object) -> str:
    """Return ``name`` if it is a safe view-column identifier, else raise StoreError.

    The view embeds task names as column names and literals, so this check is
    what keeps that DDL free of anything but plain identifiers.
    """
    return _validate_name(name, "task")


def validate_metric_name(name: object) -> str:
    """Return ``name`` if it can be a column of the view, else raise StoreError: a plain
    identifier (as for tasks) that is neither another view column nor task-prefixed."""
    _validate_name(name, "metric")
    if name in _RESERVED_NAMES or name.startswith(TASK_COLUMN_PREFIXES):
        raise StoreError(f"invalid metric name {name!r}: it would clash with a column of "
                         f"{FLAT_VIEW} (names starting with loss_, acc_ or mcr_ and "
                         f"{', '.join(sorted(_RESERVED_NAMES))} are taken)")
    return name


def known_tasks(connection: Connection) -> list[str]:
    """All task names present in point_tasks, sorted (the view's task columns)."""
    stmt = select(PointTask.task).distinct().order_by(PointTask.task)
    return [validate_task_name(t) for t in connection.execute(stmt).scalars()]


def known_metrics(connection: Connection) -> list[str]:
    """Metric names present in point_metrics beyond POINT_METRICS, sorted (the view's
    extra metric columns)."""
    stmt = select(PointMetric.name).distinct().order_by(PointMetric.name)
    names = connection.execute(stmt).scalars()
    return [validate_metric_name(n) for n in names if n not in POINT_METRICS]


def _task_pivot(tasks: list[str]):
    """Subquery with one row per point and loss/acc columns per task."""
    columns = [PointTask.point_id]
    for task in tasks:
        is_task = PointTask.task == task
        columns.append(func.max(case((is_task, PointTask.loss))).label(f"loss_{task}"))
        columns.append(func.max(case((is_task, PointTask.acc))).label(f"acc_{task}"))
    return select(*columns).group_by(PointTask.point_id).subquery("pt")


def metric_aliases(names: list[str]) -> dict[str, Any]:
    """One alias of point_metrics per metric name, for join_metrics."""
    return {name: aliased(PointMetric, name=f"pm_{name}") for name in names}


def join_metrics(stmt: Select, aliases: dict[str, Any]) -> Select:
    """``stmt`` (which selects from points) LEFT JOINed to each alias on (point, name):
    every metric becomes a column, NULL where the point has none. Each join is one key
    lookup per point, so a filter on points reaches the metrics too (a grouped pivot
    would read the whole table)."""
    for name, alias in aliases.items():
        stmt = stmt.outerjoin(alias, and_(alias.point_id == Point.id, alias.name == name))
    return stmt


def flat_view_select(tasks: list[str], extra_metrics: list[str] = ()) -> Select:
    """The SELECT behind ``points_flat`` for the given task and extra metric names.

    Its columns are those of schema 2, where the metrics were point columns (counts
    cast back to BIGINT), then the task columns, then the extra metrics. Pivoting tasks
    in a grouped subquery (rather than grouping the outer join) keeps the outer SELECT
    free of GROUP BY, which PostgreSQL would reject for the JSON ``preference`` column.
    """
    pt = _task_pivot(tasks)
    pm = metric_aliases([*POINT_METRICS, *extra_metrics])
    per_task = []
    for task in tasks:
        acc = pt.c[f"acc_{task}"]
        per_task += [pt.c[f"loss_{task}"], acc, (1 - acc).label(f"mcr_{task}")]
    metric_cols = [(cast(pm[n].value, BigInteger) if n in INT_METRICS else pm[n].value).label(n)
                   for n in POINT_METRICS]
    stmt = (
        select(
            Point.id.label("point_id"),
            Trial.key.label("trial"),
            Trial.method,
            Trial.dataset,
            Trial.arch,
            Trial.seed,
            Trial.status,
            Point.split,
            Point.ray_index,
            Point.preference,
            *metric_cols,
            Point.time_train_s,
            Point.time_eval_s,
            *per_task,
            *[pm[n].value.label(n) for n in extra_metrics],
        )
        .join_from(Point, Trial, Point.trial_id == Trial.id)
        .outerjoin(pt, pt.c.point_id == Point.id)
    )
    return join_metrics(stmt, pm)


def refresh_flat_view(connection: Connection) -> tuple[list[str], list[str]]:
    """Drop and recreate ``points_flat`` with columns for every known task and metric.

    The DROP comes first so that on PostgreSQL it takes the view's lock before
    the names are read: a concurrent refresh then waits and sees the other
    writer's committed names. Task and metric names are validated identifiers and
    are rendered by SQLAlchemy's literal compiler, never by string formatting.
    Returns the task names and the extra metric names the new view covers.
    """
    connection.execute(DDL(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
    tasks, metrics = known_tasks(connection), known_metrics(connection)
    compiled = flat_view_select(tasks, metrics).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    connection.execute(DDL(f"CREATE VIEW {FLAT_VIEW} AS {compiled}"))
    return tasks, metrics
