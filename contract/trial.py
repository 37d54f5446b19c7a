"""A trial's config: what the orchestrator expands from a sweep, the store records and a
trainer runs, and the stable key that identifies it.

The plain form is ``key, sweep, dataset{name, options}, arch{name, options},
method{name, params}, preference, seed, train{...}, runtime{data_dir, threads}``.
Only ``dataset, arch, method, preference, seed`` and the non-runtime training settings
define a trial (its ``identity``); the key hashes exactly that, so the same trial in two
sweeps, or in a rerun, is the same row in the store.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.plain import ContractError, join, mapping, plain_copy
from contract.settings import TrainSettings


@dataclass(frozen=True)
class Component:
    """A registry name plus its options: the data set, the architecture, or the method
    (whose options the plain form calls ``params``)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def to_plain(self, options_key: str = "options") -> dict[str, Any]:
        return {"name": self.name, options_key: plain_copy(self.options)}

    @classmethod
    def from_plain(cls, data: Any, field_: str = "", options_key: str = "options") -> Component:
        data = mapping(data, field_, "expected a mapping with 'name'")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ContractError(join(field_, "name"), "required (a non-empty string)")
        options = mapping(data.get(options_key) or {}, join(field_, options_key))
        return cls(name, plain_copy(options))


@dataclass(frozen=True)
class Runtime:
    """Where and how a trial runs; not part of its identity."""

    data_dir: str | None = None
    threads: int | None = None

    def to_plain(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir, "threads": self.threads}

    @classmethod
    def from_plain(cls, data: Any) -> Runtime:
        data = mapping(data or {}, "runtime")
        return cls(data.get("data_dir"), data.get("threads"))


@dataclass(frozen=True)
class TrialConfig:
    dataset: Component
    arch: Component
    method: Component
    preference: tuple[float, ...] | None
    seed: int
    train: TrainSettings = field(default_factory=TrainSettings)
    runtime: Runtime = field(default_factory=Runtime)
    #: the trial key (``trial_key``); empty until computed
    key: str = ""
    #: the sweep that expanded it, when one did
    sweep: str | None = None

    def identity(self) -> dict[str, Any]:
        """The plain fields that define the trial: what its key hashes."""
        runtime = TrainSettings.runtime_fields()
        return {
            "dataset": self.dataset.to_plain(), "arch": self.arch.to_plain(),
            "method": self.method.to_plain("params"),
            "preference": None if self.preference is None else list(self.preference),
            "seed": self.seed,
            "train": {k: v for k, v in self.train.to_plain().items() if k not in runtime},
        }

    def to_plain(self) -> dict[str, Any]:
        identity = self.identity()
        return {"key": self.key, "sweep": self.sweep, **identity,
                "train": self.train.to_plain(), "runtime": self.runtime.to_plain()}

    @classmethod
    def from_plain(cls, data: Any) -> TrialConfig:
        """A config from its plain form; ``train`` may be partial (defaults fill it),
        ``key``, ``sweep`` and ``runtime`` may be absent."""
        data = mapping(data, "", "expected a mapping of trial fields")
        for name in ("dataset", "arch", "method", "seed"):
            if name not in data:
                raise ContractError(name, "required")
        preference = data.get("preference")
        if preference is not None and not isinstance(preference, list | tuple):
            raise ContractError("preference", "expected a list of numbers or null")
        train = mapping(data.get("train") or {}, "train")
        try:
            settings = TrainSettings.from_plain(train)
        except KeyError as exc:
            raise ContractError(f"train.{exc.args[0]}", "unknown training setting") from None
        return cls(
            dataset=Component.from_plain(data["dataset"], "dataset"),
            arch=Component.from_plain(data["arch"], "arch"),
            method=Component.from_plain(data["method"], "method", "params"),
            preference=None if preference is None else tuple(plain_copy(list(preference))),
            seed=data["seed"], train=settings, runtime=Runtime.from_plain(data.get("runtime")),
            key=data.get("key") or "", sweep=data.get("sweep"))


def trial_key(config: TrialConfig | Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of the trial's identity."""
    if not isinstance(config, TrialConfig):
        config = TrialConfig.from_plain(config)
    canonical = json.dumps(config.identity(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
