"""Run expanded trials as Ray Tune trials; the driver is the only writer to the store.

Each trial runs :func:`trainers.trial.run_trial` inside a Tune function trainable with
the spec's resources, reports its finished epochs as they come (live progress) and then
its result (the evaluated points) once, as JSON. A Tune callback on the driver
(``orchestrator.tune_hooks.StoreWriter``) persists epochs and results, marks failures
and feeds the progress display, so trials never open the database.

Ray is imported only inside these functions: a local Ray must be told to stay on the
loopback interface before Ray's constants are first imported (see :func:`init_ray`).
"""
from __future__ import annotations

import atexit
import contextlib
import gc
import ipaddress
import json
import logging
import math
import os
import socket
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from orchestrator import paths

if TYPE_CHECKING:  # rich stays out of the Ray workers, which import this module
    from orchestrator.progress import SweepProgress

RESULT_KEY = "paretoctl_result"
#: the trained model's safetensors bytes, beside RESULT_KEY; the driver writes the file
MODEL_KEY = "paretoctl_model"
ERROR_KEY = "paretoctl_error"
# finished epochs (a JSON list of records): an intermediate report, or beside the result
EPOCH_KEY = "paretoctl_epochs"
# a trial reports its epochs at most this often (each report waits for the driver); the
# ones in between go with the next report or the result
EPOCH_REPORT_EVERY_S = 1.0
NODE_KEY = "paretoctl_node"
#: a pack's Tune config: the GPU share its worker sizes batched chunks against (packs.gpu_share)
PACK_SHARE_KEY = "gpu_share"
#: in a retried pack's config: the members whose outcome the driver has recorded already
#: (StoreWriter.on_trial_recover), which the retry does not train again
FINISHED_KEY = "finished"
# Ray reads this once, when it is first imported: "0" makes a local Ray pick the loopback
# address as its node address, so every server it starts binds 127.0.0.1 only
_RAY_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_AUTH_MODE = "RAY_AUTH_MODE"
# a Ray head answers at once; no answer in this time means nothing listens there
_PROBE_TIMEOUT_S = 10.0


class EpochReports:
    """Finished epochs waiting to go to the driver, per trial key: the first at once, then
    at most every EPOCH_REPORT_EVERY_S (each report waits for the driver); what is left
    goes with the trial's final report (``take``)."""

    def __init__(self, report: Callable[[dict[str, Any]], None]) -> None:
        import time

        self.clock = time.monotonic
        self.report, self.start, self.last = report, self.clock(), -math.inf
        self.waiting: dict[str, list[dict[str, Any]]] = {}

    def add(self, key: str, record: dict[str, Any]) -> None:
        self.waiting.setdefault(key, []).append({**record, "elapsed_s": self.clock() - self.start})
        if self.clock() - self.last >= EPOCH_REPORT_EVERY_S:
            for waiting in list(self.waiting):
                self.report({**self.take(waiting), "trial_key": waiting})
            self.last = self.clock()

    def take(self, key: str) -> dict[str, str]:
        """The trial's unreported epochs as report fields (none: nothing)."""
        records = self.waiting.pop(key, [])
        # str() for anything JSON lacks; the driver cleans NaN before storing
        return {EPOCH_KEY: json.dumps(records, default=str)} if records else {}


def trial_trainable(config: dict[str, Any]) -> None:
    """Tune entry point (runs in a Ray worker): one trial. Finished epochs are reported as
    they come (EpochReports), then one final report, the result or the error, with the
    epochs not reported yet and the node it ran on."""
    from ray import tune

    from trainers.errors import DataError
    from trainers.settings import release_cached_memory
    from trainers.trial import run_trial

    limit_to_assigned_gpus()
    trial = config["trial"]
    key = trial["key"]
    epochs = EpochReports(tune.report)
    models: list[bytes] = []
    node = worker_node()
    try:
        result = run_trial(trial, on_epoch=lambda record: epochs.add(key, record),
                           on_model=models.append)
    except Exception as exc:  # recorded as a failed trial; the sweep goes on
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if isinstance(exc, DataError) and node:  # data present on the driver, not here
            detail += f" (on node {node})"
        tune.report({**epochs.take(key), ERROR_KEY: detail, NODE_KEY: node, "trial_key": key})
        return
    finally:  # the next trial of this reused worker, or a neighbour on its GPU, gets it
        release_cached_memory()
    tune.report({**epochs.take(key), RESULT_KEY: json.dumps(result), MODEL_KEY: models[0],
                 NODE_KEY: node, "trial_key": key})


