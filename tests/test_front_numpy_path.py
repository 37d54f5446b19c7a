"""`paretoctl front` reads stored points as numpy columns, without pandas: the front and
hypervolume it prints equal brute force over the points written, and the DataFrame path's
(load_points + compute_front), in every format; and the command imports no pandas."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.columns import Columns, Indexed
from analysis.format import plain
from analysis.front import compute_front
from orchestrator.cli import app
from store.db import open_store
from store.queries import PointFilter, load_point_columns, load_points, point_detail_columns

TASKS = ("left", "right", "middle")
GRID = 8  # mcr values k / GRID: ties, duplicates and exact float64 sums


def grid_store(url: str, d: int, seed: int = 0,
               reverse: bool = False) -> list[tuple[str, int, tuple[float, ...] | None]]:
    """Two trials of 60 test points (and val points the front must not read) on ``d``
    tasks; mcr on a coarse grid, some points without one task's accuracy; ``reverse``:
    the second trial records first (its points get the lower ids). Returns
    (trial, ray_index, mcr or None when incomplete) of each test point, as written."""
    rng = np.random.default_rng(seed)
    db = open_store(url, create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    trials = [{"key": f"{i:016x}", "dataset": {"name": "grid", "options": {}},
               "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
               "preference": None, "seed": i, "train": {}} for i in range(2)]
    db.add_trials("s", trials)
    written = []
    for trial in trials[::-1] if reverse else trials:
        points = []
        for split in ("test", "val"):
            for ray in range(60):
                mcr = rng.integers(0, GRID + 1, size=d) / GRID
                missing = rng.random() < 0.1
                tasks = {t: {"loss": float(m) + 0.5, "acc": None if missing and j == 0 else float(1 - m)}
                         for j, (t, m) in enumerate(zip(TASKS, mcr, strict=False))}
                points.append({"split": split, "ray_index": ray, "preference": [ray / 60, 1 - ray / 60],
                               "tasks": tasks, "metrics": {"sr": ray / 100, "cr": 1.0, "ps": 0.5}})
                if split == "test":
                    written.append((trial["key"], ray, None if missing else tuple(mcr)))
        db.record_result(trial["key"], {"points": points})
    db.close()
    return written


def brute_front(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (all minimised), pair by pair."""
    le = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    lt = (points[:, None, :] < points[None, :, :]).any(axis=2)
    return np.flatnonzero(~(le & lt).any(axis=0))


def grid_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """The volume of the union of the boxes [p, ref], cell by cell of the grid the
    points' coordinates cut: a cell is covered when some point is <= its lower corner."""
    inside = points[(points < ref).all(axis=1)]
    axes = [np.unique(np.append(inside[:, j], ref[j])) for j in range(points.shape[1])]
    volume = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        low = np.array([a[i] for a, i in zip(axes, cell, strict=True)])
        if (inside <= low).all(axis=1).any():
            volume += float(np.prod([a[i + 1] - a[i] for a, i in zip(axes, cell, strict=True)]))
    return volume


def as_json(result) -> dict:
    """A FrontResult's ``--format json`` document as read back from the text."""
    return json.loads(json.dumps(plain(result.to_json_dict())))


