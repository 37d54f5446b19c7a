"""Schema 3: a point's model-level metrics move from columns of ``points`` to the long
table ``point_metrics`` (point_id, name, value), so that a trainer can store any named
metric without a schema change. Every non-NULL value is copied (a missing row reads as
NULL, as the column did), then the columns are dropped; the times stay point columns.
SQLite rebuilds ``points`` for the drop (batch mode; foreign keys off, so point_tasks
keeps its rows). Trials and their keys are not touched.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MOVED = (
    "sparsity", "sr", "cr", "ps", "sr_scalar", "cr_scalar", "ps_scalar",
    "rows_total", "rows_zero", "rows_unique", "weights_total", "weights_zero",
    "weights_unique", "n_params",
)


def upgrade() -> None:
    op.create_table(
        "point_metrics",
        sa.Column("point_id", sa.Integer, sa.ForeignKey("points.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("value", sa.Float),
        sqlite_with_rowid=False,  # clustered on (point_id, name): one lookup per metric
    )
    op.create_index("ix_point_metrics_name", "point_metrics", ["name"])
    for name in MOVED:  # constant names: nothing user-given is formatted into SQL
        op.execute(f"INSERT INTO point_metrics (point_id, name, value) "
                   f"SELECT id, '{name}', {name} FROM points WHERE {name} IS NOT NULL")
    with op.batch_alter_table("points") as batch:
        for name in MOVED:
            batch.drop_column(name)
    op.execute("""UPDATE meta SET value = '3' WHERE "key" = 'schema_version'""")


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
