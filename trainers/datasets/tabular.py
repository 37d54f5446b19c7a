"""What the three fairness datasets of COSMOS share (docs/datasets.md#fairness-tables,
docs/metrics.md#deo):
one CSV in, a standardised feature matrix, a binary label y and a binary sensitive
attribute a out, split 70 / 10 / 20.

Tasks, decided from docs/metrics.md#deo (the papers' two objectives are BCE and DEO of
*one* predictor):

- the label task (kind ``binary``: one logit, BCE with logits, accuracy at logit > 0);
- ``deo`` (kind ``fairness``): the relaxed DEO of the *same* logit as its loss, and
  1 - hard DEO as its accuracy (so ``mcr.deo`` is the papers' DEO score; the papers'
  two-objective front is the label's loss (BCE: ``loss.income``, ``loss.recid``,
  ``loss.default``) against ``mcr.deo``). Its target column is
  the sensitive group a (0/1) of each positive sample and -1 for negatives, because DEO
  only looks at positives; so y is (N, 2) int64 = (label, group-of-positive), and an
  architecture for these datasets returns the label logit for both tasks. Splits are
  evaluated in one batch (``eval_batch_size``), so DEO values are data-set-level.

The full sensitive attribute a (also of negatives) is kept in the cache (``sensitive``)
for other fairness measures. Preprocessing follows the COSMOS loaders, quirks included
(docs/datasets.md#fairness-preprocessing-quirks): the scaler is fitted on all rows before
the split; the split is scikit-learn's ``train_test_split`` twice, test 20 % then
validation 12.5 % of the rest, both with ``random_state`` = ``split_seed`` (1).
"""
from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from trainers.datasets.cached import CachedSource, split_payload
from trainers.datasets.locations import RawSet
from trainers.datasets.progress import Progress
from trainers.errors import DataError
from trainers.options import seed_option

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

TEST_FRACTION = 0.2
VAL_FRACTION = 0.125   # of the remaining 80 %: 10 % of all rows


def read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")


def binary_column(frame: pd.DataFrame, column: str, mapping: dict[Any, int], path: Path) -> np.ndarray:
    """Map a two-valued column to 0/1; any other value is an error naming it."""
    values = frame[column].map(mapping)
    if values.isna().any():
        bad = frame.loc[values.isna(), column].iloc[0]
        raise DataError(f"{path}: column {column} has value {bad!r}, expected one of "
                        f"{', '.join(map(str, mapping))}")
    return values.to_numpy(dtype=np.int64)


def standardize(features: pd.DataFrame, path: Path) -> np.ndarray:
    """One-hot encoded frame to float32, every column scaled to mean 0, std 1."""
    from sklearn.preprocessing import StandardScaler

    values = features.astype(np.float64)
    empty = values.columns[values.isna().any()].tolist()
    if empty:
        raise DataError(f"{path}: missing values in column(s) {', '.join(map(str, empty))}")
    return StandardScaler().fit_transform(values).astype(np.float32)


def strip_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Trim blanks around text values (UCI files put one after every comma)."""
    frame = frame.copy()
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].str.strip()
    return frame


def split_70_10_20(n: int, seed: int) -> dict[str, np.ndarray]:
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(np.arange(n), test_size=TEST_FRACTION, random_state=seed)
    train, val = train_test_split(rest, test_size=VAL_FRACTION, random_state=seed)
    return {"train": train, "val": val, "test": test}


class FairnessTable(CachedSource):
    """Base class of ``adult``, ``compas`` and ``default``."""

    raw: ClassVar[RawSet]
    #: the feature count of the papers (COSMOS App. E); the real files reproduce it
    paper_dim: ClassVar[int]

    default_arch = "mlp"
    option_table = {"split_seed": seed_option(1)}

    @classmethod
    def input_shape_for(cls, options: dict[str, Any]) -> tuple[int, ...]:
        return (cls.paper_dim,)

    @classmethod
    @abstractmethod
    def preprocess(cls, frame: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(standardised features float32 (N, d), label y (N,), sensitive a (N,))."""

    @classmethod
    def raw_sets(cls, options):
        return {cls.raw.key: cls.raw}

    @classmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        path = sources[f"{cls.raw.key}/csv"]
        progress("reading csv", 0, 1)
        x, y, a = cls.preprocess(read_csv(path), path)
        progress("reading csv", 1, 1)
        if len(x) < 10:
            raise DataError(f"{path}: only {len(x)} usable rows")
        group_of_positive = np.where(y == 1, a, -1)
        targets = np.stack([y, group_of_positive], axis=1).astype(np.int64)
        parts = split_70_10_20(len(x), int(options["split_seed"]))
        return {"splits": {s: split_payload(x[i], targets[i]) for s, i in parts.items()},
                "sensitive": {s: torch.as_tensor(a[i]) for s, i in parts.items()},
                "meta": {"n_features": int(x.shape[1])}}

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any], meta: dict[str, Any]) -> torch.Tensor:
        return x.to(torch.float32)
