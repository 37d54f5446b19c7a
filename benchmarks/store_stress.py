"""Store stress: N writer processes x M trials (3 points each) while R readers load points
and list trials, on SQLite or PostgreSQL. Counts what was written, what was lost and every
error a writer or reader saw (a lock error is a failure, never retried here).

    python -m benchmarks.store_stress --writers 4 --trials 50 --readers 2 [--store URL]
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from store.db import open_store
from store.queries import PointFilter, list_trials, load_points


def trial(writer: int, i: int) -> dict[str, Any]:
    return {"key": f"{writer:04x}{i:012x}", "dataset": {"name": "stress", "options": {}},
            "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
            "preference": [0.0, 0.5, 0.5], "seed": writer, "train": {}}


def result(i: int) -> dict[str, Any]:
    points = [{"split": split, "ray_index": 0, "preference": [0.0, 0.5, 0.5],
               "tasks": {"left": {"loss": 1.0 / (i + 1), "acc": 0.5},
                         "right": {"loss": 0.5, "acc": i / (i + 1)}},
               "metrics": {"sr": 0.0}} for split in ("train", "val", "test")]
    return {"points": points, "time_train_s": 0.01}


#: how long a process waits for the others to start (a loaded machine starts them slowly)
START_TIMEOUT_S = 600


def writer(url: str, index: int, n_trials: int, start, errors) -> None:
    try:
        start.wait(START_TIMEOUT_S)
        with open_store(url, create=True) as store:
            store.register_sweep(f"stress{index}", "", {"writer": index}, {})
            trials = [trial(index, i) for i in range(n_trials)]
            store.add_trials(f"stress{index}", trials)
            for i, t in enumerate(trials):
                store.mark_running(t["key"])
                store.record_result(t["key"], result(i))
    except Exception as exc:  # counted by the parent
        errors.put(f"writer {index}: {type(exc).__name__}: {exc}")


def reader(url: str, start, stop, errors, reads) -> None:
    """Reads until the writers are done, and at least once (a reader that starts late
    still reads what they wrote)."""
    count = 0
    try:
        start.wait(START_TIMEOUT_S)
        while not stop.is_set() or count == 0:
            try:
                with open_store(url, create=False, read_only=True) as store:
                    load_points(store, PointFilter(dataset="stress"))
                    list_trials(store, PointFilter(dataset="stress"))
                count += 1
            except Exception as exc:
                if "store not found" in str(exc) or "no paretoctl store" in str(exc):
                    if stop.is_set():  # the writers are done and made none: nothing to read
                        break
                    time.sleep(0.01)  # the writers have not created it yet
                    continue
                raise
    except Exception as exc:  # counted by the parent
        errors.put(f"reader: {type(exc).__name__}: {exc}")
    reads.put(count)


def stress(url: str, writers: int, trials: int, readers: int) -> dict[str, Any]:
    """Run the writers and readers to the end; returns the figures. All of them begin
    together once every process is up, so that the readers read while the writers write
    however slowly the processes start."""
    ctx = multiprocessing.get_context("spawn")
    errors, reads, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    begin = ctx.Barrier(readers + writers)
    start = time.perf_counter()
    read_procs = [ctx.Process(target=reader, args=(url, begin, stop, errors, reads))
                  for _ in range(readers)]
    write_procs = [ctx.Process(target=writer, args=(url, w, trials, begin, errors))
                   for w in range(writers)]
    for proc in read_procs + write_procs:
        proc.start()
    for proc in write_procs:
        proc.join()
    elapsed = time.perf_counter() - start
    stop.set()
    n_reads = sum(reads.get(timeout=START_TIMEOUT_S) for _ in read_procs)
    for proc in read_procs:
        proc.join()
    seen = []
    while not errors.empty():
        seen.append(errors.get())
    with open_store(url, create=False, read_only=True) as store:
        points = load_points(store, PointFilter(dataset="stress", split=None))
        statuses = list_trials(store, PointFilter(dataset="stress"))["status"].value_counts().to_dict()
    expected = writers * trials * 3
    return {"writers": writers, "trials_per_writer": trials, "readers": readers,
            "points_expected": expected, "points_written": len(points),
            "points_lost": expected - len(points), "duplicates": int(points.duplicated(
                ["trial", "split", "ray_index"]).sum()),
            "statuses": statuses, "reads": n_reads, "errors": seen, "wall_s": round(elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--store", default=None, help="SQLAlchemy URL (default: a new SQLite file)")
    args = parser.parse_args()
    url = args.store or f"sqlite:///{Path(tempfile.mkdtemp()) / 'stress.db'}"
    figures = stress(url, args.writers, args.trials, args.readers)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
