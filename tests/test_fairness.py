"""Fairness objectives end to end (docs/metrics.md#deo): BCE with logits and the
relaxed DEO train, the hard DEO is stored (as 1 - acc of the ``deo`` task), and on a
tiny Adult-layout CSV the two objectives conflict."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from trainers.datasets import DATASETS, Split
from trainers.datasets.kinds import hard_deo, relaxed_deo
from trainers.loop import evaluate
from trainers.methods import METHODS
from trainers.trial import run_trial

INCOME, DEO = DATASETS.get("adult").tasks


def random_batch(n=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1, generator=gen) * 2
    label = torch.randint(0, 2, (n,), generator=gen)
    sex = torch.randint(0, 2, (n,), generator=gen)
    return logits, label, torch.where(label == 1, sex, -1)


def test_objectives_follow_the_deo_formulas():
    logits, label, group = random_batch()
    n = len(label)
    s = torch.sigmoid(logits.reshape(-1))
    relaxed = abs(sum(math.tanh(max(0.0, float(s[i]))) for i in range(n) if group[i] == 0)
                  - sum(math.tanh(max(0.0, float(s[i]))) for i in range(n) if group[i] == 1)) / n
    assert float(DEO.loss(logits, group)) == pytest.approx(relaxed, rel=1e-5)
    assert float(relaxed_deo(logits, group)) == pytest.approx(relaxed, rel=1e-5)
    positive = logits.reshape(-1) > 0
    hard = abs(int((positive & (group == 1)).sum()) - int((positive & (group == 0)).sum())) / n
    assert float(hard_deo(logits, group)) == pytest.approx(hard)
    assert int(DEO.n_correct(logits, group)) == round(n * (1 - hard))
    assert float(INCOME.loss(logits, label)) == pytest.approx(
        float(F.binary_cross_entropy_with_logits(logits.reshape(-1), label.float())))


class Fixed(torch.nn.Module):
    """A "model" that returns given logits for given inputs (the inputs are row ids)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        out = self.logits[x.long().reshape(-1)]
        return [out, out]


def test_stored_accuracy_of_deo_is_one_minus_the_hard_deo_of_the_whole_split():
    logits, label, group = random_batch(n=50, seed=1)
    split = Split(torch.arange(50).float().unsqueeze(1), torch.stack([label, group], dim=1))
    whole = evaluate(Fixed(logits), split, (INCOME, DEO), batch_size=1 << 17)
    assert whole.accs[1] == pytest.approx(1 - float(hard_deo(logits, group)))
    assert whole.losses[1] == pytest.approx(float(relaxed_deo(logits, group)), rel=1e-5)
    assert METHODS.get("linear").train_preset("adult")["eval_batch_size"] >= 50_000


def adult_csv(n, seed):
    """Adult layout where income depends on gender and relationship is a gender proxy,
    so an accurate classifier is unfair."""
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.4
    married = rng.random(n) < 0.8
    rich = rng.random(n) < np.where(female, 0.1, 0.75)
    pick = lambda values: rng.choice(values, n)  # noqa: E731
    return pd.DataFrame({
        "age": rng.integers(18, 70, n), "workclass": pick(["Private", "State-gov", "?"]),
        "fnlwgt": rng.integers(10_000, 400_000, n),
        "education": pick(["Bachelors", "HS-grad", "Masters"]),
        "educational-num": rng.integers(5, 16, n),
        "marital-status": np.where(married, "Married-civ-spouse", "Never-married"),
        "occupation": pick(["Sales", "Tech-support", "?"]),
        "relationship": np.where(married, np.where(female, "Wife", "Husband"), "Not-in-family"),
        "race": pick(["White", "Black"]), "gender": np.where(female, "Female", "Male"),
        "capital-gain": rng.integers(0, 2, n) * 5000, "capital-loss": np.zeros(n, dtype=int),
        "hours-per-week": rng.integers(20, 60, n),
        "native-country": pick(["United-States", "Mexico"]),
        "income": np.where(rich, ">50K", "<=50K"),
    })


def linear_trial(folder, preference):
    config = {
        "key": f"fair-{preference}", "dataset": {"name": "adult", "options": {}},
        "arch": {"name": "mlp", "options": {}},
        "method": {"name": "linear", "params": METHODS.get("linear").resolve_params({}, "adult")},
        "preference": preference, "seed": 0,
        "train": {"epochs": 15, "batch_size": 64, "lr": 1e-2, "eval_batch_size": 1 << 17,
                  "device": "cpu"},
        "runtime": {"threads": 1, "data_dir": str(folder)},
    }
    return run_trial(config)


def test_linear_trial_on_adult_trains_and_the_objectives_conflict(tmp_path):
    adult_csv(600, seed=0).to_csv(tmp_path / "adult.csv", index=False)
    accurate = linear_trial(tmp_path, [0.0, 1.0, 0.0])
    fair = linear_trial(tmp_path, [0.0, 0.05, 0.95])
    scores = {}
    for name, result in (("accurate", accurate), ("fair", fair)):
        train = next(p for p in result["points"] if p["split"] == "train")
        assert set(train["tasks"]) == {"income", "deo"}
        for task in train["tasks"].values():
            assert math.isfinite(task["loss"]) and 0.0 <= task["acc"] <= 1.0
        scores[name] = (train["tasks"]["income"]["loss"], train["tasks"]["deo"]["loss"],
                        1 - train["tasks"]["deo"]["acc"])
    (bce_a, deo_a, hard_a), (bce_f, deo_f, hard_f) = scores["accurate"], scores["fair"]
    assert bce_a < 0.5                       # the accurate model learned something
    assert hard_a > 0.2                      # ... and it is unfair (relationship ~ gender)
    assert bce_f > bce_a and deo_f < deo_a   # the fair preference trades BCE for DEO
    assert hard_f < hard_a
