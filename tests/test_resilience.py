"""What must survive: a driver SIGKILLed at any moment (a rerun finishes every trial once,
with no half-written trial), and readers during concurrent writers (no lock errors, no
lost or duplicated points) on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.store_stress import stress
from cli_runs import cli_env, explicit, start_cli, tiny_sweep

SPEC = tiny_sweep("kills", [explicit("linear", [0, 0.8, 0.2], [0, 0.5, 0.5], [0, 0.2, 0.8],
                                     [0, 0.1, 0.9])], splits=(200, 50, 50), epochs=2)
N_TRIALS = 4


def query(db: Path, sql: str) -> list[tuple]:
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []


def statuses(db: Path) -> list[str]:
    return [s for (s,) in query(db, "SELECT status FROM trials")]


def n_points(db: Path) -> int:
    rows = query(db, "SELECT COUNT(*) FROM points")
    return rows[0][0] if rows else 0


# moment -> condition on the store at which the driver is killed
MOMENTS = {
    "trial start": lambda db: "running" in statuses(db),
    "store write": lambda db: n_points(db) > 0,
    "ray shutdown": lambda db: statuses(db).count("done") == N_TRIALS,
}


def start(cwd: Path, ray_tmp: Path) -> subprocess.Popen:
    return start_cli("sweep", "spec.yaml", cwd=cwd, env=cli_env(cwd, PARETOCTL_RAY_TMP=str(ray_tmp)))


def kill_when(proc: subprocess.Popen, condition, db: Path, timeout: float = 240) -> bool:
    """SIGKILL the driver once ``condition(db)`` holds; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition(db):
            proc.kill()
            proc.communicate(timeout=60)
            return True
        time.sleep(0.02)
    proc.communicate(timeout=60)
    return False


@pytest.mark.e2e
def test_sigkill_at_every_moment_then_a_rerun_finishes_every_trial_once(tmp_path, ray_tmp):
    (tmp_path / "spec.yaml").write_text(SPEC)
    db = tmp_path / "paretoctl.db"
    survived = []
    for moment, condition in MOMENTS.items():
        if statuses(db).count("done") == N_TRIALS:  # an earlier run finished the work
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE trials SET status = 'failed'")
        killed = kill_when(start(tmp_path, ray_tmp), condition, db)
        # no half-written trial: a trial has all three points or none
        per_trial = query(db, "SELECT trial_id, COUNT(*) FROM points GROUP BY trial_id")
        assert all(count == 3 for _, count in per_trial), (moment, per_trial)
        survived.append((moment, killed))
    assert all(killed for _, killed in survived), survived
    final = start(tmp_path, ray_tmp)
    _, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr
    assert sorted(statuses(db)) == ["done"] * N_TRIALS
    assert n_points(db) == N_TRIALS * 3
    assert query(db, "SELECT COUNT(*) FROM (SELECT trial_id, split, ray_index FROM points "
                     "GROUP BY trial_id, split, ray_index HAVING COUNT(*) > 1)") == [(0,)]


def test_readers_during_two_writer_processes_on_sqlite(tmp_path):
    figures = stress(f"sqlite:///{tmp_path / 'stress.db'}", writers=2, trials=15, readers=2)
    assert figures["errors"] == []
    assert figures["points_lost"] == 0 and figures["duplicates"] == 0
    assert figures["statuses"] == {"done": 30}
    assert figures["reads"] > 0


@pytest.mark.postgres
def test_readers_during_two_writer_processes_on_postgres(pg_url):
    figures = stress(pg_url, writers=2, trials=15, readers=2)
    assert figures["errors"] == []
    assert figures["points_lost"] == 0 and figures["duplicates"] == 0
    assert figures["statuses"] == {"done": 30}
