"""The sweep file: strict models, the YAML loader, and one-line errors.

A sweep file says *what* to run (datasets x architectures x methods x preferences x
seeds x hyper-parameter points) and with which resources. It is parsed into
``SweepSpec`` here and nowhere else; expansion into trials happens later, once each
dataset's task count is known. Every mistake in the file becomes one ``SpecError`` that
names the file and the dotted field (``methods.1.preferences.explicit.2``), because a
researcher editing YAML needs the exact spot, not a pydantic report.

Layout: models first, then the loader, then the conversion of validation errors.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import re
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from contract.settings import TrainSettings
from orchestrator.errors import SpecError
from trainers.preferences import PreferenceError, expand

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
SEARCH_SECTIONS = ("train", "params")
MAX_GRID_POINTS = 10_000  # a product of long axes is almost always a typo
MAX_SPEC_BYTES = 1 << 20  # sweep files are a few kB; refused unread beyond this
MAX_ALIAS_VALUES = 50_000  # values YAML aliases may add to a document (alias bombs)
DEFAULT_SOURCE = "<spec>"
TOP_LEVEL = "(top level)"

MAX_NAME_LENGTH = 100  # names become folder and file names (Ray Tune's trial folders)
#: list bounds: far beyond any real sweep, small enough to check and store quickly
MAX_DESCRIPTION = 10_000
MAX_ENTRIES = 100  # datasets, architectures, methods
MAX_SEEDS = 1_000
MAX_SEARCH_AXES = 32
MAX_AXIS_VALUES = 1_000
#: trial seeds: numpy, torch and scikit-learn all accept [0, 2**32 - 1]; the store's
#: INTEGER column (signed 64-bit) would overflow at 2**63
SEED_MAX = 2**32 - 1
MAX_CPUS_PER_TRIAL = 1024
MAX_GPUS_PER_TRIAL = 64
MAX_CONCURRENT = 1024
MAX_FAILURES = 100  # retries of a crashed trial
MAX_PACK = 256  # trials per pack: beyond what one device trains as one batched model

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=MAX_NAME_LENGTH)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]


class FieldValueError(ValueError):
    """Raised inside a validator to point below the validated field (``explicit.2``).

    Pydantic can only locate an error at the field being validated; the error
    conversion appends ``field`` to that location.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _Strict(BaseModel):
    """Base of every spec model: unknown keys are errors and types are not coerced.

    Strict types catch YAML slips such as ``epochs: yes`` (a bool) or ``lr: "0.1"``.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


# --------------------------------------------------------------------------- models


class NamedEntry(_Strict):
    """A dataset or architecture: a registry name plus its options.

    The file may say ``multimnist`` or ``{name: multimnist, noise: 0.1}``; both become
    ``NamedEntry(name="multimnist", options={...})``. The normalised form
    ``{name: ..., options: {...}}`` is accepted too, so ``model_dump()`` round-trips.
    """

    name: Name
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a name or a mapping with 'name', got {data!r}")
        if set(data) <= {"name", "options"} and isinstance(data.get("options", {}), dict):
            return dict(data)
        options = {key: value for key, value in data.items() if key != "name"}
        return {**({"name": data["name"]} if "name" in data else {}), "options": options}


class MethodEntry(_Strict):
    """One method to sweep, its preference form and its free parameters.

    ``params`` is checked later by the method itself. ``preferences`` is checked here
    for form, signs and sums; lengths need the dataset (see ``preference_vectors``).
    """

    name: Name
    preferences: dict[str, Any] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: this method's own architectures, instead of the sweep's (e.g. ``stl`` beside lenet)
    architectures: list[NamedEntry] | None = Field(default=None, min_length=1, max_length=MAX_ENTRIES)
    _index: int | None = PrivateAttr(default=None)
    _source: str = PrivateAttr(default=DEFAULT_SOURCE)

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @field_validator("preferences")
    @classmethod
    def _check_preferences(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                expand(value, None)
            except PreferenceError as exc:
                raise FieldValueError(exc.field, exc.message) from None
        return value


def _train_field(setting: dataclasses.Field) -> tuple[Any, Any]:
    """The spec's type of one training setting: its declared type and allowed values
    (contract.settings), optional, ``None`` meaning "use the preset"."""
    meta, kind = setting.metadata, _TRAIN_TYPES[setting.name]
    if meta["choices"]:
        kind = Literal[meta["choices"]]
    elif meta["pattern"] is not None:
        pattern, expected = meta["pattern"], meta["expected"]

        def check(value: str) -> str:
            if not pattern.match(value):
                raise ValueError(f"{expected}, got {value!r}")
            return value

        kind = Annotated[kind, AfterValidator(check)]
    elif kind is float:  # real values must be finite: .inf and .nan are refused
        kind = Annotated[float, Field(gt=meta["gt"], ge=meta["ge"], allow_inf_nan=False)]
    else:
        kind = Annotated[kind, Field(gt=meta["gt"], ge=meta["ge"])]
    return kind | None, None


_TRAIN_TYPES = typing.get_type_hints(TrainSettings)
#: the ``train`` section: every field of contract.settings.TrainSettings, optional
TrainConfig = create_model(
    "TrainConfig", __base__=_Strict,
    **{setting.name: _train_field(setting) for setting in dataclasses.fields(TrainSettings)})
TrainConfig.__doc__ = """Training settings; ``None`` means "use the method's / dataset's preset"."""


class Resources(_Strict):
    """Ray resources per trial and the sweep's concurrency cap: finite and bounded (a
    trial runs on one machine; ``.inf`` would overflow before Ray could refuse it)."""

    cpus_per_trial: Annotated[float, Field(gt=0, le=MAX_CPUS_PER_TRIAL, allow_inf_nan=False)] = 1.0
    # fractions let several trials share a GPU
    gpus_per_trial: Annotated[float, Field(ge=0, le=MAX_GPUS_PER_TRIAL, allow_inf_nan=False)] = 0.0
    max_concurrent: Annotated[int, Field(gt=0, le=MAX_CONCURRENT)] = 2
    # restarts of a trial whose worker crashed (a numerical failure is a result, not retried)
    max_failures: Annotated[int, Field(ge=0, le=MAX_FAILURES)] = 0
    # trials per Ray trial (orchestrator/packs.py); 1 runs every trial on its own
    pack: int | Literal["auto"] = 1

    @field_validator("pack", mode="before")
    @classmethod
    def _check_pack(cls, value: Any) -> Any:
        # one message for both forms (a union would report each member's error)
        if value == "auto" or (type(value) is int and 1 <= value <= MAX_PACK):
            return value
        raise ValueError(f"expected an integer from 1 to {MAX_PACK} or 'auto', got {_short(value)}")


def _split_axis(key: str) -> tuple[str, str]:
    """``"train.lr"`` -> ``("train", "lr")``; anything else is refused."""
    section, _, name = key.partition(".")
    if section not in SEARCH_SECTIONS or not name or "." in name:
        raise FieldValueError(key, "search keys look like 'train.<setting>' or 'params.<name>'")
    if section == "train" and name not in TrainConfig.model_fields:
        known = ", ".join(TrainConfig.model_fields)
        raise FieldValueError(key, f"unknown train setting {name!r} (known: {known})")
    return section, name


def _check_axis_values(key: str, section: str, name: str, values: list[Any]) -> None:
    """Values must be distinct and, for ``train.*``, valid settings themselves."""
    if not values:
        raise FieldValueError(key, "expected a non-empty list of values")
    for i, value in enumerate(values):
        if value in values[:i]:
            raise FieldValueError(f"{key}.{i}", f"duplicate value {value!r}")
        if section == "train":
            try:
                TrainConfig.model_validate({name: value})
            except ValidationError as exc:
                raise FieldValueError(f"{key}.{i}", _describe(exc.errors()[0])[1]) from None


DISTRIBUTIONS = ("uniform", "loguniform", "int")
DRAWN_DIGITS = 6  # drawn floats are rounded to this many significant digits (readable keys)


def _bound(key: str, kind: str, value: Any) -> float | int:
    """One bound of a distribution: a finite number, a whole one for ``int``."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind == "int" and not whole:
        raise FieldValueError(f"{key}.{kind}", f"bounds must be whole numbers, got {value!r}")
    if not (whole or isinstance(value, float)) or not math.isfinite(value):
        raise FieldValueError(f"{key}.{kind}", f"bounds must be finite numbers, got {value!r}")
    return value


