"""On a GPU (``pytest -m cuda``; benchmarks/gpu.sh runs them): an epoch makes the host
wait for the device no more often for more batches (CUDA's own sync check), the data
stays on the device, and ``pack: auto`` measures a member and trains in chunks that fit.
Without CUDA these tests are skipped: what they check exists only on a GPU (the CPU
stand-ins are tests/test_host_syncs.py and tests/test_pack_device_fit.py)."""
from __future__ import annotations

import warnings

import pytest
import torch

import trainers.packing.loop as packed_loop
from contract.trial import TrialConfig
from tiny_trials import tiny_config
from trainers import loop
from trainers.pack import run_pack
from trainers.packing import device_fit, train_packed
from trainers.trial import run_trial

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BATCH = 64
PREFERENCES = ([0.0, 0.7, 0.3], [0.0, 0.2, 0.8])


def config(method: str, n_batches: int, preference=None, key: str = "k") -> dict:
    data = {"n_train": n_batches * BATCH, "n_val": 60, "n_test": 60}
    return {**tiny_config(method, preference=preference, data=data,
                          train={"epochs": 1, "batch_size": BATCH, "device": "cuda"}),
            "key": key}


def synced_epochs(monkeypatch, run, packed: bool) -> int:
    """CUDA's sync warnings (``set_sync_debug_mode``) raised inside the epochs of ``run()``."""
    module, name = (packed_loop, "train_steps") if packed else (loop, "train_epoch")
    epoch = getattr(module, name)
    seen: list[warnings.WarningMessage] = []

    def counted(*args, **kwargs):
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                return epoch(*args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
            seen.extend(caught)

    monkeypatch.setattr(module, name, counted)
    run()
    monkeypatch.setattr(module, name, epoch)
    return len(seen)


@pytest.mark.parametrize("method", ["linear", "wc_al"])
def test_a_trial_epoch_does_not_wait_for_the_gpu_per_batch(monkeypatch, method):
    counts = [synced_epochs(monkeypatch, lambda n=n: run_trial(config(method, n, PREFERENCES[0])),
                            packed=False) for n in (4, 8)]
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("method", ["linear", "wc_al"])
def test_a_pack_epoch_does_not_wait_for_the_gpu_per_batch(monkeypatch, method):
    def run(n):
        return lambda: train_packed([config(method, n, p, f"k{i}")
                                     for i, p in enumerate(PREFERENCES)])

    counts = [synced_epochs(monkeypatch, run(n), packed=True) for n in (4, 8)]
    assert counts[0] == counts[1], counts


def test_the_data_splits_live_on_the_gpu(monkeypatch):
    seen = []
    epoch = loop.train_epoch

    def spy(model, method, data, *args):
        seen.append((data.train.x.device.type, data.val.x.device.type,
                     next(model.parameters()).device.type))
        return epoch(model, method, data, *args)

    monkeypatch.setattr(loop, "train_epoch", spy)
    result = run_trial(config("linear", 2, PREFERENCES[0]))
    assert seen == [("cuda", "cuda", "cuda")] and result["device"].startswith("cuda")


def test_auto_measures_a_member_and_fits_at_least_one_and_at_most_the_pack():
    configs = [TrialConfig.from_plain(config("linear", 4, p, f"k{i}"))
               for i, p in enumerate(PREFERENCES * 3)]
    size = device_fit.fitting_size(configs, 1.0)
    assert 1 <= size <= len(configs)
    assert device_fit.fitting_size(configs, 0.25) <= max(1, size)


def test_an_auto_pack_on_the_gpu_trains_in_chunks_and_every_member_gets_its_result(
        monkeypatch):
    configs = [config("linear", 2, p, f"k{i}") for i, p in enumerate(PREFERENCES * 2)]
    monkeypatch.setattr(device_fit, "fitting_size", lambda members, share, host: 3)
    got = {}
    assert run_pack(configs, lambda key, o, m: got.update({key: o}), gpu_share=0.5) == "batched"
    assert sorted(got) == ["k0", "k1", "k2", "k3"]
    assert all(not isinstance(o, str) and o["info"]["pack_size"] == 2 for o in got.values())
