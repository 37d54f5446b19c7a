"""WC-AL: the constraint vector, the augmented Lagrangian, the multiplier/penalty rule,
and that it solves the weighted Chebyshev problem (not a weighted sum)."""
import math

import pytest
import torch

from trainers.methods import METHODS
from trainers.methods.base import ParamError

WCAL = METHODS.get("wc_al")


def make(pref, **params):
    torch.manual_seed(0)
    return WCAL(pref, WCAL.resolve_params(params, "multidigits"), n_tasks=len(pref) - 1)


def test_constraint_vector_matches_the_paper_formula():
    m = make([0.2, 0.3, 0.5], ref_point=[0.1, 0.0, 0.2], eps=0.01, t_init=0.4)
    L = torch.tensor([1.0, 2.0, 3.0])
    gap = [0.9, 2.0, 2.8]
    expected = [k * g - 0.4 + k * 0.01 * sum(gap) for k, g in zip([0.2, 0.3, 0.5], gap)]
    assert m.constraints(L).tolist() == pytest.approx(expected, rel=1e-6)


def test_loss_is_t_plus_lambda_h_plus_penalty_when_all_constraints_active():
    m = make([0.0, 0.5, 0.5], mu0=0.5, t_init=-1.0, lambda0=[0.2, 0.3, 0.5])
    L = torch.tensor([0.0, 2.0, 4.0])
    h = m.constraints(L)
    assert (m.lam + m.mu * h > 0).all()
    h = h.detach()
    expected = -1.0 + float(torch.dot(m.lam, h)) + 0.5 / 2 * float((h ** 2).sum())
    assert float(m.loss(L).detach()) == pytest.approx(expected, rel=1e-6)


def test_inactive_constraints_drop_out_of_the_gradient():
    m = make([0.0, 0.5, 0.5], mu0=1.0, t_init=10.0, lambda0=[0.1, 0.1, 0.1])
    L = torch.tensor([0.0, 1.0, 1.0], requires_grad=True)
    m.loss(L).backward()
    # every lambda_i + mu H_i < 0: the loss is t - sum(lambda^2)/(2 mu), flat in L
    assert L.grad.abs().max() == 0
    assert float(m.t.grad) == pytest.approx(1.0)


def test_t_gradient_is_one_minus_sum_of_shifted_multipliers():
    m = make([0.0, 0.4, 0.6], mu0=0.3, t_init=0.0)
    L = torch.tensor([0.0, 1.5, 2.5])
    m.loss(L).backward()
    shifted = torch.clamp(m.lam + m.mu * m.constraints(L).detach(), min=0)
    assert float(m.t.grad) == pytest.approx(1 - float(shifted.sum()), rel=1e-5)


def test_multiplier_and_penalty_update_rule():
    m = make([0.0, 0.5, 0.5], mu0=0.25, rho=2.0, t_init=2.0)
    m.begin_epoch()
    batches = [torch.tensor([0.0, 1.0, 3.0]), torch.tensor([0.0, 3.0, 1.0])]
    hs = [m.constraints(L).detach() for L in batches]
    for L in batches:
        m.observe(L)
    lam_before = m.lam.clone()
    m.end_iteration()
    h_bar = (hs[0] + hs[1]) / 2
    assert m.lam.tolist() == pytest.approx(torch.clamp(lam_before + 0.25 * h_bar, min=0).tolist())
    assert m.mu == pytest.approx(0.5)
    assert m.lam[0] == 0  # H_0 = -t = -2: 1/3 - 0.5 < 0 is projected to 0


def test_begin_epoch_restarts_the_constraint_average():
    m = make([0.0, 0.5, 0.5], mu0=1.0, t_init=0.0)
    m.observe(torch.tensor([0.0, 100.0, 100.0]))  # an earlier epoch, must be forgotten
    m.begin_epoch()
    m.observe(torch.tensor([0.0, 1.0, 1.0]))
    lam0 = m.lam.clone()
    m.end_iteration()
    h = m.constraints(torch.tensor([0.0, 1.0, 1.0])).detach()
    assert m.lam.tolist() == pytest.approx(torch.clamp(lam0 + h, min=0).tolist())


def test_penalty_is_capped():
    m = make([0.0, 0.5, 0.5], mu0=1.0, rho=10.0, mu_max=50.0, t_init=0.0)
    for _ in range(4):
        m.end_iteration()
    assert m.mu == 50.0


def solve_toy(method, steps=3000, iteration=100):
    """min over x in R of L1 = (x-1)^2, L2 = (x+1)^2 under ``method``; returns x."""
    x = torch.nn.Parameter(torch.tensor(0.9))
    hooks = method.stage_hooks()
    opt = torch.optim.Adam([x, *hooks.parameters], lr=0.01)
    for step in range(steps):
        if step % iteration == 0:
            for hook in hooks.before_epoch:
                hook()
        L = torch.stack([torch.zeros(()), (x - 1) ** 2, (x + 1) ** 2])
        method.observe(L.detach())
        loss = method.loss(L)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % iteration == 0:
            for hook in hooks.after_iteration:
                hook()
    return float(x.detach())


