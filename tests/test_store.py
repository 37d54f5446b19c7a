"""Tests for the SQLite store: opening, writes, idempotence, the flat view, queries."""

import math
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from store.db import DEFAULT_STORE_URL, StoreError, open_store, resolve_store_url
from store.queries import POINT_COLUMNS, TRIAL_COLUMNS, PointFilter, list_trials, load_points
from store.schema import SCHEMA_VERSION

NAN = float("nan")


def make_trial(i: int, dataset: str = "multimnist", method: str = "wc_al", seed: int = 0):
    """An expanded trial dict as the orchestrator produces it."""
    return {
        "key": f"{i:016x}",
        "dataset": {"name": dataset, "options": {}},
        "arch": {"name": "lenet", "options": {}},
        "method": {"name": method, "params": {"k0": 0.01 * i}},
        "preference": [0.0, 0.5, 0.5] if method == "wc_al" else None,
        "seed": seed,
        "train": {"epochs": 1},
    }


def make_point(split="test", ray=0, left=(0.4, 0.9), right=(0.5, 0.8), extra=None):
    """One result point with tasks left/right (and optionally more)."""
    tasks = {
        "left": {"loss": left[0], "acc": left[1]},
        "right": {"loss": right[0], "acc": right[1]},
    }
    tasks.update(extra or {})
    return {
        "split": split,
        "ray_index": ray,
        "preference": [0.0, 0.5, 0.5],
        "tasks": tasks,
        "sparsity": 0.25,
        "metrics": dict(sr=0.5, cr=2.0, ps=1.0, sr_scalar=0.6, cr_scalar=1.5, ps_scalar=0.6,
                        rows_total=100, rows_zero=50, rows_unique=25,
                        weights_total=1000, weights_zero=600, weights_unique=250),
        "n_params": 12345,
        "time_train_s": 3.2,
        "time_eval_s": 0.1,
    }


def make_result(points):
    """A trainer result dict around ``points``."""
    return {
        "points": points,
        "time_train_s": 3.2,
        "time_phase1_s": None,
        "time_phase2_s": None,
        "device": "cpu",
        "versions": {"torch": "2.14.1"},
        "info": {"epochs_run": 1},
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db_path):
    s = open_store(f"sqlite:///{db_path}", create=True)
    s.register_sweep("sweep_a", "name: sweep_a\n", {"name": "sweep_a"}, {"torch": "2.14.1"})
    yield s
    s.close()


