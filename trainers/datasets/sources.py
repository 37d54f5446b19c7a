"""The raw data sets the built-in datasets are made from: file names, folder layouts,
system locations and how each is fetched. One place, so ``data list``, the error
messages and the README agree on where files go.

Layouts in the data directory are torchvision's (``MNIST/raw``, ``FashionMNIST/raw``,
``cifar-10-batches-py``, ``celeba``), so ``--download`` and a hand copy land in the same
place; MNIST and Fashion-MNIST share file names, so a flat folder is only searched when
it is given as ``--source`` (or is Debian's Fashion-MNIST folder).
"""
from __future__ import annotations

from trainers.datasets.download import (COMPAS_URL, fetch_adult, fetch_credit,
                                        torchvision_fetch, url_fetch)
from trainers.datasets.locations import RawSet


def idx_files() -> dict[str, tuple[str, ...]]:
    """The four MNIST-format files, each accepted plain or gzipped."""
    names = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
    return {role: (name, f"{name}.gz") for role, name in names.items()}


MNIST = RawSet("mnist", "MNIST", idx_files(), layouts=("MNIST/raw", "mnist"),
               fetch=torchvision_fetch("MNIST"))

#: Debian's dataset-fashion-mnist package installs the four .gz files here
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST = RawSet("fashion", "Fashion-MNIST", idx_files(),
                       layouts=("FashionMNIST/raw", "fashion-mnist"),
                       system_dirs=(DEBIAN_FASHION_MNIST,), fetch=torchvision_fetch("FashionMNIST"))

CIFAR10 = RawSet("cifar10", "CIFAR-10",
                 {**{f"data_batch_{i}": (f"data_batch_{i}",) for i in range(1, 6)},
                  "test_batch": ("test_batch",)},
                 layouts=("cifar-10-batches-py",), fetch=torchvision_fetch("CIFAR10"))


def pmtl_pickle(file_name: str) -> RawSet:
    """One of the Pareto MTL authors' pickles (not downloadable: a Google-Drive folder)."""
    return RawSet("pickle", f"Pareto MTL {file_name}", {"pickle": (file_name,)},
                  layouts=("multi", ""),
                  manual=f"copy {file_name} from the Pareto MTL authors' Google-Drive folder "
                         "1VnmCmBAVh8f_BKJg1KYx-E137gBLXbGG into <data>/multi")


ADULT = RawSet("adult", "Adult (adult.csv)", {"csv": ("adult.csv",)}, layouts=("adult", ""),
               fetch=fetch_adult)
COMPAS = RawSet("compas", "COMPAS (ProPublica)", {"csv": ("compas-scores-two-years.csv",)},
                layouts=("compas", ""), fetch=url_fetch(COMPAS_URL, "compas/compas-scores-two-years.csv"))
CREDIT = RawSet("credit", "Default of credit card clients", {"csv": ("UCI_Credit_Card.csv",)},
                layouts=("credit", "default", ""), fetch=fetch_credit)

CELEBA = RawSet("celeba", "CelebA (aligned)",
                {"images": ("img_align_celeba/",), "attributes": ("list_attr_celeba.txt",),
                 "partition": ("list_eval_partition.txt",)},
                layouts=("celeba",),
                fetch=torchvision_fetch("CelebA", split="all", target_type="attr"))
