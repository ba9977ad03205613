"""Every cell and every gate preset equals an independent NumPy loop (tests/reference.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax.cells import GRUCell, LSTMCell, RNNCarry, RNNCell
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


@pytest.mark.parametrize("cell_cls,ref", [(RNNCell, reference.rnn), (GRUCell, reference.gru)])
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
