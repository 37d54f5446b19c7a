"""One trial, as a pure function of its config: build data, model and method, let the
method fit the model (its own schedule, or the generic loop), evaluate every split of the
final model (for WC-AL with k0 > 0: sparse and tied), return the evaluated points (never
touches the store). Fitting and evaluation run on the fast path ``train.precision``
resolves to on this device (trainers/precision.py); the result says which precision ran.
A train split over ``TRAIN_EVAL_SAMPLE`` examples is evaluated on a fixed sample of them.

Times: ``time_phase1_s`` is everything before retraining (LSUV, phase 1, clustering) or
the whole single stage; ``time_phase2_s`` is the retraining phase (the time the MDMTN
paper reports for k0 > 0), None without one; ``time_train_s`` is their sum.

A trial config is a ``contract.trial.TrialConfig`` or its plain form (what the
orchestrator expands from a sweep and sends through Ray); the result is a
``contract.result.TrialResult`` in its plain form. Threads, deterministic algorithms and
every RNG are fixed first (trainers/reproducibility.py).
"""
from __future__ import annotations

import dataclasses
import math
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from contract.result import Point, TrialResult
from contract.trial import TrialConfig
from trainers import precision
from trainers.datasets import DATASETS, SPLITS, DatasetBundle, Split
from trainers.loop import FitOutcome, SplitScores, TrainData, TrainingDiverged, evaluate, \
    sparsity_objective
from trainers.methods import METHODS, Method
from trainers.methods.base import SPARSITY_PARAMS
from trainers.metrics import count_parameters, sparsity_metrics
from trainers.models import ARCHITECTURES, MultiTaskNet
from trainers.reproducibility import reproducible
from trainers.settings import TrainSettings, resolve_device


def versions() -> dict[str, str]:
    """Versions that can change results; stored with every trial."""
    import numpy
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool = version("paretoctl")
    except PackageNotFoundError:  # running from a source tree
        tool = "dev"
    return {"paretoctl": tool, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version()}


def load_dataset(config: TrialConfig) -> DatasetBundle:
    source = DATASETS.get(config.dataset.name)
    data_dir = config.runtime.data_dir
    return source.build(config.dataset.options, Path(data_dir) if data_dir else None)


def build_model(config: TrialConfig, bundle: DatasetBundle, method: Method) -> MultiTaskNet:
    """The sweep's architecture, as the method wraps it (COSMOS, PHN) or as it is."""
    builder = ARCHITECTURES.get(config.arch.name)
    options = config.arch.options

    def build(input_shape: tuple[int, ...]) -> MultiTaskNet:
        return builder(bundle.tasks, input_shape, bundle.name, options)

    return method.build_model(build, bundle.input_shape)


#: methods whose own arithmetic fails under autocast, and why (they run fp32)
AUTOCAST_UNSAFE = {"kdmtl": "kdmtl's distillation term (torch.dot of float32 weights and "
                            "bf16 features) does not run under bf16 autocast"}


def trial_precision(config: TrialConfig, bundle: DatasetBundle, device: torch.device) -> str:
    """``train.precision`` resolved on this device for the sweep's architecture (its
    forward cost is counted on a throw-away copy, only when ``auto`` needs it)."""
    builder = ARCHITECTURES.get(config.arch.name)

    def mflop() -> float | None:
        return precision.forward_mflop(
            lambda: builder(bundle.tasks, bundle.input_shape, bundle.name, config.arch.options),
            bundle.input_shape)

    return precision.resolve(config.train.precision, precision.bf16_unit(device), mflop,
                             measured=config.arch.name in precision.BF16_ARCHITECTURES,
                             unsafe=AUTOCAST_UNSAFE.get(config.method.name))


def finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


#: the train split's point is computed on a fixed sample of at most this many examples
#: (``train.eval_train: full`` evaluates all): a training fit figure, not a test score
TRAIN_EVAL_SAMPLE = 10_000


def train_sampled(bundle: DatasetBundle, settings: TrainSettings) -> bool:
    return settings.eval_train == "sample" and len(bundle.splits["train"]) > TRAIN_EVAL_SAMPLE


def evaluated_splits(bundle: DatasetBundle, settings: TrainSettings) -> dict[str, Split]:
    """The splits the stored points are computed on: every split whole, except a train
    split larger than ``TRAIN_EVAL_SAMPLE`` under ``eval_train: sample``, which becomes the
    same seeded sample in every trial (so train points of trials on one data set compare)."""
    splits = {name: bundle.splits[name] for name in SPLITS}
    train = splits["train"]
    if train_sampled(bundle, settings):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        keep = order[:TRAIN_EVAL_SAMPLE].sort().values.to(train.x.device)
        splits["train"] = Split(train.x[keep], train.y[keep])
    return splits


#: a split's scores computed elsewhere (a pack's batched evaluation) and their seconds
Scored = tuple[SplitScores, float]


