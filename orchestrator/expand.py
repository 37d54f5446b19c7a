"""Expand a validated sweep into trial configs: datasets x architectures x methods x
search points x preferences x seeds, each with every default resolved and a stable key.

Names are checked against the registries here (the spec parser only knows shapes), so
an unknown dataset, architecture, method, option or parameter is a ``SpecError`` naming
its field. A trial's key is a hash of what defines it (not of where or on what device
it runs), so the same trial in two sweeps, or in a rerun, is the same row in the store.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator

from contract.settings import TrainSettings
from contract.trial import Component, Runtime, TrialConfig, trial_key
from orchestrator.errors import SpecError
from orchestrator.spec import TOP_LEVEL, NamedEntry, SweepSpec, preference_vectors
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods.base import ParamError
from trainers.models import ARCHITECTURES
from trainers.models.base import input_mismatch
from trainers.options import OptionError
from trainers.options import resolve as resolve_options
from trainers.registry import Registry, UnknownNameError

#: every list of a sweep is bounded, but their product is not: a sweep past this is a typo
MAX_TRIALS = 100_000
#: training settings that say where a trial runs, not what it computes
RUNTIME_TRAIN_FIELDS = TrainSettings.runtime_fields()


def lookup(registry: Registry, name: str, spec: SweepSpec, field: str):
    try:
        return registry.get(name)
    except UnknownNameError as exc:
        raise SpecError(spec.source, field, str(exc)) from None


def with_defaults(resolve: Callable[[dict[str, Any]], dict[str, Any]], given: dict[str, Any],
                  spec: SweepSpec, field: str, what: str) -> dict[str, Any]:
    """``given`` options checked by their owner's declarations (type, range, known name)
    and completed with the defaults; a wrong one is a SpecError naming ``field.<option>``."""
    try:
        return resolve(given)
    except OptionError as exc:
        message = exc.message.replace("unknown option", f"unknown {what}", 1)
        raise SpecError(spec.source, f"{field}.{exc.name}", message) from None


def resolve_arch(entry: NamedEntry, dataset: str, input_shape: tuple[int, ...],
                 spec: SweepSpec, field: str) -> dict[str, Any]:
    builder = lookup(ARCHITECTURES, entry.name, spec, f"{field}.name")
    supported = getattr(builder, "datasets", None)
    if supported is not None and dataset not in supported:
        raise SpecError(spec.source, f"{field}.name",
                        f"architecture {entry.name!r} does not support dataset {dataset!r}")
    mismatch = input_mismatch(builder, input_shape)
    if mismatch:
        raise SpecError(spec.source, f"{field}.name",
                        f"architecture {entry.name!r} {mismatch} (dataset {dataset!r})")
    table = getattr(builder, "option_table", {})
    options = with_defaults(lambda given: resolve_options(table, given), entry.options, spec,
                            field, f"option of architecture {entry.name!r}")
    return {"name": entry.name, "options": options}


def method_archs(spec: SweepSpec, entry, m_index: int,
                 default_arch: str) -> list[tuple[NamedEntry, str]]:
    """The architectures a method runs on, each with the field that names it: the
    method's own ``architectures``, else the sweep's, else the dataset's default."""
    if entry.architectures:
        archs = [(a, f"methods.{m_index}.architectures.{i}") for i, a in enumerate(entry.architectures)]
    elif spec.architectures:
        archs = [(a, f"architectures.{i}") for i, a in enumerate(spec.architectures)]
    else:
        archs = [(NamedEntry(name=default_arch), "datasets")]
    for arch, field in archs:  # unknown names first, before any pairing rule
        lookup(ARCHITECTURES, arch.name, spec, f"{field}.name")
    return archs


