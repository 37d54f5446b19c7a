"""SR / CR / PS over rows (input neurons / input channels) and their scalar counterparts,
on hand-built models whose zero and tied rows are known (docs/metrics.md#rows,
#sr-cr-ps and #python-entry-points)."""
import math

import pytest
import torch
from torch import nn

from trainers.datasets import DATASETS
from trainers.metrics import count_parameters, sparsity_metrics
from trainers.models import ARCHITECTURES

KEYS = {"sr", "cr", "ps", "sr_scalar", "cr_scalar", "ps_scalar", "rows_total", "rows_zero",
        "rows_unique", "weights_total", "weights_zero", "weights_unique"}


class LinearConv(nn.Module):
    """A linear layer and a conv layer with chosen weights; never run forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)            # weight (out=3, in=4): 4 rows of length 3
        self.conv = nn.Conv2d(2, 3, 2)       # weight (out=3, in=2, 2, 2): 2 rows of 12
        with torch.no_grad():
            # fc columns (= input neurons): c0 = [1,2,3], c1 = 0, c2 = [1,2,3] (tied), c3 = 0
            self.fc.weight.copy_(torch.tensor([
                [1.0, 0.0, 1.0, 0.0],
                [2.0, 0.0, 2.0, 0.0],
                [3.0, 0.0, 3.0, 0.0],
            ]))
            # conv: input channel 0 has 12 values 1..12 with one of them zeroed;
            # input channel 1 is all zero.
            w = torch.zeros(3, 2, 2, 2)
            w[:, 0] = torch.arange(1.0, 13.0).reshape(3, 2, 2)
            w[1, 0, 0, 1] = 0.0
            self.conv.weight.copy_(w)
            # non-zero, distinct biases: they must not be counted anywhere
            self.fc.bias.copy_(torch.tensor([0.0, 5.0, 7.0]))
            self.conv.bias.copy_(torch.tensor([0.0, 0.0, 9.0]))


def test_linear_and_conv_counts_by_hand():
    m = sparsity_metrics(LinearConv())
    assert set(m) >= KEYS
    # Rows.
    #   fc:   4 rows (input neurons), 2 zero (c1, c3), unique {[1,2,3], 0} = 2
    #   conv: 2 rows (input channels), 1 zero (channel 1), unique = 2
    assert m["rows_total"] == 6
    assert m["rows_zero"] == 3
    assert m["rows_unique"] == 4
    assert m["sr"] == pytest.approx(3 / 6)
    assert m["cr"] == pytest.approx(6 / 4)
    assert m["ps"] == pytest.approx(3 / 4)          # non-zero rows 3 / unique rows 4
    # Scalars.
    #   fc:   12 weights, 6 zero (two zero columns of 3); stored = 1 unique non-zero row * 3
    #   conv: 24 weights, 12 (channel 1) + 1 (zeroed entry) = 13 zero; stored = 1 * 12
    assert m["weights_total"] == 36
    assert m["weights_zero"] == 19
    assert m["weights_unique"] == 15
    assert m["sr_scalar"] == pytest.approx(19 / 36)
    assert m["cr_scalar"] == pytest.approx(36 / 15)
    assert m["ps_scalar"] == pytest.approx(17 / 15)  # non-zero 36 - 19 = 17 / stored 15


def test_ps_equals_cr_times_one_minus_sr():
    m = sparsity_metrics(LinearConv())
    assert m["ps"] == pytest.approx(m["cr"] * (1 - m["sr"]))
    assert m["ps_scalar"] == pytest.approx(m["cr_scalar"] * (1 - m["sr_scalar"]))


def test_conv_rows_are_input_channels_not_memory_chunks():
    # conv weight (out=2, in=2, 1, 1); input channel 1 is zero, channel 0 is not.
    # Paper rows (permute to (in, out, kh, kw)): ch0 = [1, 2] non-zero, ch1 = [0, 0] zero.
    # The authors' memory reinterpretation would give rows [1, 0] and [2, 0]: no zero row.
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 0.0]]).reshape(2, 2, 1, 1))
    m = sparsity_metrics(conv)
    assert m["rows_total"] == 2
    assert m["rows_zero"] == 1, "conv rows must be input channels (weight permuted to (in, out, kh, kw))"
    assert m["rows_unique"] == 2
    assert m["sr"] == pytest.approx(0.5)


def test_tied_conv_channels_collapse():
    # conv in=3: channels 0 and 2 carry identical filters (across all outputs) -> 2 unique rows
    conv = nn.Conv2d(3, 4, 3, bias=False)
    with torch.no_grad():
        conv.weight[:, 2] = conv.weight[:, 0]
    m = sparsity_metrics(conv)
    assert m["rows_total"] == 3
    assert m["rows_zero"] == 0
    assert m["rows_unique"] == 2
    assert m["cr"] == pytest.approx(3 / 2)
    assert m["ps"] == pytest.approx(3 / 2)
    # scalars: 4*3*3*3 = 108 weights; stored = 2 unique rows * (4*3*3 = 36) = 72
    assert m["weights_total"] == 108
    assert m["weights_unique"] == 72
    assert m["cr_scalar"] == pytest.approx(108 / 72)


def test_linear_rows_are_input_columns():
    # weight (out=2, in=3); row 0 of the *weight* is zero but no input column is zero:
    # zero output neuron != zero row. Columns: [0,1], [0,2], [0,3].
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]))
    m = sparsity_metrics(fc)
    assert m["rows_total"] == 3
    assert m["rows_zero"] == 0
    assert m["rows_unique"] == 3
    assert m["sr"] == 0.0
    assert m["weights_zero"] == 3
    assert m["sr_scalar"] == pytest.approx(3 / 6)


def test_zero_rows_collapse_to_one_unique_row_per_layer():
    # two layers, each with 5 input neurons of which 4 are zero and 1 is non-zero
    model = nn.Sequential(nn.Linear(5, 2, bias=False), nn.Linear(5, 2, bias=False))
    with torch.no_grad():
        for layer in model:
            layer.weight.zero_()
            layer.weight[:, 0] = torch.tensor([1.0, 2.0])
    m = sparsity_metrics(model)
    # per layer: 5 rows, 4 zero, unique = {zero row, [1,2]} = 2; both layers -> 10, 8, 4
    assert (m["rows_total"], m["rows_zero"], m["rows_unique"]) == (10, 8, 4)
    assert m["sr"] == pytest.approx(0.8)
    assert m["cr"] == pytest.approx(10 / 4)
    assert m["ps"] == pytest.approx(2 / 4)  # PS < 1: each layer's zero rows add one unique row
    # scalars: 20 weights, 16 zero, stored = 2 layers * 1 unique non-zero row * 2 = 4
    assert (m["weights_total"], m["weights_zero"], m["weights_unique"]) == (20, 16, 4)
    assert m["cr_scalar"] == pytest.approx(20 / 4)
    assert m["ps_scalar"] == pytest.approx(4 / 4)


def test_negative_zero_rows_count_as_zero_and_tie_with_zero_rows():
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[0.0, -0.0, 1.0], [-0.0, 0.0, 1.0]]))
    m = sparsity_metrics(fc)
    assert m["rows_zero"] == 2
    assert m["rows_unique"] == 2


def test_identical_rows_in_different_layers_are_not_shared():
    # two layers with the same (random, all distinct) weights: uniqueness is per layer
    a = nn.Linear(3, 4, bias=False)
    b = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        b.weight.copy_(a.weight)
    m = sparsity_metrics(nn.Sequential(a, b))
    assert m["rows_total"] == 6
    assert m["rows_unique"] == 6, "rows tied across different layers must not count as shared"
    assert m["cr"] == pytest.approx(1.0)
    assert m["ps"] == pytest.approx(1.0)
    assert m["weights_unique"] == 24
    assert m["cr_scalar"] == pytest.approx(1.0)


def test_biases_do_not_change_the_metrics():
    base = sparsity_metrics(LinearConv())
    model = LinearConv()
    with torch.no_grad():
        model.fc.bias.zero_()
        model.conv.bias.fill_(3.0)
    assert sparsity_metrics(model) == base
    # a model with only biases / 1-d parameters has nothing to count
    only_1d = nn.BatchNorm1d(4)
    m = sparsity_metrics(only_1d)
    assert m["rows_total"] == 0 and m["weights_total"] == 0
    assert math.isnan(m["sr"]) and math.isnan(m["cr"])


def test_all_zero_layer():
    fc = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        fc.weight.zero_()
    m = sparsity_metrics(fc)
    # 3 zero rows -> 1 unique; nothing stored
    assert m["sr"] == 1.0
    assert m["cr"] == pytest.approx(3.0)
    assert m["ps"] == 0.0
    assert m["weights_unique"] == 0
    assert math.isnan(m["cr_scalar"])


def hps_model():
    source = DATASETS.get("multidigits")
    options = source.resolve_options({})
    return ARCHITECTURES.get("hps")(source.tasks, source.input_shape_for(options),
                                    "multidigits", {})


def test_multitask_net_counts_heads_and_input_layer():
    torch.manual_seed(0)
    model = hps_model()
    m = sparsity_metrics(model)
    # input (1, 10, 10): conv1 1 row; conv 3x3 -> 8x8, pool -> 4x4: fc in = 16*4*4 = 256 rows;
    # two heads reading hidden = 64 -> 2 * 64 rows
    assert m["rows_total"] == 1 + 256 + 2 * 64
    assert m["sr"] == 0.0
    assert m["cr"] == pytest.approx(1.0)
    assert m["ps"] == pytest.approx(1.0)
    # scalar weights (no biases): 16*1*9 + 64*256 + 2 * 10*64
    assert m["weights_total"] == 144 + 16384 + 1280


def test_count_parameters():
    model = LinearConv()
    # fc 4*3 + 3 = 15; conv 3*2*2*2 + 3 = 27
    assert count_parameters(model) == 42
    model.conv.bias.requires_grad_(False)
    assert count_parameters(model) == 39
    # HPS on multidigits: conv1 16*9+16 = 160, fc 256*64+64 = 16448, heads 2*(64*10+10) = 1300
    assert count_parameters(hps_model()) == 160 + 16448 + 1300