def raw(db_path: Path, sql: str, params=()):
    """Query the store file with plain sqlite3, as a user pasting SQL would."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


# --- opening -------------------------------------------------------------------


def test_create_then_reopen_and_schema_version(db_path):
    open_store(f"sqlite:///{db_path}", create=True).close()
    assert db_path.is_file()
    reopened = open_store(f"sqlite:///{db_path}", create=False)
    reopened.close()
    assert raw(db_path, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    tables = {r[0] for r in raw(db_path, "SELECT name FROM sqlite_master")}
    assert {"meta", "sweeps", "trials", "sweep_trials", "points", "point_tasks"} <= tables
    assert "points_flat" in tables


def test_missing_store_without_create_errors_and_creates_nothing(tmp_path):
    path = tmp_path / "nope.db"
    with pytest.raises(StoreError, match=r"store not found: .*nope\.db .*paretoctl sweep"):
        open_store(f"sqlite:///{path}", create=False)
    assert list(tmp_path.iterdir()) == []


def test_create_in_missing_directory_errors(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path}/no/such/dir/x.db", create=True)


def test_non_store_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    with pytest.raises(StoreError, match="is not a paretoctl store .*unrelated"):
        open_store(f"sqlite:///{path}", create=False)


@pytest.mark.parametrize(
    "url", ["not a url", "nosuchdb://host/db", "postgresql+nosuchdriver://u@h/db"]
)
def test_bad_url_errors_naming_it(url):
    with pytest.raises(StoreError) as info:
        open_store(url, create=True)
    shown = url.split("://")[0]
    assert shown in str(info.value)
    assert "\n" not in str(info.value)


def test_unreachable_server_is_a_store_error():
    url = "postgresql+psycopg://u:secret@127.0.0.1:1/db?connect_timeout=2"
    with pytest.raises(StoreError, match="cannot open store") as info:
        open_store(url, create=False)
    assert "secret" not in str(info.value)


def test_newer_schema_version_is_refused(db_path):
    open_store(f"sqlite:///{db_path}", create=True).close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", ("999",))
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    with pytest.raises(StoreError, match="is at schema 999, newer than this paretoctl"):
        open_store(f"sqlite:///{db_path}", create=False)


def test_resolve_store_url(monkeypatch):
    monkeypatch.delenv("PARETOCTL_STORE", raising=False)
    assert resolve_store_url(None) == DEFAULT_STORE_URL == "sqlite:///paretoctl.db"
    monkeypatch.setenv("PARETOCTL_STORE", "sqlite:///env.db")
    assert resolve_store_url(None) == "sqlite:///env.db"
    assert resolve_store_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_sqlite_pragmas_are_set(store):
    with store.read_connection() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


# --- sweeps and trials ---------------------------------------------------------


def test_register_sweep_upserts_by_name(store, db_path):
    first = store.register_sweep("sweep_b", "v: 1\n", {"v": 1}, {})
    second = store.register_sweep("sweep_b", "v: 2\n", {"v": 2}, {"torch": "x"})
    assert first == second
    rows = raw(db_path, "SELECT spec_yaml, spec FROM sweeps WHERE name = 'sweep_b'")
    assert rows == [("v: 2\n", '{"v": 2}')]


def test_sweep_spec(store):
    assert store.sweep_spec("sweep_a") == {"name": "sweep_a"}
    assert store.sweep_spec("missing") is None


def test_add_trials_is_idempotent_and_shares_trials_between_sweeps(store, db_path):
    trials = [make_trial(1), make_trial(2)]
    assert store.add_trials("sweep_a", [*trials, make_trial(1)]) == {
        f"{1:016x}": "pending",
        f"{2:016x}": "pending",
    }
    store.add_trials("sweep_a", trials)
    store.register_sweep("sweep_b", "", {}, {})
    store.add_trials("sweep_b", [make_trial(1)])
    assert raw(db_path, "SELECT COUNT(*) FROM trials") == [(2,)]
    links = raw(
        db_path,
        "SELECT s.name FROM sweep_trials st JOIN sweeps s ON s.id = st.sweep_id "
        "JOIN trials t ON t.id = st.trial_id WHERE t.key = ? ORDER BY s.name",
        (f"{1:016x}",),
    )
    assert links == [("sweep_a",), ("sweep_b",)]
    row = raw(db_path, "SELECT method, dataset, arch, seed, params, status FROM trials LIMIT 1")
    assert row == [("wc_al", "multimnist", "lenet", 0, '{"k0": 0.01}', "pending")]


def test_add_trials_reports_done_status(store):
    key = make_trial(1)["key"]
    store.add_trials("sweep_a", [make_trial(1)])
    store.record_result(key, make_result([make_point()]))
    assert store.add_trials("sweep_a", [make_trial(1), make_trial(2)]) == {
        key: "done",
        f"{2:016x}": "pending",
    }


def test_add_trials_validates_before_writing(store, db_path):
    bad = make_trial(3)
    del bad["dataset"]
    with pytest.raises(StoreError, match="dataset"):
        store.add_trials("sweep_a", [make_trial(1), bad])
    with pytest.raises(StoreError, match="invalid trial key"):
        store.add_trials("sweep_a", [{**make_trial(1), "key": "XYZ"}])
    with pytest.raises(StoreError, match="unknown sweep"):
        store.add_trials("no_such_sweep", [make_trial(1)])
    assert raw(db_path, "SELECT COUNT(*) FROM trials") == [(0,)]


def test_trials_and_metrics_are_read_through_the_contract(store, db_path):
    import json

    from contract import metrics
    from contract.trial import TrialConfig
    from store.schema import INT_METRICS, POINT_METRICS, POINT_TIMES

    store.add_trials("sweep_a", [make_trial(1)])
    (config,) = raw(db_path, "SELECT config FROM trials")[0]
    # stored in the contract's full plain form: the partial train is filled with defaults
    assert json.loads(config) == TrialConfig.from_plain(make_trial(1)).to_plain()
    assert json.loads(config)["train"]["batch_size"] == 128
    with pytest.raises(StoreError, match=r"trial 0000000000000002: train\.epoch: unknown training"):
        store.add_trials("sweep_a", [{**make_trial(2), "train": {"epoch": 1}}])
    with pytest.raises(StoreError, match=r"trial 0000000000000003: method\.name: required"):
        store.add_trials("sweep_a", [{**make_trial(3), "method": {"params": {}}}])
    # the store's standard metric columns are the registry's, counts as its integers
    assert (*POINT_METRICS, *POINT_TIMES) == metrics.STANDARD
    assert INT_METRICS == {m.name for m in metrics.registered("point") if m.integer}
    assert len(INT_METRICS) == 7


def test_mark_running_and_failed(store):
    store.add_trials("sweep_a", [make_trial(1)])
    key = make_trial(1)["key"]
    store.mark_running(key)
    assert list_trials(store)["status"].tolist() == ["running"]
    store.mark_failed(key, "CUDA out of memory")
    trials = list_trials(store)
    assert trials.loc[0, "status"] == "failed"
    assert trials.loc[0, "error"] == "CUDA out of memory"
    with pytest.raises(StoreError, match="unknown trial"):
        store.mark_running(f"{99:016x}")


# --- results -------------------------------------------------------------------


def counts(db_path):
    return raw(db_path, "SELECT (SELECT COUNT(*) FROM points), (SELECT COUNT(*) FROM point_tasks)")


def test_record_result_twice_never_duplicates(store, db_path):
    store.add_trials("sweep_a", [make_trial(1)])
    key = make_trial(1)["key"]
    result = make_result([make_point("test"), make_point("val"), make_point("train")])
    store.record_result(key, result)
    store.record_result(key, result)
    assert counts(db_path) == [(3, 6)]
    store.record_result(key, make_result([make_point("test")]))
    assert counts(db_path) == [(1, 2)]
    assert raw(db_path, "SELECT status, device, versions FROM trials") == [
        ("done", "cpu", '{"torch": "2.14.1"}')
    ]


def test_record_result_stores_nan_as_null(store, db_path):
    store.add_trials("sweep_a", [make_trial(1)])
    point = make_point(left=(NAN, NAN), right=(0.5, None))
    point["metrics"]["sr"] = NAN
    point["metrics"]["rows_zero"] = np.float64(NAN)
    point["sparsity"] = np.float32(NAN)
    point["metrics"]["sr_scalar"] = -np.inf
    del point["metrics"]["cr"]
    result = make_result([point])
    result["info"] = {"final_loss": NAN, "curve": np.array([1.0, np.inf])}
    store.record_result(make_trial(1)["key"], result)
    assert raw(db_path, "SELECT typeof(loss), typeof(acc) FROM point_tasks ORDER BY task") == [
        ("null", "null"),
        ("real", "null"),
    ]
    assert raw(db_path, "SELECT sr, cr, rows_zero, sparsity, ps, sr_scalar FROM points_flat") == [
        (None, None, None, None, 1.0, None)
    ]
    # NaN and infinities are stored as NULL; an absent metric has no row
    assert raw(db_path, "SELECT name, typeof(value) FROM point_metrics "
                        "WHERE name IN ('sr', 'cr', 'sr_scalar') ORDER BY name") == [
        ("sr", "null"), ("sr_scalar", "null")]
    info = raw(db_path, "SELECT info FROM trials")
    assert info == [('{"final_loss": null, "curve": [1.0, null]}',)]


def test_record_result_rejects_bad_payloads_without_writing(store, db_path):
    store.add_trials("sweep_a", [make_trial(1)])
    key = make_trial(1)["key"]
    store.record_result(key, make_result([make_point()]))
    bad_task = make_point(extra={"Bad-Name": {"loss": 1.0, "acc": 0.5}})
    with pytest.raises(StoreError, match="invalid task name"):
        store.record_result(key, make_result([bad_task]))
    with pytest.raises(StoreError, match="duplicate split/ray_index"):
        store.record_result(key, make_result([make_point(), make_point()]))
    with pytest.raises(StoreError, match=r"points\[0\].split"):
        store.record_result(key, make_result([make_point(split="holdout")]))
    with pytest.raises(StoreError, match="unknown trial"):
        store.record_result(f"{77:016x}", make_result([make_point()]))
    assert counts(db_path) == [(1, 2)]


def test_flat_view_with_plain_sqlite_and_new_task(store, db_path):
    store.add_trials("sweep_a", [make_trial(1), make_trial(2)])
    store.record_result(make_trial(1)["key"], make_result([make_point(left=(0.4, 0.87))]))
    rows = raw(db_path, "SELECT trial, acc_left, mcr_left, loss_right, status FROM points_flat")
    assert rows[0][0] == make_trial(1)["key"]
    assert rows[0][1] == pytest.approx(0.87) and rows[0][2] == pytest.approx(0.13)
    assert rows[0][3:] == (0.5, "done")
    with pytest.raises(sqlite3.OperationalError, match="acc_depth"):
        raw(db_path, "SELECT acc_depth FROM points_flat")
    extra = {"depth": {"loss": 2.5, "acc": None}}
    store.record_result(make_trial(2)["key"], make_result([make_point(extra=extra)]))
    rows = raw(db_path, "SELECT trial, loss_depth, acc_depth FROM points_flat ORDER BY trial")
    assert rows == [(make_trial(1)["key"], None, None), (make_trial(2)["key"], 2.5, None)]


def test_flat_view_refreshed_by_a_second_store_handle(store, db_path):
    other = open_store(f"sqlite:///{db_path}", create=False)
    store.add_trials("sweep_a", [make_trial(1), make_trial(2)])
    store.record_result(make_trial(1)["key"], make_result([make_point()]))
    other.record_result(make_trial(2)["key"], make_result([make_point(extra={"z": {"loss": 1}})]))
    store.record_result(make_trial(1)["key"], make_result([make_point(extra={"y": {"loss": 2}})]))
    other.close()
    rows = raw(db_path, "SELECT loss_y, loss_z FROM points_flat ORDER BY point_id")
    assert sorted(rows, key=str) == sorted([(None, 1.0), (2.0, None)], key=str)


def test_concurrent_writers_on_one_file(db_path):
    setup = open_store(f"sqlite:///{db_path}", create=True)
    setup.register_sweep("s", "", {}, {})
    setup.add_trials("s", [make_trial(i) for i in range(8)])
    errors = []

    def worker(i):
        try:
            with open_store(f"sqlite:///{db_path}", create=False) as handle:
                for _ in range(5):
                    handle.mark_running(make_trial(i)["key"])
                    handle.record_result(make_trial(i)["key"], make_result([make_point()]))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    setup.close()
    assert errors == []
    assert counts(db_path) == [(8, 16)]


# --- queries -------------------------------------------------------------------


@pytest.fixture
def populated(store):
    """Two sweeps, two datasets, two methods, train/test points, one front learner."""
    store.register_sweep("sweep_b", "", {}, {})
    store.add_trials("sweep_a", [make_trial(1), make_trial(2, method="mgda")])
    store.add_trials("sweep_b", [make_trial(3, dataset="cifar10mnist"), make_trial(4, seed=1)])
    store.add_trials("sweep_a", [make_trial(5, method="cosmos")])
    store.record_result(
        make_trial(1)["key"],
        make_result([make_point("test", left=(0.3, 0.9)), make_point("train")]),
    )
    store.record_result(make_trial(2)["key"], make_result([make_point("test", left=(0.2, 0.7))]))
    store.record_result(make_trial(3)["key"], make_result([make_point("test")]))
    store.record_result(make_trial(4)["key"], make_result([make_point("test")]))
    rays = [make_point("test", ray=k, left=(0.1 * k, 0.5 + 0.1 * k)) for k in range(3)]
    store.record_result(make_trial(5)["key"], make_result(rays))
    return store


def test_load_points_columns_and_values(populated):
    df = load_points(populated, PointFilter(dataset="multimnist"))
    task_cols = ["loss.left", "loss.right", "acc.left", "acc.right", "mcr.left", "mcr.right"]
    assert list(df.columns) == POINT_COLUMNS + task_cols
    assert len(df) == 6  # test split only: trials 1, 2, 4 and three cosmos rays
    row = df[df["trial"] == make_trial(1)["key"]].iloc[0]
    assert row["acc.left"] == pytest.approx(0.9)
    assert row["mcr.left"] == pytest.approx(0.1)
    assert row["preference"] == [0.0, 0.5, 0.5]
    assert row["params"] == {"k0": 0.01}
    assert row["rows_total"] == 100 and row["n_params"] == 12345
    assert row["sr"] == 0.5 and row["sparsity"] == 0.25
    rays = df[df["method"] == "cosmos"].sort_values("ray_index")
    assert rays["ray_index"].tolist() == [0, 1, 2]
    assert rays["acc.left"].tolist() == pytest.approx([0.5, 0.6, 0.7])


@pytest.mark.parametrize(
    "flt, expected",
    [
        (PointFilter(), {1, 2, 3, 4, 5}),
        (PointFilter(dataset="cifar10mnist"), {3}),
        (PointFilter(method="mgda"), {2}),
        (PointFilter(method=["mgda", "cosmos"]), {2, 5}),
        (PointFilter(sweep="sweep_b"), {3, 4}),
        (PointFilter(sweep="sweep_a", seed=0), {1, 2, 5}),
        (PointFilter(seed=1), {4}),
        (PointFilter(arch="hps"), set()),
        (PointFilter(split="train"), {1}),
    ],
)
def test_load_points_filters(populated, flt, expected):
    df = load_points(populated, flt)
    assert {int(k, 16) for k in df["trial"]} == expected
    if flt.split == "train":
        assert df["split"].unique().tolist() == ["train"]


def test_load_points_with_sql_metacharacters_in_filters(populated):
    df = load_points(populated, PointFilter(dataset="x' OR '1'='1"))
    assert df.empty
    assert list(df.columns) == POINT_COLUMNS


def test_load_points_empty_store(store):
    df = load_points(store, PointFilter())
    assert df.empty and list(df.columns) == POINT_COLUMNS


def test_load_points_all_null_metrics_are_numeric(store):
    store.add_trials("sweep_a", [make_trial(1)])
    point = make_point()
    point["metrics"] = {}
    point["sparsity"] = None
    store.record_result(make_trial(1)["key"], make_result([point]))
    df = load_points(store)
    assert df["sr"].dtype == np.float64 and math.isnan(df.loc[0, "sr"])
    assert df["sparsity"].dtype == np.float64
    assert df["rows_total"].isna().all()


def test_list_trials(populated):
    populated.add_trials("sweep_a", [make_trial(6)])
    populated.mark_running(make_trial(6)["key"])
    populated.mark_failed(make_trial(6)["key"], "boom")
    trials = list_trials(populated, PointFilter(sweep="sweep_a"))
    assert list(trials.columns) == TRIAL_COLUMNS
    assert [int(k, 16) for k in trials["key"]] == [1, 2, 5, 6]
    assert trials["status"].tolist() == ["done", "done", "done", "failed"]
    assert trials["sweeps"].tolist() == [["sweep_a"]] * 4
    assert trials.loc[0, "sr"] == 0.5 and trials.loc[0, "time_train_s"] == 3.2
    assert math.isnan(trials.loc[3, "sr"]) and trials.loc[3, "error"] == "boom"
    assert trials.loc[0, "preference"] == [0.0, 0.5, 0.5]


def test_list_trials_shared_trial_lists_both_sweeps(populated):
    populated.add_trials("sweep_b", [make_trial(1)])
    trials = list_trials(populated, PointFilter(method="wc_al", dataset="multimnist", seed=0))
    assert trials["sweeps"].tolist() == [["sweep_a", "sweep_b"]]


def test_load_20k_points(store):
    n_trials, per_trial = 20, 1000
    store.add_trials("sweep_a", [make_trial(i) for i in range(n_trials)])
    for i in range(n_trials):
        points = [
            make_point("test", ray=k, left=(i + k / 1000, (k % 100) / 100))
            for k in range(per_trial)
        ]
        store.record_result(make_trial(i)["key"], make_result(points))
    df = load_points(store, PointFilter(dataset="multimnist"))
    assert len(df) == n_trials * per_trial
    assert df["point_id"].is_unique
    expected_loss = df["trial"].map(lambda k: int(k, 16)) + df["ray_index"] / 1000
    np.testing.assert_allclose(df["loss.left"], expected_loss)
    np.testing.assert_allclose(df["mcr.left"], 1 - (df["ray_index"] % 100) / 100)
    assert df["acc.right"].eq(0.8).all()


# --- model-level metrics (point_metrics) ----------------------------------------


def test_the_flat_view_keeps_the_columns_of_schema_2(store, db_path):
    store.add_trials("sweep_a", [make_trial(1)])
    store.record_result(make_trial(1)["key"], make_result([make_point()]))
    with sqlite3.connect(db_path) as conn:
        cursor = conn.execute("SELECT * FROM points_flat")
        columns, (row,) = [d[0] for d in cursor.description], cursor.fetchall()
    assert columns == [
        "point_id", "trial", "method", "dataset", "arch", "seed", "status", "split",
        "ray_index", "preference", "sparsity", "sr", "cr", "ps", "sr_scalar", "cr_scalar",
        "ps_scalar", "rows_total", "rows_zero", "rows_unique", "weights_total",
        "weights_zero", "weights_unique", "n_params", "time_train_s", "time_eval_s",
        "loss_left", "acc_left", "mcr_left", "loss_right", "acc_right", "mcr_right"]
    values = dict(zip(columns, row))
    assert values["sr"] == 0.5 and values["n_params"] == 12345
    assert type(values["rows_total"]) is int and type(values["sparsity"]) is float


def test_any_named_metric_is_stored_shown_in_the_view_and_loaded(store, db_path):
    store.add_trials("sweep_a", [make_trial(1), make_trial(2)])
    store.record_result(make_trial(1)["key"], make_result([make_point()]))
    with pytest.raises(sqlite3.OperationalError, match="flops"):
        raw(db_path, "SELECT flops FROM points_flat")
    point = make_point()
    point["metrics"] |= {"flops": 2.5e6, "n_layers": np.int64(4), "latency_ms": np.inf}
    other = open_store(f"sqlite:///{db_path}", create=False)  # a second handle sees them too
    other.record_result(make_trial(2)["key"], make_result([point]))
    other.close()
    assert raw(db_path, "SELECT trial, flops, n_layers, latency_ms FROM points_flat ORDER BY trial") == [
        (make_trial(1)["key"], None, None, None), (make_trial(2)["key"], 2.5e6, 4.0, None)]
    columns = [r[1] for r in raw(db_path, "PRAGMA table_info(points_flat)")]
    assert columns[-3:] == ["flops", "latency_ms", "n_layers"]  # after the task columns
    df = load_points(store)
    assert list(df.columns[: len(POINT_COLUMNS)]) == POINT_COLUMNS
    assert list(df.columns[len(POINT_COLUMNS):]) == [
        "loss.left", "loss.right", "acc.left", "acc.right", "mcr.left", "mcr.right",
        "flops", "latency_ms", "n_layers"]
    assert df["flops"].tolist()[1] == 2.5e6 and math.isnan(df["flops"].tolist()[0])
    assert df["latency_ms"].isna().all() and df["sr"].tolist() == [0.5, 0.5]
    point["metrics"]["energy_j"] = 7.0  # a name new to this handle's cached view columns
    store.record_result(make_trial(1)["key"], make_result([point]))
    assert raw(db_path, "SELECT energy_j FROM points_flat WHERE energy_j IS NOT NULL") == [(7.0,)]


@pytest.mark.parametrize("metrics, message", [
    ({"Bad-Name": 1.0}, "invalid metric name 'Bad-Name'"),
    ({"loss_left": 1.0}, "invalid metric name 'loss_left': it would clash"),
    ({"split": 1.0}, "invalid metric name 'split': it would clash"),
    ({"flops": "many"}, r"metrics\.flops: expected a number"),
    ({"flops": True}, r"metrics\.flops: expected a number"),
    ({"rows_total": 1.5}, r"metrics\.rows_total: expected an integer"),
    ({"sparsity": 0.1}, r"sparsity: given both at the top level and in metrics"),
])
def test_bad_metrics_are_refused_naming_them_without_writing(store, db_path, metrics, message):
    store.add_trials("sweep_a", [make_trial(1)])
    store.record_result(make_trial(1)["key"], make_result([make_point()]))
    before = raw(db_path, "SELECT * FROM point_metrics ORDER BY name")
    point = make_point()
    point["metrics"] |= metrics
    with pytest.raises(StoreError, match=message):
        store.record_result(make_trial(1)["key"], make_result([point]))
    assert raw(db_path, "SELECT * FROM point_metrics ORDER BY name") == before


def test_re_recording_a_trial_replaces_its_metrics(store, db_path):
    store.add_trials("sweep_a", [make_trial(1)])
    key = make_trial(1)["key"]
    store.record_result(key, make_result([make_point("test"), make_point("val")]))
    assert raw(db_path, "SELECT COUNT(*) FROM point_metrics") == [(2 * 14,)]
    store.record_result(key, make_result([{"split": "test", "metrics": {"sr": 0.1}}]))
    assert raw(db_path, "SELECT name, value FROM point_metrics") == [("sr", 0.1)]
