"""Errors the trainers raise for problems a user can fix (missing or corrupt data files,
bad options). The CLI shows their one-line message and exits with code 2."""
from __future__ import annotations


class DataError(Exception):
    """Data files missing, unreadable or inconsistent; the message says which and where."""

    def __str__(self) -> str:
        return " ".join(str(self.args[0]).split()) if self.args else ""