def _draw_axis(key: str, axis: dict[str, Any], seed: int) -> list[Any]:
    """The values of a distribution axis ``{uniform|loguniform|int: [lo, hi], samples: N}``:
    N draws from [lo, hi] (int: N distinct integers, both ends included), sorted. The
    generator is seeded by the search seed and the axis name alone, so the same file
    always gives the same values, hence the same trial keys."""
    unknown = [k for k in axis if k not in (*DISTRIBUTIONS, "samples")]
    if unknown:
        raise FieldValueError(f"{key}.{unknown[0]}", "unknown key (a distribution axis is "
                              "{uniform|loguniform|int: [lo, hi], samples: N})")
    kinds = [k for k in DISTRIBUTIONS if k in axis]
    if len(kinds) != 1:
        raise FieldValueError(key, "expected a list of values or one distribution: "
                              "{uniform|loguniform|int: [lo, hi], samples: N}")
    kind, bounds, samples = kinds[0], axis[kinds[0]], axis.get("samples")
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise FieldValueError(f"{key}.{kind}", f"expected [lo, hi], got {bounds!r}")
    lo, hi = (_bound(key, kind, b) for b in bounds)
    if not lo < hi:
        raise FieldValueError(f"{key}.{kind}", f"expected lo < hi, got [{lo!r}, {hi!r}]")
    if kind == "loguniform" and lo <= 0:
        raise FieldValueError(f"{key}.{kind}", f"loguniform needs lo > 0, got {lo!r}")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_AXIS_VALUES:
        raise FieldValueError(f"{key}.samples", f"expected a whole number of draws in "
                              f"1..{MAX_AXIS_VALUES}, got {samples!r}")
    rng = random.Random(f"{seed}/{key}")  # str seeds hash with SHA-512: stable across runs
    if kind == "int":
        if samples > hi - lo + 1:
            raise FieldValueError(f"{key}.samples", f"{samples} distinct whole numbers do not "
                                  f"fit in [{lo}, {hi}]")
        return sorted(rng.sample(range(lo, hi + 1), samples))
    if kind == "uniform":
        drawn = [rng.uniform(lo, hi) for _ in range(samples)]
    else:
        drawn = [math.exp(rng.uniform(math.log(lo), math.log(hi))) for _ in range(samples)]
    values = sorted(min(max(float(f"{v:.{DRAWN_DIGITS}g}"), lo), hi) for v in drawn)
    if len(set(values)) < samples:
        raise FieldValueError(f"{key}.samples", f"{samples} draws repeat a value at "
                              f"{DRAWN_DIGITS} digits; draw fewer or widen [{lo!r}, {hi!r}]")
    return values


