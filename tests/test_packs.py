"""Packed trials: which trials pack together, how a pack runs (one process, the data
loaded once, each member reported on its own and failing alone), how the driver records
each member as its own trial (a crashed or stopped pack included), and a real packed
sweep that stores the points of the same sweep run unpacked and resumes without
rerunning a done member."""
from __future__ import annotations

import json
import math
import shutil
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from cli_runs import explicit, run_cli, sqlite_rows, sweep_cli, tiny_sweep
from contract.trial import TrialConfig, trial_key
from orchestrator.errors import SpecError
from orchestrator.expand import expand_sweep
from orchestrator.packs import AUTO_PACK, group_key, group_trials, pack_size
from orchestrator.progress import SweepProgress
from orchestrator.runner import ERROR_KEY, RESULT_KEY, SweepOutcome, pack_trainable, record_interrupted
from orchestrator.spec import MAX_PACK, parse_spec
from store.db import open_store
from tiny_trials import tiny_config
from trainers import pack as pack_module
from trainers.trial import run_trial

PREFERENCES = [[0, 0.8, 0.2], [0, 0.5, 0.5], [0, 0.2, 0.8]]


def spec_of(**changes) -> dict:
    spec = {"name": "p", "datasets": [{"name": "multidigits", "n_train": 200}],
            "architectures": ["hps"],
            "methods": [{"name": "linear", "preferences": {"explicit": PREFERENCES}},
                        {"name": "wc_al", "preferences": {"explicit": PREFERENCES[:1]}}],
            "seeds": [0, 1]}
    return {**spec, **changes}


def expanded(**changes) -> list[dict]:
    return expand_sweep(parse_spec(spec_of(**changes)))


def keys(packs: list[list[dict]]) -> list[list[str]]:
    return [[t["key"] for t in members] for members in packs]


# --------------------------------------------------------------------------- grouping


def test_preferences_and_seeds_pack_together_and_nothing_else_does():
    trials = expanded(search={"space": {"train.lr": [1e-3, 2e-3]}})
    packs = group_trials(trials, MAX_PACK)
    # linear at two learning rates (3 preferences x 2 seeds each), wc_al at two
    assert [len(p) for p in packs] == [6, 6, 2, 2]
    for members in packs:
        shared = {json.dumps({k: v for k, v in t.items()
                              if k not in ("key", "sweep", "preference", "seed")},
                             sort_keys=True) for t in members}
        assert len(shared) == 1
    assert sorted(k for p in keys(packs) for k in p) == sorted(t["key"] for t in trials)


@pytest.mark.parametrize("change", [
    {"dataset": {"name": "multidigits", "options": {"n_train": 300}}},
    {"arch": {"name": "hps", "options": {"width": 0.5}}},
    {"method": {"name": "linear", "params": {"other": 1}}},
    {"train": {"epochs": 99}},
    {"runtime": {"data_dir": "/elsewhere", "threads": 1}},
], ids=["dataset-option", "arch-option", "method-param", "train-setting", "runtime"])
def test_a_trial_that_differs_beyond_preference_and_seed_packs_apart(change):
    trial = expanded()[0]
    other = {**trial, **change, "key": "other"}
    assert group_key(trial) != group_key(other)
    assert keys(group_trials([trial, other], 8)) == [[trial["key"]], ["other"]]
    same = {**trial, "preference": [0, 1, 0], "seed": 7, "key": "mate", "sweep": "elsewhere"}
    assert keys(group_trials([trial, same], 8)) == [[trial["key"], "mate"]]


def test_packs_hold_at_most_k_members_of_nearly_equal_size_in_the_trials_order():
    trials = expanded(seeds=list(range(3)))  # 9 linear trials, 3 wc_al
    linear = [t["key"] for t in trials if t["method"]["name"] == "linear"]
    wc_al = [t["key"] for t in trials if t["method"]["name"] == "wc_al"]
    assert keys(group_trials(trials, 8)) == [linear[:5], linear[5:], wc_al]
    assert keys(group_trials(trials, 4)) == [linear[:3], linear[3:6], linear[6:], wc_al]
    assert keys(group_trials(trials, 1)) == [[k] for k in linear + wc_al]
    assert group_trials(trials, 4) == group_trials(list(trials), 4)  # deterministic
    with pytest.raises(ValueError):
        group_trials(trials, 0)


