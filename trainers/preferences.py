"""Preference vectors: the weights a scalarising method gives to each objective.

A preference vector is k = (k0, k1, ..., km). k0 weights the sparsity objective (GrOWL),
k1..km weight the m tasks. Every entry is >= 0 and the entries sum to 1. A sweep file
names a *form* (an explicit list, a Das-Dennis simplex, a named grid, or uniform) and
``expand`` turns it into the concrete list of vectors, one trial each.

``expand`` is called twice: at spec load, when the number of tasks is not known yet (so
only signs, sums and the form are checked), and at sweep expansion with the dataset's
task count (so the lengths are checked too). Errors carry the sub-path of the offending
item (``explicit.2``, ``simplex.n_partitions``) so the caller can name it in the spec.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SUM_TOL = 1e-6
DECIMALS = 12  # generated vectors are rounded so that equal vectors compare equal
DEFAULT_N_TASKS = 2  # the paper's setting; used when the dataset is not known yet
MAX_VECTORS = 10_000  # a guard against an n_partitions typo that would exhaust memory

FORMS = ("explicit", "simplex", "grid", "uniform")


class PreferenceError(ValueError):
    """A preference spec is invalid; ``field`` is the sub-path inside that spec."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def _join(*parts: object) -> str:
    """Dotted sub-path, skipping empty parts (``_join("", 2) == "2"``)."""
    return ".".join(str(p) for p in parts if p != "")


# --------------------------------------------------------------------------- paper grid


def _paper_block(k0: float, k1_values: Sequence[float]) -> list[tuple[float, ...]]:
    """One k0 block of the paper's table: k2 takes whatever k0 and k1 leave over."""
    return [(k0, round(k1, 10), round(1.0 - k0 - k1, 10)) for k1 in k1_values]


def _near_tenths(offset: float) -> list[float]:
    """k1 in {0.1 - offset, 0.1, 0.2 - offset, 0.2, ..., 0.9}: the paper's k0 > 0.01 rows."""
    return [v for j in range(1, 10) for v in (j / 10 - offset, j / 10)]


def _paper90() -> tuple[tuple[float, ...], ...]:
    """The 90 hard-coded vectors of the MDMTN paper (docs/preferences.md#the-paper90-grid),
    in its order.

    Generated from the table rather than typed in, rounded to 10 decimals so each sums
    to 1 up to float error.
    """
    blocks = [
        _paper_block(0.0, [j * 0.05 for j in range(1, 20)]),  # 19 vectors
        _paper_block(0.1, [j * 0.05 for j in range(1, 18)]),  # 17
        _paper_block(0.01, _near_tenths(0.01)),  # 18
        _paper_block(0.001, _near_tenths(0.001)),  # 18
        _paper_block(0.0001, _near_tenths(0.0001)),  # 18
    ]
    return tuple(vec for block in blocks for vec in block)


PAPER90 = _paper90()
GRIDS: dict[str, tuple[tuple[float, ...], ...]] = {"paper90": PAPER90}
GRID_TASKS = {"paper90": 2}  # named grids are written for a fixed number of tasks


# --------------------------------------------------------------------------- checks


def _number(value: Any, field: str) -> float:
    """A real, finite number; bools and numeric strings are refused (YAML typos)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PreferenceError(field, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise PreferenceError(field, f"expected a finite number, got {value!r}")
    return float(value)


def _int(value: Any, field: str, minimum: int) -> int:
    """An integer >= minimum (bools refused: ``n_partitions: yes`` is a typo)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PreferenceError(field, f"expected an integer, got {value!r}")
    if value < minimum:
        raise PreferenceError(field, f"must be >= {minimum}, got {value}")
    return value


def _expected_length_message(n_tasks: int, got: int) -> str:
    return f"expected {n_tasks + 1} entries (k0 + {n_tasks} tasks), got {got}"


def validate_vector(vec: Any, n_tasks: int | None, field: str = "") -> list[float]:
    """Check one vector (numbers, >= 0, sum 1, length m + 1 when m is known).

    Returns it as a list of floats. ``field`` prefixes error sub-paths.
    """
    if isinstance(vec, (str, bytes)) or not isinstance(vec, Sequence):
        raise PreferenceError(field, f"expected a list of numbers, got {vec!r}")
    values = [_number(v, _join(field, i)) for i, v in enumerate(vec)]
    if n_tasks is not None and len(values) != n_tasks + 1:
        raise PreferenceError(field, _expected_length_message(n_tasks, len(values)))
    if len(values) < 2:
        raise PreferenceError(field, f"expected k0 and at least one task weight, got {len(values)} entries")
    for i, v in enumerate(values):
        if v < 0:
            raise PreferenceError(_join(field, i), f"negative entry {v:g}")
    total = math.fsum(values)
    if abs(total - 1.0) > SUM_TOL:
        raise PreferenceError(field, f"entries must sum to 1 (got {total:.10g})")
    return values


