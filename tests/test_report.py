"""``paretoctl report`` and analysis.report.compare: per-method hypervolume over seeds, the
best point, training time — on a hand-built store whose numbers are known."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from store.db import open_store
from store.queries import PointFilter, load_points
from analysis.report import compare

runner = CliRunner()
KEYS = {name: f"{i:016x}" for i, name in enumerate(["a0", "a1", "b0", "b1"], start=1)}


def trial(key: str, method: str, seed: int, preference=None) -> dict:
    return {"key": key, "dataset": {"name": "multimnist", "options": {}},
            "arch": {"name": "lenet", "options": {}},
            "method": {"name": method, "params": {}}, "preference": preference,
            "seed": seed, "train": {"epochs": 1}}


def result(points: list[tuple[float, float]], seconds: float) -> dict:
    """Test points with the given (acc.left, acc.right), one per ray."""
    return {"points": [{"split": "test", "ray_index": i, "preference": [0.0, 0.5, 0.5],
                        "tasks": {"left": {"loss": 1 - a, "acc": a}, "right": {"loss": 1 - b, "acc": b}},
                        "sparsity": 0.0, "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0},
                        "n_params": 100, "time_train_s": seconds, "time_eval_s": 0.1}
                       for i, (a, b) in enumerate(points)],
            "time_train_s": seconds, "time_phase1_s": seconds, "time_phase2_s": None,
            "device": "cpu", "versions": {}, "info": {}}


@pytest.fixture
def store_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_store(url, create=True)
    store.register_sweep("s", "name: s\n", {"name": "s"}, {})
    trials = [trial(KEYS["a0"], "linear", 0, [0, 0.5, 0.5]), trial(KEYS["a1"], "linear", 0, [0, 0.2, 0.8]),
              trial(KEYS["b0"], "cosmos", 0), trial(KEYS["b1"], "cosmos", 1)]
    store.add_trials("s", trials)
    # linear, seed 0: two trials, MCR points (0.2, 0.6) and (0.5, 0.1)
    store.record_result(KEYS["a0"], result([(0.8, 0.4)], 10.0))
    store.record_result(KEYS["a1"], result([(0.5, 0.9)], 20.0))
    # cosmos: one trial per seed with two rays each
    store.record_result(KEYS["b0"], result([(0.9, 0.5), (0.6, 0.8)], 7.0))
    store.record_result(KEYS["b1"], result([(0.7, 0.7)], 9.0))
    store.close()
    return url


def test_compare_hypervolume_best_point_and_time(store_url):
    df = load_points(open_store(store_url, create=False), PointFilter(dataset="multimnist"))
    table, ref = compare(df, ["mcr.left", "mcr.right"])
    assert ref == [1.0, 1.0]
    rows = table.set_index("method")
    # linear: union of [0,0.2]x... : 0.8*0.4 + 0.5*0.9 - 0.5*0.4 = 0.57
    assert rows.loc["linear", "hv"] == pytest.approx(0.57)
    assert rows.loc["linear", "hv_std"] == 0.0
    assert rows.loc["linear", "train_s"] == pytest.approx(30.0)      # both trials of the seed
    assert rows.loc["linear", "acc.right"] == pytest.approx(0.9)     # best mean accuracy 0.7
    # cosmos seed 0: 0.9*0.5 + 0.6*0.8 - 0.6*0.5 = 0.63; seed 1: 0.49 -> mean 0.56, std 0.07
    assert rows.loc["cosmos", "hv"] == pytest.approx(0.56)
    assert rows.loc["cosmos", "hv_std"] == pytest.approx(0.07)
    assert rows.loc["cosmos", "train_s"] == pytest.approx(8.0)
    assert rows.loc["cosmos", "points"] == 3 and rows.loc["cosmos", "seeds"] == 2
    assert list(table["method"]) == ["linear", "cosmos"]                # best hv first


def test_report_cli_json_and_a_shared_reference_point(store_url):
    out = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url,
                              "--format", "json", "--ref-point", "0.5,0.5"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ref_point"] == [0.5, 0.5]
    hv = {row["method"]: row["hv"] for row in data["rows"]}
    # only points strictly inside (0.5, 0.5) count: linear's (0.2, 0.6), (0.5, 0.1) are not;
    # cosmos seed 0: (0.4, 0.2) gives 0.1 * 0.3 (not (0.1, 0.5)); seed 1 (0.3, 0.3) 0.04
    assert hv["linear"] == 0.0 and hv["cosmos"] == pytest.approx((0.03 + 0.04) / 2)


def test_report_csv_rounds_float_residue(store_url):
    out = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url,
                              "--format", "csv"])
    assert out.exit_code == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("method,arch,seeds,trials,points,hv,hv_std,best_quality,acc.left")
    # linear's hv is 0.5700000000000001 and its loss.right 1 - 0.9 in float64
    assert lines[1].startswith("linear,lenet,1,2,2,0.57,0.0,0.7,0.5,0.5,0.9,0.1,")
    assert "0000000" not in out.stdout and "9999999" not in out.stdout


def test_report_shows_a_point_level_objective_of_the_best_point(store_url):
    out = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url,
                              "--format", "json", "--objectives", "mcr.*,sparsity"])
    assert out.exit_code == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert [list(r)[-2:] for r in rows] == [["sparsity", "train_s"]] * 2
    assert [r["sparsity"] for r in rows] == [0.0, 0.0]


def test_report_table_and_bad_input(store_url):
    out = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url])
    assert out.exit_code == 0 and "cosmos" in out.stdout and "linear" in out.stdout
    bad = runner.invoke(app, ["report", "--dataset", "cifar10mnist", "--store", store_url])
    assert bad.exit_code == 2 and "no stored points match --dataset cifar10mnist" in bad.stderr
    bad = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url,
                              "--objectives", "mcr.middle"])
    assert bad.exit_code == 2 and "mcr.middle" in bad.stderr


def test_plot_writes_a_picture(store_url, tmp_path):
    from PIL import Image

    target = tmp_path / "front.png"
    out = runner.invoke(app, ["plot", "--dataset", "multimnist", "--store", store_url,
                              "--out", str(target)])
    assert out.exit_code == 0, out.stderr
    assert "5 points" in out.stdout and "mcr.left, mcr.right" in out.stdout
    with Image.open(target) as picture:
        assert picture.size == (840, 660)
        # not blank: the points and lines put many distinct colours on the canvas
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20


def test_plot_axes_name_the_objective_and_its_unit():
    from analysis.plot import axis_label

    assert axis_label("acc.left") == "acc.left (fraction)"
    assert axis_label("loss.right") == "loss.right (loss)"
    assert axis_label("n_params") == "n_params (parameters)"


def test_plot_three_objectives_and_bad_input(store_url, tmp_path):
    target = tmp_path / "front3.svg"
    out = runner.invoke(app, ["plot", "--dataset", "multimnist", "--store", store_url,
                              "--out", str(target), "--objectives", "mcr.*,sr"])
    assert out.exit_code == 0, out.stderr
    assert target.read_text().lstrip().startswith("<?xml")
    for args, fragment in [(["--out", str(tmp_path / "x.gif")], "--out"),
                           (["--out", str(tmp_path / "nope" / "x.png")], "does not exist"),
                           (["--out", str(tmp_path / "y.png"), "--objectives", "mcr.left"],
                            "2 or 3 objectives")]:
        bad = runner.invoke(app, ["plot", "--dataset", "multimnist", "--store", store_url, *args])
        assert bad.exit_code == 2 and fragment in bad.stderr, bad.stderr
    assert not (tmp_path / "x.gif").exists() and not (tmp_path / "y.png").exists()


def test_report_reference_point_is_in_the_objectives_own_units(store_url):
    """acc.* with ref (0.6, 0.3) is the same box as mcr.* with ref (0.4, 0.7)."""
    def report(*args):
        out = runner.invoke(app, ["report", "--dataset", "multimnist", "--store", store_url,
                                  "--format", "json", *args])
        assert out.exit_code == 0, out.stderr
        return json.loads(out.stdout)

    acc = report("--objectives", "acc.*", "--ref-point", "0.6,0.3")
    mcr = report("--objectives", "mcr.*", "--ref-point", "0.4,0.7")
    assert acc["ref_point"] == [0.6, 0.3]
    hv_acc = {row["method"]: row["hv"] for row in acc["rows"]}
    hv_mcr = {row["method"]: row["hv"] for row in mcr["rows"]}
    assert hv_acc == pytest.approx(hv_mcr)
    # linear: only (acc 0.8, 0.4) is inside: (0.8 - 0.6) * (0.4 - 0.3)
    assert hv_acc["linear"] == pytest.approx(0.2 * 0.1)
    assert report("--objectives", "acc.*")["ref_point"] == [0.0, 0.0]
