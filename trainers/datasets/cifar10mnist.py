"""``cifar10mnist``: the MDMTN paper's Cifar10Mnist (docs/datasets.md#cifar10mnist):
CIFAR-10 image i with MNIST digit i laid over it, task ``cifar`` (the CIFAR class) and task
``mnist`` (the digit).

Construction, exactly as the authors' PIL code computes it:

1. pairs are index-aligned: CIFAR-10 train image i with MNIST train digit i for
   i < 50,000 (the last 10k MNIST train digits are unused), test image i with test
   digit i for i < 10,000;
2. the 28x28 digit is resized to 32x32 with PIL's bicubic filter (PIL's default for
   mode "L");
3. a mask is 128 where the resized digit is > 0, else 0;
4. the digit (gray replicated to R, G, B) is pasted over the CIFAR image through that
   mask, which PIL computes per channel as ``DIV255(cifar * (255 - m) + digit * m)``
   with ``DIV255(v) = ((t >> 8) + t) >> 8``, t = v + 128 (round to nearest): about half
   digit, half CIFAR wherever the digit is > 0 (bicubic halos included), pure CIFAR
   elsewhere. ``blend`` does this on whole arrays; the tests check it against PIL.

The 50k training pairs are split 40,000 / 10,000 (train / val) by
``torch.utils.data.random_split`` seeded ``split_seed`` (42); the test split is the 10k
test pairs. Images are stored as uint8 (N, 3, 32, 32); inputs are x / 255 normalised
per channel with the authors' mean (0.4914, 0.4822, 0.4465) and std (0.2023, 0.1994,
0.2010) (``normalize: false`` keeps [0, 1], as the authors' MGDA pipeline). No
augmentation: the paper-era pipeline had none (docs/datasets.md#cifar10mnist).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.cached import CachedSource, image_inputs, split_payload
from trainers.datasets.multimnist import random_split_indices
from trainers.datasets.progress import Progress, chunks
from trainers.datasets.readers import read_cifar, read_idx_pair
from trainers.datasets.sources import CIFAR10, MNIST
from trainers.errors import DataError
from trainers.options import Option, seed_option

SIDE = 32
MASK = 128
TRAIN_FRACTION = 0.8
SIZES = {"train": 50000, "test": 10000}
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
CHUNK = 5000


def resize_digits(digits: np.ndarray) -> np.ndarray:
    """28x28 uint8 digits to 32x32 with PIL's bicubic filter, one image at a time."""
    out = np.empty((len(digits), SIDE, SIDE), dtype=np.uint8)
    for i, digit in enumerate(digits):
        out[i] = np.asarray(Image.fromarray(digit).resize((SIDE, SIDE), Image.BICUBIC))
    return out


def div255(value: np.ndarray) -> np.ndarray:
    """PIL's rounding division by 255 of integer blends (libImaging's DIV255)."""
    tmp = value + 128
    return ((tmp >> 8) + tmp) >> 8


def blend(cifar: np.ndarray, digits32: np.ndarray) -> np.ndarray:
    """Paste gray ``digits32`` (N, 32, 32) over ``cifar`` (N, 3, 32, 32) through the mask
    128 * (digit > 0), with PIL's integer arithmetic; uint8 (N, 3, 32, 32)."""
    mask = np.where(digits32 > 0, MASK, 0).astype(np.int32)[:, None]
    mixed = cifar.astype(np.int32) * (255 - mask) + digits32.astype(np.int32)[:, None] * mask
    return div255(mixed).astype(np.uint8)


@DATASETS.register("cifar10mnist")
class Cifar10Mnist(CachedSource):
    name = "cifar10mnist"
    tasks = (Task("cifar"), Task("mnist"))
    input_shape = (3, SIDE, SIDE)
    default_arch = "hps"
    option_table = {"split_seed": seed_option(42), "normalize": Option(True, bool)}
    decode_options = ("normalize",)
    description = "MDMTN Cifar10Mnist: CIFAR-10 image i with MNIST digit i blended over it; 40k/10k/10k"

    @classmethod
    def raw_sets(cls, options):
        return {"cifar10": CIFAR10, "mnist": MNIST}

    @classmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        cifar_files = {"train": [sources[f"cifar10/data_batch_{i}"] for i in range(1, 6)],
                       "test": [sources["cifar10/test_batch"]]}
        made = {}
        for part in ("train", "test"):
            images, classes = read_cifar(cifar_files[part])
            digits, labels = read_idx_pair(sources[f"mnist/{part}_images"],
                                           sources[f"mnist/{part}_labels"])
            if digits.shape[1:] != (28, 28):
                raise DataError(f"{cls.name}: MNIST {part} images are {digits.shape[1:]}, not 28x28")
            n = min(SIZES[part], len(images), len(digits))
            x = np.empty((n, 3, SIDE, SIDE), dtype=np.uint8)
            for block in chunks(n, CHUNK, f"blending {part}", progress):
                x[block] = blend(images[block], resize_digits(digits[block]))
            made[part] = (x, np.stack([classes[:n], labels[:n]], axis=1))
        x, y = made["train"]
        train_idx, val_idx = random_split_indices(len(x), TRAIN_FRACTION, int(options["split_seed"]))
        return {"splits": {"train": split_payload(x[train_idx], y[train_idx]),
                           "val": split_payload(x[val_idx], y[val_idx]),
                           "test": split_payload(*made["test"])},
                "meta": {"pixel_scale": 1.0 / 255}}

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any], meta: dict[str, Any]) -> torch.Tensor:
        if options["normalize"]:
            return image_inputs(x, 1.0 / 255, CIFAR_MEAN, CIFAR_STD)
        return image_inputs(x, 1.0 / 255)
