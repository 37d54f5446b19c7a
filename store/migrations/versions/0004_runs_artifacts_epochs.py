"""Schema 4: what a run was and where it left its model, and its epochs.

Trials gain the node that ran them (``node``), the numeric precision that ran
(``precision``: fp32 or bf16), how many attempts Ray made (``attempts``), the pack they
trained in (``pack``: the key of the pack's first member, NULL when trained alone) and
their saved model (``artifact_path``, ``artifact_bytes``, ``artifact_sha256``). The new
table ``epochs`` keeps one row per trained epoch and stage (validation score, elapsed
time, and the losses and method state as JSON), written while a sweep runs. Existing
rows are kept; their new columns are NULL (not recorded then). Keys are not touched.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("node", sa.String(255)))
        batch.add_column(sa.Column("precision", sa.String(16)))
        batch.add_column(sa.Column("attempts", sa.Integer))
        batch.add_column(sa.Column("pack", sa.String(16)))
        batch.add_column(sa.Column("artifact_path", sa.Text))
        batch.add_column(sa.Column("artifact_bytes", sa.BigInteger))
        batch.add_column(sa.Column("artifact_sha256", sa.String(64)))
    op.create_table(
        "epochs",
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("stage", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.Integer, primary_key=True),
        sa.Column("val_score", sa.Float),
        sa.Column("elapsed_s", sa.Float),
        sa.Column("record", sa.JSON(none_as_null=True)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute("""UPDATE meta SET value = '4' WHERE "key" = 'schema_version'""")


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
