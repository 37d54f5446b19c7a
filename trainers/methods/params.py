"""Method parameters, declared once: each method's ``param_table`` maps every parameter
name to a :class:`Param` (default, kind of value, range), and ``Method.resolve_params``
checks every resolved value against it before a sweep writes anything. Numbers must be
finite (YAML's ``.inf`` and ``.nan`` are refused); a refusal is a ``ParamError`` naming
the parameter, which the sweep expansion reports as ``methods.<i>.params.<name>``.

Build tables with :func:`real`, :func:`integer`, :func:`flag` and :func:`word`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: how many values a parameter takes: one, a non-empty list, or either (one per task)
SHAPES = ("one", "list", "one|list")


class ParamError(ValueError):
    """A method parameter with a value the method cannot use; ``name`` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is ``real`` (a finite number), ``int``, ``bool`` or
    ``word`` (one of ``words``); ``low``/``high`` bound a number, inclusive unless
    ``open_low``/``open_high``; ``words`` are strings a number parameter also takes
    (``normal``, ``epoch_lr``); ``null`` allows None; ``shape`` is one of SHAPES."""

    default: Any
    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    words: tuple[str, ...] = ()
    null: bool = False
    shape: str = "one"

    def accepts_one(self, value: Any) -> bool:
        """Whether a single value (not a list) is of this kind and in range."""
        if isinstance(value, str):
            return value in self.words
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            return False
        if self.kind not in ("real", "int") or not _number(value) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or self.open_low and value == self.low):
            return False
        return self.high is None or value < self.high or not self.open_high and value == self.high

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.null
        if isinstance(value, (list, tuple)):
            return self.shape != "one" and bool(value) and all(self.accepts_one(v) for v in value)
        return self.shape != "list" and self.accepts_one(value)

    def describe_one(self) -> str:
        """``a number > 0``, ``an integer >= 1``, ``a number in [0, 0.5)``, ``true or false``."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "word":
            return "one of " + ", ".join(self.words)
        what = "a finite number" if self.kind == "real" else "an integer"
        low = None if self.low is None else f"{'(' if self.open_low else '['}{self.low:g}"
        high = None if self.high is None else f"{self.high:g}{')' if self.open_high else ']'}"
        if low and high:
            what += f" in {low}, {high}"
        elif low:
            what += f" {'>' if self.open_low else '>='} {self.low:g}"
        elif high:
            what += f" {'<' if self.open_high else '<='} {self.high:g}"
        return ", ".join(self.words) + " or " + what if self.words else what

    def describe(self) -> str:
        one = self.describe_one()
        text = {"one": one, "list": f"a list of ({one})",
                "one|list": f"{one}, or a list of them (one per task)"}[self.shape]
        return text + (", or null" if self.null else "")

    def check(self, name: str, value: Any) -> None:
        if not self.accepts(value):
            raise ParamError(name, f"{name} must be {self.describe()}, got {value!r}")


def real(default: Any, low: float | None = None, high: float | None = None, *,
         open_low: bool = False, open_high: bool = False, words: tuple[str, ...] = (),
         null: bool = False, shape: str = "one") -> Param:
    """A finite number in [low, high] (ends excluded where ``open_*``)."""
    return Param(default, "real", low, high, open_low, open_high, words, null, shape)


def integer(default: Any, low: int | None = None, *, null: bool = False,
            shape: str = "one") -> Param:
    """An integer >= ``low``."""
    return Param(default, "int", low, null=null, shape=shape)


def flag(default: bool) -> Param:
    return Param(default, "bool")


def word(default: str, words: tuple[str, ...] | list[str]) -> Param:
    """One of ``words``."""
    return Param(default, "word", words=tuple(words))


def defaults(table: dict[str, Param]) -> dict[str, Any]:
    """Each parameter's default value."""
    return {name: param.default for name, param in table.items()}


def check_values(table: dict[str, Param], values: dict[str, Any]) -> None:
    """Raise ParamError for the first value of ``values`` its Param refuses."""
    for name, value in values.items():
        table[name].check(name, value)
