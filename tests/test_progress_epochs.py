"""Live progress per epoch: the epoch record, the store's epoch rows (write and reads, on
SQLite and on PostgreSQL when PARETOCTL_TEST_PG_URL is set), the trainable's intermediate
reports, the driver's display and ETA, `trials --watch` and `front --live`, and a real
sweep whose epochs are stored while it runs."""
from __future__ import annotations

import io
import json
import math
import os
import queue
import signal
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
from rich.console import Console
from sqlalchemy import select, text
from typer.testing import CliRunner

from cli_runs import cli_env, explicit, start_cli, tiny_sweep
from orchestrator.cli import app
from orchestrator.progress import SweepProgress, estimate_eta, format_eta
from store import writes
from store.db import open_store
from store.errors import StoreError
from store.queries import PointFilter, latest_epochs, list_trials, live_points, trial_epochs
from store.schema import Trial
from tiny_trials import tiny_config
from trial_holds import stopped, trial_workers, worker_at_report
from trainers.trial import run_trial

KEYS = [f"{i:016x}" for i in range(1, 4)]


def stored_trial(key: str, method: str = "linear") -> dict:
    return {"key": key, "dataset": {"name": "multidigits", "options": {}},
            "arch": {"name": "hps", "options": {}},
            "method": {"name": method, "params": {}}, "preference": [0.0, 0.5, 0.5],
            "seed": 0, "train": {}}


def epoch_record(stage: str, epoch: int, score: float, *, left=0.5, right=0.25,
                 acc=(0.8, 0.9), stage_epochs: int = 3) -> dict:
    return {"stage": stage, "epoch": epoch, "stage_epochs": stage_epochs, "val_score": score,
            "train_loss": 0.7, "val_loss": {"left": left, "right": right},
            "val_acc": {"left": acc[0], "right": acc[1]}, "elapsed_s": 1.0 + epoch}


def write_epoch(store, key: str, record: dict) -> None:
    writes.record_epoch(store, key, record["stage"], record["epoch"],
                        val_score=record["val_score"], elapsed_s=record["elapsed_s"],
                        record=record)


def make_store(url: str):
    store = open_store(url, create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    store.add_trials("s", [stored_trial(k) for k in KEYS])
    return store


@pytest.fixture
def sqlite_store(tmp_path):
    store = make_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    store = make_store(url)
    yield store
    store.close()


# ----------------------------------------------------------------------------- the record


def test_the_epoch_record_holds_per_task_validation_scores_and_the_training_loss():
    records: list[dict] = []
    config = tiny_config("linear", preference=[0.0, 0.5, 0.5], train={"epochs": 2})
    result = run_trial(config, on_epoch=records.append)
    assert [(r["stage"], r["epoch"], r["stage_epochs"]) for r in records] == [
        ("train", 0, 2), ("train", 1, 2)]
    for record in records:
        assert set(record["val_loss"]) == set(record["val_acc"]) == {"left", "right"}
        # the selection score is the mean validation accuracy of the same pass
        assert record["val_score"] == pytest.approx(
            sum(record["val_acc"].values()) / 2, abs=1e-12)
        assert math.isfinite(record["train_loss"]) and record["train_loss"] > 0
    assert result["info"]["history"] == records
    best = records[result["info"]["best_epoch"]]
    val = next(p for p in result["points"] if p["split"] == "val")
    for task in ("left", "right"):  # the kept epoch's scores are the stored val point's
        assert best["val_loss"][task] == pytest.approx(val["tasks"][task]["loss"], rel=1e-9)
        assert best["val_acc"][task] == pytest.approx(val["tasks"][task]["acc"], abs=1e-12)


def test_time_spent_reporting_an_epoch_is_not_training_time(monkeypatch):
    # a driver that takes 1000 s per report, on a clock the test moves (no real wait, and
    # no bound on how long the training itself may take on a loaded machine)
    driver_s = {"spent": 0.0}
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: real() + driver_s["spent"])

    def slow_driver(record):
        driver_s["spent"] += 1000.0

    config = tiny_config("linear", preference=[0.0, 0.5, 0.5], train={"epochs": 2})
    result = run_trial(config, on_epoch=slow_driver)
    assert driver_s["spent"] == 2000.0
    assert 0.0 < result["time_train_s"] < 1000.0
    assert result["time_phase1_s"] == result["time_train_s"]


