"""The native single-direction drivers: ``recurrence.scan``'s semantics, one FFI call.

:func:`lstm_scan` (every LSTM gate preset except FGR) and :func:`gru_scan` run a whole
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
sequence into checkpointed chunks of ~sqrt(T) steps (``recurrence.chunked_scan``), each
one native call. Under ``vmap`` the kernel runs once per mapped element
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
    T, B, _ = xs.shape
    H = h0.shape[-1]
    saved = (_f32((T, B, w.shape[1])), _f32((T, B, H))) if save else (_f32((1,)), _f32((1,)))
    call = jax.ffi.ffi_call("lstmjax_lstm_forward", (_f32((T, B, H)), _f32((B, H))) + saved,
                            vmap_method=VMAP)
    return call(xs, w, b, peep, h0, c0, lengths, flags=np.int64(flags),
                reverse=np.int64(reverse), save=np.int64(save))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lstm(flags, reverse, xs, w, b, peep, h0, c0, lengths):
    """hs [T, B, H] (the carried h after every step, input order) and the final c [B, H]."""
    hs, c_last, _, _ = _lstm_forward(flags, reverse, False, xs, w, b, peep, h0, c0, lengths)
    return hs, c_last


def _lstm_fwd(flags, reverse, xs, w, b, peep, h0, c0, lengths):
    hs, c_last, acts, cs = _lstm_forward(flags, reverse, True, xs, w, b, peep, h0, c0, lengths)
    return (hs, c_last), (xs, w, peep, h0, c0, lengths, hs, acts, cs)


def _lstm_bwd(flags, reverse, res, cts):
    xs, w, peep, h0, c0, lengths, hs, acts, cs = res
    d_hs, d_clast = cts
    H = h0.shape[-1]
    call = jax.ffi.ffi_call(
        "lstmjax_lstm_backward",
        (_f32(xs.shape), _f32(w.shape), _f32(w.shape[1:]), _f32(h0.shape), _f32(h0.shape),
         _f32((3, H))),
        vmap_method=VMAP)
    dxs, dw, db, dh0, dc0, dpeep = call(xs, w, peep, acts, cs, hs, h0, c0, lengths, d_hs,
                                        d_clast, flags=np.int64(flags),
                                        reverse=np.int64(reverse))
    return dxs, dw, db, dpeep, dh0, dc0, None


_lstm.defvjp(_lstm_fwd, _lstm_bwd)


def _run_lstm(cell: LSTMCell, params, xs_t, lengths, reverse, h0, c0):
    """One native LSTM run over time-major ``xs_t [T, B, D]``; returns (hs_carried, c_T)."""
    H = cell.hidden_size
    peep = params.get("peep", {})
    peep_rows = jnp.stack([peep.get(k, jnp.zeros((H,), jnp.float32)) for k in PEEP_ROWS])
    w = jnp.concatenate([params["w_x"], params["w_h"]], axis=0)  # [D + H, G·H]
    return _lstm(gate_flags(cell.gates), bool(reverse), xs_t, w, params["b"], peep_rows, h0,
                 c0, lengths)


# --------------------------------------------------------------------------- GRU


def _gru_forward(reverse, save, xs, w_x, w_h, b, b_hn, h0, lengths):
    T, B, _ = xs.shape
    H = h0.shape[-1]
    saved = _f32((T, B, 4 * H)) if save else _f32((1,))
    call = jax.ffi.ffi_call("lstmjax_gru_forward", (_f32((T, B, H)), saved), vmap_method=VMAP)
    return call(xs, w_x, w_h, b, b_hn, h0, lengths, reverse=np.int64(reverse),
                save=np.int64(save))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _gru(reverse, xs, w_x, w_h, b, b_hn, h0, lengths):
    """hs [T, B, H]: the carried h after every step, in input order."""
    return _gru_forward(reverse, False, xs, w_x, w_h, b, b_hn, h0, lengths)[0]


def _gru_fwd(reverse, xs, w_x, w_h, b, b_hn, h0, lengths):
    hs, saved = _gru_forward(reverse, True, xs, w_x, w_h, b, b_hn, h0, lengths)
    return hs, (xs, w_x, w_h, h0, lengths, hs, saved)


def _gru_bwd(reverse, res, d_hs):
    xs, w_x, w_h, h0, lengths, hs, saved = res
    H = h0.shape[-1]
    call = jax.ffi.ffi_call(
        "lstmjax_gru_backward",
        (_f32(xs.shape), _f32(w_x.shape), _f32(w_h.shape), _f32((3 * H,)), _f32((H,)),
         _f32(h0.shape)),
        vmap_method=VMAP)
    dxs, dw_x, dw_h, db, db_hn, dh0 = call(xs, w_x, w_h, saved, hs, h0, lengths, d_hs,
                                           reverse=np.int64(reverse))
    return dxs, dw_x, dw_h, db, db_hn, dh0, None


_gru.defvjp(_gru_fwd, _gru_bwd)


# --------------------------------------------------------------------------- the drivers


def _lengths(lengths, batch: int, steps: int):
    """int32 [B]: every sequence full length when None."""
    if lengths is None:
        return jnp.full((batch,), steps, jnp.int32)
    return jnp.asarray(lengths).astype(jnp.int32)


def _zero_padded(xs_t, mask):
    """Padded input steps read as 0: their gradient rows are 0, and 0·NaN would be NaN in
    dW = Xᵀ·dZ (NaN in padding must never reach a gradient)."""
    return xs_t if mask is None else jnp.where(mask, xs_t, jnp.zeros_like(xs_t))


def scan(cell, params, xs, lengths=None, *, reverse: bool = False, initial_carry=None,
         remat: bool = False, remat_chunk_size: int | None = None):
    """:func:`lstmjax.recurrence.scan` for the cells it :func:`serves`, on the native kernel.

    ``xs [B, T, D]`` float32, ``lengths [B]`` or None; returns ``(ys [B, T, H],
    final_carry)`` exactly as the reference driver does.
    """
    if not serves(cell):
        raise ValueError(f"the native driver serves LSTM cells without FGR and the GRU, got "
                         f"{cell!r}; use lstmjax.dispatch.driver")
    if xs.dtype != jnp.float32:
        raise ValueError(f"the native driver runs float32 only, got inputs of dtype {xs.dtype}; "
                         "use implementation='fast' or 'reference' (or 'auto')")
    xs_t, mask, carry0 = recurrence.prepare(cell, xs, lengths, initial_carry)
    xs_t = _zero_padded(xs_t, mask)
    T, B = xs_t.shape[0], xs_t.shape[1]
    lens = _lengths(lengths, B, T)
    lstm = isinstance(cell, LSTMCell)

    def run(p, carry, x_c, offset):
        """One native call over the steps [offset, offset + len(x_c)) of the sequence."""
        # lengths relative to this chunk: a step is valid iff offset + t < length
        rel = jnp.clip(lens - offset, 0, x_c.shape[0]).astype(jnp.int32)
        if lstm:
            return _run_lstm(cell, p, x_c, rel, reverse, carry[0], carry[1])
        return _gru(bool(reverse), x_c, p["w_x"], p["w_h"], p["b"], p["b_hn"], carry[0],
                    rel), None

    init = (carry0.h, carry0.c) if lstm else (carry0.h, None)
    if not remat:
        hs, c_T = run(params, init, xs_t, 0)
    else:
        hs, c_T = _chunked(run, params, init, xs_t, reverse,
                           remat_chunk_size or _remat_chunk(T))
    h_T = hs[0] if reverse else hs[-1]
    carry = LSTMCarry(h_T, c_T, None) if lstm else RNNCarry(h_T)
    return recurrence.padded_outputs(hs, mask), carry


def _remat_chunk(num_steps: int) -> int:
    return max(16, int(np.ceil(np.sqrt(num_steps))))


def _chunked(run, params, init, xs_t, reverse: bool, chunk: int):
    """Checkpointed chunks of ``chunk`` steps, each one native call; each chunk's step
    offset travels with it, so that the call sees its chunk's part of every length."""
    T = xs_t.shape[0]
    n = -(-T // chunk)

    def chunk_fn(p, carry, x_c, offset):
        hs, c_new = run(p, carry, x_c, offset)
        h = hs[0] if reverse else hs[-1]
        return (h, c_new), hs

    if n * chunk > T:  # the tail of the last chunk: steps beyond T are invalid for every row
        xs_t = jnp.pad(xs_t, ((0, n * chunk - T), (0, 0), (0, 0)))
    body = jax.checkpoint(chunk_fn)
    carry, hs = jax.lax.scan(
        lambda c, xo: body(params, c, *xo), init,
        (xs_t.reshape((n, chunk) + xs_t.shape[1:]), jnp.arange(n, dtype=jnp.int32) * chunk),
        reverse=reverse)
    return hs.reshape((n * chunk,) + hs.shape[2:])[:T], carry[1]
