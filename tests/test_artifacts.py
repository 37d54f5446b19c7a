"""Saved models: a trial's trained model is written as a safetensors file whose size and
SHA-256 the store records, ``paretoctl model`` exports it, ``load_model`` rebuilds it with
the trained predictions, and a changed, pickled or foreign file is refused (never run)."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli_runs import cli_env, explicit, run_cli, sqlite_rows, tiny_sweep
from contract.result import Artifact
from contract.trial import trial_key
from orchestrator.cli import app
from store.db import open_store
from store.errors import StoreError
from tiny_trials import tiny_config
from trainers.artifacts import (
    ArtifactError, evaluate_model, export_model, load_model, save_trial_model, serialise_model,
)
from trainers.methods import METHODS
from trainers.methods.front import FrontMethod
from trainers.trial import run_trial

README = Path(__file__).resolve().parents[1] / "README.md"
runner = CliRunner()
PREFERENCE = {"linear": [0.0, 0.5, 0.5]}
#: losses are float32 sums over 60 samples: another thread count may reassociate them
LOSS_REL = 1e-5


def trial(method: str, data_dir: Path) -> dict:
    config = tiny_config(method, train={"epochs": 1}, preference=PREFERENCE.get(method))
    config["runtime"]["data_dir"] = str(data_dir)
    config["key"] = trial_key(config)
    return config


def stored_scores(result: dict, ray_index: int = 0) -> dict:
    return next(p["tasks"] for p in result["points"]
                if p["split"] == "test" and p["ray_index"] == ray_index)


def assert_same_scores(got: dict, stored: dict) -> None:
    """The stored accuracies exactly, the losses up to float32 summation order."""
    assert {t: s["acc"] for t, s in got.items()} == {t: s["acc"] for t, s in stored.items()}
    for task, scores in got.items():
        assert scores["loss"] == pytest.approx(stored[task]["loss"], rel=LOSS_REL)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real tiny trial per kind of model (plain, ray-conditioned, hypernetwork), run
    in this process, with the bytes it hands over and its result."""
    data = tmp_path_factory.mktemp("data")
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    runs = {}
    try:
        for method in ("linear", "cosmos", "phn_ls"):
            config, models = trial(method, data), []
            result = run_trial(config, on_model=models.append)
            runs[method] = (config, models[0], result)
    finally:  # run_trial sets both for its process
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    return runs


@pytest.mark.parametrize("method", ["linear", "cosmos", "phn_ls"])
def test_a_saved_model_loads_back_with_the_trained_predictions(trained, tmp_path, method):
    config, data, result = trained[method]
    saved = save_trial_model(tmp_path / "models", config["key"], data)
    path = Path(saved.path)
    assert path == (tmp_path / "models" / f"{config['key']}.safetensors").resolve()
    assert saved.bytes == path.stat().st_size == len(data)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert saved.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.with_name(path.name + ".sha256").read_text() == f"{saved.sha256}  {path.name}\n"

    model, loaded = load_model(path, saved.sha256)
    assert loaded.key == config["key"] and loaded.method.name == method
    if method == "linear":  # one model, one stored point per split
        assert_same_scores(evaluate_model(model, loaded), stored_scores(result))
        return
    # a front: the file exported with test ray 3 answers as the stored point of ray 3
    out = export_model(path, saved.sha256, tmp_path / "ray3.safetensors", ray_index=3)
    model, loaded = load_model(out.path)
    assert_same_scores(evaluate_model(model, loaded), stored_scores(result, 3))
    from safetensors import safe_open

    with safe_open(out.path, "pt") as f:
        ray = json.loads(f.metadata()["eval_ray"])
    assert ray == next(p["preference"] for p in result["points"] if p["ray_index"] == 3)
    assert model.ray.tolist() == pytest.approx(ray[1:]) != [0.5, 0.5]


@pytest.mark.parametrize("method", sorted(set(METHODS.names()) - {"linear", "cosmos", "phn_ls"}))
def test_every_methods_model_loads_back(tmp_path, method):
    """Each method's own network (teachers and adaptors, attention, one net per task,
    a hypernetwork) rebuilds from the file alone and scores as the trained one did."""
    cls = METHODS.get(method)
    arch = cls.architectures[0] if cls.architectures else "hps"
    config = tiny_config(method, arch=arch, train={"epochs": 1},
                         preference=[0.0, 0.5, 0.5] if cls.uses_preference else None)
    config["runtime"]["data_dir"] = str(tmp_path)
    config["key"] = trial_key(config)
    models = []
    result = run_trial(config, on_model=models.append)
    path = tmp_path / "model.safetensors"
    path.write_bytes(models[0])
    ray = 1 if issubclass(cls, FrontMethod) else None
    if ray is not None:
        path = Path(export_model(path, None, tmp_path / "ray.safetensors", ray).path)
    model, loaded = load_model(path)
    assert_same_scores(evaluate_model(model, loaded), stored_scores(result, ray or 0))


