"""The standard LSTM on cuDNN (GPU): ``recurrence.scan``'s semantics through
``jax.experimental.rnn.lstm``.

cuDNN runs the LSTM of ``GateConfig()`` (presets "standard" and "np": gates i, f, g, o,
no peepholes) with its own packed weight layout. :func:`pack` turns lstmjax's params into
that layout and :func:`unpack` back (both pure reshapes, so gradients flow through them):
per pseudo-layer (layer l, direction d; fw then bw) W_ih = w_xᵀ [4H, D] and
W_hh = w_hᵀ [4H, H] with the gate blocks in the same order (i, f, g, o), all linear
weights first, then b_ih = b and b_hh = 0 per pseudo-layer (lstmjax has one bias).

:func:`scan` is a single-direction driver: one cuDNN call per layer and direction, with
``seq_lengths``; ``reverse=True`` flips each sequence within its length, runs forward and
flips the outputs back (what cuDNN does inside a bidirectional layer), so padding, final
states and reversal match the reference driver exactly. ``lstmjax.dispatch`` picks it
on a GPU backend ("auto" or "native", float32).

Tested on CPU (no cuDNN there) with ``jax.experimental.rnn.lstm_ref`` in place of the
cuDNN call, fed by the same packed weights: tests/test_cudnn.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental import rnn

from lstmjax import recurrence
from lstmjax.cells import LSTMCarry, LSTMCell
from lstmjax.gates import GateConfig


def serves(cell) -> bool:
    """True for the LSTM cuDNN implements: no peepholes, every gate, tanh activations."""
    return isinstance(cell, LSTMCell) and cell.gates == GateConfig()


def pack(layers) -> jax.Array:
    """lstmjax params of one or more layers -> cuDNN's flat weight vector.

    ``layers``: a list over layers of ``{"fw": p[, "bw": p]}`` (what ``lstmjax.init``
    returns); each ``p`` has ``w_x [D, 4H]``, ``w_h [H, 4H]``, ``b [4H]``.
    """
    pseudo = [layer[d] for layer in layers for d in ("fw", "bw") if d in layer]
    linear = [m for p in pseudo for m in (p["w_x"].T.reshape(-1), p["w_h"].T.reshape(-1))]
    biases = [v for p in pseudo for v in (p["b"], jnp.zeros_like(p["b"]))]
    return jnp.concatenate(linear + biases)


def unpack(weights, input_size: int, hidden_size: int, num_layers: int = 1,
           bidirectional: bool = False):
    """cuDNN's flat weights -> lstmjax params (``b = b_ih + b_hh``): the inverse of
    :func:`pack` for weights it made, and the import of weights cuDNN trained."""
    w_ih, w_hh, b_ih, b_hh = rnn.unpack_lstm_weights(weights, input_size, hidden_size,
                                                      num_layers, bidirectional)
    directions = ("fw", "bw") if bidirectional else ("fw",)
    return [{d: {"w_x": w_ih[l * len(directions) + k].T, "w_h": w_hh[l * len(directions) + k].T,
                 "b": b_ih[l * len(directions) + k] + b_hh[l * len(directions) + k]}
             for k, d in enumerate(directions)} for l in range(num_layers)]


def flip_within_lengths(xs, lengths):
    """``xs [B, T, ...]`` with each sequence's first ``lengths[b]`` steps reversed and its
    padding left in place (an involution: flipping twice gives ``xs`` back)."""
    T = xs.shape[1]
    t = jnp.arange(T)[None, :]
    src = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [B, T]
    return jnp.take_along_axis(xs, src.reshape(src.shape + (1,) * (xs.ndim - 2)), axis=1)


def _cudnn_lstm(xs, h0, c0, weights, lengths, input_size, hidden_size):
    """One cuDNN LSTM layer and direction: ``(ys [B, T, H], h_T [1, B, H], c_T)``."""
    return rnn.lstm(xs, h0, c0, weights, lengths, input_size=input_size,
                    hidden_size=hidden_size, num_layers=1, dropout=0.0, bidirectional=False)


def scan(cell, params, xs, lengths=None, *, reverse: bool = False, initial_carry=None,
         remat: bool = False, call=None):
    """:func:`lstmjax.recurrence.scan` for the cells it :func:`serves`, on cuDNN.

    ``call`` replaces the cuDNN call (same signature as ``jax.experimental.rnn.lstm``
    with one layer); the tests pass ``lstm_ref`` through it on CPU.
    """
    if not serves(cell):
        raise ValueError(f"cuDNN serves the standard LSTM (no peepholes), got {cell!r}; use "
                         "lstmjax.dispatch.driver")
    B, T, D = xs.shape
    H = cell.hidden_size
    carry0 = cell.zero_carry(B, xs.dtype) if initial_carry is None else initial_carry
    lens = recurrence.valid_lengths(lengths, B, T)
    run = call or _cudnn_lstm

    def layer(p, x, h0, c0):
        return run(x, h0[None], c0[None], pack([{"fw": p}]), lens, D, H)

    if remat:
        layer = jax.checkpoint(layer)
    inputs = flip_within_lengths(xs, lens) if reverse else xs
    ys, h_n, c_n = layer(params, inputs, carry0.h, carry0.c)
    if reverse:
        ys = flip_within_lengths(ys, lens)
    if lengths is not None:  # exactly 0 at padded steps, whatever the call leaves there
        ys = jnp.where(recurrence.length_mask(lens, T)[..., None], ys, jnp.zeros_like(ys))
    return ys, LSTMCarry(h_n[0], c_n[0], None)
