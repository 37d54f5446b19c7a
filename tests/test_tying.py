"""Phase 2's parameter sharing (docs/methods/wc_al.md#affinity-propagation-tying,
#two-phase-schedule): the row similarity, Affinity
Propagation clusters, the tie step, and the metrics of a tied model."""
import numpy as np
import pytest
import torch
from torch import nn

from trainers import tying
from trainers.metrics import sparsity_metrics
from trainers.sparsity import row_view
from trainers.tying import TyingPlan, cluster_rows, row_similarity, tie_rows


def test_similarity_formula_and_zero_rows():
    rows = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    s = row_similarity(rows)
    assert s[0, 1] == pytest.approx(2 / 4)        # <w0, w1> / max(1, 4)
    assert s[0, 0] == 1.0 and s[1, 1] == 1.0
    assert s[0, 2] == 0.0                         # orthogonal
    assert s[0, 5] == -1.0                        # opposite
    assert s[3, 4] == 1.0                         # two zero rows: 0/0 := 1
    assert s[0, 3] == 0.0                         # zero vs non-zero
    assert np.allclose(s, s.T) and s.min() >= -1 and s.max() <= 1


def layer_rows():
    """Rows 0, 2, 5 nearly identical; 1 and 4 distinct; 3 and 6 zero."""
    base = torch.tensor([1.0, 2.0, -1.0, 0.5])
    return torch.stack([
        base, torch.tensor([0.0, 0.0, 3.0, 0.0]), base * 1.001, torch.zeros(4),
        torch.tensor([-2.0, 1.0, 0.0, 1.0]), base * 0.999, torch.zeros(4)])


def test_affinity_propagation_ties_only_near_duplicates():
    layer = cluster_rows(layer_rows(), preference=0.7, seed=0)
    assert layer.converged
    assert layer.zero.tolist() == [3, 6]
    labels = layer.labels.tolist()
    assert labels[3] == labels[6] == -1                       # zero rows are not clustered
    assert labels[0] == labels[2] == labels[5]                # the near-duplicates
    assert len({labels[0], labels[1], labels[4]}) == 3        # the rest are singletons
    assert layer.summary() == {"rows": 7, "zero": 2, "clusters": 3, "tied_rows": 3,
                               "converged": True}


def test_tie_replaces_cluster_rows_by_their_mean_and_rezeroes():
    rows = layer_rows()
    layer = cluster_rows(rows, preference=0.7, seed=0)
    grown = rows.clone()
    grown[3] = 0.5          # a pruned row that regrew during an epoch
    tied = tie_rows(grown, layer)
    mean = rows[[0, 2, 5]].mean(dim=0)
    for i in (0, 2, 5):
        assert torch.equal(tied[i], tied[0])
    assert torch.allclose(tied[0], mean)
    assert torch.equal(tied[3], torch.zeros(4)) and torch.equal(tied[6], torch.zeros(4))
    assert torch.equal(tied[[1, 4]], rows[[1, 4]])            # singletons unchanged


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(7, 4, bias=False)     # 7 rows of length 4
        self.conv = nn.Conv2d(3, 2, 2, bias=False)  # 3 rows (input channels) of length 8
        with torch.no_grad():
            self.fc.weight.copy_(layer_rows().T)
            w = torch.randn(2, 3, 2, 2)
            w[:, 1] = w[:, 0] * 1.0005              # channel 1 ~ channel 0
            self.conv.weight.copy_(w)


def test_plan_applies_in_place_and_metrics_count_tied_rows_once():
    torch.manual_seed(0)
    model = TwoLayers()
    plan = TyingPlan.build(model.named_parameters(), preference=0.7, seed=0)
    plan.apply()
    conv_rows = row_view(model.conv.weight)
    assert torch.equal(conv_rows[0], conv_rows[1]) and not torch.equal(conv_rows[0], conv_rows[2])
    m = sparsity_metrics(model)
    # fc: 7 rows, 2 zero, unique = {cluster of 3, row 1, row 4, zero} = 4
    # conv: 3 rows, 0 zero, unique = {cluster of 2, row 2} = 2
    assert (m["rows_total"], m["rows_zero"], m["rows_unique"]) == (10, 2, 6)
    assert m["sr"] == pytest.approx(0.2)
    assert m["cr"] == pytest.approx(10 / 6)
    assert m["ps"] == pytest.approx(8 / 6)
    assert m["ps"] > 1
    assert plan.summary()["fc.weight"]["tied_rows"] == 3


def test_layer_without_convergence_or_nonzero_rows_is_left_untied(monkeypatch):
    monkeypatch.setattr(tying, "affinity_labels", lambda rows, preference, seed: None)
    layer = cluster_rows(layer_rows(), 0.7, 0)
    assert not layer.converged and (layer.labels == -1).all()
    rows = layer_rows()
    assert torch.equal(tie_rows(rows, layer), rows)           # only zero rows re-zeroed
    empty = cluster_rows(torch.zeros(5, 3), 0.7, 0)
    assert empty.zero.tolist() == [0, 1, 2, 3, 4] and empty.n_clusters == 0