def test_a_front_learner_has_no_per_task_validation_scores():
    records: list[dict] = []
    run_trial(tiny_config("cosmos", train={"epochs": 1}), on_epoch=records.append)
    assert len(records) == 1 and "val_loss" not in records[0]
    assert math.isfinite(records[0]["val_score"])


# ----------------------------------------------------------------------------- the store


def test_record_epoch_is_idempotent_and_the_reads_follow_the_running_trials(any_store):
    store = any_store
    for key in KEYS[:2]:
        store.mark_running(key)
    write_epoch(store, KEYS[0], epoch_record("train", 0, 0.5))
    write_epoch(store, KEYS[0], epoch_record("train", 1, 0.6))
    write_epoch(store, KEYS[0], epoch_record("train", 1, 0.65))   # a retried epoch overwrites
    write_epoch(store, KEYS[1], epoch_record("phase1", 0, 0.4))
    write_epoch(store, KEYS[1], epoch_record("phase2", 0, 0.45))
    write_epoch(store, KEYS[2], epoch_record("train", 0, 0.3))     # pending: not "running"

    epochs = trial_epochs(store, KEYS[0])
    assert list(epochs["epoch"]) == [0, 1]
    assert list(epochs["val_score"]) == [0.5, 0.65]
    assert epochs["record"].iloc[1]["val_loss"] == {"left": 0.5, "right": 0.25}
    assert list(epochs["stage_epochs"]) == [3, 3]

    latest = latest_epochs(store).set_index("key")
    assert sorted(latest.index) == KEYS[:2]
    assert (latest.loc[KEYS[0], "epoch"], latest.loc[KEYS[0], "val_score"]) == (1, 0.65)
    assert latest.loc[KEYS[1], "stage"] == "phase2"          # the last recorded, not max stage
    assert latest.loc[KEYS[1], "elapsed_s"] == 1.0
    assert sorted(latest_epochs(store, status=None)["key"]) == KEYS
    assert latest_epochs(store, PointFilter(method="mgda")).empty

    writes.clear_epochs(store, KEYS[0])                     # a new attempt starts afresh
    assert trial_epochs(store, KEYS[0]).empty
    assert trial_epochs(store, "f" * 16).empty


def test_record_epoch_refuses_bad_values_and_stores_nan_as_null(sqlite_store):
    store = sqlite_store
    with pytest.raises(StoreError, match="unknown trial"):
        writes.record_epoch(store, "e" * 16, "train", 0)
    with pytest.raises(StoreError, match="epoch must be a whole number >= 0"):
        writes.record_epoch(store, KEYS[0], "train", -1)
    with pytest.raises(StoreError, match="stage must be a name"):
        writes.record_epoch(store, KEYS[0], "", 0)
    writes.record_epoch(store, KEYS[0], "train", 0, val_score=math.nan,
                        record={"val_loss": {"left": math.nan}})
    row = trial_epochs(store, KEYS[0]).iloc[0]
    assert math.isnan(row["val_score"])
    assert row["record"] == {"val_loss": {"left": None}, "stage": "train", "epoch": 0,
                             "val_score": None}


def test_record_epochs_writes_a_batch_in_one_go(sqlite_store):
    store = sqlite_store
    writes.record_epochs(store, KEYS[0], [epoch_record("train", 0, 0.5),
                                          epoch_record("train", 1, 0.6),
                                          epoch_record("train", 1, 0.7)])  # the last one counts
    assert list(trial_epochs(store, KEYS[0])["val_score"]) == [0.5, 0.7]
    with pytest.raises(StoreError, match="epoch of trial .*: stage must be a name"):
        writes.record_epochs(store, KEYS[0], [epoch_record("train", 2, 0.8), {"epoch": 3}])
    assert len(trial_epochs(store, KEYS[0])) == 2  # nothing of a refused batch is written


