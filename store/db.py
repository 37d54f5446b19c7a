"""Opening a store: URL resolution, engine set-up, schema checks, the Store handle.

Any SQLAlchemy URL works; SQLite gets WAL, foreign keys (needed for the
ON DELETE CASCADE that keeps re-recorded trials free of orphan rows) and a
busy timeout, and its write transactions start with BEGIN IMMEDIATE so
concurrent writers queue on the lock instead of failing mid-transaction.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, event, insert, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store import writes
from store.errors import StoreError
from store.schema import FLAT_VIEW, SCHEMA_VERSION, Base, Meta, Sweep, refresh_flat_view

__all__ = [
    "DEFAULT_STORE_URL",
    "ENV_STORE",
    "Store",
    "StoreError",
    "open_store",
    "resolve_store_url",
]

DEFAULT_STORE_URL = "sqlite:///paretoctl.db"
ENV_STORE = "PARETOCTL_STORE"

_WRITE_OPTION = "paretoctl_write"
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


def resolve_store_url(cli_value: str | None) -> str:
    """The store URL to use: the --store flag, else $PARETOCTL_STORE, else the default."""
    if cli_value and cli_value.strip():
        return cli_value.strip()
    env_value = os.environ.get(ENV_STORE, "").strip()
    return env_value or DEFAULT_STORE_URL


class Store:
    """Handle on an opened store: engine, session factories and the write API.

    Every write method runs in its own short transaction so that long
    training runs never hold a database lock.
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self._reader = sessionmaker(engine, expire_on_commit=False)
        writer_engine = engine.execution_options(**{_WRITE_OPTION: True})
        self._writer = sessionmaker(writer_engine, expire_on_commit=False)
        self._view_tasks: set[str] = set()

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """Dialect name ('sqlite', 'postgresql', ...)."""
        return self.engine.dialect.name

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session inside one write transaction, committed on normal exit."""
        try:
            with self._writer.begin() as session:
                yield session
        except BaseException:
            self._view_tasks.clear()  # a rolled-back view refresh must be redone
            raise

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for read-only queries (a deferred transaction on SQLite)."""
        with self.engine.connect() as connection:
            yield connection

    def ensure_flat_view(self, connection: Connection, tasks: set[str]) -> None:
        """Recreate ``points_flat`` when ``tasks`` holds a name the view lacks.

        The check is cached per Store so that the usual write (tasks already
        known) costs no catalogue query.
        """
        if tasks <= self._view_tasks:
            return
        in_view = _flat_view_tasks(connection)
        if not tasks <= in_view:
            in_view = set(refresh_flat_view(connection))
        self._view_tasks = in_view

    def sweep_spec(self, name: str) -> dict[str, Any] | None:
        """The stored spec dict of sweep ``name``, or None if it was never registered.

        Lets the runner refuse to silently change what an existing sweep name means.
        """
        with self._reader() as session:
            return session.scalar(select(Sweep.spec).where(Sweep.name == name))

    def register_sweep(
        self, name: str, spec_yaml: str, spec: dict[str, Any], versions: dict[str, Any]
    ) -> int:
        """Insert or update the sweep called ``name``; see store.writes.register_sweep."""
        return writes.register_sweep(self, name, spec_yaml, spec, versions)

    def add_trials(self, sweep_name: str, trials: list[dict[str, Any]]) -> dict[str, str]:
        """Add trials to a sweep, returning every key's status; see store.writes."""
        return writes.add_trials(self, sweep_name, trials)

    def mark_running(self, key: str) -> None:
        """Mark a trial as running; see store.writes.mark_running."""
        writes.mark_running(self, key)

    def mark_failed(self, key: str, error: str) -> None:
        """Mark a trial as failed with its error text; see store.writes.mark_failed."""
        writes.mark_failed(self, key, error)

    def record_result(self, key: str, result: dict[str, Any]) -> None:
        """Replace a trial's points with ``result``; see store.writes.record_result."""
        writes.record_result(self, key, result)

    def close(self) -> None:
        """Release pooled connections (and SQLite file handles)."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _flat_view_tasks(connection: Connection) -> set[str]:
    """Task names that the current ``points_flat`` has columns for (empty if absent)."""
    try:
        columns = inspect(connection).get_columns(FLAT_VIEW)
    except NoSuchTableError:
        return set()
    return {c["name"][len("loss_") :] for c in columns if c["name"].startswith("loss_")}


def open_store(url: str, *, create: bool) -> Store:
    """Open the store at ``url``; with ``create`` make its tables if needed.

    Without ``create`` a missing store is an error and nothing is written,
    so read-only commands never leave an empty database file behind.
    """
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed, create)
    engine = _make_engine(parsed)
    shown = parsed.render_as_string(hide_password=True)
    try:
        with engine.begin() as connection:
            _prepare_schema(connection, create, shown)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open store {shown}: {_first_line(exc)}") from exc
    return Store(engine, parsed)


def _parse_url(url: str) -> URL:
    """Parse a URL string, turning SQLAlchemy's complaint into a StoreError."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid store URL {url!r}: {_first_line(exc)}") from exc


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _check_sqlite_path(url: URL, create: bool) -> None:
    """Refuse a missing SQLite file (create=False) or a missing parent directory."""
    path = _sqlite_file(url)
    if path is None:
        return
    if not create and not path.is_file():
        raise StoreError(f"store not found: {path} (run `paretoctl sweep` first or pass --store)")
    if create and not path.parent.is_dir():
        raise StoreError(f"cannot create store {path}: directory {path.parent} does not exist")


def _make_engine(url: URL) -> Engine:
    """Create the engine, reporting unknown dialects or missing drivers as StoreError."""
    shown = url.render_as_string(hide_password=True)
    try:
        engine = create_engine(url)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise StoreError(f"unsupported store URL {shown}: {_first_line(exc)}") from exc
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    """Per-connection PRAGMAs and explicit BEGIN / BEGIN IMMEDIATE for SQLite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # isolation_level=None stops the sqlite3 module from issuing its own
        # BEGINs, so the "begin" hook below controls transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def _prepare_schema(connection: Connection, create: bool, shown: str) -> None:
    """Create tables (if asked), then check or record the schema version."""
    if create:
        Base.metadata.create_all(connection)
    version = _read_schema_version(connection, shown)
    if version is None:
        if not create:
            raise StoreError(
                f"no paretoctl store at {shown} (run `paretoctl sweep` first or pass --store)"
            )
        connection.execute(insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif version > SCHEMA_VERSION:
        raise StoreError(
            f"store {shown} has schema version {version}, newer than this paretoctl "
            f"understands ({SCHEMA_VERSION}): upgrade paretoctl"
        )
    if create and not inspect(connection).has_table(FLAT_VIEW):
        refresh_flat_view(connection)


def _read_schema_version(connection: Connection, shown: str) -> int | None:
    """The stored schema_version, or None when the store has no meta record."""
    if not inspect(connection).has_table(Meta.__tablename__):
        return None
    value = connection.execute(
        select(Meta.value).where(Meta.key == "schema_version")
    ).scalar_one_or_none()
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise StoreError(f"store {shown} has a corrupt schema_version {value!r}") from None


def _first_line(exc: BaseException) -> str:
    """First line of an exception's message (driver errors can span many lines)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    return text.splitlines()[0] if text else type(original).__name__
