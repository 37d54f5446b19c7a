"""Schema 6: on SQLite ``point_tasks`` is clustered on its key (point_id, task), as
``point_metrics`` is since schema 3: a rowid table with a separate primary-key index
costs two B-tree searches per task value read (the index, then the row), a WITHOUT ROWID
table one. The table is rebuilt with every row (batch mode; store.db.upgrade_store turns
foreign keys off meanwhile, so the rebuild deletes nothing that refers to it). PostgreSQL
has no rowid tables: nothing changes there but the version.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # recreate="always": no column changes, only the table option, which ALTER cannot set
        with op.batch_alter_table("point_tasks", recreate="always",
                                  table_kwargs={"sqlite_with_rowid": False}):
            pass
    op.execute("""UPDATE meta SET value = '6' WHERE "key" = 'schema_version'""")


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
