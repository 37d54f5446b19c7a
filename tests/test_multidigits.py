"""``multidigits``: shapes, value range, determinism, label alignment (reconstructed from
the canvas), overlay arithmetic, disjoint source pools and options
(docs/datasets.md#multimnist, scaled to scikit-learn's 8x8 digits:
docs/datasets.md#multidigits)."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from trainers.datasets import DATASETS, SPLITS
from trainers.datasets.multidigits import MultiDigits, overlay, split_pools
from trainers.errors import DataError
from trainers.options import OptionError

SMALL = {"n_train": 60, "n_val": 30, "n_test": 30}


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


@pytest.fixture(scope="module")
def bundle():
    return MultiDigits.build(SMALL)


def test_registered_under_its_name():
    assert DATASETS.get("multidigits") is MultiDigits


def test_shapes_and_dtypes(bundle):
    assert bundle.name == "multidigits"
    assert bundle.task_names == ["left", "right"]
    assert bundle.input_shape == (1, 10, 10)
    assert set(bundle.splits) == set(SPLITS)
    for split, n in (("train", 60), ("val", 30), ("test", 30)):
        s = bundle.splits[split]
        assert len(s) == n
        assert s.x.shape == (n, 1, 10, 10)
        assert s.x.dtype == torch.float32
        assert s.y.shape == (n, 2)
        assert s.y.dtype == torch.int64


def test_values_in_unit_interval_and_labels_are_digits(bundle):
    for s in bundle.splits.values():
        assert float(s.x.min()) >= 0.0
        assert float(s.x.max()) <= 1.0
        # scikit-learn digits are 0..16 intensities: pixels are multiples of 1/16
        assert torch.equal(s.x * 16, torch.round(s.x * 16))
        assert int(s.y.min()) >= 0 and int(s.y.max()) <= 9
    # and the images are not blank
    assert float(bundle.splits["train"].x.max()) == 1.0


def test_n_options_respected():
    b = MultiDigits.build({"n_train": 17, "n_val": 5, "n_test": 3})
    assert [len(b.splits[s]) for s in SPLITS] == [17, 5, 3]
    assert b.info["n_train"] == 17


def test_shift_option_changes_canvas():
    b = MultiDigits.build({"n_train": 4, "n_val": 2, "n_test": 2, "shift": 3})
    assert b.input_shape == (1, 11, 11)
    assert MultiDigits.input_shape_for(MultiDigits.resolve_options({"shift": 3})) == (1, 11, 11)
    assert b.splits["train"].x.shape == (4, 1, 11, 11)


def test_deterministic_for_a_seed_and_different_for_another(bundle):
    again = MultiDigits.build(SMALL)
    other = MultiDigits.build({**SMALL, "seed": 1})
    for split in SPLITS:
        assert torch.equal(bundle.splits[split].x, again.splits[split].x)
        assert torch.equal(bundle.splits[split].y, again.splits[split].y)
    assert not torch.equal(bundle.splits["train"].x, other.splits["train"].x)
    assert not torch.equal(bundle.splits["train"].y, other.splits["train"].y)


def test_resolve_options():
    opts = MultiDigits.resolve_options({"n_train": 10})
    assert opts["n_train"] == 10
    assert opts["shift"] == 2 and opts["seed"] == 0
    assert MultiDigits.resolve_options(None) == MultiDigits.default_options
    with pytest.raises(OptionError, match="unknown option") as info:
        MultiDigits.resolve_options({"n_trian": 10})
    assert info.value.name == "n_trian"
    for bad in ({"n_train": 0}, {"n_val": 100_001}, {"n_test": "1000"}, {"shift": -1}, {"shift": 29}, {"seed": 2**32}):
        with pytest.raises(OptionError) as info:
            MultiDigits.resolve_options(bad)
        assert info.value.name == next(iter(bad))
    with pytest.raises(DataError, match="multidigits: option bogus: unknown option"):
        MultiDigits.build({"bogus": 1})


# ----------------------------------------------------------------------------- overlay


def test_overlay_pixel_by_pixel_shift_2():
    rng = np.random.default_rng(5)
    left = rng.random((1, 8, 8)).astype(np.float32)
    right = rng.random((1, 8, 8)).astype(np.float32)
    canvas = overlay(left, right, 2)
    assert canvas.shape == (1, 10, 10)
    assert canvas.dtype == np.float32
    for r in range(10):
        for c in range(10):
            in_left = r < 8 and c < 8
            in_right = 2 <= r < 10 and 2 <= c < 10
            if in_left and in_right:
                expected = max(left[0, r, c], right[0, r - 2, c - 2])
            elif in_left:
                expected = left[0, r, c]
            elif in_right:
                expected = right[0, r - 2, c - 2]
            else:
                expected = 0.0
            assert canvas[0, r, c] == expected, (r, c)


def test_overlay_hand_made_max_and_corners():
    left = np.zeros((1, 8, 8), dtype=np.float32)
    right = np.zeros((1, 8, 8), dtype=np.float32)
    left[0, 0, 0] = 0.25      # only in the left region
    left[0, 5, 5] = 0.5       # overlap: right's (3, 3) is 0.75 -> max 0.75
    right[0, 3, 3] = 0.75
    left[0, 6, 6] = 0.9       # overlap: right's (4, 4) is 0.1 -> max 0.9
    right[0, 4, 4] = 0.1
    right[0, 7, 7] = 1.0      # only in the right region: canvas (9, 9)
    canvas = overlay(left, right, 2)[0]
    expected = np.zeros((10, 10), dtype=np.float32)
    expected[0, 0] = 0.25
    expected[5, 5] = 0.75
    expected[6, 6] = 0.9
    expected[9, 9] = 1.0
    assert np.array_equal(canvas, expected)


def test_overlay_shift_zero_is_elementwise_max_and_stack_is_per_sample():
    left = np.array([np.full((8, 8), 0.3), np.eye(8)], dtype=np.float32)
    right = np.array([np.eye(8) * 0.2, np.full((8, 8), 0.5)], dtype=np.float32)
    canvas = overlay(left, right, 0)
    assert canvas.shape == (2, 8, 8)
    assert np.array_equal(canvas, np.maximum(left, right))
    # inputs are not modified
    assert np.array_equal(left[0], np.full((8, 8), 0.3, dtype=np.float32))


# ----------------------------------------------------------------------------- pools


def test_split_pools_are_disjoint_and_cover_everything():
    pools = split_pools(1797, np.random.default_rng(0))
    sizes = {k: len(v) for k, v in pools.items()}
    assert sizes == {"train": 1078, "val": 359, "test": 360}
    all_idx = np.concatenate([pools["train"], pools["val"], pools["test"]])
    assert len(np.unique(all_idx)) == 1797
    assert set(all_idx.tolist()) == set(range(1797))
    assert not set(pools["train"]) & set(pools["test"])
    assert not set(pools["train"]) & set(pools["val"])
    assert not set(pools["val"]) & set(pools["test"])
    # seeded: the same generator seed gives the same pools, another seed others
    again = split_pools(1797, np.random.default_rng(0))
    assert all(np.array_equal(pools[k], again[k]) for k in pools)
    other = split_pools(1797, np.random.default_rng(1))
    assert not np.array_equal(pools["train"], other["train"])


# ------------------------------------------------------------- label alignment


def find_sources(canvas, images, pool, shift=2):
    """All (left, right) source indices from ``pool`` whose overlay is exactly ``canvas``.

    Left candidates: images equal to the canvas where the right digit does not reach
    (rows < shift or cols < shift); right candidates likewise (canvas rows/cols >= 8)."""
    d = 8
    pool_images = images[pool]
    left_mask = np.zeros((d, d), dtype=bool)
    left_mask[:shift, :] = True
    left_mask[:, :shift] = True
    right_mask = np.zeros((d, d), dtype=bool)
    right_mask[d - shift:, :] = True
    right_mask[:, d - shift:] = True
    left_part = canvas[:d, :d]
    right_part = canvas[shift:shift + d, shift:shift + d]
    lefts = pool[(pool_images[:, left_mask] == left_part[left_mask]).all(axis=1)]
    rights = pool[(pool_images[:, right_mask] == right_part[right_mask]).all(axis=1)]
    pairs = []
    for i in lefts:
        built = overlay(np.repeat(images[i][None], len(rights), 0), images[rights], shift)
        for j in rights[(built == canvas).all(axis=(1, 2))]:
            pairs.append((int(i), int(j)))
    return lefts, pairs


@pytest.mark.parametrize("split", SPLITS)
def test_labels_match_the_reconstructed_source_digits(bundle, digits, split):
    images, labels = digits
    pools = split_pools(len(images), np.random.default_rng(0))  # seed 0 = the default
    s = bundle.splits[split]
    for k in range(8):
        canvas = s.x[k, 0].numpy()
        y_left, y_right = (int(v) for v in s.y[k])
        lefts, pairs = find_sources(canvas, images, pools[split])
        assert len(lefts) > 0, f"{split}[{k}]: no {split}-pool image matches the left digit's visible part"
        assert y_left in set(labels[lefts].tolist()), \
            f"{split}[{k}]: left label {y_left} matches no source digit visible on the canvas"
        assert pairs, f"{split}[{k}]: canvas is not an overlay of two {split}-pool digits"
        assert any((labels[i], labels[j]) == (y_left, y_right) for i, j in pairs), \
            f"{split}[{k}]: labels {(y_left, y_right)} do not match the source pair(s) {pairs}"


def test_left_digits_cycle_through_the_pool(digits):
    # val pool has 359 images: with 400 samples, sample k and k + 359 share their left digit
    b = MultiDigits.build({"n_train": 1, "n_val": 400, "n_test": 1})
    x, y = b.splits["val"].x[:, 0], b.splits["val"].y
    # rows 0-1 and cols 0-1 of the canvas show only the left digit
    visible = torch.cat([x[:, :2, :8].reshape(400, -1), x[:, :8, :2].reshape(400, -1)], dim=1)
    for k in range(41):
        assert torch.equal(visible[k], visible[k + 359])
        assert y[k, 0] == y[k + 359, 0]
    # and within one pass, left digits are all different source images
    images, labels = digits
    pools = split_pools(len(images), np.random.default_rng(0))
    lefts = set()
    for k in range(0, 359, 40):
        pairs = find_sources(x[k].numpy(), images, pools["val"])[1]
        lefts |= {i for i, _ in pairs}
    assert len(lefts) >= 9


def test_digits_read_without_scikit_learn_are_load_digits():
    from trainers.datasets.multidigits import read_digits

    pixels, labels = read_digits()
    reference = load_digits()
    np.testing.assert_array_equal(pixels, reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_building_the_data_set_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = ("import sys; from trainers.datasets.multidigits import MultiDigits; "
            "MultiDigits.build({'n_train': 10, 'n_val': 5, 'n_test': 5}); "
            "print(any(name == 'sklearn' or name.startswith('sklearn.') for name in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_bad_digits_file_falls_back_to_load_digits(tmp_path, monkeypatch):
    import gzip
    import importlib.util
    from types import SimpleNamespace

    from trainers.datasets import multidigits

    folder = tmp_path / "sklearn"
    (folder / multidigits.DIGITS_FILE).parent.mkdir(parents=True)
    with gzip.open(folder / multidigits.DIGITS_FILE, "wt") as handle:
        handle.write("1,2,3\n")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: SimpleNamespace(submodule_search_locations=[str(folder)])
                        if name == "sklearn" else real(name, *a))
    pixels, labels = multidigits.read_digits()
    np.testing.assert_array_equal(pixels, load_digits().images)
    assert labels.shape == (1797,)
