"""Model heads: pooling, per-step outputs, embeddings, shapes and errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax import models
from lstmjax.tasks import TaskSpec

H = 5


def _model(output_kind="classify", pooling="last", bidirectional=True, tokens=False):
    rnn = lstmjax.LSTMConfig(input_size=3, hidden_size=H, bidirectional=bidirectional,
                             recurrent_init="glorot")
    return models.ModelConfig(rnn=rnn, input_kind="tokens" if tokens else "features",
                              output_kind=output_kind, num_outputs=1 if output_kind == "regress" else 4,
                              pooling=pooling, vocab_size=7 if tokens else None)


def _batch(tokens=False):
    rng = np.random.default_rng(0)
    lengths = np.array([6, 3, 1], np.int32)
    if tokens:
        x = rng.integers(1, 7, (3, 6)).astype(np.int32)
    else:
        x = rng.normal(size=(3, 6, 3)).astype(np.float32)
    return x, lengths


@functools.lru_cache(maxsize=None)
def _run(bidirectional):
    """One compile per direction setting: the network's outputs and the model's features."""
    cfg = _model(pooling="bilstm", bidirectional=bidirectional)

    @jax.jit
    def f(x, lengths):
        params = models.init(jax.random.key(1), cfg)
        _, feats = models.apply(params, cfg, x, lengths, return_features=True)
        ys, state = lstmjax.apply(params["rnn"], cfg.rnn, x, lengths)
        return feats, ys, state

    return f(*_batch())


def _features(pooling, bidirectional=True):
    model_feats, ys, state = _run(bidirectional)
    lengths = _batch()[1]
    feats = models.pool(ys, state, jnp.asarray(lengths), pooling)
    if pooling == "bilstm":  # models.apply pools the same way
        np.testing.assert_array_equal(model_feats, feats)
    return np.asarray(feats), np.asarray(ys), state, lengths


def test_last_pooling_is_output_at_last_valid_step():
    feats, ys, _, lengths = _features("last")
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(feats[b], ys[b, n - 1])


def test_bilstm_pooling_is_seed_sentence_vector():
    feats, ys, state, lengths = _features("bilstm")
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(feats[b, :H], ys[b, n - 1, :H])  # h_fw at len-1
        np.testing.assert_array_equal(feats[b, H:], ys[b, 0, H:])      # h_bw at 0
    np.testing.assert_array_equal(feats, lstmjax.sentence_representation(state))


def test_bilstm_pooling_equals_last_for_unidirectional():
    a, *_ = _features("bilstm", bidirectional=False)
    b, *_ = _features("last", bidirectional=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)


def test_mean_pooling_over_valid_steps_only():
    feats, ys, _, lengths = _features("mean")
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(feats[b], ys[b, :n].mean(0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind,shape", [("classify", (3, 4)), ("regress", (3,)),
                                        ("classify_per_step", (3, 6, 4))])
def test_output_shapes(kind, shape):
    cfg = _model(output_kind=kind)
    params = jax.eval_shape(lambda k: models.init(k, cfg), jax.random.key(0))
    x, lengths = _batch()
    out = jax.eval_shape(lambda p: models.apply(p, cfg, x, lengths), params)
    assert out.shape == shape


def test_token_embedding_and_padding_invariance():
    cfg = _model(tokens=True, pooling="bilstm")
    params = models.init(jax.random.key(0), cfg)
    assert params["embed"].shape == (7, 3)
    x, lengths = _batch(tokens=True)
    apply = jax.jit(lambda p, x: models.apply(p, cfg, x, lengths))
    out = apply(params, x)
    # changing tokens in the padding must not change anything
    x2 = x.copy()
    x2[1, 3:] = 6
    np.testing.assert_array_equal(out, apply(params, x2))


FIELDS = dict(cell="lstm", gates="standard", hidden_size=4, num_layers=1, bidirectional=False,
              pooling="last", embed_dim=6, dropout=0.0, embed_dropout=0.0, word_dropout=0.0,
              forget_bias=1.0, chrono_max_len=0.0,
              recurrent_init="orthogonal", unroll=1, remat=False, implementation="auto",
              form="auto", chunk=64, embeddings_path="", freeze_embeddings=False,
              ngram_order=0, ngram_buckets=64, ngram_dim=4, init_from=())


def test_from_task_and_errors():
    assert tuple(FIELDS) == models.MODEL_FIELDS
    spec = TaskSpec("t", "tokens", "classify", max_length=9, vocab_size=11, num_classes=3)
    cfg = models.from_task(spec, **{**FIELDS, "bidirectional": True, "pooling": "mean",
                                    "recurrent_init": "glorot"})
    assert cfg.rnn.input_size == 6 and cfg.num_outputs == 3 and cfg.vocab_size == 11
    with pytest.raises(ValueError, match="pooling='maximum'.*accepted"):
        models.from_task(spec, **{**FIELDS, "pooling": "maximum"})
    with pytest.raises(ValueError, match="cell='lstmx'"):
        models.from_task(spec, **{**FIELDS, "cell": "lstmx"})
    with pytest.raises(ValueError, match="gates='nog' applies only to cell='lstm'"):
        models.from_task(spec, **{**FIELDS, "cell": "gru", "gates": "nog"})
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'chunk'"):
        models.from_task(spec, **{k: v for k, v in FIELDS.items() if k != "chunk"})
    shapes = jax.eval_shape(lambda k: models.init(k, cfg), jax.random.key(0))
    assert shapes["embed"].shape == (11, 6) and shapes["head"]["w"].shape == (8, 3)


@pytest.mark.parametrize("cell", lstmjax.CELL_TYPES)
def test_every_cell_trains_through_models(cell):
    """Two SGD steps on a tiny task lower the loss, for every registered cell."""
    spec = TaskSpec("t", "features", "classify", max_length=6, input_dim=3, num_classes=2)
    cfg = models.from_task(spec, **{**FIELDS, "cell": cell, "bidirectional": True,
                                    "pooling": "bilstm"})
    x, lengths = _batch()
    y = jnp.array([0, 1, 1])

    def loss(p):
        logits = models.apply(p, cfg, x, lengths)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(3), y])

    step = jax.jit(jax.value_and_grad(loss))
    params = models.init(jax.random.key(0), cfg)
    losses = []
    for _ in range(3):
        value, grads = step(params)
        assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
        params = jax.tree.map(lambda p, g: p - 0.5 * g, params, grads)
        losses.append(float(value))
    assert losses[-1] < losses[0], (cell, losses)


def test_bilstm_pooling_uses_the_last_layer():
    """pooling="bilstm" (and sentence_representation's default) read the LAST layer's state."""
    rnn = lstmjax.LSTMConfig(input_size=3, hidden_size=H, num_layers=2, bidirectional=True)
    cfg = models.ModelConfig(rnn=rnn, output_kind="classify", num_outputs=4, pooling="bilstm")
    params = models.init(jax.random.key(2), cfg)
    x, lengths = _batch()
    _, feats = models.apply(params, cfg, x, lengths, return_features=True)
    ys, state = lstmjax.apply(params["rnn"], rnn, x, lengths)
    for b, n in enumerate(lengths):  # the top layer's outputs are ys
        np.testing.assert_array_equal(feats[b, :H], ys[b, n - 1, :H])
        np.testing.assert_array_equal(feats[b, H:], ys[b, 0, H:])
    np.testing.assert_array_equal(feats, lstmjax.sentence_representation(state, layer=1))
    assert not np.allclose(feats, lstmjax.sentence_representation(state, layer=0))


def test_init_is_seeded_by_fold_in():
    cfg = _model()
    a = models.init(jax.random.key(3), cfg)
    b = models.init(jax.random.key(3), cfg)
    c = models.init(jax.random.key(4), cfg)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a["head"]["w"], c["head"]["w"])
    assert isinstance(jnp.asarray(a["head"]["b"]), jax.Array)
