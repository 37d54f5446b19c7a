"""Architectures of docs/architectures.md: parameter counts (#parameter-counts), row counts
(#eligible-layers), fusion weights, per-task vs shared MTAN attention,
STL independence, width, input shapes."""
import pytest
import torch

from trainers.datasets import Task
from trainers.metrics import count_parameters, sparsity_metrics
from trainers.models import ARCHITECTURES
from trainers.options import OptionError
from trainers.models.trunks import family_for

TASKS = (Task("t1"), Task("t2"))
MM = ("multimnist", (1, 28, 28))
CM = ("cifar10mnist", (3, 32, 32))


def build(arch, data, **options):
    dataset, shape = data
    return ARCHITECTURES.get(arch)(TASKS, shape, dataset, options)


# (arch, options, MultiMNIST count, Cifar10Mnist count):
# docs/architectures.md#parameter-counts. MDMTN: 311,490 / 505,524 weights plus the 4
# registered alphas (the Chebyshev t belongs to the WC-AL method, not the network). MTAN
# shared = the authors' shared-instance code.
PAPER_COUNTS = [
    ("hps", {}, 22_350, 42_740),
    ("mdmtn", {}, 311_490 + 4, 505_524 + 4),
    ("stl", {}, 43_680, 84_820),
    ("kdmtl", {}, 27_450, 44_852),
    ("mtan", {}, 270_150, 2_783_060),
    ("mtan", {"shared_attention": True}, 146_250, 1_412_900),
]


@pytest.mark.parametrize("arch, options, mm, cm", PAPER_COUNTS)
def test_parameter_counts_match_the_papers_counts(arch, options, mm, cm):
    assert count_parameters(build(arch, MM, **options)) == mm
    assert count_parameters(build(arch, CM, **options)) == cm


def test_component_counts():
    # S = 21,330 (MM) / 42,080 (CM); monitor 144,570 / 231,392; heads 510 / 330
    for data, shared, mon, head in [(MM, 21_330, 144_570, 510), (CM, 42_080, 231_392, 330)]:
        net = build("mdmtn", data)
        assert sum(p.numel() for p in net.shared.parameters()) == shared
        assert sum(p.numel() for p in net.monitors[0].parameters()) == mon
        assert sum(p.numel() for p in net.heads[0].parameters()) == head


# Rows of docs/architectures.md#eligible-layers (total, GrOWL-eligible). With the paper's
# reshape a conv layer has one row per input channel, the same count as the code's memory
# reinterpretation (which groups pairs of output filters instead), so the totals agree;
# only the rows' contents differ (tests/test_sparsity.py checks the contents).
PAPER_ROWS = [("hps", MM, 431, 330), ("hps", CM, 1_235, 1_168),
              ("mdmtn", MM, 6_193, 6_090), ("mdmtn", CM, 15_641, 15_568)]


@pytest.mark.parametrize("arch, data, total, eligible", PAPER_ROWS)
def test_row_counts_match_the_papers_reshape(arch, data, total, eligible):
    net = build(arch, data)
    assert sparsity_metrics(net)["rows_total"] == total
    assert sum(w.shape[1] for _, w in net.eligible_weights()) == eligible


def test_eligible_layers_exclude_input_layers_and_heads():
    names = {n for n, _ in build("mdmtn", MM).eligible_weights()}
    assert names == {"shared.blocks.1.conv.weight", "shared.fc.weight",
                     "monitors.0.fc.weight", "monitors.1.fc.weight"}
    stl = {n for n, _ in build("stl", MM).eligible_weights()}
    assert stl == {f"trunks.{t}.{layer}" for t in (0, 1)
                   for layer in ("blocks.1.conv.weight", "fc.weight")}


def test_paper_block_orders():
    mm, cm = build("hps", MM).shared, build("hps", CM).shared
    assert isinstance(mm.blocks[0].norm, torch.nn.Identity)          # conv-pool-ReLU
    assert isinstance(cm.blocks[0].norm, torch.nn.BatchNorm2d)       # conv-pool-BN-ReLU
    assert family_for("multifashion").channels == (10, 20)
    assert family_for("multidigits").channels == (16,)


@pytest.mark.parametrize("arch", ["hps", "mdmtn", "stl", "kdmtl", "mtan"])
@pytest.mark.parametrize("data", [MM, CM, ("multifashion", (1, 36, 36)), ("multidigits", (1, 10, 10))])
def test_forward_gives_one_logit_tensor_per_task(arch, data):
    torch.manual_seed(0)
    net = build(arch, data)
    out = net(torch.randn(3, *data[1]))
    assert [o.shape for o in out] == [(3, 10), (3, 10)]


def test_mdmtn_alpha_is_registered_and_starts_at_shared_only():
    torch.manual_seed(0)
    net = build("mdmtn", MM)
    names = dict(net.named_parameters())
    assert names["alpha.0"].tolist() == [1.0, 0.0] and names["alpha.1"].tolist() == [1.0, 0.0]
    assert "alpha.0" in net.state_dict()
    # at initialisation the heads see S(u) only: same output as HPS on the same S and heads
    x = torch.randn(4, 1, 28, 28)
    s = net.shared(x)
    for head, out in zip(net.heads, net(x)):
        assert torch.allclose(out, head(s))
    # the fusion weights get gradients (they train)
    sum(o.sum() for o in net(x)).backward()
    assert names["alpha.0"].grad is not None and names["alpha.0"].grad[1] != 0


def test_mtan_attention_is_per_task_unless_shared():
    per_task, shared = build("mtan", MM), build("mtan", MM, shared_attention=True)
    assert per_task.attention[0] is not per_task.attention[1]
    assert shared.attention[0] is shared.attention[1]


def test_stl_tasks_do_not_share_gradients():
    torch.manual_seed(0)
    net = build("stl", MM)
    out = net(torch.randn(2, 1, 28, 28))
    out[0].sum().backward()
    assert all(p.grad is None for p in net.trunks[1].parameters())
    assert any(p.grad is not None for p in net.trunks[0].parameters())
    assert list(net.shared_parameters()) == []


def test_kdmtl_adaptors_map_the_shared_feature():
    torch.manual_seed(0)
    net = build("kdmtl", MM)
    feats = net.adapted_features(torch.randn(2, 1, 28, 28))
    assert [f.shape for f in feats] == [(2, 50), (2, 50)]


def test_width_scales_the_shared_network():
    net = build("mdmtn", MM, width=2.0)
    assert net.shared.blocks[0].conv.out_channels == 20
    assert net.shared.fc.out_features == 100
    assert net.monitors[0].fc.out_features == 100           # fusion needs equal widths
    assert net.monitors[0].blocks[0].conv.out_channels == 20  # monitors keep their channels
    assert count_parameters(build("hps", MM, width=0.5)) < 22_350


def test_unknown_option_and_too_small_inputs_are_refused():
    with pytest.raises(OptionError, match="unknown option"):
        build("hps", MM, depth=3)
    for bad in ({"width": 0}, {"width": -1}, {"width": 65}, {"width": "2"}, {"trunk": "big"}):
        with pytest.raises(OptionError):
            build("hps", MM, **bad)
    with pytest.raises(ValueError, match="too small"):
        ARCHITECTURES.get("hps")(TASKS, (1, 10, 10), "multimnist", {})