def pack_trainable(config: dict[str, Any]) -> None:
    """Tune entry point for a pack (orchestrator/packs.py): each member's epochs as they
    come and one final report per member, as soon as it has its result or error, each
    carrying the member's key and the node. A pack of one is a plain trial. With a GPU
    share (``pack: auto`` on GPUs) the worker trains the pack in chunks that fit it. A retried
    pack runs only its members the driver has not recorded (``FINISHED_KEY``)."""
    finished = set(config.get(FINISHED_KEY, ()))
    members = [member for member in config["pack"] if member["key"] not in finished]
    if not members:
        return
    if len(members) == 1:
        trial_trainable({"trial": members[0]})
        return
    from ray import tune

    from trainers.pack import run_pack
    from trainers.settings import release_cached_memory

    limit_to_assigned_gpus()
    node = worker_node()
    epochs = EpochReports(tune.report)

    def report(key: str, outcome: dict[str, Any] | str, model: bytes | None) -> None:
        if isinstance(outcome, str):
            tune.report({**epochs.take(key), ERROR_KEY: outcome, NODE_KEY: node, "trial_key": key})
        else:
            tune.report({**epochs.take(key), RESULT_KEY: json.dumps(outcome), MODEL_KEY: model,
                         NODE_KEY: node, "trial_key": key})

    run_pack(members, on_member=report, on_epoch=epochs.add,
             gpu_share=config.get(PACK_SHARE_KEY))
    release_cached_memory()


def limit_to_assigned_gpus() -> None:
    """A worker Ray reserved no GPU for sees none. Ray leaves CUDA_VISIBLE_DEVICES as it
    found it in such a worker, so on a GPU machine ``device: auto`` would train on GPU 0,
    unreserved, beside the trials that did reserve it. Set before the trial first asks
    torch about CUDA (a worker with no GPU never has)."""
    import ray

    if ray.is_initialized() and not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def worker_node() -> str | None:
    """``IP/NODE_ID`` of the Ray node this process runs on (None outside Ray). The id tells
    apart nodes that share an address (several nodes on one machine)."""
    import ray

    if not ray.is_initialized():
        return None
    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()}"


@dataclass
class SweepOutcome:
    """What happened to the trials handed to :func:`run_trials`.

    ``stopped_by`` is the signal number that stopped the sweep (None when it ran to the
    end); ``interrupted`` the trials that were running then; ``lease_lost`` says another
    run took the sweep over, after which nothing more is written."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    stopped_by: int | None = None
    lease_lost: bool = False


def init_ray(address: str | None, num_cpus: float | None = None,
             num_gpus: float | None = None) -> None:
    """Start a local Ray on the loopback interface only, or join the cluster at ``address``.

    Quiet either way: no dashboard, worker output kept out of the terminal. A local Ray
    never joins a cluster found through ``RAY_ADDRESS`` or an earlier session: clusters
    are joined only with an explicit ``address``. A cluster that cannot be reached is a
    ``UserInputError`` naming the address (one line, exit 2), raised before any write.
    """
    if not address:
        os.environ[_RAY_LOCAL_ONLY] = "0"  # before the first `import ray` (and for its workers)
    else:
        use_token_if_available()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "1e9")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # the sweep handles its own signals
    import ray

    if ray.is_initialized():
        return
    if not address:  # a local Ray's start is seconds of waiting for its processes
        threading.Thread(target=_import_tune, name="import-tune", daemon=True).start()
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  logging_level=logging.ERROR, configure_logging=True)
    if address:
        _join_cluster(ray, address, kwargs)
    else:
        temp = paths.ray_temp_dir()
        temp.mkdir(parents=True, exist_ok=True)
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                 _node_ip_address="127.0.0.1", _temp_dir=str(temp), **kwargs)
        _check_loopback(ray)
    for name in ("ray", "ray.tune", "ray.train", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _import_tune() -> None:
    """Import Ray Tune while ``ray.init`` waits for Ray's processes to start: a sweep's
    fixed cost fell from 13.1 to 11.5 s (2 cores, benchmarks/RESULTS.md). A failure here
    is left to the sweep's own import of Tune, which then raises it where it is used."""
    try:
        import ray.tune  # noqa: F401
    except Exception:  # noqa: BLE001 - raised again by the importer that needs it
        pass


