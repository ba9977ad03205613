"""The cuDNN path (lstmjax/cudnn.py) without a GPU: lstmjax's params packed into cuDNN's
layout and run by ``jax.experimental.rnn.lstm_ref`` (its reference, fed the same packed
weights) equal lstmjax's reference driver on outputs, final states and gradients; the
within-length flip that gives cuDNN its reverse direction; and the dispatch on GPU."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import rnn

import lstmjax
from lstmjax import cudnn, dispatch, fused_scan, recurrence
from lstmjax.cells import make_cell

B, T, D, H = 4, 6, 3, 5
LENGTHS = jnp.array([6, 2, 1, 4], jnp.int32)


def _ref_call(xs, h0, c0, weights, lengths, input_size, hidden_size):
    """``rnn.lstm``'s signature (one layer), computed by ``rnn.lstm_ref`` on CPU."""
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size, 1, False)
    return rnn.lstm_ref(xs, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, input_size, hidden_size,
                        1, 0.0, False)


def _assert_close(a, b, tol=1e-5):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=tol, rtol=tol)


def test_pack_unpack_round_trip_and_layout():
    cfg = lstmjax.LSTMConfig(D, H, num_layers=2, bidirectional=True)
    params = lstmjax.init(jax.random.key(0), cfg)
    flat = cudnn.pack(params)
    assert flat.shape == (rnn.get_num_params_in_lstm(D, H, 2, True),)
    back = cudnn.unpack(flat, D, H, 2, True)
    _assert_close(back, params, tol=0)
    # cuDNN's W_ih of pseudo-layer 1 (layer 0, backward) is w_xᵀ of params[0]["bw"]
    w_ih, _, b_ih, b_hh = rnn.unpack_lstm_weights(flat, D, H, 2, True)
    np.testing.assert_array_equal(w_ih[1], params[0]["bw"]["w_x"].T)
    np.testing.assert_array_equal(b_ih[3], params[1]["bw"]["b"])
    assert not np.any(np.asarray(b_hh[2]))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_stack_on_lstm_ref_equals_the_reference_driver(bidirectional, lengths):
    cfg = lstmjax.LSTMConfig(D, H, num_layers=2, bidirectional=bidirectional,
                             implementation="reference")
    params = lstmjax.init(jax.random.key(1), cfg)
    xs = jax.random.normal(jax.random.key(2), (B, T, D))
    state0 = jax.tree.map(lambda z: jax.random.normal(jax.random.key(3), z.shape),
                          lstmjax.initial_state(cfg, B))
    cells = [cfg.make_cell()] * 2
    on_ref = functools.partial(cudnn.scan, call=_ref_call)

    def loss(scan_fn, p, x, s0):
        ys, st = recurrence.stack(cells, p, x, lengths, num_directions=cfg.num_directions,
                                  initial_state=s0, scan_fn=scan_fn)
        return jnp.sum(jnp.tanh(ys) * jnp.cos(jnp.arange(ys.size).reshape(ys.shape))) + sum(
            0.5 * jnp.sum(jnp.sin(v)) for v in jax.tree.leaves(st)), (ys, st)

    grad = functools.partial(jax.value_and_grad, argnums=(0, 1, 2), has_aux=True)
    got = jax.jit(grad(functools.partial(loss, on_ref)))(params, xs, state0)
    want = jax.jit(grad(functools.partial(loss, recurrence.scan)))(params, xs, state0)
    _assert_close(got, want)
    if lengths is not None:
        ys = got[0][1][0]
        mask = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
        assert np.all(np.asarray(ys)[~mask] == 0.0)


def test_remat_on_lstm_ref():
    cell = make_cell("lstm", H)
    params = cell.init(jax.random.key(0), D)
    xs = jax.random.normal(jax.random.key(2), (B, T, D))

    def loss(scan_fn, p):
        ys, carry = scan_fn(cell, p, xs, LENGTHS, reverse=True)
        return jnp.sum(jnp.sin(ys)) + jnp.sum(carry.c)

    on_ref = functools.partial(cudnn.scan, call=_ref_call, remat=True)
    _assert_close(jax.value_and_grad(lambda p: loss(on_ref, p))(params),
                  jax.value_and_grad(lambda p: loss(recurrence.scan, p))(params))


def test_flip_within_lengths_is_an_involution_that_keeps_padding():
    xs = jnp.arange(B * T, dtype=jnp.float32).reshape(B, T, 1)
    flipped = cudnn.flip_within_lengths(xs, LENGTHS)
    np.testing.assert_array_equal(flipped[1, :, 0], [7, 6, 8, 9, 10, 11])
    np.testing.assert_array_equal(flipped[0, :, 0], [5, 4, 3, 2, 1, 0])
    np.testing.assert_array_equal(cudnn.flip_within_lengths(flipped, LENGTHS), xs)


def test_dispatch_on_gpu():
    standard, vanilla = make_cell("lstm", H), make_cell("lstm", H, gates="vanilla")
    assert cudnn.serves(standard) and cudnn.serves(make_cell("lstm", H, gates="np"))
    assert not cudnn.serves(vanilla) and not cudnn.serves(make_cell("gru", H))
    auto = dispatch.driver(standard, backend="gpu")
    assert auto.func is dispatch._kernel_or_xla and auto.args[0] is cudnn.scan
    assert dispatch.driver(standard, "native", backend="gpu").func is cudnn.scan
    assert dispatch.driver(vanilla, backend="gpu").func is fused_scan.scan
    with pytest.raises(ValueError, match="cuDNN, which serves the standard LSTM"):
        dispatch.driver(vanilla, "native", backend="gpu")
    with pytest.raises(ValueError, match="cuDNN serves the standard LSTM"):
        cudnn.scan(vanilla, {}, jnp.zeros((B, T, D)))
