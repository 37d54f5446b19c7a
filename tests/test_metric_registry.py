"""contract.metrics, the metric registry: names, directions and levels; the store, fronts,
reports and the CLI know a metric by its registry entry alone (a test metric ``flops`` is
registered here and found as an objective, in a front, in the report and in the help)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.front import compute_front, default_ref_point, expand_objectives, maximised
from analysis.report import compare
from contract import metrics as registry
from contract.metrics import Metric

runner = CliRunner()


def test_lookup_splits_task_level_names_and_takes_point_level_ones_whole():
    assert registry.lookup("loss.left") == (registry.LOSS, "left")
    assert registry.lookup("mcr.task_2") == (registry.MCR, "task_2")
    assert registry.lookup("sr") == (registry.get("sr"), None)
    assert registry.lookup("n_params")[0].level == "point"


@pytest.mark.parametrize("name", ["loss", "sr.left", "flops", "loss.Left", "acc.2x", "acc.", "trial"])
def test_lookup_refuses_what_is_no_metric_and_lists_the_names(name):
    with pytest.raises(ValueError, match=f"unknown objective '{name}': use loss.<task>, "):
        registry.lookup(name)
    assert not registry.is_objective(name)


def test_directions_and_rates():
    by_name = {m.name: m for m in registry.registered()}
    maximised_names = {n for n, m in by_name.items() if m.maximised}
    assert maximised_names == {"acc", "sr", "cr", "ps", "sr_scalar", "cr_scalar", "ps_scalar",
                               "rows_zero", "weights_zero"}
    assert {n for n, m in by_name.items() if m.rate} == {"acc", "mcr", "sr", "sr_scalar"}
    assert {m.name for m in registry.registered("task")} == {"loss", "acc", "mcr"}
    assert all(m.unit and m.description for m in by_name.values())


def test_patterns_objective_columns_and_tasks():
    columns = ["point_id", "trial", "sr", "cr", "loss.b", "loss.a", "acc.b", "mcr.b", "params"]
    assert registry.patterns()[:3] == ["loss.<task>", "acc.<task>", "mcr.<task>"]
    assert registry.objective_columns(columns) == ["sr", "cr", "loss.b", "loss.a", "acc.b", "mcr.b"]
    assert registry.task_names(columns) == ["b", "a"]
    assert registry.matching("*.b", columns) == ["loss.b", "acc.b", "mcr.b"]


@pytest.mark.parametrize("fields, fragment", [
    (("Flops", "minimise", False, "point"), "lowercase letters"),
    (("seed", "minimise", False, "point"), "every point has already"),
    (("flops", "smaller", False, "point"), "direction"),
    (("flops", "minimise", False, "layer"), "level"),
])  # fmt: skip
def test_a_malformed_metric_is_refused(fields, fragment):
    with pytest.raises(ValueError, match=fragment):
        Metric(*fields, unit="x", description="x")


def test_a_second_metric_of_a_known_name_is_refused():
    with pytest.raises(ValueError, match="'sr' is already registered"):
        registry.register(Metric("sr", "minimise", True, "point", "fraction", "not the SR"))
    assert registry.register(registry.get("sr")) is registry.get("sr")  # the same one: a no-op
    assert registry.get("sr").maximised


def test_the_registry_imports_nothing_but_the_standard_library():
    heavy = {"torch", "numpy", "pandas", "sqlalchemy", "ray", "store", "analysis", "trainers"}
    code = ("import sys, contract.metrics; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(heavy)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_metric_the_store_loads_is_registered(tmp_path):
    """Each numeric column load_points gives (beside the trial's ids) is a registered metric."""
    from store.db import open_store
    from store.queries import load_points

    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    key = "0" * 16
    store.add_trials("s", [{"key": key, "dataset": {"name": "d"}, "arch": {"name": "a"},
                            "method": {"name": "m", "params": {}}, "seed": 0}])
    store.record_result(key, {"points": [{"split": "test", "tasks": {"t": {"loss": 1.0, "acc": 0.5}},
                                          "sparsity": 1.0, "n_params": 3, "time_train_s": 1.0}]})
    df = load_points(store)
    store.close()
    ids = {"point_id", "trial", "method", "dataset", "arch", "seed", "split", "ray_index",
           "preference", "params"}
    assert [c for c in df.columns if c not in ids and not registry.is_objective(c)] == []


# ------------------------------------------------------------- adding a metric: one entry


FLOPS = {"a" * 16: 3.0e6, "b" * 16: 1.0e6, "c" * 16: 2.0e6, "d" * 16: 1.0e6}


@pytest.fixture
def flops():
    """A new point-level metric, registered for one test."""
    metric = registry.register(Metric("flops", "minimise", False, "point", "FLOPs",
                                      "floating-point operations of one forward pass"))
    yield metric
    registry.unregister("flops")


def points_frame() -> pd.DataFrame:
    """A load_points-like frame whose points carry ``flops``."""
    keys = list(FLOPS)
    return pd.DataFrame({
        "trial": keys, "method": ["m1", "m1", "m2", "m2"], "arch": ["lenet"] * 4,
        "seed": [0, 0, 0, 1], "split": ["test"] * 4, "ray_index": [0] * 4,
        "preference": [None] * 4, "sr": [0.0] * 4, "cr": [1.0] * 4, "ps": [1.0] * 4,
        "n_params": [10] * 4, "time_train_s": [1.0] * 4, "flops": [FLOPS[k] for k in keys],
        "loss.left": [0.3, 0.5, 0.2, 0.9], "acc.left": [0.9, 0.8, 0.95, 0.7],
        "mcr.left": [0.1, 0.2, 0.05, 0.3],
    })  # fmt: skip


def test_an_unregistered_column_is_no_objective():
    with pytest.raises(ValueError, match="'flops' matches none of"):
        expand_objectives("flops", points_frame().columns)


def test_a_registered_metric_is_an_objective_of_a_front(flops):
    df = points_frame()
    assert "flops" in registry.patterns()
    assert expand_objectives("flops,mcr.*", df.columns) == ["flops", "mcr.left"]
    assert maximised(["flops", "mcr.left"]) == []
    # (flops, mcr.left): a (3e6, 0.1), b (1e6, 0.2), c (2e6, 0.05), d (1e6, 0.3); d is
    # dominated by b, a by c
    result = compute_front(df, ["flops", "mcr.left"])
    assert result.front_df["trial"].tolist() == ["b" * 16, "c" * 16]
    assert result.ref_point == pytest.approx([3.3e6, 1.0])  # 1.1 x the worst FLOPs
    assert default_ref_point(["flops"], np.array([[2.0], [4.0]])) == pytest.approx([4.4])


def test_a_registered_metric_shows_in_the_report(flops):
    table, ref = compare(points_frame(), ["flops", "mcr.left"])
    rows = table.set_index("method")
    assert list(table.columns[-2:]) == ["flops", "train_s"]
    assert rows.loc["m1", "flops"] == 3.0e6  # the best point (acc 0.9) of m1
    assert rows.loc["m2", "flops"] == 2.0e6
    # m1: points (3e6, 0.1), (1e6, 0.2) under ref (3.3e6, 1)
    assert rows.loc["m1", "hv"] == pytest.approx(0.3e6 * 0.9 + 2.0e6 * 0.8)


@pytest.fixture
def flops_store(workdir):
    """A store whose points carry ``flops`` in their metrics dict (kept in point_metrics)."""
    from store.db import open_store

    db = open_store("sqlite:///paretoctl.db", create=True)
    db.register_sweep("s", "name: s\n", {"name": "s"}, {})
    frame = points_frame()
    db.add_trials("s", [{"key": k, "dataset": {"name": "multidigits"}, "arch": {"name": "lenet"},
                         "method": {"name": m, "params": {}}, "seed": int(s)}
                        for k, m, s in zip(frame["trial"], frame["method"], frame["seed"])])
    for _, p in frame.iterrows():
        db.record_result(p["trial"], {"points": [{
            "split": "test", "tasks": {"left": {"loss": p["loss.left"], "acc": p["acc.left"]}},
            "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0, "flops": p["flops"]},
            "n_params": 10, "time_train_s": 1.0}], "time_train_s": 1.0})
    db.close()
    return workdir


def test_a_registered_metric_reaches_the_flat_view(flops, flops_store):
    import sqlite3

    with sqlite3.connect(flops_store / "paretoctl.db") as conn:
        rows = dict(conn.execute("SELECT trial, flops FROM points_flat").fetchall())
    assert rows == FLOPS


def test_a_registered_metric_in_the_cli(flops, flops_store):
    from orchestrator.cli import app, objectives_help

    assert "n_params, time_train_s, time_eval_s, flops;" in objectives_help("objectives")
    front = runner.invoke(app, ["front", "--dataset", "multidigits", "--format", "json",
                                "--objectives", "flops,mcr.left"])
    assert front.exit_code == 0, front.stderr
    data = json.loads(front.stdout)
    assert data["objectives"] == ["flops", "mcr.left"] and data["maximised"] == []
    assert [p["trial"] for p in data["points"]] == ["b" * 16, "c" * 16]
    assert [p["values"][0] for p in data["points"]] == [1.0e6, 2.0e6]
    csv = runner.invoke(app, ["front", "--dataset", "multidigits", "--format", "csv",
                              "--objectives", "flops,mcr.left"])
    assert csv.stdout.splitlines()[0].split(",")[7:9] == ["flops", "mcr.left"]
    report = runner.invoke(app, ["report", "--dataset", "multidigits", "--format", "json",
                                 "--objectives", "flops,mcr.left"])
    assert report.exit_code == 0, report.stderr
    assert {r["method"]: r["flops"] for r in json.loads(report.stdout)["rows"]} == {
        "m1": 3.0e6, "m2": 2.0e6}
    table = runner.invoke(app, ["report", "--dataset", "multidigits", "--objectives", "flops,mcr.left"])
    assert "flops" in table.stdout and "3000000.0000" in table.stdout
