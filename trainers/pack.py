"""Run a pack: trials that differ only in preference and seed, in one process.

Where the batched trainer (``trainers.packing``) is installed and says it can train the
pack, the members train together as one batched model. Otherwise they run one after
another with :func:`trainers.trial.run_trial`, the data set loaded once: still one worker
and one data load for the whole pack, and each member computes exactly what it computes
on its own. Either way every member's outcome goes to ``on_member`` as soon as it
exists: its plain ``TrialResult`` and its trained model (safetensors bytes,
trainers/artifacts.py), or the one-line error that failed it alone (and no model).
"""
from __future__ import annotations

import json
import traceback
from typing import Any, Callable

from contract.trial import TrialConfig

#: a member's outcome: its plain TrialResult, or the error text that failed it
MemberOutcome = dict[str, Any] | str
#: called as on_epoch(key, record) with a member's epoch record, as run_trial's on_epoch
OnEpoch = Callable[[str, dict[str, Any]], None]
#: called as on_member(key, outcome, model bytes or None)
OnMember = Callable[[str, MemberOutcome, "bytes | None"], None]


def error_text(exc: BaseException) -> str:
    """The exception as the store shows a failed trial's error (type and message)."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def batched_core() -> tuple[Callable, Callable] | None:
    """``(packable, train_packed)`` of the batched trainer, or None where it is not
    installed (an import error inside it is a bug and is raised)."""
    try:
        from trainers.packing import packable, train_packed
    except ModuleNotFoundError as exc:
        if exc.name != "trainers.packing":
            raise
        return None
    return packable, train_packed


def run_pack(configs: list[TrialConfig | dict[str, Any]], on_member: OnMember,
             on_epoch: OnEpoch | None = None, gpu_share: float | None = None) -> str:
    """Train and evaluate every member of the pack, calling ``on_member(key, outcome,
    model)`` once per member and ``on_epoch(key, record)`` after each member's epoch;
    returns how it ran: ``"batched"`` or ``"sequential"``. ``gpu_share`` (``pack: auto``
    with GPUs): the batched model is trained in chunks that fit this share of the device
    (trainers/packing/device_fit.py); None: the whole pack at once."""
    members = [c if isinstance(c, TrialConfig) else TrialConfig.from_plain(c) for c in configs]
    core = batched_core()
    if core is not None and len(members) > 1:
        packable, train_packed = core
        if packable(members) is None:
            run_batched(members, train_packed, on_member, on_epoch, gpu_share)
            return "batched"
    run_sequential(members, on_member, on_epoch)
    return "sequential"


def run_batched(members: list[TrialConfig], train_packed: Callable,
                on_member: OnMember, on_epoch: OnEpoch | None = None,
                gpu_share: float | None = None) -> None:
    """The pack as one batched model, or as batched chunks that fit ``gpu_share`` of the
    device; an error of a batched run (or of sizing the chunks) as a whole fails every
    member it trains with it."""
    sizes, host = [len(members)], None
    if gpu_share is not None:
        try:
            from trainers.packing.device_fit import chunk_sizes, fitting_size
            from trainers.packing.train import device_data
            from trainers.settings import resolve_device

            # the data set loaded and moved to the device once: for the probe, every chunk
            host, _ = device_data(members[0], resolve_device(members[0].train.device))
            sizes = chunk_sizes(len(members), fitting_size(members, gpu_share, host))
        except Exception as exc:
            for member in members:
                on_member(member.key, f"pack sizing failed: {error_text(exc)}", None)
            return
    start = 0
    for size in sizes:
        run_chunk(members[start:start + size], train_packed, on_member, on_epoch, host)
        start += size


def run_chunk(members: list[TrialConfig], train_packed: Callable,
              on_member: OnMember, on_epoch: OnEpoch | None = None,
              host: Any = None) -> None:
    """``members`` as one batched model (``host``: their data set, already loaded)."""
    models: dict[int, bytes] = {}
    try:
        member_epoch = None if on_epoch is None else (
            lambda index, record: on_epoch(members[index].key, record))
        loaded = {} if host is None else {"host": host}
        outcomes = train_packed(members, on_epoch=member_epoch, on_model=models.__setitem__,
                                **loaded)
    except Exception as exc:
        outcomes, models = [f"pack training failed: {error_text(exc)}"] * len(members), {}
    if len(outcomes) != len(members):
        outcomes = [f"pack training returned {len(outcomes)} outcomes for "
                    f"{len(members)} members"] * len(members)
    for index, (member, outcome) in enumerate(zip(members, outcomes)):
        on_member(member.key, outcome, None if isinstance(outcome, str) else models.get(index))


def run_sequential(members: list[TrialConfig], on_member: OnMember,
                   on_epoch: OnEpoch | None = None) -> None:
    """The members one after another, each data set loaded (and moved to the device)
    once; a member that fails (an exception, a diverged training) fails alone and the next
    one runs."""
    from trainers.settings import resolve_device
    from trainers.trial import load_dataset, run_trial

    bundles: dict[str, Any] = {}
    for member in members:
        models: list[bytes] = []
        try:
            device = resolve_device(member.train.device)
            data = json.dumps([member.dataset.to_plain(), member.runtime.data_dir, str(device)],
                              sort_keys=True)
            if data not in bundles:
                bundles[data] = load_dataset(member).to(device)
            epoch = None if on_epoch is None else (
                lambda record, key=member.key: on_epoch(key, record))
            outcome: MemberOutcome = run_trial(member, on_epoch=epoch, on_model=models.append,
                                               bundle=bundles[data])
        except Exception as exc:  # this member fails; the pack goes on
            outcome, models = error_text(exc), []
        on_member(member.key, outcome, models[0] if models else None)
