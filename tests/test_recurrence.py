"""The scan driver's padding semantics, bidirectional realignment, stacking, Flax equality."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

import lstmjax

D, H = 3, 4
_CONFIGS = {
    (cell, bi, layers): lstmjax.LSTMConfig(D, H, num_layers=layers, bidirectional=bi, cell=cell,
                                           gates="vanilla" if cell == "lstm" else "standard")
    # a few configs cover every code path; each new shape costs a compile
    for cell, bi, layers in (("lstm", True, 2), ("lstm", True, 1), ("gru", True, 1), ("rnn", False, 1),
                             ("irnn", True, 1))
}
_PARAMS = {k: lstmjax.init(jax.random.key(7), c) for k, c in _CONFIGS.items()}
# the IRNN's init (W_h = I, W_x ~ N(0, 1e-6)) keeps every output near 0: random weights
# (some negative pre-activations, so the ReLU acts) make the padding checks bite
_PARAMS[("irnn", True, 1)] = jax.tree.map(
    lambda p: jnp.asarray(np.random.default_rng(1).normal(scale=0.5, size=p.shape), p.dtype),
    _PARAMS[("irnn", True, 1)])
_apply = jax.jit(lstmjax.apply, static_argnums=1)


@st.composite
def padded_batches(draw):
    batch, steps = 3, 6  # fixed shape: one compile per config for the padded batch
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    xs = np.random.default_rng(seed).normal(size=(batch, steps, D)).astype(np.float32)
    # garbage in the padding must not leak into anything
    for b, n in enumerate(lengths):
        xs[b, n:] = 1e3
    return xs, np.asarray(lengths, np.int32)


@settings(max_examples=12, deadline=None)
@given(padded_batches(), st.sampled_from(sorted(_CONFIGS)))
def test_padded_batch_equals_each_sequence_alone(batch, key):
    xs, lengths = batch
    config, params = _CONFIGS[key], _PARAMS[key]
    ys, state = _apply(params, config, jnp.asarray(xs), jnp.asarray(lengths))
    ys = np.asarray(ys)
    for b, n in enumerate(lengths):
        ys_b, state_b = _apply(params, config, jnp.asarray(xs[b:b + 1, :n]))
        np.testing.assert_allclose(ys[b, :n], ys_b[0], atol=1e-5)
        assert np.all(ys[b, n:] == 0.0), "outputs at padded steps must be exactly 0"
        for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(state_b)):
            np.testing.assert_allclose(np.asarray(got)[b], np.asarray(want)[0], atol=1e-5)


@settings(max_examples=12, deadline=None)
@given(padded_batches(), st.sampled_from(["lstm", "irnn"]))
def test_backward_direction_reverses_within_length(batch, cell):
    xs, lengths = batch
    config, params = _CONFIGS[(cell, True, 1)], _PARAMS[(cell, True, 1)]
    fw_only = lstmjax.LSTMConfig(D, H, cell=cell, gates=config.gates)
    ys, state = _apply(params, config, jnp.asarray(xs), jnp.asarray(lengths))
    for b, n in enumerate(lengths):
        rev = xs[b:b + 1, :n][:, ::-1].copy()
        ys_rev, state_rev = _apply([{"fw": params[0]["bw"]}], fw_only, jnp.asarray(rev))
        # backward output at t equals a forward run over the reversed prefix at n-1-t
        np.testing.assert_allclose(ys[b, :n, H:], np.asarray(ys_rev)[0, ::-1], atol=1e-5)
        np.testing.assert_allclose(state[0]["bw"].h[b], state_rev[0]["fw"].h[0], atol=1e-5)
        # the seed's sentence vector: [h_fw at n-1 ; h_bw at 0]
        sent = lstmjax.sentence_representation(state)[b]
        np.testing.assert_allclose(sent, np.concatenate([ys[b, n - 1, :H], ys[b, 0, H:]]), atol=1e-6)


def test_initial_carry_is_used_and_kept_through_padding():
    config = lstmjax.LSTMConfig(D, H)
    params = lstmjax.init(jax.random.key(0), config)
    state0 = jax.tree.map(lambda z: z + 0.5, lstmjax.initial_state(config, 2))
    xs = jnp.ones((2, 3, D))
    ys_a, _ = lstmjax.apply(params, config, xs, initial_state=state0)
    ys_b, _ = lstmjax.apply(params, config, xs)
    assert not np.allclose(ys_a, ys_b)
    # a reversed scan keeps the initial carry until the sequence's last valid step
    cell = config.make_cell()
    carry0 = jax.tree.map(lambda z: z[:1], state0[0]["fw"])
    ys_r, _ = lstmjax.scan(cell, params[0]["fw"], xs[:1], jnp.array([2]), reverse=True,
                           initial_carry=carry0)
    ys_1, _ = lstmjax.scan(cell, params[0]["fw"], xs[:1, 1::-1], initial_carry=carry0)
    np.testing.assert_allclose(ys_r[0, :2], ys_1[0, ::-1], atol=1e-6)


def _flax_lstm_params(p, H):
    """Our fused (i, f, g, o) kernels -> Flax linen LSTMCell's per-gate Dense params."""
    cell = {}
    for k, g in enumerate("ifgo"):
        sl = slice(k * H, (k + 1) * H)
        cell["i" + g] = {"kernel": p["w_x"][:, sl]}
        cell["h" + g] = {"kernel": p["w_h"][:, sl], "bias": p["b"][sl]}
    return {"cell": cell}


