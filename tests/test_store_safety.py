"""The store never changes a database it does not own, reads without writing, masks
credentials, and can be created by many processes at once."""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from concurrent_stores import create_at_once
from orchestrator.cli import app
from store.db import StoreError, open_store
from store.errors import mask_credentials

runner = CliRunner()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_database(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    return path


def journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_creating_a_store_in_another_programs_database_is_refused(tmp_path):
    path = foreign_database(tmp_path / "app.db")
    before = digest(path)
    with pytest.raises(StoreError, match=r"is not a paretoctl store \(it has other tables: invoices\)"):
        open_store(f"sqlite:///{path}", create=True)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]
    assert journal_mode(path) == "delete"


@pytest.mark.parametrize("command", [["trials"], ["front", "--dataset", "multidigits"]])
def test_read_commands_leave_a_foreign_database_untouched(tmp_path, command):
    path = foreign_database(tmp_path / "app.db")
    before = digest(path)
    result = runner.invoke(app, [*command, "--store", f"sqlite:///{path}"])
    assert result.exit_code == 2
    assert "is not a paretoctl store" in result.output
    assert digest(path) == before
    assert journal_mode(path) == "delete"  # never switched to WAL


def test_sweep_into_a_foreign_database_is_refused_before_anything_is_written(workdir, write_spec):
    path = foreign_database(workdir / "app.db")
    before = digest(path)
    spec = write_spec("name: s\ndatasets: [multidigits]\nmethods: [uniform]\n")
    result = runner.invoke(app, ["sweep", str(spec), "--store", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert "is not a paretoctl store" in result.output
    assert digest(path) == before
    assert not (workdir / "data").exists() or not any((workdir / "data").rglob("*.pt"))


def test_read_only_open_writes_nothing_to_a_store(tmp_path):
    path = tmp_path / "s.db"
    open_store(f"sqlite:///{path}", create=True).close()
    before = digest(path)
    with open_store(f"sqlite:///{path}", create=False, read_only=True) as store:
        assert store.sweep_spec("nope") is None
        with pytest.raises(Exception, match="readonly"):
            store.register_sweep("s", "", {}, {})
    assert digest(path) == before


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sweep_refuses_an_in_memory_store(workdir, write_spec, url):
    spec = write_spec("name: s\ndatasets: [multidigits]\nmethods: [uniform]\n")
    result = runner.invoke(app, ["sweep", str(spec), "--store", url])
    assert result.exit_code == 2
    assert "in-memory SQLite store loses every result" in result.output


@pytest.mark.parametrize("text, secret", [
    ("postgresql+psycopg://paretoctl:hunter2@127.0.0.1:port/db", "hunter2"),
    ("postgresql://u:p@ss:w0rd@db.example:5432/x", "p@ss:w0rd"),
    ("connection failed: host=h password=topsecret user=u", "topsecret"),
])
def test_mask_credentials(text, secret):
    masked = mask_credentials(text)
    assert secret not in masked
    assert "***" in masked


def test_a_password_never_appears_in_an_error(workdir):
    url = "postgresql+psycopg://paretoctl:hunter2@127.0.0.1:notaport/db"
    for command in (["trials"], ["front", "--dataset", "x"], ["report", "--dataset", "x"]):
        result = runner.invoke(app, [*command, "--store", url])
        assert result.exit_code == 2, result.output
        assert "hunter2" not in result.output
        assert "***" in result.output


@pytest.mark.parametrize("round_", range(5))
def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path, round_):
    assert create_at_once(f"sqlite:///{tmp_path / 'new.db'}") == ["ok"] * 4
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 1
