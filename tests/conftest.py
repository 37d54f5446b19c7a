"""Shared fixtures: every test runs in its own working directory with its own store,
Ray folders and data folder, so nothing leaks between tests or into the checkout."""
from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """run_trial sets torch's thread count and deterministic mode for its process (right
    in a Ray worker); restore both so one test's trial never changes the next."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PARETOCTL_STORE", raising=False)
    monkeypatch.setenv("PARETOCTL_HOME", str(tmp_path / ".paretoctl"))
    monkeypatch.setenv("PARETOCTL_DATA", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture()
def ray_tmp() -> Path:
    """A fresh folder for Ray's session files under /tmp: its socket paths must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="prt-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def write_spec(workdir):
    """Write a YAML sweep file into the working directory and return its path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        path = workdir / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def pg_url() -> str:
    """The test PostgreSQL server's URL, its database emptied (view, tables and Alembic's
    version table dropped)."""
    from sqlalchemy import create_engine, text

    from store.schema import FLAT_VIEW, Base

    url = os.environ.get("PARETOCTL_TEST_PG_URL")
    if not url:
        pytest.skip("PARETOCTL_TEST_PG_URL not set: run scripts/start-postgres.sh (CI does)")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return url
