"""``paretoctl data ...``: what datasets are known, and (later) preparing their caches."""
from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

data_app = typer.Typer(no_args_is_help=True, help="List and prepare datasets.")
out = Console()


@data_app.command("list")
def list_datasets() -> None:
    """Show every registered dataset with its tasks and default architecture."""
    from trainers.datasets import DATASETS

    table = Table(title="datasets")
    for column in ("name", "tasks", "default arch", "description"):
        table.add_column(column)
    for name in DATASETS.names():
        source = DATASETS.get(name)
        table.add_row(name, ", ".join(t.name for t in source.tasks), source.default_arch,
                      source.description)
    out.print(table)
