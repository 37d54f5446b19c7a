"""Packed trials: K trials that differ only in preference (and seed) trained together
as one batched model, each then evaluated and returned as its own trial (docs/packing.md).

``packable(configs)`` says whether a list of trial configs can pack (None) or why not
(one line). ``train_packed(configs)`` returns, per config in order, the plain
``TrialResult`` that ``trainers.trial.run_trial`` returns for it, or the one-line error
that failed that member alone.

Each member is set up exactly as ``run_trial`` sets up its trial: its seed re-seeds every
RNG before its method object and network are built and initialised (LSUV on its own
first batch, from its own generator), so a member starts from the unpacked trial's
weights; the data set is loaded once (it depends on its own options, not on the seed).
``train.precision`` resolves as it does for one trial (``trial_precision``): the batched
forward runs in bf16 where the trial would, and each member records what ran. Each
member's own pieces (hooks, and evaluation where it is not batched: see
``trainers.packing.loop.batch_evaluation``) run on its network on the trial's fast path.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Union

import torch

from contract.result import TrialResult
from contract.trial import TrialConfig
from trainers import precision
from trainers.datasets import DatasetBundle
from trainers.loop import FitOutcome, TrainData
from trainers.methods import METHODS
from trainers.models.trunks import family_for
from trainers.packing.loop import Member, Pack, batched_evaluation, error_text
from trainers.packing.memory import keep_freed_memory
from trainers.packing.methods import packed_method
from trainers.packing.schedules import fit_pmtl, fit_single, fit_two_phase
from trainers.packing.stacked import StackedModel
from trainers.reproducibility import reproducible, seed_everything
from trainers.settings import TrainSettings, resolve_device
from trainers.artifacts import serialise_model
from trainers.trial import Scored, build_model, evaluate_points, evaluated_splits, \
    load_dataset, result_info, trial_precision, versions

#: what a member of a pack comes back as: the plain TrialResult, or its one-line error
MemberOutcome = Union[dict[str, Any], str]

#: the methods that pack: one network per preference, a loss or Gram weights per step
PACKED_METHODS = ("linear", "uniform", "wc_al", "mgda", "pmtl")
#: architectures without buffers (BatchNorm statistics are per member state vmap does
#: not carry) and without a method-specific wrapper
PACKED_ARCHS = ("lenet", "lenet_pmtl", "hps", "mdmtn", "mlp")
#: the trunk-family architectures, whose family may have BatchNorm (Cifar10Mnist's)
FAMILY_ARCHS = ("hps", "mdmtn")


def as_config(config: TrialConfig | dict[str, Any]) -> TrialConfig:
    return config if isinstance(config, TrialConfig) else TrialConfig.from_plain(config)


def shared_fields(config: TrialConfig) -> dict[str, Any]:
    """Everything but the preference and the seed (and the key and sweep they imply)."""
    plain = config.to_plain()
    return {name: plain[name] for name in ("dataset", "arch", "method", "train", "runtime")}


def packable(configs: list[TrialConfig | dict[str, Any]]) -> str | None:
    """None when ``configs`` can train as one pack; else the one-line reason."""
    if not configs:
        return "no trials to pack"
    configs = [as_config(c) for c in configs]
    first = shared_fields(configs[0])
    for config in configs[1:]:
        other = shared_fields(config)
        for name, value in first.items():
            if other[name] != value:
                return (f"the trials differ in {name}: a pack holds trials that differ "
                        "only in preference and seed")
    config = configs[0]
    method, params = config.method.name, config.method.options
    if method not in PACKED_METHODS:
        return f"method {method} does not pack (packed methods: {', '.join(PACKED_METHODS)})"
    if method == "mgda" and params.get("mode") == "ub":
        return "mgda mode ub (gradients w.r.t. the shared representation) does not pack"
    if method == "wc_al":
        sparse = {bool(c.preference is not None and c.preference[0] > 0) for c in configs}
        if len(sparse) > 1:
            return "wc_al trials with k0 > 0 and k0 = 0 follow different schedules: pack them apart"
    arch = config.arch.name
    if arch not in PACKED_ARCHS:
        return f"architecture {arch} does not pack (packed: {', '.join(PACKED_ARCHS)})"
    if arch in FAMILY_ARCHS:
        family = family_for(config.dataset.name, config.arch.options.get("trunk", "auto"))
        if family.batchnorm:
            return (f"architecture {arch} on {config.dataset.name} has BatchNorm, "
                    "which does not pack")
    return None


def build_member(config: TrialConfig, bundle: DatasetBundle, data: TrainData,
                 device: torch.device) -> Member:
    """The trial's method object and network as ``run_trial`` makes them (its seed first),
    initialised as its ``fit`` initialises them (LSUV where the method uses it)."""
    generator = seed_everything(int(config.seed))
    method_cls = METHODS.get(config.method.name)
    preference = None if config.preference is None else list(config.preference)
    method = method_cls(preference, config.method.options, len(bundle.tasks))
    method.to(device)
    model = build_model(config, bundle, method).to(device)
    method.initialise(model, data, config.train, generator)
    return Member(method, model, generator)


def fit(pack: Pack) -> tuple[float, float | None]:
    method = pack.members[0].method
    if method.name == "pmtl":
        return fit_pmtl(pack)
    if method.name == "wc_al" and method.uses_sparsity:
        return fit_two_phase(pack)
    return fit_single(pack)


def split_scores(pack: Pack, bundle: DatasetBundle) -> dict[int, dict[str, Scored]]:
    """Per live member whose evaluation batches (``batched_evaluation``), its scores on
    every evaluated split and the pack's time for that split: one batched forward per
    split for the whole pack, on each member's final (checkpoint) weights. Empty where the
    pack does not batch its evaluation (``batch_evaluation``), no member batches, or the
    batched pass fails: each member then evaluates alone."""
    which = [i for i in pack.live() if batched_evaluation(pack.members[i].method)]
    if not which or not pack.batch_evaluation:
        return {}
    pack.stacked.from_members(which)   # the checkpoints the members' networks hold
    settings = pack.settings
    scored: dict[int, dict[str, Scored]] = {i: {} for i in which}
    try:
        for name, split in evaluated_splits(bundle, settings).items():
            start = time.perf_counter()
            scores = pack.stacked.scores(which, split, bundle.tasks, settings.eval_batch_size)
            seconds = time.perf_counter() - start
            for i, member_scores in zip(which, scores):
                scored[i][name] = (member_scores, seconds)
    except Exception:  # noqa: BLE001 - each member then evaluates alone, failing alone
        return {}
    return scored


def member_result(member: Member, config: TrialConfig, bundle: DatasetBundle,
                  time_phase1: float, time_phase2: float | None, size: int,
                  device: torch.device, ran: str,
                  scored: dict[str, Scored] | None = None) -> MemberOutcome:
    """The member's evaluated points and result, as ``run_trial`` builds them (from the
    pack's batched ``scored`` splits where given)."""
    outcome = FitOutcome(member.stages, time_phase1, time_phase2, dict(member.info))
    try:
        points = evaluate_points(member.model, member.method, bundle, config, config.train,
                                 outcome.time_train_s, scored=scored)
    except Exception as exc:  # noqa: BLE001 - this member fails alone
        return error_text(exc)
    return TrialResult(
        points=tuple(points), time_train_s=outcome.time_train_s,
        time_phase1_s=outcome.time_phase1_s, time_phase2_s=outcome.time_phase2_s,
        device=str(device), precision=ran, versions=versions(),
        info={**result_info(outcome, member.method, bundle, config.train), "pack_size": size},
    ).to_plain()