def test_solves_the_weighted_chebyshev_problem_not_the_weighted_sum():
    # max(0.8 (x-1)^2, 0.2 (x+1)^2) is minimal where both are equal: x = 1/3.
    # The weighted sum 0.8 (x-1)^2 + 0.2 (x+1)^2 is minimal at x = 0.6.
    method = make([0.0, 0.8, 0.2], mu0=1.0, rho=1.2, eps=1e-4)
    x = solve_toy(method, steps=6000, iteration=200)
    assert x == pytest.approx(1 / 3, abs=0.02)
    assert float(method.t.detach()) == pytest.approx(0.8 * (2 / 3) ** 2, abs=0.02)
    # The multipliers settle on the task constraints (the max binds), never on the
    # inactive sparsity one. How the KKT weight splits between lambda and the penalty
    # term mu*H depends on the last Adam steps, so only their support is asserted.
    assert method.lam[0] == 0 and float(method.lam[1:].sum()) > 0
    linear = METHODS.get("linear")([0.0, 0.8, 0.2], {"beta1": 0.8, "beta2": 0.2}, 2)
    assert solve_toy(linear) == pytest.approx(0.6, abs=0.01)


def test_wrong_length_reference_point_is_refused():
    with pytest.raises(ValueError, match="ref_point needs 3 entries"):
        make([0.0, 0.5, 0.5], ref_point=[0.0, 0.0])


def test_state_is_json_friendly():
    m = make([0.0, 0.5, 0.5])
    state = m.state()
    assert set(state) == {"t", "lambda", "mu", "iterations"}
    assert all(math.isfinite(v) for v in state["lambda"])


# ------------------------------------------------------------ paper presets and phases


def test_paper_mu_keeps_an_exact_gradient_in_float32():
    # mu0 = 2.5e-8 (MultiMNIST): (lambda + mu H)^2 - lambda^2 would cancel in float32; the
    # loss is written without the cancellation and its gradient is lambda + mu H per H_i
    m = make([1e-3, 0.2, 0.799], mu0=2.5e-8, t_init=0.3)
    L = torch.tensor([40.0, 2.3, 2.2], requires_grad=True)
    loss = m.loss(L)
    loss.backward()
    h = m.constraints(L.detach()).detach().double()
    lam = m.lam.double()
    expected = 0.3 + float((lam * h + 0.5 * 2.5e-8 * h ** 2).sum())
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-6)
    k, eps = m.k.double(), 1e-4
    shifted = lam + 2.5e-8 * h
    grad = k * shifted + eps * float((k * shifted).sum())
    assert L.grad.double().tolist() == pytest.approx(grad.tolist(), rel=1e-5)


def test_restart_resets_multipliers_and_penalty_but_not_t():
    m = make([0.1, 0.45, 0.45], mu0=0.25, t_init=0.5)
    m.begin_epoch()
    m.observe(torch.tensor([3.0, 1.0, 2.0]))
    m.end_iteration()
    m.end_iteration()
    assert m.mu == pytest.approx(1.0) and m.lam.tolist() != pytest.approx([1 / 3] * 3)
    with torch.no_grad():
        m.t.add_(1.0)
    m.restart()
    assert m.mu == pytest.approx(0.25)
    assert m.lam.tolist() == pytest.approx([1 / 3] * 3)
    assert float(m.t.detach()) == pytest.approx(1.5)


@pytest.mark.parametrize("dataset, arch, expected", [
    ("multimnist", "mdmtn", {"mu0": 2.5e-8, "ap_preference": 0.7, "s_min": 0.20, "s_lmax": 0.8}),
    ("multimnist", "hps", {"mu0": 2.5e-8, "s_min": 0.10, "s_lmax": 0.8}),
    ("cifar10mnist", "mdmtn", {"mu0": 6.8e-8, "ap_preference": 0.8, "s_min": 0.10, "s_lmax": 0.3}),
    ("cifar10mnist", "hps", {"mu0": 6.8e-8, "s_min": 0.05, "s_lmax": 0.15}),
    ("multifashion", "mdmtn", {"mu0": 2.5e-8, "s_min": 0.20}),
])
def test_paper_presets_by_dataset_and_architecture(dataset, arch, expected):
    params = WCAL.resolve_params({}, dataset, arch)
    for name, value in expected.items():
        assert params[name] == pytest.approx(value), name
    assert params["phase1_iterations"] == 3 and params["phase2_iterations"] == 10
    assert (params["beta1"], params["beta2"], params["eps"]) == (0.8, 0.2, 1e-4)
    assert params["lsuv"] == "always" and params["prox_step"] == "epoch_lr"
    # a sweep's params override every preset layer
    assert WCAL.resolve_params({"s_min": 0.3}, dataset, arch)["s_min"] == 0.3


