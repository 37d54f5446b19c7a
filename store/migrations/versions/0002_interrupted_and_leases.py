"""Schema 2: trial status 'interrupted' (a sweep stopped by SIGINT/SIGTERM) and the
table sweep_leases (one run at a time trains a sweep).

The status CHECK is part of SQLite's table DDL, which ALTER TABLE cannot change: batch
mode rebuilds ``trials`` there (new table, rows copied with their ids, old one dropped,
new one renamed, indexes recreated), which needs foreign keys off (store.db.upgrade_store)
so that dropping the old table deletes no point. PostgreSQL replaces the constraint.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUS_CHECK = "status IN ('pending', 'running', 'done', 'failed', 'interrupted')"


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_constraint("ck_trials_status", type_="check")
        batch.create_check_constraint("ck_trials_status", STATUS_CHECK)
    op.create_table(
        "sweep_leases",
        sa.Column("sweep", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("""UPDATE meta SET value = '2' WHERE "key" = 'schema_version'""")


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
