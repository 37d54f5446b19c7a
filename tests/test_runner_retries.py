"""A trial whose worker process dies is retried ``resources.max_failures`` times; one that
reports a numerical failure is not.

A real `paretoctl sweep` of three small trials, one at a time; the test SIGKILLs the Ray
worker running the first trial (as the kernel's OOM killer or a lost node would). With
one retry that trial runs again and ends done, its row counting 2 attempts; with none it
ends failed, naming the crash and the node, and the sweep goes on with the others. A
trial whose training diverges ends failed after 1 attempt even with a retry left. A pack
killed between its members is retried with the members not stored yet.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cli_runs import explicit, sqlite_rows, start_cli, sweep_cli, tiny_sweep
from trial_holds import stopped, trial_workers, worker_at_report

pytestmark = pytest.mark.e2e


def retries_spec(max_failures: int) -> str:
    """Three seeds of one linear trial, one at a time, each retried ``max_failures`` times."""
    return tiny_sweep("retries", [explicit("linear", [0, 0.5, 0.5])], splits=(800, 60, 60),
                      seeds=[0, 1, 2], epochs=6, batch_size=32,
                      resources={"cpus_per_trial": 1, "max_concurrent": 1, "max_failures": max_failures})


def rows(db: Path) -> dict[str, tuple[str, str | None]]:
    return {key: (status, error) for key, status, error
            in sqlite_rows(db, "SELECT key, status, error FROM trials")}


def run_info(db: Path) -> dict[str, tuple[int | None, str | None]]:
    """``{key: (attempts, node)}``: what the driver recorded of each trial's starts and node."""
    return {key: (attempts, node) for key, attempts, node
            in sqlite_rows(db, "SELECT key, attempts, node FROM trials")}


def fresh_running(db: Path) -> list[str]:
    """Trials the store shows running with no epoch stored yet (none while it is made)."""
    try:
        return [key for (key,) in sqlite_rows(
            db, "SELECT key FROM trials t WHERE status = 'running' AND NOT EXISTS "
                "(SELECT 1 FROM epochs e WHERE e.trial_id = t.id)")]
    except sqlite3.Error:  # not created yet
        return []


