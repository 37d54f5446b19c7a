"""``multimnist``: MultiMNIST as the MDMTN paper builds it (docs/datasets.md#multimnist,
Sener & Koltun's recipe), seeded so that every machine builds the same tensors.

From the MNIST IDX files, per source split (60k train, 10k test):

- sample i takes MNIST image i as its top-left digit (task ``left``) and an image j
  drawn uniformly, with replacement, from the same split (j may equal i) as its
  bottom-right digit (task ``right``); the draws come from ``numpy.random.default_rng``
  seeded with ``seed`` (the authors drew them unseeded);
- a 36x36 float canvas gets the left digit at rows/cols 0-27 and the right one at 6-33;
  the overlap keeps the pixel-wise maximum;
- the canvas is shrunk to 28x28 exactly as scikit-image's ``resize`` does at its
  defaults (trainers/datasets/imageops.py: Gaussian anti-aliasing, bilinear, 0-255
  scale kept) and truncated to uint8, as the authors' loader does when it makes a PIL
  image of it;
- the 60k training samples are split 50,000 / 10,000 into train / val by
  ``torch.utils.data.random_split`` with a generator seeded ``split_seed`` (42, as the
  authors since Mar 2024); the test split is the 10k test samples.

Inputs are x / 255 normalised per pixel with mean 0.1307, std 0.3081 (``normalize``),
for every split, no augmentation. Sizes follow the files: tiny IDX files give tiny sets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.cached import CachedSource, image_inputs, split_payload
from trainers.datasets.imageops import place_max, skimage_resize
from trainers.datasets.progress import Progress, chunks
from trainers.datasets.readers import read_idx_pair
from trainers.datasets.sources import MNIST
from trainers.options import Option, seed_option

CANVAS = 36
SHIFT = 6
OUT = 28
TRAIN_FRACTION = 0.83334  # the authors' ratio: int(0.83334 * 60000) = 50,000
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CHUNK = 5000


def overlay_pair(left: np.ndarray, right: np.ndarray, shift: int = SHIFT,
                 side: int = CANVAS) -> np.ndarray:
    """Float64 canvases (N, side, side): left at (0, 0), right at (shift, shift), max."""
    canvas = np.zeros((len(left), side, side), dtype=np.float64)
    zeros = np.zeros(len(left), dtype=np.int64)
    place_max(canvas, left.astype(np.float64), zeros, zeros)
    place_max(canvas, right.astype(np.float64), zeros + shift, zeros + shift)
    return canvas


def compose(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Overlay, shrink to 28x28 and truncate to uint8: the stored MultiMNIST images."""
    return skimage_resize(overlay_pair(left, right), (OUT, OUT)).astype(np.uint8)


def partners(n: int, rng: np.random.Generator) -> np.ndarray:
    """The bottom-right partner of every sample: uniform over the split, with replacement."""
    return rng.integers(0, n, size=n)


def random_split_indices(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices as the authors split: lengths int(fraction * n) and the rest,
    drawn by ``torch.utils.data.random_split`` with a generator seeded ``seed``."""
    n_train = int(train_fraction * n)
    generator = torch.Generator().manual_seed(seed)
    train, val = torch.utils.data.random_split(range(n), [n_train, n - n_train], generator=generator)
    return np.asarray(train.indices, dtype=np.int64), np.asarray(val.indices, dtype=np.int64)


@DATASETS.register("multimnist")
class MultiMNIST(CachedSource):
    name = "multimnist"
    tasks = (Task("left"), Task("right"))
    input_shape = (1, OUT, OUT)
    default_arch = "hps"
    option_table = {"seed": seed_option(0), "split_seed": seed_option(42),
                    "normalize": Option(True, bool)}
    decode_options = ("normalize",)
    description = "MDMTN MultiMNIST: MNIST pairs on 36x36 (+6,+6), max, resized to 28x28; 50k/10k/10k"

    @classmethod
    def raw_sets(cls, options):
        return {"mnist": MNIST}

    @classmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        rng = np.random.default_rng(int(options["seed"]))
        made = {}
        for part in ("train", "test"):
            images, labels = read_idx_pair(sources[f"mnist/{part}_images"],
                                           sources[f"mnist/{part}_labels"])
            right = partners(len(images), rng)
            x = np.zeros((len(images), 1, OUT, OUT), dtype=np.uint8)
            for block in chunks(len(images), CHUNK, f"compositing {part}", progress):
                idx = np.arange(block.start, block.stop)
                x[block, 0] = compose(images[idx], images[right[idx]])
            made[part] = (x, np.stack([labels, labels[right]], axis=1))
        x, y = made["train"]
        train_idx, val_idx = random_split_indices(len(x), TRAIN_FRACTION, int(options["split_seed"]))
        return {"splits": {"train": split_payload(x[train_idx], y[train_idx]),
                           "val": split_payload(x[val_idx], y[val_idx]),
                           "test": split_payload(*made["test"])},
                "meta": {"pixel_scale": 1.0 / 255}}

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any], meta: dict[str, Any]) -> torch.Tensor:
        if options["normalize"]:
            return image_inputs(x, 1.0 / 255, [MNIST_MEAN], [MNIST_STD])
        return image_inputs(x, 1.0 / 255)
