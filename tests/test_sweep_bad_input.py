"""Bad sweep files through the real ``paretoctl sweep``: every one ends with exit code 2,
one line naming the file and field, no traceback and nothing written (no store, no Ray
folders, no cache), with and without ``--dry-run``. Covers the YAML loader's bounds
(file size, alias bombs, nesting), the bounded lists, resources and seeds, and the
declared options of every dataset and architecture."""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

runner = CliRunner()

DATA = "{name: multidigits, n_train: 300, n_val: 100, n_test: 100}"


def spec(**fields: str) -> str:
    """A valid small sweep with some top-level fields replaced (flow-style YAML text)."""
    parts = {"name": "bad", "datasets": f"[{DATA}]", "methods": "[linear]",
             "train": "{epochs: 1}", **fields}
    return "".join(f"{key}: {value}\n" for key, value in parts.items())


def assert_refused(workdir: Path, text: str, *fragments: str) -> str:
    path = workdir / "spec.yaml"
    path.write_text(text)
    for extra in ([], ["--dry-run"]):
        result = runner.invoke(app, ["sweep", str(path), *extra])
        assert result.exit_code == 2, (extra, result.exit_code, result.stdout, result.stderr)
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1 and message.startswith(f"error: {path}: "), message
        assert "Traceback" not in result.stderr + result.stdout
        for fragment in fragments:
            assert fragment in message, message
        for written in ("paretoctl.db", ".paretoctl", "data"):
            assert not (workdir / written).exists(), written
    return message


def seq(n: int, item=lambda i: str(i)) -> str:
    return "[" + ", ".join(item(i) for i in range(n)) + "]"


BAD = {
    # seeds: the store's INTEGER column overflows at 2**63; numpy/sklearn want < 2**32
    "seed 2**63": (spec(seeds="[9223372036854775808]"),
                   "seeds.0: input should be less than or equal to 4294967295"),
    "seed 2**32": (spec(seeds="[4294967296]"), "seeds.0: input should be less than or equal"),
    "negative seed": (spec(seeds="[-1]"), "seeds.0: input should be greater than or equal to 0"),
    "1001 seeds": (spec(seeds=seq(1001)), "seeds: at most 1000 entries allowed, got 1001"),
    # names become Ray Tune folder names
    "300-character name": (spec(name="s" * 300), "name: string should have at most 100 characters"),
    "long dataset name": (spec(datasets=f"[{'d' * 101}]"), "datasets.0.name: string should have at most 100"),
    # resources: finite and bounded
    "cpus .inf": (spec(resources="{cpus_per_trial: .inf}"), "resources.cpus_per_trial: input should be a finite number"),
    "gpus .nan": (spec(resources="{gpus_per_trial: .nan}"), "resources.gpus_per_trial: input should be a finite number"),
    "cpus 2000": (spec(resources="{cpus_per_trial: 2000}"), "resources.cpus_per_trial: input should be less than or equal to 1024"),
    "gpus 100": (spec(resources="{gpus_per_trial: 100}"), "resources.gpus_per_trial: input should be less than or equal to 64"),
    "max_concurrent 1e6": (spec(resources="{max_concurrent: 1000000}"), "resources.max_concurrent: input should be less than or equal to 1024"),
    # lists
    "long description": (spec(description="d" * 10_001), "description: string should have at most 10000 characters"),
    "101 datasets": (spec(datasets=seq(101, lambda i: f"{{name: multidigits, seed: {i}}}")),
                     "datasets: at most 100 entries allowed, got 101"),
    "101 architectures": (spec(architectures=seq(101, lambda i: f"{{name: hps, width: {i / 100 + 0.01}}}")),
                          "architectures: at most 100 entries allowed, got 101"),
    "101 methods": (spec(methods=seq(101, lambda i: f"{{name: linear, params: {{}}, preferences: {{uniform: true}}}}")),
                    "methods: at most 100 entries allowed, got 101"),
    "10001 explicit preferences": (
        spec(methods="[{name: linear, preferences: {explicit: " + seq(10_001, lambda i: f"[0, {i / 10_001!r}, {1 - i / 10_001!r}]") + "}}]"),
        "methods.0.preferences.explicit: 10001 vectors (limit 10000)"),
    "33 search axes": (spec(search="{space: {" + ", ".join(f"params.p{i}: [1]" for i in range(33)) + "}}"),
                       "search.space: at most 32 entries allowed"),
    "1001 axis values": (spec(search="{space: {train.lr: " + seq(1001, lambda i: f"{(i + 1) / 1e4!r}") + "}}"),
                         "search.space.train.lr: at most 1000 entries allowed, got 1001"),
    "10001 random samples": (spec(search="{mode: random, num_samples: 10001, space: {train.lr: [0.1, 0.2]}}"),
                             "search.num_samples: input should be less than or equal to 10000"),
    "more than 100000 trials": (spec(seeds=seq(1000), methods="[{name: linear, preferences: {simplex: {n_partitions: 100}}}]"),
                                "(top level): the sweep expands to more than 100000 trials"),
    # dataset options: typed and ranged, named datasets.<i>.<option>
    "n_train as a string": (spec(datasets='[{name: multidigits, n_train: "1000"}]'),
                            "datasets.0.n_train: expected an integer in 1..100000, got '1000'"),
    "negative n_train": (spec(datasets="[{name: multidigits, n_train: -5}]"), "datasets.0.n_train: expected an integer in 1..100000, got -5"),
    "n_train 1e8": (spec(datasets="[{name: multidigits, n_train: 1e8}]"), "datasets.0.n_train: expected an integer in 1..100000, got 100000000.0"),
    "n_train 0": (spec(datasets="[{name: multidigits, n_train: 0}]"), "datasets.0.n_train: expected an integer in 1..100000, got 0"),
    "n_val bool": (spec(datasets="[{name: multidigits, n_val: true}]"), "datasets.0.n_val: expected an integer"),
    "second dataset's seed": (spec(datasets=f"[{DATA}, {{name: multidigits, seed: 4294967296}}]"),
                              "datasets.1.seed: expected an integer in 0..4294967295"),
    "multifashion n_train 1e8": (spec(datasets="[{name: multifashion, n_train: 100000000}]"),
                                 "datasets.0.n_train: expected an integer in 2..120000, got 100000000"),
    "multifashion origin": (spec(datasets="[{name: multifashion, origin: drive}]"),
                            "datasets.0.origin: expected one of auto, pickle, generate, got 'drive'"),
    "multifashion val_fraction": (spec(datasets="[{name: multifashion, val_fraction: 1.5}]"),
                                  "datasets.0.val_fraction: expected a finite number > 0 and < 1, got 1.5"),
    "multimnist normalize": (spec(datasets='[{name: multimnist, normalize: "no"}]'),
                             "datasets.0.normalize: expected true or false, got 'no'"),
    "celeba attribute": (spec(datasets="[{name: celeba, attributes: [Goatee, Beard]}]"),
                         "datasets.0.attributes.1: unknown value 'Beard'"),
    "synthetic d 0": (spec(datasets="[{name: synthetic_concave, d: 0}]"), "datasets.0.d: expected an integer in 1..100000, got 0"),
    "unknown dataset option": (spec(datasets="[{name: multidigits, colour: red}]"),
                               "datasets.0.colour: unknown option of dataset 'multidigits' (known: n_test, "),
    # architecture options
    "width -1": (spec(architectures="[{name: hps, width: -1}]"), "architectures.0.width: expected a finite number > 0 and <= 64, got -1"),
    "width 0": (spec(architectures="[{name: hps, width: 0}]"), "architectures.0.width: expected a finite number > 0 and <= 64, got 0"),
    "width .inf": (spec(architectures="[{name: hps, width: .inf}]"), "architectures.0.width: expected a finite number"),
    "width string": (spec(architectures='[{name: hps, width: "2"}]'), "architectures.0.width: expected a finite number"),
    "trunk": (spec(architectures="[{name: hps, trunk: big}]"), "architectures.0.trunk: expected one of auto, "),
    "method's own architecture": (spec(methods="[{name: stl, architectures: [{name: stl, width: 0}]}]"),
                                  "methods.0.architectures.0.width: expected a finite number > 0"),
    "mtan shared_attention": (spec(methods="[{name: mtan, architectures: [{name: mtan, shared_attention: 1}]}]"),
                              "methods.0.architectures.0.shared_attention: expected true or false, got 1"),
    "direct init_range": (spec(datasets="[synthetic_concave]", architectures="[{name: direct, init_range: -1}]"),
                          "architectures.0.init_range: expected a finite number in 0..1000000, got -1"),
    # the YAML loader
    "recursive alias": (spec() + "description: &d [1, *d]\n", "yaml: an alias refers to a node that contains it"),
    "deep nesting": (spec(description="[" * 3000 + "]" * 3000), "yaml: collections nested too deeply"),
}


