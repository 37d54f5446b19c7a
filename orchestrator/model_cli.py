"""``paretoctl model TRIAL --out FILE``: export a done trial's saved model.

The stored file is read, checked against the SHA-256 the store recorded and written to
FILE with a ``FILE.sha256`` sidecar; ``trainers.artifacts.load_model(FILE)`` rebuilds
it. Every refusal (unknown or ambiguous trial, not done, no saved model, missing or
changed file, a bad ``--ray``) is one line and exit 2, with nothing written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from orchestrator.cli_common import user_errors
from orchestrator.errors import UserInputError

out = Console() if Console().is_terminal else Console(width=200)


@user_errors
def model(
    trial: str = typer.Argument(..., metavar="TRIAL", help="trial key, or a unique prefix of one"),
    out_file: Path = typer.Option(..., "--out", metavar="FILE", help="file to write (safetensors), with FILE.sha256 beside it"),
    ray: Optional[int] = typer.Option(None, "--ray", metavar="I", help="COSMOS / PHN only: record test ray I (the stored point's ray_index) so that loading conditions the network on it"),
    store: Optional[str] = typer.Option(None, "--store", help="SQLAlchemy URL of the store (env PARETOCTL_STORE; default sqlite:///paretoctl.db)"),
) -> None:
    """Export the trained model of a done trial (a safetensors file; see "Saved models" in the README).

    Exit 2, nothing written, for an unknown or ambiguous trial, a trial not done or without a saved model, and a stored file whose checksum no longer matches.
    """
    from store.artifacts import find_trial_model
    from store.db import open_store, resolve_store_url

    if ray is not None and ray < 0:
        raise UserInputError(f"--ray: expected a test ray index >= 0, got {ray}")
    with open_store(resolve_store_url(store), create=False, read_only=True) as db:
        found = find_trial_model(db, trial)
    if found.status != "done":
        raise UserInputError(f"trial {found.key} is {found.status}, not done: it has no saved model")
    if not found.path:
        raise UserInputError(f"trial {found.key} has no saved model (it was recorded by a "
                             "paretoctl that saved none, or without one)")
    from trainers.artifacts import export_model

    written = export_model(found.path, found.sha256, out_file, ray)
    what = f", test ray {ray}" if ray is not None else ""
    out.print(escape(f"wrote {out_file} ({written.bytes} bytes, sha256 {written.sha256}; "
                     f"trial {found.key}, {found.method}{what})"), highlight=False, soft_wrap=True)
