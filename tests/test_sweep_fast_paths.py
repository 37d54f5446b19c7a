"""The answers that need no training come before the heavy imports and the data: --help,
--version, a refused spec, a changed spec refused by the store, --dry-run and a rerun with
nothing to do. Checked in a fresh interpreter by which packages got imported and which
files got written (speed itself is a benchmark figure, not a test)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks.cli_latency import finished_store as benchmark_store

HEAVY = ("torch", "torchvision", "ray", "sklearn", "scipy")

PROBE = textwrap.dedent("""
    import json, sys
    from orchestrator.cli import app
    sys.argv = ["paretoctl", *json.loads(sys.argv[1])]
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    heavy = sorted(m for m in {heavy!r} if m in sys.modules)
    print("PROBE " + json.dumps({{"code": code, "heavy": heavy}}))
""").format(heavy=HEAVY)

SPEC = """
name: fast
datasets: [{name: multidigits, n_train: 100, n_val: 50, n_test: 50}]
methods:
  - name: linear
    preferences: {explicit: [[0, 0.5, 0.5], [0, 0.2, 0.8]]}
train: {epochs: 1}
"""


def probe(cwd: Path, *args: str) -> dict:
    env = {**os.environ, "PARETOCTL_HOME": str(cwd / ".paretoctl"),
           "PARETOCTL_DATA": str(cwd / "data")}
    env.pop("PARETOCTL_STORE", None)
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    line = [l for l in done.stdout.splitlines() if l.startswith("PROBE ")][-1]
    return {**json.loads(line[len("PROBE "):]), "stderr": done.stderr, "stdout": done.stdout}


def finished_store(cwd: Path) -> Path:
    """A store in which every trial of SPEC is done (results written directly)."""
    return benchmark_store(cwd, SPEC)


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["sweep", "--help"]])
def test_help_and_version_import_nothing_heavy(tmp_path, args):
    answer = probe(tmp_path, *args)
    assert answer["code"] == 0
    assert answer["heavy"] == []


def test_version_prints_the_installed_version(tmp_path):
    from importlib.metadata import version

    assert f"paretoctl {version('paretoctl')}" in probe(tmp_path, "--version")["stdout"]


def test_a_malformed_spec_is_refused_before_the_trainers_are_imported(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: x\ndatasets: [multidigits]\nmethods: [linear]\nfoo: 1\n")
    answer = probe(tmp_path, "sweep", "bad.yaml")
    assert answer["code"] == 2
    assert "foo: unknown key" in answer["stderr"]
    assert answer["heavy"] == []


def test_a_changed_spec_is_refused_by_the_store_before_the_trainers_are_imported(tmp_path):
    db = finished_store(tmp_path)
    before = db.read_bytes()
    (tmp_path / "spec.yaml").write_text(SPEC.replace("epochs: 1", "epochs: 2"))
    answer = probe(tmp_path, "sweep", "spec.yaml")
    assert answer["code"] == 2
    assert "already exists in the store with a different spec" in answer["stderr"]
    assert answer["heavy"] == []
    assert db.read_bytes() == before


def test_a_rerun_with_nothing_to_do_prepares_no_data_and_starts_no_ray(tmp_path):
    db = finished_store(tmp_path)
    before = db.read_bytes()
    answer = probe(tmp_path, "sweep", "spec.yaml")
    assert answer["code"] == 0, answer["stderr"]
    assert "all 2 trials already done, nothing to run" in answer["stderr"]
    assert "ray" not in answer["heavy"]
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / ".paretoctl").exists()
    assert db.read_bytes() == before


def test_dry_run_starts_no_ray_and_writes_nothing(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    answer = probe(tmp_path, "sweep", "spec.yaml", "--dry-run")
    assert answer["code"] == 0, answer["stderr"]
    assert "2 trials" in answer["stdout"]
    assert "ray" not in answer["heavy"] and "torchvision" not in answer["heavy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_dry_run_is_a_plain_flag(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    assert probe(tmp_path, "sweep", "spec.yaml", "--dry-run")["code"] == 0
    refused = probe(tmp_path, "sweep", "--dry-run", "true", "spec.yaml")
    assert refused["code"] == 2  # a flag takes no value


@pytest.mark.parametrize("command", [[], ["sweep"], ["front"], ["report"], ["plot"], ["trials"],
                                     ["data"], ["data", "prepare"], ["data", "list"]])
def test_help_shows_flags_without_a_value_type(command):
    from typer.testing import CliRunner

    from orchestrator.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output


def test_max_concurrent_zero_is_one_line(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    answer = probe(tmp_path, "sweep", "spec.yaml", "--max-concurrent", "0")
    assert answer["code"] == 2
    assert answer["stderr"].strip().splitlines() == [
        "error: --max-concurrent: expected a whole number in 1..1024, got 0"]


def test_max_concurrent_has_the_sweep_files_upper_bound(tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    answer = probe(tmp_path, "sweep", "spec.yaml", "--max-concurrent", "99999")
    assert answer["code"] == 2
    assert "--max-concurrent: expected a whole number in 1..1024, got 99999" in answer["stderr"]


def test_a_spec_stored_before_a_setting_existed_is_the_same_sweep(tmp_path):
    # a store written before resources.max_failures existed: its spec lacks the field
    import sqlite3

    db = finished_store(tmp_path)
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute("SELECT spec FROM sweeps").fetchone()
        old = json.loads(text)
        del old["resources"]["max_failures"]
        conn.execute("UPDATE sweeps SET spec = ?", (json.dumps(old),))
    answer = probe(tmp_path, "sweep", "spec.yaml")
    assert answer["code"] == 0, answer["stderr"]
    assert "nothing to run" in answer["stderr"]