def evaluate_points(model: MultiTaskNet, method: Method, bundle: DatasetBundle,
                    config: TrialConfig, settings: TrainSettings,
                    time_train_s: float, scored: dict[str, Scored] | None = None) -> list[Point]:
    """One point per split and evaluation ray (one ray unless the method learns a front):
    per-task loss/accuracy plus the model-level sparsity figures. ``scored`` gives every
    split's scores already computed for the model (one ray only); else they are computed."""
    with torch.no_grad():  # at the paper's betas unless the method takes its own
        l0 = float(sparsity_objective(model, {**SPARSITY_PARAMS, **method.params}))
    metrics = {k: finite(v) if isinstance(v, float) else v
               for k, v in sparsity_metrics(model).items()}
    metrics |= {"sparsity": finite(l0), "n_params": count_parameters(model)}
    splits = evaluated_splits(bundle, settings)
    rays = method.eval_rays()
    if scored is not None and len(rays) != 1:
        raise ValueError("scores computed elsewhere serve a method with one evaluation ray")
    points = []
    for ray_index, ray in enumerate(rays):
        method.condition(model, ray)
        preference = config.preference if len(rays) == 1 else ray
        for split in SPLITS:
            point = Point(split, ray_index, None if preference is None else tuple(preference),
                          metrics=dict(metrics), time_train_s=time_train_s)
            points.append(scored_point(bundle, *scored[split], point) if scored is not None
                          else evaluate_point(model, bundle, splits[split], settings, point))
    return points


def evaluate_point(model: MultiTaskNet, bundle: DatasetBundle, data: Split,
                   settings: TrainSettings, point: Point) -> Point:
    """``point`` with its per-task scores on ``data`` (its split) and evaluation time."""
    start = time.perf_counter()
    scores = evaluate(model, data, bundle.tasks, settings.eval_batch_size)
    return scored_point(bundle, scores, time.perf_counter() - start, point)


def scored_point(bundle: DatasetBundle, scores: SplitScores, seconds: float,
                 point: Point) -> Point:
    """``point`` with ``scores`` (its split's) and the ``seconds`` they took; a non-finite
    loss is a diverged model, which fails the trial."""
    for task, loss in zip(bundle.tasks, scores.losses):
        if not math.isfinite(loss):  # a diverged model: no point, the trial fails
            raise TrainingDiverged(f"training diverged: the {point.split} loss of task "
                                   f"{task.name} is {loss} after training")
    tasks = {task.name: (finite(loss), finite(acc))
             for task, loss, acc in zip(bundle.tasks, scores.losses, scores.accs)}
    return dataclasses.replace(point, tasks=tasks, time_eval_s=seconds)


def result_info(outcome: FitOutcome, method: Method, bundle: DatasetBundle,
                settings: TrainSettings) -> dict[str, Any]:
    """The result's ``info``: the checkpoint, the method's state, the history, the
    schedule's own figures, and the train sample where the train split was sampled (a
    pack's member records this too, trainers/packing/train.py)."""
    return {"best_epoch": outcome.best_epoch, "best_val_score": outcome.best_val_score,
            "method_state": method.state(), "history": outcome.history, **outcome.info,
            **({"train_eval": {"n": TRAIN_EVAL_SAMPLE, "of": len(bundle.splits["train"])}}
               if train_sampled(bundle, settings) else {})}


def run_trial(config: TrialConfig | dict[str, Any],
              on_epoch: Callable[[dict[str, Any]], None] | None = None,
              on_model: Callable[[bytes], None] | None = None, *,
              bundle: DatasetBundle | None = None) -> dict[str, Any]:
    """Train and evaluate one trial; returns the plain ``TrialResult`` the store records.
    ``on_model`` receives the trained model as safetensors bytes (trainers/artifacts.py);
    ``bundle`` is the trial's data set when the caller loaded it already (a pack loads it
    once for all its members); it is only read."""
    if not isinstance(config, TrialConfig):
        config = TrialConfig.from_plain(config)
    settings = config.train
    device = resolve_device(settings.device)
    generator = reproducible(int(config.seed), config.runtime.threads, device)
    bundle = (bundle if bundle is not None else load_dataset(config)).to(device)

    method_cls = METHODS.get(config.method.name)
    preference = None if config.preference is None else list(config.preference)
    method = method_cls(preference, config.method.options, len(bundle.tasks))
    method.to(device)
    model = build_model(config, bundle, method).to(device)

    ran = trial_precision(config, bundle, device)
    path = precision.choose(ran, model, device)
    path.prepare(model)

    data = TrainData(bundle.tasks, bundle.splits["train"], bundle.splits["val"])
    with precision.using(path):
        outcome = method.fit(model, data, settings, generator, on_epoch)
        points = evaluate_points(model, method, bundle, config, settings, outcome.time_train_s)
    if on_model is not None:
        from trainers.artifacts import serialise_model

        on_model(serialise_model(model, config, bundle.tasks, bundle.input_shape, bundle.name,
                                 versions()["paretoctl"]))
    return TrialResult(
        points=tuple(points), time_train_s=outcome.time_train_s,
        time_phase1_s=outcome.time_phase1_s, time_phase2_s=outcome.time_phase2_s,
        device=str(device), precision=ran, versions=versions(),
        info=result_info(outcome, method, bundle, settings),
    ).to_plain()
