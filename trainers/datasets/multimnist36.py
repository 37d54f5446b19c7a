"""``multimnist36``: the Pareto MTL / COSMOS Multi-MNIST (two MNIST digits on a 36x36
canvas, top-left and bottom-right, of different classes; 108k / 12k / 20k). Built as
trainers/datasets/pmtl_family.py describes, from ``multi_mnist.pickle`` when present."""
from __future__ import annotations

from trainers.datasets import DATASETS
from trainers.datasets.pmtl_family import PMTLOverlay
from trainers.datasets.sources import MNIST


@DATASETS.register("multimnist36")
class MultiMNIST36(PMTLOverlay):
    name = "multimnist36"
    left_source = MNIST
    right_source = MNIST
    pickle_file = "multi_mnist.pickle"
    description = "Pareto MTL Multi-MNIST: two MNIST digits on 36x36 (shift <= 4 px), 108k/12k/20k"
