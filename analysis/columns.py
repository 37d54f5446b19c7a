"""Named, equal-length columns of points without pandas: what ``paretoctl front`` computes on.

A front over a million stored points needs a few float columns and, for the rows it shows,
their ids; a DataFrame would cost the pandas import (about a third of a second) and its
construction. ``Columns`` answers the few questions the front asks of a table the way a
DataFrame does (``len`` counts rows, ``name in table`` asks for a column) and converts
either way, so DataFrame callers (report, select, the tests) keep their frames.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np


class Indexed:
    """A column of few distinct values (a trial's fields over its points): ``values[index]``,
    built only when read, so that taking a million front rows moves integers, not a
    million references to the same few strings each."""

    def __init__(self, values: np.ndarray, index: np.ndarray) -> None:
        self.values, self.index = values, np.asarray(index, dtype=np.intp)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            return self.values[self.index[key]]
        return Indexed(self.values, self.index[key])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.values[self.index], dtype=dtype)

    @property
    def dtype(self) -> np.dtype:
        return self.values.dtype

    def tolist(self) -> list[Any]:
        return self.values[self.index].tolist()


class Columns:
    """Columns by name: numpy arrays (a 2-D one holds a list per row), ``Indexed`` ones or,
    from a frame, pandas' own arrays where the dtype is pandas' (``Int64``), all of one
    length."""

    def __init__(self, data: Mapping[str, Any], length: int | None = None) -> None:
        self._data = dict(data)
        lengths = {len(v) for v in self._data.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        self._length = lengths.pop() if lengths else (length or 0)

    @classmethod
    def from_frame(cls, frame: Any) -> Columns:
        """A DataFrame's columns, each keeping its dtype (dates and ``Int64`` as pandas
        arrays, so they come back from ``to_frame`` as they were)."""
        data = {}
        for name in frame.columns:
            series = frame[name]
            numpy_kind = isinstance(series.dtype, np.dtype) and series.dtype.kind not in "mM"
            data[name] = series.to_numpy() if numpy_kind else series.array
        return cls(data, len(frame))

    @property
    def columns(self) -> list[str]:
        return list(self._data)

    def __len__(self) -> int:
        return self._length

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def take(self, index: Sequence[int] | np.ndarray) -> Columns:
        """The rows at ``index`` (integer positions), in that order."""
        index = np.asarray(index, dtype=np.intp)
        return Columns({k: v[index] for k, v in self._data.items()}, len(index))

    def assign(self, **columns: Any) -> Columns:
        """These columns added (or replaced), after the present ones."""
        return Columns({**self._data, **columns}, self._length)

    def records(self, limit: int | None = None,
                names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The first ``limit`` rows (None: all) as dicts of Python values, like a
        DataFrame's records: numbers native, a 2-D column's row a list; ``names``: only
        these columns (None: all)."""
        names = list(self._data) if names is None else list(names)
        values = [_python_values(self._data[name][:limit]) for name in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]

    def to_frame(self) -> Any:
        """A pandas DataFrame of these columns (a 2-D column as one list per row)."""
        import pandas as pd

        data = {k: list(v.tolist()) if isinstance(v, np.ndarray) and v.ndim == 2
                else np.asarray(v) if isinstance(v, Indexed) else v
                for k, v in self._data.items()}
        return pd.DataFrame(data, index=pd.RangeIndex(self._length))


def _python_values(column: Any) -> list[Any]:
    """A column's values as Python objects; pandas' NA (an ``Int64`` gap) as None, as a
    DataFrame's records have it."""
    values = column.tolist()
    if isinstance(column, np.ndarray | Indexed):
        return values
    na = sys.modules["pandas"].NA  # only a frame's own arrays get here
    return [None if v is na else v for v in values]
