"""``kdmtl``: teachers first, then an HPS student whose distillation term really trains
its shared network and adaptors (the authors' code detaches it)."""

import pytest
import torch

from trainers import loop
from trainers.datasets import DATASETS
from trainers.methods.base import ParamError
from trainers.methods.kdmtl import KnowledgeDistillation as KD
from trainers.methods.kdmtl import distillation, make_teachers
from trainers.models import ARCHITECTURES
from trainers.trial import run_trial
from tiny_trials import TINY_DATA, assert_finite_points, tiny_config



def setup(**params):
    torch.manual_seed(0)
    data = DATASETS.get("multidigits").build(dict(TINY_DATA))
    model = ARCHITECTURES.get("kdmtl")(data.tasks, data.input_shape, "multidigits", {})
    method = KD(None, KD.resolve_params(params, "multidigits", "kdmtl"), 2)
    method.teachers = make_teachers(model, data.tasks).eval().requires_grad_(False)
    return data, model, method


def test_distillation_term_on_hand_numbers():
    adapted = [torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 0.0]])]
    teacher = [torch.tensor([[8.0, 6.0]]), torch.tensor([[2.0, 0.0]])]
    # n(3,4) = (.6,.8), n(8,6) = (.8,.6): squared distance .08; the second pair is equal
    value = distillation(adapted, teacher, torch.tensor([0.5, 7.0]))
    assert float(value) == pytest.approx(0.5 * 0.08)


def test_distillation_gradient_reaches_student_and_adaptors():
    data, model, method = setup()
    x = data.splits["train"].x[:32]
    _, adapted = model.outputs_and_adapted(x)
    with torch.no_grad():
        targets = method.teachers.features(x)
    distillation(adapted, targets, method.lambdas).backward()
    for name, param in model.named_parameters():
        if name.startswith(("shared.", "adaptors.")):
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        if name.startswith("heads."):
            assert param.grad is None, name
    assert all(p.grad is None for p in method.teachers.parameters())


def test_each_parameter_is_stepped_by_exactly_one_optimiser():
    data, model, method = setup(adaptor_weight_decay=0.0)
    method.adaptor_optimizer = torch.optim.Adam(model.adaptors.parameters(), lr=1e-2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x, y = data.splits["train"].x[:32], data.splits["train"].y[:32]
    loop.step(model, method, data.tasks, x, y, optimizer, [method.step_adaptors])
    for name, param in model.named_parameters():
        assert not torch.equal(param, before[name]), name   # everything moved ...
    adaptor_ids = {id(p) for p in model.adaptors.parameters()}
    stepped = {id(p) for p in optimizer.state}
    assert stepped and not stepped & adaptor_ids           # ... the adaptors by their own Adam
    assert {id(p) for p in method.adaptor_optimizer.state} == adaptor_ids


def test_kdmtl_trial_trains_teachers_then_student():
    result = run_trial(tiny_config("kdmtl", arch="kdmtl", params={"teacher_epochs": 1, "lsuv": True}))
    stages = [record["stage"] for record in result["info"]["history"]]
    assert stages == ["teachers", "train", "train"]
    assert len(result["info"]["teacher_best_epochs"]) == 2
    assert 0 < result["info"]["time_teachers_s"] < result["time_train_s"]
    assert_finite_points(result)


def test_teacher_settings_default_to_the_trial_and_presets_to_stl():
    from trainers.settings import TrainSettings

    method = KD(None, KD.resolve_params({}, "multidigits"), 2)
    settings = TrainSettings(epochs=7, lr=0.3, optimizer="sgd")
    teacher = method.teacher_settings(settings)
    assert (teacher.epochs, teacher.lr, teacher.optimizer) == (7, 0.3, "adam")
    mm = KD.resolve_params({}, "multimnist")
    teacher = (mm["teacher_epochs"], mm["teacher_lr"], mm["teacher_epochs_per_iteration"])
    assert teacher == (100, 1e-2, 30)
    assert KD.resolve_params({}, "cifar10mnist")["teacher_lr"] == 5e-2
    assert KD.train_preset("cifar10mnist")["lr"] == 1e-4
    assert mm["adaptor_weight_decay"] == 5e-4 and mm["lambda"] == 0.025


@pytest.mark.parametrize("params, name", [({"lambda": -1}, "lambda"), ({"lambda": []}, "lambda"),
                                          ({"teacher_epochs": 0}, "teacher_epochs"),
                                          ({"lsuv": "yes"}, "lsuv")])
def test_unusable_values_are_refused_by_name(params, name):
    with pytest.raises(ParamError) as info:
        KD.resolve_params(params, "multidigits")
    assert info.value.name == name


def test_one_lambda_per_task():
    assert KD(None, KD.resolve_params({"lambda": [0.01, 0.04]}, "x"), 2).lambdas.tolist() == \
        pytest.approx([0.01, 0.04])
    with pytest.raises(ValueError, match="3 values for 2 tasks"):
        KD(None, KD.resolve_params({"lambda": [0.1, 0.1, 0.1]}, "x"), 2)