def test_the_metadata_rebuilds_the_model_without_the_data_set(trained, tmp_path, monkeypatch):
    from safetensors import safe_open
    from safetensors.torch import load

    from trainers.datasets import DATASETS

    config, data, _ = trained["cosmos"]
    path = Path(save_trial_model(tmp_path, config["key"], data).path)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert json.loads(meta["config"])["key"] == config["key"]
    assert json.loads(meta["tasks"]) == [{"name": "left", "kind": "classification", "n_classes": 10},
                                         {"name": "right", "kind": "classification", "n_classes": 10}]
    assert json.loads(meta["input_shape"]) == [1, 10, 10]
    assert meta["paretoctl_version"] and meta["torch_version"] == torch.__version__

    def no_data(*args, **kwargs):
        raise AssertionError("load_model built the data set")

    monkeypatch.setattr(DATASETS.get("multidigits"), "build", no_data)
    model, _ = load_model(path)
    assert sum(p.numel() for p in model.parameters()) == sum(t.numel() for t in load(data).values())


def test_a_changed_file_is_refused(trained, tmp_path):
    config, data, _ = trained["linear"]
    saved = save_trial_model(tmp_path, config["key"], data)
    path = Path(saved.path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="SHA-256 .* differs"):
        load_model(path)  # the sidecar's checksum
    with pytest.raises(ArtifactError, match="SHA-256 .* differs"):
        load_model(path, saved.sha256)
    with pytest.raises(ArtifactError, match="differs"):
        export_model(path, saved.sha256, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran the file's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_a_pickle_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save({"weights": Payload(marker)}, path)
    data = path.read_bytes()
    if writer == "pickle":  # the payload is live: unpickling it does run it
        pickle.loads(data)
        assert marker.exists()
        marker.unlink()
    # the right checksum beside it, so that only the format check stands in the way
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  x\n")
    with pytest.raises(ArtifactError, match="is not a safetensors file"):
        load_model(path)
    assert not marker.exists()


def test_other_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    with pytest.raises(ArtifactError, match="is not a safetensors file"):
        load_model(text)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(ArtifactError, match="not a paretoctl model"):
        load_model(foreign)
    with pytest.raises(ArtifactError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_a_model_above_the_bound_fails_naming_it(monkeypatch, tmp_path):
    from contract.trial import TrialConfig
    from trainers.datasets.base import Task

    config = TrialConfig.from_plain(trial("linear", tmp_path))
    model = torch.nn.Linear(100, 100)  # 40,400 bytes of weights
    monkeypatch.setenv("PARETOCTL_MAX_MODEL_MB", "0.03")
    with pytest.raises(ArtifactError, match=r"has 0.03853 MiB of weights, above the 0.03 MiB a "
                                            r"trial may report \(PARETOCTL_MAX_MODEL_MB\)"):
        serialise_model(model, config, (Task("a"),), (100,), "multidigits", "dev")
    monkeypatch.setenv("PARETOCTL_MAX_MODEL_MB", "0.04")
    assert serialise_model(model, config, (Task("a"),), (100,), "multidigits", "dev")


# --------------------------------------------------------------------- store and CLI


@pytest.fixture()
def store_with_models(trained, workdir):
    """A SQLite store with the linear and cosmos trials done and saved, and one pending."""
    url = f"sqlite:///{workdir / 'results.db'}"
    pending = trial("stl", workdir / "data")
    with open_store(url, create=True) as db:
        db.register_sweep("s", "", {}, {})
        db.add_trials("s", [trained["linear"][0], trained["cosmos"][0], pending])
        for method in ("linear", "cosmos"):
            config, data, result = trained[method]
            saved = save_trial_model(workdir / "results.artifacts", config["key"], data)
            db.record_result(config["key"], result, artifact=saved)
    return url, pending["key"]


def columns(url: str, key: str) -> tuple:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as con:
        return con.execute("SELECT artifact_path, artifact_bytes, artifact_sha256 FROM trials "
                           "WHERE key = ?", (key,)).fetchone()


def test_the_store_records_path_size_and_checksum(trained, store_with_models):
    url, _ = store_with_models
    config, data, result = trained["linear"]
    path, size, digest = columns(url, config["key"])
    assert Path(path).read_bytes() == data
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    with open_store(url, create=False) as db:
        db.record_result(config["key"], result)  # a result without a model clears them
        assert columns(url, config["key"]) == (None, None, None)
        with pytest.raises(StoreError, match="SHA-256 must be 64 lower-case hex digits"):
            db.record_result(config["key"], result, artifact=Artifact(path, size, "abc"))


@pytest.mark.postgres
def test_a_postgresql_store_records_and_exports_the_model(trained, pg_url, workdir):
    from store.artifacts import find_trial_model

    config, data, result = trained["linear"]
    saved = save_trial_model(workdir / "models", config["key"], data)
    with open_store(pg_url, create=True) as db:
        db.register_sweep("s", "", {}, {})
        db.add_trials("s", [config])
        db.record_result(config["key"], result, artifact=saved)
        found = find_trial_model(db, config["key"][:5])
    assert (found.key, found.status, found.path, found.bytes, found.sha256) == (
        config["key"], "done", saved.path, saved.bytes, saved.sha256)
    done = export(pg_url, config["key"][:5], "--out", "model.safetensors")
    assert done.exit_code == 0, done.output
    assert (workdir / "model.safetensors").read_bytes() == data


def export(url: str, *args: str):
    return runner.invoke(app, ["model", *args, "--store", url])


def test_paretoctl_model_exports_and_the_readme_snippet_evaluates_it(
        trained, store_with_models, workdir, capsys):
    url, _ = store_with_models
    config, data, result = trained["linear"]
    done = export(url, config["key"][:6], "--out", "model.safetensors")
    assert done.exit_code == 0, done.output
    assert "wrote model.safetensors" in done.stdout
    assert (workdir / "model.safetensors").read_bytes() == data
    snippet = re.search(r"## Saved models.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(snippet.strip().splitlines()) == 3
    exec(snippet, {})
    assert_same_scores(eval(capsys.readouterr().out), stored_scores(result))

    cosmos = trained["cosmos"]
    done = export(url, cosmos[0]["key"], "--ray", "2", "--out", "front.safetensors")
    assert done.exit_code == 0, done.output
    model, loaded = load_model(workdir / "front.safetensors")
    assert_same_scores(evaluate_model(model, loaded), stored_scores(cosmos[2], 2))


def assert_refused(result, fragment: str, workdir: Path) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    message = result.stderr.strip()
    assert message.startswith("error:") and len(message.splitlines()) == 1, message
    assert fragment in message, message
    assert not (workdir / "out.safetensors").exists()


def test_paretoctl_model_refusals(trained, store_with_models, workdir):
    url, pending = store_with_models
    linear, cosmos = trained["linear"][0]["key"], trained["cosmos"][0]["key"]
    out = ["--out", "out.safetensors"]
    assert_refused(export(url, "ffffffffffffffff", *out), "no trial with key 'ffffffffffffffff'", workdir)
    assert_refused(export(url, "", *out), "TRIAL: expected a trial key", workdir)
    assert_refused(export(url, pending, *out), f"trial {pending} is pending, not done", workdir)
    assert_refused(export(url, linear, "--ray", "0", *out), "--ray: method linear trains one model", workdir)
    assert_refused(export(url, cosmos, "--ray", "25", *out), "--ray: expected a test ray index in 0..24", workdir)
    assert_refused(export(url, cosmos, "--ray", "-1", *out), "--ray: expected a test ray index >= 0", workdir)
    assert_refused(export(url, linear, "--out", "nowhere/out.safetensors"), "--out: folder nowhere does not exist", workdir)
    path = Path(columns(url, linear)[0])
    assert_refused(export(url, linear, "--out", str(path)), "is the stored model file itself", workdir)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as con:  # a key sharing a prefix
        con.execute("UPDATE trials SET key = ? WHERE key = ?", (linear[:4] + "0" * 12, pending))
    assert_refused(export(url, linear[:4], *out), f"'{linear[:4]}' is the start of several trial keys", workdir)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    assert_refused(export(url, linear, *out), "differs from the recorded", workdir)
    path.unlink()
    assert_refused(export(url, linear, *out), "does not exist", workdir)
    with open_store(url, create=False) as db:
        db.record_result(linear, trained["linear"][2])
    assert_refused(export(url, linear, *out), f"trial {linear} has no saved model", workdir)


# --------------------------------------------------------------------- a real sweep

def saved_spec(*preferences: list[float]) -> str:
    """Linear at ``preferences`` and cosmos, one epoch of a half-width net: each saves its model."""
    return tiny_sweep("saved", [explicit("linear", *preferences),
                                {"name": "cosmos", "params": {"test_rays": 5}}],
                      arch={"name": "hps", "width": 0.5})


def sweep(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, env=cli_env(cwd, PARETOCTL_DATA=str(cwd / "data")))


def stored(db: Path) -> dict[str, tuple]:
    rows = sqlite_rows(db, "SELECT key, method, status, artifact_path, artifact_bytes, "
                           "artifact_sha256 FROM trials")
    return {row[0]: row[1:] for row in rows}


def stored_accuracies(db: Path, key: str) -> dict[int, dict[str, float]]:
    rows = sqlite_rows(db, "SELECT ray_index, acc_left, acc_right FROM points_flat "
                           "WHERE trial = ? AND split = 'test'", key)
    return {ray: {"left": left, "right": right} for ray, left, right in rows}


@pytest.mark.e2e
def test_a_sweep_saves_every_model_and_a_resume_leaves_them(tmp_path):
    (tmp_path / "saved.yaml").write_text(saved_spec([0, 0.5, 0.5]))
    first = sweep(tmp_path, "sweep", "saved.yaml", "--store", "sqlite:///results.db")
    assert first.returncode == 0, first.stderr
    db = tmp_path / "results.db"
    rows = stored(db)
    assert sorted(r[0] for r in rows.values()) == ["cosmos", "linear"]
    files = {}
    for key, (_, status, path, size, digest) in rows.items():
        path = Path(path)
        assert status == "done" and path == tmp_path / "results.artifacts" / f"{key}.safetensors"
        assert (size, digest) == (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        files[key] = (path.stat().st_mtime_ns, digest)
    for kept in (tmp_path / ".paretoctl").rglob("*"):  # Tune's records keep no model bytes
        assert not kept.is_file() or b"paretoctl_model" not in kept.read_bytes(), kept

    for key, (method, *_) in rows.items():  # export, load, reproduce the stored test accuracy
        ray = ["--ray", "4"] if method == "cosmos" else []
        done = sweep(tmp_path, "model", key[:8], *ray, "--out", f"{method}.safetensors",
                     "--store", "sqlite:///results.db")
        assert done.returncode == 0, done.stderr
        model, config = load_model(tmp_path / f"{method}.safetensors")
        scores = evaluate_model(model, config)
        assert {t: s["acc"] for t, s in scores.items()} == stored_accuracies(db, key)[4 if ray else 0]

    # --resume with one more trial and --artifacts: only the new trial is written, there
    (tmp_path / "saved.yaml").write_text(saved_spec([0, 0.5, 0.5], [0, 0.2, 0.8]))
    second = sweep(tmp_path, "sweep", "saved.yaml", "--store", "sqlite:///results.db",
                   "--resume", "--artifacts", "elsewhere")
    assert second.returncode == 0, second.stderr
    assert f"2 already done, 1 to run (store sqlite:///results.db, models in {tmp_path / 'elsewhere'})" in second.stderr
    rows = stored(db)
    (new,) = set(rows) - set(files)
    assert Path(rows[new][2]) == tmp_path / "elsewhere" / f"{new}.safetensors"
    for key, (mtime, digest) in files.items():
        path = Path(rows[key][2])
        assert path.parent == tmp_path / "results.artifacts"
        assert (path.stat().st_mtime_ns, rows[key][4]) == (mtime, digest)


@pytest.mark.parametrize("folder", ["taken", "taken/models"])
def test_artifacts_under_a_file_is_refused_before_anything_is_written(write_spec, workdir, folder):
    spec = write_spec(saved_spec([0, 0.5, 0.5]))
    (workdir / "taken").write_text("")
    result = runner.invoke(app, ["sweep", str(spec), "--artifacts", folder])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --artifacts: {workdir / 'taken'} exists and is not a folder"
    assert not (workdir / "paretoctl.db").exists()


def test_the_default_folder_is_beside_a_sqlite_store_or_under_the_home(workdir):
    from orchestrator.paths import artifacts_dir

    assert artifacts_dir("sqlite:///sub/results.db") == workdir / "sub" / "results.artifacts"
    assert artifacts_dir("sqlite:///results.db", "models") == workdir / "models"
    assert (artifacts_dir("postgresql+psycopg://u:pw@db.example:5432/sweeps")
            == workdir / ".paretoctl" / "artifacts" / "postgresql-db.example-5432-sweeps")
