"""``compas``: ProPublica's COMPAS two-year recidivism data, as the COSMOS paper
prepares it (docs/datasets.md#fairness-tables): label ``recid`` (two_year_recid), sensitive
attribute sex (Female = 1), 20 features.

Source: ``compas-scores-two-years.csv`` (ProPublica's compas-analysis repository;
``--download`` fetches it). Preprocessing: rows with days_b_screening_arrest in
[-30, 30], is_recid != -1, c_charge_degree != 'O' and score_text != 'N/A' (6,172 rows);
columns age, c_charge_degree, race, age_cat, score_text, sex, priors_count,
days_b_screening_arrest, decile_score, is_recid, two_year_recid and length_of_stay =
c_jail_out - c_jail_in in whole hours (floored; the authors' pandas-1 cast); label and
sex leave the features, the rest is one-hot encoded (6 numeric + 14 one-hot = 20) and
standardised. ``is_recid`` and ``decile_score`` stay features, as in the papers, though
they leak towards the label (docs/datasets.md#fairness-preprocessing-quirks). Tasks and
split: trainers/datasets/tabular.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.sources import COMPAS
from trainers.datasets.tabular import FairnessTable, binary_column, require_columns, standardize
from trainers.errors import DataError

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

KEEP = ["age", "c_charge_degree", "race", "age_cat", "score_text", "sex", "priors_count",
        "days_b_screening_arrest", "decile_score", "is_recid", "two_year_recid"]
JAIL = ["c_jail_in", "c_jail_out"]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def stay_hours(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """Whole hours between jail entry and exit."""
    import pandas as pd

    try:
        entry = pd.to_datetime(frame["c_jail_in"], format=TIME_FORMAT)
        leave = pd.to_datetime(frame["c_jail_out"], format=TIME_FORMAT)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: c_jail_in/c_jail_out are not '{TIME_FORMAT}' times "
                        f"({str(exc).splitlines()[0]})") from None
    return np.floor((leave - entry) / pd.Timedelta(hours=1)).to_numpy(dtype=np.float64)


@DATASETS.register("compas")
class Compas(FairnessTable):
    name = "compas"
    raw = COMPAS
    paper_dim = 20
    tasks = (Task("recid", kind="binary", n_classes=None),
             Task("deo", kind="fairness", n_classes=None))
    description = "ProPublica COMPAS (COSMOS): two-year recidivism vs relaxed DEO on sex; 20 features"

    @classmethod
    def preprocess(cls, frame: pd.DataFrame, path: Path):
        import pandas as pd

        require_columns(frame, KEEP + JAIL, path)
        keep = ((frame["days_b_screening_arrest"] <= 30) & (frame["days_b_screening_arrest"] >= -30)
                & (frame["is_recid"] != -1) & (frame["c_charge_degree"] != "O")
                & (frame["score_text"] != "N/A"))
        frame = frame.loc[keep]
        data = frame[KEEP].copy()
        data["length_of_stay"] = stay_hours(frame, path)
        y = binary_column(data, "two_year_recid", {0: 0, 1: 1}, path)
        a = binary_column(data, "sex", {"Male": 0, "Female": 1}, path)
        features = pd.get_dummies(data.drop(columns=["two_year_recid", "sex"]))
        return standardize(features, path), y, a
