"""Choosing each method's hyper-parameters by validation hypervolume (``paretoctl best``,
``paretoctl report --select-by val-hv``).

A configuration is what defines a trial apart from its preference and seed: dataset,
architecture, method parameters and the training settings that change results (the
trial's stored config less those). A configuration's validation hypervolume is the mean
over seeds of the hypervolume of its val points (every preference or ray of one seed),
against one reference point shared by all configurations. Each method keeps the
configuration with the largest (ties: the smallest configuration text, so the choice never
depends on row order) and is reported on the test points of that configuration only, so
the test split plays no part in the choice.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import format as fmt
from analysis.front import FrontResult, compute_front, minimised_matrix, reference_point
from analysis.report import seed_hypervolumes
from contract.settings import TrainSettings

SELECT_BY = ("val-hv",)
_RUNTIME = frozenset(TrainSettings.runtime_fields())
_IDENTITY = ("dataset", "arch", "method", "train")


def configuration(config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's stored config less its preference, seed and what only says where it ran."""
    chosen = {name: config.get(name) for name in _IDENTITY}
    chosen["train"] = {k: v for k, v in (config.get("train") or {}).items() if k not in _RUNTIME}
    return chosen


def configuration_text(config: Mapping[str, Any]) -> str:
    """The configuration as canonical JSON: equal configurations, equal texts."""
    return json.dumps(configuration(config), sort_keys=True, default=str)


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``method.params.mu0``)."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat |= _flat(item, f"{prefix}.{key}" if prefix else str(key))
    return flat


