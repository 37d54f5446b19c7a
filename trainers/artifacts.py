"""A trial's trained model as a safetensors file: written once per trial, exported by
``paretoctl model``, loaded back into its architecture by :func:`load_model`.

The file holds the model's state dict (for COSMOS and the Pareto hypernetworks the whole
ray-conditioned network) and, in the safetensors header metadata, what rebuilding it
needs: the trial key and config (plain JSON of ``contract.trial.TrialConfig``), the
tasks, the input shape and the paretoctl version. Its SHA-256 is kept in the store and in
a sidecar ``<file>.sha256`` (``sha256sum -c`` format). Reading goes through safetensors
only (a JSON header and raw tensor bytes): nothing in a model file is ever unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from pathlib import Path

import torch
from torch import nn

from contract.result import Artifact
from contract.trial import TrialConfig
from trainers.errors import DataError

#: the ``format`` metadata entry of a paretoctl model file
FORMAT = "paretoctl-model/1"
SUFFIX = ".safetensors"
#: largest model a trial may report (env PARETOCTL_MAX_MODEL_MB, read where the trial runs)
MAX_MODEL_MB = 1024


class ArtifactError(DataError):
    """A model file that is missing, changed (checksum), not safetensors, not a paretoctl
    model or too large; the message names the file."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def max_model_bytes() -> int:
    text = os.environ.get("PARETOCTL_MAX_MODEL_MB", "")
    try:
        megabytes = float(text) if text.strip() else MAX_MODEL_MB
    except ValueError:
        raise ArtifactError(f"PARETOCTL_MAX_MODEL_MB: expected a number of MiB, got {text!r}") from None
    return int(megabytes * 2**20)