def test_a_resumed_sweep_packs_only_what_it_still_has_to_do():
    trials = expanded()
    done = {trials[0]["key"], trials[3]["key"]}  # as sweep.py filters them
    todo = [t for t in trials if t["key"] not in done]
    packed = [k for p in keys(group_trials(todo, 8)) for k in p]
    assert sorted(packed) == sorted(t["key"] for t in todo) and not done & set(packed)


def test_auto_fills_the_concurrent_slots_up_to_its_cap():
    assert pack_size(3, 100, 2) == 3
    assert pack_size("auto", 6, 2) == 3  # two packs of three: both slots busy
    assert pack_size("auto", 100, 2) == AUTO_PACK
    assert pack_size("auto", 1, 4) == 1


def test_the_spec_takes_k_or_auto_and_names_the_field_otherwise():
    assert parse_spec(spec_of()).resources.pack == 1
    assert parse_spec(spec_of(resources={"pack": "auto"})).resources.pack == "auto"
    assert parse_spec(spec_of(resources={"pack": MAX_PACK})).resources.pack == MAX_PACK
    for bad in (0, MAX_PACK + 1, True, 2.0, "all"):
        with pytest.raises(SpecError, match=rf"resources\.pack: expected an integer from 1 to "
                                            rf"{MAX_PACK} or 'auto', got "):
            parse_spec(spec_of(resources={"pack": bad}))


# --------------------------------------------------------------------------- one pack


def member(preference: list[float], **train) -> dict:
    config = tiny_config("linear", preference=preference, train={"epochs": 1, **train})
    config["key"] = trial_key(config)
    return config


def scores(result: dict) -> list:
    return [(p["split"], p["ray_index"], p["tasks"]) for p in result["points"]]


def test_members_run_in_one_process_with_one_data_load_and_a_nan_member_fails_alone(
        monkeypatch):
    import trainers.trial as trial_module

    members = [member([0, 0.8, 0.2]), member([math.nan, 0.5, 0.5]), member([0, 0.2, 0.8])]
    loads = []
    real_load = trial_module.load_dataset
    monkeypatch.setattr(trial_module, "load_dataset", lambda c: loads.append(c) or real_load(c))
    monkeypatch.setitem(sys.modules, "trainers.packing", None)  # no batched trainer
    outcomes: list[tuple[str, object]] = []
    models: list = []
    assert pack_module.run_pack(members, lambda key, o, m: (outcomes.append((key, o)),
                                                             models.append(m))) == "sequential"
    assert len(loads) == 1
    assert [key for key, _ in outcomes] == [m["key"] for m in members]
    error = outcomes[1][1]
    assert isinstance(error, str) and error.startswith("trainers.loop.TrainingDiverged: ")
    assert "epoch 0: the training loss is nan" in error
    for index in (0, 2):  # the others compute exactly what they compute alone
        assert scores(outcomes[index][1]) == scores(run_trial(members[index]))
    # each member's trained model comes with it (none for the failed one)
    assert models[1] is None and all(models[i][:8] and len(models[i]) > 100 for i in (0, 2))


class FakePacking(types.ModuleType):
    """Stands in for the batched trainer (trainers.packing) to check the dispatch."""

    def __init__(self, reason=None, outcomes=None, error=None):
        super().__init__("trainers.packing")
        self.reason, self.outcomes, self.error, self.calls = reason, outcomes, error, []

    def packable(self, configs):
        assert all(isinstance(c, TrialConfig) for c in configs)
        return self.reason

    def train_packed(self, configs, on_epoch=None, on_model=None):
        self.calls.append([c.key for c in configs])
        if self.error:
            raise self.error
        return self.outcomes


class FakeBundle:
    """A data set that says where it was moved."""

    def to(self, device):
        return f"bundle on {device}"


def run_with(monkeypatch, fake) -> tuple[str, list]:
    import trainers.trial as trial_module

    monkeypatch.setitem(sys.modules, "trainers.packing", fake)
    monkeypatch.setattr(trial_module, "load_dataset", lambda c: FakeBundle())
    monkeypatch.setattr(trial_module, "run_trial",
                        lambda c, on_epoch, on_model, bundle: {"ran": c.key, "on": bundle})
    got: list = []
    how = pack_module.run_pack([{**tiny_config("linear"), "key": k} for k in "ab"],
                               lambda key, o, model: got.append((key, o)))
    return how, got


