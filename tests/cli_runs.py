"""Running the real `paretoctl` console script from tests, and reading the SQLite file it writes.

End-to-end tests start the script installed next to this Python (PYTHONPATH picks the
checkout), as a user would, on a tiny sweep file; these helpers are the one way they
write that file, start the script and read its rows back.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

PARETOCTL = str(Path(sys.executable).with_name("paretoctl"))


def tiny_sweep(name: str, methods: list[dict[str, Any]], *, splits: tuple[int, int, int] = (200, 60, 60),
               arch: str | dict[str, Any] = "hps", seeds: list[int] | None = None, epochs: int = 1,
               batch_size: int = 64, resources: dict[str, Any] | None = None, **train: Any) -> str:
    """A sweep file's YAML on multidigits, (train, val, test) ``splits``: tests name what they vary."""
    n_train, n_val, n_test = splits
    spec: dict[str, Any] = {
        "name": name,
        "datasets": [{"name": "multidigits", "n_train": n_train, "n_val": n_val, "n_test": n_test}],
        "architectures": [arch], "methods": methods}
    if seeds is not None:
        spec["seeds"] = seeds
    spec["train"] = {"epochs": epochs, "batch_size": batch_size, **train}
    spec["resources"] = {"cpus_per_trial": 1, "max_concurrent": 2} if resources is None else resources
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)


def explicit(method: str, *preferences: list[float], **fields: Any) -> dict[str, Any]:
    """A sweep file's entry for ``method`` trained at each of the given ``preferences``."""
    return {"name": method, **fields, "preferences": {"explicit": [list(p) for p in preferences]}}


def cli_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    """This environment plus ``extra``; with ``home``, PARETOCTL_HOME under it and no PARETOCTL_STORE."""
    env = {**os.environ, **extra}
    if home is not None:
        env["PARETOCTL_HOME"] = str(home / ".paretoctl")
        env.pop("PARETOCTL_STORE", None)
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `paretoctl ARGS` in ``cwd`` to its end (``env`` or this environment), output captured as text."""
    return subprocess.run([PARETOCTL, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
              **popen: Any) -> subprocess.Popen:
    """Start `paretoctl ARGS` in ``cwd`` without waiting, its stdout and stderr piped as text."""
    return subprocess.Popen([PARETOCTL, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def sweep_cli(cwd: Path, spec: str, *args: str, env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """Write ``spec`` to ``cwd``/spec.yaml and run `paretoctl sweep spec.yaml ARGS` there to its end."""
    (cwd / "spec.yaml").write_text(spec)
    return run_cli("sweep", "spec.yaml", *args, cwd=cwd, env=env, timeout=timeout)


def sqlite_rows(db: Path, sql: str, *params: Any) -> list[tuple]:
    """Every row ``sql`` (with ``params``) selects from the SQLite file ``db``."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()
