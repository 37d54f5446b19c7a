"""``paretoctl db ...``: the store's schema. ``upgrade`` brings a store written by an older
paretoctl to this one's schema in place (the Alembic revisions in store/migrations); every
other command refuses such a store with one line naming this command."""
from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.cli_common import user_errors

db_app = typer.Typer(no_args_is_help=True, help="Upgrade the results store's schema.")
out = Console() if Console().is_terminal else Console(width=200)

StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", help="SQLAlchemy URL of the store (env PARETOCTL_STORE; default sqlite:///paretoctl.db)")]


@db_app.command()
@user_errors
def upgrade(store: StoreOpt = None) -> None:
    """Upgrade the store in place to this paretoctl's schema (a store already there is left as it is).

    All in one transaction. Exit 2, nothing written, for a missing store, another program's database, or a store newer than this paretoctl.
    """
    from store.db import resolve_store_url, upgrade_store
    from store.errors import StoreNotFound

    url = resolve_store_url(store)
    try:
        done = upgrade_store(url)
    except StoreNotFound as exc:  # the sweep's advice does not fit here
        raise StoreNotFound(f"nothing to upgrade: {exc}".split(" (run ")[0]) from None
    shown = escape(done.shown)
    if done.before == done.after:
        out.print(f"store {shown} is already at head: schema {done.after} "
                  f"(Alembic revision {done.after:04d}), nothing to do", highlight=False, soft_wrap=True)
        return
    start = (f"Alembic revision {done.revision_before}" if done.revision_before is not None
             else f"no Alembic revision, stamped {done.before:04d}")
    out.print(f"store {shown} upgraded from schema {done.before} ({start}) to schema "
              f"{done.after} (Alembic revision {done.after:04d})", highlight=False, soft_wrap=True)