def test_the_batched_trainer_runs_a_pack_it_accepts(monkeypatch):
    fake = FakePacking(outcomes=[{"points": []}, "trainers.loop.TrainingDiverged: nan"])
    how, got = run_with(monkeypatch, fake)
    assert how == "batched" and fake.calls == [["a", "b"]]
    assert got == [("a", {"points": []}), ("b", "trainers.loop.TrainingDiverged: nan")]


def test_a_pack_the_batched_trainer_refuses_runs_member_by_member(monkeypatch):
    how, got = run_with(monkeypatch, FakePacking(reason="pmtl is not batched"))
    assert how == "sequential"
    assert got == [("a", {"ran": "a", "on": "bundle on cpu"}),
                   ("b", {"ran": "b", "on": "bundle on cpu"})]


def test_a_batched_run_that_raises_fails_every_member_with_its_error(monkeypatch):
    how, got = run_with(monkeypatch, FakePacking(error=RuntimeError("out of memory")))
    assert how == "batched"
    assert got == [(k, "pack training failed: RuntimeError: out of memory") for k in "ab"]


def test_a_broken_batched_trainer_is_an_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setitem(sys.modules, "trainers.packing", types.ModuleType("trainers.packing"))
    with pytest.raises(ImportError, match="packable"):
        pack_module.batched_core()


# --------------------------------------------------------------------------- the driver


def trial_rows(db_path: Path) -> dict[str, tuple]:
    return {key: (status, pack, error) for key, status, pack, error in
            sqlite_rows(db_path, "SELECT key, status, pack, error FROM trials")}


class FakeTrial(SimpleNamespace):
    """What the store writer reads of a Tune trial, and Trial.set_config, which Tune's
    retry reads back (trial.config) when it starts the trial again."""

    def set_config(self, config: dict) -> None:
        self.config = config


def writer_for(tmp_path, members):
    from orchestrator.tune_hooks import StoreWriter  # imports Ray: only where it is used

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    store.add_trials("s", members)
    outcome, progress = SweepOutcome(), SweepProgress(len(members), enabled=False)
    trial = FakeTrial(config={"pack": members}, num_failures=1, local_path="/ray/trial",
                      pickled_error_file=None)
    return StoreWriter(store, outcome, progress), trial, outcome, progress


def test_each_member_is_reported_and_recorded_as_its_own_trial(tmp_path, monkeypatch):
    from ray import tune

    members = [member([0, 0.8, 0.2]), member([math.nan, 0.5, 0.5]), member([0, 0.2, 0.8])]
    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", reports.append)
    pack_trainable({"pack": members})
    finals = [r for r in reports if RESULT_KEY in r or ERROR_KEY in r]
    assert [r["trial_key"] for r in finals] == [m["key"] for m in members]
    assert [RESULT_KEY in r for r in finals] == [True, False, True]

    writer, trial, outcome, progress = writer_for(tmp_path, members)
    first = members[0]["key"]
    writer.on_trial_start(0, [], trial)
    running = {m["key"]: ("running", first, None) for m in members}
    assert trial_rows(tmp_path / "store.db") == running
    assert outcome.started == [m["key"] for m in members] and len(progress.running) == 3
    for report in reports:
        writer.on_trial_result(0, [], trial, report)
    rows = trial_rows(tmp_path / "store.db")
    assert [rows[m["key"]][:2] for m in members] == [("done", first), ("failed", first),
                                                      ("done", first)]
    assert "training diverged" in rows[members[1]["key"]][2]
    assert (progress.done, progress.failed, len(progress.running)) == (2, 1, 0)
    with sqlite3.connect(tmp_path / "store.db") as conn:  # the members' epochs as they came
        assert dict(conn.execute("SELECT t.key, COUNT(*) FROM epochs e JOIN trials t "
                                 "ON t.id = e.trial_id GROUP BY t.key")) == {
            members[0]["key"]: 1, members[2]["key"]: 1}
    with sqlite3.connect(tmp_path / "store.db") as conn:
        per_trial = dict(conn.execute("SELECT t.key, COUNT(p.id) FROM trials t LEFT JOIN points p "
                                      "ON p.trial_id = t.id GROUP BY t.key"))
    assert per_trial == {members[0]["key"]: 3, members[1]["key"]: 0, members[2]["key"]: 3}


