"""Schema 1: the store as paretoctl first wrote it (sweeps, trials, points with their
metric columns, point_tasks, meta).

Stores written before Alembic at schema_version 1 are stamped with this revision; a new
store is created at the head instead (store.db). The definitions are frozen here: they
must not follow later changes of store/schema.py.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True)
TIMESTAMP = sa.DateTime(timezone=True)
STATUS_CHECK = "status IN ('pending', 'running', 'done', 'failed')"


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("spec_yaml", sa.Text, nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("paretoctl_version", sa.String(64)),
        sa.Column("versions", JSON),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(16), nullable=False, unique=True),
        sa.Column("method", sa.String(100), nullable=False),
        sa.Column("dataset", sa.String(100), nullable=False),
        sa.Column("arch", sa.String(100), nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("preference", JSON),
        sa.Column("params", JSON, nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", TIMESTAMP),
        sa.Column("finished_at", TIMESTAMP),
        sa.Column("time_train_s", sa.Float),
        sa.Column("time_phase1_s", sa.Float),
        sa.Column("time_phase2_s", sa.Float),
        sa.Column("device", sa.String(64)),
        sa.Column("versions", JSON),
        sa.Column("info", JSON),
        sa.CheckConstraint(STATUS_CHECK, name="ck_trials_status"),
    )
    op.create_index("ix_trials_dataset_method_arch", "trials", ["dataset", "method", "arch"])
    op.create_table(
        "sweep_trials",
        sa.Column("sweep_id", sa.Integer, sa.ForeignKey("sweeps.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_index("ix_sweep_trials_trial_id", "sweep_trials", ["trial_id"])
    op.create_table(
        "points",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("split", sa.String(8), nullable=False),
        sa.Column("ray_index", sa.Integer, nullable=False),
        sa.Column("preference", JSON),
        *[sa.Column(name, sa.Float) for name in (
            "sparsity", "sr", "cr", "ps", "sr_scalar", "cr_scalar", "ps_scalar")],
        *[sa.Column(name, sa.BigInteger) for name in (
            "rows_total", "rows_zero", "rows_unique", "weights_total", "weights_zero",
            "weights_unique", "n_params")],
        sa.Column("time_train_s", sa.Float),
        sa.Column("time_eval_s", sa.Float),
        sa.UniqueConstraint("trial_id", "split", "ray_index", name="uq_points_trial_split_ray"),
        sa.CheckConstraint("split IN ('train', 'val', 'test')", name="ck_points_split"),
    )
    op.create_index("ix_points_trial_id", "points", ["trial_id"])
    op.create_table(
        "point_tasks",
        sa.Column("point_id", sa.Integer, sa.ForeignKey("points.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("task", sa.String(50), primary_key=True),
        sa.Column("loss", sa.Float),
        sa.Column("acc", sa.Float),
    )
    op.create_index("ix_point_tasks_task", "point_tasks", ["task"])
    op.bulk_insert(sa.table("meta", sa.column("key"), sa.column("value")),
                   [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
