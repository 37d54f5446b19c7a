"""``resnet18``: Pareto MTL's ResNet18 variant (docs/architectures.md#resnet18)."""
import pytest
import torch

from trainers.datasets import Task
from trainers.metrics import count_parameters
from trainers.models import ARCHITECTURES
from trainers.options import OptionError
from tiny_trials import tiny_config

TWO = (Task("left"), Task("right"))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ARCHITECTURES.get("resnet18")(TWO, (1, 36, 36), "multimnist36", {})


def test_parameter_count_matches_pareto_mtls_resnet18(model):
    heads = sum(p.numel() for p in model.heads.parameters())
    assert heads == 2_020
    assert count_parameters(model) - heads == 11_221_540


def test_shapes_for_a_36x36_one_channel_input(model):
    sizes = []
    hooks = [getattr(model.backbone, name).register_forward_hook(
        lambda _m, _i, out: sizes.append(out.shape[-1]))
        for name in ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4")]
    model.eval()
    with torch.no_grad():
        outputs = model(torch.randn(3, 1, 36, 36))
        z = model.representation(torch.randn(3, 1, 36, 36))
    for hook in hooks:
        hook.remove()
    assert sizes == [18, 9, 9, 5, 3, 2] * 2   # forward, then representation
    assert [tuple(o.shape) for o in outputs] == [(3, 10), (3, 10)]
    assert tuple(z.shape) == (3, 100) and bool((z >= 0).all())
    conv1 = model.backbone.conv1
    assert (conv1.in_channels, conv1.kernel_size, conv1.stride, conv1.padding, conv1.bias) == \
        (1, (7, 7), (2, 2), (3, 3), None)


def test_sparsity_leaves_out_the_input_conv_and_the_heads(model):
    names = [name for name, _ in model.eligible_weights()]
    assert "backbone.conv1.weight" not in names
    assert not any(name.startswith("heads.") for name in names)
    assert "backbone.layer1.0.conv1.weight" in names and "backbone.fc.weight" in names


def test_channels_follow_the_data_and_options_are_checked():
    net = ARCHITECTURES.get("resnet18")(TWO, (3, 32, 32), "cifar10mnist", {})
    assert net.backbone.conv1.in_channels == 3
    with pytest.raises(OptionError, match="unknown option"):
        ARCHITECTURES.get("resnet18")(TWO, (1, 36, 36), "multimnist36", {"width": 2})


def test_resnet18_trains_inside_a_trial():
    from trainers.trial import run_trial

    result = run_trial(tiny_config("uniform", arch="resnet18", train={"epochs": 1, "batch_size": 32},
                                   data={"n_train": 64, "n_val": 32, "n_test": 32}))
    point = result["points"][0]
    assert point["n_params"] == 11_221_540 + 2_020
    assert all(0.0 <= s["acc"] <= 1.0 for s in point["tasks"].values())
