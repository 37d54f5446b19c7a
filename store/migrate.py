"""Schema versions of a store: which one it is at, and upgrading it with Alembic.

The revisions live in store/migrations/versions (shipped inside the package, so an
installed paretoctl can upgrade); revision "NNNN" is schema number NNNN. A store's
``alembic_version`` row is the source of truth; ``meta.schema_version`` is kept equal to
it for SQL readers and is what identifies a paretoctl store (another program's Alembic
database has no such row). Stores written before Alembic have only the meta row (1 or
2): an upgrade first stamps the matching revision. Alembic is imported only to create
or upgrade a store, never to read one.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from store.errors import StoreError, StoreOutdated
from store.schema import FLAT_VIEW, HEAD_REVISION, SCHEMA_VERSION, Meta

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"


def table_names(connection: Connection) -> set[str]:
    """The database's tables, read once: a caller that reads them twice could see a store
    half-made (before and after another process's create commits) and call it foreign."""
    return set(inspect(connection).get_table_names())


def store_schema(connection: Connection, shown: str,
                 tables: set[str]) -> tuple[int | None, str | None] | None:
    """``(schema number, Alembic revision)`` of the store whose tables are ``tables``, or
    None when the database has no paretoctl meta record (new, or someone else's). The
    revision is None for a store written before Alembic; the number is None for a
    revision that is not a number."""
    if Meta.__tablename__ not in tables:
        return None
    value = connection.execute(
        select(Meta.value).where(Meta.key == "schema_version")
    ).scalar_one_or_none()
    if value is None:
        return None
    revision = None
    if VERSION_TABLE in tables:
        revision = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    if revision is not None:
        return (int(revision) if revision.isdigit() else None), revision
    if not value.isdigit() or int(value) < 1:
        raise StoreError(f"store {shown} has a corrupt schema_version {value!r}")
    return int(value), None


def check_current(number: int | None, revision: str | None, shown: str) -> None:
    """Refuse a store that is not at SCHEMA_VERSION: an older one in one line saying how to
    upgrade it (StoreOutdated), a newer or unknown one naming its version."""
    if number is None:
        raise StoreError(f"store {shown} is at Alembic revision {revision!r}, which this "
                         f"paretoctl (schema {SCHEMA_VERSION}) does not know: upgrade paretoctl")
    if number > SCHEMA_VERSION:
        raise StoreError(f"store {shown} is at schema {number}, newer than this paretoctl "
                         f"understands ({SCHEMA_VERSION}): upgrade paretoctl")
    if number < SCHEMA_VERSION:
        raise StoreOutdated(f"store {shown} is at schema {number}, this paretoctl needs "
                            f"{SCHEMA_VERSION}: run paretoctl db upgrade --store {shown}")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for store/migrations; env.py migrates ``connection``
    inside the caller's transaction."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def stamp(connection: Connection, revision: str) -> None:
    """Record ``revision`` in the store's alembic_version table (created if absent)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    MigrationContext.configure(connection).stamp(script, revision)


def upgrade_to(connection: Connection, target: str) -> None:
    """Run the revisions up to ``target`` in the caller's transaction. ``points_flat`` is
    dropped first (it reads the tables being changed; the caller recreates it); on SQLite
    the connection must have foreign keys off (table rebuilds drop the old table)."""
    from alembic import command

    connection.execute(text(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
    command.upgrade(alembic_config(connection), target)


def upgrade(connection: Connection, number: int, revision: str | None) -> None:
    """Bring a store at schema ``number`` to the head revision; one written before
    Alembic (``revision`` None) is first stamped with the revision of its number."""
    if revision is None:
        stamp(connection, f"{number:04d}")
    upgrade_to(connection, HEAD_REVISION)
