"""``paretoctl data prepare`` / ``data list``, and a sweep whose data is missing: exit 2,
one line on stderr, nothing written to the store."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from test_datasets_fakes import IDX_NAMES, write_mnist
from trainers.datasets import DATASETS

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_exit_2(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert message.startswith("error:") and len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_prepare_without_files_says_what_where_and_how(workdir):
    result = invoke("data", "prepare", "multimnist")
    data = workdir / "data"
    assert_one_line_exit_2(result, "MNIST files missing: train-images-idx3-ubyte",
                           str(data / "MNIST" / "raw"),
                           f"paretoctl data prepare multimnist --download --data-dir {data}")
    assert not (data / "cache").exists() or not any((data / "cache").glob("*.pt"))


def test_prepare_from_source_then_list(workdir):
    write_mnist(workdir / "raw", n_train=30, n_test=10)
    result = invoke("data", "prepare", "multimnist36", "--source", workdir / "raw",
                    "-o", "n_train=40", "-o", "n_test=12")
    assert result.exit_code == 0, result.stderr
    assert "multimnist36:" in result.stdout and "train 36" in result.stdout and "test 12" in result.stdout
    cache = list((workdir / "data" / "cache").glob("multimnist36-*.pt"))
    assert len(cache) == 1
    assert json.loads(cache[0].with_suffix(".json").read_text())["options"]["n_train"] == 40
    listing = invoke("data", "list")
    assert listing.exit_code == 0, listing.stderr
    for name in DATASETS.names():
        assert name in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if "multimnist36" in line)
    assert "no (+1 variants)" in row and "kB" in row  # default options not cached, one variant is
    row = next(line for line in listing.stdout.splitlines() if "synthetic_concave" in line)
    assert "not needed" in row and "direct" in row


def test_prepare_corrupt_file_names_it(workdir):
    write_mnist(workdir / "raw", n_train=10, n_test=5)
    broken = workdir / "raw" / f"{IDX_NAMES['train'][0]}.gz"
    broken.write_bytes(broken.read_bytes()[:50])
    assert_one_line_exit_2(invoke("data", "prepare", "multimnist", "--source", workdir / "raw"),
                           str(broken), "cannot read")


def test_prepare_bad_input(workdir):
    assert_one_line_exit_2(invoke("data", "prepare", "mnist9"), "unknown dataset 'mnist9'")
    assert_one_line_exit_2(invoke("data", "prepare", "multifashion", "-o", "n_train"), "KEY=VALUE")
    assert_one_line_exit_2(invoke("data", "prepare", "multifashion", "-o", "colour=red"),
                           "--option colour: unknown option (known: max_shift, ")
    assert_one_line_exit_2(invoke("data", "prepare", "multimnist", "--source", workdir / "nope"),
                           "is not a folder")


@pytest.mark.parametrize("dataset, option, message", [
    ("multifashion", "n_train=abc", "--option n_train: expected an integer in 2..120000, got 'abc'"),
    ("multifashion", "n_train=1e8", "--option n_train: expected an integer in 2..120000, got '1e8'"),
    ("multifashion", "n_train=0", "--option n_train: expected an integer in 2..120000, got 0"),
    ("multifashion", "origin=yes", "--option origin: expected one of auto, pickle, generate, got 'yes'"),
    ("multifashion", "val_fraction=inf", "--option val_fraction: expected a finite number > 0 and < 1"),
    ("multifashion", "seed=-1", "--option seed: expected an integer in 0..4294967295, got -1"),
    ("multimnist", "normalize=maybe", "--option normalize: expected true or false, got 'maybe'"),
    ("celeba", "attributes=Goatee,Beard", "--option attributes.1: unknown value 'Beard'"),
    ("synthetic_concave", "d=0", "--option d: expected an integer in 1..100000, got 0"),
])
def test_prepare_options_are_typed_and_ranged(workdir, dataset, option, message):
    """``-o`` strings are converted by the option's declared type and checked by the same
    declarations as a sweep file, before anything is looked up or written."""
    assert_one_line_exit_2(invoke("data", "prepare", dataset, "-o", option), message)
    assert not (workdir / "data").exists()


def test_prepare_options_convert_by_type(workdir):
    from orchestrator.data_cli import parse_options

    parsed = parse_options(["n_train=1000", "val_fraction=0.2", "origin=pickle", "seed=7"],
                           DATASETS.get("multifashion"))
    assert parsed == {"n_train": 1000, "val_fraction": 0.2, "origin": "pickle", "seed": 7}
    assert type(parsed["n_train"]) is int and type(parsed["val_fraction"]) is float
    assert parse_options(["normalize=false"], DATASETS.get("multimnist")) == {"normalize": False}
    assert parse_options(["attributes=[Goatee, Smiling]", "max_images=null"],
                         DATASETS.get("celeba")) == {"attributes": ["Goatee", "Smiling"],
                                                     "max_images": None}


def test_prepare_embedded_dataset_is_a_no_op(workdir):
    result = invoke("data", "prepare", "synthetic_concave")
    assert result.exit_code == 0 and "nothing to prepare" in result.stdout


def test_sweep_with_missing_data_exits_2_and_writes_nothing(workdir, write_spec):
    spec = write_spec("""
        name: missing_data
        datasets: [multimnist]
        methods: [{name: linear}]
        train: {epochs: 1}
    """)
    assert_one_line_exit_2(invoke("sweep", spec), "multimnist: MNIST files missing",
                           "paretoctl data prepare multimnist --download")
    assert not (workdir / "paretoctl.db").exists()
    assert not (workdir / ".paretoctl").exists()


def test_sweeps_prepare_each_distinct_dataset_once(tmp_path, monkeypatch):
    from trainers.datasets.prepare import prepare_trials

    calls = []
    source = DATASETS.get("multimnist36")
    monkeypatch.setattr(source, "prepare", classmethod(
        lambda cls, options, data_dir, **kw: calls.append(options) or tmp_path / "x.pt"))
    trials = [{"dataset": {"name": "multimnist36", "options": {"n_train": 10, "seed": s}}}
              for s in (0, 0, 1)] + [{"dataset": {"name": "multidigits", "options": {}}}]
    assert prepare_trials(trials, tmp_path) == [tmp_path / "x.pt"] * 2
    assert calls == [{"n_train": 10, "seed": 0}, {"n_train": 10, "seed": 1}]
