"""LSUV initialisation (docs/methods/wc_al.md#lsuv-initialisation): orthonormal pre-init,
unit output variance per layer, seeded, and layers the forward pass skips are left
alone."""
import pytest
import torch

from trainers.datasets import Task
from trainers.lsuv import lsuv_, orthonormal_, output_std
from trainers.models import ARCHITECTURES

TASKS = (Task("a"), Task("b"))


def test_orthonormal_rows_or_columns():
    g = torch.Generator().manual_seed(0)
    wide = torch.empty(4, 9)
    orthonormal_(wide, g)
    assert torch.allclose(wide @ wide.T, torch.eye(4), atol=1e-5)     # rows orthonormal
    tall = torch.empty(12, 2, 1, 2)                                    # fan-in 4 < 12
    orthonormal_(tall, g)
    flat = tall.reshape(12, 4)
    assert torch.allclose(flat.T @ flat, torch.eye(4), atol=1e-5)     # columns orthonormal


@pytest.mark.parametrize("arch, dataset, shape", [("mdmtn", "multimnist", (1, 28, 28)),
                                                  ("hps", "cifar10mnist", (3, 32, 32))])
def test_every_layer_gets_unit_output_std(arch, dataset, shape):
    torch.manual_seed(0)
    model = ARCHITECTURES.get(arch)(TASKS, shape, dataset, {})
    x = torch.rand(64, *shape)
    stds = lsuv_(model, x, torch.Generator().manual_seed(1))
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(stds) == len(layers)
    assert model.training  # the training mode is restored
    model.eval()
    for layer in layers:
        assert abs(output_std(model, layer, x) - 1.0) <= 0.1
        assert layer.bias.abs().max() == 0


def test_seeded_and_leaves_fusion_weights_alone():
    def init(seed):
        torch.manual_seed(123)
        model = ARCHITECTURES.get("mdmtn")(TASKS, (1, 28, 28), "multimnist", {})
        lsuv_(model, torch.ones(8, 1, 28, 28) * 0.3, torch.Generator().manual_seed(seed))
        return model

    a, b, c = init(0), init(0), init(1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.shared.fc.weight, c.shared.fc.weight)
    assert a.alpha[0].tolist() == [1.0, 0.0]


def test_layers_outside_the_forward_pass_keep_their_orthonormal_init():
    torch.manual_seed(0)
    model = ARCHITECTURES.get("kdmtl")(TASKS, (1, 28, 28), "multimnist", {})
    stds = lsuv_(model, torch.rand(16, 1, 28, 28))
    assert not any(name.startswith("adaptors") for name in stds)
    w = model.adaptors[0][0].weight
    assert torch.allclose(w @ w.T, torch.eye(50), atol=1e-5)
