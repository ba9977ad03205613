"""lstmjax.load_run: a trained run in Python gives the numbers of ``lstmjax predict`` and
``lstmjax evaluate`` on the same run, for text and for npz runs."""

import csv
import json
import os

import numpy as np
import pytest

import lstmjax
from lstmjax import cli, runs, tasks, train

POS = ["great", "lovely", "superb", "fine", "happy"]
NEG = ["awful", "boring", "bad", "poor", "sad"]


def _reviews(n, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        good = k % 2 == 0
        words = list(rng.choice(POS if good else NEG, 2)) + list(rng.choice(["the", "film", "a"], 2))
        rng.shuffle(words)
        rows.append([" ".join(words), "pos" if good else "neg"])
    return rows


def _write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


def _text_config(tmp_path):
    _write_csv(tmp_path / "train.csv", _reviews(200, 0))
    _write_csv(tmp_path / "test.csv", _reviews(40, 1))
    return {"seed": 0, "steps": 40, "batch_size": 16, "log_every": 10, "eval_every": 20,
            "eval_batches": 0, "checkpoint_every": 20, "plot": False, "pad_to": "batch",
            "pad_multiple": 4,
            "data": {"name": "text_file", "path": str(tmp_path / "train.csv"),
                     "test_path": str(tmp_path / "test.csv"), "max_length": 6},
            # with the text defaults' n-gram bag: load_run, predict and evaluate hash the
            # same n-grams as training did
            "model": {"hidden_size": 8, "embed_dim": 8, "bidirectional": True,
                      "pooling": "bilstm", "ngram_order": 2, "ngram_buckets": 256,
                      "ngram_dim": 4},
            "optimizer": {"learning_rate": 0.02}}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("text")
    workdir = str(tmp / "run")
    summary = train.run(_text_config(tmp), workdir, progress=False)
    return tmp, workdir, summary


def test_load_run_predict_equals_the_cli(text_run, capsys):
    _, workdir, _ = text_run
    texts = ["great superb film", "awful boring", "", "words never seen before"]
    run = lstmjax.load_run(workdir, which="last")
    assert run.labels == ["neg", "pos"] and run.checkpoint == "last@40" and run.step == 40
    assert run.config["data"]["name"] == "text_file" and "embed" in run.params
    assert run.params["ngrams"].shape == (256, 4)
    proba = run.predict_proba(texts)
    assert proba.shape == (4, 2) and np.allclose(proba.sum(-1), 1, atol=1e-6)
    labels = run.predict(texts)
    assert labels == [run.labels[k] for k in proba.argmax(-1)]

    code = cli.main(["lstmjax", "predict", "--workdir", workdir, "--params", "last",
                     *sum((["--text", t] for t in texts), [])])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == labels
    np.testing.assert_allclose([[r["p_neg"], r["p_pos"]] for r in rows], proba, atol=1e-6)


def test_best_parameters_give_the_reported_test_accuracy(text_run):
    """predict on the test file's texts scores what summary.json reports for the best
    checkpoint (test_at_best): the same parameters, the same encoding."""
    tmp, workdir, summary = text_run
    run = lstmjax.load_run(workdir)  # which="best"
    assert run.checkpoint == f"best@{summary['best']['step']}"
    with open(tmp / "test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    hits = [p == r["label"] for p, r in zip(run.predict([r["text"] for r in rows]), rows)]
    assert np.mean(hits) == pytest.approx(summary["test_at_best"]["accuracy"], abs=1e-9)


def test_encode_texts_is_the_training_encoding(text_run):
    tmp, _, _ = text_run
    cfg = _text_config(tmp)["data"]
    _, source = tasks.make_task(cfg, "test")
    with open(tmp / "test.csv", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    x, lengths = tasks.encode_texts(source.vocabulary, texts, cfg["max_length"])
    assert x.shape == (len(texts), cfg["max_length"]) and x.dtype == np.int32
    for k in range(len(texts)):
        np.testing.assert_array_equal(x[k, :lengths[k]], source[k]["x"])
        assert not x[k, lengths[k]:].any()


def test_bad_inputs_are_one_line_errors(text_run):
    _, workdir, _ = text_run
    run = lstmjax.load_run(workdir)
    with pytest.raises(TypeError, match="list of strings"):
        run.predict("one string")
    with pytest.raises(ValueError, match="which='middle'"):
        lstmjax.load_run(workdir, which="middle")
    with pytest.raises(runs.RunDirError, match="not a run directory"):
        lstmjax.load_run(os.path.dirname(workdir))
    assert run.predict([]) == [] and run.predict_proba([]).shape == (0, 2)


def test_npz_run_predicts_arrays(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    workdir = str(tmp_path / "run")
    train.run({"steps": 6, "batch_size": 8, "eval_every": 3, "eval_batches": 0,
               "checkpoint_every": 3, "plot": False, "model": {"hidden_size": 4},
               "data": {"name": "npz_file", "path": str(tmp_path / "d.npz")}},
              workdir, progress=False)
    run = lstmjax.load_run(workdir)
    assert run.vocabulary is None and run.labels == ["0", "1"]
    proba = run.predict_proba(x[:7])
    code = cli.main(["lstmjax", "predict", "--workdir", workdir, "--input",
                     str(tmp_path / "d.npz")])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    np.testing.assert_allclose([[r["p_0"], r["p_1"]] for r in rows[:7]], proba, atol=1e-6)
    assert [r["label"] for r in rows[:7]] == run.predict(x[:7])
    # shorter sequences by lengths: the same as the truncated arrays
    short = run.predict_proba(x[:4], lengths=np.array([2, 3, 4, 5]))
    np.testing.assert_allclose(short[0], run.predict_proba(x[:1, :2])[0], atol=1e-6)
    with pytest.raises(ValueError, match="expects float"):
        run.predict(x[:, :, :2])


def test_predict_reads_another_column_by_the_training_override(text_run, tmp_path, capsys):
    _, workdir, _ = text_run
    texts = ["great superb film", "awful boring"]
    _write_csv_columns(tmp_path / "in.csv", ["id", "sentence"], [[0, texts[0]], [1, texts[1]]])
    code = cli.main(["lstmjax", "predict", "--workdir", workdir, "--input",
                     str(tmp_path / "in.csv"), "--config.data.text_column=sentence"])
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["label"] for r in rows] == lstmjax.load_run(workdir).predict(texts)


def _write_csv_columns(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_one_restore_path_reads_params_without_an_optimizer(text_run, monkeypatch):
    """evaluate, predict and load_run read parameters through train.load_params: only the
    parameters, shaped by the model alone (no optimizer rebuilt), bit for bit."""
    from lstmjax import device_step, inference, optim

    _, workdir, summary = text_run

    def refuse(*a, **k):
        raise AssertionError("restoring parameters built an optimizer state")

    real = optim.make_optimizer

    def no_state(*a, **k):  # the schema validates by building the optax chain: fine
        tx, schedule = real(*a, **k)
        return tx._replace(init=refuse), schedule

    monkeypatch.setattr(optim, "make_optimizer", no_state)
    monkeypatch.setattr(device_step, "init_state", refuse)
    config = inference.read_config(workdir)
    last, at = train.load_params(workdir, config, "last")
    assert at == f"last@{summary['step']}"
    assert runs.params_sha256(last) == summary["params_sha256"]
    best, at_best = train.load_params(workdir, config)
    assert at_best == f"best@{summary['best']['step']}"
    run = lstmjax.load_run(workdir)
    assert run.checkpoint == at_best
    assert runs.params_sha256(run.params) == runs.params_sha256(best)
    monkeypatch.undo()
    rec = inference.evaluate(workdir, "test")  # the CLI's evaluate: best parameters
    assert rec["params"] == at_best
    assert rec["accuracy"] == summary["test_at_best"]["accuracy"]


def test_run_read_is_the_one_reader_of_predict_inputs(text_run, tmp_path):
    from lstmjax import inference

    _, workdir, _ = text_run
    run = lstmjax.load_run(workdir)
    texts = ["great superb film", "awful boring"]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n\n", encoding="utf-8")
    _write_csv_columns(tmp_path / "in.csv", ["id", "sentence"], [[0, texts[0]], [1, texts[1]]])
    assert run.read(str(tmp_path / "in.txt")) == texts
    assert tasks.read_inputs(str(tmp_path / "in.txt"), run.spec) == texts
    assert run.read(str(tmp_path / "in.csv"), text_column="sentence") == texts
    with pytest.raises(tasks.DataError, match="text"):  # the run's column is 'text'
        run.read(str(tmp_path / "in.csv"))
    with pytest.raises(ValueError, match=r"unknown field 'label_column'; accepted: "
                                         r"\['text_column', 'encoding', 'delimiter'\]"):
        run.read(str(tmp_path / "in.csv"), label_column="x")
    assert inference.READ_FIELDS == ("text_column", "encoding", "delimiter")


def test_read_inputs_reads_features_for_a_feature_run(tmp_path):
    spec = tasks.TaskSpec(name="npz_file", input_kind="features", output_kind="classify",
                          input_dim=3, max_length=5, num_classes=2)
    x = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    np.savez(tmp_path / "x.npz", x=x)
    np.testing.assert_array_equal(tasks.read_inputs(str(tmp_path / "x.npz"), spec), x)
    np.savez(tmp_path / "wide.npz", x=np.zeros((2, 4, 2), np.float32))
    with pytest.raises(tasks.DataError, match=r"wide.npz: x has shape \(2, 4, 2\); this run "
                                              r"expects \[N, T <= 5, 3\]"):
        tasks.read_inputs(str(tmp_path / "wide.npz"), spec)
