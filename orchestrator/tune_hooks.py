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
            reason, node = describe_crash(trial)
            record_run(self.store, key, node=node, attempts=max(trial.num_failures, 1))
            self._fail(key, f"{reason} after {retries} "
                            f"{'retry' if retries == 1 else 'retries'} (see {trial.local_path})")

    def _fail(self, key: str, message: str) -> None:
        self.store.mark_failed(key, message)
        self.outcome.failed[key] = message
        self.progress.finished(key, ok=False)


def attempts(trial) -> int:
    """How many times Tune has started ``trial``: its failures so far, plus this start."""
    return int(getattr(trial, "num_failures", 0) or 0) + 1


def describe_crash(trial) -> tuple[str, str | None]:
    """One line on why Tune gave up on ``trial`` (its worker died, its node was lost, or
    the exception), and the node its worker ran on (``IP/NODE_ID``) when Ray knows it."""
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
        return "Ray trial error", None
    cause = getattr(exc, "cause", None) or exc
    actor_error = next((e for e in (exc, cause) if isinstance(e, RayActorError)), None)
    if actor_error is not None:
        node, alive = actor_node(actor_error.actor_id)
        if node is None:
            return "worker process died", None
        if alive:
            return f"worker process died on node {node}", node
        return f"node lost: {node}", node
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"{type(exc).__name__}: {first}" if first else type(exc).__name__), None


def actor_node(actor_id: str | None) -> tuple[str | None, bool]:
    """``(IP/NODE_ID, alive)`` of the node the actor ``actor_id`` was placed on, from
    Ray's GCS; ``(None, True)`` when Ray does not say. A node that was just lost may
    still count as alive for a while (Ray's health checks take seconds to notice)."""
    import ray

    try:
        from ray._private.state import actors

        address = actors(actor_id=actor_id)["Address"] if actor_id else None
        if not address or not address.get("NodeID"):
            return None, True
        alive = any(n["NodeID"] == address["NodeID"] and n.get("Alive") for n in ray.nodes())
    except Exception:  # Ray's tables are a help for the message, never a reason to stop
        return None, True
    return f"{address['IPAddress']}/{address['NodeID']}", alive


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
