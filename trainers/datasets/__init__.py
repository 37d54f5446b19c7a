"""Dataset registry. Importing this package registers every built-in dataset."""
from trainers.datasets.base import SPLITS, DatasetBundle, DatasetSource, Split, Task
from trainers.registry import Registry

DATASETS: Registry[type[DatasetSource]] = Registry("dataset")

__all__ = ["DATASETS", "SPLITS", "DatasetBundle", "DatasetSource", "Split", "Task"]

# Built-in datasets register themselves on import.
from trainers.datasets import (  # noqa: E402,F401
    adult, celeba, cifar10mnist, compas, default, multidigits, multifashion, multifashion_mnist,
    multimnist, multimnist36, synthetic_concave,
)
