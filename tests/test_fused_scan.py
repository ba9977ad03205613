"""The fast driver against the plain reference driver: outputs and gradients within 1e-5."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lstmjax
from lstmjax import dispatch, fused_scan, recurrence
from lstmjax.cells import make_cell
from lstmjax.gates import PRESETS

B, T, D, H = 3, 6, 4, 5
TOL = 1e-5


def _xs():
    return jax.random.normal(jax.random.key(0), (B, T, D))


def _loss_and_grads(config, params, xs, lengths, initial_state=None):
    """Value, outputs, final state and grads w.r.t. params, xs and the initial state."""
    weights = jnp.sin(jnp.arange(B * T * config.output_size, dtype=jnp.float32)).reshape(
        B, T, config.output_size)

    def loss(p, x, s0):
        ys, state = lstmjax.apply(p, config, x, lengths, initial_state=s0)
        leaves = jax.tree.leaves(state)
        return jnp.sum(ys * weights) + sum(0.3 * jnp.sum(v) for v in leaves), (ys, state)

    (value, aux), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(
        params, xs, initial_state)
    return value, aux, grads


def _assert_close(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=TOL, rtol=TOL)


def _compare(config_kwargs, lengths=None, with_state=False):
    ref_cfg = lstmjax.LSTMConfig(D, H, implementation="reference", **config_kwargs)
    fast_cfg = lstmjax.LSTMConfig(D, H, implementation="fast", **config_kwargs)
    params = lstmjax.init(jax.random.key(1), ref_cfg)
    xs = _xs()
    state = None
    if with_state:
        zero = lstmjax.initial_state(ref_cfg, B)
        state = jax.tree.map(lambda z: jax.random.normal(jax.random.key(7), z.shape), zero)
    ref = _loss_and_grads(ref_cfg, params, xs, lengths, state)
    got = _loss_and_grads(fast_cfg, params, xs, lengths, state)
    _assert_close(got, ref)
    return got


LENGTHS = jnp.array([6, 3, 1])


# A fast subset exercises every code switch (peepholes, coupling, linear activation, absent
# gate); the full sweep over every preset the fast path serves is marked slow.
_FAST_SUBSET = ("standard", "vanilla", "cifg", "noaf", "lstm1997")


@pytest.mark.parametrize("preset", [  # FGR: no fast driver (test_serves_and_dispatch)
    p if p in _FAST_SUBSET else pytest.param(p, marks=pytest.mark.slow)
    for p in sorted(PRESETS) if p != "fgr"])
def test_every_preset_bidirectional_with_lengths(preset):
    _compare({"gates": preset, "bidirectional": True}, LENGTHS)


def test_no_lengths():
    _compare({"bidirectional": True})


def test_unidirectional_with_lengths_and_initial_state():
    _compare({"gates": "vanilla"}, LENGTHS, with_state=True)


def test_stacked_unroll_and_remat():
    _compare({"num_layers": 2, "bidirectional": True, "unroll": 2}, LENGTHS)
    _compare({"remat": True, "gates": "cifg"}, LENGTHS)


def test_remat_chunks_with_uneven_tail():
    cell = make_cell("lstm", H, gates="vanilla")
    params = cell.init(jax.random.key(2), D)
    xs = _xs()
    for reverse in (False, True):
        def loss(driver, p, x, **kw):
            ys, c = driver(cell, p, x, LENGTHS, reverse=reverse, **kw)
            return jnp.sum(ys * ys) + jnp.sum(c.c), (ys, c)

        ref = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(recurrence.scan, params, xs)
        got = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(
            fused_scan.scan, params, xs, remat=True, remat_chunk_size=4)  # 6 = 4 + 2 (padded tail)
        _assert_close(got, ref)


def test_padded_outputs_are_exactly_zero():
    cfg = lstmjax.LSTMConfig(D, H, bidirectional=True, implementation="fast")
    params = lstmjax.init(jax.random.key(1), cfg)
    ys, _ = lstmjax.apply(params, cfg, _xs(), LENGTHS)
    mask = np.arange(T)[None, :] < np.asarray(LENGTHS)[:, None]
    assert np.all(np.asarray(ys)[~mask] == 0.0)


def test_serves_and_dispatch():
    assert fused_scan.serves(make_cell("lstm", H))
    assert not fused_scan.serves(make_cell("lstm", H, gates="fgr"))
    assert not fused_scan.serves(make_cell("gru", H))
    assert dispatch.driver(make_cell("lstm", H), "fast").func is fused_scan.scan
    # where no native kernel serves the cell, "auto" runs the LSTM on fused_scan.scan (on GPU,
    # cuDNN serves the standard preset only)
    assert dispatch.driver(make_cell("lstm", H, gates="vanilla"), backend="gpu").func is fused_scan.scan
    assert dispatch.driver(make_cell("lstm", H), backend="tpu").func is fused_scan.scan
    # cells it does not serve: "auto" runs them on the reference driver; "fast" raises
    for cell in (make_cell("gru", H), make_cell("lstm", H, gates="fgr")):
        assert dispatch.driver(cell, "reference").func is recurrence.scan
        with pytest.raises(ValueError, match="implementation='fast' has no driver for"):
            dispatch.driver(cell, "fast")
    assert dispatch.driver(make_cell("lstm", H, gates="fgr")).func is recurrence.scan
    with pytest.raises(ValueError, match="implementation='fast' has no driver for GRUCell"):
        lstmjax.LSTMConfig(D, H, cell="gru", implementation="fast")
    with pytest.raises(ValueError, match="fused_scan.scan serves LSTM cells"):
        fused_scan.scan(make_cell("gru", H), {}, _xs())
    with pytest.raises(TypeError, match="hoist"):  # it always projects inside the loop
        fused_scan.scan(make_cell("lstm", H), {}, _xs(), hoist=False)


def test_implementation_is_validated():
    with pytest.raises(ValueError, match="implementation"):
        lstmjax.LSTMConfig(D, H, implementation="cudnn")
