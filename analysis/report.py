"""Method comparison (``paretoctl report``): one row per (method, architecture).

The MDMTN paper's Table I reports each method's best point (per-task accuracy, SR, CR, PS,
parameters); the COSMOS paper and Ruchte & Grabocka (2021b) report each method's
hypervolume as mean and standard deviation over seeds, and its training time. A report row
carries both:

- ``hv`` / ``hv_std``: the hypervolume of every point the method produced for one seed
  (all its preference trials, or all test rays of a front-learning method), then mean and
  (population) standard deviation over seeds. One reference point serves every row, so
  the rows are comparable: the one given, else the default of ``analysis.front``
  computed over all the loaded points.
- the best point: the one with the highest mean accuracy over tasks (lowest mean loss
  where tasks have no accuracy), with its per-task values, SR, CR, PS, parameters and
  the value of every point-level objective (a registered metric such as ``sparsity``).
- ``train_s``: training seconds of one seed's trials summed (a method that needs several
  trials for its front pays for all of them), mean over seeds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import format as fmt
from analysis.front import hypervolume, minimised_matrix, reference_point
from contract import metrics as registry

GROUP = ["method", "arch"]
BEST_POINT_METRICS = ("sr", "cr", "ps", "n_params")  # always shown for the best point


def task_names(df: pd.DataFrame) -> list[str]:
    """Tasks of the frame's task-level metric columns (``loss.left`` -> left)."""
    return registry.task_names(df.columns)


def quality(df: pd.DataFrame) -> pd.Series:
    """Higher is better: mean accuracy over tasks, or minus the mean loss without them."""
    acc, loss = registry.ACC.name, registry.LOSS.name
    tasks = task_names(df)
    accs = [f"{acc}.{t}" for t in tasks if f"{acc}.{t}" in df and df[f"{acc}.{t}"].notna().any()]
    if len(accs) == len(tasks):
        return df[accs].mean(axis=1)
    return -df[[f"{loss}.{t}" for t in tasks]].mean(axis=1)


def seed_hypervolumes(group: pd.DataFrame, objectives: Sequence[str],
                      ref: Sequence[float]) -> list[float]:
    """One hypervolume per seed; rows missing an objective are left out."""
    volumes = []
    for _, rows in group.groupby("seed", sort=True):
        matrix = minimised_matrix(rows, objectives)
        volumes.append(hypervolume(matrix[~np.isnan(matrix).any(axis=1)], ref))
    return volumes


def seed_train_seconds(group: pd.DataFrame) -> float:
    """Mean over seeds of the summed training time of the seed's distinct trials."""
    per_trial = group.drop_duplicates("trial")
    return float(per_trial.groupby("seed")["time_train_s"].sum().mean())


def best_point(group: pd.DataFrame) -> pd.Series:
    scores = quality(group)
    return group.loc[scores.idxmax()] if scores.notna().any() else group.iloc[0]


def point_metrics_shown(objectives: Sequence[str]) -> list[str]:
    """The best point's point-level columns: sr, cr, ps, n_params, then any other
    point-level objective (``sparsity``, a newly registered metric)."""
    chosen = [o for o in objectives if registry.lookup(o)[0].level == "point"]
    return [*BEST_POINT_METRICS, *[o for o in chosen if o not in BEST_POINT_METRICS]]


def compare(df: pd.DataFrame, objectives: Sequence[str],
            ref_point: Sequence[float] | None = None) -> tuple[pd.DataFrame, list[float]]:
    """The report table (one row per method and architecture, best hypervolume first)
    and the reference point used; ``ref_point`` and the one returned are in the
    objectives' own units (an accuracy for ``acc.*``)."""
    objectives = list(objectives)
    matrix = minimised_matrix(df, objectives)
    own_ref, ref = reference_point(objectives, matrix[~np.isnan(matrix).any(axis=1)], ref_point)
    tasks = task_names(df)
    shown = point_metrics_shown(objectives)
    rows = []
    for (method, arch), group in df.groupby(GROUP, sort=True):
        volumes = seed_hypervolumes(group, objectives, ref)
        best = best_point(group)
        row = {"method": method, "arch": arch, "seeds": group["seed"].nunique(),
               "trials": group["trial"].nunique(), "points": len(group),
               "hv": float(np.mean(volumes)), "hv_std": float(np.std(volumes)),
               "best_quality": float(quality(best.to_frame().T.infer_objects()).iloc[0])}
        for task in tasks:
            for kind in (registry.ACC.name, registry.LOSS.name):
                row[f"{kind}.{task}"] = best.get(f"{kind}.{task}")
        row |= {name: best.get(name) for name in shown}
        row["train_s"] = seed_train_seconds(group)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("hv", ascending=False, kind="stable")
    return table.reset_index(drop=True), own_ref


def report_view(table: pd.DataFrame, objectives: Sequence[str], ref: Sequence[float],
                selected: Mapping[str, Mapping[str, Any]] | None = None) -> fmt.View:
    """The report for the formatter: the table shows ids, counts, hv, each task's best
    accuracy, the best point's metrics and the time; CSV and JSON rows carry every
    column of ``compare``'s table, JSON with the objectives and reference point.
    ``selected``: each method's settings chosen by validation hypervolume (the rows then
    cover those configurations only), named in the caption and in JSON."""
    rows = [{k: fmt.plain(v) for k, v in r.items()} for r in fmt.records(table)]
    tasks = registry.task_names(table.columns)
    acc = registry.ACC.name
    shown = ["method", "arch", "seeds", "trials", "points", "hv", "hv_std",
             *[f"{acc}.{t}" for t in tasks], *point_metrics_shown(objectives), "train_s"]
    caption = (f"hv: hypervolume of each seed's points w.r.t. ref point {fmt.table_cell(list(ref))}, "
               "mean and std over seeds; best: the point with the best mean accuracy (or loss); "
               "train_s: one seed's trials summed")
    document = {"objectives": list(objectives), "ref_point": list(ref), "rows": rows}
    if selected is not None:
        caption += "; configurations chosen by validation hypervolume: " + "; ".join(
            f"{method} {', '.join(f'{k}={v}' for k, v in settings.items()) or '(its only one)'}"
            for method, settings in selected.items())
        document["selected"] = {method: dict(settings) for method, settings in selected.items()}
    return fmt.View(
        rows=rows, columns=fmt.columns(shown, left=GROUP),
        csv_columns=fmt.columns(table.columns),
        title=f"methods compared on {', '.join(objectives)}", caption=caption, document=document,
    )
