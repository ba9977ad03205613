"""The native single-direction drivers: ``recurrence.scan``'s semantics, one FFI call.

:func:`scan` runs the LSTM (every gate preset except FGR) and the GRU, a whole
layer and direction through the C++ kernel in ``recurrence.cc``: the forward is one call
over all T steps, the backward (a ``jax.custom_vjp``) a second call that walks the steps
backwards; the weight gradients are GEMMs over many rows (dW = Xᵀ·dZ, db = Σ dZ), not
one small GEMM per step.

The forward saves, for the backward, the activated gates [T, B, G·H] and C_t [T, B, H]
(LSTM) or (r, u, n, h·W_hn + b_hn) [T, B, 4H] (GRU): no transcendental function is
recomputed in the backward loop except tanh(C_t). The LSTM's backward call also forms the
weight gradients itself, as GEMMs over ~512 gathered rows (see recurrence.cc), and so
does the GRU's.

Same arguments and results as :func:`lstmjax.recurrence.scan`; float32 only (the
caller, ``lstmjax.dispatch``, decides what runs other dtypes). ``remat=True`` cuts the
sequence into checkpointed chunks of ~sqrt(T) steps (``lax.scan`` over
``jax.checkpoint``), each one native call. Under ``vmap`` the kernel runs once per mapped element
(``vmap_method="sequential"``): correct for any argument mapped, including the weights.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax import recurrence
from lstmjax.cells import GRUCell, LSTMCarry, LSTMCell, RNNCarry
from lstmjax.gates import GateConfig
from lstmjax.native import build

# The kernel's gate flags (recurrence.cc); built from a GateConfig by gate_flags().
INPUT_GATE, FORGET_BLOCK, OUTPUT_GATE, COUPLED, INPUT_IDENTITY, OUTPUT_IDENTITY = (
    1, 2, 4, 8, 16, 32)
PEEP_ROWS = ("i", "f", "o")  # the rows of the kernel's peephole array [3, H]
VMAP = "sequential"


def serves(cell) -> bool:
    """True for the cells the native kernel implements: LSTM without FGR, and the GRU."""
    return (isinstance(cell, LSTMCell) and not cell.gates.full_recurrence) or isinstance(
        cell, GRUCell)


def gate_flags(gates: GateConfig) -> int:
    """The kernel's flag bits for a gate configuration (peepholes travel as values)."""
    blocks = gates.blocks
    return ((INPUT_GATE if "i" in blocks else 0) | (FORGET_BLOCK if "f" in blocks else 0)
            | (OUTPUT_GATE if "o" in blocks else 0) | (COUPLED if gates.coupled else 0)
            | (INPUT_IDENTITY if gates.input_activation == "identity" else 0)
            | (OUTPUT_IDENTITY if gates.output_activation == "identity" else 0))


