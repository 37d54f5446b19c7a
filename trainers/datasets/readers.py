"""Readers of the raw formats: MNIST-style IDX (plain or gzip), CIFAR-10 python batches,
and the Pareto MTL authors' pickles. Every malformed file becomes one ``DataError`` line
naming the file and what is wrong with it, never a traceback.

CIFAR-10 batches and the authors' data are Python pickles, and a pickle can name any
function to call while it loads. The data folder is searched automatically (``origin:
auto`` finds a planted ``multi_fashion.pickle``), so pickles are read by
:class:`ArrayUnpickler`, which builds only numpy arrays and plain containers and refuses
every other global before anything runs.
"""
from __future__ import annotations

import gzip
import pickle
import zlib
from pathlib import Path

import numpy as np

from trainers.errors import DataError

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (by magic number, not by name)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX array (``ndim`` = 3 for images, 1 for labels), checked against its header."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtype, dims = IDX_DTYPES.get(data[2]), data[3]
    if dtype is None or dims != ndim:
        raise DataError(f"{path}: expected an IDX file with {ndim} dimensions of a known type, "
                        f"got type 0x{data[2]:02x} with {dims}")
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError(f"{path}: IDX header is truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    count = int(np.prod(shape))
    itemsize = np.dtype(dtype).itemsize
    if len(data) != header + count * itemsize:
        raise DataError(f"{path}: IDX size mismatch: header says {shape} "
                        f"({header + count * itemsize} bytes), file has {len(data)} bytes")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, H, W), labels int64 (N,)) with matching counts and labels 0..9."""
    images = read_idx(images_path, 3).astype(np.uint8, copy=False)
    labels = read_idx(labels_path, 1).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{labels_path}: {len(labels)} labels for {len(images)} images "
                        f"in {images_path}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{labels_path}: labels outside 0..9")
    return images, labels


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _array_globals() -> dict[tuple[str, str], object]:
    """The globals that numpy-array pickles name, under numpy 1's and numpy 2's module
    names, and nothing else: arrays (protocols 0-4: ``_reconstruct``; 5: ``_frombuffer``),
    dtypes, numpy scalars, and latin-1 bytes (protocol 2)."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1
        from numpy.core import multiarray, numeric
    found: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray,
                                            ("numpy", "dtype"): np.dtype,
                                            ("_codecs", "encode"): _latin1_encode}
    for package in ("numpy.core", "numpy._core"):
        found[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        found[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        found[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return found


class ArrayUnpickler(pickle.Unpickler):
    """Loads numpy arrays, dtypes, numbers, strings, bytes, lists, tuples and dicts;
    any other global (``os.system``, ``builtins.exec``, a class) raises before it is
    looked up, so a crafted file cannot run code."""

    allowed = _array_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: only numpy arrays and plain values are "
                "accepted in a data file") from None

    def persistent_load(self, pid: object) -> object:
        raise pickle.UnpicklingError("refused a persistent id: not a plain data pickle")


def unpickle(path: Path):
    """A pickle of numpy arrays written by Python 2 or 3 (Python 2 arrays need latin-1),
    read by :class:`ArrayUnpickler`."""
    try:
        with open(path, "rb") as handle:
            return ArrayUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, *READ_ERRORS, AttributeError, ImportError, IndexError,
            TypeError, KeyError, MemoryError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"{path}: not a readable pickle ({type(exc).__name__}: {reason})") from None


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: images uint8 (N, 3, 32, 32), labels int64 (N,)."""
    batch = unpickle(path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a CIFAR-10 batch (a dict), got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels'")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: CIFAR-10 'data' must be uint8 (N, 3072), got "
                        f"{data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(labels)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Several batches concatenated in the given order."""
    parts = [read_cifar_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def read_pmtl_pickle(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The Pareto MTL authors' 4-tuple (train images, train labels, test images, test
    labels) as ``{"train": (x (N, 1, 36, 36), y (N, 2) int64), "test": ...}``."""
    content = unpickle(path)
    if not isinstance(content, (tuple, list)) or len(content) != 4:
        raise DataError(f"{path}: expected a 4-tuple (train images, train labels, "
                        f"test images, test labels)")
    out = {}
    for split, (images, labels) in (("train", content[0:2]), ("test", content[2:4])):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.size % (36 * 36) or labels.ndim != 2 or labels.shape[1] != 2:
            raise DataError(f"{path}: {split} part must be 36x36 images and (N, 2) labels, got "
                            f"{images.shape} and {labels.shape}")
        images = images.reshape(-1, 1, 36, 36)
        if len(images) != len(labels):
            raise DataError(f"{path}: {len(labels)} {split} labels for {len(images)} images")
        out[split] = (images, labels.astype(np.int64))
    return out