def test_live_points_take_the_latest_epoch_of_running_trials(sqlite_store):
    store = sqlite_store
    store.mark_running(KEYS[0])
    write_epoch(store, KEYS[0], epoch_record("train", 0, 0.5, left=0.9))
    write_epoch(store, KEYS[0], epoch_record("train", 1, 0.6, left=0.4, acc=(0.7, 0.6)))
    live = live_points(store)
    assert len(live) == 1
    row = live.iloc[0]
    assert (row["trial"], row["split"], row["epoch"], row["stage"]) == (KEYS[0], "val", 1, "train")
    assert (row["loss.left"], row["acc.left"], row["mcr.right"]) == (0.4, 0.7, pytest.approx(0.4))
    assert math.isnan(row["sr"])


# ----------------------------------------------------------------------------- the trainable


def test_the_trainable_reports_every_epoch_before_its_result(tmp_path, monkeypatch):
    from ray import tune

    from orchestrator.expand import trial_key
    from orchestrator.runner import EPOCH_KEY, RESULT_KEY, SweepOutcome, trial_trainable

    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", reports.append)
    config = tiny_config("linear", preference=[0.0, 0.5, 0.5], train={"epochs": 2})
    config["key"] = trial_key(config)
    trial_trainable({"trial": config})
    # the first epoch goes at once; the second, within a second of it, with the result
    assert len(reports) == 2 and RESULT_KEY not in reports[0] and RESULT_KEY in reports[1]
    epochs = [e for r in reports for e in json.loads(r[EPOCH_KEY])]
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert 0 < epochs[0]["elapsed_s"] <= epochs[1]["elapsed_s"]

    from orchestrator.tune_hooks import StoreWriter  # imports Ray: only where it is used

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    store.add_trials("s", [config])
    outcome = SweepOutcome()
    buffer = io.StringIO()
    progress = SweepProgress(1, console=Console(file=buffer, force_terminal=False, width=200))
    writer = StoreWriter(store, outcome, progress)
    trial = SimpleNamespace(config={"trial": config})
    writer.on_trial_start(0, [], trial)
    writer.on_trial_result(0, [], trial, reports[0])
    assert outcome.done == [] and progress.running  # an epoch is not a result
    assert list(latest_epochs(store)["epoch"]) == [0]
    writer.on_trial_result(0, [], trial, reports[1])
    assert outcome.done == [config["key"]]
    stored = trial_epochs(store, config["key"])
    history = json.loads(reports[-1][RESULT_KEY])["info"]["history"]
    assert list(stored["val_score"]) == [h["val_score"] for h in history]
    lines = buffer.getvalue().splitlines()
    assert lines[0].startswith(f"trial {config['key']} train epoch 1/2 val ")
    assert lines[1].startswith(f"trial {config['key']} train epoch 2/2 val ")
    assert lines[2].startswith(f"trial {config['key']} done: 1/1 finished")
    assert len(lines) == 3


# ----------------------------------------------------------------------------- display and ETA


def test_eta_formatting():
    assert format_eta(None) == "ETA ?"
    assert format_eta(0) == "ETA 0s"
    assert format_eta(42.4) == "ETA 42s"
    assert format_eta(59.6) == "ETA 1m00s"
    assert format_eta(185) == "ETA 3m05s"
    assert format_eta(2 * 3600 + 3 * 60 + 20) == "ETA 2h03m"
    assert format_eta(-5) == "ETA 0s"


def test_eta_from_finished_durations_and_epoch_progress():
    # nothing known yet: no estimate
    assert estimate_eta([], [(5.0, None)], pending=3, slots=1) is None
    # one trial a third through its stage after 10 s: 20 s left, nothing else to run
    assert estimate_eta([], [(10.0, 1 / 3)], pending=0, slots=1) == pytest.approx(20.0)
    # 4 pending at the 30 s mean of the finished ones, a running one with 20 s left, 2 slots
    assert estimate_eta([20.0, 40.0], [(10.0, 1 / 3)], pending=4, slots=2) == pytest.approx(70.0)
    # before its first epoch a running trial is taken at the mean duration
    assert estimate_eta([30.0], [(12.0, None)], pending=0, slots=1) == pytest.approx(18.0)
    # never less than the longest running trial's rest
    assert estimate_eta([1.0], [(10.0, 0.1)], pending=1, slots=8) == pytest.approx(90.0)


