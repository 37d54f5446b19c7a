"""The driver's hooks into a Ray Tune run: the store writer and the stop switch.

Imported only after Ray is initialised (see orchestrator.runner). Tune pickles its
callbacks and stoppers with the experiment state (for restores); the live store,
progress and stop handles are process-local, so they are left out of the pickled state.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ray.tune import Callback
from ray.tune.stopper import Stopper

from orchestrator.progress import SweepProgress
from orchestrator.runner import (EPOCH_KEY, ERROR_KEY, FINISHED_KEY, MODEL_KEY, NODE_KEY,
                                 RESULT_KEY, SweepOutcome)
from store import writes
from store.writes import record_run


class StoreWriter(Callback):
    """Persists each trial's reported points on the driver, its epochs as they come
    (EPOCH_KEY, in intermediate reports and beside the result; only RESULT_KEY or
    ERROR_KEY ends a trial), and its trained model as a file in ``artifacts``
    (trainers/artifacts.py; None: not saved); a pack's members (one Ray trial,
    orchestrator/packs.py) each as their own trial.

    ``paused`` turns writing off (the sweep's lease went to another run, which now owns
    these trials' rows)."""

    def __init__(self, store, outcome: SweepOutcome, progress: SweepProgress,
                 paused: Callable[[], bool] = lambda: False, artifacts: Path | None = None) -> None:
        self.store, self.outcome, self.progress, self.paused = store, outcome, progress, paused
        self.artifacts = artifacts

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.store = self.outcome = self.progress = self.paused = self.artifacts = None

    @staticmethod
    def _key(trial) -> str:
        return StoreWriter._keys(trial)[0]

    @staticmethod
    def _keys(trial) -> list[str]:
        """The store trials a Ray trial runs: a pack's members, or the one trial."""
        pack = trial.config.get("pack")
        return [member["key"] for member in pack] if pack else [trial.config["trial"]["key"]]

    def _finished(self, key: str) -> bool:
        return key in self.outcome.failed or key in self.outcome.done

    def on_trial_start(self, iteration, trials, trial, **info):
        if self.paused():
            return
        if "pack" in trial.config:
            return self._start_pack(self._keys(trial), attempts(trial))
        key = self._key(trial)
        self.store.mark_running(key)
        writes.clear_epochs(self.store, key)  # this attempt's epochs replace any earlier ones
        record_run(self.store, key, attempts=attempts(trial))
        if key not in self.outcome.started:  # a retried trial starts again
            self.outcome.started.append(key)
        self.progress.started(key)

    def _start_pack(self, keys: list[str], tries: int) -> None:
        """Every member not finished yet runs (a retried pack skips the others, see
        on_trial_recover; the ones already recorded stay as they are)."""
        todo = [key for key in keys if not self._finished(key)]
        self.store.start_pack(todo, keys[0] if len(keys) > 1 else None)
        for key in todo:
            writes.clear_epochs(self.store, key)
            record_run(self.store, key, attempts=tries)
            if key not in self.outcome.started:
                self.outcome.started.append(key)
            self.progress.started(key)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        # Tune keeps the result (we may change it in place): the model's bytes stay out of
        # its experiment state
        model = result.pop(MODEL_KEY, None)
        if self.paused():
            return
        # a pack reports once per member, each with the member's key
        key = result.get("trial_key", self._key(trial))
        if self._finished(key):  # a retried pack's member, recorded before the retry
            return
        if ERROR_KEY in result or RESULT_KEY in result:  # first: a done row names its node
            record_run(self.store, key, node=result.get(NODE_KEY), attempts=attempts(trial))
        if EPOCH_KEY in result:  # progress only: a report without a result or error is no end
            epochs = json.loads(result[EPOCH_KEY])
            writes.record_epochs(self.store, key, epochs)
            self.progress.epoch(key, epochs[-1])
        if ERROR_KEY in result:
            self._fail(key, result[ERROR_KEY])
        elif RESULT_KEY in result:
            try:
                artifact = self._save_model(key, model)
            except OSError as exc:
                self._fail(key, f"cannot save the trained model in {self.artifacts}: {exc}")
                return
            self.store.record_result(key, json.loads(result[RESULT_KEY]), artifact=artifact)
            self.outcome.done.append(key)
            self.progress.finished(key, ok=True)

    def _save_model(self, key: str, model: bytes | None):
        """The model file the trial reported, written on the driver (none: nothing saved)."""
        if self.artifacts is None or model is None:
            return None
        from trainers.artifacts import save_trial_model

        return save_trial_model(self.artifacts, key, model)

    def on_trial_recover(self, iteration, trials, trial, **info):
        """A crashed pack is about to be retried: Tune starts it again with
        ``trial.config`` (a new worker or a reused one), so the members recorded so far go
        in it and are not trained again. Every result the crashed worker delivered was
        handled before Tune saw the crash (it asks for the next result only after the
        last one); a member whose result died with the worker is not recorded and runs."""
        if "pack" in trial.config:
            finished = [key for key in self._keys(trial) if self._finished(key)]
            trial.set_config({**trial.config, FINISHED_KEY: finished})

    def on_trial_error(self, iteration, trials, trial, **info):
        # Tune calls this only once no retry is left (on_trial_recover while one is);
        # a crashed pack fails the members it had not finished
        todo = [key for key in self._keys(trial) if not self._finished(key)]
        if todo and not self.paused():
            retries = max(trial.num_failures - 1, 0)
            reason, node = describe_crash(trial)
            message = (f"{reason} after {retries} "
                       f"{'retry' if retries == 1 else 'retries'} (see {trial.local_path})")
            for key in todo:
                record_run(self.store, key, node=node, attempts=max(trial.num_failures, 1))
                self._fail(key, message)

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
