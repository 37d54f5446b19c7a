"""``multimnist`` (MDMTN recipe): overlay and resize arithmetic on hand-made digits, and
a whole build from tiny MNIST IDX files."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from test_datasets_fakes import write_mnist
from trainers.datasets import DATASETS
from trainers.datasets.imageops import skimage_resize
from trainers.datasets.multimnist import compose, overlay_pair, random_split_indices


def hand_made_pair():
    left = np.zeros((1, 28, 28), dtype=np.uint8)
    right = np.zeros((1, 28, 28), dtype=np.uint8)
    left[0, 0, 0] = 200          # only in the left box
    left[0, 10, 10] = 100        # overlap region, right is brighter there
    right[0, 4, 4] = 180         # lands on canvas (10, 10)
    left[0, 20, 20] = 250        # overlap region, left is brighter there
    right[0, 14, 14] = 30        # lands on canvas (20, 20)
    right[0, 27, 27] = 77        # lands on canvas (33, 33), only in the right box
    return left, right


def test_overlay_places_right_digit_at_plus_six_and_keeps_the_max():
    left, right = hand_made_pair()
    canvas = overlay_pair(left, right)[0]
    assert canvas.shape == (36, 36) and canvas.dtype == np.float64
    expected = np.zeros((36, 36))
    expected[0, 0], expected[10, 10], expected[20, 20], expected[33, 33] = 200, 180, 250, 77
    assert np.array_equal(canvas, expected)


def reference_resize(image: np.ndarray, out: int) -> np.ndarray:
    """Straight from the definition (loops): 3-tap Gaussian with mirror edges, then
    bilinear sampling at (o + 0.5) * in / out - 0.5."""
    n = image.shape[0]
    scale = n / out
    sigma = (scale - 1) / 2
    radius = int(4.0 * sigma + 0.5)
    taps = np.array([math.exp(-0.5 * (k / sigma) ** 2) for k in range(-radius, radius + 1)])
    taps /= taps.sum()

    def mirror(i):
        return -i if i < 0 else (2 * (n - 1) - i if i > n - 1 else i)

    rows = np.array([[sum(taps[k + radius] * image[mirror(r + k), c] for k in range(-radius, radius + 1))
                      for c in range(n)] for r in range(n)])
    blurred = np.array([[sum(taps[k + radius] * rows[r, mirror(c + k)] for k in range(-radius, radius + 1))
                         for c in range(n)] for r in range(n)])
    result = np.zeros((out, out))
    for o in range(out):
        for p in range(out):
            y, x = (o + 0.5) * scale - 0.5, (p + 0.5) * scale - 0.5
            y0, x0 = int(math.floor(y)), int(math.floor(x))
            fy, fx = y - y0, x - x0
            result[o, p] = ((1 - fy) * (1 - fx) * blurred[y0, x0] + (1 - fy) * fx * blurred[y0, x0 + 1]
                            + fy * (1 - fx) * blurred[y0 + 1, x0] + fy * fx * blurred[y0 + 1, x0 + 1])
    return np.clip(result, image.min(), image.max())


def test_resize_matches_the_definition_pixel_by_pixel():
    left, right = hand_made_pair()
    canvas = overlay_pair(left, right)
    ours = skimage_resize(canvas, (28, 28))[0]
    expected = reference_resize(canvas[0], 28)
    assert np.allclose(ours, expected, rtol=0, atol=1e-9)
    # the isolated corner pixel: output (0, 0) samples input (1/7, 1/7), bilinear weight
    # (6/7)^2 on pixel (0, 0); the Gaussian's side taps (2e-11) barely touch it
    assert ours[0, 0] == pytest.approx(200 * (6 / 7) ** 2, abs=1e-6)
    stored = compose(left, right)[0]
    assert stored.dtype == np.uint8
    assert np.array_equal(stored, np.floor(expected).astype(np.uint8))  # truncation, not rounding


def test_resize_keeps_constant_images_and_the_0_255_scale():
    flat = np.full((2, 36, 36), 255.0)
    assert np.array_equal(skimage_resize(flat, (28, 28)), np.full((2, 28, 28), 255.0))


@pytest.fixture(scope="module")
def mnist_source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist_src")
    return folder, write_mnist(folder, n_train=60, n_test=20, seed=3)


def test_build_shapes_labels_and_split(mnist_source, tmp_path):
    folder, arrays = mnist_source
    source = DATASETS.get("multimnist")
    source.prepare({}, tmp_path / "data", source_dir=folder)
    bundle = source.build({}, tmp_path / "data")
    sizes = {s: len(bundle.splits[s]) for s in ("train", "val", "test")}
    assert sizes == {"train": int(0.83334 * 60), "val": 60 - int(0.83334 * 60), "test": 20}
    assert bundle.input_shape == (1, 28, 28) and bundle.task_names == ["left", "right"]
    for split in bundle.splits.values():
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.y.shape == (len(split), 2)
    # the test split is not shuffled: sample i has MNIST test image i on the left
    test_images, test_labels = arrays["test"]
    y = bundle.splits["test"].y.numpy()
    assert np.array_equal(y[:, 0], test_labels)
    # its image is the composite of image i and the partner whose label is y[i, 1]
    x = bundle.splits["test"].x.numpy()
    pixels = np.round((x * 0.3081 + 0.1307) * 255).astype(np.int64)
    for i in range(20):
        partners = [j for j in range(20) if test_labels[j] == y[i, 1]]
        composites = [compose(test_images[i:i + 1], test_images[j:j + 1])[0] for j in partners]
        assert any(np.array_equal(pixels[i, 0], c) for c in composites)
    # train/val are the authors' seeded random_split of the 60 training composites
    train_idx, val_idx = random_split_indices(60, 0.83334, 42)
    train_labels = arrays["train"][1]
    assert np.array_equal(bundle.splits["train"].y[:, 0].numpy(), train_labels[train_idx])
    assert np.array_equal(bundle.splits["val"].y[:, 0].numpy(), train_labels[val_idx])


def prepared(options, data_dir, folder):
    source = DATASETS.get("multimnist")
    source.prepare(options, data_dir, source_dir=folder)
    return source.build(options, data_dir)


def test_normalisation_option_and_determinism(mnist_source, tmp_path):
    folder, _ = mnist_source
    source = DATASETS.get("multimnist")
    a, b = prepared({}, tmp_path / "a", folder), prepared({}, tmp_path / "b", folder)
    for split in ("train", "val", "test"):
        assert torch.equal(a.splits[split].x, b.splits[split].x)
        assert torch.equal(a.splits[split].y, b.splits[split].y)
    raw = source.build({"normalize": False}, tmp_path / "a")
    assert raw.splits["test"].x.min() >= 0 and raw.splits["test"].x.max() <= 1
    assert torch.allclose(a.splits["test"].x, (raw.splits["test"].x - 0.1307) / 0.3081, atol=1e-5)
    # normalize only changes decoding: both read the same cache file
    assert a.info["cache"] == raw.info["cache"]
    other_seed = prepared({"seed": 1}, tmp_path / "a", folder)
    assert not torch.equal(other_seed.splits["test"].y, a.splits["test"].y)
