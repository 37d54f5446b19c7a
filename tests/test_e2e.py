"""End to end: the real console script runs a tiny sweep through a real local Ray into a
real SQLite file; the front is read back through the CLI, and SQL users can query the
flat view. Reruns never duplicate rows; a failing trial is recorded and the sweep goes on.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cli_runs import cli_env, explicit, run_cli, sqlite_rows, tiny_sweep

pytestmark = pytest.mark.e2e

PREFERENCES = ([0, 0.8, 0.2], [0, 0.5, 0.5], [0, 0.2, 0.8])


def e2e_spec(name: str, **wc_al_fields) -> str:
    """Linear and wc_al at three preferences each, three epochs on 400 training samples."""
    return tiny_sweep(name, [explicit("linear", *PREFERENCES),
                             explicit("wc_al", *PREFERENCES, **wc_al_fields)],
                      splits=(400, 100, 200), epochs=3)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, env=cli_env(cwd))


def count(db: Path, table: str) -> int:
    return sqlite_rows(db, f"SELECT COUNT(*) FROM {table}")[0][0]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("e2e")
    (cwd / "e2e.yaml").write_text(e2e_spec("e2e"))
    first = run("sweep", "e2e.yaml", cwd=cwd)
    return cwd, first


def test_sweep_runs_every_trial_into_sqlite(swept):
    cwd, first = swept
    assert first.returncode == 0, first.stderr
    assert "done 6, failed 0" in first.stderr
    db = cwd / "paretoctl.db"
    assert count(db, "trials") == 6
    assert count(db, "points") == 6 * 3  # train, val and test per trial
    with sqlite3.connect(db) as conn:
        statuses = {row[0] for row in conn.execute("SELECT status FROM trials")}
        assert statuses == {"done"}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Ray's result folders land under PARETOCTL_HOME, nothing else in the working dir
    assert (cwd / ".paretoctl" / "ray_results" / "e2e").is_dir()


def test_flat_view_answers_plain_sql(swept):
    cwd, _ = swept
    with sqlite3.connect(cwd / "paretoctl.db") as conn:
        rows = conn.execute(
            "SELECT method, acc_left, acc_right, mcr_left, sr, cr, ps FROM points_flat "
            "WHERE split = 'test' ORDER BY method").fetchall()
    assert len(rows) == 6
    for method, acc_left, acc_right, mcr_left, sr, cr, ps in rows:
        assert method in ("linear", "wc_al")
        assert 0.1 < acc_left <= 1 and 0.1 < acc_right <= 1  # better than chance
        assert mcr_left == pytest.approx(1 - acc_left)
        assert sr == 0 and cr == pytest.approx(1) and ps == pytest.approx(1)


def test_front_through_the_cli(swept):
    cwd, _ = swept
    result = run("front", "--dataset", "multidigits", "--sweep", "e2e", "--format", "json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n_candidates"] == 6
    assert 1 <= len(data["points"]) <= 6
    assert 0 < data["hypervolume"] < 1
    for point in data["points"]:
        assert len(point["values"]) == 2 and point["method"] in ("linear", "wc_al")
    table = run("front", "--dataset", "multidigits", cwd=cwd)
    assert table.returncode == 0 and "hypervolume" in table.stdout


def test_rerun_runs_nothing_and_duplicates_nothing(swept):
    cwd, _ = swept
    db = cwd / "paretoctl.db"
    before = count(db, "points"), count(db, "point_tasks"), count(db, "trials")
    again = run("sweep", "e2e.yaml", cwd=cwd)
    assert again.returncode == 0, again.stderr
    assert "all 6 trials already done, nothing to run" in again.stderr
    assert (count(db, "points"), count(db, "point_tasks"), count(db, "trials")) == before


def test_failing_trial_is_recorded_and_the_sweep_goes_on(swept):
    cwd, _ = swept
    spec = e2e_spec("e2e_fail", params={"ref_point": [0, 0]})
    (cwd / "fail.yaml").write_text(spec)
    result = run("sweep", "fail.yaml", cwd=cwd)
    assert result.returncode == 1, result.stderr
    assert "ref_point needs 3 entries" in result.stderr
    with sqlite3.connect(cwd / "paretoctl.db") as conn:
        rows = dict(conn.execute(
            "SELECT t.status, COUNT(*) FROM trials t JOIN sweep_trials st ON st.trial_id = t.id "
            "JOIN sweeps s ON s.id = st.sweep_id WHERE s.name = 'e2e_fail' GROUP BY t.status"))
    assert rows == {"done": 3, "failed": 3}  # the linear trials are shared with sweep e2e


FRONT_METHODS_SPEC = tiny_sweep("e2e_front_methods", [{"name": "cosmos", "params": {"test_rays": 5}},
                                                       {"name": "mgda"}], splits=(300, 100, 100))


def test_front_learning_and_gradient_methods_through_ray(swept):
    # a front-learning method stores one point per test ray and split through the
    # driver's writer; a gradient-combining one a single point; report compares them
    cwd, _ = swept
    (cwd / "front.yaml").write_text(FRONT_METHODS_SPEC)
    result = run("sweep", "front.yaml", cwd=cwd)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(cwd / "paretoctl.db") as conn:
        rows = dict(conn.execute(
            "SELECT method, COUNT(*) FROM points_flat WHERE split = 'test' AND trial IN "
            "(SELECT t.key FROM trials t JOIN sweep_trials st ON st.trial_id = t.id "
            " JOIN sweeps s ON s.id = st.sweep_id WHERE s.name = 'e2e_front_methods') "
            "GROUP BY method"))
        rays = [r[0] for r in conn.execute(
            "SELECT ray_index FROM points_flat WHERE method = 'cosmos' AND split = 'test' "
            "ORDER BY ray_index")]
    assert rows == {"cosmos": 5, "mgda": 1} and rays == [0, 1, 2, 3, 4]
    report = run("report", "--dataset", "multidigits", "--sweep", "e2e_front_methods",
                 "--format", "json", cwd=cwd)
    assert report.returncode == 0, report.stderr
    by_method = {row["method"]: row for row in json.loads(report.stdout)["rows"]}
    assert by_method["cosmos"]["points"] == 5 and by_method["mgda"]["points"] == 1
    assert 0.0 < by_method["cosmos"]["hv"] <= 1.0
