"""Finding a trial's saved model in the store: by its key or a unique prefix of one
(what ``paretoctl model TRIAL`` accepts)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from store.errors import StoreError
from store.schema import Trial

if TYPE_CHECKING:
    from store.db import Store

#: ambiguous prefixes list at most this many matching keys
_SHOWN = 5


@dataclass(frozen=True)
class TrialModel:
    """A trial's status and its saved-model columns (None where it has no saved model)."""

    key: str
    status: str
    method: str
    path: str | None
    bytes: int | None
    sha256: str | None


def find_trial_model(store: "Store", ref: str) -> TrialModel:
    """The trial whose key is ``ref`` or starts with it; StoreError naming ``ref`` when no
    trial or several match."""
    ref = ref.strip()
    if not ref:
        raise StoreError("TRIAL: expected a trial key or a prefix of one, got an empty string")
    columns = (Trial.key, Trial.status, Trial.method, Trial.artifact_path, Trial.artifact_bytes,
               Trial.artifact_sha256)
    with store.read_connection() as connection:
        exact = connection.execute(select(*columns).where(Trial.key == ref)).first()
        rows = [exact] if exact else connection.execute(
            select(*columns).where(Trial.key.startswith(ref, autoescape=True))
            .order_by(Trial.key).limit(_SHOWN + 1)).all()
    if not rows:
        raise StoreError(f"TRIAL: no trial with key {ref!r} (or starting with it) in store "
                         f"{store.display_url}")
    if len(rows) > 1:
        shown = ", ".join(row.key for row in rows[:_SHOWN]) + (", ..." if len(rows) > _SHOWN else "")
        raise StoreError(f"TRIAL: {ref!r} is the start of several trial keys ({shown}); "
                         "give more of the key")
    row = rows[0]
    return TrialModel(row.key, row.status, row.method, row.artifact_path, row.artifact_bytes,
                      row.artifact_sha256)