def varied(configurations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted settings whose value differs between the configurations, sorted."""
    flats = [_flat(c) for c in configurations]
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1]


@dataclass
class Candidate:
    """One configuration of a method, with its validation hypervolume over seeds."""

    text: str
    configuration: dict[str, Any]
    trials: list[str]
    seeds: int
    val_hv: float
    val_hv_std: float


@dataclass
class Selection:
    """A method's chosen configuration (``candidates[0]``), the settings that differ between
    its configurations with their chosen values, and every candidate, best first."""

    method: str
    candidates: list[Candidate]
    varied: dict[str, Any] = field(default_factory=dict)

    @property
    def chosen(self) -> Candidate:
        return self.candidates[0]


def select_by_val_hv(points: pd.DataFrame, objectives: Sequence[str],
                     ref_point: Sequence[float] | None = None) -> tuple[list[Selection], list[float]]:
    """Each method's best configuration by validation hypervolume, methods sorted by name,
    and the minimised reference point used (``ref_point`` is in own units; None: the
    default over every val point). ``points`` are load_points rows of the val split (other
    splits are ignored) with a ``config`` column holding each point's trial config.
    ValueError when there are no val points with every objective."""
    objectives = list(objectives)
    val = points[points["split"] == "val"]
    matrix = minimised_matrix(val, objectives) if len(val) else np.empty((0, len(objectives)))
    complete = ~np.isnan(matrix).any(axis=1)
    if not complete.any():
        raise ValueError("no validation points with every objective: selecting by validation "
                         "hypervolume needs the trials' val split")
    _, ref = reference_point(objectives, matrix[complete], ref_point)
    val = val.assign(configuration_text=[configuration_text(c) for c in val["config"]])
    selections = []
    for method, rows in val.groupby("method", sort=True):
        candidates = []
        for text, group in rows.groupby("configuration_text", sort=True):
            volumes = seed_hypervolumes(group, objectives, ref)
            candidates.append(Candidate(
                text=text, configuration=configuration(group["config"].iloc[0]),
                trials=sorted(group["trial"].unique()), seeds=len(volumes),
                val_hv=float(np.mean(volumes)), val_hv_std=float(np.std(volumes))))
        candidates.sort(key=lambda c: (-c.val_hv, c.text))  # stable choice on ties
        keys = varied([c.configuration for c in candidates])
        chosen = _flat(candidates[0].configuration)
        selections.append(Selection(str(method), candidates, {k: chosen.get(k) for k in keys}))
    return selections, ref


def chosen_trials(selections: Sequence[Selection]) -> set[str]:
    """The trial keys of every chosen configuration (all its preferences and seeds)."""
    return {key for s in selections for key in s.chosen.trials}


def _setting_text(settings: Mapping[str, Any]) -> str:
    """``train.lr=0.001, method.params.mu0=0.5`` (or ``-`` when nothing varied)."""
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in settings.items()) or "-"


def chosen_test_fronts(selections: Sequence[Selection], test: pd.DataFrame, objectives: Sequence[str],
                eps: float = 0.0, ref_point: Sequence[float] | None = None) -> list[FrontResult]:
    """Each chosen configuration's front over its test points, one reference point for all
    (``ref_point`` in own units; None: the default over every test point given)."""
    objectives = list(objectives)
    matrix = minimised_matrix(test, objectives)
    own, _ = reference_point(objectives, matrix[~np.isnan(matrix).any(axis=1)], ref_point)
    return [compute_front(test[test["trial"].isin(s.chosen.trials)], objectives, eps, own)
            for s in selections]


def best_view(selections: Sequence[Selection], fronts: Sequence[FrontResult],
              objectives: Sequence[str], val_ref: Sequence[float],
              table_rows: int | None = None) -> fmt.View:
    """For the formatter: one row per test front point of each chosen configuration (the
    method, its varied settings, validation and test hypervolume, the point); the table
    shows the first ``table_rows`` rows; JSON holds every candidate's validation hypervolume
    and the chosen configuration in full."""
    objectives = list(objectives)
    rows = []
    for selection, front in zip(selections, fronts, strict=True):
        head = {"method": selection.method, "chosen": _setting_text(selection.varied),
                "val_hv": selection.chosen.val_hv, "test_hv": front.hypervolume}
        for row in front.rows():
            rows.append(head | {k: row.get(k) for k in ("trial", "arch", "seed", "preference",
                                                        *objectives)})
    document = {
        "objectives": objectives,
        "val_ref_point_minimised": [float(v) for v in val_ref],
        "ref_point": fronts[0].ref_point if fronts else None,
        "methods": [{
            "method": s.method, "chosen": s.varied, "configuration": s.chosen.configuration,
            "val_hv": s.chosen.val_hv, "val_hv_std": s.chosen.val_hv_std, "seeds": s.chosen.seeds,
            "test_hv": f.hypervolume, "test_front": f.to_json_dict(),
            "candidates": [{"chosen": {k: _flat(c.configuration).get(k) for k in s.varied},
                            "val_hv": c.val_hv, "val_hv_std": c.val_hv_std, "seeds": c.seeds,
                            "trials": c.trials} for c in s.candidates],
        } for s, f in zip(selections, fronts, strict=True)],
    }
    ids = ["method", "chosen", "trial", "arch", "preference"]
    table = fmt.columns(["method", "chosen", "val_hv", "test_hv", "trial", "seed", "preference",
                         *objectives], left=ids)
    csv = fmt.columns(["method", "chosen", "val_hv", "test_hv", "trial", "arch", "seed",
                       "preference", *objectives])
    summary = "; ".join(f"{s.method}: {len(s.candidates)} configuration"
                        f"{'' if len(s.candidates) == 1 else 's'}, val hv "
                        f"{s.chosen.val_hv:.4g}, test hv {f.hypervolume:.4g}"
                        for s, f in zip(selections, fronts, strict=True))
    shown = f", first {table_rows} shown (--rows 0 for all)" if table_rows and table_rows < len(rows) else ""
    return fmt.View(rows=rows, columns=table, csv_columns=csv, table_rows=table_rows,
                    title=f"best configuration per method by validation hypervolume: "
                          f"{len(rows)} test front points{shown}",
                    caption=summary, document=document)
