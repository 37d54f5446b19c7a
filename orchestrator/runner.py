"""Run expanded trials as Ray Tune trials; the driver is the only writer to the store.

Each trial runs :func:`trainers.trial.run_trial` inside a Tune function trainable with
the spec's resources and reports its result (the evaluated points) once, as JSON. A Tune
callback on the driver (:class:`StoreWriter`) persists results, marks failures and feeds
the progress display, so trials never open the database and SQLite sees one writer.
"""
from __future__ import annotations

import json
import logging
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

from ray.tune import Callback

from orchestrator import paths
from orchestrator.progress import SweepProgress

RESULT_KEY = "paretoctl_result"
ERROR_KEY = "paretoctl_error"


def trial_trainable(config: dict[str, Any]) -> None:
    """Tune entry point (runs in a Ray worker): one trial, one report."""
    from ray import tune

    from trainers.trial import run_trial

    trial = config["trial"]
    try:
        result = run_trial(trial)
    except Exception as exc:  # recorded as a failed trial; the sweep goes on
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        tune.report({ERROR_KEY: detail, "trial_key": trial["key"]})
        return
    tune.report({RESULT_KEY: json.dumps(result), "trial_key": trial["key"]})


@dataclass
class SweepOutcome:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


class StoreWriter(Callback):
    """Persists each trial's reported points on the driver.

    Tune pickles its callbacks with the experiment state (for restores); the live store
    and progress handles are process-local, so they are left out of the pickled state.
    """

    def __init__(self, store, outcome: SweepOutcome, progress: SweepProgress) -> None:
        self.store, self.outcome, self.progress = store, outcome, progress

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.store = self.outcome = self.progress = None

    @staticmethod
    def _key(trial) -> str:
        return trial.config["trial"]["key"]

    def on_trial_start(self, iteration, trials, trial, **info):
        self.store.mark_running(self._key(trial))
        self.progress.started(self._key(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        key = self._key(trial)
        if ERROR_KEY in result:
            self._fail(key, result[ERROR_KEY])
        elif RESULT_KEY in result:
            self.store.record_result(key, json.loads(result[RESULT_KEY]))
            self.outcome.done.append(key)
            self.progress.finished(key, ok=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        key = self._key(trial)
        if key not in self.outcome.failed:
            self._fail(key, f"Ray trial error (see {trial.local_path})")

    def _fail(self, key: str, message: str) -> None:
        self.store.mark_failed(key, message)
        self.outcome.failed[key] = message
        self.progress.finished(key, ok=False)


def init_ray(address: str | None, num_cpus: int | None) -> None:
    """Start (or join) Ray quietly: no dashboard, worker output kept out of the terminal."""
    import ray

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1e9")
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  logging_level=logging.ERROR, configure_logging=True)
    if address:
        ray.init(address=address, **kwargs)
    else:
        temp = paths.ray_temp_dir()
        temp.mkdir(parents=True, exist_ok=True)
        ray.init(num_cpus=num_cpus, _temp_dir=str(temp), **kwargs)
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def run_trials(trials: list[dict[str, Any]], store, sweep_name: str, *,
               cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int,
               address: str | None = None, progress: SweepProgress) -> SweepOutcome:
    """Run ``trials`` through Ray Tune and record every result in ``store``."""
    from ray import tune

    outcome = SweepOutcome()
    if not trials:
        return outcome
    init_ray(address, num_cpus=None)
    trainable = tune.with_resources(trial_trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
    results_dir = paths.ray_results_dir()
    results_dir.mkdir(parents=True, exist_ok=True)
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(trials)},
        tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=False),
        run_config=tune.RunConfig(
            name=sweep_name, storage_path=str(results_dir), verbose=0,
            callbacks=[StoreWriter(store, outcome, progress)],
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    tuner.fit()
    return outcome