def test_a_stopped_pack_leaves_its_unfinished_members_interrupted(tmp_path):
    members = [member([0, 0.8, 0.2]), member([0, 0.5, 0.5]), member([0, 0.2, 0.8])]
    writer, trial, outcome, _ = writer_for(tmp_path, members)
    writer.on_trial_start(0, [], trial)
    writer.on_trial_result(0, [], trial, {RESULT_KEY: json.dumps(run_trial(members[0])),
                                          "trial_key": members[0]["key"]})
    record_interrupted(outcome, writer.store)  # what run_trials does after a stop
    assert outcome.interrupted == [m["key"] for m in members[1:]]
    rows = trial_rows(tmp_path / "store.db")
    assert [rows[m["key"]][0] for m in members] == ["done", "interrupted", "interrupted"]


def test_a_member_run_again_on_its_own_is_no_longer_in_a_pack(tmp_path):
    members = [member([0, 0.8, 0.2]), member([0, 0.5, 0.5])]
    writer, trial, _, _ = writer_for(tmp_path, members)
    writer.on_trial_start(0, [], trial)
    writer.store.mark_running(members[1]["key"])  # a later sweep with pack: 1
    rows = trial_rows(tmp_path / "store.db")
    assert rows[members[0]["key"]][1] == members[0]["key"] and rows[members[1]["key"]][1] is None


def test_a_crashed_pack_fails_only_its_unfinished_members_and_a_retry_keeps_the_done_ones(
        tmp_path):
    members = [member([0, 0.8, 0.2]), member([0, 0.5, 0.5]), member([0, 0.2, 0.8])]
    result = run_trial(members[0])
    writer, trial, outcome, progress = writer_for(tmp_path, members)
    done = {RESULT_KEY: json.dumps(result), "trial_key": members[0]["key"]}
    writer.on_trial_start(0, [], trial)
    writer.on_trial_result(0, [], trial, done)
    writer.on_trial_start(0, [], trial)  # Tune retries the crashed pack
    writer.on_trial_result(0, [], trial, done)  # which trains member 0 again
    assert progress.done == 1 and outcome.done == [members[0]["key"]]
    writer.on_trial_error(0, [], trial)  # and crashes again: no retry left
    rows = trial_rows(tmp_path / "store.db")
    assert rows[members[0]["key"]][0] == "done"
    for m in members[1:]:
        assert rows[m["key"]][:2] == ("failed", members[0]["key"])
        assert rows[m["key"]][2] == "Ray trial error after 0 retries (see /ray/trial)"
    assert progress.failed == 2


class WorkerDied(BaseException):
    """The pack's worker process dies (nothing in it catches this)."""


def test_a_pack_retried_after_a_crash_trains_only_the_members_not_recorded(tmp_path,
                                                                           monkeypatch):
    """Tune's sequence for a crash with a retry left: the first member's result reaches
    the driver, the worker dies, on_trial_recover, the trial starts again with its
    config. The retry trains the two other members, not the first one again."""
    from ray import tune

    monkeypatch.setitem(sys.modules, "trainers.packing", None)  # members finish one by one
    members = [member([0, 0.8, 0.2]), member([0, 0.5, 0.5]), member([0, 0.2, 0.8])]
    writer, trial, outcome, _ = writer_for(tmp_path, members)
    trained: list[str] = []

    def deliver(report: dict) -> None:  # Tune hands each report to the driver's callback
        writer.on_trial_result(0, [], trial, report)
        if RESULT_KEY in report or ERROR_KEY in report:
            trained.append(report["trial_key"])
            if len(trained) == 1:
                raise WorkerDied

    monkeypatch.setattr(tune, "report", deliver)
    trial.num_failures = 0
    writer.on_trial_start(0, [], trial)
    with pytest.raises(WorkerDied):
        pack_trainable(trial.config)
    trial.num_failures = 1
    writer.on_trial_recover(0, [], trial)
    writer.on_trial_start(0, [], trial)
    pack_trainable(trial.config)
    assert trained == [m["key"] for m in members]
    assert outcome.done == [m["key"] for m in members] and not outcome.failed
    rows = trial_rows(tmp_path / "store.db")
    assert [rows[m["key"]][:2] for m in members] == [("done", members[0]["key"])] * 3
    attempts = dict(sqlite_rows(tmp_path / "store.db", "SELECT key, attempts FROM trials"))
    assert [attempts[m["key"]] for m in members] == [1, 2, 2]


