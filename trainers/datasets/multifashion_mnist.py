"""``multifashion_mnist``: the Pareto MTL / COSMOS Multi-(Fashion+MNIST): an MNIST digit
top-left (task ``left``) and a Fashion-MNIST item bottom-right (task ``right``) on a 36x36
canvas; 108k / 12k / 20k. Which item sits where is inferred from the single-task error
rates (docs/datasets.md#pareto-mtl-overlays). Built as trainers/datasets/pmtl_family.py
describes, from ``multi_fashion_and_mnist.pickle`` when present. The classes come from
different label sets, so they are not forced to differ."""
from __future__ import annotations

from trainers.datasets import DATASETS
from trainers.datasets.pmtl_family import PMTLOverlay
from trainers.datasets.sources import FASHION_MNIST, MNIST


@DATASETS.register("multifashion_mnist")
class MultiFashionMNIST(PMTLOverlay):
    name = "multifashion_mnist"
    left_source = MNIST
    right_source = FASHION_MNIST
    pickle_file = "multi_fashion_and_mnist.pickle"
    distinct_labels = False
    description = "Pareto MTL Multi-(Fashion+MNIST): MNIST digit top-left, Fashion item bottom-right, 36x36"
