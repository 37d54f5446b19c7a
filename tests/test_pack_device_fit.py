"""``pack: auto`` on GPUs: the driver's bound, the worker's sizing from device memory
(the arithmetic; the measurement itself runs in tests/test_cuda.py on a GPU), the chunks
a pack then trains in, and fractional GPUs per trial on their way to Tune."""
from __future__ import annotations

import pytest

from contract.trial import TrialConfig
from orchestrator.packs import AUTO_PACK, AUTO_PACK_GPU, gpu_share, pack_size
from tiny_trials import tiny_config
from trainers import loop
from trainers.pack import run_batched
from trainers.packing import device_fit
from trainers.packing.device_fit import chunk_sizes, fitting_members

GIB = 2**30


def test_members_fill_the_margin_of_the_free_memory_up_to_the_trials_there_are():
    # 10 GiB free of 80, a whole GPU: 0.8 * 10 GiB / 100 MiB = 81.92 -> 81
    assert fitting_members(10 * GIB, 80 * GIB, 1.0, 100 * 2**20, 1000) == 81
    assert fitting_members(10 * GIB, 80 * GIB, 1.0, 100 * 2**20, 32) == 32
    # nothing fits: still one member (it trains, or fails as a trial would alone)
    assert fitting_members(GIB, 80 * GIB, 1.0, 4 * GIB, 32) == 1


def test_a_fractional_gpu_sizes_against_its_share_less_what_it_holds():
    # 0.25 of 80 GiB is 20 GiB; 4 GiB already held (data): 16 GiB, of which 80 %
    assert fitting_members(80 * GIB, 80 * GIB, 0.25, GIB, 64, held_bytes=4 * GIB) == 12
    # the share is an upper bound: less free memory than it is the limit
    assert fitting_members(5 * GIB, 80 * GIB, 0.25, GIB, 64) == 4
    # the fixed part of a step comes off the room first
    assert fitting_members(80 * GIB, 80 * GIB, 0.25, GIB, 64, fixed_bytes=10 * GIB) == 8


def test_a_member_without_footprint_is_an_error():
    with pytest.raises(ValueError, match="footprint"):
        fitting_members(GIB, GIB, 1.0, 0, 4)


def test_chunks_are_nearly_equal_and_cover_the_pack():
    assert chunk_sizes(64, 64) == [64]
    assert chunk_sizes(64, 40) == [32, 32]
    assert chunk_sizes(5, 2) == [2, 2, 1]
    assert chunk_sizes(3, 1) == [1, 1, 1]


def test_the_driver_forms_larger_auto_packs_where_trials_get_a_gpu():
    assert pack_size("auto", 1000, 4) == AUTO_PACK
    assert pack_size("auto", 1000, 4, gpu=True) == AUTO_PACK_GPU
    assert pack_size("auto", 100, 4, gpu=True) == 25  # every slot gets a pack
    assert pack_size(16, 1000, 4, gpu=True) == 16     # a fixed K is K
    assert gpu_share("auto", 0.25) == 0.25 and gpu_share("auto", 2) == 1.0
    assert gpu_share("auto", 0) is None and gpu_share(16, 0.5) is None


def test_a_cpu_worker_keeps_the_cpu_rule():
    assert device_fit.CPU_CHUNK == AUTO_PACK
    configs = [TrialConfig.from_plain({**tiny_config("linear"), "key": f"k{i}"})
               for i in range(20)]
    assert device_fit.fitting_size(configs, 0.5) == AUTO_PACK
    assert device_fit.fitting_size(configs[:3], 0.5) == 3


