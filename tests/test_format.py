"""analysis.format, the one formatter of the read commands: the same row gives the same
cells in every command, CSV rounds float residue, JSON never holds NaN."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest

from analysis import format as fmt

ROWS = [
    {"name": "a [red]b[/red]", "x": 1 - 0.9, "n": np.int64(3), "pref": [0.1 + 0.2, 0.7],
     "flag": np.bool_(True), "missing": float("nan")},
    {"name": "c", "x": 1e-06, "n": pd.NA, "pref": None, "flag": False, "missing": None},
]


def view(**extra) -> fmt.View:
    return fmt.View(rows=ROWS, columns=fmt.columns(["name", "x", "n", "pref", "flag", "missing"],
                                                   left=["name"]), **extra)


def test_csv_rounds_floats_writes_lists_as_json_and_leaves_missing_empty():
    text = fmt.render(view(), "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["name", "x", "n", "pref", "flag", "missing"]
    assert rows[1] == ["a [red]b[/red]", "0.1", "3", "[0.3, 0.7]", "True", ""]
    assert rows[2] == ["c", "1e-06", "", "", "False", ""]
    assert text.endswith("\n") and "\r" not in text


def test_csv_columns_may_differ_from_the_table():
    text = fmt.to_csv(view(csv_columns=fmt.columns(["x", "name"])))
    assert text.splitlines()[:2] == ["x,name", "0.1,a [red]b[/red]"]


def test_json_keeps_full_precision_and_has_no_nan():
    data = json.loads(fmt.render(view(), "json"))
    assert data["rows"][0]["x"] == 1 - 0.9 and data["rows"][0]["n"] == 3
    assert data["rows"][0]["missing"] is None and data["rows"][1]["n"] is None
    assert data["rows"][0]["flag"] is True
    document = json.loads(fmt.to_json(view(document={"k": np.float64("nan"), "rows": ROWS[:1]})))
    assert document["k"] is None and len(document["rows"]) == 1


def test_table_cells_and_the_first_rows():
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(fmt.render(view(title="T", caption="C", table_rows=1), "table"))
    text = console.export_text()
    assert "a [red]b[/red]" in text  # stored text is never taken for markup
    assert "0.1000" in text and "(0.3, 0.7)" in text and "True" in text
    assert " c " not in text  # only the first row
    assert [fmt.table_cell(v) for v in (None, float("nan"), pd.NA, 2.5, [1, None], 7)] == [
        "-", "-", "-", "2.5000", "(1, -)", "7"]


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="table, csv, json"):
        fmt.render(view(), "xml")