class SearchConfig(_Strict):
    """Hyper-parameter axes: a grid over all combinations, or seeded random draws. An axis
    is a list of values or a distribution, which becomes the list of its seeded draws."""

    mode: Literal["grid", "random"] = "grid"
    # before space: the distributions are drawn with it
    seed: NonNegativeInt = 0
    space: dict[str, Annotated[list[Any], Field(max_length=MAX_AXIS_VALUES)]] = Field(
        max_length=MAX_SEARCH_AXES)
    num_samples: Annotated[int, Field(ge=1, le=MAX_GRID_POINTS)] | None = None

    @field_validator("space", mode="before")
    @classmethod
    def _draw_distributions(cls, space: Any, info: ValidationInfo) -> Any:
        if not isinstance(space, dict):
            return space
        seed = info.data.get("seed", 0)
        return {key: _draw_axis(key, axis, seed) if isinstance(axis, dict) else axis
                for key, axis in space.items()}

    @field_validator("space")
    @classmethod
    def _check_space(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not space:
            raise ValueError("expected at least one axis like {train.lr: [0.001, 0.01]}")
        for key, values in space.items():
            _check_axis_values(key, *_split_axis(key), values)
        return space

    @model_validator(mode="after")
    def _check_samples(self) -> SearchConfig:
        if self.mode == "random" and self.num_samples is None:
            raise FieldValueError("num_samples", "required when mode is random")
        if self.mode == "grid" and self.num_samples is not None:
            raise FieldValueError("num_samples", "only applies to mode random (grid runs every combination)")
        if self.mode == "random" and self.num_samples > self.n_combinations:
            total = self.n_combinations
            raise FieldValueError("num_samples", f"{self.num_samples} exceeds the {total} distinct combinations")
        if self.mode == "grid" and self.n_combinations > MAX_GRID_POINTS:
            total = self.n_combinations
            raise FieldValueError("space", f"{total} combinations (limit {MAX_GRID_POINTS}); use mode random")
        return self

    @property
    def n_combinations(self) -> int:
        return math.prod(len(values) for values in self.space.values())

    def points(self) -> list[dict[str, dict[str, Any]]]:
        """Override dicts, grid in ``itertools.product`` order or distinct seeded draws."""
        if self.mode == "grid":
            indices = range(self.n_combinations)
        else:  # distinct draws: the same point twice would be the same trial twice
            indices = random.Random(self.seed).sample(range(self.n_combinations), self.num_samples)
        return [self._point(index) for index in indices]

    def _point(self, index: int) -> dict[str, dict[str, Any]]:
        """The index-th combination, last axis varying fastest (mixed-radix decode)."""
        choices: list[int] = []
        for values in reversed(list(self.space.values())):
            index, choice = divmod(index, len(values))
            choices.append(choice)
        point: dict[str, dict[str, Any]] = {}
        for (key, values), choice in zip(self.space.items(), reversed(choices)):
            section, name = key.split(".", 1)
            point.setdefault(section, {})[name] = copy.deepcopy(values[choice])
        return point


def _first_duplicate(items: list[Any]) -> tuple[int, int] | None:
    """(later, earlier) indices of the first repeated item (items may be unhashable)."""
    for i, item in enumerate(items):
        if item in items[:i]:
            return i, items.index(item)
    return None


def _reject_duplicates(items: list[Any], field: str) -> None:
    """Two equal entries would run (and store) the same trials twice."""
    dumped = [item.model_dump() if isinstance(item, BaseModel) else item for item in items]
    found = _first_duplicate(dumped)
    if found is not None:
        raise FieldValueError(str(found[0]), f"duplicate of {field}.{found[1]}")


class SweepSpec(_Strict):
    """A whole sweep file. Only ``name``, ``datasets`` and ``methods`` are required.

    ``architectures`` of ``None`` means each dataset's default architecture.
    """

    name: Name
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    datasets: list[NamedEntry] = Field(min_length=1, max_length=MAX_ENTRIES)
    architectures: list[NamedEntry] | None = Field(default=None, min_length=1, max_length=MAX_ENTRIES)
    methods: list[MethodEntry] = Field(min_length=1, max_length=MAX_ENTRIES)
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS)
    train: TrainConfig = Field(default_factory=TrainConfig)
    search: SearchConfig | None = None
    resources: Resources = Field(default_factory=Resources)
    _source: str = PrivateAttr(default=DEFAULT_SOURCE)

    @field_validator("datasets", "architectures", "methods", "seeds")
    @classmethod
    def _unique(cls, items: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if items is not None:
            _reject_duplicates(items, info.field_name)
        return items

    @model_validator(mode="after")
    def _number_methods(self) -> SweepSpec:
        for index, method in enumerate(self.methods):
            method._index = index
        return self

    @property
    def source(self) -> str:
        """The file this spec came from (used to name it in later errors)."""
        return self._source

    def bind_source(self, source: str) -> SweepSpec:
        """Remember the file name so that errors raised after loading can name it."""
        self._source = source
        for method in self.methods:
            method._source = source
        return self

    def search_points(self) -> list[dict[str, dict[str, Any]]]:
        """Hyper-parameter overrides, e.g. ``{"train": {"lr": 0.001}}``; ``[{}]`` without search."""
        return self.search.points() if self.search is not None else [{}]


def preference_vectors(
    method_entry: MethodEntry,
    n_tasks: int,
    *,
    index: int | None = None,
    source: str | None = None,
) -> list[list[float]] | None:
    """The entry's preference vectors for a dataset with ``n_tasks`` tasks.

    Returns ``None`` when the entry gives no preferences: the method's own default
    applies (uniform weights for linear scalarisation, none at all for MGDA). Errors
    (now including length checks) become a ``SpecError`` naming
    ``methods.<i>.preferences.<sub>``; ``index``/``source`` override what the entry
    remembers from ``parse_spec``.
    """
    if method_entry.preferences is None:
        return None
    try:
        return expand(method_entry.preferences, n_tasks)
    except PreferenceError as exc:
        position = index if index is not None else method_entry._index
        where = _dotted(["methods", method_entry.name if position is None else position, "preferences", exc.field])
        raise SpecError(source or method_entry._source, where, exc.message) from None


# --------------------------------------------------------------------------- loader


class _TooLarge(yaml.YAMLError):
    """The document would expand to too much data (aliases) or nests too deeply."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """Values in ``node`` with every alias written out (memoised: aliases share nodes)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _TooLarge("an alias refers to a node that contains it (recursive alias)")
    open_.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes, open_) + _expanded_size(v, sizes, open_)
                       for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes, open_) for item in node.value)
    else:
        size = 1
    open_.discard(key)
    sizes[key] = size
    return size


