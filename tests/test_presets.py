"""The presets table (trainers/presets.py): rows name only known methods, data sets and
architectures, merge from general to specific without ties, carry a source, and
docs/presets.md lists them as they are."""
from __future__ import annotations

from pathlib import Path

import pytest

from trainers import presets
from trainers.datasets import DATASETS
from trainers.datasets.base import DatasetSource
from trainers.methods import METHODS, Method
from trainers.models import ARCHITECTURES
from trainers.settings import TrainSettings

DOC = Path(__file__).resolve().parent.parent / "docs" / "presets.md"


def test_docs_presets_md_is_the_table():
    assert DOC.read_text() == presets.markdown(), \
        "regenerate: python -m trainers.presets > docs/presets.md"


def test_rows_name_known_things_and_cite_a_source():
    methods = set(METHODS.names()) | set(presets.METHOD_GROUPS) | {presets.ANY}
    data = set(DATASETS.names()) | set(presets.FAMILIES) | {presets.ANY}
    for row in presets.ROWS:
        assert row.method in methods, row
        assert set(row.data_names()) <= data, row
        assert row.arch in set(ARCHITECTURES.names()) | {presets.ANY}, row
        assert row.source.strip() and (row.train or row.params), row
        assert not (row.method == presets.ANY and row.params), "parameters belong to a method"
        TrainSettings.resolve(row.train)  # every training key is a real setting
    members = [d for group in presets.FAMILIES.values() for d in group]
    assert sorted(members) == sorted(DATASETS.names())  # each data set in one family
    for family, group in presets.FAMILIES.items():  # a family named like a data set is only it
        assert family not in DATASETS.names() or group == (family,), family
    for group in presets.METHOD_GROUPS.values():
        assert set(group) <= set(METHODS.names())


def test_no_two_equally_specific_rows_set_the_same_value():
    for method in METHODS.names():
        for dataset in DATASETS.names():
            for arch in (None, *ARCHITECTURES.names()):
                seen: dict[tuple, dict[str, str]] = {}
                for row in presets.matching(method, dataset, arch):
                    levels = (presets.method_level(row.method, method),
                              presets.data_level(row.data_names(), dataset),
                              presets.arch_level(row.arch, arch))
                    keys = seen.setdefault(levels, {})
                    for key in (*(f"train.{k}" for k in row.train),
                                *(f"params.{k}" for k in row.params)):
                        assert key not in keys, (method, dataset, arch, key, keys[key], row.source)
                        keys[key] = row.source


def test_specific_rows_override_general_ones(monkeypatch):
    rows = (
        presets.Row("wc_al", "mm36", "*", "family", train={"lr": 1.0}, params={"mu0": 1.0}),
        presets.Row("wc_al", "multifashion", "*", "data set", params={"mu0": 2.0}),
        presets.Row("wc_al", "mm36", "hps", "architecture", train={"lr": 3.0}),
        presets.Row("*", "multifashion", "hps", "any method", train={"lr": 9.0, "epochs": 7}),
    )
    monkeypatch.setattr(presets, "ROWS", rows)
    assert presets.train("wc_al", "multifashion", "hps") == {"lr": 3.0, "epochs": 7}
    assert presets.train("wc_al", "multifashion", "mdmtn") == {"lr": 1.0}
    assert presets.train("wc_al", "multifashion") == {"lr": 1.0}  # no arch: "*" rows only
    assert presets.params("wc_al", "multifashion", "hps") == {"mu0": 2.0}
    assert presets.params("wc_al", "multimnist36", "hps") == {"mu0": 1.0}
    assert presets.train("stl", "multifashion", "hps") == {"lr": 9.0, "epochs": 7}
    assert presets.train("stl", "multimnist", "hps") == {}


def test_method_presets_come_from_the_table():
    cosmos = METHODS.get("cosmos")
    assert cosmos.resolve_params({}, "multifashion_mnist")["penalty"] == 8.0
    assert cosmos.resolve_params({}, "multifashion")["penalty"] == 2.0
    # the data set's own settings, then the method's: COSMOS trains CelebA 25 epochs
    assert cosmos.train_preset("celeba")["epochs"] == 25
    assert METHODS.get("linear").train_preset("celeba")["epochs"] == 30


@pytest.mark.parametrize("attribute", ["presets", "train_presets", "train_defaults"])
def test_a_method_cannot_keep_presets_of_its_own(attribute):
    with pytest.raises(TypeError, match="trainers/presets.py"):
        type("Loose", (Method,), {attribute: {}, "batch_loss": lambda s, *a: None})


def test_a_data_set_cannot_keep_training_settings_of_its_own():
    with pytest.raises(TypeError, match="trainers/presets.py"):
        type("Loose", (DatasetSource,), {"train_defaults": {"lr": 1.0}})