def test_a_retried_pack_whose_members_all_finished_trains_nothing(monkeypatch):
    from ray import tune

    from orchestrator.runner import FINISHED_KEY

    members = [member([0, 0.8, 0.2]), member([0, 0.5, 0.5])]
    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", reports.append)
    pack_trainable({"pack": members, FINISHED_KEY: [m["key"] for m in members]})
    assert reports == []


# --------------------------------------------------------------------------- a real sweep

SPLIT_SIZES = {"train": 200, "val": 60, "test": 60}
#: a batched trainer sums the same float32 terms in another order: a few ulps per step,
#: which the 4 optimiser steps of this sweep (200 samples, batch 64) may grow a few
#: hundred fold; 1024 ulps bounds it. The sequential fallback computes exactly the
#: unpacked trial, and is held to equality.
FLOAT32_RTOL = 1024 * torch.finfo(torch.float32).eps


def sweep(cwd: Path, pack, *flags: str) -> subprocess.CompletedProcess:
    spec = tiny_sweep("packed", [explicit("linear", *PREFERENCES), explicit("wc_al", [0, 0.5, 0.5])],
                      arch={"name": "hps", "width": 0.5},
                      resources={"cpus_per_trial": 1, "max_concurrent": 2, "pack": pack})
    return sweep_cli(cwd, spec, *flags)


def stored_points(db: Path) -> dict[tuple, tuple[float, float]]:
    return {(key, split, ray, task): (loss, acc) for key, split, ray, task, loss, acc in
            sqlite_rows(db, "SELECT t.key, p.split, p.ray_index, pt.task, pt.loss, pt.acc "
                            "FROM trials t JOIN points p ON p.trial_id = t.id "
                            "JOIN point_tasks pt ON pt.point_id = p.id")}


def ran_sequentially(db: Path) -> bool:
    """Whether this checkout trains the sweep's linear pack member by member."""
    core = pack_module.batched_core()
    if core is None:
        return True
    spec = json.loads(sqlite_rows(db, "SELECT spec FROM sweeps")[0][0])
    linear = [TrialConfig.from_plain(t) for t in expand_sweep(parse_spec(spec))
              if t["method"]["name"] == "linear"]
    return core[0](linear) is not None


def assert_same_points(db: Path, reference: dict) -> None:
    points = stored_points(db)
    assert points.keys() == reference.keys()
    exact = ran_sequentially(db)
    for where, (loss, acc) in points.items():
        want_loss, want_acc = reference[where]
        if exact:
            assert (loss, acc) == (want_loss, want_acc), where
        else:
            assert loss == pytest.approx(want_loss, rel=FLOAT32_RTOL), where
            assert abs(acc - want_acc) <= 1 / SPLIT_SIZES[where[1]] + 1e-12, where


