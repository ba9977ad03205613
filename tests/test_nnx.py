"""lstmjax.nnx.LSTM equals the functional API, for every option that matters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import lstmjax
import lstmjax.nnx as lnnx

XS = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
LENGTHS = np.array([6, 3, 1, 5], np.int32)
apply = lnnx._apply  # jax.jit(lstmjax.apply) with config static; the reference, compiled once


def random_params(config, seed=0):
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), config))
    return jax.tree.map(lambda s: rng.uniform(-0.5, 0.5, s.shape).astype(np.float32), shapes)


@pytest.mark.parametrize("config", [
    lstmjax.LSTMConfig(3, 4),
    lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True, gates="vanilla"),
    lstmjax.LSTMConfig(3, 4, num_layers=2, bidirectional=True),
    lstmjax.LSTMConfig(3, 4, bidirectional=True, gates="fgr"),
    lstmjax.LSTMConfig(3, 4, num_layers=2, cell="gru"),
], ids=["lstm", "bilstm2-vanilla", "bilstm2", "bilstm-fgr", "gru2"])
def test_module_equals_functional_api(config):
    model = lnnx.LSTM.from_params(random_params(config), config)
    reference = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), config))
    params = model.params  # the module's own params, structured as lstmjax.init's
    lstmjax.check_params(params, config)
    assert jax.tree.structure(params) == jax.tree.structure(reference)
    ys, state = model(XS, LENGTHS)
    ys_ref, state_ref = apply(params, config, XS, LENGTHS)
    np.testing.assert_array_equal(np.asarray(ys), np.asarray(ys_ref))
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 state, state_ref)


def test_from_params_jit_grad_and_state():
    config = lstmjax.LSTMConfig(3, 4)
    params = random_params(config, 1)
    model = lnnx.LSTM.from_params(params, config)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 model.params, params)
    paths = {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(
        nnx.to_pure_dict(nnx.state(model, nnx.Param)))[0]}
    assert "['layers'][0]['fw']['w_x']" in paths

    @nnx.jit
    def loss(m, xs, lengths):
        ys, _ = m(xs, lengths)
        return jnp.sum(ys ** 2)

    grads = nnx.grad(loss)(model, XS, LENGTHS)
    ref = jax.jit(jax.grad(lambda p: jnp.sum(lstmjax.apply(p, config, XS, LENGTHS)[0] ** 2)))(params)
    got = nnx.to_pure_dict(grads)["layers"]
    for layer in range(config.num_layers):
        for d in ("fw",):
            jax.tree.map(lambda a, b: np.testing.assert_allclose(
                np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6), got[layer][d], ref[layer][d])
    np.testing.assert_allclose(float(loss(model, XS, LENGTHS)),
                               float(jnp.sum(apply(params, config, XS, LENGTHS)[0] ** 2)),
                               rtol=1e-6)


def test_dropout_follows_rngs_and_eval_mode():
    config = lstmjax.LSTMConfig(3, 4, num_layers=2, dropout=0.5)
    model = lnnx.LSTM.from_params(random_params(config), config, rngs=nnx.Rngs(dropout=1))
    ys_det, _ = model(XS, deterministic=True)
    ys_ref, _ = apply(model.params, config, XS)
    np.testing.assert_array_equal(np.asarray(ys_det), np.asarray(ys_ref))
    ys_a, _ = model(XS, rngs=jax.random.key(7))
    ys_b, _ = apply(model.params, config, XS, dropout_key=jax.random.key(7))
    np.testing.assert_array_equal(np.asarray(ys_a), np.asarray(ys_b))
    assert not np.allclose(np.asarray(ys_a), np.asarray(ys_det))
    ys_1, _ = model(XS)  # the forked stream advances: a fresh mask per call
    ys_2, _ = model(XS)
    assert not np.allclose(np.asarray(ys_1), np.asarray(ys_2))
    model.eval()
    np.testing.assert_array_equal(np.asarray(model(XS)[0]), np.asarray(ys_det))
    model.train()
    no_rngs = lnnx.LSTM.from_params(model.params, config)
    with pytest.raises(ValueError, match="no rngs"):
        no_rngs(XS)


def test_init_from_rngs_is_lstmjax_init():
    config = lstmjax.LSTMConfig(3, 4)
    model = lnnx.LSTM(config, rngs=nnx.Rngs(params=3))
    ref = lstmjax.init(nnx.Rngs(params=3).params(), config)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 model.params, ref)


def test_errors():
    config = lstmjax.LSTMConfig(3, 4)
    with pytest.raises(ValueError, match="rngs"):
        lnnx.LSTM(config)
    with pytest.raises(TypeError, match="LSTMConfig"):
        lnnx.LSTM({"input_size": 3}, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\['b'\] has shape \(20,\), expected \(16,\)"):
        lnnx.LSTM.from_params(random_params(lstmjax.LSTMConfig(3, 5)), config)
    model = lnnx.LSTM.from_params(random_params(config), config)
    with pytest.raises(ValueError, match=r"lengths\[1\]=9 is outside \[1, T=6\]"):
        model(XS, np.array([6, 9, 1, 2], np.int32))