class _SpecLoader(yaml.SafeLoader):
    """``yaml.safe_load`` (plain data only) plus fixes for hand-written specs.

    - ``1e-3`` is a float (YAML 1.2), not the string PyYAML's YAML 1.1 makes of it.
    - A key written twice is an error instead of the last one silently winning.
    - Anchors and aliases work, but may add at most ``MAX_ALIAS_VALUES`` values to the
      document: a few hundred bytes of nested aliases would otherwise expand to billions
      of values when the spec is validated (an "alias bomb"); checked before construction.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        sizes: dict[int, int] = {}
        expanded = _expanded_size(node, sizes, set())
        added = expanded - len(sizes)  # sizes holds each written node once
        if added > MAX_ALIAS_VALUES:
            raise _TooLarge(f"aliases add {added} values to the document (limit "
                            f"{MAX_ALIAS_VALUES}); write the repeated part out or reuse it less")
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self._reject_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)

    def _reject_duplicate_keys(self, node: yaml.MappingNode) -> None:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *anchor' may legitimately be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable key: the base constructor reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, at most ``MAX_SPEC_BYTES``; every way reading can fail becomes a
    SpecError on ``file``."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)  # never more, whatever the file is
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(source, "file", f"larger than {MAX_SPEC_BYTES // 1024} KiB "
                                            "(a sweep file is a few kB)")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise SpecError(source, "file", "no such file") from None
    except IsADirectoryError:
        raise SpecError(source, "file", "is a directory, not a sweep file") from None
    except UnicodeDecodeError:
        raise SpecError(source, "file", "not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(source, "file", f"cannot read: {exc.strerror or exc}") from None


def _parse_yaml(text: str, source: str) -> Any:
    """Plain data from YAML text; syntax errors name the line and column."""
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise SpecError(source, "yaml", f"malformed YAML{where}: {problem}") from None
    except _TooLarge as exc:
        raise SpecError(source, "yaml", str(exc)) from None
    except yaml.YAMLError as exc:
        raise SpecError(source, "yaml", f"malformed YAML: {exc}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise SpecError(source, "yaml", "collections nested too deeply") from None


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read, parse and validate a sweep file; any problem is one ``SpecError``."""
    source = os.fspath(path)
    data = _parse_yaml(_read_text(source), source)
    return parse_spec(data, source)