def _n_tasks(n_tasks: int | None) -> int:
    return DEFAULT_N_TASKS if n_tasks is None else n_tasks


def _rounded(vec: Sequence[float]) -> list[float]:
    """Round so that generated vectors are stable across platforms and compare equal."""
    return [round(float(v), DECIMALS) + 0.0 for v in vec]  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------- forms


def _explicit(value: Any, n_tasks: int | None) -> list[list[float]]:
    """A hand-written list; all vectors must have one length and be distinct."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise PreferenceError("explicit", "expected a non-empty list of vectors")
    if len(value) > MAX_VECTORS:  # as many as the generated forms may make
        raise PreferenceError("explicit", f"{len(value)} vectors (limit {MAX_VECTORS})")
    vectors: list[list[float]] = []
    seen: dict[tuple[float, ...], int] = {}  # a dict, not a list scan: linear time
    for i, vec in enumerate(value):
        field = _join("explicit", i)
        checked = validate_vector(vec, n_tasks, field)
        if vectors and len(checked) != len(vectors[0]):
            raise PreferenceError(field, f"expected {len(vectors[0])} entries like explicit.0, got {len(checked)}")
        if tuple(checked) in seen:  # the same trial twice would collide in the store
            raise PreferenceError(field, f"duplicate of explicit.{seen[tuple(checked)]}")
        seen[tuple(checked)] = i
        vectors.append(checked)
    return vectors


def _k0_values(value: Any) -> list[float]:
    """The ``k0`` list of the simplex form: distinct values in [0, 1)."""
    if value is None:
        return [0.0]
    items = value if isinstance(value, list) else [value]  # a bare number is one k0
    if not items:
        raise PreferenceError("k0", "expected a non-empty list of numbers")
    values: list[float] = []
    for i, item in enumerate(items):
        k0 = _number(item, _join("k0", i))
        if not 0.0 <= k0 < 1.0:
            raise PreferenceError(_join("k0", i), f"k0 must be in [0, 1), got {k0:g}")
        if k0 in values:
            raise PreferenceError(_join("k0", i), f"duplicate k0 {k0:g}")
        values.append(k0)
    return values


def _simplex_tasks(options: Mapping[str, Any], n_tasks: int | None) -> int:
    """``simplex.n_tasks`` overrides the default but must agree with a known dataset."""
    if "n_tasks" not in options:
        return _n_tasks(n_tasks)
    own = _int(options["n_tasks"], "simplex.n_tasks", 1)
    if n_tasks is not None and own != n_tasks:
        raise PreferenceError("simplex.n_tasks", f"simplex.n_tasks is {own} but the dataset has {n_tasks} tasks")
    return own


def _das_dennis(m: int, n_partitions: int) -> list[list[float]]:
    """Das-Dennis points on the m-task simplex, in pymoo's (deterministic) order."""
    if m == 1:
        return [[1.0]]
    from pymoo.util.ref_dirs import get_reference_directions  # imported late: slow

    return get_reference_directions("das-dennis", m, n_partitions=n_partitions).tolist()


def _simplex(options: Any, k0_spec: Any, n_tasks: int | None) -> list[list[float]]:
    """Das-Dennis directions over the tasks, scaled by (1 - k0), for each k0."""
    if not isinstance(options, Mapping):
        raise PreferenceError("simplex", "expected a mapping like {n_partitions: 4}")
    for key in options:
        if key not in ("n_partitions", "n_tasks"):
            raise PreferenceError(_join("simplex", key), "unknown key (known: n_partitions, n_tasks)")
    if "n_partitions" not in options:
        raise PreferenceError("simplex.n_partitions", "required")
    n_partitions = _int(options["n_partitions"], "simplex.n_partitions", 1)
    m = _simplex_tasks(options, n_tasks)
    k0_values = _k0_values(k0_spec)
    count = math.comb(n_partitions + m - 1, m - 1) * len(k0_values)
    if count > MAX_VECTORS:
        raise PreferenceError("simplex.n_partitions", f"would give {count} vectors (limit {MAX_VECTORS})")
    directions = _das_dennis(m, n_partitions)
    return [_rounded([k0] + [(1.0 - k0) * d for d in direction]) for k0 in k0_values for direction in directions]


