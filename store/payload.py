"""Converting the contract's trial configs and results into table rows.

The shapes are the contract's (``contract.trial.TrialConfig``, ``contract.result``): a
payload is read into its class, and a wrong shape is a StoreError naming the field. This
module only checks the values: numbers where numbers belong, valid task and metric names.

Everything is validated before a transaction opens, so a malformed payload
leaves the store untouched and fails with a message naming the field. NaN
never reaches the database: float columns get NULL, metrics get NULL for NaN and
infinities, and JSON columns get null (PostgreSQL's json type rejects NaN outright).
"""

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from contract.plain import ContractError
from contract.result import TOP_LEVEL_METRICS, Point, TrialResult
from contract.trial import TrialConfig
from store.errors import StoreError
from store.schema import INT_METRICS, validate_metric_name, validate_task_name

_KEY_RE = re.compile(r"^[0-9a-f]{16}$")
_ERROR_MAX_CHARS = 20_000


def check_key(key: object) -> str:
    """Return a trial key if it is the 16-hex-digit stable hash, else raise."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise StoreError(f"invalid trial key {key!r}: expected 16 lowercase hex digits")
    return key


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that any JSON column accepts on every backend.

    numpy scalars/arrays become Python values, tuples become lists, dict
    keys become strings, non-finite floats become None and anything else
    unknown becomes its str().
    """
    if isinstance(value, np.ndarray | np.generic):
        return json_safe(value.tolist())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def to_float(value: Any, field: str) -> float | None:
    """A float column value: None and NaN become None, non-numbers raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise StoreError(f"{field}: expected a number, got {value!r}")
    number = float(value)
    return None if math.isnan(number) else number


def to_int(value: Any, field: str) -> int | None:
    """An integer column value: None and NaN become None, fractions raise."""
    number = to_float(value, field)
    if number is None:
        return None
    if not number.is_integer():
        raise StoreError(f"{field}: expected an integer, got {value!r}")
    return int(number)


def to_preference(value: Any, field: str) -> list[float] | None:
    """A preference/ray as a list of floats, or None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, list | tuple):
        raise StoreError(f"{field}: expected a list of numbers or null, got {value!r}")
    return [to_float(v, f"{field}[{i}]") for i, v in enumerate(value)]


def read_config(trial: Any) -> TrialConfig:
    """An expanded trial in its class; a wrong shape is a StoreError naming the field."""
    if not isinstance(trial, Mapping):
        raise StoreError(f"trial: expected a mapping, got {type(trial).__name__}")
    key = check_key(trial.get("key"))
    try:
        return TrialConfig.from_plain(trial)
    except ContractError as exc:
        raise StoreError(f"trial {key}: {exc}") from None


def trial_row(trial: Mapping[str, Any]) -> dict[str, Any]:
    """The ``trials`` row for one expanded trial from the orchestrator (its plain
    ``TrialConfig``); the config is stored in its full plain form."""
    config = read_config(trial)
    where = f"trial {config.key}"
    seed = to_int(config.seed, f"{where}: seed")
    if seed is None:
        raise StoreError(f"{where}: seed: required")
    return {
        "key": config.key,
        "method": config.method.name,
        "dataset": config.dataset.name,
        "arch": config.arch.name,
        "seed": seed,
        "preference": to_preference(config.preference, f"{where}: preference"),
        "params": json_safe(config.method.options),
        "config": json_safe(config.to_plain()),
        "status": "pending",
    }


def _point_tasks(point: Point, where: str) -> dict[str, dict[str, float | None]]:
    """Validated ``{task: {"loss", "acc"}}`` of one point."""
    out = {}
    for name, (loss, acc) in point.tasks.items():
        validate_task_name(name)
        out[name] = {"loss": to_float(loss, f"{where}.tasks.{name}.loss"),
                     "acc": to_float(acc, f"{where}.tasks.{name}.acc")}
    return out


def metric_value(name: str, value: Any, field: str) -> float | None:
    """A ``point_metrics`` value: a number, None for None, NaN and infinities; the
    counts in INT_METRICS must be whole numbers."""
    number = to_float(value, field)
    if number is None or not math.isfinite(number):
        return None
    if name in INT_METRICS and not number.is_integer():
        raise StoreError(f"{field}: expected an integer, got {value!r}")
    return number


def _point_metrics(point: Point, where: str) -> dict[str, float | None]:
    """Validated ``{metric name: value}`` of one point (any valid names; unknown ones are
    stored too), the top-level figures of the plain form included."""
    out = {}
    for name, value in point.metrics.items():
        validate_metric_name(name)
        field = f"{where}.{name}" if name in TOP_LEVEL_METRICS else f"{where}.metrics.{name}"
        out[name] = metric_value(name, value, field)
    return out


def _point_row(point: Point, where: str) -> dict[str, Any]:
    """The ``points`` row (without trial_id) of one result point."""
    ray_index = to_int(point.ray_index, f"{where}.ray_index") or 0
    if ray_index < 0:
        raise StoreError(f"{where}.ray_index: must be >= 0, got {ray_index}")
    return {
        "split": point.split,
        "ray_index": ray_index,
        "preference": to_preference(point.preference, f"{where}.preference"),
        "time_train_s": to_float(point.time_train_s, f"{where}.time_train_s"),
        "time_eval_s": to_float(point.time_eval_s, f"{where}.time_eval_s"),
    }


def read_result(key: str, result: Any) -> TrialResult:
    """The result in its class; a wrong shape is a StoreError naming the field."""
    try:
        return TrialResult.from_plain(result)
    except ContractError as exc:
        where = f"result of trial {key}"
        raise StoreError(f"{where}: {exc}") from None


def point_rows(key: str, result: TrialResult) -> list[tuple[dict, dict, dict]]:
    """``(points row, tasks, metrics)`` of each point of a result, with unique
    (split, ray_index)."""
    parts, seen = [], set()
    for i, point in enumerate(result.points):
        where = f"result of trial {key}: points[{i}]"
        row = _point_row(point, where)
        slot = (row["split"], row["ray_index"])
        if slot in seen:
            raise StoreError(f"{where}: duplicate split/ray_index {slot}")
        seen.add(slot)
        parts.append((row, _point_tasks(point, where), _point_metrics(point, where)))
    return parts


def trial_result_fields(key: str, result: TrialResult) -> dict[str, Any]:
    """The ``trials`` columns a finished result updates (times, device, versions, info)."""
    where = f"result of trial {key}"
    return {
        "time_train_s": to_float(result.time_train_s, f"{where}: time_train_s"),
        "time_phase1_s": to_float(result.time_phase1_s, f"{where}: time_phase1_s"),
        "time_phase2_s": to_float(result.time_phase2_s, f"{where}: time_phase2_s"),
        "device": None if result.device is None else str(result.device),
        "versions": json_safe(result.versions),
        "info": json_safe(result.info),
    }


def error_text(error: Any) -> str:
    """Error text as stored: a string, capped so one failure cannot bloat the store."""
    text = str(error)
    if len(text) > _ERROR_MAX_CHARS:
        text = text[:_ERROR_MAX_CHARS] + " ...[truncated]"
    return text
