"""``multidigits``: MultiMNIST in miniature, built from scikit-learn's bundled 8x8 digits.

Why it exists: it ships with scikit-learn, so the quickstart sweep and the tests run on a
real (if small) two-task vision problem on any machine, offline, in seconds.

Construction (the MultiMNIST recipe of docs/datasets.md#multimnist, scaled to 8x8):
the 1,797 digits are split once into disjoint train/val/test pools (60/20/20, seeded).
Sample k of a split takes pool image ``k mod |pool|`` (a fresh seeded order) as the
top-left digit and a uniformly drawn pool image as the bottom-right one, pasted ``shift``
pixels down and right on an (8 + shift)^2 canvas; overlapping pixels take the maximum.
Task ``left`` is the top-left digit's label, task ``right`` the bottom-right one's.
Pixels are scaled to [0, 1]. The same ``seed`` gives the same tensors on every machine.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainers.datasets import DATASETS
from trainers.datasets.base import DatasetBundle, DatasetSource, Split, Task
from trainers.options import Option, seed_option

POOL_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
DIGIT = 8  # side of a scikit-learn digit
MAX_SHIFT = 28  # canvas up to 36x36, the Pareto MTL size (LeNet needs >= 16x16)
MAX_SAMPLES = 100_000  # per split: 1,797 source digits; 100k float canvases <= 520 MB
N_DIGITS = 1797  # images in scikit-learn's digits file
#: scikit-learn's bundled digits, relative to its package folder: 1,797 rows of 64 pixel
#: values (0-16) and the label, comma-separated
DIGITS_FILE = Path("datasets") / "data" / "digits.csv.gz"


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ((1797, 8, 8) pixel values 0-16, (1797,) labels).

    The file is read where scikit-learn keeps it, without importing scikit-learn (1.3 s
    of imports in every fresh Ray worker for a 500 kB file); ``load_digits`` is the
    fallback where the file is not found there or not what it should be."""
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or ()) if spec else []
    for folder in folders:
        path = Path(folder) / DIGITS_FILE
        try:
            with gzip.open(path, "rt") as handle:
                table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
        except (OSError, ValueError, EOFError):
            continue
        if table.shape == (N_DIGITS, DIGIT * DIGIT + 1):
            return table[:, :-1].reshape(-1, DIGIT, DIGIT), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.images, digits.target.astype(np.int64)


def overlay(left: np.ndarray, right: np.ndarray, shift: int) -> np.ndarray:
    """Paste two (n, 8, 8) digit stacks on one canvas: right one shifted, max on overlap."""
    n = left.shape[0]
    side = DIGIT + shift
    canvas = np.zeros((n, side, side), dtype=np.float32)
    canvas[:, :DIGIT, :DIGIT] = left
    window = canvas[:, shift:shift + DIGIT, shift:shift + DIGIT]
    np.maximum(window, right, out=window)
    return canvas


def split_pools(n_images: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint index pools per split, so no source digit leaks from train into test."""
    order = rng.permutation(n_images)
    n_train = int(POOL_FRACTIONS["train"] * n_images)
    n_val = int(POOL_FRACTIONS["val"] * n_images)
    return {
        "train": order[:n_train],
        "val": order[n_train:n_train + n_val],
        "test": order[n_train + n_val:],
    }


def pair_indices(pool: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Left digits cycle through the (shuffled) pool; right digits are drawn with replacement."""
    left = rng.permutation(pool)[np.arange(n) % len(pool)]
    right = pool[rng.integers(0, len(pool), size=n)]
    return left, right


@DATASETS.register("multidigits")
class MultiDigits(DatasetSource):
    name = "multidigits"
    tasks = (Task("left"), Task("right"))
    default_arch = "hps"
    option_table = {
        **{f"n_{split}": Option(n, int, ge=1, le=MAX_SAMPLES)
           for split, n in (("train", 4000), ("val", 1000), ("test", 1000))},
        "shift": Option(2, int, ge=0, le=MAX_SHIFT),
        "seed": seed_option(0),
    }
    description = "two overlapped 8x8 scikit-learn digits (embedded, offline)"

    @classmethod
    def input_shape_for(cls, options: dict[str, Any]) -> tuple[int, ...]:
        side = DIGIT + int(options["shift"])
        return (1, side, side)

    @classmethod
    def build(cls, options: dict[str, Any], data_dir: Path | None = None) -> DatasetBundle:
        options = cls.checked_options(options)
        pixels, labels = read_digits()
        images = (pixels / 16.0).astype(np.float32)
        rng = np.random.default_rng(int(options["seed"]))
        pools = split_pools(len(images), rng)
        splits = {}
        for split, pool in pools.items():
            left, right = pair_indices(pool, int(options[f"n_{split}"]), rng)
            x = overlay(images[left], images[right], int(options["shift"]))[:, None]
            y = np.stack([labels[left], labels[right]], axis=1)
            splits[split] = Split(torch.from_numpy(x), torch.from_numpy(y))
        return DatasetBundle(
            name=cls.name,
            tasks=cls.tasks,
            input_shape=cls.input_shape_for(options),
            splits=splits,
            info={"source": "sklearn.datasets.load_digits", **options},
        )
