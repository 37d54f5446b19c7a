"""The one exception type the store raises for problems a user can fix.

It lives in its own module so that every store module (connection, writes,
payload checks) can raise it without importing each other; `store.db`
re-exports it because that is where callers look for it.
"""


class StoreError(Exception):
    """A one-line, user-facing store problem (bad URL, missing store, bad payload).

    The CLI prints the message as is and exits with code 2, so messages name
    the URL, file, trial key or field at fault and never carry a traceback.
    """