def front(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["front", "--dataset", "grid", "--store", url, *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 's.db'}"
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("d", [2, 3])
def test_front_equals_brute_force_and_the_dataframe_path(store_url, d):
    url = store_url
    written = grid_store(url, d, seed=d)
    complete = [(t, r, m) for t, r, m in written if m is not None]
    mcr = np.array([m for _, _, m in complete])
    on_front = {complete[i][:2] for i in brute_front(mcr)}

    document = json.loads(front(url, "--format", "json"))
    assert document["objectives"] == [f"mcr.{t}" for t in sorted(TASKS[:d])]
    assert document["n_candidates"] == len(complete)
    assert {(p["trial"], p["ray_index"]) for p in document["points"]} == on_front
    # the columns come sorted by task name: reorder the written mcr the same way
    order = [TASKS.index(name.split(".")[1]) for name in document["objectives"]]
    expected_hv = grid_hypervolume(mcr[:, order], np.ones(d))
    assert document["hypervolume"] == pytest.approx(expected_hv, rel=1e-12, abs=1e-15)
    by_key = {(t, r): m for t, r, m in complete}
    for point in document["points"]:
        np.testing.assert_array_equal(point["values"], np.array(by_key[point["trial"], point["ray_index"]])[order])
        assert point["sr"] == point["ray_index"] / 100 and point["preference"][0] == point["ray_index"] / 60

    # the DataFrame path (what front read before): the same document, table and CSV
    db = open_store(url, create=False, read_only=True)
    old = compute_front(load_points(db, PointFilter(dataset="grid")), document["objectives"])
    assert document == as_json(old)
    assert front(url, "--format", "csv") == old.to_csv()
    table = front(url, "--rows", "3")
    assert f"front: {old.n_front} of {len(complete)} points (eps 0), first 3 shown" in table
    shown = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│ 0000")]
    assert shown == old.front_df["trial"][:3].tolist()
    assert front(url, "--rows", "0") == front(url, "--rows", str(old.n_front))


def test_eps_front_and_ref_point_match_the_dataframe_path(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_store(url, 3, seed=7)
    db = open_store(url, create=False, read_only=True)
    frame = load_points(db, PointFilter(dataset="grid"))
    args = ["--objectives", "acc.left,loss.middle,mcr.right", "--eps", "0.125", "--ref-point", "0.3,1.2,0.9"]
    document = json.loads(front(url, "--format", "json", *args))
    old = compute_front(frame, ["acc.left", "loss.middle", "mcr.right"], 0.125, [0.3, 1.2, 0.9])
    assert document == as_json(old)
    assert 0 < old.n_outside_ref < old.n_front  # the reference point cuts the front


def test_columns_give_what_the_dataframe_gives(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_store(url, 2, reverse=True)
    db = open_store(url, create=False, read_only=True)
    frame = load_points(db, PointFilter(dataset="grid"))
    columns = load_point_columns(db, PointFilter(dataset="grid"))
    assert list(columns) == list(frame.columns)
    # rows in point-id order although the store scans trial by trial
    assert (np.diff(columns["point_id"]) > 0).all() and columns["trial"][0] == f"{1:016x}"
    for name, values in columns.items():
        assert isinstance(values, np.ndarray | Indexed), name
        np.testing.assert_array_equal(np.asarray(frame[name], dtype=values.dtype), np.asarray(values),
                                      err_msg=name)
    # a frame's rows through Columns: the same records and, back, the same frame
    table = Columns.from_frame(frame)
    def missing_as_none(rows):  # NaN is no value equal to itself
        return [{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in r.items()}
                for r in rows]

    records = table.records(limit=7)
    assert missing_as_none(records) == missing_as_none(frame.head(7).to_dict("records"))
    assert [type(v) for v in records[0].values()] == [type(v) for v in frame.head(1).to_dict("records")[0].values()]
    pd.testing.assert_frame_equal(table.to_frame(), frame)
    # details in the order asked, a point gone since: missing values
    ids = [int(frame["point_id"].iloc[i]) for i in (5, 0, 3)] + [10**9]
    details = point_detail_columns(db, ids, ["sr"])
    np.testing.assert_array_equal(details["sr"][:3], frame["sr"].iloc[[5, 0, 3]].to_numpy())
    assert details["split"].tolist() == ["test"] * 3 + [None] and np.isnan(details["sr"][3])
    assert details["ray_index"][:3].tolist() == frame["ray_index"].iloc[[5, 0, 3]].tolist()


HEAVY = ("pandas", "matplotlib", "torch", "ray", "alembic", "scipy")


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_front_command_imports_no_pandas(tmp_path, fmt):
    """The console script as a user runs it: every module it imports, from -X importtime."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_store(url, 2)
    script = str(Path(sys.executable).with_name("paretoctl"))
    done = subprocess.run([sys.executable, "-X", "importtime", script, "front", "--dataset", "grid",
                           "--store", url, "--format", fmt], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "hypervolume" in done.stdout + done.stderr  # the front was printed
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "sqlalchemy" in imported and "moocore" in imported  # the listing is complete
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []


@pytest.mark.parametrize("d", [1, 2, 3])
def test_lexicographic_order_is_lexsort(d):
    from analysis.front import lexicographic_order

    rng = np.random.default_rng(d)
    for rows in (rng.integers(0, 3, size=(500, d)).astype(float),  # ties in every column
                 rng.random((500, d)), np.zeros((4, d)), np.zeros((0, d)),
                 np.vstack([rng.random((50, d)), -np.zeros((3, d)), np.zeros((3, d))])):
        np.testing.assert_array_equal(lexicographic_order(rows), np.lexsort(rows.T[::-1]))


def test_default_objectives_without_accuracies_read_the_losses(tmp_path):
    # a task without any accuracy (regression): the default front is loss.*, read after
    # the accuracies were found missing
    url = f"sqlite:///{tmp_path / 's.db'}"
    db = open_store(url, create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    db.add_trials("s", [{"key": "a" * 16, "dataset": {"name": "grid", "options": {}},
                         "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
                         "preference": None, "seed": 0, "train": {}}])
    losses = np.random.default_rng(5).random((40, 2))
    db.record_result("a" * 16, {"points": [
        {"split": "test", "ray_index": k, "preference": None,
         "tasks": {"left": {"loss": float(a), "acc": 0.5}, "right": {"loss": float(b), "acc": None}}}
        for k, (a, b) in enumerate(losses)]})
    db.close()
    document = json.loads(front(url, "--format", "json"))
    assert document["objectives"] == ["loss.left", "loss.right"]
    assert {p["ray_index"] for p in document["points"]} == set(brute_front(losses).tolist())
    old = compute_front(load_points(open_store(url, create=False), PointFilter(dataset="grid")),
                        document["objectives"])
    assert document == as_json(old)


@pytest.mark.parametrize("patterns", ["mcr.lft", "sx", "loss.*,mcr.x"])
def test_an_unmatched_objective_names_the_task_columns_not_read(tmp_path, patterns):
    # the front reads the task values its patterns can match; the message still names all
    from analysis.front import objective_metrics
    from orchestrator.cli import chosen_objectives
    from orchestrator.errors import UserInputError

    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_store(url, 3)
    every_value = load_point_columns(open_store(url, create=False), PointFilter(dataset="grid"),
                                     metrics=objective_metrics(patterns.split(",")), details=False)
    with pytest.raises(UserInputError) as expected:
        chosen_objectives(patterns, Columns(every_value))
    result = CliRunner().invoke(app, ["front", "--dataset", "grid", "--store", url, "--objectives", patterns])
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == f"error: {expected.value}"
    assert "loss.right, acc.left" in result.stderr and "mcr.right" in result.stderr


def test_tasks_beyond_one_presence_mask_are_told_apart(store_url):
    # 55 task names in the store (a presence mask holds 52): the matching points have all
    # but t50 and t54, which only another dataset's points have
    url = store_url
    db = open_store(url, create=True)
    db.register_sweep("s", "name: s", {"name": "s"}, {})
    names = [f"t{i:02d}" for i in range(55)]
    for dataset, tasks in (("grid", [t for t in names if t not in ("t50", "t54")]), ("other", ["t50", "t54"])):
        key = ("a" if dataset == "grid" else "b") * 16
        db.add_trials("s", [{"key": key, "dataset": {"name": dataset, "options": {}},
                             "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
                             "preference": None, "seed": 0, "train": {}}])
        db.record_result(key, {"points": [
            {"split": "test", "ray_index": k, "preference": None,
             "tasks": {t: {"loss": k + int(t[1:]) / 100, "acc": None} for t in tasks}} for k in range(3)]})
    db.close()
    columns = load_point_columns(open_store(url, create=False), PointFilter(dataset="grid"),
                                 metrics=[], details=False, task_values=("loss",))
    kept = [t for t in names if t not in ("t50", "t54")]
    assert [c for c in columns if c.startswith("loss.")] == [f"loss.{t}" for t in kept]
    np.testing.assert_array_equal(columns["loss.t53"], [k + 53 / 100 for k in range(3)])
