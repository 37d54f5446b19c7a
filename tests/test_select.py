"""Selection across hyper-parameters (analysis.select; `paretoctl best`, `report
--select-by val-hv`): chosen on the val split, reported on test, ties broken the same way
whatever the row order."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.front import hypervolume
from analysis.select import (
    chosen_test_fronts, configuration, configuration_text, select_by_val_hv, varied,
)

OBJ = ["mcr.left", "mcr.right"]


def config(method="linear", lr=0.01, mu0=None, seed=0, preference=(0.5, 0.5), device="cpu"):
    params = {} if mu0 is None else {"mu0": mu0}
    return {"key": "k", "sweep": "s", "dataset": {"name": "d", "options": {}},
            "arch": {"name": "hps", "options": {}}, "method": {"name": method, "params": params},
            "preference": list(preference), "seed": seed,
            "train": {"lr": lr, "epochs": 1, "device": device}, "runtime": {"threads": 1}}


def rows(trial, cfg, split, points):
    """Points (mcr.left, mcr.right) of one trial on one split."""
    return [{"trial": trial, "method": cfg["method"]["name"], "arch": "hps", "seed": cfg["seed"],
             "split": split, "preference": cfg["preference"], "config": cfg,
             "mcr.left": a, "mcr.right": b, "acc.left": 1 - a, "acc.right": 1 - b,
             "loss.left": a, "loss.right": b} for a, b in points]


def frame(*blocks) -> pd.DataFrame:
    return pd.DataFrame([r for block in blocks for r in block])


GOOD_VAL, POOR_VAL = [(0.1, 0.3), (0.3, 0.1)], [(0.4, 0.5), (0.5, 0.4)]
GOOD_TEST, POOR_TEST = [(0.6, 0.6)], [(0.05, 0.05)]  # test disagrees: it must not choose


def two_configurations() -> pd.DataFrame:
    good, poor = config(lr=0.01), config(lr=0.1)
    return frame(rows("a", good, "val", GOOD_VAL), rows("a", good, "test", GOOD_TEST),
                 rows("b", poor, "val", POOR_VAL), rows("b", poor, "test", POOR_TEST))


def test_configuration_leaves_out_preference_seed_and_where_it_ran():
    a = config(seed=0, preference=(0.2, 0.8), device="cpu")
    b = config(seed=3, preference=(0.7, 0.3), device="cuda:0")
    assert configuration_text(a) == configuration_text(b)
    assert configuration_text(a) != configuration_text(config(lr=0.02))
    assert set(configuration(a)) == {"dataset", "arch", "method", "train"}
    assert "device" not in configuration(a)["train"] and configuration(a)["train"]["lr"] == 0.01


def test_varied_names_the_settings_that_differ():
    cs = [configuration(config(lr=0.01, mu0=1)), configuration(config(lr=0.1, mu0=1))]
    assert varied(cs) == ["train.lr"]
    assert varied(cs[:1]) == []


def test_the_configuration_with_the_largest_val_hypervolume_is_chosen_not_the_test_one():
    df = two_configurations()
    (selection,), ref = select_by_val_hv(df, OBJ)
    assert ref == [1.0, 1.0]
    assert selection.chosen.trials == ["a"] and selection.varied == {"train.lr": 0.01}
    expected = hypervolume(np.array(GOOD_VAL), ref)
    assert selection.chosen.val_hv == pytest.approx(expected, rel=1e-12)
    assert [c.trials for c in selection.candidates] == [["a"], ["b"]]
    (front,) = chosen_test_fronts([selection], df[df["split"] == "test"], OBJ)
    assert front.front_df["trial"].tolist() == ["a"]
    assert front.hypervolume == pytest.approx(0.4 * 0.4, rel=1e-12)


def test_val_hypervolume_is_the_mean_over_seeds_and_preferences_pool_within_a_seed():
    s0a, s0b, s1 = config(seed=0, preference=(0.2, 0.8)), config(seed=0, preference=(0.8, 0.2)), config(seed=1)
    df = frame(rows("p", s0a, "val", [(0.1, 0.5)]), rows("q", s0b, "val", [(0.5, 0.1)]),
               rows("r", s1, "val", [(0.5, 0.5)]))
    (selection,), ref = select_by_val_hv(df, OBJ)
    seed0 = hypervolume(np.array([(0.1, 0.5), (0.5, 0.1)]), ref)
    seed1 = hypervolume(np.array([(0.5, 0.5)]), ref)
    assert selection.chosen.seeds == 2 and selection.chosen.trials == ["p", "q", "r"]
    assert selection.chosen.val_hv == pytest.approx((seed0 + seed1) / 2, rel=1e-12)
    assert selection.chosen.val_hv_std == pytest.approx(abs(seed0 - seed1) / 2, rel=1e-12)


def test_ties_are_broken_the_same_way_whatever_the_row_order():
    a, b = config(lr=0.01), config(lr=0.1)
    blocks = [rows("a", a, "val", GOOD_VAL), rows("b", b, "val", GOOD_VAL)]
    first = select_by_val_hv(frame(*blocks), OBJ)[0][0]
    second = select_by_val_hv(frame(*blocks[::-1]), OBJ)[0][0]
    assert first.chosen.trials == second.chosen.trials
    assert first.chosen.text == min(configuration_text(a), configuration_text(b))


def test_each_method_chooses_among_its_own_configurations():
    lin, wc1, wc2 = config("linear", lr=0.1), config("wc_al", mu0=0.5), config("wc_al", mu0=1.0)
    df = frame(rows("l", lin, "val", POOR_VAL), rows("w1", wc1, "val", POOR_VAL),
               rows("w2", wc2, "val", GOOD_VAL))
    selections, _ = select_by_val_hv(df, OBJ)
    assert [(s.method, s.chosen.trials, s.varied) for s in selections] == [
        ("linear", ["l"], {}), ("wc_al", ["w2"], {"method.params.mu0": 1.0})]


def test_without_val_points_the_selection_is_refused():
    df = two_configurations()
    with pytest.raises(ValueError, match="no validation points"):
        select_by_val_hv(df[df["split"] == "test"], OBJ)


def test_a_user_reference_point_is_in_own_units():
    df = two_configurations()
    (selection,), ref = select_by_val_hv(df, ["acc.left", "acc.right"], ref_point=[0.0, 0.0])
    assert ref == [1.0, 1.0] and selection.chosen.trials == ["a"]


# ------------------------------------------------------------------- the CLI, on a real store


@pytest.fixture()
def searched_store(workdir):
    """Two methods; linear with two learning rates (the better one on val is worse on
    test), two seeds each; written through the store API."""
    from store.db import open_store

    db = open_store("sqlite:///paretoctl.db", create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    plan = {  # (method, lr, seed) -> (val points, test points)
        ("linear", 0.01, 0): (GOOD_VAL, GOOD_TEST), ("linear", 0.01, 1): (GOOD_VAL, GOOD_TEST),
        ("linear", 0.1, 0): (POOR_VAL, POOR_TEST), ("linear", 0.1, 1): (POOR_VAL, POOR_TEST),
        ("mgda", 0.01, 0): (POOR_VAL, [(0.3, 0.3)]),
    }
    trials = []
    for i, (method, lr, seed) in enumerate(plan):
        cfg = config(method, lr=lr, seed=seed)
        trials.append({**cfg, "key": f"{i:016x}", "preference": None})
    db.add_trials("s", trials)
    for trial, (val, test) in zip(trials, plan.values()):
        points = [{"split": split, "ray_index": k, "preference": None,
                   "tasks": {"left": {"loss": a, "acc": 1 - a}, "right": {"loss": b, "acc": 1 - b}},
                   "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0}}
                  for split, pts in (("val", val), ("test", test)) for k, (a, b) in enumerate(pts)]
        db.record_result(trial["key"], {"points": points, "time_train_s": 1.0})
    db.close()
    return workdir


def test_best_prints_the_val_chosen_configuration_and_its_test_front(searched_store):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    def best(*args):
        result = CliRunner().invoke(app, ["best", "--dataset", "d", *args])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    document = json.loads(best("--format", "json"))
    linear, mgda = document["methods"]
    assert (linear["method"], mgda["method"]) == ("linear", "mgda")
    assert linear["chosen"] == {"train.lr": 0.01} and linear["seeds"] == 2
    assert [c["chosen"] for c in linear["candidates"]] == [{"train.lr": 0.01}, {"train.lr": 0.1}]
    assert {p["trial"] for p in linear["test_front"]["points"]} == {f"{0:016x}", f"{1:016x}"}
    assert linear["test_hv"] == pytest.approx(0.4 * 0.4, rel=1e-12)
    assert mgda["chosen"] == {} and len(mgda["candidates"]) == 1
    table = best()
    assert "best configuration per method by validation hypervolume" in table
    assert "train.lr=0.01" in table and "train.lr=0.1" not in table
    csv_lines = best("--format", "csv", "--method", "linear").splitlines()
    assert csv_lines[0].startswith("method,chosen,val_hv,test_hv,trial,arch,seed,preference,mcr.left,mcr.right")
    assert len(csv_lines) == 3 and all(line.startswith("linear,train.lr=0.01,") for line in csv_lines[1:])

    report = json.loads(CliRunner().invoke(app, ["report", "--dataset", "d", "--select-by", "val-hv",
                                                 "--format", "json"]).stdout)
    assert report["selected"] == {"linear": {"train.lr": 0.01}, "mgda": {}}
    by_method = {row["method"]: row for row in report["rows"]}
    assert by_method["linear"]["trials"] == 2 and by_method["linear"]["hv"] == pytest.approx(0.16)
    plain = json.loads(CliRunner().invoke(app, ["report", "--dataset", "d", "--format", "json"]).stdout)
    assert {row["method"]: row for row in plain["rows"]}["linear"]["trials"] == 4


def test_best_has_help():
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, ["best", "--help"])
    assert result.exit_code == 0 and "validation hypervolume" in result.stdout


def test_best_refuses_bad_input_in_one_line(searched_store):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, ["report", "--dataset", "d", "--select-by", "test-hv"])
    assert result.exit_code == 2 and "--select-by: expected val-hv" in result.stderr
    result = CliRunner().invoke(app, ["best", "--dataset", "nope"])
    assert result.exit_code == 2 and "no stored points match" in result.stderr
