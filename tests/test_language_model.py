"""Language-model pretraining on the classifier's own text (issue 27: Dai & Le 2015).

``data.target="next_token"`` / ``"previous_token"`` turns a text file into a language
model's examples (x = the row, y = the row shifted by one; reversed for the previous
token); ``model.init_from`` starts a classifier from such runs: each LSTM goes to the
direction that reads the text its way, the first run's embedding to the words both
vocabularies hold, everything else keeps the seeded init; a resume never reads the runs;
every refusal is one line and leaves no run directory."""

import csv
import json
import os

import jax
import numpy as np
import pytest

import lstmjax
from lstmjax import cli, models, schema, tasks, train, transfer
from lstmjax.errors import DataError

E, H = 4, 5
WORDS = ["great", "awful", "the", "film", "plot", "was", "very", "so"]


def _write_csv(path, n, seed, label=True):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"] if label else ["text"])
        for k in range(n):
            words = list(rng.choice(WORDS, int(rng.integers(1, 6))))
            w.writerow([" ".join(words), "pos" if k % 2 else "neg"] if label else [" ".join(words)])


def _config(tmp_path, target="label", **model):
    if not (tmp_path / "train.csv").exists():
        _write_csv(tmp_path / "train.csv", 80, 0)
    lm = target != "label"
    return {"seed": 0, "steps": 4, "batch_size": 8, "log_every": 2, "eval_every": 2,
            "eval_batches": 0,
            "checkpoint_every": 2, "plot": False, "tensorboard": False, "pad_to": "batch",
            "select_metric": "loss" if lm else "auto",
            "data": {"name": "text_file", "path": str(tmp_path / "train.csv"), "max_length": 6,
                     "target": target},
            "model": {"hidden_size": H, "embed_dim": E, "bidirectional": not lm,
                      "pooling": "last", **model},
            "optimizer": {"learning_rate": 0.05}}


def test_next_and_previous_token_examples(tmp_path):
    path = tmp_path / "plain.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\nthe film was great\nso\nawful plot\n")  # no label column: fine
    fields = {"name": "text_file", "path": str(path), "holdout": 0.0, "max_length": 3}
    spec, src = tasks.make_task({**fields, "target": "next_token"}, "train")
    words = src.vocabulary.words
    ids = lambda text: [words.index(w) for w in text.split()]
    assert spec.output_kind == "classify_per_step" and spec.causal
    assert spec.num_classes == spec.vocab_size == len(words)
    assert len(src) == 2  # "so" has no next token
    # max_length inputs: the first max_length + 1 tokens give x (3 steps) and y
    np.testing.assert_array_equal(src[0]["x"], ids("the film was"))
    np.testing.assert_array_equal(src[0]["y"], ids("film was great"))
    np.testing.assert_array_equal(src[1]["x"], ids("awful"))
    np.testing.assert_array_equal(src[1]["y"], ids("plot"))
    np.testing.assert_array_equal(src.lengths(), [3, 1])
    _, back = tasks.make_task({**fields, "target": "previous_token"}, "train")
    np.testing.assert_array_equal(back[0]["x"], ids("great was film"))
    np.testing.assert_array_equal(back[0]["y"], ids("was film the"))
    with pytest.raises(ValueError, match=r"^text_file: target='words'; accepted: \('label'"):
        tasks.make_task({**fields, "target": "words"}, "train")
    with open(tmp_path / "short.csv", "w", encoding="utf-8") as f:
        f.write("text\nso\ngreat\n")
    with pytest.raises(DataError, match="no row of two or more tokens"):
        tasks.make_task({**fields, "path": str(tmp_path / "short.csv"), "target": "next_token"},
                        "train")


def test_language_model_refusals(tmp_path):
    cfg = _config(tmp_path, "next_token")
    cfg["model"]["bidirectional"] = True
    with pytest.raises(ValueError, match="bidirectional=True, but task 'text_file' is a "
                                         "language model"):
        train.build(cfg)
    for bad in ("runs/lm", [1], ("",)):
        with pytest.raises(ValueError, match=r"model.init_from=.*accepted: a tuple"):
            schema.resolve_config({"model": {"init_from": bad}, "data": {"name": "adding"}})
    with pytest.raises(ValueError, match="both set the embedding"):
        schema.resolve_config({"model": {"init_from": ("a",), "embeddings_path": "v.txt"},
                               "data": {"name": "adding"}})
    with pytest.raises(ValueError, match="names a run twice"):
        schema.resolve_config({"model": {"init_from": ("a", "a")}, "data": {"name": "adding"}})
    spec = tasks.TaskSpec("f", "features", "classify", max_length=3, input_dim=2, num_classes=2)
    fields = {**schema.DEFAULTS["model"], "init_from": ("a",)}
    with pytest.raises(ValueError, match="applies to token inputs"):
        models.from_task(spec, **fields)
    # a missing run: one line, and no run directory is left behind
    cfg = _config(tmp_path, init_from=(str(tmp_path / "nowhere"),))
    with pytest.raises(Exception, match="nowhere has no task.json"):
        train.run(cfg, str(tmp_path / "clf"), progress=False)
    assert not (tmp_path / "clf").exists()