def _grid(name: Any, n_tasks: int | None) -> list[list[float]]:
    """A named, fixed list of vectors (only ``paper90`` so far)."""
    if not isinstance(name, str) or name not in GRIDS:
        known = ", ".join(GRIDS)
        raise PreferenceError("grid", f"unknown grid {name!r} (known: {known})")
    if n_tasks is not None and n_tasks != GRID_TASKS[name]:
        raise PreferenceError("grid", f"grid {name!r} is for {GRID_TASKS[name]} tasks, the dataset has {n_tasks}")
    return [_rounded(vec) for vec in GRIDS[name]]


def _uniform(value: Any, n_tasks: int | None) -> list[list[float]]:
    """Equal task weights and no sparsity weight: plain linear scalarisation."""
    if value is not True:
        raise PreferenceError("uniform", f"expected true, got {value!r}")
    m = _n_tasks(n_tasks)
    return [_rounded([0.0] + [1.0 / m] * m)]


# --------------------------------------------------------------------------- entry point


def _form_of(spec: Mapping[str, Any]) -> str:
    """The single form key of a spec; ``k0`` is an option of ``simplex`` only."""
    forms = [key for key in spec if key != "k0"]
    for key in forms:
        if key not in FORMS:
            raise PreferenceError(str(key), f"unknown preference form {key!r} (known: {', '.join(FORMS)})")
    if len(forms) != 1:
        given = ", ".join(forms) or "none"
        raise PreferenceError("", f"expected exactly one preference form of {', '.join(FORMS)}, got {given}")
    if "k0" in spec and forms[0] != "simplex":
        raise PreferenceError("k0", f"k0 only applies to the simplex form, not {forms[0]}")
    return forms[0]


def expand(spec_dict: Any, n_tasks: int | None = None) -> list[list[float]]:
    """Turn a preference spec into its list of vectors, validating it on the way.

    ``n_tasks`` is the dataset's task count m; ``None`` at spec load, where lengths can
    not be checked yet and generated forms assume the paper's m = 2.
    """
    if not isinstance(spec_dict, Mapping):
        raise PreferenceError("", f"expected a mapping like {{grid: paper90}}, got {spec_dict!r}")
    if n_tasks is not None:
        _int(n_tasks, "", 1)
    form = _form_of(spec_dict)
    value = spec_dict[form]
    if form == "explicit":
        return _explicit(value, n_tasks)
    if form == "simplex":
        return _simplex(value, spec_dict.get("k0"), n_tasks)
    if form == "grid":
        return _grid(value, n_tasks)
    return _uniform(value, n_tasks)


__all__ = [
    "FORMS",
    "GRIDS",
    "PAPER90",
    "PreferenceError",
    "expand",
    "validate_vector",
]


# ----------------------------------------------------------------------------- rays
# Methods that learn a whole front in one run (COSMOS, PHN) sample a ray per mini-batch
# and are evaluated on fixed test rays (docs/methods/front_learning.md#training-rays,
# docs/methods/front_learning.md#test-rays).


def test_rays(count: int = 25, start: float = 0.1, end: float = math.pi / 2 - 0.1) -> list[list[float]]:
    """The COSMOS/PHN test rays for two tasks: (cos a, sin a), a evenly spaced in angle
    from ``start`` to ``end``, normalised to sum 1 (not evenly spaced in r)."""
    if count < 1:
        raise PreferenceError("test_rays", f"needs at least 1 ray, got {count}")
    angles = np.linspace(start, end, count)
    rays = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return [_rounded(ray / ray.sum()) for ray in rays]


def dirichlet_ray(alpha: float | Sequence[float], n_tasks: int,
                  rng: np.random.Generator, count: int | None = None) -> np.ndarray:
    """One training ray r ~ Dir(alpha) (alpha a scalar repeated per task, or a list);
    ``count``: that many, one per row, the same rays as ``count`` draws one at a time."""
    concentration = np.full(n_tasks, float(alpha)) if np.isscalar(alpha) else np.asarray(alpha, float)
    if concentration.shape != (n_tasks,) or (concentration <= 0).any():
        raise PreferenceError("alpha", f"needs {n_tasks} positive entries, got {alpha!r}")
    return rng.dirichlet(concentration, size=count).astype(np.float32)
