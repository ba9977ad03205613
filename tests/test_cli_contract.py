"""python -m lstmjax train | evaluate | predict: the exit-code contract (one line on
stderr, no traceback, nothing changed in the run directory) and real-data use end to end."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lstmjax import cli, runs, train

from train_helpers import ROOT, subprocess_env, snapshot

ADDING = "tests/configs/tiny_adding.py"
TEXT = "tests/configs/tiny_text.py"


def lstmjax(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "lstmjax", *args], cwd=ROOT,
                          env=subprocess_env(), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr




def one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert lines and lines[-1].startswith("error: "), err
    return lines[-1]


def test_exit_codes_are_documented():
    assert set(cli.EXIT_CODES) == {0, 1, 2, 3, 4, 5, 130, 138, 143}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("run") / "w")
    code, out, err = lstmjax("train", "--config", ADDING, "--workdir", workdir,
                             "--progress=false")
    assert code == 0, err
    assert "done: step 12" in out and "validation (32 examples)" in out
    return workdir


@pytest.mark.parametrize("args,code,fragment", [
    (["--config", "tests/configs/missing.py"], 2, "cannot load config file"),
    (["--config", ADDING, "--config.model.cell=lstmx"], 2, "cell='lstmx'"),
    (["--config", ADDING, "--config.model.widht=3"], 2, "widht"),
    (["--config", ADDING, "--config.keep_checkpoints=0"], 2, "keep_checkpoints=0"),
    (["--config", ADDING, "--config.model.hidden_size=5"], 3, "holds a run with another config"),
])
def test_config_and_refused_workdir_fail_in_one_line(finished_run, args, code, fragment):
    before = snapshot(finished_run)
    got, _, err = lstmjax("train", "--workdir", finished_run, "--progress=false", *args)
    assert got == code, err
    assert fragment in one_line_error(err)
    assert snapshot(finished_run) == before


def test_workdir_that_is_a_file_is_exit_3(tmp_path):
    (tmp_path / "afile").write_text("x")
    for workdir in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        code, _, err = lstmjax("train", "--config", ADDING, "--workdir", str(workdir))
        assert code == 3, err
        assert "not a directory" in one_line_error(err)
    assert (tmp_path / "afile").read_text() == "x"


def test_missing_data_file_is_exit_4(tmp_path):
    code, _, err = lstmjax("train", "--config", TEXT, "--workdir", str(tmp_path / "w"),
                           f"--config.data.path={tmp_path / 'nope.csv'}")
    assert code == 4, err
    assert "nope.csv" in one_line_error(err)
    assert not (tmp_path / "w" / "checkpoints").exists()


def test_nan_loss_is_exit_1(tmp_path):
    code, _, err = lstmjax(
        "train", "--config", ADDING, "--workdir", str(tmp_path / "w"), "--progress=false",
        "--config.optimizer.name=sgd", "--config.optimizer.learning_rate=0.01",
        "--config.optimizer.schedule=exponential", "--config.optimizer.decay_rate=1e90",
        "--config.optimizer.grad_clip=0.0", "--config.steps=40", "--config.eval_every=0")
    assert code == 1, err
    assert "loss is" in one_line_error(err)


def test_verbose_adds_the_traceback(tmp_path):
    code, _, err = lstmjax("train", "--config", TEXT, "--workdir", str(tmp_path / "w"),
                           f"--config.data.path={tmp_path / 'nope.csv'}", "--verbose")
    assert code == 4 and "Traceback" in err


def _write_csv(path, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


POS = ["great", "lovely", "superb", "fine", "happy"]
NEG = ["awful", "boring", "bad", "poor", "sad"]


def _reviews(n, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        good = k % 2 == 0
        words = list(rng.choice(POS if good else NEG, 2)) + list(rng.choice(["the", "film", "was", "a"], 3))
        rng.shuffle(words)
        rows.append([" ".join(words), "pos" if good else "neg"])
    return rows


@pytest.mark.slow
def test_csv_train_evaluate_predict_end_to_end(tmp_path):
    """1,000-row CSV: whole validation/test splits, disjoint; the reported test accuracy
    equals an independent evaluation of the saved parameters; predict gives the labels
    that evaluate scores."""
    data = tmp_path / "reviews.csv"
    _write_csv(data, _reviews(1000))
    workdir = str(tmp_path / "run")
    code, out, err = lstmjax("train", "--config", TEXT, "--workdir", workdir,
                             f"--config.data.path={data}", "--progress=false")
    assert code == 0, err
    summary = runs.read_json(os.path.join(workdir, "summary.json"))
    job = train.build(runs.read_json(os.path.join(workdir, "config.json")))
    n_val, n_test = len(job.sources["validation"]), len(job.sources["test"])
    assert summary["final_eval"]["examples"] == n_val == 100
    assert summary["test"]["examples"] == n_test == 100
    val_lines = set(job.sources["validation"].lines.tolist())
    test_lines = set(job.sources["test"].lines.tolist())
    assert val_lines.isdisjoint(test_lines)

    # evaluate --params last == the summary's test (the last step's parameters)
    code, out, err = lstmjax("evaluate", "--workdir", workdir, "--params", "last")
    assert code == 0, err
    ev = json.loads(out)
    assert ev["examples"] == n_test
    assert ev["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-9)
    assert ev["loss"] == pytest.approx(summary["test"]["loss"], rel=1e-5)

    # predict three sentences; evaluate on a file of them scores the same labels
    texts = ["great superb the film", "awful boring film", "lovely happy"]
    code, out, err = lstmjax("predict", "--workdir", workdir, "--params", "last",
                             *sum((["--text", t] for t in texts), []))
    assert code == 0, err
    preds = [json.loads(line) for line in out.strip().splitlines()]
    assert [p["text"] for p in preds] == texts
    assert all(abs(p["p_pos"] + p["p_neg"] - 1) < 1e-4 for p in preds)
    three = tmp_path / "three.csv"
    _write_csv(three, [[t, p["label"]] for t, p in zip(texts, preds)])
    code, out, err = lstmjax("evaluate", "--workdir", workdir, "--params", "last",
                             f"--config.data.test_path={three}")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0 and json.loads(out)["examples"] == 3

    # predict from a file to CSV
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    code, _, err = lstmjax("predict", "--workdir", workdir, "--input", str(tmp_path / "in.txt"),
                           "--output", str(tmp_path / "out.csv"), "--params", "last")
    assert code == 0, err
    with open(tmp_path / "out.csv") as f:
        assert [r["label"] for r in csv.DictReader(f)] == [p["label"] for p in preds]

    # a TSV input is read by its text column (a comma inside a text stays text), not
    # line by line with the header as a text
    (tmp_path / "in.tsv").write_text("id\ttext\n" + "".join(
        f"{k}\t{t}\n" for k, t in enumerate(texts)))
    code, _, err = lstmjax("predict", "--workdir", workdir, "--input", str(tmp_path / "in.tsv"),
                           "--output", str(tmp_path / "out_tsv.csv"), "--params", "last")
    assert code == 0, err
    with open(tmp_path / "out_tsv.csv") as f:
        assert [r["label"] for r in csv.DictReader(f)] == [p["label"] for p in preds]


def test_latin1_file_fails_in_one_line_and_works_with_its_encoding(tmp_path):
    data = tmp_path / "latin.csv"
    rows = [[f"caf\u00e9 {'bon' if k % 2 else 'mauvais'}", "pos" if k % 2 else "neg"]
            for k in range(60)]
    _write_csv(data, rows, encoding="latin-1")
    args = ["train", "--config", TEXT, f"--config.data.path={data}", "--progress=false",
            "--config.steps=2", "--config.eval_every=0", "--config.checkpoint_every=0"]
    code, _, err = lstmjax(*args, "--workdir", str(tmp_path / "a"))
    assert code == 4, err
    line = one_line_error(err)
    assert "latin.csv:2:" in line and "0xe9" in line and "encoding=latin-1" in line
    code, _, err = lstmjax(*args, "--workdir", str(tmp_path / "b"),
                           "--config.data.encoding=latin-1")
    assert code == 0, err
