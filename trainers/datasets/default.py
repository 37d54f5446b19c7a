"""``default``: UCI "default of credit card clients" (Taiwan, 30,000 rows), as the COSMOS
paper prepares it ("credit" in its code; docs/datasets.md#fairness-tables): label
``default`` (default.payment.next.month), sensitive attribute SEX (female = 1), 90
features.

Source: ``UCI_Credit_Card.csv`` (the Kaggle layout); ``--download`` fetches UCI's .xls
and writes that CSV (reading .xls needs the xlrd package). Preprocessing: EDUCATION,
MARRIAGE, PAY_0 and PAY_2..PAY_6 are one-hot encoded; SEX (1 male, 2 female) becomes 0/1
and leaves the features with the label; ID stays a feature, as in the papers (it is
needed to reach their 90 columns: 15 numeric + 75 one-hot); all columns standardised.
Tasks and split: trainers/datasets/tabular.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING


from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.sources import CREDIT
from trainers.datasets.tabular import FairnessTable, binary_column, require_columns, standardize

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

LABEL = "default.payment.next.month"
CATEGORICAL = ["EDUCATION", "MARRIAGE", "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"]


@DATASETS.register("default")
class Default(FairnessTable):
    name = "default"
    raw = CREDIT
    paper_dim = 90
    tasks = (Task("default", kind="binary", n_classes=None),
             Task("deo", kind="fairness", n_classes=None))
    description = "UCI default of credit card clients (COSMOS): default vs relaxed DEO on sex; 90 features"

    @classmethod
    def preprocess(cls, frame: pd.DataFrame, path: Path):
        import pandas as pd

        require_columns(frame, ["ID", "SEX", LABEL, *CATEGORICAL], path)
        y = binary_column(frame, LABEL, {0: 0, 1: 1}, path)
        a = binary_column(frame, "SEX", {1: 0, 2: 1}, path)
        features = frame.drop(columns=[LABEL, "SEX"]).astype({c: "category" for c in CATEGORICAL})
        return standardize(pd.get_dummies(features), path), y, a
