"""``cifar10mnist``: the blend formula on hand-made pixels and against PIL itself, and a
build from tiny CIFAR-10 pickles and MNIST IDX files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from test_datasets_fakes import write_cifar, write_mnist
from trainers.datasets import DATASETS
from trainers.datasets.cifar10mnist import CIFAR_MEAN, CIFAR_STD, blend, div255, resize_digits
from trainers.datasets.multimnist import random_split_indices


def pil_overlay(cifar_hwc: np.ndarray, digit28: np.ndarray) -> np.ndarray:
    """The authors' steps with PIL: bicubic resize, mask 128 where > 0, paste through it."""
    digit = Image.fromarray(digit28).resize((32, 32), Image.BICUBIC)
    mask = digit.point(lambda p: 128 if p > 0 else 0)
    canvas = Image.new("RGB", (32, 32))
    canvas.paste(Image.fromarray(cifar_hwc), (0, 0))
    canvas.paste(digit, (0, 0), mask)
    return np.asarray(canvas)


def test_blend_by_hand():
    cifar = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    cifar[0, :, 0, 0] = (200, 10, 255)   # digit 100 here
    cifar[0, :, 0, 1] = (200, 10, 255)   # digit 0 here: CIFAR untouched
    cifar[0, :, 5, 5] = (0, 1, 254)      # digit 255 here
    digits = np.zeros((1, 32, 32), dtype=np.uint8)
    digits[0, 0, 0], digits[0, 5, 5] = 100, 255
    out = blend(cifar, digits)[0]
    # DIV255(v) with t = v + 128: ((t >> 8) + t) >> 8, on cifar * 127 + digit * 128
    assert out[:, 0, 0].tolist() == [150, 55, 177]   # (25400 + 12800), (1270 + 12800), (32385 + 12800)
    assert out[:, 0, 1].tolist() == [200, 10, 255]
    assert out[:, 5, 5].tolist() == [128, 128, 255]   # 32640, 32767, 64898
    assert div255(np.array([38200, 14070, 45185, 32640, 32767, 65025])).tolist() == [150, 55, 177, 128, 128, 255]
    untouched = np.ones((1, 32, 32), dtype=bool)
    untouched[0, 0, 0] = untouched[0, 5, 5] = False
    assert np.array_equal(out[:, untouched[0]], cifar[0][:, untouched[0]])


def test_blend_equals_pil_paste_on_random_images():
    rng = np.random.default_rng(7)
    cifar = rng.integers(0, 256, (40, 3, 32, 32), dtype=np.uint8)
    digits = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    digits[rng.random(digits.shape) < 0.7] = 0
    ours = blend(cifar, resize_digits(digits))
    for i in range(len(cifar)):
        expected = pil_overlay(cifar[i].transpose(1, 2, 0), digits[i])
        assert np.array_equal(ours[i].transpose(1, 2, 0), expected)


def test_resize_is_pil_bicubic():
    digit = np.zeros((1, 28, 28), dtype=np.uint8)
    digit[0, 10:18, 12:14] = 255
    expected = np.asarray(Image.fromarray(digit[0]).resize((32, 32), Image.BICUBIC))
    assert np.array_equal(resize_digits(digit)[0], expected)
    assert (resize_digits(digit)[0] > 0).sum() > 16  # bicubic halo: the mask covers more


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("cm_src")
    cifar = write_cifar(root / "cifar-10-batches-py", per_batch=2, n_test=4, seed=1)
    mnist = write_mnist(root / "MNIST" / "raw", n_train=12, n_test=6, seed=2, gz=False)
    return root, cifar, mnist


def test_build_pairs_index_aligned_and_splits_80_20(sources):
    root, cifar, mnist = sources
    source = DATASETS.get("cifar10mnist")
    source.prepare({}, root)   # the files sit in torchvision's layout inside the data dir
    bundle = source.build({}, root)
    assert {s: len(bundle.splits[s]) for s in bundle.splits} == {"train": 8, "val": 2, "test": 4}
    assert bundle.input_shape == (3, 32, 32) and bundle.task_names == ["cifar", "mnist"]
    test = bundle.splits["test"]
    assert test.x.dtype == torch.float32 and test.y.dtype == torch.int64
    assert test.y[:, 0].tolist() == cifar["test"][1].tolist()
    assert test.y[:, 1].tolist() == mnist["test"][1][:4].tolist()
    expected = blend(cifar["test"][0], resize_digits(mnist["test"][0][:4])).astype(np.float32) / 255
    mean = np.array(CIFAR_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(CIFAR_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    assert np.allclose(test.x.numpy(), (expected - mean) / std, atol=1e-5)
    train_idx, val_idx = random_split_indices(10, 0.8, 42)
    assert bundle.splits["train"].y[:, 0].tolist() == cifar["train"][1][train_idx].tolist()
    assert bundle.splits["val"].y[:, 1].tolist() == mnist["train"][1][val_idx].tolist()
    plain = source.build({"normalize": False}, root)
    assert np.allclose(plain.splits["test"].x.numpy(), expected, atol=1e-6)
