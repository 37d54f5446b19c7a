"""Typed, ranged options of datasets and architectures, declared once and checked in one place.

Each dataset class and architecture builder declares a table ``{name: Option(...)}``: the
default, the type, the range or the allowed values. :func:`resolve` overlays given
options on the defaults and checks every value, so a sweep is refused at expansion
(``datasets.0.n_train: ...``) instead of failing inside a trial, and ``data prepare -o
KEY=VALUE`` converts its strings by the same declarations (:meth:`Option.parse`) before
the same check. Values keep their given type (an int given for a float option stays an
int), so existing trial keys do not change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

#: every seed-like option: numpy, torch and scikit-learn all accept [0, 2**32 - 1]
SEED_MAX = 2**32 - 1
_TRUE, _FALSE, _NULL = ("true", "yes", "on"), ("false", "no", "off"), ("null", "none", "~")


class OptionError(ValueError):
    """An option value is wrong; ``name`` is the option, ``message`` says why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: float) -> str:
    """A bound as people write it: 4294967295, 0.5, 1e+06."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e12 else f"{value:g}"


@dataclass(frozen=True)
class Option:
    """One option: its default and what a value must be.

    ``kind`` is int, float, bool, str or list (a list of str). Numbers must lie in
    [``ge``, ``le``] (``gt`` / ``lt`` for open ends); str values and list items must be one
    of ``choices`` when given; lists hold ``min_items``..``max_items`` distinct items.
    ``nullable`` admits ``None`` (YAML ``null``).
    """

    default: Any
    kind: type
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    min_items: int = 1
    max_items: int = 64

    def check(self, name: str, value: Any) -> Any:
        """``value`` unchanged if it is valid, else ``OptionError`` naming ``name``."""
        if value is None:
            if self.nullable:
                return None
            raise OptionError(name, f"expected {self.describe()}, got null")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise OptionError(name, f"expected true or false, got {_short(value)}")
        elif self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(name, f"expected {self.describe()}, got {_short(value)}")
            self._check_range(name, value)
        elif self.kind is float:
            finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
            if isinstance(value, bool) or not finite:  # ints never overflow a comparison
                raise OptionError(name, f"expected {self.describe()}, got {_short(value)}")
            self._check_range(name, value)
        elif self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise OptionError(name, f"expected {self.describe()}, got {_short(value)}")
        elif self.kind is list:
            self._check_list(name, value)
        return value

    def _check_range(self, name: str, value: float) -> None:
        bad = ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
               or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))
        if bad:
            raise OptionError(name, f"expected {self.describe()}, got {_short(value)}")

    def _check_list(self, name: str, value: Any) -> None:
        if not isinstance(value, list) or not self.min_items <= len(value) <= self.max_items:
            raise OptionError(name, f"expected {self.describe()}, got {_short(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str) or (self.choices and item not in self.choices):
                known = f" (known: {', '.join(self.choices)})" if self.choices else ""
                raise OptionError(f"{name}.{i}", f"unknown value {_short(item)}{known}")
            if item in value[:i]:
                raise OptionError(f"{name}.{i}", f"duplicate of {name}.{value.index(item)}")

    def describe(self) -> str:
        """``an integer in 1..100000``, ``a finite number > 0 and <= 64``, ``one of auto, mm``..."""
        if self.kind is bool:
            text = "true or false"
        elif self.kind is str:
            text = f"one of {', '.join(self.choices)}" if self.choices else "a string"
        elif self.kind is list:
            text = f"a list of {self.min_items} to {self.max_items} distinct names"
        else:
            text = "an integer" if self.kind is int else "a finite number"
            if self.ge is not None and self.le is not None:
                text += f" in {_number(self.ge)}..{_number(self.le)}"
            else:
                bounds = [f"{op} {_number(bound)}" for op, bound in
                          ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                          if bound is not None]
                text += (" " + " and ".join(bounds)) if bounds else ""
        return f"{text} or null" if self.nullable else text

    def parse(self, name: str, text: str) -> Any:
        """A command-line string (``-o n_train=1000``) as a value of this option's type."""
        word = text.strip()
        if self.nullable and word.lower() in _NULL:
            return None
        try:
            if self.kind is bool:
                if word.lower() in _TRUE + _FALSE:
                    return word.lower() in _TRUE
                raise ValueError(word)
            if self.kind is int:
                return int(word, 10)
            if self.kind is float:  # an integer literal stays an int, as in YAML
                return int(word, 10) if word.lstrip("+-").isdigit() else float(word)
            if self.kind is list:  # "a,b" or "[a, b]"
                items = (item.strip().strip("'\"") for item in word.strip("[]").split(","))
                return [item for item in items if item]
        except ValueError:
            raise OptionError(name, f"expected {self.describe()}, got {_short(text)}") from None
        return text

    def format(self, value: Any) -> str:
        """The command-line text that :meth:`parse` turns back into ``value``."""
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(value)
        return repr(value) if isinstance(value, float) else str(value)


OptionTable = Mapping[str, Option]


def defaults(table: OptionTable) -> dict[str, Any]:
    """The default of every option (lists copied, so callers may change them)."""
    return {name: list(o.default) if isinstance(o.default, list) else o.default
            for name, o in table.items()}


def resolve(table: OptionTable, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with ``given``, every value checked; ``OptionError`` otherwise."""
    given = dict(given or {})
    for name in given:
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise OptionError(name, f"unknown option (known: {known})")
    for name, value in given.items():
        table[name].check(name, value)
    return {**defaults(table), **given}


def parse_all(table: OptionTable, texts: Mapping[str, str]) -> dict[str, Any]:
    """Command-line strings by option name, converted by the declared types and checked."""
    for name in texts:
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise OptionError(name, f"unknown option (known: {known})")
    values = {name: table[name].parse(name, text) for name, text in texts.items()}
    resolve(table, values)
    return values


def command_line(table: OptionTable, options: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` for every option that differs from its default (what ``-o`` needs)."""
    return [f"{name}={table[name].format(value)}" for name, value in sorted(options.items())
            if name in table and not _same(value, table[name].default)]


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (``2`` and ``2.0`` key different caches)."""
    return type(a) is type(b) and a == b


def seed_option(default: int) -> Option:
    return Option(default, int, ge=0, le=SEED_MAX)


__all__ = ["Option", "OptionError", "OptionTable", "SEED_MAX", "command_line", "defaults",
           "parse_all", "resolve", "seed_option"]
