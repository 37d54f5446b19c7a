"""Tiny raw files in the real formats (MNIST IDX, plain or gzip; CIFAR-10 python pickles),
written into temp folders by the dataset tests; plus the readers' own tests on them."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from trainers.datasets.readers import read_cifar_batch, read_idx, read_idx_pair, read_pmtl_pickle
from trainers.errors import DataError

IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: magic 0 0 0x08 ndim, big-endian sizes, then the data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def fake_images(n: int, rng: np.random.Generator, side: int = 28) -> np.ndarray:
    """Sparse stroke-like uint8 images: about a fifth of the pixels lit."""
    images = rng.integers(1, 256, size=(n, side, side)).astype(np.uint8)
    images[rng.random((n, side, side)) < 0.8] = 0
    return images


def write_mnist(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0,
                gz: bool = True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four MNIST-format files in ``folder``; labels cycle 0..9. Returns the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = fake_images(n, rng), (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / IDX_NAMES[split][0], images, gz)
        write_idx(folder / IDX_NAMES[split][1], labels, gz)
        arrays[split] = (images, labels.astype(np.int64))
    return arrays


def write_cifar(folder: Path, per_batch: int = 2, n_test: int = 4, seed: int = 0) -> dict:
    """CIFAR-10 python batches (bytes keys, as the real ones); returns the arrays
    as (N, 3, 32, 32) uint8 and int64 labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train": ([], []), "test": ([], [])}
    files = [(f"data_batch_{i}", "train", per_batch) for i in range(1, 6)] + [("test_batch", "test", n_test)]
    for name, split, n in files:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[split][0].append(data.reshape(-1, 3, 32, 32))
        arrays[split][1].append(np.array(labels, dtype=np.int64))
    return {s: (np.concatenate(x), np.concatenate(y)) for s, (x, y) in arrays.items()}


# ----------------------------------------------------------------------------- readers


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images = fake_images(5, np.random.default_rng(1))
    path = write_idx(tmp_path / "imgs", images, gz)
    assert np.array_equal(read_idx(path, 3), images)


def test_idx_pair_checks_counts_and_labels(tmp_path):
    images = write_idx(tmp_path / "i", fake_images(4, np.random.default_rng(0)))
    short = write_idx(tmp_path / "l", np.arange(3))
    with pytest.raises(DataError, match="3 labels for 4 images"):
        read_idx_pair(images, short)
    bad = write_idx(tmp_path / "b", np.array([0, 1, 12, 3]))
    with pytest.raises(DataError, match="labels outside 0..9"):
        read_idx_pair(images, bad)


@pytest.mark.parametrize("content, message", [
    (b"\x08\x03\x00\x00junk", "bad magic number"),
    (bytes([0, 0, 0x08, 3]) + b"".join((n).to_bytes(4, "big") for n in (1, 1, 5)) + b"abc",
     "size mismatch"),
    (bytes([0, 0, 0x08, 3]) + (1).to_bytes(4, "big"), "header is truncated"),
    (bytes([0, 0, 0x08, 1]) + (1).to_bytes(4, "big") + b"a", "expected an IDX file with 3"),
])
def test_corrupt_idx_is_one_line_data_error(tmp_path, content, message):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path, 3)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_truncated_gzip_is_data_error(tmp_path):
    path = write_idx(tmp_path / "imgs", fake_images(20, np.random.default_rng(0)))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path, 3)


def test_cifar_batch_reader(tmp_path):
    arrays = write_cifar(tmp_path, per_batch=3, n_test=2)
    x, y = read_cifar_batch(tmp_path / "data_batch_1")
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8
    assert np.array_equal(x, arrays["train"][0][:3]) and np.array_equal(y, arrays["train"][1][:3])
    (tmp_path / "broken").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="not a readable pickle"):
        read_cifar_batch(tmp_path / "broken")
    (tmp_path / "wrong").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [1, 2]}))
    with pytest.raises(DataError, match=r"uint8 \(N, 3072\)"):
        read_cifar_batch(tmp_path / "wrong")


def test_pmtl_pickle_reader(tmp_path):
    rng = np.random.default_rng(0)
    parts = (rng.random((6, 36, 36)).astype(np.float32), rng.integers(0, 10, (6, 2)),
             rng.random((4, 1296)).astype(np.float32), rng.integers(0, 10, (4, 2)))
    (tmp_path / "m.pickle").write_bytes(pickle.dumps(parts))
    content = read_pmtl_pickle(tmp_path / "m.pickle")
    assert content["train"][0].shape == (6, 1, 36, 36) and content["test"][0].shape == (4, 1, 36, 36)
    assert np.array_equal(content["test"][1], parts[3])
    (tmp_path / "bad.pickle").write_bytes(pickle.dumps((1, 2, 3)))
    with pytest.raises(DataError, match="4-tuple"):
        read_pmtl_pickle(tmp_path / "bad.pickle")
