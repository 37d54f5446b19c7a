"""Pareto fronts and hypervolume over loaded points.

The computations work on minimised objectives: the metrics the registry
(``contract.metrics``) marks as maximised, such as accuracies and the sparsity
rate, enter complemented (1 - value), so "smaller is better" holds for every
column of the matrices passed to ``nondominated`` and ``hypervolume``. What
is shown to people (values, reference point) is in each objective's own units.
Exact nondominance and the hypervolume come from moocore (the C library behind
pymoo's indicators); the eps rule tests only the points off the exact front, each against
the front by a blocked search (never every point against every front point).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import moocore

from analysis import format as fmt
from analysis.columns import Columns, Indexed
from contract import metrics as registry
from contract.metrics import Metric

if TYPE_CHECKING:  # pandas is imported where a frame is made, never on the front's own path
    import pandas as pd

_ID_FIELDS = ("trial", "method", "arch", "seed", "split", "ray_index", "preference")
_POINT_FIELDS = (*_ID_FIELDS, "values", "sr", "cr", "ps", "minimised", "outside_ref")


def _as_matrix(points: Any) -> np.ndarray:
    """``points`` as an (n, d) float array; NaN is refused (callers drop it first)."""
    matrix = np.asarray(points, dtype=float)
    if matrix.size == 0:
        return matrix.reshape(0, matrix.shape[-1] if matrix.ndim == 2 else 0)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError(f"points must be an (n, d) array with d >= 1, got shape {matrix.shape}")
    if np.isnan(matrix).any():
        raise ValueError("points contain NaN: drop rows with missing objectives first")
    return matrix


def _eps_vector(eps: Any, n_objectives: int) -> np.ndarray:
    """``eps`` broadcast to one non-negative tolerance per objective."""
    vector = np.asarray(eps, dtype=float)
    if vector.ndim == 0:
        vector = np.full(n_objectives, float(vector))
    if vector.shape != (n_objectives,):
        raise ValueError(f"eps needs 1 or {n_objectives} values, got {vector.size}")
    if np.isnan(vector).any() or (vector < 0).any():
        raise ValueError(f"eps must be >= 0, got {vector.tolist()}")
    return vector


def _exact_front(matrix: np.ndarray) -> np.ndarray:
    """Indices of the exact first front (duplicates of a front point all kept):
    moocore's O(n log n) dimension sweep (d <= 3) or Kung's algorithm (d >= 4)."""
    return np.flatnonzero(moocore.is_nondominated(matrix, keep_weakly=True))


def _dominated_by_2d(front: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For 2 objectives: which targets some front point dominates (<= in both, < in one),
    by one sort of the front and a binary search per target (prefix minima of f2)."""
    order = np.lexsort((front[:, 1], front[:, 0]))
    f1, best_f2 = front[order, 0], np.minimum.accumulate(front[order, 1])
    a, b = targets[:, 0], targets[:, 1]
    n_lt = np.searchsorted(f1, a, side="left")  # front points with f1 < a
    n_le = np.searchsorted(f1, a, side="right")  # front points with f1 <= a
    strict_first = (n_lt > 0) & (best_f2[np.maximum(n_lt - 1, 0)] <= b)
    strict_second = (n_le > 0) & (best_f2[np.maximum(n_le - 1, 0)] < b)
    return strict_first | strict_second


