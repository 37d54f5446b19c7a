"""The driver's hooks into a Ray Tune run: the store writer and the stop switch.

Imported only after Ray is initialised (see orchestrator.runner). Tune pickles its
callbacks and stoppers with the experiment state (for restores); the live store,
progress and stop handles are process-local, so they are left out of the pickled state.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from ray.tune import Callback
from ray.tune.stopper import Stopper

from orchestrator.progress import SweepProgress
from orchestrator.runner import ERROR_KEY, NODE_KEY, RESULT_KEY, SweepOutcome
from store.writes import record_run


class StoreWriter(Callback):
    """Persists each trial's reported points on the driver.

    ``paused`` turns writing off (the sweep's lease went to another run, which now owns
    these trials' rows)."""

    def __init__(self, store, outcome: SweepOutcome, progress: SweepProgress,
                 paused: Callable[[], bool] = lambda: False) -> None:
        self.store, self.outcome, self.progress, self.paused = store, outcome, progress, paused

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.store = self.outcome = self.progress = self.paused = None

    @staticmethod
    def _key(trial) -> str:
        return trial.config["trial"]["key"]

    def on_trial_start(self, iteration, trials, trial, **info):
        if self.paused():
            return
        key = self._key(trial)
        self.store.mark_running(key)
        record_run(self.store, key, attempts=attempts(trial))
        if key not in self.outcome.started:  # a retried trial starts again
            self.outcome.started.append(key)
        self.progress.started(key)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.paused():
            return
        key = self._key(trial)
        if ERROR_KEY in result or RESULT_KEY in result:  # first: a done row names its node
            record_run(self.store, key, node=result.get(NODE_KEY), attempts=attempts(trial))
        if ERROR_KEY in result:
            self._fail(key, result[ERROR_KEY])
        elif RESULT_KEY in result:
            self.store.record_result(key, json.loads(result[RESULT_KEY]))
            self.outcome.done.append(key)
            self.progress.finished(key, ok=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        # Tune calls this only once no retry is left (on_trial_recover while one is)
        key = self._key(trial)
        if key not in self.outcome.failed and not self.paused():
            retries = max(trial.num_failures - 1, 0)
            record_run(self.store, key, attempts=max(trial.num_failures, 1))
            self._fail(key, f"{describe_crash(trial)} after {retries} "
                            f"{'retry' if retries == 1 else 'retries'} (see {trial.local_path})")

    def _fail(self, key: str, message: str) -> None:
        self.store.mark_failed(key, message)
        self.outcome.failed[key] = message
        self.progress.finished(key, ok=False)


def attempts(trial) -> int:
    """How many times Tune has started ``trial``: its failures so far, plus this start."""
    return int(getattr(trial, "num_failures", 0) or 0) + 1


def describe_crash(trial) -> str:
    """One line on why Tune gave up on ``trial``: its worker died, or the exception."""
    import cloudpickle
    from ray.exceptions import RayActorError

    exc = None
    try:  # Tune writes it locally first (get_pickled_error reads storage, synced later)
        if trial.pickled_error_file:
            with open(trial.pickled_error_file, "rb") as f:
                exc = cloudpickle.load(f)
    except Exception:  # an unreadable error file still leaves the trial failed
        exc = None
    if exc is None:
        return "Ray trial error"
    cause = getattr(exc, "cause", None) or exc
    if isinstance(exc, RayActorError) or isinstance(cause, RayActorError):
        return "worker process died"
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class StopWhen(Stopper):
    """Stops the whole run (no new trial starts, running ones are stopped) as soon as
    ``should_stop()`` is true: a signal arrived, or the sweep's lease was lost."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.should_stop = lambda: False

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return bool(self.should_stop())