def resolve_params(method_cls, given: dict[str, Any], dataset: str, arch: str,
                   spec: SweepSpec, index: int, searched: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The method's resolved parameters; a wrong one names where the user wrote it: the
    method's ``params`` or, for the ``searched`` names, the search axis."""

    def field(name: str) -> str:
        if name in searched:
            return f"search.space.params.{name} (method {index}, {method_cls.name})"
        return f"methods.{index}.params.{name}"

    try:
        return method_cls.resolve_params(given, dataset, arch)
    except KeyError as exc:
        known = ", ".join(sorted(method_cls.resolve_params({}, dataset, arch)))
        raise SpecError(spec.source, field(exc.args[0]),
                        f"unknown parameter of {method_cls.name!r} (known: {known})") from None
    except ParamError as exc:
        raise SpecError(spec.source, field(exc.name), str(exc)) from None


def trains(method_cls, arch: str) -> bool:
    """Whether the method can train the architecture (stl, kdmtl and mtan need their own)."""
    return method_cls.architectures is None or arch in method_cls.architectures


def fitting_archs(method_cls, entry, m_index: int, archs: list[tuple[NamedEntry, str]],
                  spec: SweepSpec, dataset: str) -> list[tuple[NamedEntry, str]]:
    """The architectures the method can train. A method's own list must fit entirely;
    from the sweep's list, pairs that do not fit are skipped (a cross product), but at
    least one must fit."""
    fit = [(a, field) for a, field in archs if trains(method_cls, a.name)]
    wrong = [(a, field) for a, field in archs if not trains(method_cls, a.name)]
    if entry.architectures and wrong:
        arch, field = wrong[0]
        raise SpecError(spec.source, f"{field}.name",
                        f"method {entry.name!r} trains only architecture(s) "
                        f"{', '.join(method_cls.architectures)}, not {arch.name!r}")
    if not fit:
        raise SpecError(spec.source, f"methods.{m_index}.name",
                        f"method {entry.name!r} trains only architecture(s) "
                        f"{', '.join(method_cls.architectures)}; the sweep has "
                        f"{', '.join(a.name for a, _ in archs)} for dataset {dataset!r} (add "
                        f"one under architectures, or under the method's own architectures)")
    return fit


def resolve_train(layers: list[dict[str, Any] | None], spec: SweepSpec) -> TrainSettings:
    try:
        return TrainSettings.resolve(*layers)
    except KeyError as exc:
        raise SpecError(spec.source, f"train.{exc.args[0]}", "unknown training setting") from None


def method_preferences(method_cls, entry, n_tasks: int, spec: SweepSpec,
                       index: int) -> list[list[float] | None]:
    vectors = preference_vectors(entry, n_tasks, index=index, source=spec.source)
    if not method_cls.uses_preference:
        if vectors is not None:
            raise SpecError(spec.source, f"methods.{index}.preferences",
                            f"method {entry.name!r} takes no preference vectors")
        return [None]
    if vectors is None:  # uniform task weights, no sparsity weight
        vectors = [[0.0] + [round(1.0 / n_tasks, 12)] * n_tasks]
    for v_index, vector in enumerate(vectors):
        try:
            method_cls.check_preference(vector)
        except ValueError as exc:
            raise SpecError(spec.source, f"methods.{index}.preferences.{v_index}", str(exc)) from None
    return vectors


def combinations(spec: SweepSpec) -> Iterator[tuple[Any, dict[str, Any], Any, int, Any, Any, dict[str, Any]]]:
    """(dataset entry, its options, its source, method index, method entry, method class,
    resolved architecture) for every dataset x method x architecture the sweep runs."""
    for d_index, dataset in enumerate(spec.datasets):
        source = lookup(DATASETS, dataset.name, spec, f"datasets.{d_index}.name")
        options = with_defaults(source.resolve_options, dataset.options, spec,
                                f"datasets.{d_index}", f"option of dataset {dataset.name!r}")
        for m_index, entry in enumerate(spec.methods):
            method_cls = lookup(METHODS, entry.name, spec, f"methods.{m_index}.name")
            archs = method_archs(spec, entry, m_index, source.default_arch)
            for arch_entry, field in fitting_archs(method_cls, entry, m_index, archs, spec,
                                                   dataset.name):
                arch = resolve_arch(arch_entry, dataset.name, source.input_shape_for(options),
                                    spec, field)
                yield dataset, options, source, m_index, entry, method_cls, arch


def expand_sweep(spec: SweepSpec, *, data_dir: str | None = None,
                 threads: int = 1) -> list[dict[str, Any]]:
    """All trial configs of ``spec`` (``TrialConfig``, in their plain form), deduplicated
    by key, in a stable order."""
    trials: dict[str, TrialConfig] = {}
    spec_train = spec.train.model_dump(exclude_none=True)
    runtime = Runtime(data_dir, threads)
    for dataset, options, source, m_index, entry, method_cls, arch in combinations(spec):
        prefs = method_preferences(method_cls, entry, len(source.tasks_for(options)), spec, m_index)
        for override in spec.search_points():
            searched = override.get("params", {})
            params = resolve_params(method_cls, {**entry.params, **searched},
                                    dataset.name, arch["name"], spec, m_index, frozenset(searched))
            train = resolve_train([method_cls.train_preset(dataset.name, arch["name"]),
                                   spec_train, override.get("train")], spec)
            for preference in prefs:
                for seed in spec.seeds:
                    config = TrialConfig(
                        dataset=Component(dataset.name, options),
                        arch=Component(arch["name"], arch["options"]),
                        method=Component(entry.name, params),
                        preference=None if preference is None else tuple(preference),
                        seed=seed, train=train, runtime=runtime, sweep=spec.name)
                    key = trial_key(config)
                    if key not in trials and len(trials) == MAX_TRIALS:
                        raise SpecError(spec.source, TOP_LEVEL, f"the sweep expands to more than "
                                        f"{MAX_TRIALS} trials; split it into several sweeps")
                    if key not in trials:
                        trials[key] = dataclasses.replace(config, key=key)
    return [config.to_plain() for config in trials.values()]
