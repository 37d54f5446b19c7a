"""Opening a store: URL resolution, engine set-up, schema checks, the Store handle, and
the in-place upgrade behind ``paretoctl db upgrade``.

Any SQLAlchemy URL works; SQLite gets WAL, foreign keys (needed for the
ON DELETE CASCADE that keeps re-recorded trials free of orphan rows) and a
busy timeout, and its write transactions start with BEGIN IMMEDIATE so
concurrent writers queue on the lock instead of failing mid-transaction.
Opening never upgrades: a store at another schema is refused (store/migrate.py).
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, create_engine, event, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from store import migrate, writes
from store.errors import StoreError, StoreNotFound, mask_credentials
from store.schema import (
    FLAT_VIEW, HEAD_REVISION, POINT_METRICS, SCHEMA_VERSION, TASK_COLUMN_PREFIXES, Base, Meta,
    Sweep, SweepTrial, Trial, flat_view_select, refresh_flat_view,
)

__all__ = [
    "DEFAULT_STORE_URL",
    "ENV_STORE",
    "Store",
    "StoreError",
    "open_store",
    "resolve_store_url",
    "Upgrade",
    "upgrade_store",
]

DEFAULT_STORE_URL = "sqlite:///paretoctl.db"
ENV_STORE = "PARETOCTL_STORE"

_WRITE_OPTION = "paretoctl_write"
# Per connection; journal_mode=WAL is set once, on a file known to be a paretoctl store
# (it is persistent, and setting it on someone else's database would change that file).
_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
# PostgreSQL: concurrent creators of one new store queue on this advisory lock.
_PG_SCHEMA_LOCK = 0x70617265746F  # "pareto"


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
        self._view_metrics: set[str] = set()

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
            self._view_metrics.clear()
            raise

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A connection for read-only queries (a deferred transaction on SQLite)."""
        with self.engine.connect() as connection:
            yield connection

    def ensure_flat_view(self, connection: Connection, tasks: set[str],
                         metrics: set[str] = frozenset()) -> None:
        """Recreate ``points_flat`` when ``tasks`` or ``metrics`` hold a name the view lacks.

        The check is cached per Store so that the usual write (names already
        known) costs no catalogue query.
        """
        extra = set(metrics) - set(POINT_METRICS)
        if tasks <= self._view_tasks and extra <= self._view_metrics:
            return
        in_tasks, in_metrics = flat_view_names(connection)
        if not (tasks <= in_tasks and extra <= in_metrics):
            new_tasks, new_metrics = refresh_flat_view(connection)
            in_tasks, in_metrics = set(new_tasks), set(new_metrics)
        self._view_tasks, self._view_metrics = in_tasks, in_metrics

    def sweep_spec(self, name: str) -> dict[str, Any] | None:
        """The stored spec dict of sweep ``name``, or None if it was never registered.

        Lets the runner refuse to silently change what an existing sweep name means.
        """
        with self._reader() as session:
            return session.scalar(select(Sweep.spec).where(Sweep.name == name))

    def linked_statuses(self, name: str, keys: list[str]) -> dict[str, str]:
        """``{key: status}`` of those ``keys`` that are trials linked to sweep ``name``
        (read-only: tells a rerun with nothing to do without writing anything)."""
        found: dict[str, str] = {}
        with self._reader() as session:
            for start in range(0, len(keys), 500):  # well below bound-parameter limits
                stmt = (select(Trial.key, Trial.status)
                        .join(SweepTrial, SweepTrial.trial_id == Trial.id)
                        .join(Sweep, Sweep.id == SweepTrial.sweep_id)
                        .where(Sweep.name == name, Trial.key.in_(keys[start:start + 500])))
                found.update(dict(session.execute(stmt).all()))
        return found

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

    def start_pack(self, keys: list[str], pack: str | None) -> None:
        """Mark a pack's members running; see store.writes.start_pack."""
        writes.start_pack(self, keys, pack)

    def mark_failed(self, key: str, error: str) -> None:
        """Mark a trial as failed with its error text; see store.writes.mark_failed."""
        writes.mark_failed(self, key, error)

    def mark_interrupted(self, key: str) -> None:
        """Mark a running trial as interrupted; see store.writes.mark_interrupted."""
        writes.mark_interrupted(self, key)

    def record_result(self, key: str, result: dict[str, Any], artifact=None) -> None:
        """Replace a trial's points with ``result`` and record its saved model
        (a ``contract.result.Artifact``); see store.writes.record_result."""
        writes.record_result(self, key, result, artifact)

    def close(self) -> None:
        """Release pooled connections (and SQLite file handles)."""
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def flat_view_names(connection: Connection) -> tuple[set[str], set[str]]:
    """Task names and extra metric names that the current ``points_flat`` has columns
    for (both empty if it is absent)."""
    try:
        columns = [c["name"] for c in inspect(connection).get_columns(FLAT_VIEW)]
    except NoSuchTableError:
        return set(), set()
    fixed = set(flat_view_select([]).selected_columns.keys())
    tasks = {c[len("loss_"):] for c in columns if c.startswith("loss_")}
    metrics = {c for c in columns if c not in fixed and not c.startswith(TASK_COLUMN_PREFIXES)}
    return tasks, metrics


