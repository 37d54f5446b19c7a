"""The command line: help texts, and every bad input ends with exit code 2, one line
on stderr naming the field or file, and nothing written."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
TINY_DATA = "{name: multidigits, n_train: 300, n_val: 100, n_test: 100}"

runner = CliRunner()

GOOD = f"""
name: tiny
datasets: [{TINY_DATA}]
methods:
  - name: wc_al
    preferences: {{explicit: [[0, 0.5, 0.5], [0, 0.2, 0.8]]}}
train: {{epochs: 1}}
"""


def invoke(*args):
    return runner.invoke(app, list(args))


def assert_refused(result, *fragments, workdir=None):
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert message.startswith("error:"), message
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    if workdir is not None:
        assert not (workdir / "paretoctl.db").exists()


@pytest.mark.parametrize("command", [[], ["sweep"], ["front"], ["report"], ["plot"], ["trials"], ["data"], ["data", "list"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def test_dry_run_prints_trials_and_writes_nothing(workdir, write_spec):
    result = invoke("sweep", str(write_spec(GOOD)), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "2 trials" in result.stdout
    assert "wc_al" in result.stdout and "(0, 0.2, 0.8)" in result.stdout
    assert not (workdir / "paretoctl.db").exists()
    assert not (workdir / ".paretoctl").exists()


BAD_SPECS = {
    "malformed yaml": ("name: x\ndatasets: [multidigits\n", "yaml"),
    "unknown top-level key": (GOOD + "colour: red\n", "colour: unknown key"),
    "unknown train key": (GOOD.replace("epochs: 1", "epochs: 1, epoks: 2"), "train.epoks"),
    "unknown method": (GOOD.replace("wc_al", "wc_all"), "methods.0.name"),
    "unknown dataset": (GOOD.replace("name: multidigits", "name: multidigitz"), "datasets.0.name"),
    "unknown architecture": (GOOD + "architectures: [resnet9000]\n", "architectures.0.name"),
    "unknown method param": (GOOD.replace("\ntrain:", "\n    params: {mu: 1}\ntrain:"), "methods.0.params.mu"),
    "negative preference": (GOOD.replace("[0, 0.2, 0.8]", "[-0.2, 0.4, 0.8]"), "methods.0.preferences.explicit.1"),
    "preference not summing to 1": (GOOD.replace("[0, 0.2, 0.8]", "[0, 0.2, 0.7]"), "sum to 1"),
    "preference of the wrong length": (GOOD.replace("[0, 0.2, 0.8]", "[0.2, 0.8]"), "methods.0.preferences.explicit"),
    "missing methods": ("name: x\ndatasets: [multidigits]\n", "methods"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_are_refused_with_the_field_named(case, workdir, write_spec):
    text, fragment = BAD_SPECS[case]
    path = write_spec(text)
    result = invoke("sweep", str(path))
    assert_refused(result, str(path), fragment, workdir=workdir)


def test_missing_spec_file_is_named(workdir):
    result = invoke("sweep", "nope.yaml")
    assert_refused(result, "nope.yaml", workdir=workdir)


def test_bad_store_url_is_refused(workdir, write_spec):
    result = invoke("sweep", str(write_spec(GOOD)), "--store", "notadb://x")
    assert_refused(result, "notadb://x", workdir=workdir)


def test_front_on_a_missing_store_creates_nothing(workdir):
    result = invoke("front", "--dataset", "multidigits")
    assert_refused(result, "paretoctl.db", workdir=workdir)


@pytest.fixture()
def stored(workdir):
    """A real SQLite store with two finished trials (written through the store API)."""
    from store.db import open_store

    db = open_store("sqlite:///paretoctl.db", create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    trials = []
    for i, (acc_l, acc_r) in enumerate([(0.9, 0.6), (0.7, 0.8)]):
        key = f"{i:016x}"
        trials.append({"key": key, "dataset": {"name": "multidigits", "options": {}},
                       "arch": {"name": "hps", "options": {}},
                       "method": {"name": "linear", "params": {}}, "preference": [0, 0.5, 0.5],
                       "seed": 0, "train": {}})
    db.add_trials("s", trials)
    for trial, (acc_l, acc_r) in zip(trials, [(0.9, 0.6), (0.7, 0.8)]):
        point = {"split": "test", "ray_index": 0, "preference": [0, 0.5, 0.5],
                 "tasks": {"left": {"loss": 1 - acc_l, "acc": acc_l}, "right": {"loss": 1 - acc_r, "acc": acc_r}},
                 "sparsity": 1.0, "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0}, "n_params": 10,
                 "time_train_s": 1.0, "time_eval_s": 0.1}
        db.record_result(trial["key"], {"points": [point], "time_train_s": 1.0, "device": "cpu",
                                        "versions": {}, "info": {}})
    return workdir


def test_front_json_shape_and_values(stored):
    import json

    result = invoke("front", "--dataset", "multidigits", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["objectives"] == ["mcr.left", "mcr.right"]
    assert data["n_candidates"] == 2 and len(data["points"]) == 2
    # (0.1, 0.4) and (0.3, 0.2) w.r.t. (1, 1): 0.9*0.6 + 0.7*0.8 - 0.7*0.6
    assert data["hypervolume"] == pytest.approx(0.68)


def test_front_csv_has_one_row_per_front_point(stored):
    result = invoke("front", "--dataset", "multidigits", "--format", "csv", "--objectives", "acc.*")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and "acc.left" in lines[0]


@pytest.mark.parametrize("args, fragment", [
    (["--split", "nope"], "--split"),
    (["--format", "xml"], "--format"),
    (["--objectives", "mcr.middle"], "mcr.middle"),
    (["--ref-point", "1,x"], "--ref-point"),
    (["--ref-point", "1,1,1"], "ref"),
    (["--method", "mgda"], "no stored points"),
])
def test_bad_front_flags_exit_2(stored, args, fragment):
    result = invoke("front", "--dataset", "multidigits", *args)
    assert_refused(result, fragment)


def test_changing_a_stored_sweep_needs_resume(stored, write_spec):
    path = write_spec(GOOD.replace("name: tiny", "name: s"))
    result = invoke("sweep", str(path))
    assert_refused(result, "already exists", "--resume")


def test_trials_lists_status(stored):
    result = invoke("trials", "--dataset", "multidigits")
    assert result.exit_code == 0, result.stderr
    assert "2 trials" in result.stdout and "done" in result.stdout
