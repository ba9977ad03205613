"""Keras and Haiku against independent NumPy implementations of their conventions;
Flax linen and NNX against the live libraries; lossless round trips; clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx

import lstmjax
import lstmjax.nnx as lnnx
from lstmjax import interop

# the shapes and configs of two torch fixtures: compiled programs are shared across files
D, H, B, T = 3, 4, 4, 6
XS = np.random.default_rng(0).normal(size=(B, T, D)).astype(np.float32)
LENGTHS = np.array([6, 3, 1, 5], np.int32)
UNI = lstmjax.LSTMConfig(D, H)
BI2 = lstmjax.LSTMConfig(D, H, num_layers=2, bidirectional=True)
ATOL = 1e-5
apply = lnnx._apply  # jax.jit(lstmjax.apply) with config static, shared by the test files


def rand(rng, *shape):
    return rng.uniform(-0.6, 0.6, shape).astype(np.float32)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def assert_tree_equal(a, b):
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), a, b)


def valid(ys, lengths=LENGTHS):
    mask = np.arange(ys.shape[1])[None, :, None] < np.asarray(lengths)[:, None, None]
    return np.where(mask, np.asarray(ys), 0.0)


# --------------------------------------------------------------------------- NumPy references


def np_keras_step(w, x, h, c):
    """Keras LSTM: z = x·kernel + h·recurrent_kernel + bias, blocks (i, f, c, o)."""
    kernel, recurrent, bias = w
    z = x @ kernel + h @ recurrent + bias
    zi, zf, zc, zo = np.split(z, 4, axis=-1)
    c = sigmoid(zf) * c + sigmoid(zi) * np.tanh(zc)
    return sigmoid(zo) * np.tanh(c), c


def np_haiku_step(w, x, h, c):
    """hk.LSTM: gated = [x, h]·w + b, blocks (i, g, f, o), forget gate σ(f + 1)."""
    z = np.concatenate([x, h], axis=-1) @ w["w"] + w["b"]
    zi, zg, zf, zo = np.split(z, 4, axis=-1)
    c = sigmoid(zf + 1.0) * c + sigmoid(zi) * np.tanh(zg)
    return sigmoid(zo) * np.tanh(c), c


def np_run(step, layers, xs, lengths):
    """Stacked (bi)directional run, each sequence on its own valid steps; padded ys = 0.

    ``layers``: per layer a list of one (fw) or two (fw, bw) weight objects for ``step``.
    Returns ys and the final (h, c) per layer and direction.
    """
    h_in = xs.astype(np.float64)
    finals = []
    for dirs in layers:
        outs, fin = [], []
        for d, w in enumerate(dirs):
            ys = np.zeros(h_in.shape[:2] + (H,))
            fin_d = []
            for b in range(h_in.shape[0]):
                n = int(lengths[b])
                order = range(n) if d == 0 else range(n - 1, -1, -1)
                h, c = np.zeros(H), np.zeros(H)
                for t in order:
                    h, c = step(w, h_in[b, t], h, c)
                    ys[b, t] = h
                fin_d.append((h, c))
            outs.append(ys)
            fin.append((np.stack([f[0] for f in fin_d]), np.stack([f[1] for f in fin_d])))
        h_in = np.concatenate(outs, axis=-1)
        finals.append(fin)
    return h_in, finals


def check_against_reference(config, params, ys_ref, finals_ref, lengths=LENGTHS):
    ys, state = apply(params, config, XS, lengths)
    np.testing.assert_allclose(np.asarray(ys), ys_ref, atol=ATOL, rtol=0)
    for layer, fin in enumerate(finals_ref):
        for name, (h, c) in zip(("fw", "bw"), fin):
            np.testing.assert_allclose(np.asarray(state[layer][name].h), h, atol=ATOL, rtol=0)
            np.testing.assert_allclose(np.asarray(state[layer][name].c), c, atol=ATOL, rtol=0)


# --------------------------------------------------------------------------- Keras


def keras_weights(config, seed=0):
    """Per layer, what LSTM/Bidirectional(LSTM).get_weights() returns."""
    rng = np.random.default_rng(seed)
    layers = []
    for layer in range(config.num_layers):
        d_in = D if layer == 0 else config.output_size
        arrays = []
        for _ in range(config.num_directions):
            arrays += [rand(rng, d_in, 4 * H), rand(rng, H, 4 * H), rand(rng, 4 * H)]
        layers.append(arrays)
    return layers


@pytest.mark.parametrize("config", [UNI, BI2], ids=["uni", "bi2"])
def test_keras_matches_numpy_convention_and_round_trips(config):
    weights = keras_weights(config)
    source = weights[0] if config.num_layers == 1 else weights  # one layer's list works too
    got_config, params = interop.from_keras(source)
    assert got_config == config
    ref_layers = [[arrays[3 * d:3 * d + 3] for d in range(config.num_directions)] for arrays in weights]
    ys_ref, finals = np_run(np_keras_step, ref_layers, XS, LENGTHS)
    check_against_reference(config, params, ys_ref, finals)
    exported = interop.to_keras(params, config)
    assert_tree_equal(exported, weights)                             # keras -> lstmjax -> keras
    assert_tree_equal(interop.from_keras(exported, config)[1], params)  # and back, bitwise


def test_keras_dict_forms_and_no_bias():
    w = keras_weights(BI2)
    dict_layers = [{"forward": dict(zip(("kernel", "recurrent_kernel", "bias"), a[:3])),
                    "backward": dict(zip(("kernel", "recurrent_kernel", "bias"), a[3:]))} for a in w]
    assert_tree_equal(interop.from_keras(dict_layers)[1], interop.from_keras(w)[1])
    k, r, _ = keras_weights(UNI)[0]
    _, params = interop.from_keras([k, r])  # LSTM(use_bias=False).get_weights()
    np.testing.assert_array_equal(np.asarray(params[0]["fw"]["b"]), np.zeros(4 * H, np.float32))


# --------------------------------------------------------------------------- Haiku


def haiku_params(config, seed=1):
    rng = np.random.default_rng(seed)
    layers = []
    for layer in range(config.num_layers):
        d_in = D if layer == 0 else config.output_size
        layers.append([{"w": rand(rng, d_in + H, 4 * H), "b": rand(rng, 4 * H)}
                       for _ in range(config.num_directions)])
    return layers


def test_haiku_uni_stacked_matches_numpy_convention_and_round_trips():
    config = lstmjax.LSTMConfig(D, H, num_layers=3)
    layers = haiku_params(config)
    hk_params = {"lstm/linear": layers[0][0], "lstm_1/linear": layers[1][0],
                 "lstm_2/linear": layers[2][0]}
    # name order, not dict order: "lstm_10" would come after "lstm_2"
    got_config, params = interop.from_haiku(dict(reversed(list(hk_params.items()))))
    assert got_config == config
    ys_ref, finals = np_run(np_haiku_step, layers, XS, LENGTHS)
    check_against_reference(config, params, ys_ref, finals)
    exported = interop.to_haiku(params, config)
    assert list(exported) == ["lstm/linear", "lstm_1/linear", "lstm_2/linear"]
    for name in hk_params:  # exact up to the rounding of b_f + 1 - 1
        np.testing.assert_array_equal(exported[name]["w"], hk_params[name]["w"])
        np.testing.assert_allclose(exported[name]["b"], hk_params[name]["b"], rtol=0, atol=1e-7)
    _, back = interop.from_haiku(exported)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=2e-7), back, params)
    # the +1 lives in b_f (block 1 of i, f, g, o); haiku's f block is its block 2 of i, g, f, o
    np.testing.assert_allclose(np.asarray(params[0]["fw"]["b"][H:2 * H]),
                               hk_params["lstm/linear"]["b"][2 * H:3 * H] + 1.0, rtol=0, atol=1e-7)


def test_haiku_bidirectional_as_fw_bw_layers():
    layers = haiku_params(BI2)
    got_config, params = interop.from_haiku([{"fw": fw, "bw": bw} for fw, bw in layers])
    assert got_config == BI2
    ys_ref, finals = np_run(np_haiku_step, layers, XS, LENGTHS)
    check_against_reference(BI2, params, ys_ref, finals)
    exported = interop.to_haiku(params, BI2)
    assert isinstance(exported, list) and set(exported[0]) == {"fw", "bw"}


# --------------------------------------------------------------------------- Flax linen (live)


@pytest.mark.parametrize("cell_cls", [nn.LSTMCell, nn.OptimizedLSTMCell])
def test_flax_linen_bidirectional_live(cell_cls):
    layer = nn.Bidirectional(nn.RNN(cell_cls(H)), nn.RNN(cell_cls(H)), return_carry=True)
    v0 = jax.eval_shape(lambda: layer.init(jax.random.key(0), XS, seq_lengths=LENGTHS))
    v1 = jax.eval_shape(lambda: layer.init(jax.random.key(1), jnp.zeros((B, T, 2 * H)),
                                           seq_lengths=LENGTHS))
    rng = np.random.default_rng(2)  # random values, biases too, so that all are checked
    v0, v1 = (jax.tree.map(lambda a: jnp.asarray(rand(rng, *a.shape)), v) for v in (v0, v1))
    run = jax.jit(lambda v, x: layer.apply(v, x, seq_lengths=LENGTHS))
    (c0_fw, c0_bw), ys0 = run(v0, XS)
    (c1_fw, c1_bw), ys1 = run(v1, ys0)
    config, params = interop.from_flax_linen([v0, v1])
    assert config == BI2
    ys, state = apply(params, config, XS, LENGTHS)
    np.testing.assert_allclose(np.asarray(ys), valid(ys1), atol=ATOL, rtol=0)
    for layer_idx, (fw, bw) in enumerate([(c0_fw, c0_bw), (c1_fw, c1_bw)]):
        for name, (c, h) in (("fw", fw), ("bw", bw)):  # linen's carry is (c, h)
            np.testing.assert_allclose(np.asarray(state[layer_idx][name].h), np.asarray(h), atol=ATOL)
            np.testing.assert_allclose(np.asarray(state[layer_idx][name].c), np.asarray(c), atol=ATOL)
    # export: the params flax expects, bitwise, and back
    exported = interop.to_flax_linen(params, config, layout="flax")
    assert_tree_equal(exported, [v0["params"], v1["params"]])
    assert_tree_equal(interop.from_flax_linen(exported)[1], params)


def test_flax_linen_single_cell_and_rnn_wrapper():
    cell = nn.LSTMCell(H)  # structure only (outputs are checked live above)
    carry = (jnp.zeros((B, H)), jnp.zeros((B, H)))
    shapes = jax.eval_shape(lambda: cell.init(jax.random.key(1), carry, XS[:, 0]))
    rng = np.random.default_rng(4)
    variables = jax.tree.map(lambda a: rand(rng, *a.shape), shapes)
    config, params = interop.from_flax_linen(variables)  # {"params": {ii, if, ...}}
    assert config == UNI
    assert_tree_equal(interop.from_flax_linen({"cell": variables["params"]})[1], params)
    assert_tree_equal(interop.to_flax_linen(params, config)[0]["fw"], variables["params"])
    assert_tree_equal(interop.to_flax_linen(params, config, layout="flax")[0]["cell"],
                      variables["params"])
    np.testing.assert_array_equal(np.asarray(params[0]["fw"]["w_x"][:, H:2 * H]),
                                  variables["params"]["if"]["kernel"])


# --------------------------------------------------------------------------- Flax NNX (live)


@pytest.mark.parametrize("cell_cls", [nnx.LSTMCell, nnx.OptimizedLSTMCell])
def test_flax_nnx_live(cell_cls):
    rngs = nnx.Rngs(0)
    bi = nnx.Bidirectional(nnx.RNN(cell_cls(D, H, rngs=rngs)), nnx.RNN(cell_cls(D, H, rngs=rngs)),
                           return_carry=True, rngs=rngs)
    rng = np.random.default_rng(3)  # random values, biases too
    state = nnx.state(bi, nnx.Param)
    nnx.update(bi, jax.tree.map(lambda a: jnp.asarray(rand(rng, *a.shape)), state))
    (fw, bw), ys_ref = bi(XS, seq_lengths=LENGTHS)
    config, params = interop.from_flax_nnx(bi)  # the module itself ...
    assert config == lstmjax.LSTMConfig(D, H, bidirectional=True)
    assert_tree_equal(interop.from_flax_nnx(nnx.state(bi, nnx.Param))[1], params)  # ... or state
    ys, st = apply(params, config, XS, LENGTHS)
    np.testing.assert_allclose(np.asarray(ys), valid(ys_ref), atol=ATOL)
    for name, (c, h) in (("fw", fw), ("bw", bw)):  # nnx's carry is (c, h)
        np.testing.assert_allclose(np.asarray(st[0][name].h), np.asarray(h), atol=ATOL)
        np.testing.assert_allclose(np.asarray(st[0][name].c), np.asarray(c), atol=ATOL)
    # export into a fresh module: the same outputs; and back, bitwise
    optimized = cell_cls is nnx.OptimizedLSTMCell
    fresh = nnx.Bidirectional(nnx.RNN(cell_cls(D, H, rngs=nnx.Rngs(9))),
                              nnx.RNN(cell_cls(D, H, rngs=nnx.Rngs(9))), return_carry=True,
                              rngs=nnx.Rngs(9))
    exported = interop.to_flax_nnx(params, config, optimized=optimized, layout="flax")
    nnx.update(fresh, exported[0])
    assert_tree_equal(nnx.to_pure_dict(nnx.state(fresh, nnx.Param)), nnx.to_pure_dict(state))
    assert_tree_equal(interop.from_flax_nnx(exported)[1], params)
    stacked = interop.to_flax_nnx(random_params(BI2), BI2, optimized=optimized)
    assert_tree_equal(interop.from_flax_nnx(stacked)[1], random_params(BI2))


def random_params(config, seed=0):
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), config))
    return jax.tree.map(lambda s: rand(rng, *s.shape), shapes)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_key_and_shapes():
    w = keras_weights(BI2)
    with pytest.raises(ValueError, match=r"direction\(s\).*bidirectional=False"):
        interop.from_keras(w, lstmjax.LSTMConfig(D, H, num_layers=2))
    with pytest.raises(ValueError, match=r"2 layer\(s\) but config.num_layers=1"):
        interop.from_keras(w, lstmjax.LSTMConfig(D, H, bidirectional=True))
    bad = [list(a) for a in w]
    bad[1][4] = np.zeros((H, 4 * H + 1), np.float32)
    with pytest.raises(ValueError, match=r"weights\[1\]\['backward'\]/recurrent_kernel\" has shape "
                                         r"\(4, 17\), expected \(4, 16\) \(input_size=8, hidden_size=4\)"):
        interop.from_keras(bad)
    with pytest.raises(ValueError, match=r"weights\[0\] has arrays of shapes \[\(3, 16\), \(4, 16\), \(2, 2, 2\)\]"):
        interop.from_keras([w[0][:1] + w[0][1:2] + [np.zeros((2, 2, 2), np.float32)]])
    bad[1][4] = np.zeros((H + 1, 4 * H), np.float32)
    with pytest.raises(ValueError, match=r"recurrent_kernel\" has shape \(5, 16\), expected \(4, 16\)"):
        interop.from_keras(bad)
    linen = interop.to_flax_linen(interop.from_keras(w)[1], BI2)
    del linen[0]["bw"]["hf"]["bias"]
    with pytest.raises(ValueError, match=r"key \"variables\[0\]\['bw'\]/hf/bias\" is missing "
                                         r"\(expected shape \(4,\)\)"):
        interop.from_flax_linen(linen)
    linen[0]["bw"]["hf"]["bias"] = np.zeros(H, np.float32)
    linen[0]["bw"]["ii"]["bias"] = np.zeros(H, np.float32)
    with pytest.raises(ValueError, match=r"key .*ii/bias.* with shape \(4,\) is not expected"):
        interop.from_flax_linen(linen)
    with pytest.raises(ValueError, match=r"has shapes \{'lstm/linear/kernel': \(7, 16\)\}, expected w \[D\+H, 4H\]"):
        interop.from_haiku({"lstm/linear": {"kernel": np.zeros((7, 16), np.float32)}})
    # w with a column count that is no multiple of 4: the message names the shapes (issue 14)
    with pytest.raises(ValueError, match=r"haiku: params\['lstm/linear'\] has shapes \{'b': "
                                         r"\(16,\), 'w': \(7, 10\)\}, expected w \[D\+H, 4H\] \(columns"):
        interop.from_haiku({"lstm/linear": {"w": np.zeros((7, 10), np.float32),
                                            "b": np.zeros(16, np.float32)}})


@pytest.mark.parametrize("to", [interop.to_keras, interop.to_flax_linen, interop.to_flax_nnx,
                                interop.to_haiku])
def test_non_standard_gates_raise_on_export(to):
    config = lstmjax.LSTMConfig(D, H, gates="nog")
    shapes = jax.eval_shape(lambda: lstmjax.init(jax.random.key(0), config))
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    with pytest.raises(ValueError, match=r"cannot express gates='nog' \(output_gate=False, peepholes=True\)"):
        to(params, config)


def test_gru_is_not_a_keras_lstm():
    with pytest.raises(ValueError, match=r"has no cell='gru'"):
        interop.from_keras(keras_weights(UNI), lstmjax.LSTMConfig(D, H, cell="gru"))
