"""One formatter for every read command: rows and column specs as a rich table, CSV or JSON.

A command describes what it shows as a ``View`` (rows, the table's and the CSV's columns, a
title and caption, the JSON document) and ``render`` turns it into the chosen format, so
every command writes missing values, floats and lists the same way: the table shows
floats to 4 decimals and missing values as ``-``; CSV rounds floats to
CSV_SIGNIFICANT_DIGITS and leaves missing values empty; JSON keeps full float64 precision
and writes missing values as null.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

FORMATS = ("table", "csv", "json")
# CSV floats are rounded to 10 significant digits: float64 residue such as
# 1 - 0.9 = 0.09999999999999998 sits at the 16th-17th digit, and no stored metric has
# 10 meaningful ones (losses are sums of float32 terms; accuracies are k / n).
CSV_SIGNIFICANT_DIGITS = 10


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars and arrays unwrapped, NaN and NA to None,
    mappings and sequences converted item by item."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or _pandas_missing(value):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _pandas_missing(value: Any) -> bool:
    """Whether ``value`` is pandas' NA or NaT; without pandas imported it can be neither
    (so the formatter never imports pandas itself)."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def shown(value: float) -> str:
    """A float in a message: CSV_SIGNIFICANT_DIGITS digits, no trailing zeros (0.66, 1)."""
    return f"{value:.{CSV_SIGNIFICANT_DIGITS}g}"


def csv_float(value: Any) -> Any:
    """A float rounded to CSV_SIGNIFICANT_DIGITS; anything else unchanged."""
    return float(shown(value)) if isinstance(value, float) else value


def table_cell(value: Any) -> str:
    """A table cell: floats to 4 decimals, lists as ``(0, 0.5)``, missing as ``-``; text is
    escaped so that rich never takes stored text for markup."""
    from rich.markup import escape

    value = plain(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return "(" + ", ".join("-" if v is None else f"{v:g}" for v in value) + ")"
    return escape(str(value))


def csv_cell(value: Any) -> str:
    """A CSV field: rounded floats in Python's shortest form (0.1, 1.0, 1e-06), lists and
    mappings as JSON of rounded values, missing values empty."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(csv_float(value))
    if isinstance(value, list | dict):
        return json.dumps(_rounded(value))
    return str(value)


def _rounded(value: Any) -> Any:
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return csv_float(value)


@dataclass(frozen=True)
class Column:
    """A column: the row ``key`` it shows, its ``header`` (default: the key), its alignment
    in the table and, optionally, how the table writes its cells."""

    key: str
    header: str | None = None
    justify: Literal["left", "right"] = "right"
    cell: Callable[[Any], str] | None = None

    @property
    def title(self) -> str:
        return self.header or self.key


def columns(keys: Iterable[str], left: Iterable[str] = ()) -> list[Column]:
    """Plain columns for ``keys``, the ones in ``left`` left-aligned (text), others right."""
    left = set(left)
    return [Column(k, justify="left" if k in left else "right") for k in keys]


def records(rows: Any) -> list[dict[str, Any]]:
    """Rows as a list of dicts (a DataFrame's records, in order)."""
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is imported already
    if pandas is not None and isinstance(rows, pandas.DataFrame):
        return rows.to_dict("records")
    return [dict(r) for r in rows]


@dataclass
class View:
    """What a read command shows. ``columns`` are the table's, ``csv_columns`` the CSV's
    (default: the same); ``table_rows`` keeps the table to the first rows (CSV and JSON
    show all); ``document`` is the JSON object (default ``{"rows": rows}``). Large views
    may pass ``rows`` as a sequence that builds only the slice asked for, and
    ``document`` as a function, so a table of the first rows never builds the rest."""

    rows: Sequence[dict[str, Any]]
    columns: list[Column]
    title: str | None = None
    caption: str | None = None
    csv_columns: list[Column] | None = None
    document: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
    table_rows: int | None = None


def to_table(view: View):
    """The rich Table of a view."""
    from rich.table import Table

    table = Table(title=view.title, caption=view.caption)
    for column in view.columns:
        table.add_column(column.title, justify=column.justify)
    rows = view.rows if view.table_rows is None else view.rows[: view.table_rows]
    for row in rows:
        table.add_row(*[(c.cell or table_cell)(row.get(c.key)) for c in view.columns])
    return table


def to_csv(view: View) -> str:
    """Header, then one line per row; fields as ``csv_cell`` writes them."""
    chosen = view.csv_columns if view.csv_columns is not None else view.columns
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.title for c in chosen])
    for row in view.rows:
        writer.writerow([csv_cell(row.get(c.key)) for c in chosen])
    return buffer.getvalue()


def to_json(view: View) -> str:
    """The view's document (or ``{"rows": rows}``) as one line of JSON, no NaN in it."""
    document = view.document() if callable(view.document) else view.document
    document = document if document is not None else {"rows": list(view.rows)}
    return json.dumps(plain(document), allow_nan=False) + "\n"


def render(view: View, fmt: str):
    """``fmt`` is table (a rich Table), csv or json (text ending in a newline)."""
    if fmt == "table":
        return to_table(view)
    if fmt == "csv":
        return to_csv(view)
    if fmt == "json":
        return to_json(view)
    raise ValueError(f"expected {', '.join(FORMATS)}, got {fmt!r}")
