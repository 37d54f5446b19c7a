"""The tensor cache: what the sidecar records, when ``prepare`` rebuilds (source checksum,
option, seed, builder version) and when it does not, and how ``build`` reads it."""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import struct
import zipfile

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from test_datasets_fakes import IDX_NAMES, write_idx, write_mnist
from trainers.datasets import DATASETS
from trainers.datasets.cache import sha256_file
from trainers.errors import DataError

OPTIONS = {"n_train": 40, "n_test": 20}


@pytest.fixture()
def setup(tmp_path):
    source_dir, data_dir = tmp_path / "src", tmp_path / "data"
    write_mnist(source_dir, n_train=30, n_test=12, seed=0)
    return DATASETS.get("multimnist36"), source_dir, data_dir


def sidecar(path):
    return json.loads(path.with_suffix(".json").read_text())


def test_sidecar_records_how_the_cache_was_built(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    assert path.parent == data_dir / "cache" and path.suffix == ".pt"
    meta = sidecar(path)
    assert meta["dataset"] == "multimnist36" and meta["version"] == source.version
    assert meta["options"] == source.resolve_options(OPTIONS) and meta["options"]["seed"] == 0
    images = source_dir / f"{IDX_NAMES['train'][0]}.gz"
    assert meta["sources"]["mnist/train_images"]["sha256"] == sha256_file(images)
    assert set(meta["sources"]) == {f"mnist/{r}" for r in
                                    ("train_images", "train_labels", "test_images", "test_labels")}
    assert meta["bytes"] == path.stat().st_size and meta["splits"]["test"] == [20, 1, 36, 36]
    payload = torch.load(path, weights_only=True)
    assert payload["splits"]["train"]["x"].dtype == torch.uint8   # compact on disk
    assert source.is_cached(OPTIONS, data_dir) and source.cached_files(data_dir) == [path]


def test_prepare_is_a_no_op_when_nothing_changed(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    stamp = path.stat().st_mtime_ns
    assert source.prepare(OPTIONS, data_dir, source_dir=source_dir) == path
    assert path.stat().st_mtime_ns == stamp


def test_changed_source_file_rebuilds(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    before = torch.load(path, weights_only=True)["splits"]["test"]["x"].clone()
    old_sha = sidecar(path)["sources"]["mnist/test_images"]["sha256"]
    images = np.zeros((12, 28, 28), dtype=np.uint8)
    images[:, 5:20, 10:14] = 255
    write_idx(source_dir / IDX_NAMES["test"][0], images)
    assert source.prepare(OPTIONS, data_dir, source_dir=source_dir) == path  # same options
    meta = sidecar(path)
    assert meta["sources"]["mnist/test_images"]["sha256"] != old_sha
    after = torch.load(path, weights_only=True)["splits"]["test"]["x"]
    assert not torch.equal(before, after)


def test_touched_but_identical_source_keeps_the_cache(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    stamp = path.stat().st_mtime_ns
    labels = source_dir / f"{IDX_NAMES['test'][1]}.gz"
    os.utime(labels, ns=(1, 1))   # new mtime, same bytes: checksum re-read, no rebuild
    source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    assert path.stat().st_mtime_ns == stamp
    assert sidecar(path)["sources"]["mnist/test_labels"]["mtime_ns"] == 1


def test_options_seed_and_version_key_the_cache(setup, monkeypatch):
    source, source_dir, data_dir = setup
    base = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    other_seed = source.prepare({**OPTIONS, "seed": 1}, data_dir, source_dir=source_dir)
    other_size = source.prepare({**OPTIONS, "n_test": 10}, data_dir, source_dir=source_dir)
    assert len({base, other_seed, other_size}) == 3
    assert len(source.cached_files(data_dir)) == 3
    monkeypatch.setattr(source, "version", source.version + 1)
    assert not source.is_cached(OPTIONS, data_dir)
    rebuilt = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    assert rebuilt != base and sidecar(rebuilt)["version"] == source.version


def test_build_prepares_when_needed_and_then_only_reads(setup, tmp_path):
    source, source_dir, data_dir = setup
    # files in torchvision's layout inside the data dir: build alone finds and caches them
    write_mnist(data_dir / "MNIST" / "raw", n_train=30, n_test=12, seed=0)
    bundle = source.build(OPTIONS, data_dir)
    assert source.is_cached(OPTIONS, data_dir)
    for name in os.listdir(data_dir / "MNIST" / "raw"):
        os.remove(data_dir / "MNIST" / "raw" / name)
    again = source.build(OPTIONS, data_dir)   # raw files gone: the cache is enough
    assert torch.equal(bundle.splits["train"].x, again.splits["train"].x)
    assert source.prepare(OPTIONS, data_dir) == source.cache_entry(
        source.resolve_options(OPTIONS), data_dir).data_path


def test_incomplete_cache_is_rebuilt_and_a_foreign_one_is_reported(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    path.write_bytes(path.read_bytes()[:1000])          # truncated: sidecar size mismatch
    assert not source.is_cached(OPTIONS, data_dir)
    source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    assert source.is_cached(OPTIONS, data_dir)
    size = path.stat().st_size
    path.write_bytes(b"x" * size)                         # same size, garbage inside
    with pytest.raises(DataError, match="is corrupt .*SHA-256.* --force"):
        source.build(OPTIONS, data_dir)
    meta = sidecar(path)                                  # a sidecar that vouches for it
    path.with_suffix(".json").write_text(json.dumps({**meta, "sha256": sha256_file(path)}))
    with pytest.raises(DataError, match="unreadable.*--force"):
        source.build(OPTIONS, data_dir)
    source.prepare(OPTIONS, data_dir, source_dir=source_dir, force=True)
    assert len(source.build(OPTIONS, data_dir).splits["test"]) == 20


def flip_a_tensor_byte(path):
    """Flip one bit in the middle of the largest tensor stored in a torch.save file (a
    zip of uncompressed records), where no format check can notice it."""
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[record.header_offset + 26:record.header_offset + 30])
    offset = record.header_offset + 30 + name_len + extra_len + record.file_size // 2
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))


CORRUPT_OPTIONS = {"n_train": 40, "n_test": 20, "seed": 3, "val_fraction": 0.25}


@pytest.fixture()
def corrupted(tmp_path):
    """A cache built with non-default options, then one flipped bit inside a tensor."""
    data_dir = tmp_path / "data"
    write_mnist(data_dir / "MNIST" / "raw", n_train=30, n_test=12, seed=0)
    source = DATASETS.get("multimnist36")
    path = source.prepare(CORRUPT_OPTIONS, data_dir)
    good = torch.load(path, weights_only=True)
    flip_a_tensor_byte(path)
    assert path.stat().st_size == sidecar(path)["bytes"]   # the size check cannot see it
    return source, data_dir, path, good


def same_payload(a, b) -> bool:
    return all(torch.equal(a["splits"][s][k], b["splits"][s][k]) for s in a["splits"] for k in ("x", "y"))


def test_sidecar_records_the_cache_files_own_checksum(setup):
    source, source_dir, data_dir = setup
    path = source.prepare(OPTIONS, data_dir, source_dir=source_dir)
    assert sidecar(path)["sha256"] == sha256_file(path)   # hashed while writing, no re-read


def test_flipped_bit_in_a_cache_is_refused_with_the_exact_rebuild_command(corrupted):
    source, data_dir, path, good = corrupted
    with pytest.raises(DataError) as info:
        source.build(CORRUPT_OPTIONS, data_dir)
    command = (f"paretoctl data prepare multimnist36 --force -o n_test=20 -o n_train=40 "
               f"-o seed=3 -o val_fraction=0.25 --data-dir {data_dir}")
    assert str(info.value) == (f"multimnist36: cache file {path} is corrupt (its SHA-256 differs "
                               f"from the one recorded when it was built); rebuild it with: {command}")
    # the command, run as printed, rebuilds this very file
    from orchestrator.cli import app
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.stderr
    assert same_payload(torch.load(path, weights_only=True), good)
    assert len(source.build(CORRUPT_OPTIONS, data_dir).splits["test"]) == 20


def test_prepare_rebuilds_a_corrupted_cache(corrupted):
    source, data_dir, path, good = corrupted
    assert source.prepare(CORRUPT_OPTIONS, data_dir) == path
    assert sidecar(path)["sha256"] == sha256_file(path)
    assert same_payload(torch.load(path, weights_only=True), good)


def test_rebuild_command_quotes_and_round_trips_list_options(tmp_path):
    from orchestrator.data_cli import parse_options

    source = DATASETS.get("celeba")
    options = source.resolve_options({"attributes": ["Oval_Face", "Pointy_Nose"], "max_images": 500})
    command = source.rebuild_command(options, tmp_path / "my data")
    assert command == (f"paretoctl data prepare celeba --force -o attributes=Oval_Face,Pointy_Nose "
                       f"-o max_images=500 --data-dir '{tmp_path / 'my data'}'")
    items = shlex.split(command)
    given = [items[i + 1] for i, word in enumerate(items) if word == "-o"]
    assert source.resolve_options(parse_options(given, source)) == options


def test_missing_files_message(tmp_path):
    source = DATASETS.get("multimnist")
    with pytest.raises(DataError) as info:
        source.prepare({}, tmp_path / "data", source_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("multimnist: MNIST files missing: train-images-idx3-ubyte, ")
    assert str(tmp_path / "data" / "MNIST" / "raw") in message and str(tmp_path / "nowhere") in message
    assert f"paretoctl data prepare multimnist --download --data-dir {tmp_path / 'data'}" in message
    # a partly filled folder names only what it lacks
    write_mnist(tmp_path / "part", n_train=5, n_test=2)
    (tmp_path / "part" / f"{IDX_NAMES['test'][1]}.gz").unlink()
    with pytest.raises(DataError, match=r"files missing: t10k-labels-idx1-ubyte; looked in"):
        source.prepare({}, tmp_path / "data", source_dir=tmp_path / "part")


def test_download_failure_is_one_line(tmp_path, monkeypatch):
    from trainers.datasets import sources

    def offline(data_dir):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    raw = dataclasses.replace(sources.MNIST, fetch=offline)
    monkeypatch.setattr(DATASETS.get("multimnist"), "raw_sets", classmethod(lambda cls, o: {"mnist": raw}))
    with pytest.raises(DataError, match="downloading MNIST into .* failed: OSError: .*name resolution") as info:
        DATASETS.get("multimnist").prepare({}, tmp_path, download=True)
    assert "\n" not in str(info.value)
