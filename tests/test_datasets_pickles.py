"""Pickled raw files (CIFAR-10 batches, the Pareto MTL authors' pickles) build numpy
arrays only: a planted pickle that would run code is refused before anything runs, with
one line naming the file, and the real layouts still load under every protocol."""
from __future__ import annotations

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from test_datasets_fakes import write_cifar, write_mnist
from trainers.datasets.readers import read_cifar_batch, read_pmtl_pickle
from trainers.errors import DataError

runner = CliRunner()


class Payload:
    """Pickles as a call of ``func(*args)``: what a crafted data file would do."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker) -> dict[str, Payload]:
    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "builtins.exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
    }


def assert_refused(result, path, marker):
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and message.startswith("error:"), message
    assert f"{path}: not a readable pickle (UnpicklingError: refused to load " in message, message
    assert not marker.exists(), "the planted pickle ran code"


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "subprocess.call"])
def test_planted_pmtl_pickle_does_not_run(workdir, kind):
    """``origin: auto`` finds <data>/multi/multi_fashion.pickle by itself."""
    marker = workdir / "pwned"
    planted = workdir / "data" / "multi" / "multi_fashion.pickle"
    planted.parent.mkdir(parents=True)
    payload = payloads(marker)[kind]
    planted.write_bytes(pickle.dumps((payload, np.zeros((2, 2), np.int64), payload, None)))
    assert_refused(runner.invoke(app, ["data", "prepare", "multifashion"]), planted, marker)
    assert not (workdir / "data" / "cache").exists() or not any((workdir / "data" / "cache").glob("*.pt"))


def test_planted_pickle_stops_a_sweep_before_the_store(workdir, write_spec):
    marker = workdir / "pwned"
    planted = workdir / "data" / "multi" / "multi_mnist.pickle"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(pickle.dumps(payloads(marker)["os.system"], protocol=2))
    spec = write_spec("""
        name: planted
        datasets: [multimnist36]
        methods: [{name: linear}]
        train: {epochs: 1}
    """)
    assert_refused(runner.invoke(app, ["sweep", str(spec)]), planted, marker)
    assert not (workdir / "paretoctl.db").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_planted_cifar_batch_does_not_run(workdir, protocol):
    marker = workdir / "pwned"
    data = workdir / "data"
    write_mnist(data / "MNIST" / "raw", n_train=10, n_test=4)
    write_cifar(data / "cifar-10-batches-py")
    planted = data / "cifar-10-batches-py" / "data_batch_3"
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2],
             b"filenames": payloads(marker)["subprocess.call"]}
    planted.write_bytes(pickle.dumps(batch, protocol=protocol))
    assert_refused(runner.invoke(app, ["data", "prepare", "cifar10mnist"]), planted, marker)


# ----------------------------------------------------------------------------- real layouts


def numpy1_names(blob: bytes) -> bytes:
    """A protocol-2 pickle as numpy 1 (and Python 2's cPickle) names its globals."""
    return blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_cifar_batches_still_load(tmp_path, protocol):
    rng = np.random.default_rng(protocol)
    data = rng.integers(0, 256, size=(5, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=5)]
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": labels, b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(5)]}
    blobs = [pickle.dumps(batch, protocol=protocol)]
    if protocol == 2:
        blobs.append(numpy1_names(blobs[0]))
        assert blobs[1] != blobs[0]
    for i, blob in enumerate(blobs):
        path = tmp_path / f"data_batch_{i}"
        path.write_bytes(blob)
        images, got_labels = read_cifar_batch(path)
        assert np.array_equal(images, data.reshape(-1, 3, 32, 32)) and images.dtype == np.uint8
        assert got_labels.tolist() == labels


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pmtl_pickles_still_load(tmp_path, protocol):
    """The authors' 4-tuple: train images, train labels, test images, test labels (float
    images, integer label pairs; numpy integer scalars inside lists load too)."""
    rng = np.random.default_rng(protocol)
    train_x = rng.random((6, 36, 36)).astype(np.float32)
    test_x = rng.integers(0, 256, (3, 1296)).astype(np.uint8)
    train_y, test_y = rng.integers(0, 10, (6, 2)), [[np.int64(3), np.int64(4)]] * 3
    path = tmp_path / "multi_mnist.pickle"
    path.write_bytes(pickle.dumps((train_x, train_y, test_x, test_y), protocol=protocol))
    content = read_pmtl_pickle(path)
    assert np.array_equal(content["train"][0], train_x.reshape(6, 1, 36, 36))
    assert np.array_equal(content["train"][1], train_y)
    assert np.array_equal(content["test"][0], test_x.reshape(3, 1, 36, 36))
    assert content["test"][1].tolist() == [[3, 4]] * 3


def test_other_numpy_globals_are_refused_too(tmp_path):
    """Only the reconstruction globals: not numpy.load, not a numpy class's constructor."""
    path = tmp_path / "multi_mnist.pickle"
    path.write_bytes(pickle.dumps(Payload(np.load, str(tmp_path / "x.npy"))))
    with pytest.raises(DataError, match=r"refused to load numpy\.load") as info:
        read_pmtl_pickle(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    path.write_bytes(pickle.dumps(np.ma.masked_array([1, 2], mask=[0, 1])))
    with pytest.raises(DataError, match="refused to load numpy.ma"):
        read_pmtl_pickle(path)