def test_the_display_shows_each_running_trial_and_the_eta():
    now = [0.0]
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    with SweepProgress(3, console=console, clock=lambda: now[0]) as progress:
        progress.started("aaaa")
        now[0] = 10.0
        progress.epoch("aaaa", {"stage": "train", "epoch": 0, "stage_epochs": 2,
                                "val_score": 0.8125})
        now[0] = 20.0
        progress.finished("aaaa", ok=True)
    lines = buffer.getvalue().splitlines()
    # 10 s for half the stage: 10 s left for it, and 2 more trials of 20 s, one at a time
    assert lines[0] == "trial aaaa train epoch 1/2 val 0.8125, 10 s; ETA 50s"
    assert lines[1] == "trial aaaa done: 1/3 finished, 0 failed, 20 s; ETA 40s"
    assert len(lines) == 2


def test_a_live_display_lists_the_running_trials():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=160)
    with SweepProgress(2, console=console) as progress:
        progress.started("aaaa")
        progress.epoch("aaaa", {"stage": "train", "epoch": 1, "stage_epochs": 3,
                                "val_score": 0.5})
    shown = buffer.getvalue()  # the display's last frame, drawn when it stops
    assert "aaaa" in shown and "train epoch 2/3 val 0.5000" in shown and "ETA" in shown


# ----------------------------------------------------------------------------- front --live


def done_result(acc_left: float, acc_right: float) -> dict:
    tasks = {"left": {"loss": 0.3, "acc": acc_left}, "right": {"loss": 0.6, "acc": acc_right}}
    points = [{"split": split, "ray_index": 0, "preference": [0.0, 0.5, 0.5], "tasks": tasks,
               "sparsity": 0.0, "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0}, "n_params": 10,
               "time_train_s": 1.0, "time_eval_s": 0.1} for split in ("train", "val", "test")]
    return {"points": points, "time_train_s": 1.0, "time_phase1_s": None,
            "time_phase2_s": None, "device": "cpu", "versions": {}, "info": {}}


