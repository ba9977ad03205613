"""Every cell and every gate preset equals an independent NumPy loop (tests/reference.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax import cudnn, dispatch, fused_scan, min_rnn, native, recurrence
from lstmjax.cells import (GRUCell, IRNNCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCarry,
                           RNNCell)
from lstmjax.gates import PRESETS, GateConfig, get_gates

import reference

jax.config.update("jax_enable_x64", False)
B, T, D, H = 3, 6, 4, 5


def _xs(seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, D)).astype(np.float32)


def _randomize(params, seed=1):
    """Non-trivial values everywhere (init has zero biases)."""
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(tree, [jnp.asarray(rng.normal(scale=0.5, size=l.shape), l.dtype) for l in leaves])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_lstm_preset_matches_numpy(preset):
    gates = get_gates(preset)
    cell = LSTMCell(H, gates)
    params = _randomize(cell.init(jax.random.key(0), D))
    xs = _xs()
    ys, carry = lstmjax.scan(cell, params, jnp.asarray(xs))
    for b in range(B):
        ref_hs, ref_h, ref_c, _ = reference.lstm(params, gates, xs[b], H)
        np.testing.assert_allclose(ys[b], ref_hs, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(carry.h[b], ref_h, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(carry.c[b], ref_c, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell_cls,ref", [(RNNCell, reference.rnn), (GRUCell, reference.gru),
                                          (IRNNCell, reference.irnn)])
def test_rnn_and_gru_match_numpy(cell_cls, ref):
    cell = cell_cls(H)
    params = _randomize(cell.init(jax.random.key(0), D))
    xs = _xs()
    ys, carry = lstmjax.scan(cell, params, jnp.asarray(xs))
    for b in range(B):
        ref_hs, ref_h = ref(params, xs[b], H)
        np.testing.assert_allclose(ys[b], ref_hs, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(carry.h[b], ref_h, atol=1e-5, rtol=1e-5)


def test_hoisted_and_in_loop_projection_agree():
    cell = LSTMCell(H, PRESETS["vanilla"])
    params = _randomize(cell.init(jax.random.key(0), D))
    xs = jnp.asarray(_xs())
    a, _ = lstmjax.scan(cell, params, xs, hoist=True)
    b, _ = lstmjax.scan(cell, params, xs, hoist=False)
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("preset,check", [
    ("nfg", lambda a: np.allclose(a["f"], 1.0)),
    ("lstm1997", lambda a: np.allclose(a["f"], 1.0)),
    ("nig", lambda a: np.allclose(a["i"], 1.0)),
    ("nog", lambda a: np.allclose(a["o"], 1.0)),
    ("cifg", lambda a: np.allclose(a["f"], 1.0 - a["i"])),
    ("niaf", lambda a: not np.allclose(np.abs(a["g"]) <= 1.0, True)),  # linear candidate leaves [-1, 1]
])
def test_presets_change_what_they_say(preset, check):
    cell = LSTMCell(H, get_gates(preset))
    params = _randomize(cell.init(jax.random.key(0), D), seed=3)
    params = jax.tree.map(lambda v: v * 4.0, params)  # large pre-activations
    carry = cell.zero_carry(B)
    _, acts = cell.step_with_gates(params, carry, cell.project(params, jnp.asarray(_xs()[:, 0])))
    assert check({k: np.asarray(v) for k, v in acts.items()})
    # and the standard preset does none of it
    std = LSTMCell(H)
    p_std = jax.tree.map(lambda v: v * 4.0, _randomize(std.init(jax.random.key(0), D), seed=3))
    _, a_std = std.step_with_gates(p_std, std.zero_carry(B), std.project(p_std, jnp.asarray(_xs()[:, 0])))
    assert not check({k: np.asarray(v) for k, v in a_std.items()})


def test_noaf_output_is_not_squashed():
    cell = LSTMCell(H, get_gates("noaf"))
    params = _randomize(cell.init(jax.random.key(0), D))
    # saturate i, f, o and the candidate so that C grows by ~1 per step
    params["b"] = jnp.full_like(params["b"], 20.0)
    xs = jnp.asarray(_xs())
    _, acts = cell.step_with_gates(params, cell.zero_carry(B), cell.project(params, xs[:, 0]))
    np.testing.assert_allclose(acts["h"], acts["o"] * acts["c"], rtol=1e-6)  # h = o * C
    ys, carry = lstmjax.scan(cell, params, xs)
    assert np.abs(np.asarray(ys[:, -1])).min() > T - 1.0  # h ~ C ~ T: no tanh squashing
    ys_std, _ = lstmjax.scan(LSTMCell(H, get_gates("vanilla")), params, xs)
    assert np.abs(np.asarray(ys_std)).max() <= 1.0


def test_ablations_drop_their_parameters():
    count = lambda p: sum(v.size for v in jax.tree.leaves(p))
    std = count(LSTMCell(H).init(jax.random.key(0), D))
    assert std == (D + H + 1) * 4 * H
    assert count(LSTMCell(H, get_gates("nfg")).init(jax.random.key(0), D)) == (D + H + 1) * 3 * H + 2 * H
    assert count(LSTMCell(H, get_gates("cifg")).init(jax.random.key(0), D)) == (D + H + 1) * 3 * H + 2 * H
    assert count(LSTMCell(H, get_gates("vanilla")).init(jax.random.key(0), D)) == std + 3 * H
    assert count(LSTMCell(H, get_gates("fgr")).init(jax.random.key(0), D)) == std + 3 * H + (3 * H) ** 2


def test_forget_bias_and_chrono_init():
    p = LSTMCell(H, forget_bias=1.0).init(jax.random.key(0), D)
    b = np.asarray(p["b"]).reshape(4, H)
    np.testing.assert_array_equal(b[1], 1.0)
    np.testing.assert_array_equal(b[[0, 2, 3]], 0.0)
    p = LSTMCell(H, chrono_max_len=100.0).init(jax.random.key(0), D)
    b = np.asarray(p["b"]).reshape(4, H)
    assert np.all(b[1] >= 0.0) and np.all(b[1] <= np.log(99.0) + 1e-6)
    np.testing.assert_allclose(b[0], -b[1])
    assert np.std(b[1]) > 0.1  # drawn, not constant


def test_recurrent_kernel_blocks_are_orthogonal():
    p = LSTMCell(H).init(jax.random.key(0), D)
    for k in range(4):
        w = np.asarray(p["w_h"])[:, k * H:(k + 1) * H]
        np.testing.assert_allclose(w.T @ w, np.eye(H), atol=1e-5)


def test_cells_are_hashable_static_values():
    a, b = LSTMCell(H, get_gates("cifg")), LSTMCell(H, get_gates("cifg"))
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.hidden_size = 3


def test_gate_config_validation():
    with pytest.raises(ValueError, match="input_activation"):
        GateConfig(input_activation="relu")
    with pytest.raises(ValueError, match="coupled"):
        GateConfig(coupled=True, input_gate=False)
    with pytest.raises(ValueError, match="not a known preset.*standard"):
        get_gates("lstm2000")
    assert get_gates("CIFG") is PRESETS["cifg"]


def test_cifg_forget_bias_acts_through_the_input_gate():
    """f = 1 - i: forget bias b_f becomes b_i = -b_f, so f = σ(b_f) at init (zero inputs)."""
    for bias in (1.0, 2.0):
        cell = LSTMCell(H, get_gates("cifg"), forget_bias=bias)
        params = cell.init(jax.random.key(0), D)
        _, acts = cell.step_with_gates(params, cell.zero_carry(B), cell.project(params, jnp.zeros((B, D))))
        np.testing.assert_allclose(acts["f"], 1.0 / (1.0 + np.exp(-bias)), rtol=1e-6)
    chrono = LSTMCell(H, get_gates("cifg"), chrono_max_len=50.0).init(jax.random.key(0), D)
    assert np.all(np.asarray(chrono["b"])[:H] < 0)  # b_i = -log U[1, 49]


def test_gru_keep_init():
    """chrono_max_len > 0 on a GRU: b_z ~ log U[1, T_max - 1], so z = σ(b_z) starts in
    [1/2, (T_max-1)/T_max] and h = (1 - z)·n + z·h_prev keeps the state; nothing else moves."""
    plain = GRUCell(H).init(jax.random.key(0), D)
    keep = GRUCell(H, chrono_max_len=100.0).init(jax.random.key(0), D)
    b = np.asarray(keep["b"]).reshape(3, H)
    assert np.all(b[1] >= 0.0) and np.all(b[1] <= np.log(99.0) + 1e-6) and np.std(b[1]) > 0.1
    np.testing.assert_array_equal(b[[0, 2]], 0.0)
    for name in ("w_x", "w_h", "b_hn"):
        np.testing.assert_array_equal(keep[name], plain[name])
    np.testing.assert_array_equal(np.asarray(plain["b"]), 0.0)
    z = 1.0 / (1.0 + np.exp(-b[1]))  # the update gate at zero input and state
    assert np.all(z >= 0.5) and np.all(z <= 99.0 / 100.0 + 1e-6)
    # the step keeps h_prev with weight z: at x = 0, h_prev = 0 the keep init changes nothing
    cell = GRUCell(H, chrono_max_len=100.0)
    _, h = cell(keep, RNNCarry(jnp.zeros((B, H))), jnp.zeros((B, D)))
    np.testing.assert_array_equal(h, 0.0)
    assert lstmjax.make_cell("gru", H, chrono_max_len=100.0) == cell


# --------------------------------------------------------------------------- IRNN


def test_irnn_init_is_the_papers():
    """Le et al. 2015: W_h = I, b = 0, W_x ~ N(0, 0.001^2)."""
    p = IRNNCell(64).init(jax.random.key(0), 64)
    np.testing.assert_array_equal(p["w_h"], np.eye(64))
    np.testing.assert_array_equal(p["b"], 0.0)
    w = np.asarray(p["w_x"])
    assert abs(w.std() / 1e-3 - 1) < 0.05 and abs(w.mean()) < 1e-4  # 4096 draws
    assert lstmjax.make_cell("irnn", 64) == IRNNCell(64)


def test_irnn_copies_its_state_at_init_and_is_relu():
    """Zero input: ReLU(I·h) = h for h >= 0, exactly, at every step; negative
    pre-activations give 0 (a tanh cell would give a negative output)."""
    cell = IRNNCell(H)
    params = cell.init(jax.random.key(0), D)
    h0 = jnp.asarray(np.random.default_rng(0).uniform(0, 2, (B, H)), jnp.float32)
    ys, carry = lstmjax.scan(cell, params, jnp.zeros((B, T, D)), initial_carry=RNNCarry(h0))
    np.testing.assert_array_equal(carry.h, h0)
    np.testing.assert_array_equal(ys, np.broadcast_to(np.asarray(h0)[:, None], (B, T, H)))
    _, h = cell(params, RNNCarry(-h0), jnp.zeros((B, D)))
    np.testing.assert_array_equal(h, 0.0)


def test_irnn_runs_on_the_reference_driver_only():
    """No fused or native path may run the IRNN: each of them is tanh or gated."""
    cell = lstmjax.make_cell("irnn", H)
    for module in (fused_scan, native, cudnn, min_rnn):
        assert not module.serves(cell), module.__name__
    for backend in ("cpu", "gpu"):
        assert dispatch.driver(cell, backend=backend).func is recurrence.scan
        with pytest.raises(ValueError, match=r"implementation='native' has no kernel for IRNNCell"):
            dispatch.driver(cell, "native", backend=backend)
    with pytest.raises(ValueError, match=r"implementation='fast' has no driver for IRNNCell"):
        dispatch.driver(cell, "fast")
    # the default path ("auto") computes the ReLU recurrence, negative pre-activations included
    config = lstmjax.LSTMConfig(D, H, cell="irnn", bidirectional=True)
    params = _randomize(lstmjax.init(jax.random.key(0), config))
    xs = _xs()
    ys, _ = lstmjax.apply(params, config, jnp.asarray(xs))
    for b in range(B):
        ref_fw, _ = reference.irnn(params[0]["fw"], xs[b], H)
        ref_bw, _ = reference.irnn(params[0]["bw"], xs[b, ::-1], H)
        np.testing.assert_allclose(ys[b, :, :H], ref_fw, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(ys[b, :, H:], ref_bw[::-1], atol=1e-5, rtol=1e-5)
    assert np.any(ref_fw == 0.0)  # the ReLU acted


@pytest.mark.parametrize("field,value,message", [
    ("recurrent_init", "glorot", r"recurrent_init='glorot' does not apply to cell='irnn'"),
    ("forget_bias", 1.0, r"forget_bias=1.0 applies only to cell='lstm'"),
    ("chrono_max_len", 50.0, r"chrono_max_len=50.0 applies only to cell in"),
    ("gates", "cifg", r"gates='cifg' applies only to cell='lstm'"),
])
def test_irnn_refuses_what_it_does_not_use(field, value, message):
    with pytest.raises(ValueError, match=message):
        lstmjax.make_cell("irnn", H, **{field: value})


# --------------------------------------------------------------------------- min-RNN keep init

_T_MAX = 100.0


def test_min_rnn_init_without_chrono_is_unchanged():
    """chrono takes its own key (fold_in): without it the init is the one before keep init
    existed (Glorot w_x from the key itself, b = 0 but minLSTM's b_f = 1), and with it
    only the gate biases move."""
    key = jax.random.key(3)
    for cell, blocks in ((MinGRUCell(H), 2), (MinLSTMCell(H), 3)):
        plain = cell.init(key, D)
        want = lstmjax.cells._input_params(key, D, blocks, H, jnp.float32)
        if blocks == 3:
            want["b"] = want["b"].at[:H].set(1.0)
        jax.tree.map(np.testing.assert_array_equal, plain, want)
        keep = dataclasses.replace(cell, chrono_max_len=_T_MAX).init(key, D)
        np.testing.assert_array_equal(keep["w_x"], plain["w_x"])
        np.testing.assert_array_equal(np.asarray(keep["b"])[-H:], 0.0)  # h~ block


def _keep_biases(params, cell_type):
    """The bias whose sigmoid is the kept fraction per step at zero input, [H]."""
    b = np.asarray(params["b"])
    return -b[:H] if cell_type == "min_gru" else b[:H]


@pytest.mark.parametrize("cell_type", ["min_gru", "min_lstm"])
def test_min_rnn_keep_init_biases_lie_in_the_chrono_range(cell_type):
    """minGRU: b_z = -log u (z replaces the state); minLSTM: b_f = log u, b_i = -b_f;
    u ~ U[1, T_max - 1], drawn independently for each direction and layer."""
    cell = lstmjax.make_cell(cell_type, H, chrono_max_len=_T_MAX)
    assert cell.chrono_max_len == _T_MAX
    config = lstmjax.LSTMConfig(D, H, cell=cell_type, chrono_max_len=_T_MAX, bidirectional=True,
                                num_layers=2)
    params = lstmjax.init(jax.random.key(0), config)
    drawn = []
    for layer in params:
        for d in ("fw", "bw"):
            keep = _keep_biases(layer[d], cell_type)
            assert np.all(keep >= 0.0) and np.all(keep <= np.log(_T_MAX - 1) + 1e-6)
            assert np.std(keep) > 0.1
            if cell_type == "min_lstm":
                np.testing.assert_array_equal(np.asarray(layer[d]["b"])[H:2 * H], -keep)
            drawn.append(keep)
    for k, a in enumerate(drawn):  # independent keys: no two directions or layers share one
        for other in drawn[k + 1:]:
            assert not np.allclose(a, other)


@pytest.mark.parametrize("cell_type", ["min_gru", "min_lstm"])
def test_min_rnn_keep_init_retains_over_the_chrono_timescales(cell_type):
    """Under zero input, at init, a unit keeps sigma(b) of its distance to the fixed point
    g(0) = 0.5 per step: after t steps (u / (1 + u))^t with u ~ U[1, T_max - 1], i.e. a
    retention timescale 1 + u uniform on [2, T_max]. Checked on the outputs of the
    default driver against the expectation integrated in NumPy (not from the biases)."""
    n = 4000  # units: the mean of n values in [0, 1] has a standard error <= 0.5 / 63
    config = lstmjax.LSTMConfig(1, n, cell=cell_type, chrono_max_len=_T_MAX)
    params = lstmjax.init(jax.random.key(1), config)
    steps = int(_T_MAX)
    state0 = (({"fw": RNNCarry(jnp.full((1, n), 1.5))}),)
    ys, _ = lstmjax.apply(params, config, jnp.zeros((1, steps, 1)), initial_state=state0)
    kept = np.asarray(ys[0], np.float64) - 0.5  # [T, n], 1.0 at t = 0
    u = np.linspace(1.0, _T_MAX - 1.0, 200_001)
    for t in (1, 10, 30, 100):
        expected = np.trapezoid((u / (1 + u)) ** t, u) / (u[-1] - u[0])
        assert abs(kept[t - 1].mean() - expected) < 0.03, (t, kept[t - 1].mean(), expected)
    tau = 1.0 / (1.0 - kept[0])  # per unit: 1 + u
    assert tau.min() >= 2.0 - 1e-3 and tau.max() <= _T_MAX + 0.5
    assert abs(tau.mean() - (2.0 + _T_MAX) / 2) < 2.0  # uniform on [2, T_max]: sd 28 / 63
    # the default init forgets: minGRU keeps 1/2 per step, minLSTM sigma(1) (b_f = 1, b_i = 0)
    plain = lstmjax.LSTMConfig(1, n, cell=cell_type)
    ys0, _ = lstmjax.apply(lstmjax.init(jax.random.key(1), plain), plain,
                           jnp.zeros((1, steps, 1)), initial_state=state0)
    assert np.asarray(ys0[0, 29] - 0.5).max() < 0.01 < kept[29].mean()
