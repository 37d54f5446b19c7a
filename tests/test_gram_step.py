"""The gradient-combining step reuses its first forward's graph for the weighted loss
where that forward drew no random number and changed no buffer (the fresh forward would
recompute it bit for bit), and runs the fresh forward otherwise."""
from __future__ import annotations

import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods import task_gradients
from trainers.models import ARCHITECTURES
from trainers.trial import run_trial
from tiny_trials import tiny_config

SOURCE = DATASETS.get("multidigits")
TASKS = SOURCE.tasks
SHAPE = SOURCE.input_shape_for(SOURCE.resolve_options({}))
CASES = {"mgda": None, "pmtl": [0.0, 0.3, 0.7]}


def timeless(value):
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if "time" not in k}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def forwards_per_step(method_name: str, hook=None) -> int:
    """Forward passes of the model in one ``loop.step`` (``hook``: a forward hook the
    model gets first, e.g. one that draws a random number)."""
    torch.manual_seed(0)
    model = ARCHITECTURES.get("hps")(TASKS, SHAPE, "multidigits", {})
    method_cls = METHODS.get(method_name)
    method = method_cls(CASES[method_name], method_cls.resolve_params({}, "multidigits"), 2)
    method.phase = 2
    if hook is not None:
        model.register_forward_hook(hook)
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, *SHAPE, generator=gen), torch.randint(0, 10, (16, 2), generator=gen)
    loop.step(model, method, TASKS, x, y, torch.optim.SGD(model.parameters(), lr=0.1))
    return len(calls)


@pytest.mark.parametrize("method_name", list(CASES))
def test_a_pure_forward_is_run_once_per_step(method_name):
    assert forwards_per_step(method_name) == 1


@pytest.mark.parametrize("method_name", list(CASES))
def test_a_forward_that_draws_or_changes_a_buffer_is_run_again(method_name):
    def draws(*_):
        torch.rand(1)

    assert forwards_per_step(method_name, draws) == 2

    def updates(module, *_):
        if not hasattr(module, "seen"):
            module.register_buffer("seen", torch.zeros(()))
        module.seen.add_(1)  # like BatchNorm's running statistics

    assert forwards_per_step(method_name, updates) == 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("method_name", list(CASES))
def test_reusing_the_graph_trains_exactly_as_the_fresh_forward(monkeypatch, method_name,
                                                              precision):
    config = tiny_config(method_name, preference=CASES[method_name])
    config["train"] = {**config["train"], "precision": precision}
    reused = run_trial(config)
    monkeypatch.setattr(task_gradients, "same_marks", lambda *_: False)
    fresh = run_trial(config)
    assert timeless(reused["points"]) == timeless(fresh["points"])  # bit for bit
    assert timeless(reused["info"]) == timeless(fresh["info"])
