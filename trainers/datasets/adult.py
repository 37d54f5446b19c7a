"""``adult``: UCI Adult income, as the COSMOS paper prepares it
(docs/datasets.md#fairness-tables): label ``income`` (>50K = 1), sensitive attribute gender
(Female = 1), 88 features.

Source: ``adult.csv``, the Kaggle "adult-income-dataset" layout (48,842 rows: UCI's
adult.data and adult.test with a header row); ``--download`` fetches the two UCI files
and writes that CSV. Preprocessing: '?' becomes the majority value (workclass Private,
occupation Prof-specialty, native-country United-States); education is grouped into 6
levels and marital status into married / not-married; income and gender become 0/1 and
leave the features; every other categorical column is one-hot encoded (6 numeric + 82
one-hot = 88 columns) and all columns are standardised. Tasks and split:
trainers/datasets/tabular.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.sources import ADULT
from trainers.datasets.tabular import (FairnessTable, binary_column, require_columns,
                                       standardize, strip_text)

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

MAJORITY = {"workclass": "Private", "occupation": "Prof-specialty",
            "native-country": "United-States"}
EDUCATION = {
    **{level: "left" for level in ("Preschool", "1st-4th", "5th-6th", "7th-8th", "9th",
                                   "10th", "11th", "12th")},
    "HS-grad": "school",
    **{level: "higher" for level in ("Assoc-voc", "Assoc-acdm", "Prof-school", "Some-college")},
    "Bachelors": "undergrad", "Masters": "grad", "Doctorate": "doc",
}
MARRIED = ("Married-civ-spouse", "Married-AF-spouse")
COLUMNS = ["age", "workclass", "fnlwgt", "education", "educational-num", "marital-status",
           "occupation", "relationship", "race", "gender", "capital-gain", "capital-loss",
           "hours-per-week", "native-country", "income"]


@DATASETS.register("adult")
class Adult(FairnessTable):
    name = "adult"
    raw = ADULT
    paper_dim = 88
    tasks = (Task("income", kind="binary", n_classes=None),
             Task("deo", kind="fairness", n_classes=None))
    description = "UCI Adult (COSMOS): income >50K vs relaxed DEO on gender; 88 features, 70/10/20"

    @classmethod
    def preprocess(cls, frame: pd.DataFrame, path: Path):
        import pandas as pd

        require_columns(frame, COLUMNS, path)
        frame = strip_text(frame[COLUMNS])
        for column, value in MAJORITY.items():
            frame[column] = frame[column].replace("?", value)
        frame["education"] = frame["education"].replace(EDUCATION)
        frame["marital-status"] = np.where(frame["marital-status"].isin(MARRIED),
                                           "married", "not-married")
        y = binary_column(frame, "income", {"<=50K": 0, ">50K": 1}, path)
        a = binary_column(frame, "gender", {"Male": 0, "Female": 1}, path)
        features = pd.get_dummies(frame.drop(columns=["income", "gender"]))
        return standardize(features, path), y, a