def ray_token_available() -> bool:
    """Whether this process has a Ray authentication token where Ray looks for one:
    ``RAY_AUTH_TOKEN``, else the file at ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    try:
        return bool(path.expanduser().read_text().strip())
    except (OSError, UnicodeDecodeError):
        return False


def use_token_if_available() -> None:
    """Join a cluster with token authentication when a token is available and
    ``RAY_AUTH_MODE`` is unset, as `ray start --head` decides for itself: Ray 2.60's driver
    leaves authentication off for an explicit address, and a head that turned it on
    (because ``~/.ray/auth_token`` exists) then refuses it with a ConnectionError after
    a long wait. A head without authentication accepts a driver that sends a token."""
    if os.environ.get(_AUTH_MODE) is None and ray_token_available():
        os.environ[_AUTH_MODE] = "token"
        if "ray" in sys.modules:  # Ray caches its config when first imported: reread it
            from ray._raylet import Config

            Config.initialize("")


def _join_cluster(ray, address: str, kwargs: dict[str, Any]) -> None:
    """``ray.init`` on the cluster at ``address``; an unreachable or refusing cluster is
    one line (Ray would retry an unreachable one for minutes, then print a traceback)."""
    from orchestrator.errors import UserInputError

    token = "the cluster's token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
    host_port = _host_port(address)
    if host_port is not None:
        try:
            socket.create_connection(host_port, timeout=_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise UserInputError(f"--address {address}: no Ray cluster answers there "
                                 f"({exc.strerror or exc}); start one with `ray start --head` "
                                 "or check the address") from None
    with tempfile.TemporaryFile() as said:
        try:
            with _stderr_to(said):  # Ray's C++ client warns on every retry, for ~20 s
                ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError, ray.exceptions.RayError) as exc:
            said.seek(0)
            if b"InvalidAuthToken" in said.read():
                raise UserInputError(f"--address {address}: the Ray cluster refused this "
                                     f"machine's token; give the driver {token}") from None
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise UserInputError(f"--address {address}: cannot join the Ray cluster: {first}; "
                                 f"is a Ray head running there, and does the driver have "
                                 f"{token}?") from None
        said.seek(0)
        shown = said.read()
        if shown:  # joined: whatever Ray said is shown after all
            os.write(2, shown)


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``HOST:PORT`` address; None for other forms (``ray://``, auto)."""
    host, sep, port = address.rpartition(":")
    if not sep or "/" in address or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def _stderr_to(file) -> Iterator[None]:
    """Send this process's file descriptor 2 (C++ code writes there too) to ``file``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        os.dup2(file.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _check_loopback(ray) -> None:
    """A local Ray that came up on a routable address (Ray was imported before
    init_ray could switch it to loopback) is shut down rather than used."""
    node_ip = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(node_ip).is_loopback:
        ray.shutdown()
        raise RuntimeError(f"the local Ray started on {node_ip} instead of the loopback "
                           "address: Ray was imported before orchestrator.runner.init_ray")


def cluster_nodes() -> list[tuple[float, float]]:
    """``(CPUs, GPUs)`` of every live node of the Ray this process is connected to."""
    import ray

    return [(float(node["Resources"].get("CPU", 0)), float(node["Resources"].get("GPU", 0)))
            for node in ray.nodes() if node.get("Alive")]


def trial_resources(cpus_per_trial: float, gpus_per_trial: float) -> dict[str, float]:
    """What Tune reserves per trial (or pack): fractions as given, so 4 trials at 0.25
    GPU share one device."""
    return {"cpu": cpus_per_trial, "gpu": gpus_per_trial}


def tune_space(tune, trials: list[dict[str, Any]], packs: list[list[dict[str, Any]]] | None,
               pack_share: float | None) -> tuple[Callable, dict[str, Any]]:
    """The trainable and its parameter space: one Tune trial per trial, or per pack (with
    the GPU share its worker sizes against, where there is one)."""
    if packs is None:
        return trial_trainable, {"trial": tune.grid_search(trials)}
    space: dict[str, Any] = {"pack": tune.grid_search(packs)}
    if pack_share is not None:
        space[PACK_SHARE_KEY] = pack_share
    return pack_trainable, space


def run_trials(trials: list[dict[str, Any]], store, sweep_name: str, *,
               cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int,
               address: str | None = None, progress: SweepProgress,
               local_resources: tuple[float, float] | None = None,
               lease_lost: Callable[[], bool] = lambda: False,
               max_failures: int = 0,
               packs: list[list[dict[str, Any]]] | None = None,
               artifacts: Path | None = None,
               pack_share: float | None = None) -> SweepOutcome:
    """Run ``trials`` through Ray Tune and record every result in ``store``.

    SIGINT and SIGTERM stop the run cleanly: no new trial starts, the running ones are
    stopped and recorded as ``interrupted`` (unstarted ones keep their status) and
    ``stopped_by`` says which signal it was. ``lease_lost`` stops it the same way but
    records nothing more. ``local_resources`` are the (CPUs, GPUs) a local Ray gets.
    A trial whose worker crashes is restarted up to ``max_failures`` times. ``packs``
    (``trials`` grouped by orchestrator.packs) runs one Ray trial per pack instead of
    one per trial; the store and ``SweepOutcome`` still see each member as a trial;
    ``pack_share`` (orchestrator.packs.gpu_share) goes to every pack's worker. Each
    trained model is saved in the folder ``artifacts`` (none: not saved). Fractional
    ``gpus_per_trial`` go to Tune as they are: trials share a GPU.
    """
    from orchestrator.interrupts import StopSignals

    outcome = SweepOutcome()
    if not trials:
        return outcome
    cpus, gpus = local_resources if local_resources else (None, None)
    with StopSignals() as signals:
        init_ray(address, num_cpus=cpus, num_gpus=gpus)
        signals.install()  # again: ray.init sets a SIGTERM handler of its own
        skip_final_collections()
        import ray
        from ray import tune

        from orchestrator.tune_hooks import StopWhen, StoreWriter

        function, space = tune_space(tune, trials, packs, pack_share)
        trainable = tune.with_resources(function, trial_resources(cpus_per_trial, gpus_per_trial))
        results_dir = paths.ray_results_dir()
        results_dir.mkdir(parents=True, exist_ok=True)
        writer = StoreWriter(store, outcome, progress, paused=lease_lost, artifacts=artifacts)
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            # a finished trial's worker runs the next one: no new process and imports per
            # trial; run_trial resets every per-trial global (seeds, torch threads)
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent,
                                        reuse_actors=True),
            run_config=tune.RunConfig(
                name=sweep_name, storage_path=str(results_dir), verbose=0,
                callbacks=[writer], stop=StopWhen(lambda: signals.received or lease_lost()),
                failure_config=tune.FailureConfig(max_failures=max_failures),
            ),
        )
        if not signals.received:
            tuner.fit()
        shutdown_ray(ray)
    outcome.stopped_by = signals.received
    outcome.lease_lost = lease_lost()
    if outcome.stopped_by and not outcome.lease_lost:
        record_interrupted(outcome, store)
    return outcome


def shutdown_ray(ray) -> None:
    """Stop the local Ray this process started (or leave the cluster) now, not in Ray's
    exit handler, which first waits 0.5 s for worker logs that log_to_driver=False keeps
    away. Ray 2.60 stops the GCS before the autoscaler monitor, whose SIGTERM handler
    then waits for the GCS until Ray kills it a second later: the monitor, which holds
    nothing a single-node Ray needs, is killed first."""
    try:
        from ray._private import ray_constants, worker

        node = worker._global_node
        monitors = node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node else []
        for info in monitors:
            info.process.kill()
            info.process.wait(timeout=5)
    except Exception:  # Ray's internals moved: its own shutdown stops the monitor, slower
        pass
    ray.shutdown()


def skip_final_collections() -> None:
    """At exit, a process that ran a sweep holds Ray, Tune and torch, and Python's final
    garbage collections walk all of it (1-1.5 s of the sweep's wall time on 2 cores).
    Freezing every object from an exit handler (``gc.freeze``) spares that walk; the
    other exit handlers, Ray's included, and the flushing of the standard streams run
    as before. The store and the console are closed before, not left to the collector."""
    atexit.unregister(gc.freeze)  # once per process, however many sweeps it runs
    atexit.register(gc.freeze)


def record_interrupted(outcome: SweepOutcome, store) -> None:
    """After a stop: every trial that started and did not finish (a pack's unfinished
    members included) is ``interrupted``."""
    finished = set(outcome.done) | set(outcome.failed)
    outcome.interrupted = [key for key in outcome.started if key not in finished]
    for key in outcome.interrupted:
        store.mark_interrupted(key)
