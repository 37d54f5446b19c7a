"""Versioned schema with Alembic: a new store is created at the head revision, older stores
are refused on open with the upgrade command to run, and ``paretoctl db upgrade`` upgrades
them in place keeping every row and status. Trial keys change only where revision 0005
rewrites them: trials of methods that do not train sparsity lose beta1/beta2 and take the
key today's expansion gives them (twins that differed only there become one trial).

Fixtures:
- ``tests/data/store_v1.db``: schema 1, written through the store API (commit 4c6dfcd):
  sweep 'old' (spec ``name: old``) with hand-made keys 0000000000000001..4; trials 1 and
  2 done (three points each, two tasks per point), 3 failed, 4 pending. Its spec cannot
  be expanded, so its keys are checked to be unchanged by the upgrade.
- ``tests/data/store_v2.db``: schema 2, written by a real 4-trial ``paretoctl sweep`` of
  the spec stored in it (main at 5c011ee): linear x 2, wc_al, cosmos with 3 test rays on
  a small multidigits, all done. Its spec is expanded to check a rerun finds every trial
  done.
- ``tests/data/store_v3.db``: schema 3 (Alembic 0003), the same sweep run on 8acb5c8.
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import MetaData, Table, create_engine, insert, inspect, text
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.expand import expand_sweep
from orchestrator.spec import parse_spec
from store import migrate
from store.db import open_store, upgrade_store
from store.errors import StoreError, StoreNotFound, StoreOutdated
from store.queries import POINT_COLUMNS, PointFilter, list_trials, load_points
from store.schema import FLAT_VIEW, HEAD_REVISION, POINT_METRICS, SCHEMA_VERSION, Base

DATA = Path(__file__).parent / "data"
V1_STORE, V2_STORE, V3_STORE = DATA / "store_v1.db", DATA / "store_v2.db", DATA / "store_v3.db"
# the cosmos trial of the v2 and v3 fixtures before and after 0005 (beta1/beta2 leave its
# params); a twin differing only in beta1 = 0.5, by the key algorithm of schema 4
OLD_COSMOS_KEY, COSMOS_KEY, TWIN_KEY = "4823dc54d7f9a0d7", "44b8c49391320b4d", "de6f40be0f311b96"
TABLES = ("sweeps", "trials", "sweep_trials", "points", "point_tasks")
runner = CliRunner()


def copy(fixture: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / fixture.name
    shutil.copyfile(fixture, path)
    return path


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def view_rows(path: Path) -> tuple[list[str], list[tuple]]:
    """Columns and rows of points_flat, as a user of plain SQL sees them."""
    with sqlite3.connect(path) as conn:
        cursor = conn.execute(f"SELECT * FROM {FLAT_VIEW} ORDER BY point_id")
        return [d[0] for d in cursor.description], cursor.fetchall()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def schema_snapshot(url: str) -> dict:
    """Everything about the tables that matters: columns, keys, constraints, indexes."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        snap = {}
        for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
            checks = {c["name"]: re.sub(r"\s+", " ", c["sqltext"]) for c in insp.get_check_constraints(table)}
            snap[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
                "pk": insp.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                               tuple(f["referred_columns"]), f["options"].get("ondelete"))
                              for f in insp.get_foreign_keys(table)),
                "uniques": sorted((u["name"] or "", tuple(u["column_names"]))
                                  for u in insp.get_unique_constraints(table)),
                "checks": checks,
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in insp.get_indexes(table)),
            }
            if engine.dialect.name == "sqlite":  # point_metrics is clustered on its key
                with engine.connect() as conn:
                    ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"),
                                       {"t": table}).scalar()
                snap[table]["without_rowid"] = ddl.rstrip().endswith("WITHOUT ROWID")
        return snap
    finally:
        engine.dispose()