def serialise_model(model: nn.Module, config: TrialConfig, tasks, input_shape: tuple[int, ...],
                    dataset_name: str, version: str) -> bytes:
    """The safetensors bytes of ``model`` with the metadata that rebuilds it; a model
    above the size bound is an ArtifactError (the trial fails, naming the bound)."""
    from safetensors.torch import save

    state = model.state_dict()
    limit = max_model_bytes()
    size = sum(t.numel() * t.element_size() for t in state.values())
    if size > limit:
        raise ArtifactError(f"the trained model of trial {config.key} has {size / 2**20:.4g} MiB "
                            f"of weights, above the {limit / 2**20:.4g} MiB a trial may report "
                            "(PARETOCTL_MAX_MODEL_MB)")
    # copies: safetensors refuses tensors that share memory (tied or aliased weights)
    tensors = {name: value.detach().to("cpu", copy=True).contiguous() for name, value in state.items()}
    metadata = {
        "format": FORMAT, "trial_key": config.key,
        "config": json.dumps(config.to_plain(), sort_keys=True),
        "tasks": json.dumps([{"name": t.name, "kind": t.kind, "n_classes": t.n_classes}
                             for t in tasks]),
        "input_shape": json.dumps([int(s) for s in input_shape]),
        "dataset": dataset_name, "paretoctl_version": version, "torch_version": torch.__version__,
    }
    return save(tensors, metadata)


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` entirely or is left as it was (temp file, then rename); the
    file gets the usual permissions (the umask's), unlike a mkstemp file."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "xb") as f:
            f.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def write_model_file(path: Path, data: bytes) -> Artifact:
    """Write ``data`` to ``path`` and its checksum sidecar; returns what the store records."""
    digest = sha256_hex(data)
    write_atomic(path, data)
    write_atomic(sidecar(path), f"{digest}  {path.name}\n".encode())
    return Artifact(str(path.resolve()), len(data), digest)


def save_trial_model(folder: Path, key: str, data: bytes) -> Artifact:
    """The trial's model as ``<folder>/<key>.safetensors`` (the driver's write)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_model_file(folder / f"{key}{SUFFIX}", data)


def read_verified(path: Path | str, sha256: str | None = None) -> bytes:
    """The bytes of a model file, checked against ``sha256`` (else its sidecar, if any)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file {path} does not exist")
    data = path.read_bytes()
    expected = sha256 if sha256 is not None else _sidecar_digest(path)
    if expected is not None and sha256_hex(data) != expected.lower():
        raise ArtifactError(f"model file {path}: its SHA-256 {sha256_hex(data)} differs from the "
                            f"recorded {expected} (the file was changed or is corrupt)")
    return data


def _sidecar_digest(path: Path) -> str | None:
    side = sidecar(path)
    if not side.is_file():
        return None
    fields = side.read_text(errors="replace").split()
    if not fields or len(fields[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in fields[0]):
        raise ArtifactError(f"checksum file {side}: expected '<64 hex digits>  <file name>'")
    return fields[0]


def parse(data: bytes, path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a paretoctl model file (safetensors only, never pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(data)
        (length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8:8 + length]).get("__metadata__") or {}
    except (SafetensorError, ValueError, struct.error) as exc:
        raise ArtifactError(f"{path} is not a safetensors file ({str(exc).splitlines()[0][:120]})") from None
    if metadata.get("format") != FORMAT:
        raise ArtifactError(f"{path} is a safetensors file but not a paretoctl model "
                            f"(metadata format {metadata.get('format')!r}, expected {FORMAT!r})")
    return tensors, metadata


def model_config(metadata: dict[str, str], path: Path | str) -> TrialConfig:
    try:
        return TrialConfig.from_plain(json.loads(metadata["config"]))
    except (KeyError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable trial config in its metadata ({exc})") from None


def build_method(config: TrialConfig, n_tasks: int):
    """The trial's method object, as run_trial made it (its rays, its conditioning)."""
    from trainers.methods import METHODS

    preference = None if config.preference is None else list(config.preference)
    return METHODS.get(config.method.name)(preference, config.method.options, n_tasks)


def _tasks(metadata: dict[str, str]):
    from trainers.datasets.base import Task

    return tuple(Task(t["name"], t["kind"], t["n_classes"]) for t in json.loads(metadata["tasks"]))


def with_ray(data: bytes, path: Path | str, ray_index: int) -> bytes:
    """The model file re-written with test ray ``ray_index`` recorded in its metadata;
    :func:`load_model` conditions the network on it. Front-learning methods only."""
    from safetensors.torch import save

    from trainers.methods.front import FrontMethod

    tensors, metadata = parse(data, path)
    config = model_config(metadata, path)
    method = build_method(config, len(_tasks(metadata)))
    if not isinstance(method, FrontMethod):
        raise ArtifactError(f"--ray: method {config.method.name} trains one model for its "
                            "preference, not a front; export it without --ray")
    rays = method.eval_rays()
    if not 0 <= ray_index < len(rays):
        raise ArtifactError(f"--ray: expected a test ray index in 0..{len(rays) - 1}, got {ray_index}")
    metadata = {**metadata, "ray_index": str(ray_index), "eval_ray": json.dumps(rays[ray_index])}
    return save(tensors, metadata)


def load_model(path: Path | str, sha256: str | None = None,
               device: str | torch.device = "cpu") -> tuple[nn.Module, TrialConfig]:
    """Rebuild a saved trial's model and load its weights strictly; returns the model (in
    eval mode, conditioned on the recorded ray if the file has one) and the trial config.

    The file's SHA-256 is checked against ``sha256``, else its ``.sha256`` sidecar when
    there is one. The architecture comes from the registries (trainers.trial.build_model)
    with the tasks and input shape from the metadata: no data set is read.
    """
    from trainers.datasets.base import DatasetBundle
    from trainers.trial import build_model

    data = read_verified(path, sha256)
    tensors, metadata = parse(data, path)
    config = model_config(metadata, path)
    tasks = _tasks(metadata)
    shape = tuple(json.loads(metadata["input_shape"]))
    method = build_method(config, len(tasks))
    bundle = DatasetBundle(metadata["dataset"], tasks, shape, splits={})
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation leaves no trace
        model = build_model(config, bundle, method)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise ArtifactError(f"{path}: its weights do not fit the {config.arch.name} / "
                            f"{config.method.name} model ({str(exc).splitlines()[0]})") from None
    model.to(device)
    if "eval_ray" in metadata:
        method.to(torch.device(device))
        method.condition(model, json.loads(metadata["eval_ray"]))
    return model.eval(), config


def evaluate_model(model: nn.Module, config: TrialConfig, split: str = "test",
                   data_dir: str | Path | None = None) -> dict[str, dict[str, float | None]]:
    """Per-task loss and accuracy of ``model`` on ``split`` of the trial's data set (read
    from ``data_dir``, default the trial's own), as a stored point has them."""
    import dataclasses

    from contract.trial import Runtime
    from trainers.loop import evaluate
    from trainers.trial import load_dataset

    if data_dir is not None:
        config = dataclasses.replace(config, runtime=Runtime(str(data_dir), config.runtime.threads))
    bundle = load_dataset(config)
    device = next(model.parameters()).device
    with torch.no_grad():
        scores = evaluate(model, bundle.splits[split].to(device), bundle.tasks,
                          config.train.eval_batch_size)
    return {task.name: {"loss": loss, "acc": acc}
            for task, loss, acc in zip(bundle.tasks, scores.losses, scores.accs)}


def export_model(source: Path | str, sha256: str | None, out: Path,
                 ray_index: int | None = None) -> Artifact:
    """Copy a verified model file to ``out`` (with ``ray_index`` recorded, if given), plus
    its sidecar; nothing is written when any check fails."""
    source = Path(source)
    if not out.parent.is_dir():
        raise ArtifactError(f"--out: folder {out.parent} does not exist")
    if out.resolve() == source.resolve():
        raise ArtifactError(f"--out: {out} is the stored model file itself")
    data = read_verified(source, sha256)
    data = with_ray(data, source, ray_index) if ray_index is not None else data
    if ray_index is None:
        parse(data, source)  # a stored file that is not a paretoctl model is not exported
    return write_model_file(out, data)
