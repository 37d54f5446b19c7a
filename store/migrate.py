"""Upgrades of stores written by an older paretoctl, run when a store is opened for
writing, inside the schema transaction of ``store.db.open_store`` (so concurrent
openers upgrade it once). Read-only opens never change a store.

1 -> 2: the ``trials.status`` CHECK admits 'interrupted' (``sweep_leases`` comes from
create_all). PostgreSQL replaces the named constraint. SQLite keeps a CHECK in the
table's DDL text, which ALTER TABLE cannot change, so ``trials`` is rebuilt as SQLite
documents for such changes: create the new table, copy the rows, drop the old one,
rename, recreate its indexes and the view. That needs a connection with foreign keys
off (else the DROP would delete every point); ``PRAGMA foreign_key_check`` must come
back empty before the transaction commits.
"""
from __future__ import annotations

from sqlalchemy import MetaData, inspect, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from store.errors import StoreError
from store.schema import (
    FLAT_VIEW, SCHEMA_VERSION, TRIAL_STATUS_CHECK, Meta, Trial, refresh_flat_view,
)

_REBUILT = "trials_rebuilt"


def upgrade(connection: Connection, version: int, shown: str) -> None:
    """Bring a store at schema ``version`` up to SCHEMA_VERSION (in the caller's
    write transaction)."""
    if version < 2:
        if connection.dialect.name == "sqlite":
            _rebuild_sqlite_trials(connection, shown)
        else:
            connection.execute(text("ALTER TABLE trials DROP CONSTRAINT IF EXISTS ck_trials_status"))
            connection.execute(text(
                f"ALTER TABLE trials ADD CONSTRAINT ck_trials_status CHECK ({TRIAL_STATUS_CHECK})"))
    connection.execute(
        update(Meta).where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def _rebuild_sqlite_trials(connection: Connection, shown: str) -> None:
    """Recreate ``trials`` with today's DDL, keeping every row and its id."""
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise StoreError(f"cannot upgrade store {shown}: foreign keys must be off for the "
                         "rebuild of table trials")  # a bug in the caller, never the user's
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {FLAT_VIEW}")
    rebuilt = Trial.__table__.to_metadata(MetaData(), name=_REBUILT)
    connection.execute(CreateTable(rebuilt))  # the table only: index names are still taken
    old = {column["name"] for column in inspect(connection).get_columns("trials")}
    columns = ", ".join(c.name for c in Trial.__table__.columns if c.name in old)
    connection.exec_driver_sql(f"INSERT INTO {_REBUILT} ({columns}) SELECT {columns} FROM trials")
    connection.exec_driver_sql("DROP TABLE trials")
    connection.exec_driver_sql(f"ALTER TABLE {_REBUILT} RENAME TO trials")
    for index in Trial.__table__.indexes:
        index.create(connection)
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise StoreError(f"cannot upgrade store {shown}: rebuilding table trials would "
                         f"break {len(broken)} references; the store is left as it was")
    refresh_flat_view(connection)
