"""One trial, as a pure function of its config: build data, model and method, let the
method fit the model (its own schedule, or the generic loop), evaluate every split of the
final model (for WC-AL with k0 > 0: sparse and tied), return the evaluated points (never
touches the store).

Times: ``time_phase1_s`` is everything before retraining (LSUV, phase 1, clustering) or
the whole single stage; ``time_phase2_s`` is the retraining phase (the time the MDMTN
paper reports for k0 > 0), None without one; ``time_train_s`` is their sum.

A trial config is the dict the orchestrator expands from a sweep (see
orchestrator/expand.py): ``key, dataset{name, options}, arch{name, options},
method{name, params}, preference, seed, train{...}`` plus ``runtime{data_dir, threads}``,
which does not define the trial and so is not part of its key. Threads, deterministic
algorithms and every RNG are fixed first (trainers/reproducibility.py).
"""
from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from trainers.datasets import DATASETS, SPLITS, DatasetBundle
from trainers.loop import TrainData, TrainingDiverged, evaluate, sparsity_objective
from trainers.methods import METHODS, Method
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


def load_dataset(config: dict[str, Any]) -> DatasetBundle:
    source = DATASETS.get(config["dataset"]["name"])
    data_dir = config.get("runtime", {}).get("data_dir")
    return source.build(config["dataset"].get("options", {}), Path(data_dir) if data_dir else None)


def build_model(config: dict[str, Any], bundle: DatasetBundle, method: Method) -> MultiTaskNet:
    """The sweep's architecture, as the method wraps it (COSMOS, PHN) or as it is."""
    builder = ARCHITECTURES.get(config["arch"]["name"])
    options = config["arch"].get("options", {})

    def build(input_shape: tuple[int, ...]) -> MultiTaskNet:
        return builder(bundle.tasks, input_shape, bundle.name, options)

    return method.build_model(build, bundle.input_shape)


def finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate_points(model: MultiTaskNet, method: Method, bundle: DatasetBundle,
                    config: dict[str, Any], settings: TrainSettings,
                    time_train_s: float) -> list[dict[str, Any]]:
    """One point per split and evaluation ray (one ray unless the method learns a front):
    per-task loss/accuracy plus the model-level sparsity figures."""
    with torch.no_grad():
        l0 = float(sparsity_objective(model, method.params))
    metrics = sparsity_metrics(model)
    n_params = count_parameters(model)
    rays = method.eval_rays()
    points = []
    for ray_index, ray in enumerate(rays):
        method.condition(model, ray)
        for split in SPLITS:
            points.append(evaluate_point(model, bundle, split, settings, {
                "ray_index": ray_index,
                "preference": config.get("preference") if len(rays) == 1 else ray,
                "sparsity": finite(l0),
                "metrics": {k: finite(v) if isinstance(v, float) else v
                            for k, v in metrics.items()},
                "n_params": n_params,
                "time_train_s": time_train_s,
            }))
    return points


def evaluate_point(model: MultiTaskNet, bundle: DatasetBundle, split: str,
                   settings: TrainSettings, fields: dict[str, Any]) -> dict[str, Any]:
    """The stored point of one split: per-task scores plus the given ``fields``."""
    start = time.perf_counter()
    scores = evaluate(model, bundle.splits[split], bundle.tasks, settings.eval_batch_size)
    for task, loss in zip(bundle.tasks, scores.losses):
        if not math.isfinite(loss):  # a diverged model: no point, the trial fails
            raise TrainingDiverged(f"training diverged: the {split} loss of task "
                                   f"{task.name} is {loss} after training")
    return {"split": split, **fields,
            "tasks": {task.name: {"loss": finite(loss), "acc": finite(acc)}
                      for task, loss, acc in zip(bundle.tasks, scores.losses, scores.accs)},
            "time_eval_s": time.perf_counter() - start}


def run_trial(config: dict[str, Any],
              on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train and evaluate one trial; returns the result dict the store records."""
    settings = TrainSettings.resolve(config["train"])
    device = resolve_device(settings.device)
    generator = reproducible(int(config["seed"]), config.get("runtime", {}).get("threads"),
                             device)
    bundle = load_dataset(config)
    splits = {name: split.to(device) for name, split in bundle.splits.items()}
    bundle = DatasetBundle(bundle.name, bundle.tasks, bundle.input_shape, splits, bundle.info)

    method_cls = METHODS.get(config["method"]["name"])
    method = method_cls(config.get("preference"), config["method"]["params"], len(bundle.tasks))
    method.to(device)
    model = build_model(config, bundle, method).to(device)

    data = TrainData(bundle.tasks, bundle.splits["train"], bundle.splits["val"])
    outcome = method.fit(model, data, settings, generator, on_epoch)
    points = evaluate_points(model, method, bundle, config, settings, outcome.time_train_s)
    return {
        "points": points,
        "time_train_s": outcome.time_train_s,
        "time_phase1_s": outcome.time_phase1_s,
        "time_phase2_s": outcome.time_phase2_s,
        "device": str(device),
        "versions": versions(),
        "info": {"best_epoch": outcome.best_epoch, "best_val_score": outcome.best_val_score,
                 "method_state": method.state(), "history": outcome.history, **outcome.info},
    }
