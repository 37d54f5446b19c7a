"""The Pareto MTL / COSMOS overlay family (``multimnist36``, ``multifashion``,
``multifashion_mnist``; docs/datasets.md#pareto-mtl-overlays): 36x36 single-channel images
of two items, task ``left`` the top-left item's class, task ``right`` the bottom-right
one's.

Two origins (option ``origin``):

- ``pickle``: the authors' own files (``multi_mnist.pickle``, ``multi_fashion.pickle``,
  ``multi_fashion_and_mnist.pickle``: a 4-tuple train images, train labels, test images,
  test labels; 120k / 20k), read as stored: pixel values enter the network unscaled, as
  in every loader of the papers.
- ``generate``: the authors' generator is not public, so this one follows what is known
  (docs/datasets.md#regenerated-overlays), seeded:

  * per source split (60k train, 10k test), ``n`` composites (120k / 20k: two per source
    image); the top-left item of composite k is image ``perm[k mod N]`` of fresh seeded
    permutations of the split (each image is top-left twice at full size); the
    bottom-right item is drawn uniformly from the other source's split, redrawn while the
    two classes are equal (same-source sets only: "two images showing different classes");
  * the top-left 28x28 box is placed at (r, c) with r, c uniform in 0..``max_shift``, the
    bottom-right box at (8 - r', 8 - c') with r', c' uniform in 0..``max_shift`` (each item
    moved by up to 4 px and kept inside the canvas); overlapping pixels keep the max;
  * pixels are stored as uint8 and enter the network scaled to [0, 1].

  This is a documented deviation: it is not bit-identical to the pickles.

``auto`` (default) uses the pickle when one is found, else generates. Either way the
120k training composites are split 108k / 12k by scikit-learn's ``train_test_split``
(``test_size`` = ``val_fraction``, ``random_state`` = ``split_seed``, as COSMOS and Ruchte
& Grabocka (2021b) do); the test split is the 20k test composites. ``n_train`` / ``n_test``
make smaller sets (the first composites). No normalisation, no augmentation.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from trainers.datasets.base import Task
from trainers.datasets.cached import CachedSource, image_inputs, split_payload
from trainers.datasets.imageops import place_max
from trainers.datasets.locations import RawSet, locate
from trainers.datasets.progress import Progress, chunks
from trainers.datasets.readers import read_idx_pair, read_pmtl_pickle
from trainers.datasets.sources import pmtl_pickle
from trainers.errors import DataError
from trainers.options import Option, OptionError, seed_option

CANVAS = 36
ITEM = 28
SLACK = CANVAS - ITEM   # 8: the bottom-right box's nominal offset
CHUNK = 10000
ORIGINS = ("auto", "pickle", "generate")
SPLIT_STREAM = {"train": 0, "test": 1}


def top_left_indices(n: int, pool: int, rng: np.random.Generator) -> np.ndarray:
    """Fresh permutations of the pool, concatenated and cut to ``n``."""
    reps = max(1, math.ceil(n / pool))
    return np.concatenate([rng.permutation(pool) for _ in range(reps)])[:n]


def bottom_right_indices(tl_labels: np.ndarray, br_labels: np.ndarray, rng: np.random.Generator,
                         distinct: bool) -> np.ndarray:
    """Uniform draws from the bottom-right pool, redrawn where the classes coincide."""
    classes = np.unique(br_labels)
    if len(classes) == 0:
        raise DataError("the source split has no images")
    if distinct and len(classes) == 1 and (tl_labels == classes[0]).any():
        raise DataError("cannot pair items of different classes: the source split has "
                        f"only class {int(classes[0])}")
    idx = rng.integers(0, len(br_labels), size=len(tl_labels))
    while distinct:
        same = np.flatnonzero(br_labels[idx] == tl_labels)
        if not len(same):
            break
        idx[same] = rng.integers(0, len(br_labels), size=len(same))
    return idx


def compose_pairs(tl_images: np.ndarray, tl_labels: np.ndarray, br_images: np.ndarray,
                  br_labels: np.ndarray, n: int, rng: np.random.Generator, *, max_shift: int = 4,
                  distinct: bool = True, progress: Progress | None = None,
                  stage: str = "compositing") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` composites: images uint8 (n, 1, 36, 36), labels int64 (n, 2) and provenance
    int64 (n, 6) = (top-left index, bottom-right index, tl row, tl col, br row, br col)."""
    tl = top_left_indices(n, len(tl_images), rng)
    br = bottom_right_indices(tl_labels[tl], br_labels, rng, distinct)
    tl_pos = rng.integers(0, max_shift + 1, size=(n, 2))
    br_pos = SLACK - rng.integers(0, max_shift + 1, size=(n, 2))
    x = np.zeros((n, 1, CANVAS, CANVAS), dtype=np.uint8)
    for block in chunks(n, CHUNK, stage, progress):
        canvas = x[block, 0]  # a view: pasting fills x
        place_max(canvas, tl_images[tl[block]], tl_pos[block, 0], tl_pos[block, 1])
        place_max(canvas, br_images[br[block]], br_pos[block, 0], br_pos[block, 1])
    y = np.stack([tl_labels[tl], br_labels[br]], axis=1)
    provenance = np.concatenate([tl[:, None], br[:, None], tl_pos, br_pos], axis=1)
    return x, y, provenance


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices by ``sklearn.model_selection.train_test_split``, as the papers."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(n), test_size=fraction, random_state=seed)


