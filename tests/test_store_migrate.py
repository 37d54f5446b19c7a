"""Stores written before schema version 2 are upgraded when opened for writing.

``tests/data/store_v1.db`` was written by paretoctl at schema version 1 (commit 4c6dfcd)
through its store API: sweep 'old' with trials 1 and 2 done (three points each, two
tasks per point), 3 failed, 4 pending. Its CHECK constraint on trials.status knows
pending/running/done/failed only, baked into the table's DDL.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from store.db import open_store
from store.schema import FLAT_VIEW, SCHEMA_VERSION, TRIAL_STATUS_CHECK, Base

V1_STORE = Path(__file__).parent / "data" / "store_v1.db"


@pytest.fixture
def v1_store(tmp_path) -> Path:
    path = tmp_path / "old.db"
    shutil.copyfile(V1_STORE, path)
    return path


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_the_fixture_has_the_old_constraint(v1_store):
    with sqlite3.connect(v1_store) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE trials SET status = 'interrupted' WHERE key = '0000000000000004'")


def test_reading_an_old_store_changes_nothing(v1_store):
    before = v1_store.read_bytes()
    with open_store(f"sqlite:///{v1_store}", create=False, read_only=True) as store:
        assert store.linked_statuses("old", ["0000000000000001"]) == {"0000000000000001": "done"}
    assert v1_store.read_bytes() == before


def test_opening_for_writing_upgrades_and_keeps_every_row(v1_store):
    def snapshot() -> dict[str, list[tuple]]:
        return {table: rows(v1_store, f"SELECT * FROM {table} ORDER BY 1, 2")
                for table in ("trials", "points", "point_tasks", "sweep_trials", "sweeps")}

    before = snapshot()
    with open_store(f"sqlite:///{v1_store}", create=True) as store:
        store.mark_interrupted("0000000000000004")
        # foreign keys still cascade: re-recording a trial replaces its points
        store.record_result("0000000000000001", {
            "points": [{"split": "test", "ray_index": 0, "tasks": {"left": {"loss": 1.0, "acc": 0.5}}}],
            "time_train_s": 2.0})
    assert rows(v1_store, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    after = snapshot()
    assert after["sweeps"] == before["sweeps"] and after["sweep_trials"] == before["sweep_trials"]
    old_trials = {row[1]: row for row in before["trials"]}
    new_trials = {row[1]: row for row in after["trials"]}
    assert new_trials["0000000000000002"] == old_trials["0000000000000002"]  # ids and all
    assert new_trials["0000000000000003"] == old_trials["0000000000000003"]
    assert new_trials["0000000000000004"][9] == "interrupted"
    # trial 1's three old points (and their tasks) are gone, trial 2's untouched
    assert rows(v1_store, "SELECT t.key, COUNT(*) FROM points p JOIN trials t ON t.id = p.trial_id "
                          "GROUP BY t.key") == [("0000000000000001", 1), ("0000000000000002", 3)]
    assert rows(v1_store, "SELECT COUNT(*) FROM point_tasks") == [(1 + 3 * 2,)]
    assert rows(v1_store, "PRAGMA foreign_key_check") == []
    assert rows(v1_store, "PRAGMA integrity_check") == [("ok",)]
    # the indexes and the view are back, and the new table exists
    names = {name for (name,) in rows(v1_store, "SELECT name FROM sqlite_master")}
    assert {"ix_trials_dataset_method_arch", FLAT_VIEW, "sweep_leases"} <= names
    assert "trials_rebuilt" not in names
    assert rows(v1_store, f"SELECT COUNT(*) FROM {FLAT_VIEW} WHERE trial = '0000000000000002'") == [(3,)]
    with sqlite3.connect(v1_store) as conn:  # the new CHECK still refuses unknown statuses
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE trials SET status = 'lost' WHERE key = '0000000000000004'")


def test_processes_upgrading_one_old_store_at_once_all_succeed(v1_store):
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(3) as pool:
        versions = list(pool.map(_open_and_read_version, [str(v1_store)] * 3))
    assert versions == [str(SCHEMA_VERSION)] * 3
    assert rows(v1_store, "SELECT COUNT(*) FROM trials") == [(4,)]
    assert rows(v1_store, "SELECT COUNT(*) FROM points") == [(6,)]


def _open_and_read_version(path: str) -> str:
    with open_store(f"sqlite:///{path}", create=True) as store:
        with store.engine.connect() as conn:
            return conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()


@pytest.mark.postgres
def test_postgres_store_at_version_1_is_upgraded():
    url = os.environ.get("PARETOCTL_TEST_PG_URL")
    if not url:
        pytest.skip("PARETOCTL_TEST_PG_URL not set: run scripts/start-postgres.sh (CI does)")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
        Base.metadata.drop_all(conn)
    with open_store(url, create=True) as store:
        store.register_sweep("old", "", {}, {})
        store.add_trials("old", [{"key": "0000000000000004", "dataset": {"name": "d"},
                                  "arch": {"name": "a"}, "method": {"name": "m", "params": {}},
                                  "preference": None, "seed": 0, "train": {}}])
    old_check = TRIAL_STATUS_CHECK.replace(", 'interrupted'", "")
    with engine.begin() as conn:  # what version 1 created
        conn.execute(text("ALTER TABLE trials DROP CONSTRAINT ck_trials_status"))
        conn.execute(text(f"ALTER TABLE trials ADD CONSTRAINT ck_trials_status CHECK ({old_check})"))
        conn.execute(text("DROP TABLE sweep_leases"))
        conn.execute(text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    with open_store(url, create=True) as store:
        store.mark_interrupted("0000000000000004")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM trials")).scalar() == "interrupted"
        assert conn.execute(text("SELECT value FROM meta")).scalar() == str(SCHEMA_VERSION)
    engine.dispose()
