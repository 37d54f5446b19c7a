"""The gradient-combining step reuses its first forward's graph for the weighted loss
where that forward drew no random number and changed no buffer (the fresh forward would
recompute it bit for bit), and runs the fresh forward otherwise; in bf16 it steps on the
weighted sum of the task gradients instead of a third backward pass."""
from __future__ import annotations

import pytest
import torch

from trainers import loop, precision
from trainers.datasets import DATASETS
from trainers.methods import METHODS
from trainers.methods import task_gradients
from trainers.models import ARCHITECTURES
from trainers.trial import run_trial
from tiny_trials import timeless, tiny_config

SOURCE = DATASETS.get("multidigits")
TASKS = SOURCE.tasks
SHAPE = SOURCE.input_shape_for(SOURCE.resolve_options({}))
CASES = {"mgda": None, "pmtl": [0.0, 0.3, 0.7]}


#: bf16's unit roundoff: 8 significant bits
BF16_U = 2.0 ** -8


def setup(method_name: str):
    torch.manual_seed(0)
    model = ARCHITECTURES.get("hps")(TASKS, SHAPE, "multidigits", {})
    method_cls = METHODS.get(method_name)
    method = method_cls(CASES[method_name], method_cls.resolve_params({}, "multidigits"), 2)
    method.phase = 2
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, *SHAPE, generator=gen), torch.randint(0, 10, (16, 2), generator=gen)
    return model, method, x, y


def forwards_per_step(method_name: str, hook=None, path=precision.PLAIN) -> int:
    """Forward passes of the model in one ``loop.step`` (``hook``: a forward hook the
    model gets first, e.g. one that draws a random number)."""
    model, method, x, y = setup(method_name)
    if hook is not None:
        model.register_forward_hook(hook)
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    with precision.using(path):
        loop.step(model, method, TASKS, x, y, torch.optim.SGD(model.parameters(), lr=0.1))
    return len(calls)


def bf16_update(method_name: str):
    """One bf16 SGD step: the change of every parameter, the loss and the method's state."""
    model, method, x, y = setup(method_name)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    with precision.using(precision.FastPath("bf16", False, "cpu")):
        loss = loop.step(model, method, TASKS, x, y, torch.optim.SGD(model.parameters(), lr=1.0))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return after - before, loss, method.state()


@pytest.mark.parametrize("method_name", list(CASES))
def test_a_pure_forward_is_run_once_per_step(method_name):
    assert forwards_per_step(method_name) == 1
    assert forwards_per_step(method_name, path=precision.FastPath("bf16", False, "cpu")) == 1


@pytest.mark.parametrize("method_name", list(CASES))
def test_the_bf16_step_on_summed_task_gradients_is_the_weighted_loss_step(monkeypatch,
                                                                          method_name):
    """Same weights; the update within bf16 rounding of the fresh forward's (each a few
    layers x 2 passes of 8-bit roundings), and the same loss value up to them."""
    summed, loss, state = bf16_update(method_name)
    monkeypatch.setattr(task_gradients, "same_marks", lambda *_: False)
    fresh, fresh_loss, fresh_state = bf16_update(method_name)
    assert state == fresh_state
    assert abs(float(loss - fresh_loss)) <= 4 * BF16_U * abs(float(fresh_loss))
    assert float((summed - fresh).norm()) <= 16 * BF16_U * float(fresh.norm())
    assert float(fresh.norm()) > 0


def test_a_parameter_no_task_reaches_keeps_no_gradient_in_bf16():
    model, method, x, y = setup("mgda")
    model.register_parameter("unused", torch.nn.Parameter(torch.zeros(3)))
    with precision.using(precision.FastPath("bf16", False, "cpu")):
        loop.step(model, method, TASKS, x, y, torch.optim.SGD(model.parameters(), lr=0.1))
    assert model.unused.grad is None
    assert all(p.grad is not None for n, p in model.named_parameters() if n != "unused")


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


@pytest.mark.parametrize("method_name", list(CASES))
def test_reusing_the_graph_trains_exactly_as_the_fresh_forward(monkeypatch, method_name):
    config = tiny_config(method_name, preference=CASES[method_name])
    config["train"] = {**config["train"], "precision": "fp32"}
    reused = run_trial(config)
    monkeypatch.setattr(task_gradients, "same_marks", lambda *_: False)
    fresh = run_trial(config)
    assert timeless(reused["points"]) == timeless(fresh["points"])  # bit for bit
    assert timeless(reused["info"]) == timeless(fresh["info"])
