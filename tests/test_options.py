"""Option declarations (trainers/options.py): every dataset and architecture declares each
option once with a type and a range; defaults satisfy their own declarations, and every
value survives the trip through the command line (``-o KEY=VALUE``) unchanged."""
from __future__ import annotations

import pytest

from trainers.datasets import DATASETS
from trainers.models import ARCHITECTURES
from trainers.options import Option, OptionError, command_line, parse_all, resolve

TABLES = {**{f"dataset {name}": DATASETS.get(name).option_table for name in DATASETS.names()},
          **{f"architecture {name}": ARCHITECTURES.get(name).option_table
             for name in ARCHITECTURES.names()}}


@pytest.mark.parametrize("owner", sorted(TABLES))
def test_every_option_is_declared_and_its_default_valid(owner):
    table = TABLES[owner]
    for name, option in table.items():
        assert isinstance(option, Option), (owner, name)
        assert option.check(name, option.default) == option.default
        numeric = option.kind in (int, float)
        bounded_above = option.le is not None or option.lt is not None
        bounded_below = option.ge is not None or option.gt is not None
        assert not numeric or (bounded_above and bounded_below), f"{owner}: {name} has no range"
        text = option.format(option.default)
        assert parse_all(table, {name: text}) == {name: option.default}, (owner, name, text)
    assert resolve(table, {}) == {name: option.default for name, option in table.items()}


def test_dataset_defaults_come_from_the_declarations():
    for name in DATASETS.names():
        source = DATASETS.get(name)
        assert source.default_options == {k: o.default for k, o in source.option_table.items()}
        assert source.resolve_options({}) == source.default_options


@pytest.mark.parametrize("option, good, bad", [
    (Option(3, int, ge=1, le=10), [1, 10], [0, 11, 2.0, True, "3", None]),
    (Option(0.5, float, gt=0, lt=1), [0.25, 1e-9], [0, 1, float("inf"), float("nan"), "0.5", False, 10**400]),
    (Option("a", str, choices=("a", "b")), ["b"], ["c", 1, None]),
    (Option(False, bool), [True], [0, "true", None]),
    (Option(None, int, ge=1, le=5, nullable=True), [None, 5], [0, "null"]),
    (Option(["x"], list, choices=("x", "y"), max_items=2), [["y", "x"]], [[], ["x", "x"], ["z"], "x", ["x", "y", "x"]]),
])
def test_types_and_ranges_are_strict(option, good, bad):
    for value in good:
        assert option.check("o", value) == value
    for value in bad:
        with pytest.raises(OptionError) as info:
            option.check("o", value)
        assert info.value.name.startswith("o") and "\n" not in str(info.value)


def test_command_line_carries_only_what_differs_from_the_defaults():
    table = {"n": Option(10, int, ge=1, le=100), "f": Option(0.1, float, gt=0, lt=1),
             "w": Option(1.0, float, gt=0, le=4)}
    # 2 (an int) differs from the default 1.0: it keys another cache, so it is kept
    assert command_line(table, {"n": 10, "f": 0.25, "w": 2}) == ["f=0.25", "w=2"]
    assert parse_all(table, {"f": "0.25", "w": "2"}) == {"f": 0.25, "w": 2}
    assert type(parse_all(table, {"w": "2"})["w"]) is int  # as YAML reads it
