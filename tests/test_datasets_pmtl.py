"""The 36x36 Pareto MTL family: the seeded generator's arithmetic, builds from tiny IDX
files and from the authors' pickle layout, and a build from the real Debian
Fashion-MNIST files with label-balance and overlap statistics."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from test_datasets_fakes import fake_images, write_mnist
from trainers.datasets import DATASETS
from trainers.datasets.pmtl_family import compose_pairs, validation_split
from trainers.datasets.readers import read_idx_pair
from trainers.datasets.sources import DEBIAN_FASHION_MNIST
from trainers.errors import DataError


def placed(image: np.ndarray, row: int, col: int) -> np.ndarray:
    canvas = np.zeros((36, 36), dtype=np.uint8)
    canvas[row:row + 28, col:col + 28] = image
    return canvas


def check_composites(x, y, provenance, tl_images, tl_labels, br_images, br_labels):
    """Every composite is the max of its two items at their recorded places."""
    for k in range(len(x)):
        tl, br, r1, c1, r2, c2 = provenance[k]
        assert 0 <= r1 <= 4 and 0 <= c1 <= 4 and 4 <= r2 <= 8 and 4 <= c2 <= 8
        expected = np.maximum(placed(tl_images[tl], r1, c1), placed(br_images[br], r2, c2))
        assert np.array_equal(x[k, 0], expected)
        assert (y[k, 0], y[k, 1]) == (tl_labels[tl], br_labels[br])


def test_hand_made_pair_overlap_keeps_the_max():
    left = np.full((1, 28, 28), 100, np.uint8)
    right = np.full((1, 28, 28), 60, np.uint8)
    right[0, 0, 0], left[0, 27, 27] = 250, 30
    # max_shift 0: top-left box at (0, 0), bottom-right box at (8, 8)
    x, y, prov = compose_pairs(left, np.array([3]), right, np.array([5]), 1,
                               np.random.default_rng(0), max_shift=0)
    canvas = x[0, 0]
    assert prov[0, 2:].tolist() == [0, 0, 8, 8] and y[0].tolist() == [3, 5]
    assert canvas[0, 0] == 100 and canvas[7, 30] == 0 and canvas[35, 35] == 60  # one item each
    assert canvas[8, 8] == 250      # overlap, right brighter
    assert canvas[13, 20] == 100    # overlap, left brighter
    assert canvas[27, 27] == 60     # overlap, left dimmer here
    check_composites(x, y, prov, left, [3], right, [5])


def test_generator_properties_and_determinism():
    rng = np.random.default_rng(0)
    images, labels = fake_images(30, rng), np.arange(30) % 10
    x, y, prov = compose_pairs(images, labels, images, labels, 70, np.random.default_rng(5))
    assert x.shape == (70, 1, 36, 36) and x.dtype == np.uint8 and y.dtype == np.int64
    assert (y[:, 0] != y[:, 1]).all()
    assert np.bincount(prov[:60, 0], minlength=30).tolist() == [2] * 30  # each image twice top-left
    check_composites(x, y, prov, images, labels, images, labels)
    again = compose_pairs(images, labels, images, labels, 70, np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip((x, y, prov), again))
    with pytest.raises(DataError, match="different classes"):
        compose_pairs(images, np.zeros(30, int), images, np.zeros(30, int), 5, rng)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pmtl_src")
    return folder, write_mnist(folder, n_train=40, n_test=15, seed=4)


def test_multimnist36_build(mnist_dir, tmp_path):
    folder, arrays = mnist_dir
    source = DATASETS.get("multimnist36")
    options = {"n_train": 80, "n_test": 30}
    source.prepare(options, tmp_path, source_dir=folder)
    bundle = source.build(options, tmp_path)
    assert {s: len(v) for s, v in bundle.splits.items()} == {"train": 72, "val": 8, "test": 30}
    assert bundle.input_shape == (1, 36, 36) and bundle.info["built_from"] == "generated"
    payload = torch.load(bundle.info["cache"], weights_only=True)
    for split, part in (("train", "train"), ("val", "train"), ("test", "test")):
        x = bundle.splits[split].x
        assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
        pixels = np.round(x.numpy() * 255).astype(np.uint8)
        images, labels = arrays[part]
        check_composites(pixels, bundle.splits[split].y.numpy(), payload["provenance"][split].numpy(),
                         images, labels, images, labels)
    train_idx, val_idx = validation_split(80, 0.1, 42)
    assert len(val_idx) == 8 and len(set(train_idx) | set(val_idx)) == 80


def test_mixed_set_puts_mnist_top_left_and_fashion_bottom_right(tmp_path):
    mnist = write_mnist(tmp_path / "MNIST" / "raw", n_train=20, n_test=10, seed=1)
    fashion = write_mnist(tmp_path / "FashionMNIST" / "raw", n_train=20, n_test=10, seed=2)
    source = DATASETS.get("multifashion_mnist")
    options = {"n_train": 20, "n_test": 10}
    source.prepare(options, tmp_path)
    payload = torch.load(source.cache_entry(source.resolve_options(options), tmp_path).data_path,
                         weights_only=True)
    test = payload["splits"]["test"]
    check_composites(test["x"].numpy(), test["y"].numpy(), payload["provenance"]["test"].numpy(),
                     *mnist["test"], *fashion["test"])
    with pytest.raises(DataError, match="resolve to the same file"):
        source.prepare(options, tmp_path / "other", source_dir=tmp_path / "MNIST" / "raw", force=True)


def test_authors_pickle_is_used_as_stored(tmp_path, mnist_dir):
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (30, 36, 36)).astype(np.uint8)
    test_x = rng.integers(0, 256, (10, 1296)).astype(np.uint8)
    parts = (train_x, rng.integers(0, 10, (30, 2)), test_x, rng.integers(0, 10, (10, 2)))
    (tmp_path / "multi").mkdir()
    (tmp_path / "multi" / "multi_mnist.pickle").write_bytes(pickle.dumps(parts))
    source = DATASETS.get("multimnist36")
    options = {"n_train": 30, "n_test": 10}
    source.prepare(options, tmp_path, source_dir=mnist_dir[0])  # auto: the pickle wins
    bundle = source.build(options, tmp_path)
    assert bundle.info["built_from"] == "pickle"
    assert torch.equal(bundle.splits["test"].x, torch.from_numpy(test_x.reshape(10, 1, 36, 36)).float())
    assert bundle.splits["test"].y.tolist() == parts[3].tolist()
    assert len(bundle.splits["train"]) == 27 and len(bundle.splits["val"]) == 3
    with pytest.raises(DataError, match="n_train=50 but"):
        source.prepare({"n_train": 50, "n_test": 10}, tmp_path)
    forced = {**options, "origin": "generate"}
    source.prepare(forced, tmp_path, source_dir=mnist_dir[0])
    assert source.build(forced, tmp_path).info["built_from"] == "generated"


def test_bad_options_are_one_line_errors(tmp_path):
    source = DATASETS.get("multifashion")
    for options, message in (
            ({"origin": "drive"}, "option origin: expected one of auto, pickle, generate, got 'drive'"),
            ({"n_train": 1}, "option n_train: expected an integer in 2..120000, got 1"),
            ({"n_train": 10**8}, "option n_train: expected an integer in 2..120000, got 100000000"),
            ({"n_test": "1000"}, "option n_test: expected an integer in 2..20000, got '1000'"),
            ({"max_shift": 9}, "option max_shift: expected an integer in 0..8, got 9"),
            ({"val_fraction": 1.0}, r"option val_fraction: expected a finite number > 0 and < 1"),
            ({"n_train": 2, "val_fraction": 0.6}, "option val_fraction: 0.6 of n_train=2 leaves no"),
            ({"colour": 1}, r"option colour: unknown option \(known: max_shift, n_test")):
        with pytest.raises(DataError, match=f"^multifashion: {message}"):
            source.prepare(options, tmp_path)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


REAL = Path(DEBIAN_FASHION_MNIST)


@pytest.mark.skipif(not (REAL / "train-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's dataset-fashion-mnist is not installed ({REAL} is absent); "
                           "CI installs it")
def test_multifashion_from_real_debian_files(tmp_path):
    source = DATASETS.get("multifashion")
    options = {"n_train": 6000, "n_test": 2000}
    source.prepare(options, tmp_path)  # no --source: found in the system folder
    bundle = source.build(options, tmp_path)
    meta = source.cache_entry(source.resolve_options(options), tmp_path).read_meta()
    assert meta["sources"]["fashion/train_images"]["path"].startswith(str(REAL))
    assert {s: len(v) for s, v in bundle.splits.items()} == {"train": 5400, "val": 600, "test": 2000}
    payload = torch.load(bundle.info["cache"], weights_only=True)
    images, labels = read_idx_pair(REAL / "t10k-images-idx3-ubyte.gz", REAL / "t10k-labels-idx1-ubyte.gz")
    test_x = payload["splits"]["test"]["x"].numpy()
    test_y = payload["splits"]["test"]["y"].numpy()
    prov = payload["provenance"]["test"].numpy()
    check_composites(test_x[:300], test_y[:300], prov[:300], images, labels, images, labels)
    # labels: balanced classes on both tasks, never the same class twice
    y = torch.cat([bundle.splits[s].y for s in ("train", "val")]).numpy()
    for task in (0, 1):
        share = np.bincount(y[:, task], minlength=10) / len(y)
        assert share.min() > 0.08 and share.max() < 0.12, share
    assert (y[:, 0] != y[:, 1]).all()
    # overlap: the two 28x28 boxes share 20..28 rows/cols (24 on average), placements uniform
    side = 28 - (prov[:, 4] - prov[:, 2])
    assert side.min() >= 20 and side.max() <= 28 and 23.5 < side.mean() < 24.5
    assert (np.bincount(prov[:, 2], minlength=5) / len(prov)).min() > 0.15
    # ink: lit pixels of both items overlap (IoU about 0.35 for clothes), and composites
    # light up more of the canvas than either item alone
    tl_ink = np.zeros((300, 36, 36), bool)
    br_ink = np.zeros((300, 36, 36), bool)
    for k in range(300):
        a, b, r1, c1, r2, c2 = prov[k]
        tl_ink[k, r1:r1 + 28, c1:c1 + 28] = images[a] > 0
        br_ink[k, r2:r2 + 28, c2:c2 + 28] = images[b] > 0
    iou = ((tl_ink & br_ink).sum((1, 2)) / (tl_ink | br_ink).sum((1, 2))).mean()
    assert 0.2 < iou < 0.5, iou
    assert ((test_x[:300, 0] > 0) == (tl_ink | br_ink)).all()
