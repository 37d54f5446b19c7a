"""Reading plain data (what crosses Ray and JSON) back into the contract's classes.

``from_plain`` checks shapes only: mappings where mappings belong, required keys present.
A wrong shape is a ``ContractError`` naming the dotted field, so each layer can report
it in its own words (the store as a ``StoreError``). Values are the readers' business.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


class ContractError(ValueError):
    """Plain data of the wrong shape; ``field`` is dotted, ``""`` for the value itself."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def join(parent: str, child: str) -> str:
    """``join("points[0]", "tasks")`` -> ``"points[0].tasks"``; indices join without a dot."""
    if not parent:
        return child
    if not child:
        return parent
    return parent + child if child.startswith("[") else f"{parent}.{child}"


def mapping(value: Any, field: str, message: str = "expected a mapping") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(field, message)
    return value


def plain_copy(value: Any) -> Any:
    """A deep copy with every tuple a list and every mapping a dict (JSON's shapes)."""
    if isinstance(value, Mapping):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v) for v in value]
    return copy.deepcopy(value)