def _rows_in(targets: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Which target rows equal some front row; only targets whose first value some front
    row shares are compared as whole rows (+0.0 makes -0.0 and 0.0 the same bytes)."""
    def as_keys(rows: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(rows + 0.0)
        return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()

    maybe = np.isin(targets[:, 0], front[:, 0])
    equal = np.zeros(len(targets), dtype=bool)
    if maybe.any():
        sharing = front[np.isin(front[:, 0], targets[maybe, 0])]
        equal[maybe] = np.isin(as_keys(targets[maybe]), as_keys(sharing))
    return equal


def _weakly_dominated_3d(front: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Which targets some front row is <= in all of the first three objectives.

    The front is sorted by objective 1, so the rows that can be <= a target t form a
    prefix, which splits into at most log2(n) aligned blocks (as in a Fenwick tree).
    Each level of blocks is kept sorted by objective 2 with the running minimum of
    objective 3, so one binary search per target and level answers "is some row of
    this block <= t in objectives 2 and 3". O((n + m) log^2 n) in numpy, never n x m.
    """
    n_front = len(front)
    dominated = np.zeros(len(targets), dtype=bool)
    if not (n_front and len(targets)):
        return dominated
    order = np.argsort(front[:, 0], kind="stable")
    first, second, third = front[order, 0], front[order, 1], front[order, 2]
    prefix = np.searchsorted(first, targets[:, 0], side="right")
    sorted_second = np.sort(second)
    # ranks compare like the values: second <= t1  <=>  rank <= target_rank
    rank = np.searchsorted(sorted_second, second, side="right")
    target_rank = np.searchsorted(sorted_second, targets[:, 1], side="right")
    size = 1 << max(n_front - 1, 0).bit_length()  # blocks of every level tile [0, size)
    rank = np.concatenate([rank, np.full(size - n_front, n_front + 1)])  # padding: never <=
    third = np.concatenate([third, np.full(size - n_front, np.inf)])
    stride = n_front + 2  # rank + block * stride grows along the flattened blocks
    for level in range(size.bit_length()):
        width = 1 << level
        blocks = rank.reshape(-1, width)
        if level:  # each block is two sorted halves: a stable sort merges them in O(width)
            merge = np.argsort(blocks, axis=1, kind="stable")
            rank = np.take_along_axis(blocks, merge, axis=1).ravel()
            third = np.take_along_axis(third.reshape(-1, width), merge, axis=1).ravel()
        lowest_third = np.minimum.accumulate(third.reshape(-1, width), axis=1).ravel()
        asked = np.flatnonzero(~dominated & ((prefix >> level) & 1).astype(bool))
        if not len(asked):
            continue
        block = (prefix[asked] >> level) - 1
        wanted = block * stride + target_rank[asked]
        by_key = np.argsort(wanted)  # sorted needles: each search starts where the last ended
        asked, block, wanted = asked[by_key], block[by_key], wanted[by_key]
        keys = rank + np.repeat(np.arange(size // width, dtype=np.int64) * stride, width)
        end = np.searchsorted(keys, wanted, side="right")
        found = end > block * width
        lowest = lowest_third[np.maximum(end - 1, 0)]
        dominated[asked] = found & (lowest <= targets[asked, 2])
    return dominated


def _dominated_by(front: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Which targets some front point dominates (<= in all, < in one), any dimension.

    A target equal to a front point is never dominated (that point would be), so
    strict dominance is weak dominance by the front, less the targets on it. Three
    objectives: the blocked search above. More: that search on the first three is a
    necessary test; the few targets it leaves go through one nondominance pass over
    front + targets, each target given two extra coordinates (i, n - i) and each front
    point (-1, -1), so that no two targets are comparable and only front points beat one.
    """
    if front.shape[1] == 1:
        return targets[:, 0] > front[:, 0].min()
    if front.shape[1] == 2:
        return _dominated_by_2d(front, targets)
    weakly = _weakly_dominated_3d(front, targets)
    if front.shape[1] > 3 and weakly.any():
        asked = np.flatnonzero(weakly)
        n = len(asked)
        index = np.arange(n, dtype=float)
        union = np.vstack([np.hstack([front, np.full((len(front), 2), -1.0)]),
                           np.hstack([targets[asked], np.column_stack([index, n - index])])])
        weakly[asked] = ~moocore.is_nondominated(union, keep_weakly=True)[len(front):]
    if weakly.any():
        weakly[weakly] = ~_rows_in(targets[weakly], front)
    return weakly


def _eps_survivors(matrix: np.ndarray, front: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """Indices of points that no exact-front point beats by eps in every objective.

    ``front`` holds the exact front's indices. Testing against the exact front
    suffices: any q that eps-dominates p is weakly dominated by some front point f,
    and f then eps-dominates p too; and q eps-dominates p exactly when q dominates
    the shifted point p - eps. Front points all survive (whatever beats one by eps
    >= 0 would dominate it), so only the points off the front are tested.
    """
    off = np.ones(len(matrix), dtype=bool)
    off[front] = False
    off = np.flatnonzero(off)
    beaten = _dominated_by(matrix[front], matrix[off] - eps)
    kept = np.zeros(len(matrix), dtype=bool)
    kept[front] = True
    kept[off[~beaten]] = True
    return np.flatnonzero(kept)


def nondominated(points: Any, eps: float | Sequence[float] = 0.0) -> np.ndarray:
    """Sorted row indices of the points that survive, all objectives minimised.

    eps == 0: exact Pareto nondominance (exact duplicates are all kept).
    eps > 0 (scalar or one value per objective): p is removed only when some
    other q has q_i <= p_i - eps_i for all i and q_j < p_j - eps_j for some j.
    """
    matrix = _as_matrix(points)
    if len(matrix) == 0:
        return np.empty(0, dtype=np.intp)
    tolerance = _eps_vector(eps, matrix.shape[1])
    front = _exact_front(matrix)
    if not tolerance.any():
        return front
    return _eps_survivors(matrix, front, tolerance)


def hypervolume(points: Any, ref_point: Sequence[float]) -> float:
    """Hypervolume dominated by ``points`` and bounded by ``ref_point`` (minimisation).

    Points not strictly better than the reference in every objective add
    nothing; no points give 0.0.
    """
    matrix = _as_matrix(points)
    ref = np.asarray(ref_point, dtype=float).ravel()
    if len(matrix) == 0:
        return 0.0
    if ref.shape != (matrix.shape[1],) or np.isnan(ref).any():
        raise ValueError(f"ref_point needs {matrix.shape[1]} numbers, got {ref.tolist()}")
    inside = matrix[(matrix < ref).all(axis=1)]
    if len(inside) == 0:
        return 0.0
    return float(moocore.hypervolume(inside, ref=ref))


def lexicographic_order(rows: np.ndarray) -> np.ndarray:
    """The stable order of ``rows`` by the first column, ties by the next ones: numpy's
    lexsort over all columns, but only the rows whose first value is tied go through it
    (lexsort of 1e6 rows in 3 columns takes a second; one argsort a tenth of that)."""
    order = np.argsort(rows[:, 0], kind="stable")
    first = rows[order, 0]
    same = first[1:] == first[:-1]
    tied = np.flatnonzero(np.concatenate([same, [False]]) | np.concatenate([[False], same]))
    if len(tied):  # each tied group sits at consecutive positions, the groups in order
        group = order[tied]
        order[tied] = group[np.lexsort(rows[group].T[::-1])]
    return order


def _metric(name: str) -> Metric:
    """The registered metric an objective name refers to; ValueError if none."""
    return registry.lookup(name)[0]


def objective_columns(available_columns: Iterable[str]) -> list[str]:
    """The columns that can be objectives (registered metrics), in their given order."""
    return registry.objective_columns(available_columns)


def _split_patterns(patterns: str | Iterable[str]) -> list[str]:
    """Patterns as a flat list; comma-separated entries are split as on the CLI."""
    items = [patterns] if isinstance(patterns, str) else list(patterns)
    return [p.strip() for item in items for p in item.split(",") if p.strip()]


def expand_objectives(patterns: str | Iterable[str], available_columns: Iterable[str]) -> list[str]:
    """Expand shell-style globs (``mcr.*``) over the objective columns, keeping order.

    A pattern that matches nothing is an error naming it, so a typo never
    silently shrinks the set of objectives; so is a pattern given twice (a
    repeated objective would count one trade-off twice). Names that
    different globs both match are kept once, where first matched.
    """
    names = objective_columns(available_columns)
    patterns = _split_patterns(patterns)
    repeated = next((p for i, p in enumerate(patterns) if p in patterns[:i]), None)
    if repeated is not None:
        raise ValueError(f"objective {repeated!r} is given twice")
    chosen: list[str] = []
    for pattern in patterns:
        matched = registry.matching(pattern, names)
        if not matched:
            raise ValueError(
                f"objective {pattern!r} matches none of: {', '.join(names) or '(no columns)'}"
            )
        chosen += [m for m in matched if m not in chosen]
    if not chosen:
        raise ValueError("no objectives given")
    return chosen


def objective_metrics(patterns: str | Iterable[str]) -> list[str]:
    """The point-level metrics these objective patterns can match (what a front's bulk
    load needs beside the task columns)."""
    names = [m.name for m in registry.registered("point")]
    chosen = {name for p in _split_patterns(patterns) for name in registry.matching(p, names)}
    return [name for name in names if name in chosen]


def objective_task_values(patterns: str | Iterable[str]) -> tuple[str, ...]:
    """The stored per-task values (``loss``, ``acc``; ``mcr`` is 1 - acc) these objective
    patterns can match, whatever the tasks: a pattern's text before its first glob
    character must agree with ``<metric>.`` as far as both go (``mcr.*`` needs acc,
    ``*`` both, ``sr`` neither)."""
    stored = {registry.LOSS.name: "loss", registry.ACC.name: "acc", registry.MCR.name: "acc"}
    needed = set()
    for pattern in _split_patterns(patterns):
        literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        for metric, value in stored.items():
            prefix = f"{metric}."
            if prefix.startswith(literal) or literal.startswith(prefix):
                needed.add(value)
    return tuple(v for v in ("loss", "acc") if v in needed)


def default_objectives(df: pd.DataFrame | Columns) -> list[str]:
    """``mcr.*`` when every task has accuracies, else ``loss.*``.

    A task "has accuracies" when its ``acc.<task>`` column holds at least one
    value, so one diverged run with a NULL accuracy does not flip the default.
    """
    tasks = registry.task_names(df.columns)
    if not tasks:
        raise ValueError("no per-task columns: no points were loaded")
    acc, mcr, loss = registry.ACC.name, registry.MCR.name, registry.LOSS.name
    classified = all(f"{acc}.{t}" in df and not np.isnan(_numeric(df[f"{acc}.{t}"])).all()
                     for t in tasks)
    kind = mcr if classified else loss
    return [f"{kind}.{t}" for t in tasks]


def maximised(objectives: Sequence[str]) -> list[str]:
    """The objectives that are better when larger (accuracies, SR, CR, PS)."""
    return [name for name in objectives if _metric(name).maximised]


def minimise(objectives: Sequence[str], values: Any) -> np.ndarray:
    """Values in the objectives' own units (last axis) to the minimised space.

    Maximised objectives are complemented (1 - value); as complementing is its
    own inverse, the same call maps minimised values back to own units.
    """
    array = np.array(values, dtype=float)
    flip = [j for j, name in enumerate(objectives) if _metric(name).maximised]
    array[..., flip] = 1.0 - array[..., flip]
    return array


def _numeric(column: Any) -> np.ndarray:
    """A column as float64, NaN where missing; anything not a number (text) is missing.
    Numeric numpy columns (what ``store.queries.load_point_columns`` gives) need no pandas."""
    if isinstance(column, np.ndarray | Indexed) and column.dtype.kind in "fiub":
        return np.asarray(column).astype(float, copy=False)
    import pandas as pd

    return pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def objective_matrix(df: pd.DataFrame | Columns, objectives: Sequence[str]) -> np.ndarray:
    """(n, k) float matrix of the objectives in their own units (NaN where missing)."""
    columns = []
    for name in objectives:
        _metric(name)  # refuses names that are no objective
        if name not in df.columns:
            raise ValueError(f"objective {name!r} is not a column of the loaded points")
        columns.append(_numeric(df[name]))
    if not columns:
        raise ValueError("no objectives given")
    return np.column_stack(columns)


def minimised_matrix(df: pd.DataFrame | Columns, objectives: Sequence[str]) -> np.ndarray:
    """(n, k) float matrix of the objectives, the maximised ones complemented."""
    return minimise(objectives, objective_matrix(df, objectives))


def _padded_max(column: np.ndarray) -> float:
    """10% beyond the worst finite value (1.0 when there is none or it is 0)."""
    finite = column[np.isfinite(column)]
    if finite.size == 0:
        return 1.0
    worst = float(finite.max())
    return worst + 0.1 * abs(worst) if worst != 0 else 1.0


def _default_ref(metric: Metric, column: np.ndarray) -> float:
    """One minimised reference value. A rate's is its worst possible value (1 minimised:
    an mcr of 1, an accuracy or SR of 0 in own units). Otherwise 10% beyond the worst
    value in own units: 1.1 x the largest of a minimised metric, 0.9 x the smallest of a
    maximised one (a CR of 2 gives 1.8)."""
    if metric.rate:
        return 1.0
    if not metric.maximised:
        return _padded_max(column)
    return 1.0 + _padded_max(-(1.0 - column))  # 1 - (own-units reference)


def default_ref_point(objectives: Sequence[str], matrix: np.ndarray) -> list[float]:
    """Minimised reference point (see ``_default_ref``); ``matrix`` is minimised."""
    matrix = np.asarray(matrix, dtype=float).reshape(-1, len(objectives))
    return [_default_ref(_metric(name), matrix[:, j]) for j, name in enumerate(objectives)]


_shown = fmt.shown
_SUMMARY_FIELDS = ("sr", "cr", "ps")  # shown beside the objectives (the table: sr only)
SHOWN_METRICS = _SUMMARY_FIELDS  # the metrics a front's rows show beside the objectives


@dataclass
class FrontResult:
    """A computed front with the numbers `paretoctl front` prints.

    ``n_candidates`` counts rows that entered the computation (after the
    ``n_dropped_nan`` rows with a missing objective were removed). ``points`` holds
    the front's rows, each with its candidate's columns (``front_df`` is the same as a
    DataFrame); its ``values`` are the objectives in their own units (like
    ``ref_point``), ``minimised`` the same with the maximised ones complemented
    (like ``ref_point_minimised``, the space the hypervolume is computed in),
    and ``outside_ref`` marks points not strictly better than the reference
    point in every objective, which add nothing to the hypervolume.
    ``warnings`` explain degenerate objectives, one line each.
    """

    objectives: list[str]
    ref_point: list[float]
    ref_point_minimised: list[float]
    eps: float | list[float]
    hypervolume: float
    n_candidates: int
    n_dropped_nan: int
    points: Columns
    warnings: list[str]

    @property
    def front_df(self) -> pd.DataFrame:
        """The front's rows as a DataFrame (``values`` and ``minimised`` one list per row)."""
        return self.points.to_frame()

    @property
    def n_front(self) -> int:
        return len(self.points)

    @property
    def n_outside_ref(self) -> int:
        return int(np.count_nonzero(self.points["outside_ref"])) if len(self.points) else 0

    def summary(self) -> str:
        """The hypervolume with its reference point (own units), and the outside count."""
        ref = ", ".join(_shown(v) for v in self.ref_point)
        line = f"hypervolume {self.hypervolume:.6g} w.r.t. ref point ({ref})"
        if self.n_outside_ref:
            line += f"; {self.n_outside_ref} of {self.n_front} front points outside it"
        return line

    def to_json_dict(self) -> dict[str, Any]:
        """The ``--format json`` object: the design's keys first, then the additions.

        Floats keep full float64 precision, so ``hypervolume`` can be recomputed
        exactly from the points' ``minimised`` and ``ref_point_minimised``.
        """
        fields = self._marks(_POINT_FIELDS)
        records = self.points.records(names=[k for k in fields if k in self.points])
        return {
            "objectives": list(self.objectives),
            "ref_point": [float(v) for v in self.ref_point],
            "eps": self.eps,
            "hypervolume": float(self.hypervolume),
            "n_candidates": int(self.n_candidates),
            "points": [{k: fmt.plain(r.get(k)) for k in fields} for r in records],
            "maximised": maximised(self.objectives),
            "ref_point_minimised": [float(v) for v in self.ref_point_minimised],
            "n_outside_ref": self.n_outside_ref,
        }

    @property
    def has_live(self) -> bool:
        """Whether the candidates held running trials' provisional points (``front --live``:
        a ``live`` column marks them)."""
        return "live" in self.points

    def _marks(self, fields: Sequence[str]) -> list[str]:
        """``fields`` and, with live points among the candidates, ``live``."""
        return [*fields, "live"] if self.has_live else list(fields)

    def rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        """One dict per front point (the first ``limit``): the id fields, each objective in
        its own units under its own name (``acc.left`` holds accuracy), sr/cr/ps unless
        objectives, outside_ref."""
        rows = []
        used = self._marks([*_ID_FIELDS, "values", *_SUMMARY_FIELDS, "outside_ref"])
        for record in self.points.records(limit, names=[k for k in used if k in self.points]):
            row = {k: record.get(k) for k in _ID_FIELDS}
            row |= dict(zip(self.objectives, record["values"], strict=True))
            row |= {k: record.get(k) for k in _SUMMARY_FIELDS if k not in self.objectives}
            row["outside_ref"] = record["outside_ref"]
            if self.has_live:
                row["live"] = bool(record["live"])
            rows.append(row)
        return rows

    def view(self, table_rows: int | None = None) -> fmt.View:
        """The front for the formatter. Table: ids, objectives, sr (unless an objective),
        outside_ref (only when some point is), the first ``table_rows`` points, the summary
        as caption. CSV: every id field, objectives, sr/cr/ps, outside_ref. JSON:
        ``to_json_dict``."""
        shown = ""
        if table_rows is not None and table_rows < self.n_front:
            shown = f", first {table_rows} shown (--rows 0 for all)"
        eps = f"{self.eps:g}" if isinstance(self.eps, float) else fmt.table_cell(self.eps)
        ids = ["trial", "method", "arch", "preference"]
        extra = [] if "sr" in self.objectives else ["sr"]
        table = fmt.columns([*ids, *self.objectives, *extra], left=ids)
        if self.n_outside_ref:
            table.append(fmt.Column("outside_ref", cell=lambda outside: "yes" if outside else ""))
        if self.has_live:
            table.append(fmt.Column("live", cell=lambda live: "live" if live else ""))
        summary = [k for k in _SUMMARY_FIELDS if k not in self.objectives]
        csv = fmt.columns(self._marks([*_ID_FIELDS, *self.objectives, *summary, "outside_ref"]))
        return fmt.View(
            rows=_FrontRows(self), columns=table, csv_columns=csv, table_rows=table_rows,
            title=f"front: {self.n_front} of {self.n_candidates} points (eps {eps}){shown}",
            caption=self.summary(), document=self.to_json_dict,
        )

    def to_csv(self) -> str:
        """One CSV row per front point (``--format csv``), header first; floats rounded to
        ``analysis.format.CSV_SIGNIFICANT_DIGITS``. The minimised values are in
        ``to_json_dict``, the hypervolume and reference point in ``summary``."""
        return fmt.to_csv(self.view())


class _FrontRows(Sequence):
    """A front's rows for the formatter, built for the slice asked: a table of the first
    rows of a 1e5-point front builds those rows only."""

    def __init__(self, result: FrontResult) -> None:
        self._result = result

    def __len__(self) -> int:
        return self._result.n_front

    def __iter__(self):
        return iter(self._result.rows())

    def __getitem__(self, index):
        if isinstance(index, slice) and index.step is None and not index.start:
            return self._result.rows(limit=index.stop)
        return self._result.rows()[index]


def _eps_json(eps: float | Sequence[float]) -> float | list[float]:
    """eps as a float or list of floats for JSON output."""
    vector = np.asarray(eps, dtype=float)
    return float(vector) if vector.ndim == 0 else [float(v) for v in vector]


def checked_ref_point(ref_point: Sequence[float], n_objectives: int) -> list[float]:
    """A user-given reference point, one finite number per objective."""
    ref = [float(v) for v in ref_point]
    bad = next((v for v in ref if not math.isfinite(v)), None)
    if bad is not None:
        raise ValueError(f"ref point values must be finite numbers, got {bad} in {ref}")
    if len(ref) != n_objectives:
        raise ValueError(f"ref point needs {n_objectives} numbers (one per objective), got {ref}")
    return ref


def reference_point(
    objectives: Sequence[str], minimised: np.ndarray, ref_point: Sequence[float] | None
) -> tuple[list[float], list[float]]:
    """(own units, minimised) reference point: ``ref_point`` is given in the
    objectives' own units; None takes the default over the minimised rows."""
    if ref_point is None:
        ref_min = default_ref_point(objectives, minimised)
        return [float(v) for v in minimise(objectives, ref_min)], ref_min
    own = checked_ref_point(ref_point, len(objectives))
    return own, [float(v) for v in minimise(objectives, own)]


def degenerate_warnings(
    objectives: Sequence[str], values: np.ndarray, ref: Sequence[float],
    ref_minimised: Sequence[float], n_front: int, n_outside: int,
) -> list[str]:
    """One line per objective that is the same for all (two or more) candidates,
    and one when no front point lies inside the reference point for another reason.

    A constant objective orders nothing; if its value is not better than the
    reference point's, no point is strictly inside and the hypervolume is 0.
    ``values`` are the candidates in own units.
    """
    minimised = minimise(objectives, values)
    lines, explained = [], False
    for j, name in enumerate(objectives):
        if len(values) < 2 or np.ptp(minimised[:, j]) != 0:
            continue
        line = f"{name} is {_shown(values[0, j])} for all {len(values)} candidates, so it orders none"
        if not minimised[0, j] < ref_minimised[j]:
            explained = True
            line += (f"; none is better than the reference point's {_shown(ref[j])} in it, "
                     "so the hypervolume is 0")
        lines.append(line)
    if n_front and n_outside == n_front and not explained:
        lines.append(f"the hypervolume is 0: none of the {n_front} front points is strictly "
                     "better than the reference point in every objective")
    return lines


def compute_front(
    df: pd.DataFrame | Columns,
    objectives: Sequence[str],
    eps: float | Sequence[float] = 0.0,
    ref_point: Sequence[float] | None = None,
) -> FrontResult:
    """Front of ``df`` over ``objectives``, its hypervolume and the counts.

    ``ref_point`` is in the objectives' own units (an accuracy for ``acc.*``).
    Rows missing any chosen objective are dropped (and counted) first, so a
    NaN never enters a front. Front rows are sorted by the first minimised
    objective (ties by the next ones). ``df`` is a DataFrame or, without pandas,
    ``Columns`` (``store.queries.load_point_columns``); ``FrontResult.points`` holds
    the front's rows with the candidates' columns either way.
    """
    objectives = list(objectives)
    table = df if isinstance(df, Columns) else Columns.from_frame(df)
    own_values = objective_matrix(table, objectives)
    complete = np.ones(len(own_values), dtype=bool)
    for column in own_values.T:  # column by column: 20x faster than any(axis=1) on (n, 2)
        complete &= ~np.isnan(column)
    kept = np.flatnonzero(complete)
    if len(kept) < len(own_values):  # else no copy of a million rows
        own_values = own_values[complete]
    values = minimise(objectives, own_values)
    chosen = nondominated(values, eps)
    chosen = chosen[lexicographic_order(values[chosen])]
    front_values = values[chosen]
    ref, ref_min = reference_point(objectives, values, ref_point)
    outside = ~(front_values < np.asarray(ref_min)).all(axis=1)
    points = table.take(kept[chosen]).assign(
        values=own_values[chosen], minimised=front_values, outside_ref=outside)
    warnings = degenerate_warnings(objectives, own_values, ref, ref_min,
                                   len(chosen), int(outside.sum()))
    return FrontResult(
        objectives=objectives,
        ref_point=ref,
        ref_point_minimised=ref_min,
        eps=_eps_json(eps),
        hypervolume=hypervolume(front_values, ref_min),
        n_candidates=int(complete.sum()),
        n_dropped_nan=int((~complete).sum()),
        points=points,
        warnings=warnings,
    )
