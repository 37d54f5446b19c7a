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


# ----------------------------------------------------------------- front: units, flags, output


def csv_rows(text: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text)))


def front_json(*args):
    import json

    result = invoke("front", "--dataset", "multidigits", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_front_shows_accuracies_as_accuracies_in_every_format(stored):
    data, _ = front_json("--objectives", "acc.*")
    # (acc.left, acc.right) = (0.9, 0.6) and (0.7, 0.8): own units, sorted by the first
    # minimised objective (1 - acc.left)
    assert [p["values"] for p in data["points"]] == [[0.9, 0.6], [0.7, 0.8]]
    for point in data["points"]:
        assert point["minimised"] == [1 - v for v in point["values"]]
    assert data["maximised"] == ["acc.left", "acc.right"]
    assert data["ref_point"] == [0.0, 0.0] and data["ref_point_minimised"] == [1.0, 1.0]
    assert data["hypervolume"] == pytest.approx(0.68)   # the same front as mcr.*
    csv = invoke("front", "--dataset", "multidigits", "--format", "csv", "--objectives", "acc.*")
    rows = csv_rows(csv.stdout)
    assert [(row["acc.left"], row["acc.right"]) for row in rows] == [("0.9", "0.6"), ("0.7", "0.8")]
    table = invoke("front", "--dataset", "multidigits", "--objectives", "acc.*")
    assert table.exit_code == 0, table.stderr
    assert "0.9000" in table.stdout and "0.7000" in table.stdout
    assert "0.1000" not in table.stdout and "0.3000" not in table.stdout
    assert "ref point (0, 0)" in table.stdout


def test_front_ref_point_is_given_in_the_objectives_own_units(stored):
    # accuracy above 0.8 on the left: only (0.9, 0.6) is inside, box 0.1 x 0.6
    data, _ = front_json("--objectives", "acc.*", "--ref-point", "0.8,0")
    assert data["ref_point"] == [0.8, 0.0]
    assert data["ref_point_minimised"] == pytest.approx([0.2, 1.0])
    assert data["hypervolume"] == pytest.approx(0.1 * 0.6)


def test_front_csv_rounds_float_residue_and_reports_hypervolume_on_stderr(stored):
    result = invoke("front", "--dataset", "multidigits", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    # mcr = 1 - acc: 1 - 0.9 is 0.09999999999999998 in float64
    assert "0.09999999999999998" not in result.stdout and "0.30000000000000004" not in result.stdout
    rows = csv_rows(result.stdout)
    assert [(row["mcr.left"], row["mcr.right"]) for row in rows] == [("0.1", "0.4"), ("0.3", "0.2")]
    assert list(rows[0])[-1] == "outside_ref"
    assert "hypervolume 0.68 w.r.t. ref point (1, 1)" in result.stderr


def test_front_flags_points_outside_the_reference_point(stored):
    # mcr points (0.1, 0.4) and (0.3, 0.2); only the first is strictly inside (0.2, 0.5)
    data, _ = front_json("--ref-point", "0.2,0.5")
    assert [p["outside_ref"] for p in data["points"]] == [False, True]
    assert data["n_outside_ref"] == 1
    assert data["hypervolume"] == pytest.approx(0.1 * 0.1)
    table = invoke("front", "--dataset", "multidigits", "--ref-point", "0.2,0.5")
    assert "1 of 2 front points outside it" in " ".join(table.stdout.split())
    assert "outside_ref" in table.stdout
    csv = invoke("front", "--dataset", "multidigits", "--ref-point", "0.2,0.5", "--format", "csv")
    assert [row["outside_ref"] for row in csv_rows(csv.stdout)] == ["False", "True"]
    assert "1 of 2 front points outside it" in csv.stderr


def test_front_with_sr_shows_it_once_and_explains_the_zero_hypervolume(stored):
    import re

    result = invoke("front", "--dataset", "multidigits", "--objectives", "sr,mcr.left")
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "trial" in line)
    assert len(re.findall(r"\bsr\b", header)) == 1, header
    warning = result.stderr.strip()
    assert len(warning.splitlines()) == 1, warning
    assert warning.startswith("warning: sr is 0 for all 2 candidates") and "hypervolume is 0" in warning
    data, stderr = front_json("--objectives", "sr,mcr.left")
    assert data["hypervolume"] == 0.0 and data["n_outside_ref"] == len(data["points"])
    assert "sr is 0" in stderr


@pytest.mark.parametrize("objectives, repeated", [
    ("mcr.left,mcr.left", "mcr.left"), ("sr,mcr.left,sr", "sr"), ("mcr.*,mcr.*", "mcr.*"),
])
@pytest.mark.parametrize("command", ["front", "report"])
def test_a_repeated_objective_is_refused(stored, command, objectives, repeated):
    result = invoke(command, "--dataset", "multidigits", "--objectives", objectives)
    assert_refused(result, "--objectives", f"'{repeated}' is given twice")


def test_a_glob_overlapping_a_named_objective_keeps_it_once(stored):
    data, _ = front_json("--objectives", "mcr.left,mcr.*")
    assert data["objectives"] == ["mcr.left", "mcr.right"]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "x"])