class PMTLOverlay(CachedSource):
    """Base class of the three 36x36 overlay datasets; subclasses name their sources."""

    left_source: ClassVar[RawSet]
    right_source: ClassVar[RawSet]
    pickle_file: ClassVar[str]
    #: whether the two items must show different classes (same-source sets)
    distinct_labels: ClassVar[bool] = True

    tasks = (Task("left"), Task("right"))
    input_shape = (1, CANVAS, CANVAS)
    default_arch = "lenet"
    option_table = {
        "origin": Option("auto", str, choices=ORIGINS),
        "seed": seed_option(0),
        # the papers' sizes: n_train / n_test only make smaller sets (the first composites)
        "n_train": Option(120000, int, ge=2, le=120000),
        "n_test": Option(20000, int, ge=2, le=20000),
        "max_shift": Option(4, int, ge=0, le=SLACK),
        "val_fraction": Option(0.1, float, gt=0, lt=1),
        "split_seed": seed_option(42),
    }

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        # train_test_split keeps floor((1 - test_size) * n) samples for training
        if math.floor((1 - options["val_fraction"]) * options["n_train"]) < 1:
            raise OptionError("val_fraction", f"{options['val_fraction']:g} of n_train="
                              f"{options['n_train']} leaves no training composites")

    @classmethod
    def generator_sets(cls) -> dict[str, RawSet]:
        return {raw.key: raw for raw in (cls.left_source, cls.right_source)}

    @classmethod
    def raw_sets(cls, options: dict[str, Any]) -> dict[str, RawSet]:
        if options["origin"] == "pickle":
            return {"pickle": pmtl_pickle(cls.pickle_file)}
        return cls.generator_sets()

    @classmethod
    def locate_sources(cls, options, data_dir, source_dir, download) -> dict[str, Path]:
        """``auto``: the authors' pickle when it is there, else the generator's IDX files."""
        if options["origin"] == "auto":
            raw = pmtl_pickle(cls.pickle_file)
            try:
                found = locate(raw, dataset=cls.name, data_dir=data_dir, source_dir=source_dir)
                return {f"pickle/{role}": path for role, path in found.items()}
            except DataError:
                options = {**options, "origin": "generate"}
        paths = super().locate_sources(options, data_dir, source_dir, download)
        if cls.left_source.key != cls.right_source.key:
            left = paths[f"{cls.left_source.key}/train_images"]
            if left == paths[f"{cls.right_source.key}/train_images"]:
                raise DataError(f"{cls.name}: {cls.left_source.title} and {cls.right_source.title} "
                                f"resolve to the same file {left}; keep them in "
                                f"{cls.left_source.layouts[0]} and {cls.right_source.layouts[0]}")
        return paths

    @classmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        if "pickle/pickle" in sources:
            made, meta = cls.from_pickle(sources["pickle/pickle"], options), {
                "built_from": "pickle", "pixel_scale": 1.0}
        else:
            made, meta = cls.generate(sources, options, progress), {
                "built_from": "generated", "pixel_scale": 1.0 / 255}
        x, y, prov = made["train"]
        train_idx, val_idx = validation_split(len(x), float(options["val_fraction"]),
                                              int(options["split_seed"]))
        parts = {"train": (x[train_idx], y[train_idx], prov[train_idx]),
                 "val": (x[val_idx], y[val_idx], prov[val_idx]), "test": made["test"]}
        return {"splits": {s: split_payload(px, py) for s, (px, py, _) in parts.items()},
                "provenance": {s: torch.as_tensor(p) for s, (_, _, p) in parts.items()},
                "meta": meta}

    @classmethod
    def generate(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, tuple]:
        made = {}
        for split, stream in SPLIT_STREAM.items():
            part = "train" if split == "train" else "test"
            left = read_idx_pair(sources[f"{cls.left_source.key}/{part}_images"],
                                 sources[f"{cls.left_source.key}/{part}_labels"])
            right = read_idx_pair(sources[f"{cls.right_source.key}/{part}_images"],
                                  sources[f"{cls.right_source.key}/{part}_labels"])
            rng = np.random.default_rng([int(options["seed"]), stream])
            try:
                made[split] = compose_pairs(*left, *right, int(options[f"n_{split}"]), rng,
                                            max_shift=int(options["max_shift"]),
                                            distinct=cls.distinct_labels, progress=progress,
                                            stage=f"compositing {split}")
            except DataError as exc:
                raise DataError(f"{cls.name}: {exc}") from None
        return made

    @classmethod
    def from_pickle(cls, path: Path, options: dict[str, Any]) -> dict[str, tuple]:
        content = read_pmtl_pickle(path)
        made = {}
        for split, (x, y) in content.items():
            n = int(options[f"n_{split}"])
            if n > len(x):
                raise DataError(f"{cls.name}: n_{split}={n} but {path} holds {len(x)} {split} images")
            x = x[:n] if x.dtype == np.uint8 else x[:n].astype(np.float32)
            made[split] = (x, y[:n], np.full((n, 6), -1, dtype=np.int64))
        return made

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any], meta: dict[str, Any]) -> torch.Tensor:
        return image_inputs(x, float(meta["pixel_scale"]))
