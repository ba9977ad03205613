"""Metrics practitioners read: per-class precision, recall, F1, macro-F1, the confusion
matrix and the majority-class baseline, checked against a hand-computed example (and
scikit-learn where it is installed), and end to end against the predictions of the run."""

import csv
import json
import os

import numpy as np
import pytest

import lstmjax
from lstmjax import cli, device_step, runs, train

# a fixed prediction set; the 11th row is a filler (weight 0) that must count nowhere
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 1]
Y_PRED = [0, 1, 0, 1, 0, 2, 2, 0, 2, 0, 1]
WEIGHT = [1] * 10 + [0]
LABELS = ["a", "b", "c", "d"]  # "d" occurs nowhere: left out of the macro average


def _sums():
    logits = 5.0 * np.eye(4, dtype=np.float32)[Y_PRED]
    batch = {"y": np.array(Y_TRUE, np.int32), "weight": np.array(WEIGHT, np.float32),
             "lengths": np.ones(11, np.int32)}
    sums = {**device_step.score(logits, batch, "classify", None), **device_step.class_counts(logits, batch, 4)}
    return {k: np.asarray(v, np.float64) for k, v in sums.items()}


def test_class_report_by_hand():
    sums = _sums()
    metrics = device_step.metrics_from_sums(sums)
    report = device_step.class_report(sums, LABELS)
    # by hand: a: TP 3, FP 2 (rows 4, 7), FN 1 (row 1); b: TP 1, FP 1, FN 1; c: TP 3, FP 0, FN 1
    assert metrics["accuracy"] == pytest.approx(0.7) and metrics["examples"] == 10
    per = report["per_class"]
    assert per["a"] == pytest.approx({"precision": 0.6, "recall": 0.75, "f1": 2 / 3, "support": 4})
    assert per["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert per["c"] == pytest.approx({"precision": 1.0, "recall": 0.75, "f1": 6 / 7, "support": 4})
    assert per["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 6 / 7) / 3)
    assert report["confusion"] == {"labels": LABELS, "matrix": [[3, 1, 0, 0], [1, 1, 0, 0],
                                                                [1, 0, 3, 0], [0, 0, 0, 0]]}
    # the split's most frequent class by default (ties: the first), or the one given
    assert report["majority_baseline"] == {"label": "a", "accuracy": 0.4}
    assert device_step.class_report(sums, LABELS, majority_class=1)["majority_baseline"] == {
        "label": "b", "accuracy": 0.2}


def test_class_report_equals_scikit_learn():
    metrics_lib = pytest.importorskip("sklearn.metrics")
    y, p = Y_TRUE[:10], Y_PRED[:10]
    sums = _sums()
    report = device_step.class_report(sums, LABELS)
    prec, rec, f1, support = metrics_lib.precision_recall_fscore_support(
        y, p, labels=[0, 1, 2, 3], zero_division=0)
    for k, name in enumerate(LABELS):
        got = report["per_class"][name]
        assert [got["precision"], got["recall"], got["f1"], got["support"]] == pytest.approx(
            [prec[k], rec[k], f1[k], support[k]])
    assert device_step.metrics_from_sums(sums)["macro_f1"] == pytest.approx(
        metrics_lib.f1_score(y, p, average="macro", zero_division=0))
    assert report["confusion"]["matrix"] == metrics_lib.confusion_matrix(
        y, p, labels=[0, 1, 2, 3]).tolist()


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


def _corpus(n, seed):
    """Three classes, 'ham' twice as frequent as each other one, some of them ambiguous."""
    rng = np.random.default_rng(seed)
    words = {"ham": ["hello", "see", "you"], "spam": ["win", "prize", "cash"],
             "promo": ["sale", "offer", "cash"]}
    rows = []
    for k in range(n):
        label = ["ham", "ham", "spam", "promo"][k % 4]
        rows.append([" ".join(rng.choice(words[label], 2)), label])
    return rows


@pytest.fixture(scope="module")
def run3(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("m")
    _write_csv(tmp / "train.csv", _corpus(160, 0))
    _write_csv(tmp / "test.csv", _corpus(48, 1))
    workdir = str(tmp / "run")
    cfg = {"steps": 20, "batch_size": 16, "eval_every": 10, "eval_batches": 0,
           "checkpoint_every": 10, "plot": True, "log_every": 10,
           "data": {"name": "text_file", "path": str(tmp / "train.csv"),
                    "test_path": str(tmp / "test.csv"), "max_length": 4},
           "model": {"hidden_size": 8, "embed_dim": 8}, "optimizer": {"learning_rate": 0.02}}
    summary = train.run(cfg, workdir, progress=False)
    return tmp, workdir, summary


def test_summary_reports_per_class_metrics_of_the_predictions(run3):
    """summary.json's per-class numbers equal those computed here from the run's own
    predictions (lstmjax.load_run) on the test file, by label name."""
    tmp, workdir, summary = run3
    with open(tmp / "test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    pred = lstmjax.load_run(workdir, which="last").predict([r["text"] for r in rows])
    true = [r["label"] for r in rows]
    test = summary["test"]
    assert test["params"] == "last@20" and set(test["per_class"]) == {"ham", "promo", "spam"}
    for name, got in test["per_class"].items():
        tp = sum(t == p == name for t, p in zip(true, pred))
        n_pred, n_true = pred.count(name), true.count(name)
        assert got["support"] == n_true
        assert got["precision"] == pytest.approx(tp / n_pred if n_pred else 0.0)
        assert got["recall"] == pytest.approx(tp / n_true)
        assert got["f1"] == pytest.approx(2 * tp / (n_true + n_pred))
    labels = test["confusion"]["labels"]
    matrix = test["confusion"]["matrix"]
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            assert matrix[i][j] == sum(t == a and p == b for t, p in zip(true, pred))
    # the baseline: the train split's majority class, by name, and its rate on test
    assert summary["majority_class"]["label"] == "ham"
    assert summary["majority_class"]["train_rate"] == pytest.approx(0.5, abs=0.05)
    assert test["majority_baseline"] == {"label": "ham", "accuracy": 0.5}
    assert os.path.isfile(os.path.join(workdir, runs.CONFUSION))
    assert summary["test_at_best"]["params"] == f"best@{summary['best']['step']}"


def test_evaluate_says_which_parameters_and_prints_the_table(run3, capsys):
    _, workdir, summary = run3
    assert cli.main(["lstmjax", "evaluate", "--workdir", workdir, "--params", "last"]) == 0
    out, err = capsys.readouterr()
    rec = json.loads(out)
    assert rec["params"] == "last@20" and rec["per_class"] == summary["test"]["per_class"]
    assert rec["macro_f1"] == pytest.approx(summary["test"]["macro_f1"])
    assert err.startswith("last@20 test (48 examples): ")
    assert "majority-class baseline 'ham'" in err and "promo" in err and "confusion" in err
