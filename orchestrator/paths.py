"""Where paretoctl puts files it owns, all overridable by environment variables.

- ``PARETOCTL_HOME`` (default ``./.paretoctl``): Ray Tune's result folders
  (``<home>/ray_results/<sweep>``), one folder per trial with Tune's own records.
- ``PARETOCTL_RAY_TMP`` (default ``/tmp/paretoctl-ray``): Ray's session/temp folder
  (logs of the local Ray processes). Kept short: Ray's sockets live there and Unix
  socket paths are limited to about 100 characters.
- ``PARETOCTL_DATA`` (default ``./data``): datasets and their caches (``--data-dir``).
- the trials' saved models (``--artifacts``): see :func:`artifacts_dir`.
"""
from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    return Path(os.environ.get("PARETOCTL_HOME", ".paretoctl")).resolve()


def ray_results_dir() -> Path:
    return home_dir() / "ray_results"


def ray_temp_dir() -> Path:
    return Path(os.environ.get("PARETOCTL_RAY_TMP", "/tmp/paretoctl-ray"))


def data_dir(cli_value: str | None = None) -> Path:
    return Path(cli_value or os.environ.get("PARETOCTL_DATA", "data")).resolve()


def artifacts_dir(store_url: str, cli_value: str | None = None) -> Path:
    """Where a sweep saves its trials' models (``--artifacts``): by default beside a SQLite
    store (``results.db`` -> ``results.artifacts/``), else under the home folder, one
    folder per database (``<home>/artifacts/<backend>-<host>-<port>-<database>/``)."""
    import re

    from sqlalchemy.engine import make_url

    if cli_value:
        return Path(cli_value).resolve()
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite" and url.database:
        database = Path(url.database).resolve()
        return database.parent / f"{database.stem}.artifacts"
    where = f"{url.get_backend_name()}-{url.host or 'local'}-{url.port or ''}-{url.database or ''}"
    return home_dir() / "artifacts" / re.sub(r"[^A-Za-z0-9._-]", "_", where)
