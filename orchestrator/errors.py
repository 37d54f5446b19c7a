"""Errors that reach the user as one line and exit code 2 (bad input).

Everything the user can get wrong (the spec file, flags, a store URL, missing data) is
raised as a ``UserInputError``. The CLI catches exactly this class, prints the message
and exits 2 without a traceback; any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import re

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def one_line(text: str) -> str:
    """Collapse line breaks (and the indentation around them) into single spaces."""
    return _LINE_BREAKS.sub(" ", str(text)).strip()


class UserInputError(Exception):
    """Bad input from the user; ``str()`` is the one-line message the CLI prints."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SpecError(UserInputError):
    """A sweep file is wrong: says which file, which field (dotted path) and why."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = one_line(source)
        self.field = one_line(field)
        self.message = one_line(message)
        super().__init__(f"{self.source}: {self.field}: {self.message}")

    def __reduce__(self):  # keep the three-argument constructor picklable (Ray workers)
        return (type(self), (self.source, self.field, self.message))