@pytest.fixture
def live_store(tmp_path):
    """A done trial (test accuracies 0.7 / 0.7), a running one whose latest epoch is a
    better validation point (0.9 / 0.8) and a pending one."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    store = make_store(url)
    store.record_result(KEYS[0], done_result(0.7, 0.7))
    store.mark_running(KEYS[1])
    write_epoch(store, KEYS[1], epoch_record("train", 0, 0.5, acc=(0.5, 0.5)))
    write_epoch(store, KEYS[1], epoch_record("train", 1, 0.85, acc=(0.9, 0.8)))
    store.close()
    return url


def front(url: str, *args: str):
    return CliRunner().invoke(app, ["front", "--dataset", "multidigits", "--store", url, *args])


def test_front_live_adds_the_running_trials_latest_epoch_marked_live(live_store):
    plain = front(live_store, "--format", "json")
    assert plain.exit_code == 0, plain.output
    document = json.loads(plain.stdout)
    assert [p["trial"] for p in document["points"]] == [KEYS[0]]
    assert "live" not in document["points"][0]          # without --live nothing changes

    result = front(live_store, "--live", "--format", "json")
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)["points"]
    assert [(p["trial"], p["split"], p["live"]) for p in points] == [(KEYS[1], "val", True)]
    assert points[0]["values"] == [pytest.approx(0.1), pytest.approx(0.2)]  # mcr = 1 - acc

    # by loss the stored point (0.3, 0.6) and the live one (0.5, 0.25) are both on the front
    csv = front(live_store, "--live", "--format", "csv", "--objectives", "loss.*")
    header, *rows = csv.stdout.strip().splitlines()
    assert header.split(",")[-1] == "live"
    assert sorted(row.split(",")[0] + ":" + row.split(",")[-1] for row in rows) == sorted(
        [f"{KEYS[0]}:False", f"{KEYS[1]}:True"])

    table = front(live_store, "--live")
    assert table.exit_code == 0 and "live" in table.stdout and KEYS[1] in table.stdout


def test_front_live_leaves_out_a_live_point_missing_an_objective(live_store):
    result = front(live_store, "--live", "--objectives", "mcr.*,sr", "--format", "json")
    assert result.exit_code == 0, result.output
    points = json.loads(result.stdout)["points"]
    assert [(p["trial"], p["live"]) for p in points] == [(KEYS[0], False)]
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: running trial {KEYS[1]} (epoch 2) left out: its latest epoch "
                     "has no sr"]


# ----------------------------------------------------------------------------- trials --watch


def test_watch_on_a_finished_sweep_shows_it_once_and_ends(sqlite_store):
    for key in KEYS:
        sqlite_store.mark_failed(key, "boom")
    url = str(sqlite_store.engine.url)
    result = CliRunner().invoke(app, ["trials", "--watch", "--interval", "0.2", "--store", url])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines == [f"trial {k} failed" for k in KEYS] + ["all finished: 3 trials: failed 3"]


def test_watch_on_a_terminal_redraws_a_table(sqlite_store):
    from orchestrator.watch import watch

    sqlite_store.mark_running(KEYS[0])
    write_epoch(sqlite_store, KEYS[0], epoch_record("train", 1, 0.75))
    for key in KEYS[1:]:
        sqlite_store.mark_failed(key, "boom")
    buffer = io.StringIO()

    def finish(seconds):
        sqlite_store.record_result(KEYS[0], done_result(0.7, 0.7))

    watch(sqlite_store, PointFilter(), Console(file=buffer, force_terminal=True, width=160),
          1.0, sleep=finish)
    shown = buffer.getvalue()
    assert "3 trials: running 1, failed 2  (every 1 s)" in shown
    assert "train 2/3" in shown and "0.7500" in shown
    assert "all finished: 3 trials: done 1, failed 2" in shown


@pytest.mark.parametrize("args, message", [
    (["--interval", "0.05"], "--interval: expected seconds from 0.2 to 3600, got 0.05"),
    (["--interval", "nan"], "--interval: expected seconds from 0.2 to 3600, got nan"),
    (["--format", "csv"], "--format csv: --watch shows a table; drop --watch for csv"),
])
def test_watch_refuses_bad_flags_in_one_line(sqlite_store, args, message):
    url = str(sqlite_store.engine.url)
    result = CliRunner().invoke(app, ["trials", "--watch", *args, "--store", url])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message}"


def test_watch_follows_epochs_and_statuses_until_all_finish(sqlite_store):
    from orchestrator.watch import watch

    store = sqlite_store
    store.mark_running(KEYS[0])
    # each sleep is where the sweep moves on: an epoch, a finished trial, the rest
    steps = iter([
        lambda: write_epoch(store, KEYS[0], epoch_record("train", 0, 0.5)),
        lambda: (store.record_result(KEYS[0], done_result(0.7, 0.7)),
                 store.mark_running(KEYS[1])),
        lambda: (store.mark_failed(KEYS[1], "x"), store.mark_interrupted(KEYS[2])),
    ])
    buffer = io.StringIO()
    watch(store, PointFilter(), Console(file=buffer, force_terminal=False, width=200), 0.5,
          sleep=lambda s: next(steps)())
    assert buffer.getvalue().splitlines() == [
        f"trial {KEYS[0]} running", f"trial {KEYS[1]} pending", f"trial {KEYS[2]} pending",
        f"trial {KEYS[0]} running train 1/3 val 0.5000",
        f"trial {KEYS[0]} done", f"trial {KEYS[1]} running",
        f"trial {KEYS[1]} failed", f"trial {KEYS[2]} interrupted",
        "all finished: 3 trials: done 1, failed 1, interrupted 1",
    ]


# ----------------------------------------------------------------------------- a real sweep

# several epochs, so that a trial's first report is not its last (see trial_holds)
EPOCHS = 100
SWEEP = tiny_sweep("live", [explicit("linear", [0, 0.5, 0.5])], arch={"name": "hps", "width": 0.5},
                   seeds=[0, 1], epochs=EPOCHS, resources={"cpus_per_trial": 1, "max_concurrent": 1})


def wait_for_store(url: str, process: subprocess.Popen, timeout_s: float = 300.0):
    """The sweep's store, opened read-only once the sweep has created it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            return open_store(url, create=False, read_only=True)
        except StoreError:
            time.sleep(0.2)
    raise AssertionError("the sweep never created its store")


