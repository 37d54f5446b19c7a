"""The one exception type the store raises for problems a user can fix.

It lives in its own module so that every store module (connection, writes,
payload checks) can raise it without importing each other; `store.db`
re-exports it because that is where callers look for it.
"""

import re


class StoreError(Exception):
    """A one-line, user-facing store problem (bad URL, missing store, bad payload).

    The CLI prints the message as is and exits with code 2, so messages name
    the URL, file, trial key or field at fault and never carry a traceback.
    """


class StoreNotFound(StoreError):
    """There is no paretoctl store at the URL yet (no file, or no paretoctl tables)."""


class StoreOutdated(StoreError):
    """The store was written by an older paretoctl: ``paretoctl db upgrade`` brings it to
    this one's schema (nothing upgrades it on open)."""


_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<secret>[^\s/]*)@")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^\s&;]+)",
                               re.IGNORECASE)


def mask_credentials(text: str) -> str:
    """``text`` with every password of a URL (``scheme://user:secret@host``) or of a
    ``password=...`` setting replaced by ``***``: the one helper for every message and
    log line that may echo a store URL or a connection string."""
    masked = _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", str(text))
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}***", masked)


class SweepBusy(StoreError):
    """Another run holds the sweep's lease (store/lease.py): this one refuses to start."""
