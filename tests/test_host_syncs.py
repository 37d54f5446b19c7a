"""Nothing in a training step makes the host wait for the device: the host syncs of an
epoch (counted on the CPU standing in for the GPU, tests/host_syncs.py) do not grow
with its number of batches, for single trials and for packs. The gradient-combining
methods decide their weights on the host (float64, as the papers' solvers), so their
step makes one round trip: the Gram matrices and the task losses to the host in one
copy, the weights back in one."""
from __future__ import annotations

from collections import Counter

import pytest

import trainers.packing.loop as packed_loop
from host_syncs import HostSyncs
from tiny_trials import tiny_config
from trainers import loop
from trainers.packing import train_packed
from trainers.trial import run_trial

BATCH = 64
PREFERENCES = ([0.0, 0.7, 0.3], [0.0, 0.2, 0.8])
SPARSE = ([0.2, 0.4, 0.4], [0.1, 0.6, 0.3])   # the two-phase schedule: prox, tying


def config(method: str, n_batches: int, preference=None, seed: int = 0,
           arch: str = "hps") -> dict:
    data = {"n_train": n_batches * BATCH, "n_val": 60, "n_test": 60}
    params = {"phase1_iterations": 1, "phase2_iterations": 1} if method == "wc_al" else None
    return {**tiny_config(method, arch=arch, preference=preference, data=data, seed=seed,
                          params=params,
                          train={"epochs": 1, "batch_size": BATCH, "epochs_per_iteration": 1}),
            "key": f"k{seed}-{preference}"}


def epoch_syncs(monkeypatch, run, packed: bool) -> Counter:
    """The syncs counted inside the training epochs of ``run()``."""
    counter = HostSyncs()
    module, name = (packed_loop, "train_steps") if packed else (loop, "train_epoch")
    epoch = getattr(module, name)

    def counted(*args, **kwargs):
        counter.counting = True
        try:
            return epoch(*args, **kwargs)
        finally:
            counter.counting = False

    monkeypatch.setattr(module, name, counted)
    with counter:
        run()
    monkeypatch.setattr(module, name, epoch)
    return Counter(counter.syncs)


def single(method: str, preference, arch: str = "hps"):
    return lambda n: lambda: run_trial(config(method, n, preference, arch=arch))


def pack(method: str, preferences, seeds=(0, 0)):
    def runner(n):
        def run():
            outcomes = train_packed([config(method, n, p, s) for p, s in zip(preferences, seeds)])
            assert not any(isinstance(o, str) for o in outcomes), outcomes
        return run
    return runner


CASES = {
    "linear": (single("linear", PREFERENCES[0]), False),
    "wc_al": (single("wc_al", PREFERENCES[0]), False),
    "packed linear": (pack("linear", PREFERENCES), True),
    "packed linear, two seeds": (pack("linear", PREFERENCES, (0, 1)), True),
    "packed wc_al": (pack("wc_al", PREFERENCES), True),
    "wc_al with sparsity": (single("wc_al", SPARSE[0]), False),
    "packed wc_al with sparsity": (pack("wc_al", SPARSE), True),
    # a fresh training ray per step: drawn ahead, copied to the device once per block
    "cosmos": (single("cosmos", None), False),
    "phn_ls": (single("phn_ls", None), False),
    "uniform": (single("uniform", None), False),
    "kdmtl": (single("kdmtl", None, "kdmtl"), False),
    "stl": (single("stl", None, "stl"), False),
    "mtan": (single("mtan", None, "mtan"), False),
    "linear on mdmtn": (single("linear", PREFERENCES[0], "mdmtn"), False),
}


@pytest.mark.parametrize("case", CASES)
def test_an_epoch_syncs_with_the_device_no_more_for_more_batches(monkeypatch, case):
    make, packed = CASES[case]
    four = epoch_syncs(monkeypatch, make(4), packed)
    eight = epoch_syncs(monkeypatch, make(8), packed)
    assert eight == four, f"per-step host syncs: {eight - four}"


GRAM_CASES = {
    "mgda": (single("mgda", None), False),
    "pmtl": (single("pmtl", None), False),
    "packed mgda": (pack("mgda", (None, None)), True),
    "packed pmtl": (pack("pmtl", (None, None), (0, 1)), True),
    # EPO's LP reads the step's ray on the host, where it was drawn
    "phn_epo": (single("phn_epo", None), False),
}


@pytest.mark.parametrize("case", GRAM_CASES)
def test_a_gradient_combining_step_reads_the_device_once(monkeypatch, case):
    make, packed = GRAM_CASES[case]
    four = epoch_syncs(monkeypatch, make(4), packed)
    eight = epoch_syncs(monkeypatch, make(8), packed)
    extra = Counter(kind for kind, _ in (eight - four).elements())
    # per step: the Gram matrices and losses to the host, the weights back, nothing else
    assert extra == {".cpu() to the host": 4, ".to to the device": 4}, \
        f"per-step host syncs: {eight - four}"


def test_the_relaxed_fairness_loss_makes_no_host_sync():
    import torch

    from trainers.datasets.kinds import relaxed_deo

    logit, group = torch.randn(64), torch.randint(0, 2, (64,))  # made outside: the device's
    counter = HostSyncs()
    with counter:
        counter.counting = True
        relaxed_deo(logit, group)
    assert counter.syncs == []