def test_a_pack_larger_than_fits_trains_in_chunks_and_reports_every_member(monkeypatch):
    members = [TrialConfig.from_plain({**tiny_config("linear"), "key": k}) for k in "abcde"]
    probed = []
    monkeypatch.setattr(device_fit, "fitting_size",
                        lambda configs, share, host: probed.append(host) or 2)
    calls, got, hosts = [], [], []

    def train_packed(configs, on_epoch=None, on_model=None, host=None):
        calls.append([c.key for c in configs])
        hosts.append(host)
        for index, config in enumerate(configs):
            on_model(index, config.key.encode())
        return [{"pack_size": len(configs)} for _ in configs]

    run_batched(members, train_packed, lambda key, o, m: got.append((key, o, m)),
                gpu_share=0.25)
    assert calls == [["a", "b"], ["c", "d"], ["e"]]
    # loaded (and moved to the device) once: the probe and every chunk get the same
    assert probed[0] is not None and all(host is probed[0] for host in hosts)
    assert [(key, o["pack_size"], m) for key, o, m in got] == [
        ("a", 2, b"a"), ("b", 2, b"b"), ("c", 2, b"c"), ("d", 2, b"d"), ("e", 1, b"e")]


def test_a_pack_whose_sizing_fails_fails_every_member_with_the_reason(monkeypatch):
    members = [TrialConfig.from_plain({**tiny_config("linear"), "key": k}) for k in "ab"]

    def broken(configs, share, host):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(device_fit, "fitting_size", broken)
    got = []
    run_batched(members, None, lambda key, o, m: got.append((key, o, m)), gpu_share=1.0)
    assert got == [(k, "pack sizing failed: RuntimeError: CUDA error: out of memory", None)
                   for k in "ab"]


@pytest.mark.parametrize("method, preferences", [
    ("linear", ([0.0, 0.7, 0.3], [0.0, 0.2, 0.8])),
    ("mgda", (None, None)),
    ("wc_al", ([0.0, 0.7, 0.3], [0.0, 0.2, 0.8])),
])
def test_the_memory_probe_trains_one_step_of_a_pack_and_keeps_its_checkpoints(
        method, preferences):
    from trainers.trial import load_dataset
    import torch

    configs = [TrialConfig.from_plain({**tiny_config(method, preference=p), "key": f"k{i}"})
               for i, p in enumerate(preferences)]
    bundle = load_dataset(configs[0])
    data = loop.TrainData(bundle.tasks, bundle.splits["train"], bundle.splits["val"])
    kept = device_fit.probe_step(configs, bundle, data, torch.device("cpu"))
    assert len(kept) == 2
    weights, _ = kept[0]
    assert all(torch.isfinite(value).all() for value in weights.values())


def test_fractional_gpus_go_to_tune_as_they_are_with_the_share_for_auto_packs():
    from types import SimpleNamespace

    from orchestrator.runner import PACK_SHARE_KEY, pack_trainable, trial_resources, tune_space
    from orchestrator.spec import Resources

    assert Resources(gpus_per_trial=0.25, pack="auto").gpus_per_trial == 0.25
    assert trial_resources(1.0, 0.25) == {"cpu": 1.0, "gpu": 0.25}
    tune = SimpleNamespace(grid_search=lambda values: ("grid", values))
    function, space = tune_space(tune, [], [["a"], ["b"]], 0.25)
    assert function is pack_trainable
    assert space == {"pack": ("grid", [["a"], ["b"]]), PACK_SHARE_KEY: 0.25}
    assert PACK_SHARE_KEY not in tune_space(tune, [], [["a"]], None)[1]


def test_the_pack_worker_hands_its_share_to_the_pack(monkeypatch):
    import sys
    import types

    from orchestrator import runner

    seen = {}
    fake_ray = types.ModuleType("ray")
    fake_ray.tune = types.SimpleNamespace(report=lambda metrics: None)
    fake_ray.is_initialized = lambda: False
    monkeypatch.setitem(sys.modules, "ray", fake_ray)
    monkeypatch.setitem(sys.modules, "ray.tune", fake_ray.tune)
    monkeypatch.setattr(runner, "worker_node", lambda: None)
    import trainers.pack as pack_module

    monkeypatch.setattr(pack_module, "run_pack",
                        lambda members, on_member, on_epoch, gpu_share: seen.update(
                            members=members, share=gpu_share))
    members = [{"key": "a"}, {"key": "b"}]
    runner.pack_trainable({"pack": members, runner.PACK_SHARE_KEY: 0.5})
    assert seen == {"members": members, "share": 0.5}