def version_rows(url: str) -> tuple[list[tuple], list[tuple]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = (conn.execute(text("SELECT version_num FROM alembic_version")).all(),
                 conn.execute(text("SELECT key, value FROM meta")).all())
    engine.dispose()
    return found


# --- the revisions -------------------------------------------------------------


def test_the_revisions_are_one_chain_whose_head_is_schema_version():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert script.get_heads() == [HEAD_REVISION]
    chain = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    assert chain == [f"{n:04d}" for n in range(1, SCHEMA_VERSION + 1)]


def test_the_package_data_ships_every_migration_file():
    import fnmatch
    import tomllib

    root = Path(__file__).parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["store"]
    files = [p.relative_to(root / "store").as_posix() for p in (root / "store" / "migrations").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files


# --- new stores ----------------------------------------------------------------


def test_a_new_store_is_at_head_and_has_the_schema_an_upgrade_gives(tmp_path):
    new = f"sqlite:///{tmp_path / 'new.db'}"
    open_store(new, create=True).close()
    assert version_rows(new) == ([(HEAD_REVISION,)], [("schema_version", str(SCHEMA_VERSION))])
    snapshot = schema_snapshot(new)  # both long tables are clustered on their keys
    assert snapshot["point_metrics"]["without_rowid"] and snapshot["point_tasks"]["without_rowid"]
    assert not snapshot["points"]["without_rowid"]
    for fixture in (V1_STORE, V2_STORE, V3_STORE):
        url = f"sqlite:///{copy(fixture, tmp_path)}"
        upgrade_store(url)
        assert version_rows(url) == version_rows(new)
        assert schema_snapshot(url) == schema_snapshot(new)
    # and Alembic itself sees no difference between the upgraded tables and the models
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(f"sqlite:///{tmp_path / V1_STORE.name}")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


# --- upgrading the fixtures ----------------------------------------------------


def test_db_upgrade_of_the_v1_fixture_keeps_every_row_and_the_view(tmp_path):
    path = copy(V1_STORE, tmp_path)
    url = f"sqlite:///{path}"
    before = {table: rows(path, f"SELECT * FROM {table} ORDER BY 1, 2") for table in TABLES}
    metric_cells = sum(rows(path, f"SELECT COUNT({m}) FROM points")[0][0] for m in POINT_METRICS)
    old_columns, old_view = view_rows(path)

    result = invoke("db", "upgrade", "--store", url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (f"store {url} upgraded from schema 1 (no Alembic revision, "
                                     f"stamped 0001) to schema 6 (Alembic revision 0006)")
    assert version_rows(url) == ([("0006",)], [("schema_version", "6")])
    for table in ("sweeps", "trials", "sweep_trials", "point_tasks"):  # ids, keys, statuses
        old = len(before[table][0])  # schema 4 appends columns to trials, NULL here
        assert [r[:old] for r in rows(path, f"SELECT * FROM {table} ORDER BY 1, 2")] == before[table]
    assert rows(path, "SELECT DISTINCT node, precision, artifact_path FROM trials") == [(None,) * 3]
    assert rows(path, "SELECT * FROM points ORDER BY 1") == [
        (r[0], r[1], r[2], r[3], r[4], r[-2], r[-1]) for r in before["points"]]
    assert rows(path, "SELECT COUNT(*) FROM point_metrics") == [(metric_cells,)]
    assert rows(path, "SELECT value FROM point_metrics WHERE point_id = 1 AND name = 'n_params'") == [(100.0,)]
    assert rows(path, "PRAGMA foreign_key_check") == []
    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    new_columns, new_view = view_rows(path)
    assert (new_columns, new_view) == (old_columns, old_view)  # same columns and values
    assert [[type(v) for v in r] for r in new_view] == [[type(v) for v in r] for r in old_view]

    with open_store(url, create=True) as store:  # writable: the new CHECK, the cascades
        store.mark_interrupted("0000000000000004")
        store.record_result("0000000000000001", {"points": [
            {"split": "test", "tasks": {"left": {"loss": 1.0, "acc": 0.5}}, "metrics": {"sr": 0.25}}]})
    assert rows(path, "SELECT status FROM trials WHERE id = 4") == [("interrupted",)]
    assert rows(path, "SELECT COUNT(*) FROM points") == [(4,)]
    assert rows(path, "SELECT COUNT(*) FROM point_metrics WHERE point_id NOT IN (SELECT id FROM points)") == [(0,)]
    with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("UPDATE trials SET status = 'lost' WHERE id = 4")


def test_db_upgrade_is_idempotent_and_writes_nothing_the_second_time(tmp_path):
    path = copy(V2_STORE, tmp_path)
    url = f"sqlite:///{path}"
    first = invoke("db", "upgrade", "--store", url)
    assert first.exit_code == 0, first.stderr
    assert "from schema 2 (no Alembic revision, stamped 0002) to schema 6" in first.stdout
    snapshot = path.read_bytes()
    again = invoke("db", "upgrade", "--store", url)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip() == (f"store {url} is already at head: schema 6 "
                                    f"(Alembic revision 0006), nothing to do")
    assert path.read_bytes() == snapshot


def renamed(found: list[tuple]) -> list[tuple]:
    """Rows as they read before 0005, the cosmos trial under its new key."""
    return [tuple(COSMOS_KEY if v == OLD_COSMOS_KEY else v for v in row) for row in found]


def assert_a_rerun_of_its_sweep_runs_and_writes_nothing(path: Path, workdir: Path) -> None:
    """`paretoctl sweep` of the sweep stored in ``path`` finds its 4 trials done and writes nothing."""
    ((spec_yaml,),) = rows(path, "SELECT spec_yaml FROM sweeps")
    (workdir / "spec.yaml").write_text(spec_yaml)
    snapshot = path.read_bytes()
    result = invoke("sweep", "spec.yaml", "--store", f"sqlite:///{path}")
    assert result.exit_code == 0, result.stderr
    assert "all 4 trials already done, nothing to run" in result.stderr
    assert path.read_bytes() == snapshot


def test_after_upgrading_the_v3_fixture_a_rerun_finds_every_trial_done_with_no_run_facts(
        tmp_path, workdir):
    path = copy(V3_STORE, tmp_path)
    url = f"sqlite:///{path}"
    keys_before = rows(path, "SELECT id, key, status FROM trials ORDER BY id")
    params_before = rows(path, "SELECT id, params, config FROM trials ORDER BY id")
    view_before = view_rows(path)
    assert invoke("db", "upgrade", "--store", url).exit_code == 0
    # 0005: only the cosmos trial loses beta1/beta2 and takes the key expanding gives it now
    assert rows(path, "SELECT id, key, status FROM trials ORDER BY id") == renamed(keys_before)
    assert view_rows(path) == (view_before[0], renamed(view_before[1]))
    params_after = rows(path, "SELECT id, params, config FROM trials ORDER BY id")
    assert params_after[:3] == params_before[:3]  # linear and wc_al keep their weights
    params, config = json.loads(params_before[3][1]), json.loads(params_before[3][2])
    del params["beta1"], params["beta2"]
    config["method"]["params"] = params
    config["key"] = COSMOS_KEY
    assert (json.loads(params_after[3][1]), json.loads(params_after[3][2])) == (params, config)
    assert rows(path, "SELECT node, precision, attempts, pack, artifact_path, artifact_bytes, "
                      "artifact_sha256 FROM trials") == [(None,) * 7] * 4
    assert rows(path, "SELECT COUNT(*) FROM epochs") == [(0,)]
    assert_a_rerun_of_its_sweep_runs_and_writes_nothing(path, workdir)


def test_after_upgrading_the_v2_fixture_a_rerun_of_its_sweep_finds_every_trial_done(
        tmp_path, workdir):
    path = copy(V2_STORE, tmp_path)
    url = f"sqlite:///{path}"
    keys_before = rows(path, "SELECT id, key, status FROM trials ORDER BY id")
    old_columns, old_view = view_rows(path)
    old_frame = load_points_v2_columns(path)
    upgrade_store(url)
    assert rows(path, "SELECT id, key, status FROM trials ORDER BY id") == renamed(keys_before)
    assert view_rows(path) == (old_columns, renamed(old_view))

    ((spec_yaml,),) = rows(path, "SELECT spec_yaml FROM sweeps")
    expanded = expand_sweep(parse_spec(yaml.safe_load(spec_yaml)))
    stored = dict(rows(path, "SELECT t.key, t.status FROM trials t JOIN sweep_trials st "
                             "ON st.trial_id = t.id JOIN sweeps s ON s.id = st.sweep_id"))
    assert len(expanded) == len(stored) == 4
    assert {t["key"]: stored.get(t["key"]) for t in expanded} == {k: "done" for k in stored}

    with open_store(url, create=False, read_only=True) as store:
        frame = load_points(store, PointFilter(split=None))
    assert list(frame.columns) == [*POINT_COLUMNS, "loss.left", "loss.right", "acc.left",
                                   "acc.right", "mcr.left", "mcr.right"]
    assert frame[list(old_frame)].astype(object).equals(old_frame.astype(object))

    assert_a_rerun_of_its_sweep_runs_and_writes_nothing(path, workdir)


def v3_with_a_twin(folder: Path, status: str, twin_status: str, weights: bool = True) -> Path:
    """The v3 fixture at schema 4 with a twin of its cosmos trial (4): trial 5, beta1 = 0.5
    and key TWIN_KEY (without ``weights``: no beta1/beta2 and the key of schema 5, as if
    written by today's paretoctl), a copy of trial 4's points (ids + 100) and an epoch, in
    a second sweep 'other'. Trial 4 gets ``status``; trials 1 and 2 say they trained in
    the twin's pack and in trial 4's."""
    path = copy(V3_STORE, folder)
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        migrate.upgrade_to(conn, "0004")
    engine.dispose()
    with sqlite3.connect(path) as conn:
        params, config = (json.loads(v) for v in conn.execute(
            "SELECT params, config FROM trials WHERE id = 4").fetchone())
        params["beta1"] = config["method"]["params"]["beta1"] = 0.5
        config["key"] = TWIN_KEY
        if not weights:
            for name in ("beta1", "beta2"):
                del params[name], config["method"]["params"][name]
            config["key"] = COSMOS_KEY
        given = {"id": 5, "key": config["key"], "status": twin_status,
                 "params": json.dumps(params), "config": json.dumps(config)}
        columns = [r[1] for r in conn.execute("PRAGMA table_info(trials)")]
        conn.execute(f"INSERT INTO trials ({', '.join(columns)}) SELECT "
                     f"{', '.join('?' if c in given else c for c in columns)} FROM trials WHERE id = 4",
                     [given[c] for c in columns if c in given])
        conn.execute("UPDATE trials SET status = ? WHERE id = 4", (status,))
        conn.execute("INSERT INTO points SELECT id + 100, 5, split, ray_index, preference, "
                     "time_train_s, time_eval_s FROM points WHERE trial_id = 4")
        for table, values in (("point_tasks", "task, loss, acc"), ("point_metrics", "name, value")):
            conn.execute(f"INSERT INTO {table} SELECT point_id + 100, {values} FROM {table} "
                         f"WHERE point_id IN (SELECT id FROM points WHERE trial_id = 4)")
        conn.execute("INSERT INTO epochs VALUES (5, 'train', 0, 0.5, 1.0, NULL, "
                     "'2026-01-01 00:00:00.000000')")
        conn.execute("INSERT INTO sweeps SELECT 2, 'other', spec_yaml, spec, created_at, "
                     "updated_at, paretoctl_version, versions FROM sweeps WHERE id = 1")
        conn.execute("INSERT INTO sweep_trials VALUES (2, 5)")
        conn.execute("UPDATE trials SET pack = ? WHERE id = 1", (config["key"],))
        conn.execute("UPDATE trials SET pack = ? WHERE id = 2", (OLD_COSMOS_KEY,))
    return path


# (trial 4's status, the twin's, whether the twin has the weights, the trial kept)
TWINS = [("done", "done", True, 4), ("failed", "done", True, 5),
         ("failed", "interrupted", True, 4), ("failed", "done", False, 5)]


@pytest.mark.parametrize("status, twin_status, weights, kept", TWINS)
def test_twins_that_differed_only_in_the_sparsity_weights_become_one_trial(
        tmp_path, status, twin_status, weights, kept):
    path = v3_with_a_twin(tmp_path, status, twin_status, weights)
    point_tasks = dict(rows(path, "SELECT p.trial_id, COUNT(*) FROM point_tasks t JOIN points p "
                                  "ON p.id = t.point_id GROUP BY p.trial_id"))
    upgrade_store(f"sqlite:///{path}")
    # a done one is kept, then the one with the paper's weights (trial 4); the other goes
    # with its points, task scores, metrics and epochs, and its sweeps link to the kept one
    assert rows(path, "SELECT id, key, status FROM trials WHERE method = 'cosmos'") == [
        (kept, COSMOS_KEY, {4: status, 5: twin_status}[kept])]
    assert rows(path, "SELECT * FROM sweep_trials ORDER BY 1, 2") == [
        (1, 1), (1, 2), (1, 3), (1, kept), (2, kept)]
    assert rows(path, "SELECT DISTINCT trial_id FROM points ORDER BY 1") == [(1,), (2,), (3,), (kept,)]
    assert rows(path, "SELECT COUNT(*) FROM point_tasks") == [(sum(point_tasks.values()) - 9 * 2,)]
    assert rows(path, "SELECT COUNT(*) FROM point_metrics WHERE point_id NOT IN "
                      "(SELECT id FROM points)") == [(0,)]
    assert rows(path, "SELECT trial_id FROM epochs") == ([(5,)] if kept == 5 else [])
    assert rows(path, "SELECT id, pack FROM trials WHERE pack IS NOT NULL") == [
        (1, COSMOS_KEY), (2, COSMOS_KEY)]  # the pack references follow the keys
    assert rows(path, "PRAGMA foreign_key_check") == []
    assert "beta1" not in rows(path, f"SELECT params FROM trials WHERE id = {kept}")[0][0]
    ((spec_yaml,),) = rows(path, "SELECT spec_yaml FROM sweeps WHERE id = 1")
    expanded = expand_sweep(parse_spec(yaml.safe_load(spec_yaml)))
    assert {t["key"] for t in expanded} == {k for (k,) in rows(path, "SELECT key FROM trials")}


def load_points_v2_columns(path: Path):
    """What load_points returned for a schema-2 store: the metric columns of points."""
    import pandas as pd

    with sqlite3.connect(path) as conn:
        frame = pd.read_sql(f"SELECT id AS point_id, {', '.join(POINT_METRICS)} FROM points "
                            "ORDER BY id", conn)
    for name in POINT_METRICS[7:]:
        frame[name] = frame[name].astype("Int64")
    return frame


def test_processes_upgrading_one_old_store_at_once_all_succeed(tmp_path):
    path = copy(V1_STORE, tmp_path)
    with ProcessPoolExecutor(3) as pool:
        found = sorted(pool.map(_upgrade_from, [f"sqlite:///{path}"] * 3))
    assert found == [1, SCHEMA_VERSION, SCHEMA_VERSION]  # one upgraded, the others found it done
    assert rows(path, "SELECT COUNT(*) FROM trials") == [(4,)]
    assert rows(path, "SELECT COUNT(*) FROM points") == [(6,)]


def _upgrade_from(url: str) -> int:
    return upgrade_store(url).before


# --- refusals ------------------------------------------------------------------


@pytest.mark.parametrize("command", [["trials"], ["front", "--dataset", "multidigits"],
                                     ["report", "--dataset", "multidigits"],
                                     ["sweep", "spec.yaml"]])
def test_every_command_refuses_an_old_store_in_one_line_and_writes_nothing(
        tmp_path, workdir, command):
    path = copy(V1_STORE, tmp_path)
    url = f"sqlite:///{path}"
    (workdir / "spec.yaml").write_text(rows(copy(V2_STORE, tmp_path / "spec"), "SELECT spec_yaml FROM sweeps")[0][0])
    files, snapshot = sorted(tmp_path.iterdir()), path.read_bytes()
    result = invoke(*command, "--store", url)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.strip() == (f"error: store {url} is at schema 1, this paretoctl needs 6: "
                                     f"run paretoctl db upgrade --store {url}")
    assert path.read_bytes() == snapshot and sorted(tmp_path.iterdir()) == files


def test_opening_an_old_store_never_upgrades_it(tmp_path):
    path = copy(V2_STORE, tmp_path)
    snapshot = path.read_bytes()
    for kwargs in ({"create": True}, {"create": False}, {"create": False, "read_only": True}):
        with pytest.raises(StoreOutdated, match="is at schema 2, this paretoctl needs 6"):
            open_store(f"sqlite:///{path}", **kwargs)
    assert path.read_bytes() == snapshot


@pytest.mark.parametrize("revision, shown", [("0007", "is at schema 7, newer than this paretoctl "
                                                       "understands (6): upgrade paretoctl"),
                                             ("f00dcafe", "is at Alembic revision 'f00dcafe'")])
def test_a_newer_store_is_refused_naming_its_version(tmp_path, revision, shown):
    path = tmp_path / "new.db"
    open_store(f"sqlite:///{path}", create=True).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        conn.execute("UPDATE meta SET value = '6'")
    snapshot = path.read_bytes()
    for kwargs in ({"create": True}, {"create": False, "read_only": True}):
        with pytest.raises(StoreError, match=re.escape(shown)):
            open_store(f"sqlite:///{path}", **kwargs)
    result = invoke("db", "upgrade", "--store", f"sqlite:///{path}")
    assert result.exit_code == 2 and shown in result.stderr
    assert path.read_bytes() == snapshot


@pytest.mark.parametrize("value", ["0", "two"])
def test_a_corrupt_schema_version_is_refused_before_anything_is_written(tmp_path, value):
    path = copy(V1_STORE, tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ?", (value,))
    snapshot = path.read_bytes()
    result = invoke("db", "upgrade", "--store", f"sqlite:///{path}")
    assert result.exit_code == 2 and f"corrupt schema_version '{value}'" in result.stderr
    assert path.read_bytes() == snapshot


def test_db_upgrade_refuses_another_programs_database_and_a_missing_store(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:  # another program that also uses Alembic
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0001')")
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    snapshot = path.read_bytes()
    result = invoke("db", "upgrade", "--store", f"sqlite:///{path}")
    assert result.exit_code == 2
    assert "is not a paretoctl store (it has other tables: alembic_version" in result.stderr
    assert path.read_bytes() == snapshot
    with pytest.raises(StoreNotFound, match="store not found"):
        upgrade_store(f"sqlite:///{tmp_path / 'missing.db'}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


def test_the_console_script_upgrades(tmp_path):
    path = copy(V1_STORE, tmp_path)
    done = subprocess.run([str(Path(sys.executable).with_name("paretoctl")), "db", "upgrade",
                           "--store", f"sqlite:///{path}"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "upgraded from schema 1" in done.stdout
    assert rows(path, "SELECT version_num FROM alembic_version") == [("0006",)]


# --- PostgreSQL ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("written_before_alembic", [True, False])
def test_postgres_store_at_schema_1_is_upgraded(pg_url, tmp_path, written_before_alembic):
    fresh = {}
    open_store(pg_url, create=True).close()
    fresh["schema"], fresh["versions"] = schema_snapshot(pg_url), version_rows(pg_url)
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # empty it again, then schema 1 from the baseline revision
        conn.execute(text(f"DROP VIEW IF EXISTS {FLAT_VIEW}"))
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
    with engine.begin() as conn:
        migrate.upgrade_to(conn, "0001")
        if written_before_alembic:
            conn.execute(text("DROP TABLE alembic_version"))
    copy_fixture_rows(copy(V1_STORE, tmp_path / "rows"), engine)
    engine.dispose()
    with pytest.raises(StoreOutdated) as refused:
        open_store(pg_url, create=False, read_only=True)
    assert "***" in str(refused.value) and ":paretoctl@" not in str(refused.value)

    done = upgrade_store(pg_url)
    assert (done.before, done.after) == (1, SCHEMA_VERSION)
    assert done.revision_before == (None if written_before_alembic else "0001")
    assert version_rows(pg_url) == fresh["versions"]
    assert schema_snapshot(pg_url) == fresh["schema"]

    # the same view rows, trials and points as the SQLite fixture upgraded
    sqlite_copy = copy(V1_STORE, tmp_path)
    old_columns, old_view = view_rows(sqlite_copy)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT * FROM {FLAT_VIEW} ORDER BY point_id"))
        assert list(result.keys()) == old_columns
        at = old_columns.index("preference")
        expected = [(*r[:at], json.loads(r[at]), *r[at + 1:]) for r in old_view]
        assert [tuple(r) for r in result] == expected
    engine.dispose()
    upgrade_store(f"sqlite:///{sqlite_copy}")
    with open_store(pg_url, create=True) as pg, \
            open_store(f"sqlite:///{sqlite_copy}", create=False) as lite:
        pg.mark_interrupted("0000000000000004")  # the new CHECK
        lite.mark_interrupted("0000000000000004")
        for read in (lambda s: load_points(s, PointFilter(split=None)),
                     lambda s: list_trials(s, PointFilter(split=None))):
            assert read(pg).astype(str).equals(read(lite).astype(str))


@pytest.mark.postgres
def test_postgres_rewrites_keys_and_twins_as_sqlite_does(pg_url, tmp_path):
    lite = v3_with_a_twin(tmp_path / "lite", "failed", "done")
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        migrate.upgrade_to(conn, "0004")
    copy_fixture_rows(v3_with_a_twin(tmp_path / "pg", "failed", "done"), engine,
                      (*TABLES, "point_metrics", "epochs"))
    engine.dispose()
    for url in (pg_url, f"sqlite:///{lite}"):
        assert upgrade_store(url).after == SCHEMA_VERSION
    pg, sqlite = stored_trials(pg_url), stored_trials(f"sqlite:///{lite}")
    assert pg == sqlite
    assert [r[:3] for r in pg[:4]][3] == (5, COSMOS_KEY, "done")  # the done twin was kept
    assert pg[4:] == [(1, 1), (1, 2), (1, 3), (1, 5), (2, 5), (5, "train", 0), pg[-1]]
    with open_store(pg_url, create=False, read_only=True) as pg_store, \
            open_store(f"sqlite:///{lite}", create=False, read_only=True) as lite_store:
        for read in (lambda s: load_points(s, PointFilter(split=None)),
                     lambda s: list_trials(s, PointFilter(split=None))):
            assert read(pg_store).astype(str).equals(read(lite_store).astype(str))


def stored_trials(url: str) -> list[tuple]:
    """Trials (JSON decoded), sweep links, epochs and the point count of a store."""
    engine = create_engine(url)
    with engine.connect() as conn:
        trials = [tuple(json.loads(v) if isinstance(v, str) and v[:1] == "{" else v for v in r)
                  for r in conn.execute(text("SELECT id, key, status, params, config, pack "
                                             "FROM trials ORDER BY id"))]
        links = conn.execute(text("SELECT * FROM sweep_trials ORDER BY 1, 2")).all()
        epochs = conn.execute(text("SELECT trial_id, stage, epoch FROM epochs")).all()
        counts = conn.execute(text("SELECT (SELECT COUNT(*) FROM points), (SELECT COUNT(*) FROM "
                                   "point_tasks), (SELECT COUNT(*) FROM point_metrics)")).one()
    engine.dispose()
    return [*trials, *map(tuple, links), *map(tuple, epochs), tuple(counts)]


def copy_fixture_rows(fixture: Path, engine, tables: tuple[str, ...] = TABLES) -> None:
    """The fixture's rows into the PostgreSQL tables (of the fixture's schema), ids included."""
    source = create_engine(f"sqlite:///{fixture}")
    lite, pg = MetaData(), MetaData()
    with source.connect() as src, engine.begin() as dst:
        for name in tables:
            table = Table(name, lite, autoload_with=src)
            values = [dict(r._mapping) for r in src.execute(table.select())]
            for row in values:  # SQLite keeps naive UTC timestamps
                for key, value in row.items():
                    if hasattr(value, "tzinfo") and value is not None:
                        row[key] = value.replace(tzinfo=timezone.utc)
            dst.execute(insert(Table(name, pg, autoload_with=dst)), values)
        for name in ("sweeps", "trials", "points"):  # serials continue after the copied ids
            dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                             f"(SELECT MAX(id) FROM {name}))"))
    source.dispose()


def test_db_upgrade_of_a_missing_store_says_there_is_nothing_to_upgrade(tmp_path):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, ["db", "upgrade", "--store", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2
    assert "nothing to upgrade: store not found" in result.output
    assert "run `paretoctl sweep`" not in result.output
    assert list(tmp_path.iterdir()) == []