def _train_language_models(tmp_path):
    fw = str(tmp_path / "lm_fw")
    train.run(_config(tmp_path, "next_token"), fw, progress=False)
    bw = str(tmp_path / "lm_bw")
    train.run(_config(tmp_path, "previous_token", init_from=(fw,), freeze_embeddings=True), bw,
              progress=False)
    return fw, bw


def _params(workdir):
    return train.load_params(workdir, json.load(open(os.path.join(workdir, "config.json"))))


def test_a_classifier_starts_from_both_directions(tmp_path, capsys):
    fw, bw = _train_language_models(tmp_path)
    (fw_params, fw_at), (bw_params, bw_at) = _params(fw), _params(bw)
    words = json.load(open(os.path.join(fw, "vocab.json")))["words"]
    # the backward model read its embedding from the forward one and kept it frozen
    np.testing.assert_array_equal(bw_params["embed"], fw_params["embed"])
    assert json.load(open(os.path.join(bw, "init_from.json")))[0]["direction"] is None

    cfg = _config(tmp_path, init_from=(fw, bw), ngram_order=2)
    job = train.build(cfg)
    moved = train._transfer(job)
    assert set(moved.layers) == {"0/fw", "0/bw"}
    state = jax.device_get(job.compiled.init(np.int32(0), moved.rows, moved.vectors,
                                             layers=moved.layers))
    seeded = jax.device_get(job.compiled.init(np.int32(0)))
    for got, want in ((state.params["rnn"][0]["fw"], fw_params["rnn"][0]["fw"]),
                      (state.params["rnn"][0]["bw"], bw_params["rnn"][0]["fw"])):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_array_equal(a, b)
    ours = job.sources["train"].vocabulary.words
    for i, word in enumerate(ours):
        want = fw_params["embed"][words.index(word)] if i >= 1 and word in words else \
            seeded.params["embed"][i]
        np.testing.assert_array_equal(state.params["embed"][i], want)
    for key in ("head", "ngrams"):  # the language model has no classifier head or bag
        for a, b in zip(jax.tree.leaves(state.params[key]), jax.tree.leaves(seeded.params[key])):
            np.testing.assert_array_equal(a, b)

    capsys.readouterr()
    workdir = str(tmp_path / "clf")
    cfg["steps"] = 2
    first = train.run(cfg, workdir, progress=False)
    out = capsys.readouterr().out
    assert f"init_from: {fw} (next_token, {fw_at}): 1 layer(s) -> fw, the embedding of" in out
    assert f"{bw} (previous_token, {bw_at}): 1 layer(s) -> bw" in out
    record = json.load(open(os.path.join(workdir, "init_from.json")))
    assert record == first["init_from"] and [r["direction"] for r in record] == ["fw", "bw"]
    # a resume restores its checkpoint and never reads the runs (config.json's list
    # of runs still matches the checkpoint's fingerprint)
    os.rename(fw, fw + ".moved")
    cfg["steps"] = 4
    second = train.run(cfg, workdir, progress=False)
    assert second["step"] == 4 and "init_from:" not in capsys.readouterr().out
    assert second["init_from"] == record
    os.rename(fw + ".moved", fw)
    whole = train.run(cfg, str(tmp_path / "whole"), progress=False)
    assert whole["params_sha256"] == second["params_sha256"]


def test_transfer_refusals_name_the_field(tmp_path, capsys):
    fw, bw = _train_language_models(tmp_path)
    # a language model's predictions: one next word per input token, not per padded step
    texts = ["great film", "the plot was so very awful indeed"]
    run = lstmjax.load_run(fw)
    words = run.predict(texts)
    assert [len(w) for w in words] == [2, 6]  # max_length 6 cuts the second
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    capsys.readouterr()
    assert cli.main(["lstmjax", "predict", "--workdir", fw, "--input",
                     str(tmp_path / "in.txt")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["labels"] for r in rows] == words
    job = train.build(_config(tmp_path, init_from=(fw,), hidden_size=H + 1))
    with pytest.raises(ValueError, match=rf"{fw} has model.hidden_size={H}, this run {H + 1}; "
                                         rf"set --config.model.hidden_size={H}"):
        train._transfer(job)
    with pytest.raises(ValueError, match="both read the text forward; name one run per"):
        transfer.plan([_source(fw), _source(fw, "/again")],
                      schema.resolve_config(_config(tmp_path))["model"], "label",
                      ["<pad>", "<unk>"], _like(tmp_path))
    clf = str(tmp_path / "clf")
    train.run(_config(tmp_path), clf, progress=False)
    with pytest.raises(ValueError, match=r"data.target='label'; accepted: a language model's"):
        train._transfer(train.build(_config(tmp_path, init_from=(clf,))))
    # a forward-only classifier takes the forward run's layer; the backward run gives none
    job = train.build(_config(tmp_path, init_from=(fw, bw), bidirectional=False))
    moved = train._transfer(job)
    assert set(moved.layers) == {"0/fw"} and moved.record[1]["direction"] is None


def _source(workdir, suffix=""):
    params, at = _params(workdir)
    cfg = schema.resolve_config(json.load(open(os.path.join(workdir, "config.json"))))
    return transfer.Source(workdir + suffix, cfg["data"]["target"], cfg["model"], params, at,
                           json.load(open(os.path.join(workdir, "vocab.json")))["words"])


def _like(tmp_path):
    job = train.build(_config(tmp_path))
    return jax.eval_shape(lambda: models.init(jax.random.key(0), job.model))
