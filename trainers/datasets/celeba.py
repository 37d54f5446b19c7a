"""``celeba``: CelebA faces at 64x64 with a chosen list of binary attributes as tasks
(COSMOS; docs/datasets.md#celeba).

Source: torchvision's CelebA folder layout, ``<data>/celeba/`` with ``img_align_celeba/``
(the 202,599 aligned JPEGs), ``list_attr_celeba.txt`` and ``list_eval_partition.txt``;
``--download`` lets torchvision fetch it (from Google Drive, which often refuses; then
copy the files by hand). The files are read here rather than through
``torchvision.datasets.CelebA``, which insists on MD5 checks of files we do not need.

Each image is resized so its shorter edge is 64 (bilinear, antialiased: torchvision's
``Resize(64)``), center-cropped to 64x64 and stored as uint8 (N, 3, 64, 64); inputs are
normalised with mean 0.5 and std 0.5 per channel. Splits are CelebA's official ones
(partition 0 / 1 / 2 = train / val / test). Tasks: option ``attributes``, CelebA's
attribute names (default the COSMOS "easy" pair Goatee and Mustache, ids 16 and 22; the
"hard" pair is Oval_Face and Pointy_Nose), each a two-class task named in lower case
(``goatee``), label 1 where the attribute is present. ``max_images`` builds from the
first N images only (quick experiments). Memory: the full set is 2.5 GB as uint8 and
10 GB as the float32 tensors a trial holds.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from trainers.datasets import DATASETS
from trainers.datasets.base import Task
from trainers.datasets.cached import CachedSource, image_inputs, split_payload
from trainers.datasets.progress import Progress, chunks
from trainers.datasets.sources import CELEBA
from trainers.errors import DataError
from trainers.options import Option

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

SIDE = 64
N_IMAGES = 202_599  # aligned faces in CelebA
CHUNK = 2000
PARTITIONS = {"train": 0, "val": 1, "test": 2}
ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)


def load_face(path: Path) -> np.ndarray:
    """One image: shorter edge to 64 (bilinear, antialiased), center crop, uint8 (3, 64, 64)."""
    from torchvision.transforms import functional as TF

    try:
        with Image.open(path) as image:
            face = TF.center_crop(TF.resize(image.convert("RGB"), SIDE), SIDE)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__})") from None
    return np.asarray(face, dtype=np.uint8).transpose(2, 0, 1)


def read_table(path: Path, names: list[str], skiprows: int) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path, sep=r"\s+", header=None, names=names, skiprows=skiprows)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: not a CelebA list file ({type(exc).__name__})") from None


def read_attributes(path: Path) -> pd.DataFrame:
    """``list_attr_celeba.txt``: a count line, the 40 names, then 'file v1 ... v40' (+-1)."""
    with open(path) as handle:
        handle.readline()
        header = handle.readline().split()
    if tuple(header) != ATTRIBUTES:
        raise DataError(f"{path}: second line must name CelebA's 40 attributes")
    return read_table(path, ["image", *header], skiprows=2).set_index("image")


@DATASETS.register("celeba")
class CelebA(CachedSource):
    name = "celeba"
    tasks = (Task("goatee", n_classes=2), Task("mustache", n_classes=2))
    input_shape = (3, SIDE, SIDE)
    default_arch = "hps"
    option_table = {
        "attributes": Option(["Goatee", "Mustache"], list, choices=ATTRIBUTES,
                             max_items=len(ATTRIBUTES)),
        "max_images": Option(None, int, ge=1, le=N_IMAGES, nullable=True),
    }
    description = "CelebA aligned faces, 64x64, chosen binary attributes as tasks (official splits)"

    @classmethod
    def tasks_for(cls, options: dict[str, Any]) -> tuple[Task, ...]:
        return tuple(Task(a.lower(), n_classes=2) for a in options["attributes"])

    @classmethod
    def raw_sets(cls, options):
        return {"celeba": CELEBA}

    @classmethod
    def assemble(cls, sources: dict[str, Path], options: dict[str, Any],
                 progress: Progress) -> dict[str, Any]:
        attributes = read_attributes(sources["celeba/attributes"])
        partition = read_table(sources["celeba/partition"], ["image", "partition"], 0).set_index("image")
        table = attributes[options["attributes"]].join(partition, how="inner")
        if options["max_images"] is not None:
            table = table.iloc[:options["max_images"]]
        folder = sources["celeba/images"]
        splits = {}
        for split, code in PARTITIONS.items():
            rows = table[table["partition"] == code]
            x = cls.read_faces(folder, list(rows.index), progress, f"images {split}")
            y = (rows[options["attributes"]].to_numpy() > 0).astype(np.int64)
            splits[split] = split_payload(x, y)
        return {"splits": splits, "meta": {"pixel_scale": 1.0 / 255}}

    @classmethod
    def read_faces(cls, folder: Path, names: list[str], progress: Progress, stage: str) -> np.ndarray:
        x = np.empty((len(names), 3, SIDE, SIDE), dtype=np.uint8)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL frees the GIL
            for block in chunks(len(names), CHUNK, stage, progress):
                paths = [folder / name for name in names[block]]
                missing = next((p for p in paths if not p.is_file()), None)
                if missing is not None:
                    raise DataError(f"{missing}: listed in the CelebA attribute file but missing")
                x[block] = np.stack(list(pool.map(load_face, paths))) if paths else x[block]
        return x

    @classmethod
    def float_inputs(cls, x: torch.Tensor, options: dict[str, Any], meta: dict[str, Any]) -> torch.Tensor:
        return image_inputs(x, 1.0 / 255, [0.5] * 3, [0.5] * 3)
