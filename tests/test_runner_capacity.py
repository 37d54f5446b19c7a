"""A trial that no Ray node can hold is refused before anything is written (it used to
wait forever); a concurrency cap above what fits is a warning."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli_runs import explicit, sweep_cli, tiny_sweep
from orchestrator.capacity import Capacity, check_capacity, local_resources
from orchestrator.errors import SpecError


def sweep(workdir: Path, resources: dict, *args: str) -> subprocess.CompletedProcess:
    spec = tiny_sweep("capacity", [explicit("linear", [0, 0.5, 0.5])], resources=resources)
    return sweep_cli(workdir, spec, *args, timeout=120)


@pytest.mark.parametrize("asked, field, unit", [
    (1000, "resources.cpus_per_trial", "1000 CPUs per trial"),
    (None, "resources.gpus_per_trial", "per trial"),  # one GPU more than the machine has
])
def test_a_trial_no_node_can_hold_is_refused_before_any_write(workdir, asked, field, unit):
    cpus, gpus = local_resources()
    result = sweep(workdir, {field.split(".")[1]: int(gpus) + 1 if asked is None else asked})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: spec.yaml: {field}: ")
    assert unit in lines[0]
    have = cpus if "cpus" in field else gpus
    assert lines[0].endswith(f"but the local Ray has {have:g}")
    assert not (workdir / "paretoctl.db").exists()  # nothing written, not even a store
    assert not (workdir / ".paretoctl").exists()  # and Ray never started


def test_one_node():
    local = Capacity([(2.0, 0.0)], "the local Ray")
    check = dict(cpus_per_trial=1, gpus_per_trial=0, concurrency_field="resources.max_concurrent")
    assert check_capacity(local, "s.yaml", max_concurrent=2, **check) is None
    warning = check_capacity(local, "s.yaml", max_concurrent=3, **check)
    assert warning == ("resources.max_concurrent: 3 trials at once, but the local Ray fits 2 of "
                       "1 CPU each: at most 2 run at a time")
    with pytest.raises(SpecError, match=r"^s\.yaml: resources\.cpus_per_trial: 2\.5 CPUs per "
                                        r"trial, but the local Ray has 2$"):
        check_capacity(local, "s.yaml", max_concurrent=1, **{**check, "cpus_per_trial": 2.5})
    # fractions: ten trials of 0.2 CPU fit on two CPUs
    assert check_capacity(local, "s.yaml", max_concurrent=10,
                          **{**check, "cpus_per_trial": 0.2}) is None


def test_a_cluster_is_judged_node_by_node():
    cluster = Capacity([(4.0, 1.0), (8.0, 0.0), (2.0, 2.0)], "the Ray cluster")
    check = dict(concurrency_field="--max-concurrent")
    # 10 CPUs fit on no single node although the cluster has 14
    with pytest.raises(SpecError, match="10 CPUs per trial, but the largest node of the Ray "
                                        "cluster has 8$"):
        check_capacity(cluster, "s", cpus_per_trial=10, gpus_per_trial=0, max_concurrent=1, **check)
    # 3 CPUs and 2 GPUs: some node has 3 CPUs, one has 2 GPUs, none has both
    with pytest.raises(SpecError, match=r"^s: resources: 3 CPUs and 2 GPUs per trial, but no "
                                        "node of the Ray cluster has both$"):
        check_capacity(cluster, "s", cpus_per_trial=3, gpus_per_trial=2, max_concurrent=1, **check)
    warning = check_capacity(cluster, "s", cpus_per_trial=1, gpus_per_trial=1, max_concurrent=5,
                             **check)
    assert warning == ("--max-concurrent: 5 trials at once, but the Ray cluster fits 3 of 1 CPU "
                       "and 1 GPU each: at most 3 run at a time")


def test_a_device_ray_gives_the_trials_no_gpu_for_is_refused():
    from orchestrator.capacity import check_trial_devices

    def trials(*devices):
        return [{"train": {"device": device}} for device in devices]

    for gpus in (0, 0.5, 2):
        check_trial_devices(trials("auto", "cpu"), gpus, "s.yaml")  # auto fits anywhere
    with pytest.raises(SpecError, match=r"^s\.yaml: train\.device: cuda needs a GPU per trial, "
                                        r"but resources\.gpus_per_trial is 0"):
        check_trial_devices(trials("auto", "cuda"), 0, "s.yaml")
    # Ray numbers the GPUs a trial reserved from 0: a share or one GPU shows cuda:0 only
    check_trial_devices(trials("cuda", "cuda:0"), 0.25, "s.yaml")
    with pytest.raises(SpecError, match=r"cuda:1: Ray shows a trial only the GPUs it reserves "
                                        r"for it, numbered from 0: cuda:0 here \(resources"
                                        r"\.gpus_per_trial is 1\)$"):
        check_trial_devices(trials("cuda:1"), 1, "s.yaml")
    check_trial_devices(trials("cuda:1"), 2, "s.yaml")
    with pytest.raises(SpecError, match=r"cuda:0 to cuda:1 here"):
        check_trial_devices(trials("cuda:2"), 1.5, "s.yaml")


def test_a_sweep_asking_cuda_without_gpus_is_refused_before_any_write(workdir):
    spec = tiny_sweep("nogpu", [explicit("linear", [0, 0.5, 0.5])], device="cuda")
    for args in ((), ("--dry-run",)):
        result = sweep_cli(workdir, spec, *args, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines() == [
            "error: spec.yaml: train.device: cuda needs a GPU per trial, but "
            "resources.gpus_per_trial is 0: give the trials a GPU share or use device auto"]
        assert not (workdir / "paretoctl.db").exists()
        assert not (workdir / ".paretoctl").exists()


def test_a_worker_given_no_gpu_sees_none(monkeypatch):
    import os

    import ray

    from orchestrator.runner import limit_to_assigned_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [1])
    limit_to_assigned_gpus()  # Ray set the worker's own GPU: left alone
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [])
    limit_to_assigned_gpus()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
