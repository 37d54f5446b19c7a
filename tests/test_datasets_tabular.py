"""The fairness datasets (adult, compas, default) from tiny CSVs in the real layouts, the
UCI-to-CSV conversion behind ``--download``, and the task kinds they use (binary label,
relaxed DEO)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from trainers.datasets import DATASETS
from trainers.datasets.compas import stay_hours
from trainers.datasets.download import uci_adult_to_csv
from trainers.datasets.kinds import hard_deo, relaxed_deo
from trainers.datasets.tabular import split_70_10_20
from trainers.errors import DataError


def cycle(values, n):
    return [values[i % len(values)] for i in range(n)]


def adult_frame(n=60):
    return pd.DataFrame({
        "age": np.arange(n) + 20, "workclass": cycle(["Private", "State-gov", "?"], n),
        "fnlwgt": np.arange(n) * 1000 + 7, "education": cycle(["Bachelors", "11th", "HS-grad", "Masters", "9th"], n),
        "educational-num": cycle([13, 7, 9, 14], n),
        "marital-status": cycle(["Married-civ-spouse", "Never-married", "Married-spouse-absent"], n),
        "occupation": cycle(["Sales", "?", "Tech-support"], n), "relationship": cycle(["Husband", "Wife"], n),
        "race": cycle(["White", "Black"], n), "gender": cycle(["Male", "Female", "Female"], n),
        "capital-gain": cycle([0, 0, 5000], n), "capital-loss": cycle([0, 100], n),
        "hours-per-week": cycle([40, 50, 20, 60, 35], n),
        "native-country": cycle(["United-States", "?", "Mexico", "United-States"], n),
        "income": cycle(["<=50K", ">50K", "<=50K", "<=50K", ">50K", ">50K", "<=50K"], n),
    })


def build(name, folder, frame, file_name, options=None):
    path = folder / file_name
    frame.to_csv(path, index=False)
    source = DATASETS.get(name)
    source.prepare(options or {}, folder)
    return source.build(options or {}, folder)


def all_rows(bundle):
    return (torch.cat([bundle.splits[s].x for s in ("train", "val", "test")]).numpy(),
            torch.cat([bundle.splits[s].y for s in ("train", "val", "test")]).numpy())


def test_adult_features_labels_and_split(tmp_path):
    frame = adult_frame()
    bundle = build("adult", tmp_path, frame, "adult.csv")
    # 6 numeric + workclass 2 ('?' -> Private) + education 4 groups + marital 2 + occupation 3
    # ('?' -> Prof-specialty) + relationship 2 + race 2 + native-country 2 = 23
    assert bundle.input_shape == (23,)
    assert bundle.task_names == ["income", "deo"]
    assert [t.kind for t in bundle.tasks] == ["binary", "fairness"]
    x, _ = all_rows(bundle)
    assert x.dtype == np.float32
    assert np.allclose(x.mean(axis=0), 0, atol=1e-5) and np.allclose(x.std(axis=0), 1, atol=1e-4)
    parts = split_70_10_20(60, 1)
    assert {s: len(bundle.splits[s]) for s in parts} == {s: len(i) for s, i in parts.items()}
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (42, 6, 12)
    income = (frame["income"] == ">50K").to_numpy().astype(int)
    female = (frame["gender"] == "Female").to_numpy().astype(int)
    for split, idx in parts.items():
        y = bundle.splits[split].y.numpy()
        assert y.dtype == np.int64
        assert np.array_equal(y[:, 0], income[idx])
        assert np.array_equal(y[:, 1], np.where(income[idx] == 1, female[idx], -1))


def test_adult_bad_files(tmp_path):
    with pytest.raises(DataError, match="missing column"):
        build("adult", tmp_path, adult_frame().drop(columns=["gender"]), "adult.csv")
    bad = adult_frame()
    bad.loc[3, "income"] = "maybe"
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="column income has value 'maybe'"):
        build("adult", tmp_path / "b", bad, "adult.csv")
    (tmp_path / "c" / "adult.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x00")
    with pytest.raises(DataError, match="adult.csv"):
        DATASETS.get("adult").prepare({}, tmp_path / "c")


def test_uci_adult_files_convert_to_the_kaggle_csv(tmp_path):
    rows = adult_frame(6)
    lines = [", ".join(str(v) for v in row) for row in rows.itertuples(index=False)]
    (tmp_path / "adult.data").write_text("\n".join(lines[:4]) + "\n\n")
    test_lines = [line + "." for line in lines[4:]]
    (tmp_path / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(test_lines) + "\n")
    frame = uci_adult_to_csv(tmp_path / "adult.data", tmp_path / "adult.test", tmp_path / "adult.csv")
    again = pd.read_csv(tmp_path / "adult.csv")
    assert len(frame) == len(again) == 6
    assert again["income"].tolist() == rows["income"].tolist()
    assert again["workclass"].tolist() == rows["workclass"].tolist()   # blanks after commas gone


def compas_frame():
    n = 40
    frame = pd.DataFrame({
        "id": np.arange(n), "name": ["x"] * n, "age": np.arange(n) + 18,
        "c_charge_degree": cycle(["F", "M"], n),
        "race": cycle(["African-American", "Caucasian", "Hispanic"], n),
        "age_cat": cycle(["25 - 45", "Less than 25", "Greater than 45"], n),
        "score_text": cycle(["Low", "Medium", "High"], n), "sex": cycle(["Male", "Female", "Male"], n),
        "priors_count": cycle([0, 1, 5], n), "days_b_screening_arrest": cycle([-1, 0, 2, 1], n),
        "decile_score": cycle([1, 4, 9], n), "is_recid": cycle([0, 1], n),
        "two_year_recid": cycle([0, 1, 1], n),
        "c_jail_in": ["2013-08-13 06:03:42"] * n,
        "c_jail_out": cycle(["2013-08-14 07:33:42", "2013-08-13 08:00:00"], n),
    })
    frame.loc[0, "days_b_screening_arrest"] = 45      # filtered out
    frame.loc[1, "is_recid"] = -1                     # filtered out
    frame.loc[2, "c_charge_degree"] = "O"             # filtered out
    return frame


def test_compas_filters_and_features(tmp_path):
    frame = compas_frame()
    bundle = build("compas", tmp_path, frame, "compas-scores-two-years.csv")
    x, y = all_rows(bundle)
    assert len(x) == 37
    # 6 numeric + charge degree 2 + race 3 + age_cat 3 + score_text 3
    assert bundle.input_shape == (17,) and bundle.task_names == ["recid", "deo"]
    kept = frame.iloc[3:]
    parts = split_70_10_20(37, 1)
    assert np.array_equal(bundle.splits["test"].y[:, 0].numpy(),
                          kept["two_year_recid"].to_numpy()[parts["test"]])
    assert stay_hours(frame.iloc[:2], tmp_path).tolist() == [25.0, 1.0]   # 25.5 h and 1.9 h, floored


def test_default_keeps_id_and_recodes_sex(tmp_path):
    n = 50
    frame = pd.DataFrame({"ID": np.arange(1, n + 1), "LIMIT_BAL": cycle([1e4, 5e4, 2e5], n),
                          "SEX": cycle([1, 2, 2], n), "EDUCATION": cycle([1, 2, 3, 4], n),
                          "MARRIAGE": cycle([1, 2], n), "AGE": np.arange(n) + 21})
    for column in ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"):
        frame[column] = cycle([-1, 0, 2], n)
    for k in range(1, 7):
        frame[f"BILL_AMT{k}"] = np.arange(n) * k
        frame[f"PAY_AMT{k}"] = np.arange(n) % (k + 2)
    frame["default.payment.next.month"] = cycle([0, 0, 1], n)
    bundle = build("default", tmp_path, frame, "UCI_Credit_Card.csv")
    # 15 numeric (ID, LIMIT_BAL, AGE, 6 bills, 6 payments) + EDUCATION 4 + MARRIAGE 2 + 6 x PAY 3
    assert bundle.input_shape == (15 + 4 + 2 + 18,)
    _, y = all_rows(bundle)
    female = np.array(cycle([0, 1, 1], n))
    parts = split_70_10_20(n, 1)
    label = np.array(cycle([0, 0, 1], n))
    expected = np.where(label[parts["val"]] == 1, female[parts["val"]], -1)
    assert np.array_equal(bundle.splits["val"].y[:, 1].numpy(), expected)


def test_fairness_kinds_on_hand_numbers():
    logits = torch.zeros(4)
    group = torch.tensor([0, 1, -1, 0])
    # s = 0.5 everywhere: |2 tanh(0.5) - tanh(0.5)| / 4
    assert float(relaxed_deo(logits, group)) == pytest.approx(math.tanh(0.5) / 4)
    logits = torch.tensor([1.0, -1.0, 2.0, 3.0])
    group = torch.tensor([0, 1, 0, 1])
    assert float(hard_deo(logits, group)) == pytest.approx(abs(1 - 2) / 4)
    deo = DATASETS.get("adult").tasks[1]
    out = torch.tensor([[0.3], [-2.0], [1.0]], requires_grad=True)
    target = torch.tensor([0, -1, 1])
    batch = deo.loss(out, target)
    batch.backward()
    assert out.grad is not None and out.grad[1] == 0           # negatives do not count
    out = out.detach()
    assert float(deo.loss(out, target, reduction="sum")) == pytest.approx(3 * float(batch.detach()))
    label = DATASETS.get("adult").tasks[0]
    y = torch.tensor([1, 1, 1])
    assert int(label.n_correct(out, y)) == 2     # logit -2 predicts 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.float())
    assert float(label.loss(out, y)) == pytest.approx(float(expected))
