"""Alembic environment of the paretoctl store: migrates the connection that
store.migrate hands over, inside that caller's transaction (store.db.upgrade_store holds
SQLite's write lock or PostgreSQL's advisory lock around it). Batch mode, so that on
SQLite a change ALTER TABLE cannot make rebuilds the table."""
from alembic import context

from store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the paretoctl store's migrations run through store.migrate "
                       "(`paretoctl db upgrade`), which passes the connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():  # joins the caller's transaction
    context.run_migrations()