def open_store(url: str, *, create: bool, read_only: bool = False) -> Store:
    """Open the store at ``url``; with ``create`` make its tables if needed.

    Without ``create`` a missing store is an error (``StoreNotFound``) and nothing is
    written. ``read_only`` (the read commands) opens SQLite in ``mode=ro``, so reading
    never creates, converts or changes a file. With ``create`` only an empty database
    or a paretoctl store is accepted: another program's database is refused before
    anything is written to it. A store at an older schema is refused with the upgrade
    command to run (``StoreOutdated``), a newer one with its version named.
    """
    parsed = _parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed, create)
    engine = _make_engine(_read_only(parsed) if read_only else parsed)
    try:
        if create:
            with engine.connect() as connection, _write_transaction(connection):
                _prepare_schema(connection, shown)
        else:
            with engine.connect() as connection:
                _check_schema_version(connection, shown)
        if engine.dialect.name == "sqlite" and not read_only:
            _use_wal(engine, shown)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"cannot open store {shown}: {_first_line(exc)}") from exc
    return Store(engine, parsed)


def _use_wal(engine: Engine, shown: str, patience_s: float = 30.0) -> None:
    """Switch a SQLite store to WAL (persistent, so once per file). The switch needs the
    file to itself and SQLite does not wait for that through the busy timeout, so
    processes that create one new store together retry until one has switched it."""
    import sqlite3
    import time

    deadline = time.monotonic() + patience_s
    with engine.connect() as connection:  # outside a transaction, as SQLite needs
        raw = connection.connection.driver_connection
        while raw.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                raw.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StoreError(f"cannot open store {shown}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise StoreError(f"cannot open store {shown}: {exc} (for {patience_s:.0f} s)") from exc
                time.sleep(0.05)


def _read_only(url: URL) -> URL:
    """The URL opened read-only where the backend allows it (SQLite: ``mode=ro``)."""
    path = _sqlite_file(url)
    if url.get_backend_name() != "sqlite" or path is None:
        return url
    return url.set(database=f"file:{path.resolve()}", query={**url.query, "mode": "ro", "uri": "true"})


def _parse_url(url: str) -> URL:
    """Parse a URL string, turning SQLAlchemy's complaint into a StoreError (the URL
    shown with its password masked)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid store URL {mask_credentials(url)!r}: "
                         f"{mask_credentials(_first_line(exc))}") from exc


def check_persistent(url: str) -> None:
    """Refuse a store that vanishes when the process ends (SQLite in memory): a sweep
    written there would throw its results away."""
    parsed = _parse_url(url)
    if parsed.get_backend_name() == "sqlite" and _sqlite_file(parsed) is None:
        raise StoreError(f"--store {parsed.render_as_string(hide_password=True)}: an in-memory "
                         "SQLite store loses every result when the sweep ends; give a file, "
                         "e.g. sqlite:///results.db")


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
        raise StoreNotFound(f"store not found: {path} (run `paretoctl sweep` first or pass --store)")
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


@contextmanager
def _write_transaction(connection: Connection) -> Iterator[None]:
    """One write transaction that concurrent creators or upgraders queue on: SQLite's
    BEGIN IMMEDIATE, or on PostgreSQL an advisory lock held until it ends."""
    with connection.execution_options(**{_WRITE_OPTION: True}).begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_SCHEMA_LOCK})
        yield


def _prepare_schema(connection: Connection, shown: str) -> None:
    """Create the tables of a new store at the head revision, or check an existing one,
    in one write transaction, so that any number of processes can open the same new
    store at once."""
    tables = migrate.table_names(connection)
    state = migrate.store_schema(connection, shown, tables)
    if state is None:
        _refuse_foreign(tables, shown)
        Base.metadata.create_all(connection)
        connection.execute(insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
        migrate.stamp(connection, HEAD_REVISION)
    else:
        migrate.check_current(*state, shown)
    if not inspect(connection).has_table(FLAT_VIEW):
        refresh_flat_view(connection)


def _check_schema_version(connection: Connection, shown: str) -> None:
    """A read-only open: the store must exist and be at this paretoctl's schema."""
    tables = migrate.table_names(connection)
    state = migrate.store_schema(connection, shown, tables)
    if state is None:
        _refuse_foreign(tables, shown)
        raise StoreNotFound(
            f"no paretoctl store at {shown} (run `paretoctl sweep` first or pass --store)"
        )
    migrate.check_current(*state, shown)


def _refuse_foreign(tables: set[str], shown: str) -> None:
    """A database without paretoctl's meta record but with tables belongs to someone else;
    ``tables`` are the ones store_schema looked at (one read, see migrate.table_names)."""
    foreign = sorted(tables - set(Base.metadata.tables))
    if foreign:
        raise StoreError(f"{shown} is not a paretoctl store (it has other tables: "
                         f"{', '.join(foreign[:5])}); paretoctl writes only to a new database "
                         "or its own store: pass another --store")


@dataclass(frozen=True)
class Upgrade:
    """What upgrade_store did: the store (password masked), its schema before and after
    (equal when it was already at head), and its Alembic revision before (None for a
    store written before Alembic, which was stamped first)."""

    shown: str
    before: int
    after: int
    revision_before: str | None


def upgrade_store(url: str) -> Upgrade:
    """Upgrade the store at ``url`` in place to this paretoctl's schema, in one write
    transaction (concurrent upgraders queue; all or nothing). A missing store, another
    program's database and a newer store are refused before anything is written.

    On SQLite the connection has foreign keys off meanwhile: a revision that rebuilds a
    table drops the old one, which with them on would delete every row that refers to it.
    PRAGMA foreign_keys is a no-op inside a transaction, so it is set on the driver's
    connection before BEGIN and restored after COMMIT; ``PRAGMA foreign_key_check`` must
    come back empty before the transaction commits.
    """
    parsed = _parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed, create=False)
    engine = _make_engine(parsed)
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
            if driver is not None:
                driver.execute("PRAGMA foreign_keys=OFF")
            try:
                with _write_transaction(connection):
                    before, revision = _upgrade_schema(connection, shown)
            finally:
                if driver is not None:
                    driver.execute("PRAGMA foreign_keys=ON")
            if driver is not None:  # outside a transaction, as SQLite needs
                driver.execute("PRAGMA journal_mode=WAL")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot upgrade store {shown}: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    return Upgrade(shown, before, SCHEMA_VERSION, revision)


def _upgrade_schema(connection: Connection, shown: str) -> tuple[int, str | None]:
    """The body of upgrade_store's transaction; returns the schema and revision it found."""
    tables = migrate.table_names(connection)
    state = migrate.store_schema(connection, shown, tables)
    if state is None:
        _refuse_foreign(tables, shown)
        raise StoreNotFound(f"no paretoctl store at {shown} (nothing to upgrade)")
    number, revision = state
    if number is None or number > SCHEMA_VERSION:
        migrate.check_current(number, revision, shown)
    if number < SCHEMA_VERSION:
        migrate.upgrade(connection, number, revision)
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise StoreError(f"cannot upgrade store {shown}: the upgrade would break "
                                 f"{len(broken)} references; the store is left as it was")
        refresh_flat_view(connection)
    elif not inspect(connection).has_table(FLAT_VIEW):
        refresh_flat_view(connection)
    return number, revision


def _first_line(exc: BaseException) -> str:
    """First line of an exception's message (driver errors can span many lines),
    credentials masked."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip()
    return mask_credentials(message.splitlines()[0]) if message else type(original).__name__
