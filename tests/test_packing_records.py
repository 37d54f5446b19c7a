"""A packed member records what its unpacked trial records (trainers/packing/).

Every epoch record a member hands to ``on_epoch`` and keeps in ``info.history`` has the
unpacked record's keys (stage, epoch, stage length, validation score, mean training loss,
per-task validation loss and accuracy, hook figures, method state) and its values; the
member's result has ``run_trial``'s keys, and its ``info`` the same keys plus the pack's
own (``PACK_ONLY``), ``train_eval`` included where the train split is evaluated on a
sample.

Tolerance as in tests/test_packing.py: float32 sums in another order, 1e-4 relative
(1e-6 absolute for values that start at zero, such as WC-AL's multipliers); an accuracy,
and the validation score that averages accuracies, may differ by one validation sample.
"""
from __future__ import annotations

import math

import pytest

from test_packing import PREFERENCES, REL, SPARSE, configs
from tiny_trials import TINY_DATA
from trainers import trial
from trainers.packing import loop as packed_loop, train_packed
from trainers.trial import run_trial

#: what only a packed member records: the size of its pack
PACK_ONLY = {"pack_size"}
#: record fields that are (means of) validation accuracies
ACCURACIES = {"val_acc", "val_score"}


def assert_close(unpacked, packed, where: str, one_sample: bool = False) -> None:
    """``packed`` has ``unpacked``'s shape (keys, lengths, types) and values: floats within
    float32 rounding (within one validation sample where ``one_sample``), others equal."""
    if isinstance(unpacked, dict):
        assert isinstance(packed, dict) and packed.keys() == unpacked.keys(), where
        for key, value in unpacked.items():
            assert_close(value, packed[key], f"{where}.{key}", one_sample or key in ACCURACIES)
    elif isinstance(unpacked, (list, tuple)):
        assert isinstance(packed, (list, tuple)) and len(packed) == len(unpacked), where
        for n, (a, b) in enumerate(zip(unpacked, packed)):
            assert_close(a, b, f"{where}[{n}]", one_sample)
    elif isinstance(unpacked, float) and not isinstance(packed, bool):
        assert isinstance(packed, (float, int)), where
        if one_sample:
            assert abs(packed - unpacked) <= 1.0 / TINY_DATA["n_val"] + 1e-12, where
        elif math.isfinite(unpacked):
            assert packed == pytest.approx(unpacked, rel=REL, abs=1e-6), where
        else:
            assert packed == unpacked or (math.isnan(packed) and math.isnan(unpacked)), where
    else:
        assert packed == unpacked, where


def trained(trials: list[dict]) -> tuple[list, list[list[dict]], list, list[list[dict]]]:
    """The pack's and the unpacked trials' results and ``on_epoch`` records, per member."""
    seen: list[list[dict]] = [[] for _ in trials]
    packed = train_packed(trials, on_epoch=lambda i, record: seen[i].append(record))
    alone, alone_seen = [], []
    for config in trials:
        records: list[dict] = []
        alone.append(run_trial(config, on_epoch=records.append))
        alone_seen.append(records)
    return packed, seen, alone, alone_seen


def assert_same_records(trials: list[dict]) -> list[dict]:
    packed, seen, alone, alone_seen = trained(trials)
    for n, (member, records, unpacked, unpacked_records) in enumerate(
            zip(packed, seen, alone, alone_seen)):
        assert isinstance(member, dict), member
        assert unpacked_records, "the unpacked trial reports its epochs"
        assert_close(unpacked_records, records, f"member {n} on_epoch")
        assert_close(unpacked["info"]["history"], member["info"]["history"],
                     f"member {n} history")
        assert member.keys() == unpacked.keys()
        assert member["info"].keys() - PACK_ONLY == unpacked["info"].keys()
        assert PACK_ONLY <= member["info"].keys()
        assert member["info"].get("train_eval") == unpacked["info"].get("train_eval")
    return packed


@pytest.mark.parametrize("method,preferences", [
    ("linear", PREFERENCES[:2]),
    ("wc_al", PREFERENCES[:2]),
    ("mgda", [None, None]),
    ("pmtl", PREFERENCES[:2]),
])
def test_a_members_epoch_records_and_info_are_the_unpacked_trials(method, preferences):
    assert_same_records(configs(method, preferences, seeds=(0, 1)))


def test_a_two_phase_members_records_carry_both_stages_and_their_figures():
    packed = assert_same_records(configs("wc_al", SPARSE[:2], seeds=(0, 1)))
    stages = [(r["stage"], r["stage_epochs"]) for r in packed[0]["info"]["history"]]
    assert {stage for stage, _ in stages} == {"phase1", "phase2"}


def test_a_member_evaluated_on_a_train_sample_says_so(monkeypatch):
    # the tiny train split (200) over the sample size: both evaluate the same sample
    monkeypatch.setattr(trial, "TRAIN_EVAL_SAMPLE", 150)
    packed = assert_same_records(configs("linear", PREFERENCES[:2], seeds=(0, 1)))
    assert packed[0]["info"]["train_eval"] == {"n": 150, "of": TINY_DATA["n_train"]}


def test_records_from_the_batched_validation_pass_are_the_unpacked_trials(monkeypatch):
    # the pass a GPU takes (one vmapped forward validates every member), here on the CPU
    monkeypatch.setattr(packed_loop, "batch_evaluation", lambda model, device: True)
    validated: list[dict] = []
    validate = packed_loop.validate
    monkeypatch.setattr(packed_loop, "validate",
                        lambda pack: validated.append(validate(pack)) or validated[-1])
    assert_same_records(configs("linear", PREFERENCES[:2], seeds=(0, 1)))
    assert validated and all(scores.keys() == {0, 1} for scores in validated)