def assemble(members: list[Member], ran: str, data: TrainData, settings: TrainSettings,
             device: torch.device,
             on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
             ) -> tuple[Pack, precision.FastPath]:
    """The built members as one pack whose stacked weights run in precision ``ran``, and
    the fast path its members compute on: their own networks as run_trial's (bf16:
    channels-last); the stack stays NCHW (trainers/packing/stacked.py), copy_ converts."""
    stacked = StackedModel([member.model for member in members], ran)
    path = precision.choose(ran, members[0].model, device)
    for member in members:
        path.prepare(member.model)
    method = packed_method([member.method for member in members], stacked, data.tasks)
    return Pack(members, stacked, method, data, settings, on_epoch), path


def device_data(config: TrialConfig, device: torch.device,
                host: DatasetBundle | None = None) -> tuple[DatasetBundle, TrainData]:
    """The pack's data set on ``device`` and its training view; ``host``: the data set
    already loaded (a pack trained in chunks loads it, and moves it, once), else loaded
    as ``run_trial`` loads it."""
    bundle = (load_dataset(config) if host is None else host).to(device)
    return bundle, TrainData(bundle.tasks, bundle.splits["train"], bundle.splits["val"])


def train_packed(configs: list[TrialConfig | dict[str, Any]],
                 on_epoch: Callable[[int, dict[str, Any]], None] | None = None,
                 on_model: Callable[[int, bytes], None] | None = None,
                 host: DatasetBundle | None = None) -> list[MemberOutcome]:
    """Train ``configs`` (``packable``) as one batched model; per config, in order, the
    plain TrialResult of that trial or the one-line error that failed it alone.
    ``on_epoch(i, record)`` sees member i's epoch records as ``run_trial``'s would;
    ``on_model(i, bytes)`` gets member i's trained model as ``run_trial``'s ``on_model``;
    ``host``: the data set, already loaded (``device_data``)."""
    configs = [as_config(c) for c in configs]
    reason = packable(configs)
    if reason is not None:
        raise ValueError(reason)
    keep_freed_memory()
    first = configs[0]
    settings = first.train
    device = resolve_device(settings.device)
    reproducible(int(first.seed), first.runtime.threads, device)
    bundle, data = device_data(first, device, host)
    ran = trial_precision(first, bundle, device)   # as run_trial resolves it

    outcomes: list[MemberOutcome | None] = [None] * len(configs)
    built: list[tuple[int, Member]] = []
    start = time.perf_counter()
    for index, config in enumerate(configs):
        try:
            built.append((index, build_member(config, bundle, data, device)))
        except Exception as exc:  # noqa: BLE001 - this member fails alone
            outcomes[index] = error_text(exc)
    time_init = time.perf_counter() - start
    if built:
        def member_epoch(i: int, record: dict[str, Any]) -> None:
            if on_epoch is not None:
                on_epoch(built[i][0], record)

        pack, path = assemble([member for _, member in built], ran, data, settings, device,
                              member_epoch)
        with precision.using(path):   # what runs member by member computes as a trial's
            time_phase1, time_phase2 = fit(pack)
            scored = split_scores(pack, bundle)
            for i, (index, member) in enumerate(built):
                if member.error is not None:
                    outcomes[index] = member.error
                    continue
                outcomes[index] = member_result(member, configs[index], bundle,
                                                time_init + time_phase1, time_phase2,
                                                len(built), device, ran, scored.get(i))
                if on_model is not None and not isinstance(outcomes[index], str):
                    on_model(index, serialise_model(member.model, configs[index], bundle.tasks,
                                                    bundle.input_shape, bundle.name,
                                                    versions()["paretoctl"]))
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


__all__ = ["MemberOutcome", "packable", "train_packed"]