def parse_spec(data: Any, source: str = DEFAULT_SOURCE) -> SweepSpec:
    """Validate already-parsed data (a mapping) as a sweep spec from ``source``."""
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError(source, TOP_LEVEL, f"expected a mapping of sweep settings, got {got}")
    try:
        spec = SweepSpec.model_validate(dict(data))
    except ValidationError as exc:
        raise _to_spec_error(exc, source) from None
    return spec.bind_source(source)


# --------------------------------------------------------------------------- errors


def _dotted(parts: list[Any]) -> str:
    """``["methods", 1, "preferences", ""]`` -> ``"methods.1.preferences"``."""
    return ".".join(str(part) for part in parts if part != "")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """(extra sub-path, short message) for one pydantic error dict."""
    cause = (error.get("ctx") or {}).get("error")
    kind = error["type"]
    if isinstance(cause, FieldValueError):
        return cause.field, cause.message
    if kind == "value_error":
        return "", str(cause)
    if kind == "extra_forbidden":
        return "", "unknown key"
    if kind == "missing":
        return "", "required"
    if kind == "too_short":
        return "", "must not be empty"
    if kind == "too_long":
        ctx = error["ctx"]
        return "", f"at most {ctx['max_length']} entries allowed, got {ctx.get('actual_length') or 'more'}"
    if kind == "string_pattern_mismatch":
        return "", f"only letters, digits, '_', '.' and '-' allowed, got {_short(error['input'])}"
    message = error["msg"][:1].lower() + error["msg"][1:]
    return "", f"{message}, got {_short(error['input'])}"


def _to_spec_error(exc: ValidationError, source: str) -> SpecError:
    """The first validation error as a one-line SpecError naming its dotted field."""
    error = exc.errors(include_url=False)[0]
    extra, message = _describe(error)
    field = _dotted([*error["loc"], extra]) or TOP_LEVEL
    return SpecError(source, field, message)


__all__ = [
    "FieldValueError",
    "MethodEntry",
    "NamedEntry",
    "Resources",
    "SearchConfig",
    "SweepSpec",
    "TrainConfig",
    "load_spec",
    "parse_spec",
    "preference_vectors",
]