@pytest.mark.timeout(600)  # a check gone quadratic fails here instead of hanging the run
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_exit_2_one_line_nothing_written(case, workdir):
    # how fast a refusal comes is the benchmarks' business (a loaded machine takes its
    # time); that a huge list is refused before its items are checked is tested in
    # tests/test_preferences.py
    text, fragment = BAD[case]
    assert_refused(workdir, text, fragment)


# ----------------------------------------------------------------------------- YAML loader


def alias_bomb() -> str:
    """Ten values, each level ten aliases of the one before, nine levels: 10**9 values
    from about 600 bytes, inside a dataset entry (options are free-form until expanded)."""
    lines = ["name: bomb", "datasets:", "  - name: multidigits", "    n_train:",
             "      - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"      - &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines + ["methods: [linear]", ""])


def test_alias_bomb_is_refused_at_once(workdir):
    text = alias_bomb()
    assert len(text) < 700
    message = assert_refused(workdir, text, "yaml: aliases add ", " values to the document (limit 50000)")
    assert int(message.split("aliases add ")[1].split()[0]) > 10**9


def test_alias_bomb_needs_no_memory(workdir):
    """The real command in a process whose heap is capped at 3 GiB (its imports need
    about 1.3): the unfixed loader let pydantic walk 10**9 values and die there."""
    path = workdir / "bomb.yaml"
    path.write_text(alias_bomb())

    def cap_heap():
        resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, 3 << 30))

    command = [str(Path(sys.executable).with_name("paretoctl")), "sweep", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, preexec_fn=cap_heap)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines() == [
        f"error: {path}: yaml: " + done.stderr.split(": yaml: ", 1)[1].strip()]
    assert "aliases add" in done.stderr
    assert not (workdir / "paretoctl.db").exists()


def test_oversize_file_is_refused_unread(workdir):
    text = spec() + "#" + "x" * (1 << 20) + "\n"
    assert_refused(workdir, text, "file: larger than 1024 KiB (a sweep file is a few kB)")


def test_anchors_aliases_and_merge_keys_still_work(workdir):
    path = workdir / "spec.yaml"
    path.write_text(f"""
name: anchors
datasets: [&data {DATA}]
methods:
  - &lin {{name: linear, preferences: &prefs {{explicit: [[0, 0.5, 0.5], [0, 0.2, 0.8]]}}}}
  - {{<<: *lin, name: wc_al}}
train: &train {{epochs: 1}}
""")
    result = runner.invoke(app, ["sweep", str(path), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "4 trials" in result.stdout
