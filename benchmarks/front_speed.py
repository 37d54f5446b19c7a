"""Front speed: nondominance, the eps filter and the hypervolume on 1e5 and 1e6 points
(random points, a few on the front; and points all on the front), then `paretoctl front`
end to end on a stored 1e5-point SQLite store (subprocess, median of 3 runs).

    python -m benchmarks.front_speed [--sizes 100000,1000000] [--store-points 100000]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from store.db import open_store
from store.front import hypervolume, nondominated


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


def point_sets(n: int, d: int, rng) -> dict[str, np.ndarray]:
    return {"random": rng.random((n, d)), "all on front": rng.dirichlet(np.ones(d), size=n)}


def in_memory(sizes: list[int]) -> None:
    rng = np.random.default_rng(0)
    print(f"{'points':>9} {'d':>2} {'set':<13} {'front':>8} {'exact s':>8} {'eps=0.01 s':>10} {'hv s':>7}")
    for n in sizes:
        for d in (2, 3):
            for name, points in point_sets(n, d, rng).items():
                t_exact, front = timed(nondominated, points)
                t_eps, _ = timed(nondominated, points, 0.01)
                t_hv, _ = timed(hypervolume, points[front], [1.1] * d)
                print(f"{n:>9} {d:>2} {name:<13} {len(front):>8} {t_exact:>8.3f} {t_eps:>10.3f} {t_hv:>7.3f}")


def build_store(path: Path, n_points: int, all_on_front: bool) -> None:
    rng = np.random.default_rng(1)
    per_trial, n_trials = 1000, max(1, n_points // 1000)
    with open_store(f"sqlite:///{path}", create=True) as store:
        store.register_sweep("speed", "", {}, {})
        trials = [{"key": f"{i:016x}", "dataset": {"name": "speed", "options": {}},
                   "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
                   "preference": None, "seed": 0, "train": {}} for i in range(n_trials)]
        store.add_trials("speed", trials)
        for trial in trials:
            acc = rng.dirichlet([1, 1], size=per_trial) if all_on_front else rng.random((per_trial, 2))
            points = [{"split": "test", "ray_index": k, "preference": None, "metrics": {},
                       "tasks": {"left": {"loss": 1.0, "acc": float(acc[k, 0])},
                                 "right": {"loss": 1.0, "acc": float(acc[k, 1])}}}
                      for k in range(per_trial)]
            store.record_result(trial["key"], {"points": points})


def end_to_end(n_points: int) -> None:
    exe = str(Path(sys.executable).with_name("paretoctl"))
    for all_on_front in (False, True):
        folder = Path(tempfile.mkdtemp())
        build_store(folder / "s.db", n_points, all_on_front)
        walls = []
        for _ in range(3):
            start = time.perf_counter()
            done = subprocess.run([exe, "front", "--dataset", "speed", "--store",
                                   f"sqlite:///{folder / 's.db'}"], capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr
        title = next(line for line in done.stdout.splitlines() if "front:" in line).strip()
        label = "all on front" if all_on_front else "random"
        print(f"paretoctl front, {n_points} stored points ({label}): median {statistics.median(walls):.2f} s "
              f"of {', '.join(f'{w:.2f}' for w in walls)}; {title}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--store-points", type=int, default=100000)
    args = parser.parse_args()
    print(f"machine: {Path('/proc/cpuinfo').read_text().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    in_memory([int(v) for v in args.sizes.split(",")])
    end_to_end(args.store_points)


if __name__ == "__main__":
    main()
