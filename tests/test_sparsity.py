"""Row views and the GrOWL sparsity objective (docs/metrics.md#rows,
docs/methods/wc_al.md#growl-sparsity-objective)."""
import pytest
import torch

from trainers.sparsity import growl_layer, growl_value, growl_weights, row_view


def test_row_view_linear_is_the_transpose():
    w = torch.arange(12.0).reshape(3, 4)  # (out=3, in=4)
    rows = row_view(w)
    assert rows.shape == (4, 3)
    assert torch.equal(rows, w.T)
    # row i is the fan-out of input neuron i
    for i in range(4):
        assert torch.equal(rows[i], w[:, i])


def test_row_view_conv_rows_are_input_channels():
    w = torch.arange(3 * 2 * 2 * 2, dtype=torch.float32).reshape(3, 2, 2, 2)  # (out, in, kh, kw)
    rows = row_view(w)
    assert rows.shape == (2, 3 * 2 * 2)
    for c in range(2):
        assert torch.equal(rows[c], w[:, c].reshape(-1))
    assert torch.equal(rows, w.permute(1, 0, 2, 3).reshape(2, -1))
    # not the authors' memory reinterpretation (which would be w.reshape(2, -1))
    assert not torch.equal(rows, w.reshape(2, -1))


def test_row_view_rejects_vectors():
    with pytest.raises(ValueError):
        row_view(torch.zeros(5))


def test_growl_weights_spike():
    theta = growl_weights(4, 0.8, 0.2)
    assert theta.tolist() == pytest.approx([1.0, 0.2, 0.2, 0.2])
    assert growl_weights(1, 0.5, 0.1).tolist() == pytest.approx([0.6])


def spike_matrix():
    # (out=2, in=3) linear weight; columns [3,4] (norm 5), [0,1] (norm 1), [6,8] (norm 10)
    return torch.tensor([[3.0, 0.0, 6.0], [4.0, 1.0, 8.0]])


def test_growl_layer_is_spike_weighted_sorted_row_norms():
    w = spike_matrix()
    # sorted norms 10, 5, 1: (0.8 + 0.2) * 10 + 0.2 * 5 + 0.2 * 1 = 11.2
    assert float(growl_layer(w, 0.8, 0.2)) == pytest.approx(11.2)
    # (0.5 + 0.1) * 10 + 0.1 * 5 + 0.1 * 1 = 6.6
    assert float(growl_layer(w, 0.5, 0.1)) == pytest.approx(6.6)
    # beta1 = 0: a plain group lasso, 0.2 * (10 + 5 + 1)
    assert float(growl_layer(w, 0.0, 0.2)) == pytest.approx(3.2)


def test_growl_layer_uses_rows_not_output_neurons():
    # rows of the (out x in) weight would have norms ||[3,0,6]||, ||[4,1,8]||: a different value
    w = spike_matrix()
    wrong = torch.sort(w.norm(dim=1), descending=True).values
    wrong_value = float(1.0 * wrong[0] + 0.2 * wrong[1])
    assert float(growl_layer(w, 0.8, 0.2)) != pytest.approx(wrong_value)


def test_growl_layer_on_conv_uses_input_channels():
    # conv (out=2, in=2, 1, 1): channel rows ch0 = [3, 4] (norm 5), ch1 = [0, 2] (norm 2)
    w = torch.tensor([[3.0, 0.0], [4.0, 2.0]]).reshape(2, 2, 1, 1)
    # 1.0 * 5 + 0.2 * 2 = 5.4
    assert float(growl_layer(w, 0.8, 0.2)) == pytest.approx(5.4)


def test_growl_gradient_flows():
    w = spike_matrix().requires_grad_(True)
    value = growl_value([w], 0.8, 0.2)
    assert value.requires_grad
    value.backward()
    assert w.grad is not None
    # d/d row of theta * ||row|| = theta * row / ||row||; column order: norm 5, 1, 10
    expected = torch.tensor([
        [0.2 * 3 / 5, 0.2 * 0 / 1, 1.0 * 6 / 10],
        [0.2 * 4 / 5, 0.2 * 1 / 1, 1.0 * 8 / 10],
    ])
    assert torch.allclose(w.grad, expected, atol=1e-6)


def test_growl_value_sums_layers():
    a = spike_matrix()
    b = torch.tensor([[3.0, 0.0], [4.0, 2.0]]).reshape(2, 2, 1, 1)
    total = growl_value([a, b], 0.8, 0.2)
    assert float(total) == pytest.approx(11.2 + 5.4)
    # default betas are the paper's 0.8 / 0.2
    assert float(growl_value([a, b])) == pytest.approx(11.2 + 5.4)
    assert float(growl_value(iter([a]))) == pytest.approx(11.2)


def test_growl_value_of_no_layers_is_zero():
    value = growl_value([])
    assert value.shape == ()
    assert float(value) == 0.0


def test_growl_value_zero_weights():
    assert float(growl_value([torch.zeros(4, 3)])) == 0.0


def test_growl_gradient_is_finite_at_a_zero_row():
    # a pruned (all-zero) row must not poison training with NaN gradients
    w = torch.tensor([[0.0, 3.0], [0.0, 4.0]], requires_grad=True)
    growl_value([w], 0.8, 0.2).backward()
    assert torch.isfinite(w.grad).all()
    assert torch.allclose(w.grad, torch.tensor([[0.0, 0.6], [0.0, 0.8]]), atol=1e-6)


def test_no_eligible_layer_is_zero_on_the_losses_device():
    # stacked with the task losses: on a GPU a CPU zero would refuse to stack
    zero = growl_value([], device="meta")
    assert zero.device.type == "meta" and zero.shape == ()
    assert float(growl_value([])) == 0.0
