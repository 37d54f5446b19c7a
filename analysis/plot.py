"""Front pictures (``paretoctl plot``): every loaded point, coloured by method, with each
method's own front drawn as a line (2-D) and the overall front ringed.

Axes are the objectives as the user names them, in their stored sense (``acc.*`` plots
accuracy, ``mcr.*`` the misclassification rate) with the unit the metric registry gives,
so a picture reads like the paper's figures; the front itself is computed on the
minimised values (analysis.front). Two
objectives give a 2-D scatter, three a 3-D one. matplotlib's Agg backend renders to a
file without a display.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.front import minimise, nondominated, objective_matrix
from contract.metrics import lookup


def method_label(method: str, arch: str, archs: int) -> str:
    return f"{method} ({arch})" if archs > 1 else method


def axis_label(objective: str) -> str:
    """``acc.left (fraction)``: the objective and its registered unit."""
    return f"{objective} ({lookup(objective)[0].unit})"


def plot_front(df: pd.DataFrame, objectives: Sequence[str], out: Path, title: str) -> int:
    """Write the picture to ``out`` (format from its suffix); returns the number of
    points drawn. ``df`` holds the loaded points; rows missing an objective are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(objectives) not in (2, 3):
        raise ValueError(f"a plot needs 2 or 3 objectives, got {len(objectives)}")
    values = objective_matrix(df, objectives)
    complete = ~np.isnan(values).any(axis=1)
    df, values = df.loc[complete], values[complete]
    minimised = minimise(objectives, values)
    figure = plt.figure(figsize=(7, 5.5))
    axes = figure.add_subplot(projection="3d" if len(objectives) == 3 else None)
    n_archs = df["arch"].nunique()
    palette = plt.get_cmap("tab20").colors   # 20 distinct colours: one per method
    for group, ((method, arch), rows) in enumerate(df.groupby(["method", "arch"], sort=True)):
        colour = palette[(2 * group) % 20 + (2 * group // 20) % 2]
        index = df.index.get_indexer(rows.index)
        points = values[index]
        label = method_label(method, arch, n_archs)
        if len(objectives) == 2:
            axes.scatter(points[:, 0], points[:, 1], s=18, alpha=0.8, color=colour, label=label)
            front = index[nondominated(minimised[index])]
            order = np.argsort(values[front, 0])
            axes.plot(values[front][order, 0], values[front][order, 1], lw=1, color=colour)
        else:
            axes.scatter(*points.T, s=18, alpha=0.8, color=colour, label=label)
    overall = nondominated(minimised)
    ring = dict(s=70, facecolors="none", edgecolors="black", linewidths=0.8,
                label="front (all methods)")
    axes.scatter(*values[overall].T, **ring)
    axes.set_xlabel(axis_label(objectives[0]))
    axes.set_ylabel(axis_label(objectives[1]))
    if len(objectives) == 3:
        axes.set_zlabel(axis_label(objectives[2]))
    axes.set_title(title)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return len(df)