def test_paper_training_presets():
    mm = WCAL.train_preset("multimnist", "mdmtn")
    assert (mm["lr"], mm["lr_decay"], mm["epochs"], mm["batch_size"], mm["epochs_per_iteration"]) \
        == (2.5e-3, 0.5, 36, 256, 3)
    cm = WCAL.train_preset("cifar10mnist", "hps")
    assert (cm["lr"], cm["lr_decay"]) == (1e-4, 0.98)
    # no wc_al values of its own there: the data set's settings and p = 3
    assert WCAL.train_preset("multidigits", "hps") == {"epochs": 12, "batch_size": 128,
                                                       "lr": 3e-3, "epochs_per_iteration": 3}


@pytest.mark.parametrize("params, name", [
    ({"lsuv": "sometimes"}, "lsuv"), ({"prox_step": "big"}, "prox_step"),
    ({"prox_step": -1.0}, "prox_step"), ({"phase1_iterations": 0}, "phase1_iterations"),
    ({"s_lmax": 1.5}, "s_lmax"), ({"mu0": 0}, "mu0"),
])
def test_unusable_values_are_refused_by_name(params, name):
    from trainers.methods.base import ParamError

    with pytest.raises(ParamError) as info:
        WCAL.resolve_params(params, "multimnist", "mdmtn")
    assert info.value.name == name


def test_sweep_expansion_uses_dataset_and_architecture_presets(monkeypatch):
    from orchestrator.errors import SpecError
    from orchestrator.expand import expand_sweep
    from orchestrator.spec import parse_spec

    from trainers import presets

    monkeypatch.setattr(presets, "ROWS", (
        *presets.ROWS,
        presets.Row("wc_al", "multidigits", "*", "test", params={"s_min": 0.3}),
        presets.Row("wc_al", "multidigits", "mdmtn", "test", train={"lr": 0.02},
                    params={"s_min": 0.4})))
    spec = parse_spec({"name": "p", "datasets": ["multidigits"], "architectures": ["hps", "mdmtn"],
                       "methods": [{"name": "wc_al"}]}, "s.yaml")
    by_arch = {t["arch"]["name"]: t for t in expand_sweep(spec)}
    assert by_arch["hps"]["method"]["params"]["s_min"] == 0.3
    assert by_arch["mdmtn"]["method"]["params"]["s_min"] == 0.4
    assert by_arch["mdmtn"]["train"]["lr"] == 0.02
    assert by_arch["hps"]["train"]["lr"] != 0.02
    bad = parse_spec({"name": "p", "datasets": ["multidigits"],
                      "methods": [{"name": "wc_al", "params": {"lsuv": "maybe"}}]}, "s.yaml")
    with pytest.raises(SpecError) as info:
        expand_sweep(bad)
    assert str(info.value).startswith("s.yaml: methods.0.params.lsuv:")


def test_t_starts_at_zero_unless_the_paper_preset_asks_for_the_normal_draw():
    assert float(make([0.0, 0.5, 0.5]).t.detach()) == 0.0
    assert WCAL.resolve_params({}, "multimnist")["t_init"] == "normal"
    assert WCAL.resolve_params({}, "cifar10mnist", "mdmtn")["t_init"] == "normal"
    with pytest.raises(ParamError, match="t_init"):
        WCAL.resolve_params({"t_init": "uniform"}, "multidigits")


def test_default_start_of_t_trains_where_a_slack_start_stalls():
    # seed 0 draws t0 = 1.54 from N(0, 1): above the weighted losses, every constraint is
    # slack, lambda collapses to 0 after the first iteration and the network lags
    from tiny_trials import tiny_config
    from trainers.trial import run_trial

    def mean_test_acc(t_init):
        config = tiny_config("wc_al", params={"t_init": t_init}, preference=[0.0, 0.5, 0.5],
                             data={"n_train": 1000, "n_val": 200, "n_test": 500},
                             train={"epochs": 6, "lr": 1e-3, "epochs_per_iteration": 3})
        result = run_trial(config)
        test = next(p for p in result["points"] if p["split"] == "test")
        return sum(s["acc"] for s in test["tasks"].values()) / 2, result["info"]["method_state"]

    default, state = mean_test_acc(0.0)
    slack, slack_state = mean_test_acc(5.0)
    assert min(state["lambda"][1:]) > 0 and slack_state["lambda"] == [0.0, 0.0, 0.0]
    assert default > slack + 0.05
