"""The store's core round trip against PostgreSQL (needs PARETOCTL_TEST_PG_URL).

Start a throwaway server with `scripts/start-postgres.sh` and export the URL
it prints; without it these tests are skipped. Each test starts from an
empty database (view and tables dropped), so they can run in any order.
"""

import math
import os
import threading

import pytest
from sqlalchemy import create_engine, text

from concurrent_stores import create_at_once, read_while_created
from store.db import StoreError, open_store
from store.queries import PointFilter, list_trials, load_points
from store.schema import FLAT_VIEW

pytestmark = pytest.mark.postgres

NAN = float("nan")


@pytest.fixture
def store(pg_url):
    s = open_store(pg_url, create=True)
    s.register_sweep("sweep_a", "name: sweep_a\n", {"name": "sweep_a"}, {"torch": "2.14.1"})
    yield s
    s.close()


def trial(i: int, dataset: str = "multimnist", method: str = "wc_al") -> dict:
    return {
        "key": f"{i:016x}",
        "dataset": {"name": dataset, "options": {}},
        "arch": {"name": "lenet", "options": {}},
        "method": {"name": method, "params": {"k0": 0.5}},
        "preference": [0.0, 0.5, 0.5],
        "seed": 0,
        "train": {},
    }


def result(*points: dict) -> dict:
    return {
        "points": list(points),
        "time_train_s": 1.5,
        "time_phase1_s": None,
        "time_phase2_s": None,
        "device": "cpu",
        "versions": {"torch": "2.14.1"},
        "info": {"note": NAN},
    }


def point(split="test", ray=0, acc_left=0.9, tasks=None) -> dict:
    return {
        "split": split,
        "ray_index": ray,
        "preference": [0.0, 0.5, 0.5],
        "tasks": tasks or {"left": {"loss": 0.4, "acc": acc_left}, "right": {"loss": NAN}},
        "sparsity": 0.1,
        "metrics": {"sr": 0.5, "cr": 2.0, "ps": 1.0, "rows_total": 10, "weights_total": 99},
        "n_params": 1000,
        "time_train_s": 1.5,
        "time_eval_s": 0.1,
    }


def scalar(store, sql: str):
    with store.engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def test_missing_store_is_an_error(pg_url):
    with pytest.raises(StoreError, match="no paretoctl store"):
        open_store(pg_url, create=False)


def test_round_trip_is_idempotent(store):
    store.register_sweep("sweep_b", "", {}, {})
    assert store.add_trials("sweep_a", [trial(1), trial(2)]) == {
        f"{1:016x}": "pending",
        f"{2:016x}": "pending",
    }
    store.add_trials("sweep_b", [trial(1)])
    assert scalar(store, "SELECT COUNT(*) FROM trials") == 2
    assert scalar(store, "SELECT COUNT(*) FROM sweep_trials") == 3
    store.mark_running(f"{1:016x}")
    payload = result(point("test"), point("val"))
    store.record_result(f"{1:016x}", payload)
    store.record_result(f"{1:016x}", payload)
    assert scalar(store, "SELECT COUNT(*) FROM points") == 2
    assert scalar(store, "SELECT COUNT(*) FROM point_tasks") == 4
    assert scalar(store, "SELECT COUNT(*) FROM point_tasks WHERE loss IS NULL") == 2
    assert scalar(store, "SELECT info::text FROM trials WHERE status = 'done'") == '{"note": null}'
    assert store.add_trials("sweep_b", [trial(1)]) == {f"{1:016x}": "done"}


def test_load_points_and_list_trials(store):
    store.add_trials("sweep_a", [trial(1), trial(2, method="mgda", dataset="other")])
    store.record_result(f"{1:016x}", result(point("test", acc_left=0.8), point("train")))
    store.record_result(f"{2:016x}", result(point("test")))
    df = load_points(store, PointFilter(dataset="multimnist", sweep="sweep_a"))
    assert df["trial"].tolist() == [f"{1:016x}"]
    assert df.loc[0, "mcr.left"] == pytest.approx(0.2)
    assert math.isnan(df.loc[0, "loss.right"])
    assert df.loc[0, "preference"] == [0.0, 0.5, 0.5]
    assert df.loc[0, "params"] == {"k0": 0.5}
    assert df.loc[0, "weights_total"] == 99
    assert len(load_points(store, PointFilter(split=None))) == 3
    assert load_points(store, PointFilter(method="mgda"))["dataset"].tolist() == ["other"]
    trials = list_trials(store)
    assert trials["status"].tolist() == ["done", "done"]
    assert trials["sweeps"].tolist() == [["sweep_a"], ["sweep_a"]]
    assert trials.loc[0, "sr"] == 0.5


def test_flat_view_gains_new_task_columns(store):
    store.add_trials("sweep_a", [trial(1), trial(2)])
    store.record_result(f"{1:016x}", result(point(acc_left=0.75)))
    assert scalar(store, f"SELECT acc_left FROM {FLAT_VIEW}") == pytest.approx(0.75)
    assert scalar(store, f"SELECT mcr_left FROM {FLAT_VIEW}") == pytest.approx(0.25)
    depth = {"depth": {"loss": 3.0, "acc": None}}
    store.record_result(f"{2:016x}", result(point(tasks=depth)))
    assert scalar(store, f"SELECT loss_depth FROM {FLAT_VIEW} WHERE loss_depth IS NOT NULL") == 3.0
    assert scalar(store, f"SELECT COUNT(*) FROM {FLAT_VIEW}") == 2


def test_concurrent_writers_with_new_tasks_all_reach_the_view(store, pg_url):
    names = [f"task_{i}" for i in range(6)]
    store.add_trials("sweep_a", [trial(i) for i in range(len(names))])
    errors = []

    def worker(i: int) -> None:
        try:
            with open_store(pg_url, create=False) as handle:
                tasks = {names[i]: {"loss": float(i), "acc": 0.5}}
                handle.record_result(f"{i:016x}", result(point(tasks=tasks)))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    columns = ", ".join(f"MAX(loss_{name})" for name in names)
    with store.engine.connect() as conn:
        assert list(conn.execute(text(f"SELECT {columns} FROM {FLAT_VIEW}")).one()) == [
            float(i) for i in range(len(names))
        ]


def test_bad_payload_writes_nothing(store):
    store.add_trials("sweep_a", [trial(1)])
    store.record_result(f"{1:016x}", result(point()))
    with pytest.raises(StoreError, match="invalid task name"):
        store.record_result(f"{1:016x}", result(point(tasks={"1bad": {"loss": 1.0}})))
    assert scalar(store, "SELECT COUNT(*) FROM point_tasks") == 2


def test_processes_creating_one_new_store_at_once_all_succeed(pg_url):
    assert create_at_once(pg_url) == ["ok"] * 4


def test_a_reader_opening_while_the_store_is_created_sees_no_store_not_a_foreign_one(
        pg_url, monkeypatch):
    # the tables appear between two looks at them: one look decides
    assert read_while_created(pg_url, monkeypatch).startswith("StoreNotFound: no paretoctl store")


def test_a_database_with_other_tables_is_refused(pg_url):
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    try:
        with pytest.raises(StoreError, match="is not a paretoctl store"):
            open_store(pg_url, create=True)
        with engine.connect() as conn:
            tables = set(conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        assert tables == {"invoices"}
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE invoices"))
        engine.dispose()