def kill_first_running_trial(sweep: subprocess.Popen, db: Path, timeout: float = 300) -> str:
    """SIGKILL the worker of a trial in its middle (at its first epoch's report, see
    trial_holds) and return the trial's key; with the driver stopped, the store and the
    worker are one snapshot: the one running trial is the one that worker holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sweep.poll() is None:
        if fresh_running(db) and trial_workers(sweep.pid, training=True):
            with stopped(sweep.pid):
                running = fresh_running(db)
                worker = worker_at_report(sweep.pid) if len(running) == 1 else None
                if worker is not None:
                    os.kill(worker, signal.SIGKILL)
                    return running[0]
        time.sleep(0.05)
    sweep.kill()
    pytest.fail(f"no trial worker found: {sweep.communicate()[1]}")


def run_and_kill(workdir: Path, max_failures: int):
    (workdir / "spec.yaml").write_text(retries_spec(max_failures))
    db = workdir / "paretoctl.db"
    sweep = start_cli("sweep", "spec.yaml", cwd=workdir)
    killed = kill_first_running_trial(sweep, db)
    _, stderr = sweep.communicate(timeout=180)
    return sweep.returncode, stderr, killed, rows(db), run_info(db)


def test_a_crashed_trial_is_retried_and_ends_done(workdir):
    code, stderr, killed, final, info = run_and_kill(workdir, max_failures=1)
    assert code == 0, stderr
    assert len(final) == 3 and all(status == "done" for status, _ in final.values()), final
    assert "done 3, failed 0" in stderr
    assert {key: attempts for key, (attempts, _) in info.items()} == {
        key: 2 if key == killed else 1 for key in final}
    # the node a trial reported from: its address and Ray's node id
    assert all(node and node.count("/") == 1 for _, node in info.values()), info


def test_without_retries_a_crashed_trial_fails_with_the_reason_and_the_sweep_goes_on(workdir):
    code, stderr, killed, final, info = run_and_kill(workdir, max_failures=0)
    assert code == 1, stderr
    status, error = final.pop(killed)
    assert status == "failed"
    # the node comes from Ray's record of the worker: the trial never reported
    assert re.match(r"worker process died on node 127\.0\.0\.1/[0-9a-f]{56} after 0 retries "
                    r"\(see ", error), error
    assert info[killed] == (1, error.split()[5])
    assert len(final) == 2 and all(status == "done" for status, _ in final.values()), final
    assert "done 2, failed 1" in stderr


def test_a_trial_that_diverges_is_not_retried(workdir):
    out = sweep_cli(workdir, DIVERGING, timeout=300)
    assert out.returncode == 1, out.stderr
    [(key, (status, error))] = rows(workdir / "paretoctl.db").items()
    assert status == "failed" and "training diverged" in error, error
    assert run_info(workdir / "paretoctl.db")[key][0] == 1  # the retry left was not used
    assert "done 0, failed 1" in out.stderr


DIVERGING = tiny_sweep("diverging", [explicit("wc_al", [0, 0.5, 0.5])], lr=1.0e+6,
                       resources={"cpus_per_trial": 1, "max_concurrent": 1, "max_failures": 1})


def test_record_run_sets_node_and_attempts_and_keeps_what_it_is_not_given(tmp_path):
    from store.db import open_store
    from store.errors import StoreError
    from store.writes import record_run

    with open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True) as store:
        store.register_sweep("s", "name: s\n", {"name": "s"}, {})
        key = "0123456789abcdef"
        store.add_trials("s", [{"key": key, "dataset": {"name": "d", "options": {}},
                                "arch": {"name": "a", "options": {}},
                                "method": {"name": "m", "params": {}}, "preference": None,
                                "seed": 0, "train": {}}])
        record_run(store, key, attempts=2)
        record_run(store, key, node="10.0.0.5/" + "a" * 56)
        assert run_info(tmp_path / "store.db")[key] == (2, "10.0.0.5/" + "a" * 56)
        store.mark_running(key)  # a new start: the node is learnt again from its report
        assert run_info(tmp_path / "store.db")[key] == (2, None)
        for bad in (0, True, 1.5):
            with pytest.raises(StoreError, match="attempts must be an integer >= 1"):
                record_run(store, key, attempts=bad)
        with pytest.raises(StoreError, match="unknown trial"):
            record_run(store, "fedcba9876543210", attempts=1)


def test_a_pack_crashed_between_its_members_is_retried_without_the_stored_ones(workdir):
    """A real pack of three seeds that trains member by member (MGDA-UB does not batch):
    its worker is SIGKILLed once a member is stored and before the last one is; the
    retry (Tune starts the trial again with the stored members in its config) finishes
    the others, and the stored ones keep their single attempt and their finish time."""
    spec = tiny_sweep("packretry", [{"name": "mgda", "params": {"mode": "ub"}}],
                      splits=(800, 60, 60), seeds=[0, 1, 2], epochs=20, batch_size=32,
                      resources={"cpus_per_trial": 1, "max_concurrent": 1, "max_failures": 1,
                                 "pack": 3})
    (workdir / "spec.yaml").write_text(spec)
    db = workdir / "paretoctl.db"
    sweep = start_cli("sweep", "spec.yaml", cwd=workdir)
    deadline, stored = time.monotonic() + 300, {}
    while not stored and time.monotonic() < deadline and sweep.poll() is None:
        if len(done_members(db)) == 1:
            # the driver stopped, the worker gets at most one report past what the store
            # shows: at most the second member's result, never the third's
            with stopped(sweep.pid):
                done = done_members(db)
                workers = trial_workers(sweep.pid) if len(done) == 1 else []
                for pid in workers:
                    os.kill(pid, signal.SIGKILL)
                stored = done if workers else {}
        time.sleep(0.05)
    if not stored:
        sweep.kill()
        pytest.fail(f"no pack worker killed between its members: {sweep.communicate()[1]}")
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, stderr
    assert "done 3, failed 0" in stderr, stderr
    final = rows(db)
    assert len(final) == 3 and all(status == "done" for status, _ in final.values()), final
    attempts = {key: attempts for key, (attempts, _) in run_info(db).items()}
    # stored by the killed worker: those stored before the kill, and perhaps the member
    # whose result was on its way; the others were retried
    first = {key for key, count in attempts.items() if count == 1}
    assert set(stored) <= first and len(first) < 3, (stored, attempts)
    assert all(attempts[key] == 2 for key in final if key not in first), attempts
    after = dict(sqlite_rows(db, "SELECT key, finished_at FROM trials"))
    assert {key: after[key] for key in stored} == stored


def done_members(db: Path) -> dict[str, str]:
    """``{key: finished_at}`` of the trials stored done so far."""
    try:
        return dict(sqlite_rows(db, "SELECT key, finished_at FROM trials WHERE status = 'done'"))
    except sqlite3.Error:  # not created yet
        return {}
