"""``celeba`` from a tiny folder in torchvision's CelebA layout: official partitions,
chosen attribute tasks, 64x64 resize-and-crop, and its one-line errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from trainers.datasets import DATASETS
from trainers.datasets.celeba import ATTRIBUTES
from trainers.errors import DataError

PARTITION = [0, 0, 0, 1, 2, 0, 2]


def write_celeba(root, n=7):
    """n aligned-size (178 x 218) PNG faces, each one flat colour, and the two list files."""
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    values = rng.choice([-1, 1], size=(n, len(ATTRIBUTES)))
    lines = [str(n), " ".join(ATTRIBUTES)]
    for i in range(n):
        name = f"{i + 1:06d}.png"
        image = np.zeros((218, 178, 3), dtype=np.uint8)
        image[:, :] = (10 * i, 100, 250 - 10 * i)
        image[:20] = 255                      # a white band on top, cropped away at 64x64
        Image.fromarray(image).save(folder / "img_align_celeba" / name)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values[i]))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.png {p}\n" for i, p in enumerate(PARTITION[:n])))
    return values


def test_build_partitions_tasks_and_pixels(tmp_path):
    values = write_celeba(tmp_path)
    source = DATASETS.get("celeba")
    options = {"attributes": ["Smiling", "Goatee", "Pointy_Nose"]}
    source.prepare(options, tmp_path)
    bundle = source.build(options, tmp_path)
    assert bundle.task_names == ["smiling", "goatee", "pointy_nose"]
    assert all(t.n_classes == 2 for t in bundle.tasks)
    assert {s: len(v) for s, v in bundle.splits.items()} == {"train": 4, "val": 1, "test": 2}
    assert bundle.input_shape == (3, 64, 64)
    columns = [ATTRIBUTES.index(a) for a in options["attributes"]]
    train_rows = [i for i, p in enumerate(PARTITION) if p == 0]
    assert bundle.splits["train"].y.tolist() == (values[train_rows][:, columns] > 0).astype(int).tolist()
    x = bundle.splits["test"].x                        # images 5 and 7 (partition 2)
    assert x.dtype == torch.float32
    pixels = (x * 0.5 + 0.5) * 255
    for k, i in enumerate((4, 6)):
        colour = torch.tensor([10 * i, 100, 250 - 10 * i], dtype=torch.float32)
        # 178 -> 64 wide, 218 -> 78 high, centre crop drops 7 rows: the white band
        # (20 rows -> 7.2 rows) is gone except a blended edge
        assert torch.allclose(pixels[k, :, 8:, :], colour.reshape(3, 1, 1).expand(3, 56, 64), atol=1.0)
    assert source.tasks_for(source.resolve_options({})) == source.tasks


def test_limits_and_errors(tmp_path):
    write_celeba(tmp_path)
    source = DATASETS.get("celeba")
    source.prepare({"max_images": 3}, tmp_path)
    assert len(source.build({"max_images": 3}, tmp_path).splits["train"]) == 3
    with pytest.raises(DataError, match=r"option attributes\.1: unknown value 'Beard' \(known: 5_o"):
        source.prepare({"attributes": ["Goatee", "Beard"]}, tmp_path)
    with pytest.raises(DataError, match=r"option attributes\.1: duplicate of attributes\.0"):
        source.prepare({"attributes": ["Goatee", "Goatee"]}, tmp_path)
    with pytest.raises(DataError, match=r"option max_images: expected an integer in 1\.\.202599 or null"):
        source.prepare({"max_images": 0}, tmp_path)
    (tmp_path / "celeba" / "img_align_celeba" / "000002.png").unlink()
    with pytest.raises(DataError, match="000002.png: listed in the CelebA attribute file but missing"):
        source.prepare({}, tmp_path)
    with pytest.raises(DataError, match=r"CelebA \(aligned\) files missing: img_align_celeba, "):
        source.prepare({}, tmp_path / "empty")