def test_standard_equals_flax_lstm_and_bidirectional():
    B, T = 3, 5
    config = lstmjax.LSTMConfig(D, H, bidirectional=True)
    params = lstmjax.init(jax.random.key(1), config)
    params = jax.tree.map(lambda v: v + 0.1, params)
    xs = jax.random.normal(jax.random.key(2), (B, T, D))
    lengths = jnp.array([5, 2, 4])
    ys, state = lstmjax.apply(params, config, xs, lengths)

    fw = nn.RNN(nn.LSTMCell(H))
    ys_fw = fw.apply({"params": _flax_lstm_params(params[0]["fw"], H)}, xs, seq_lengths=lengths)
    bi = nn.Bidirectional(nn.RNN(nn.LSTMCell(H)), nn.RNN(nn.LSTMCell(H)))
    flax_params = {"forward_rnn": _flax_lstm_params(params[0]["fw"], H),
                   "backward_rnn": _flax_lstm_params(params[0]["bw"], H)}
    ys_bi = bi.apply({"params": flax_params}, xs, seq_lengths=lengths)
    for b, n in enumerate(np.asarray(lengths)):
        np.testing.assert_allclose(ys[b, :n, :H], ys_fw[b, :n], atol=1e-5)
        np.testing.assert_allclose(ys[b, :n], ys_bi[b, :n], atol=1e-5)


def test_stacked_layers_feed_each_other_and_dropout_needs_a_key():
    config = lstmjax.LSTMConfig(D, H, num_layers=2, bidirectional=True, dropout=0.5)
    params = lstmjax.init(jax.random.key(0), config)
    xs = jax.random.normal(jax.random.key(1), (2, 4, D))
    ys, state = lstmjax.apply(params, config, xs)
    one = lstmjax.LSTMConfig(D, H, bidirectional=True)
    h1, _ = lstmjax.apply(params[:1], one, xs)
    one2 = lstmjax.LSTMConfig(2 * H, H, bidirectional=True)
    h2, _ = lstmjax.apply(params[1:], one2, h1)
    np.testing.assert_allclose(ys, h2, atol=1e-6)  # no key: deterministic, no dropout
    yd1, _ = lstmjax.apply(params, config, xs, dropout_key=jax.random.key(3))
    yd2, _ = lstmjax.apply(params, config, xs, dropout_key=jax.random.key(3))
    yd3, _ = lstmjax.apply(params, config, xs, dropout_key=jax.random.key(4))
    np.testing.assert_array_equal(yd1, yd2)
    assert not np.allclose(yd1, ys) and not np.allclose(yd1, yd3)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients(bidirectional):
    config = lstmjax.LSTMConfig(2, 3, bidirectional=bidirectional, gates="vanilla")
    params = lstmjax.init(jax.random.key(0), config)
    xs = jax.random.normal(jax.random.key(1), (2, 4, 2))
    lengths = jnp.array([4, 2])

    def f(params, xs):
        ys, state = lstmjax.apply(params, config, xs, lengths)
        return jnp.sum(ys ** 2) + jnp.sum(lstmjax.sentence_representation(state))

    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda v: v.astype(jnp.float64), params)
        check_grads(f, (p64, xs.astype(jnp.float64)), order=1, modes=("rev",), atol=1e-4, rtol=1e-4)


def test_remat_and_unroll_do_not_change_numbers():
    base = lstmjax.LSTMConfig(D, H, bidirectional=True)
    params = lstmjax.init(jax.random.key(0), base)
    xs = jax.random.normal(jax.random.key(1), (2, 9, D))
    lengths = jnp.array([9, 4])

    def loss(cfg):
        return jax.value_and_grad(lambda p: jnp.sum(lstmjax.apply(p, cfg, xs, lengths)[0] ** 2))(params)

    v0, g0 = loss(base)
    for cfg in (lstmjax.LSTMConfig(D, H, bidirectional=True, remat=True),
                lstmjax.LSTMConfig(D, H, bidirectional=True, unroll=4)):
        v, g = loss(cfg)
        np.testing.assert_allclose(v, v0, rtol=1e-6)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g0)):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_length_mask_is_the_one_before_length_mask():
    """[B, T], True at t < length; the drivers' padding mask is its time-major form."""
    lengths = jnp.array([2, 3, 1])
    want = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], bool)
    np.testing.assert_array_equal(lstmjax.recurrence.length_mask(lengths, 3), want)
    np.testing.assert_array_equal(lstmjax.recurrence.padding_mask(lengths, 3), want.T[..., None])
    assert lstmjax.recurrence.padding_mask(None, 3) is None
