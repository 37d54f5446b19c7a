"""Print the figures of a WC-AL sweep from the store as a Markdown table (one row per
trial): test accuracies, SR/CR/PS over rows, parameter counts and the phase times.

    python benchmarks/mdmtn_report.py STORE_URL SWEEP
"""
from __future__ import annotations

import sys

import pandas as pd
from sqlalchemy import select

from store.db import open_store
from store.queries import PointFilter, load_points
from store.schema import Trial


def phase_times(store, keys: list[str]) -> pd.DataFrame:
    stmt = select(Trial.key, Trial.time_phase1_s, Trial.time_phase2_s, Trial.time_train_s,
                  Trial.device).where(Trial.key.in_(keys))
    with store.read_connection() as connection:
        rows = connection.execute(stmt).all()
    return pd.DataFrame(rows, columns=["trial", "phase1_s", "phase2_s", "train_s", "device"])


def minutes(seconds) -> str:
    return "-" if pd.isna(seconds) else f"{seconds / 60:.1f}"


def report(url: str, sweep: str) -> str:
    store = open_store(url, create=False)
    test = load_points(store, PointFilter(sweep=sweep, split="test"))
    val = load_points(store, PointFilter(sweep=sweep, split="val")).set_index("trial")
    times = phase_times(store, list(test["trial"])).set_index("trial")
    tasks = [c[len("acc."):] for c in test.columns if c.startswith("acc.")]
    head = ("| k | " + " | ".join(f"test acc {t} %" for t in tasks) +
            " | test mean % | val mean % | SR % | CR | PS | SR scalar % | params |"
            " phase 1 min | phase 2 min | total min | device |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for _, p in test.iterrows():
        t = times.loc[p["trial"]]
        accs = [100 * p[f"acc.{name}"] for name in tasks]
        val_mean = 100 * sum(val.loc[p["trial"], f"acc.{name}"] for name in tasks) / len(tasks)
        lines.append(
            f"| {tuple(p['preference'])} | " + " | ".join(f"{a:.2f}" for a in accs) +
            f" | {sum(accs) / len(accs):.2f} | {val_mean:.2f} | {100 * p['sr']:.2f} |"
            f" {p['cr']:.3f} | {p['ps']:.3f} | {100 * p['sr_scalar']:.2f} | {p['n_params']} |"
            f" {minutes(t['phase1_s'])} | {minutes(t['phase2_s'])} | {minutes(t['train_s'])} |"
            f" {t['device']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1], sys.argv[2]))
