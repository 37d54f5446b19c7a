"""Adding a method needs its module and its presets row, and nothing else.

A toy method's module is dropped into the method package's search path (as a new file in
trainers/methods would be) and one row is added to the presets table; then a sweep
expands it with the row's settings, ``run_trial`` trains it in-process, the store records
it, a rerun of the sweep finds it done, and the read commands and the presets page show
it. No other file is touched. (Adding a metric: tests/test_metric_registry.py.)
"""
from __future__ import annotations

import json
import math
import sys

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.expand import expand_sweep
from orchestrator.spec import load_spec
from store.db import open_store
from trainers import methods, presets
from trainers.methods import METHODS
from trainers.trial import run_trial, versions

runner = CliRunner()

TOY = '''"""``toy``: the task losses, the first weighted by ``lead`` (a test's method)."""
import torch

from trainers.methods import METHODS
from trainers.methods.base import ScalarisingMethod
from trainers.methods.params import Param, real


@METHODS.register("toy")
class Toy(ScalarisingMethod):
    name = "toy"
    description = "task losses, the first weighted by lead"
    uses_preference = False
    param_table: dict[str, Param] = {"lead": real(1.0, 0.0)}

    def loss(self, objectives: torch.Tensor) -> torch.Tensor:
        weights = torch.ones_like(objectives[1:])
        weights[0] = self.params["lead"]
        return (weights * objectives[1:]).sum()
'''
ROW = presets.Row("toy", "multidigits", "*", "our choice: a test's method",
                  train={"epochs": 1, "batch_size": 32}, params={"lead": 2.0})
SPEC = """\
name: toy_sweep
datasets: [{name: multidigits, n_train: 120, n_val: 40, n_test: 40}]
methods: [toy]
train: {device: cpu}
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy module as a new file of the method package, and its presets row."""
    package = tmp_path / "package"
    package.mkdir()
    (package / "toy.py").write_text(TOY)
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(package)])
    monkeypatch.setattr(presets, "ROWS", (*presets.ROWS, ROW))
    methods.import_methods()
    yield METHODS.get("toy")
    METHODS.unregister("toy")
    sys.modules.pop("trainers.methods.toy", None)


def test_a_new_method_runs_through_expansion_training_and_the_store(toy, workdir):
    assert "toy" in METHODS.names()
    (workdir / "spec.yaml").write_text(SPEC)
    spec = load_spec(workdir / "spec.yaml")
    (trial,) = expand_sweep(spec)
    # the presets row and the method's table resolve like any method's
    assert trial["method"] == {"name": "toy", "params": {"lead": 2.0}}
    assert (trial["train"]["epochs"], trial["train"]["batch_size"]) == (1, 32)
    assert trial["preference"] is None
    dry = runner.invoke(app, ["sweep", "spec.yaml", "--dry-run"])
    assert dry.exit_code == 0, dry.stderr
    assert "toy" in dry.stdout

    result = run_trial(trial)
    assert [p["split"] for p in result["points"]] == ["train", "val", "test"]
    assert all(math.isfinite(s["loss"]) for p in result["points"] for s in p["tasks"].values())
    db = open_store("sqlite:///paretoctl.db", create=True)
    with db:
        db.register_sweep(spec.name, SPEC, spec.model_dump(mode="json"), versions())
        db.add_trials(spec.name, [trial])
        db.mark_running(trial["key"])
        db.record_result(trial["key"], result)

    rerun = runner.invoke(app, ["sweep", "spec.yaml"])
    assert rerun.exit_code == 0, rerun.stderr
    assert "all 1 trials already done, nothing to run" in rerun.stderr
    listed = runner.invoke(app, ["trials", "--format", "json"])
    assert listed.exit_code == 0, listed.stderr
    assert [(t["key"], t["method"], t["status"]) for t in json.loads(listed.stdout)["trials"]] == [
        (trial["key"], "toy", "done")]
    front = runner.invoke(app, ["front", "--dataset", "multidigits", "--format", "json"])
    assert front.exit_code == 0, front.stderr
    assert {p["method"] for p in json.loads(front.stdout)["points"]} == {"toy"}
    report = runner.invoke(app, ["report", "--dataset", "multidigits", "--format", "json"])
    assert report.exit_code == 0, report.stderr
    assert [r["method"] for r in json.loads(report.stdout)["rows"]] == ["toy"]
    assert "| toy | multidigits | * |" in presets.markdown()


def test_the_toy_is_gone_after_its_test():
    assert "toy" not in METHODS.names() and ROW not in presets.ROWS
