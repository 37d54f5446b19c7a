"""``multifashion``: the Pareto MTL / COSMOS Multi-Fashion (two Fashion-MNIST items on a
36x36 canvas, of different classes; 108k / 12k / 20k). Built as
trainers/datasets/pmtl_family.py describes, from ``multi_fashion.pickle`` when present,
else from the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist package works)."""
from __future__ import annotations

from trainers.datasets import DATASETS
from trainers.datasets.pmtl_family import PMTLOverlay
from trainers.datasets.sources import FASHION_MNIST


@DATASETS.register("multifashion")
class MultiFashion(PMTLOverlay):
    name = "multifashion"
    left_source = FASHION_MNIST
    right_source = FASHION_MNIST
    pickle_file = "multi_fashion.pickle"
    description = "Pareto MTL Multi-Fashion: two Fashion-MNIST items on 36x36, 108k/12k/20k"
