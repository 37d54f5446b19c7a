"""Front speed: nondominance, the eps filter and the hypervolume on 1e5 and 1e6 points in
2 and 3 objectives with several shares of the points on the front, then `paretoctl front`
end to end on stored SQLite stores of those sizes, shares and numbers of tasks (objectives),
as wall and CPU seconds of the subprocess (median of runs).

    python -m benchmarks.front_speed [--sizes 100000,1000000] [--shares 0,0.5,1]
        [--store-points 100000,1000000] [--dims 2,3] [--repeats 3] [--keep DIR]

A share of 0 means uniform random points (a front of a few hundred at most); otherwise
that share lies on one front (a simplex) and the rest just behind it.
"""
from __future__ import annotations

import argparse
import os
import resource
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


SHARES = (0.0, 0.5, 1.0)


def share_label(share: float) -> str:
    return {0.0: "random", 1.0: "all on front"}.get(share, f"{share:.0%} on front")


def points_with_share(n: int, d: int, share: float, rng) -> np.ndarray:
    """n points in [0, 1]^d (minimised): ``share`` of them on the simplex (mutually
    nondominated), the rest that far scaled back (u in [1.01, 1.5]); share 0: uniform."""
    if share == 0:
        return rng.random((n, d))
    on = int(round(n * share))
    front = rng.dirichlet(np.ones(d), size=n)
    front[on:] *= rng.uniform(1.01, 1.5, size=(n - on, 1))
    return rng.permutation(front)


def in_memory(sizes: list[int], shares: tuple[float, ...] = SHARES) -> None:
    rng = np.random.default_rng(0)
    print(f"{'points':>9} {'d':>2} {'set':<13} {'front':>8} {'exact s':>8} {'eps=0.01 s':>10} {'hv s':>7}")
    for n in sizes:
        for d in (2, 3):
            for share in shares:
                points = points_with_share(n, d, share, rng)
                t_exact, front = timed(nondominated, points)
                t_eps, _ = timed(nondominated, points, 0.01)
                t_hv, _ = timed(hypervolume, points[front], [1.1] * d)
                print(f"{n:>9} {d:>2} {share_label(share):<13} {len(front):>8} {t_exact:>8.3f} "
                      f"{t_eps:>10.3f} {t_hv:>7.3f}", flush=True)


TASKS = ("left", "right", "middle")


def build_store(path: Path, n_points: int, share: float, d: int = 2) -> None:
    """``n_points`` test points of 1000-point trials (fewer points: one trial of them); mcr
    of ``d`` tasks as in ``points_with_share`` (d objectives), every point with sr, cr and
    ps as real ones have."""
    rng = np.random.default_rng(1)
    per_trial = min(1000, n_points)
    n_trials = max(1, n_points // per_trial)
    mcr = points_with_share(per_trial * n_trials, d, share, rng).clip(0, 1)
    with open_store(f"sqlite:///{path}", create=True) as store:
        store.register_sweep("speed", "", {}, {})
        trials = [{"key": f"{i:016x}", "dataset": {"name": "speed", "options": {}},
                   "arch": {"name": "hps", "options": {}}, "method": {"name": "linear", "params": {}},
                   "preference": None, "seed": 0, "train": {}} for i in range(n_trials)]
        store.add_trials("speed", trials)
        for t, trial in enumerate(trials):
            block = mcr[t * per_trial:(t + 1) * per_trial]
            points = [{"split": "test", "ray_index": k, "preference": None,
                       "metrics": {"sr": 0.0, "cr": 1.0, "ps": 1.0},
                       "tasks": {task: {"loss": 1.0, "acc": float(1 - v)}
                                 for task, v in zip(TASKS, row, strict=False)}}
                      for k, row in enumerate(block)]
            store.record_result(trial["key"], {"points": points})


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: on shared cores the
    wall time also counts the other processes' turns."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def end_to_end(sizes: int | list[int], shares: tuple[float, ...] = SHARES, repeats: int = 3,
               dims: tuple[int, ...] = (2,), keep: Path | None = None) -> None:
    """`paretoctl front` (default objectives, table) on a store of each size, share and
    number of tasks: wall and CPU seconds of the whole subprocess, imports included.
    ``keep``: build the stores there and reuse those already built (they take minutes)."""
    exe = str(Path(sys.executable).with_name("paretoctl"))
    print(f"{'stored':>9} {'d':>2} {'set':<13} {'front':>8} {'wall s':>7} {'CPU s':>6}  runs (wall)")
    for n_points in [sizes] if isinstance(sizes, int) else sizes:
        for d in dims:
            for share in shares:
                folder = keep or Path(tempfile.mkdtemp())
                path = folder / f"front-{n_points}-{d}d-{share:g}.db"
                if not path.exists():
                    build_store(path, n_points, share, d)
                walls, cpus = [], []
                for _ in range(repeats):
                    start, used = time.perf_counter(), child_cpu()
                    done = subprocess.run([exe, "front", "--dataset", "speed", "--store",
                                           f"sqlite:///{path}"], capture_output=True, text=True)
                    walls.append(time.perf_counter() - start)
                    cpus.append(child_cpu() - used)
                    assert done.returncode == 0, done.stderr
                title = next(line for line in done.stdout.splitlines() if "front:" in line)
                n_front = title.split("front:")[1].split()[0]
                print(f"{n_points:>9} {d:>2} {share_label(share):<13} {n_front:>8} "
                      f"{statistics.median(walls):>7.2f} {statistics.median(cpus):>6.2f}  "
                      f"{', '.join(f'{w:.2f}' for w in walls)} (load {os.getloadavg()[0]:.1f})",
                      flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--shares", default="0,0.5,1")
    parser.add_argument("--store-points", default="100000,1000000")
    parser.add_argument("--dims", default="2,3", help="objectives (tasks) of the stored points")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None,
                        help="folder for the stores, reused when run again")
    args = parser.parse_args()
    print(f"machine: {Path('/proc/cpuinfo').read_text().split('model name')[1].split(':')[1].splitlines()[0].strip()}"
          f"; load average {os.getloadavg()[0]:.1f}")
    shares = [float(v) for v in args.shares.split(",")]
    in_memory([int(v) for v in args.sizes.split(",")], shares)
    end_to_end([int(v) for v in args.store_points.split(",") if v], shares, args.repeats,
               tuple(int(v) for v in args.dims.split(",")), args.keep)


if __name__ == "__main__":
    main()