def fresh_running(store) -> bool:
    """A trial is running and has no epoch stored yet."""
    with store.read_connection() as connection:
        return connection.execute(text(
            "SELECT 1 FROM trials t WHERE status = 'running' AND NOT EXISTS "
            "(SELECT 1 FROM epochs e WHERE e.trial_id = t.id)")).first() is not None


def hold_at_first_report(sweep: subprocess.Popen, store) -> int | None:
    """Stop the sweep's running trial once the driver has its first epoch (its worker
    stopped after that report; see trial_holds): its pid, or None when no trial is at
    its start now."""
    if not (fresh_running(store) and trial_workers(sweep.pid, training=True)):
        return None
    with stopped(sweep.pid):
        worker = worker_at_report(sweep.pid) if fresh_running(store) else None
        if worker is not None:
            os.kill(worker, signal.SIGSTOP)
    return worker


def read_lines(stream) -> tuple[list[str], threading.Thread]:
    """The stream's lines as they come, and the thread that reads it to its end."""
    lines: list[str] = []

    def read():
        for line in stream:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


@pytest.mark.e2e
def test_a_running_sweep_stores_its_epochs_and_readers_follow_them(workdir, ray_tmp):
    (workdir / "spec.yaml").write_text(SWEEP)
    env = cli_env(PARETOCTL_RAY_TMP=str(ray_tmp))
    url = f"sqlite:///{workdir / 'paretoctl.db'}"
    sweep = start_cli("sweep", "spec.yaml", cwd=workdir, env=env)
    watcher, held = None, None
    try:
        store = wait_for_store(url, sweep)
        watcher = start_cli("trials", "--watch", "--interval", "0.5", "--store", url,
                            cwd=workdir, env=env)
        lines, reader = read_lines(watcher.stdout)
        deadline = time.monotonic() + 300
        while held is None and time.monotonic() < deadline and sweep.poll() is None:
            held = hold_at_first_report(sweep, store)
            time.sleep(0.05)
        assert held is not None, "no trial was held at its first report while the sweep ran"
        # the held trial cannot go on: readers see it running with its first epoch stored
        while not len(latest := latest_epochs(store)) and time.monotonic() < deadline:
            time.sleep(0.05)  # a read while the sweep writes (WAL)
        assert len(latest), "the held trial's first epoch was never stored"
        seen = latest.iloc[0]
        assert seen["stage"] == "train" and seen["stage_epochs"] == EPOCHS
        assert 0 <= seen["epoch"] < EPOCHS and 0.0 <= seen["val_score"] <= 1.0
        while not any(" running train " in line for line in lines):
            assert time.monotonic() < deadline and watcher.poll() is None, lines
            time.sleep(0.05)
        os.kill(held, signal.SIGCONT)
        held = None
        _, sweep_err = sweep.communicate(timeout=300)
        assert sweep.returncode == 0, sweep_err
        watcher.wait(timeout=120)
        reader.join(timeout=60)
        watch_err = watcher.stderr.read()
    finally:
        if held is not None:
            os.kill(held, signal.SIGCONT)
        for process in (sweep, watcher):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert watcher.returncode == 0, watch_err
    assert lines[-1] == "all finished: 2 trials: done 2"
    running = [line for line in lines if " running train " in line]
    assert running and all(f"/{EPOCHS} val 0." in line for line in running), lines
    assert f"train epoch {EPOCHS}/{EPOCHS} val" in sweep_err and "ETA" in sweep_err

    # one row per trial per epoch, with the scores the trials' own history has
    trials = list_trials(store)
    assert list(trials["status"]) == ["done", "done"]
    with store.read_connection() as connection:
        infos = dict(connection.execute(select(Trial.key, Trial.info)).all())
    for key in trials["key"]:
        epochs = trial_epochs(store, key)
        history = infos[key]["history"]
        assert list(epochs["epoch"]) == list(range(EPOCHS))
        assert list(epochs["val_score"]) == [h["val_score"] for h in history]
        assert [r["val_acc"] for r in epochs["record"]] == [h["val_acc"] for h in history]
        assert epochs["elapsed_s"].is_monotonic_increasing
    store.close()