def test_bad_eps_is_one_line(stored, value):
    result = invoke("front", "--dataset", "multidigits", "--eps", value)
    assert_refused(result, "--eps", value)


@pytest.mark.parametrize("value, shown", [("nan,nan", "nan"), ("1,inf", "inf"), ("-inf,1", "-inf")])
def test_non_finite_ref_point_is_refused_naming_the_value(stored, value, shown):
    for command in ("front", "report"):
        result = invoke(command, "--dataset", "multidigits", "--ref-point", value)
        assert_refused(result, "--ref-point", f"got {shown} ")


def test_error_text_with_brackets_is_printed_verbatim(stored):
    result = invoke("front", "--dataset", "multidigits", "--ref-point", "1,1,1")
    assert_refused(result, "--ref-point", "[1.0, 1.0, 1.0]")
    result = invoke("front", "--dataset", "[red]x[/red]")
    assert_refused(result, "--dataset [red]x[/red]")


def test_trials_refuses_an_unknown_status(stored):
    result = invoke("trials", "--status", "bogus")
    assert_refused(result, "--status", "'bogus'", "pending, running, done, failed")
    done = invoke("trials", "--status", "done")
    assert done.exit_code == 0 and "2 trials" in done.stdout
    failed = invoke("trials", "--status", "failed")
    assert failed.exit_code == 0 and "0 trials" in failed.stdout


def test_trials_prints_failure_text_verbatim(stored):
    from store.db import open_store

    db = open_store("sqlite:///paretoctl.db", create=False)
    db.mark_failed(f"{1:016x}", "ref_point needs 3 entries, got [nan, nan]")
    db.close()
    result = invoke("trials", "--status", "failed")
    assert result.exit_code == 0, result.stderr
    assert "1 trials" in result.stdout
    assert f"{1:016x} failed: ref_point needs 3 entries, got [nan, nan]" in result.stderr


def test_front_table_shows_the_first_rows_and_says_how_many_there_are(stored):
    result = invoke("front", "--dataset", "multidigits", "--rows", "1")
    assert result.exit_code == 0, result.stderr
    assert "front: 2 of 2 points (eps 0), first 1 shown (--rows 0 for all)" in result.stdout
    assert "0000000000000000" in result.stdout and "0000000000000001" not in result.stdout
    every = invoke("front", "--dataset", "multidigits", "--rows", "0")
    assert "0000000000000001" in every.stdout and "shown" not in every.stdout
    as_json = invoke("front", "--dataset", "multidigits", "--rows", "1", "--format", "json")
    assert len(__import__("json").loads(as_json.stdout)["points"]) == 2  # json prints all


def test_front_rows_must_not_be_negative(stored):
    result = invoke("front", "--dataset", "multidigits", "--rows", "-1")
    assert result.exit_code == 2
    assert "--rows: expected a whole number >= 0, got -1" in result.stderr


def test_trials_in_every_format(stored):
    import json

    from store.db import open_store

    db = open_store("sqlite:///paretoctl.db", create=False)
    db.mark_failed(f"{1:016x}", "boom, [red]x[/red]")
    db.close()
    data = json.loads(invoke("trials", "--format", "json").stdout)
    assert [t["status"] for t in data["trials"]] == ["done", "failed"]
    done, failed = data["trials"]
    assert done["sweeps"] == ["s"] and done["preference"] == [0, 0.5, 0.5] and done["sr"] == 0.0
    assert failed["error"] == "boom, [red]x[/red]" and done["error"] is None
    result = invoke("trials", "--format", "csv", "--status", "failed")
    assert result.exit_code == 0 and result.stderr == ""  # the error is a column, not a line
    rows = csv_rows(result.stdout)
    assert list(rows[0]) == ["key", "sweeps", "method", "dataset", "arch", "seed", "preference",
                             "status", "error", "time_train_s", "sr", "cr", "ps", "node",
                             "attempts", "pack", "precision"]
    assert rows[0]["error"] == "boom, [red]x[/red]" and rows[0]["sr"] == "0.0"
    assert rows[0]["sweeps"] == '["s"]'


def test_trials_refuses_an_unknown_format(stored):
    assert_refused(invoke("trials", "--format", "xml"), "--format", "'xml'")


@pytest.mark.parametrize("command", ["front", "report", "plot"])
def test_objectives_help_lists_the_registered_metrics(command):
    from contract.metrics import patterns

    text = " ".join(invoke(command, "--help").stdout.split())
    for name in ("loss.<task>", "mcr.<task>", "sparsity", "sr_scalar", "n_params"):
        assert name in patterns()
        assert name in text, name


@pytest.mark.parametrize("args, line", [
    (["front", "--bogus"], "error: No such option: --bogus"),
    (["frnt"], "error: No such command 'frnt'. Did you mean 'front'?"),
    (["front", "--rows", "x"], "error: Invalid value for '--rows'"),
    (["sweep"], "error: Missing argument 'SPEC.yaml'."),
])
def test_a_wrong_flag_or_command_is_one_line_naming_it_and_exit_2(args, line):
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([str(Path(sys.executable).with_name("paretoctl")), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(line) and "--help)" in done.stderr