@pytest.mark.e2e
def test_a_packed_sweep_stores_the_unpacked_points_and_resumes_only_unfinished_members(
        workdir):
    unpacked, packed, resumed = workdir / "unpacked", workdir / "packed", workdir / "resumed"
    for folder in (unpacked, packed, resumed):
        folder.mkdir()
    first = sweep(unpacked, 1)
    assert first.returncode == 0 and "done 4, failed 0" in first.stderr, first.stderr
    reference = stored_points(unpacked / "paretoctl.db")
    linear = [k for (k,) in sqlite_rows(unpacked / "paretoctl.db", "SELECT key FROM trials WHERE "
                                        "method = 'linear' ORDER BY id")]
    (wc_al,), = sqlite_rows(unpacked / "paretoctl.db", "SELECT key FROM trials WHERE method = 'wc_al'")

    # packed from scratch: the three linear trials in one pack, wc_al on its own
    second = sweep(packed, 3)
    db = packed / "paretoctl.db"
    assert second.returncode == 0, second.stderr
    assert "4 to run in 2 packs" in second.stderr and "done 4, failed 0" in second.stderr
    rows = trial_rows(db)
    assert [rows[k][:2] for k in linear] == [("done", linear[0])] * 3
    assert rows[wc_al][:2] == ("done", None)
    assert_same_points(db, reference)

    # resumed: two linear trials did not finish; the rerun packs those two only
    db = resumed / "paretoctl.db"
    shutil.copy(unpacked / "paretoctl.db", db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE trials SET status = 'failed' WHERE key = ?", (linear[0],))
        conn.execute("UPDATE trials SET status = 'interrupted' WHERE key = ?", (linear[2],))
    before = dict(sqlite_rows(db, "SELECT key, finished_at FROM trials"))
    third = sweep(resumed, 3, "--resume")  # the spec changed: pack 1 -> 3
    assert third.returncode == 0, third.stderr
    assert "2 already done, 2 to run in 1 pack " in third.stderr, third.stderr
    assert "done 2, failed 0" in third.stderr
    rows, after = trial_rows(db), dict(sqlite_rows(db, "SELECT key, finished_at FROM trials"))
    assert {key: row[:2] for key, row in rows.items()} == {
        linear[0]: ("done", linear[0]), linear[1]: ("done", None),
        linear[2]: ("done", linear[0]), wc_al: ("done", None)}
    assert [after[k] == before[k] for k in (linear[1], wc_al)] == [True, True]  # not rerun
    assert [after[k] == before[k] for k in (linear[0], linear[2])] == [False, False]
    assert_same_points(db, reference)

    listing = run_cli("trials", "--sweep", "packed", "--format", "json", cwd=packed, timeout=120)
    assert listing.returncode == 0, listing.stderr
    shown = {t["key"]: t["status"] for t in json.loads(listing.stdout)["trials"]}
    assert shown == {k: "done" for k in [*linear, wc_al]}


def test_a_batched_pack_gives_each_member_its_trained_model(tmp_path):
    """The batched trainer's members come with their models, as unpacked trials do: each
    file loads and reproduces its member's stored test accuracy."""
    from trainers.artifacts import evaluate_model, load_model

    members = [member([0, 0.8, 0.2]), member([0, 0.2, 0.8])]
    got: list = []
    assert pack_module.run_pack(members, lambda key, o, m: got.append((key, o, m))) == "batched"
    for config, (key, outcome, model) in zip(members, got):
        assert key == config["key"] and isinstance(model, bytes)
        path = tmp_path / f"{key}.safetensors"
        path.write_bytes(model)
        loaded, loaded_config = load_model(path)
        test = next(p for p in outcome["points"] if p["split"] == "test")
        scores = evaluate_model(loaded, loaded_config, "test")
        assert {t: s["acc"] for t, s in scores.items()} == {t: s["acc"] for t, s in test["tasks"].items()}


@pytest.mark.parametrize("batched", [True, False])
def test_every_member_of_a_pack_reports_its_epochs(monkeypatch, batched):
    if not batched:
        monkeypatch.setitem(sys.modules, "trainers.packing", None)
    members = [member([0, 0.8, 0.2], epochs=2), member([0, 0.2, 0.8], epochs=2)]
    epochs: list = []
    how = pack_module.run_pack(members, lambda key, o, m: None,
                               on_epoch=lambda key, record: epochs.append((key, record["epoch"])))
    assert how == ("batched" if batched else "sequential")
    assert sorted(epochs) == sorted((m["key"], e) for m in members for e in (0, 1))


def test_epoch_reports_go_at_once_then_at_most_every_second_and_the_rest_with_the_result():
    from orchestrator.runner import EPOCH_KEY, EpochReports

    sent: list = []
    reports = EpochReports(sent.append)
    now = [0.0]
    reports.clock = lambda: now[0]
    reports.add("a", {"epoch": 0})
    reports.add("b", {"epoch": 0})  # within the second: waits
    now[0] = 1.5
    reports.add("a", {"epoch": 1})  # a second on: everything waiting goes, per trial
    reports.add("a", {"epoch": 2})
    assert [(r["trial_key"], [e["epoch"] for e in json.loads(r[EPOCH_KEY])]) for r in sent] == [
        ("a", [0]), ("b", [0]), ("a", [1])]
    assert [e["epoch"] for e in json.loads(reports.take("a")[EPOCH_KEY])] == [2]
    assert reports.take("a") == {} and reports.take("b") == {}
