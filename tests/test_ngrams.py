"""The bag of hashed n-grams beside the recurrence (``model.ngram_order``): the equation
against a Python reference, exact padding, refusals, parameter counting, training with
and without it, and that committed records and checkpoints from before the field match."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import sweep
from lstmjax import api, budget, models, schema, train

from train_helpers import tiny


def _model(order=2, buckets=97, dim=5, **kw):
    rnn = api.LSTMConfig(input_size=8, hidden_size=6, bidirectional=True)
    return models.ModelConfig(rnn=rnn, input_kind="tokens", vocab_size=50, pooling="bilstm",
                              ngram_order=order, ngram_buckets=buckets, ngram_dim=dim, **kw)


def _fnv(ids, n, buckets):
    h = (2166136261 ^ n) & 0xFFFFFFFF
    for i in ids:
        h = ((h ^ i) * 16777619) & 0xFFFFFFFF
    return h % buckets


def _reference_bag(table, seq, order):
    rows = [table[_fnv(seq[t:t + n], n, table.shape[0])]
            for n in range(1, order + 1) for t in range(len(seq) - n + 1)]
    return np.mean(rows, axis=0)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_bag_is_the_mean_of_hashed_ngram_rows_inside_each_sequence(order):
    mc = _model(order)
    params = models.init(jax.random.key(0), mc)
    x = jnp.array([[3, 4, 5, 0, 0], [7, 8, 9, 10, 11], [6, 0, 0, 0, 0]])
    lengths = jnp.array([3, 5, 1])
    _, feats = models.apply(params, mc, x, lengths, return_features=True)
    assert feats.shape == (3, mc.rnn.output_size + 5) == (3, mc.feature_size)
    table = np.asarray(params["ngrams"])
    for row, seq in enumerate([[3, 4, 5], [7, 8, 9, 10, 11], [6]]):
        np.testing.assert_allclose(feats[row, mc.rnn.output_size:],
                                   _reference_bag(table, seq, order), atol=1e-6)
    # what lies in the padding never matters
    noisy = x.at[0, 3:].set(42).at[2, 1:].set(17)
    np.testing.assert_array_equal(models.apply(params, mc, noisy, lengths),
                                  models.apply(params, mc, x, lengths))


def test_order_zero_is_the_model_without_a_bag():
    mc = _model(0)
    params = models.init(jax.random.key(0), mc)
    assert "ngrams" not in params and params["head"]["w"].shape[0] == mc.rnn.output_size
    assert mc.feature_size == mc.rnn.output_size


@pytest.mark.parametrize("field, value, fragment", [
    ("ngram_order", -1, "ngram_order=-1 must be an int >= 0"),
    ("ngram_buckets", 0, "ngram_buckets=0 must be an int >= 1"),
    ("ngram_dim", 2.5, "ngram_dim=2.5 must be an int >= 1"),
])
def test_bad_ngram_fields_are_refused_in_one_line(field, value, fragment):
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
        _model(**{"order": 2, "buckets": 97, "dim": 5,
                  **{field.replace("ngram_", ""): value}})


def test_a_bag_on_feature_inputs_is_refused():
    with pytest.raises(ValueError, match="ngram_order=2 applies to token inputs"):
        train.build(tiny(data={"name": "adding", "length": 20, "num_examples": 64,
                               "num_eval_examples": 16}, model={"ngram_order": 2}))


def _text(tmp_path, **model):
    rows = [["good fine great", "pos"], ["bad awful poor", "neg"], ["not bad at all", "pos"],
            ["not good at all", "neg"]] * 24
    with open(tmp_path / "t.csv", "w", newline="") as f:
        csv.writer(f).writerows([["text", "label"]] + rows)
    return {"steps": 4, "batch_size": 8, "eval_every": 0, "checkpoint_every": 0,
            "plot": False, "pad_to": "max_length",
            "data": {"name": "text_file", "path": str(tmp_path / "t.csv"), "max_length": 6},
            "model": {"hidden_size": 4, "embed_dim": 4, **model}}


def test_the_bag_trains_counts_and_changes_the_weights(tmp_path):
    cfg = _text(tmp_path, ngram_order=2, ngram_buckets=64, ngram_dim=3)
    job = train.build(cfg)
    params = models.init(jax.random.key(0), job.model)
    assert budget.estimate(job.model, 4, 6)["params"] == models.num_params(params)
    with_bag = train.run(cfg, None, progress=False)
    without = train.run(_text(tmp_path), None, progress=False)
    assert with_bag["num_params"] == without["num_params"] + 64 * 3 + 3 * 2
    assert with_bag["params_sha256"] != without["params_sha256"]
    assert np.isfinite(with_bag["final_eval"]["loss"])


def test_records_and_checkpoints_from_before_the_bag_still_match():
    """A sweep record or checkpoint written before ``ngram_*`` existed is the same run."""
    cfg = schema.resolve_config(tiny())
    old = json.loads(json.dumps(cfg))
    for k in ("ngram_order", "ngram_buckets", "ngram_dim"):
        del old["model"][k]
    assert schema.fingerprint(old) == schema.fingerprint(cfg)
    record = {"config": old, "config_sha256": sweep.config_sha256(old)}
    assert sweep.same_config(record, cfg)
    on = json.loads(json.dumps(cfg))
    on["model"]["ngram_order"] = 2
    assert not sweep.same_config(record, on)
    assert schema.fingerprint(on) != schema.fingerprint(cfg)