def _f32(shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


# --------------------------------------------------------------------------- LSTM


def _lstm_forward(flags, reverse, save, xs, w, b, peep, h0, c0, lengths):
    B, T, _ = xs.shape
    H = h0.shape[-1]
    saved = (_f32((T, B, w.shape[1])), _f32((T, B, H))) if save else (_f32((1,)), _f32((1,)))
    call = jax.ffi.ffi_call("lstmjax_lstm_forward",
                            (_f32((B, T, H)), _f32((B, H)), _f32((B, H))) + saved,
                            vmap_method=VMAP)
    return call(xs, w, b, peep, h0, c0, lengths, flags=np.int64(flags),
                reverse=np.int64(reverse), save=np.int64(save))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lstm(flags, reverse, xs, w, b, peep, h0, c0, lengths):
    """ys [B, T, H] (0 at padded steps) and the final (h, c) [B, H] each."""
    return _lstm_forward(flags, reverse, False, xs, w, b, peep, h0, c0, lengths)[:3]


def _lstm_fwd(flags, reverse, xs, w, b, peep, h0, c0, lengths):
    ys, h_last, c_last, acts, cs = _lstm_forward(flags, reverse, True, xs, w, b, peep, h0, c0,
                                                 lengths)
    return (ys, h_last, c_last), (xs, w, peep, h0, c0, lengths, ys, acts, cs)


def _lstm_bwd(flags, reverse, res, cts):
    xs, w, peep, h0, c0, lengths, ys, acts, cs = res
    d_ys, d_hlast, d_clast = cts
    H = h0.shape[-1]
    call = jax.ffi.ffi_call(
        "lstmjax_lstm_backward",
        (_f32(xs.shape), _f32(w.shape), _f32(w.shape[1:]), _f32(h0.shape), _f32(h0.shape),
         _f32((3, H))),
        vmap_method=VMAP)
    dxs, dw, db, dh0, dc0, dpeep = call(xs, w, peep, acts, cs, ys, h0, c0, lengths, d_ys,
                                        d_hlast, d_clast, flags=np.int64(flags),
                                        reverse=np.int64(reverse))
    return dxs, dw, db, dpeep, dh0, dc0, None


_lstm.defvjp(_lstm_fwd, _lstm_bwd)


def _run_lstm(cell: LSTMCell, params, xs, lengths, reverse, h0, c0):
    """One native LSTM run over ``xs [B, T, D]``: (ys, h_T, c_T)."""
    H = cell.hidden_size
    peep = params.get("peep", {})
    peep_rows = jnp.stack([peep.get(k, jnp.zeros((H,), jnp.float32)) for k in PEEP_ROWS])
    w = jnp.concatenate([params["w_x"], params["w_h"]], axis=0)  # [D + H, G·H]
    return _lstm(gate_flags(cell.gates), bool(reverse), xs, w, params["b"], peep_rows, h0, c0,
                 lengths)


# --------------------------------------------------------------------------- GRU


def _gru_forward(reverse, save, xs, w_x, w_h, b, b_hn, h0, lengths):
    B, T, _ = xs.shape
    H = h0.shape[-1]
    saved = _f32((T, B, 4 * H)) if save else _f32((1,))
    call = jax.ffi.ffi_call("lstmjax_gru_forward", (_f32((B, T, H)), _f32((B, H)), saved),
                            vmap_method=VMAP)
    return call(xs, w_x, w_h, b, b_hn, h0, lengths, reverse=np.int64(reverse),
                save=np.int64(save))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gru(reverse, xs, w_x, w_h, b, b_hn, h0, lengths):
    """ys [B, T, H] (0 at padded steps) and the final h [B, H]."""
    return _gru_forward(reverse, False, xs, w_x, w_h, b, b_hn, h0, lengths)[:2]


def _gru_fwd(reverse, xs, w_x, w_h, b, b_hn, h0, lengths):
    ys, h_last, saved = _gru_forward(reverse, True, xs, w_x, w_h, b, b_hn, h0, lengths)
    return (ys, h_last), (xs, w_x, w_h, h0, lengths, ys, saved)


def _gru_bwd(reverse, res, cts):
    xs, w_x, w_h, h0, lengths, ys, saved = res
    d_ys, d_hlast = cts
    H = h0.shape[-1]
    call = jax.ffi.ffi_call(
        "lstmjax_gru_backward",
        (_f32(xs.shape), _f32(w_x.shape), _f32(w_h.shape), _f32((3 * H,)), _f32((H,)),
         _f32(h0.shape)),
        vmap_method=VMAP)
    dxs, dw_x, dw_h, db, db_hn, dh0 = call(xs, w_x, w_h, saved, ys, h0, lengths, d_ys, d_hlast,
                                           reverse=np.int64(reverse))
    return dxs, dw_x, dw_h, db, db_hn, dh0, None


_gru.defvjp(_gru_fwd, _gru_bwd)


# --------------------------------------------------------------------------- the drivers


def scan(cell, params, xs, lengths=None, *, reverse: bool = False, initial_carry=None,
         remat: bool = False, remat_chunk_size: int | None = None):
    """:func:`lstmjax.recurrence.scan` for the cells it :func:`serves`, on the native kernel.

    ``xs [B, T, D]`` float32, ``lengths [B]`` or None; returns ``(ys [B, T, H],
    final_carry)`` exactly as the reference driver does. The kernel reads and writes the
    batch-major arrays directly, zeroes padded outputs itself and never reads padded
    inputs, so nothing runs around the call but the weight concatenation.
    """
    if not serves(cell):
        raise ValueError(f"the native driver serves LSTM cells without FGR and the GRU, got "
                         f"{cell!r}; use lstmjax.dispatch.driver")
    if xs.dtype != jnp.float32:
        raise ValueError(f"the native driver runs float32 only, got inputs of dtype {xs.dtype}; "
                         "use implementation='fast' or 'reference' (or 'auto')")
    if (reason := build.unavailable_reason()) is not None:  # called directly, not by dispatch
        raise ValueError(f"the native kernel is unavailable: {reason}; use "
                         "lstmjax.dispatch.driver (it falls back to the XLA drivers)")
    B, T = xs.shape[0], xs.shape[1]
    carry0 = cell.zero_carry(B, xs.dtype) if initial_carry is None else initial_carry
    lens = recurrence.valid_lengths(lengths, B, T)
    lstm = isinstance(cell, LSTMCell)

    def run(p, carry, x, rel):
        """One native call over ``x [B, t, D]`` with lengths ``rel``: (ys, (h, c))."""
        if lstm:
            ys, h, c = _run_lstm(cell, p, x, rel, reverse, carry[0], carry[1])
            return ys, (h, c)
        ys, h = _gru(bool(reverse), x, p["w_x"], p["w_h"], p["b"], p["b_hn"], carry[0], rel)
        return ys, (h, None)

    init = (carry0.h, carry0.c) if lstm else (carry0.h, None)
    if not remat:
        ys, (h_T, c_T) = run(params, init, xs, lens)
    else:
        ys, (h_T, c_T) = _chunked(run, params, init, xs, lens, reverse,
                                  remat_chunk_size or recurrence.remat_chunk(T))
    return ys, (LSTMCarry(h_T, c_T, None) if lstm else RNNCarry(h_T))


def _chunked(run, params, init, xs, lens, reverse: bool, chunk: int):
    """Checkpointed chunks of ``chunk`` steps, each one native call seeing its chunk's part
    of every length (a step is valid iff offset + t < length)."""
    B, T = xs.shape[0], xs.shape[1]
    n = -(-T // chunk)
    if n * chunk > T:  # the tail of the last chunk: steps beyond T are invalid for every row
        xs = jnp.pad(xs, ((0, 0), (0, n * chunk - T), (0, 0)))
    xs_c = jnp.swapaxes(xs.reshape(B, n, chunk, xs.shape[-1]), 0, 1)  # [n, B, chunk, D]

    def chunk_fn(p, carry, x_c, offset):
        rel = jnp.clip(lens - offset, 0, chunk).astype(jnp.int32)
        ys, carry = run(p, carry, x_c, rel)
        return carry, ys

    body = jax.checkpoint(chunk_fn)
    carry, ys = jax.lax.scan(lambda c, xo: body(params, c, *xo), init,
                             (xs_c, jnp.arange(n, dtype=jnp.int32) * chunk), reverse=reverse)
    ys = jnp.swapaxes(ys, 0, 1).reshape(B, n * chunk, ys.shape[-1])  # [B, n·chunk, H]
    return ys[:, :T], carry
