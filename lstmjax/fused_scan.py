"""The fused XLA driver for LSTM cells (``implementation="fast"``): same numbers as
``recurrence.scan``, less time.

``fused_scan.scan`` runs LSTM cells (every gate preset except FGR, see :func:`serves`) with
the semantics of :func:`lstmjax.recurrence.scan` and plugs into
``recurrence.stack(..., scan_fn=fused_scan.scan)``; ``lstmjax.dispatch`` selects it for
``LSTMConfig(implementation="fast")`` and, for the cells it serves, ``"auto"`` (the
default). It has no ``hoist`` argument: it always projects inside the loop (below).

What makes it fast (each idea kept only because it won a measurement, see
``experiments/bench.py`` and docs/speed.md):

* the input projection W_x·x_t + b runs inside the forward loop (measured here: one
  [T·B, D] x [D, G·H] GEMM before the loop ran at a third of the per-step matmuls'
  GFLOP/s on XLA:CPU and made the forward 2x slower), while its gradients
  (dX = dZ·W_xᵀ, dW_x = Xᵀ·dZ, db = Σ dZ) are single GEMMs after the backward loop;
* a ``jax.custom_vjp`` around the recurrence: the forward loop does one fused
  [B, H] x [H, G·H] matmul per step and saves the pre-activations z_t and C_{t-1};
  the backward loop only propagates dh/dc (one [B, G·H] x [G·H, H] matmul per step)
  and stores dz_t; the recurrent weight gradient is then ONE GEMM
  dW_h = H_prevᵀ·dZ over all T·B rows (as cuDNN does) instead of T small ones;
* the pointwise part of the step is the reference cell's own ``step_with_gates``
  (called with the recurrent matmul done by the driver), and its backward is
  ``jax.vjp`` of that function, so every gate preset except FGR is served by the same
  code (FGR, GRU and the tanh RNN run on the reference driver, the min-RNNs on their
  forms in ``lstmjax.min_rnn``; ``lstmjax.dispatch`` picks);
* ``remat=True``: checkpointed chunks of ~sqrt(T) steps (only chunk-boundary carries
  are kept; one chunk's residuals are live at a time), for long sequences in bounded
  memory.

Padding semantics are those of the reference (zero outputs at padded steps, final
carry at the last valid step, reversal within length), tested in tests/test_fused_scan.py.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from lstmjax import recurrence
from lstmjax.cells import LSTMCarry, LSTMCell


def serves(cell) -> bool:
    """True if the fast driver implements ``cell`` (every LSTM gate preset except FGR)."""
    return isinstance(cell, LSTMCell) and not cell.gates.full_recurrence


def _pointwise(cell: LSTMCell, z, c_prev, peep):
    """(h_t, C_t) from the full pre-activation z_t = W·[h_{t-1}, x_t] + b and C_{t-1}.

    Runs the reference cell's step with an empty recurrent matmul ([B, 0] x [0, G·H]
    is a constant zero to XLA), so the gate logic lives in one place only.
    """
    params = {"w_h": jnp.zeros((0, z.shape[-1]), z.dtype)}
    if peep:
        params["peep"] = peep
    carry = LSTMCarry(jnp.zeros(z.shape[:-1] + (0,), z.dtype), c_prev, None)
    new, _ = cell.step_with_gates(params, carry, z)
    return new.h, new.c


def _forward_loop(cell, reverse, unroll, xs, w_x, b, w_h, peep, mask, h0, c0, save):
    def body(carry, inputs):
        h, c = carry
        x_t, m_t = inputs
        z = x_t @ w_x + b + h @ w_h  # the projection inside the loop: measured faster here
        h_new, c_new = _pointwise(cell, z, c, peep)
        if m_t is not None:  # padded step: keep the state (the output is masked outside)
            h_new = jnp.where(m_t, h_new, h)
            c_new = jnp.where(m_t, c_new, c)
        out = (h_new, z, c) if save else h_new
        return (h_new, c_new), out

    (h_T, c_T), out = lax.scan(body, (h0, c0), (xs, mask), reverse=reverse, unroll=unroll)
    return (h_T, c_T), out


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _recurrence(cell, reverse, unroll, xs, w_x, b, w_h, peep, mask, h0, c0):
    """hs [T, B, H] (the carried h after every step, in input order) and the final c."""
    (_, c_T), hs = _forward_loop(cell, reverse, unroll, xs, w_x, b, w_h, peep, mask, h0, c0,
                                 False)
    return hs, c_T


def _recurrence_fwd(cell, reverse, unroll, xs, w_x, b, w_h, peep, mask, h0, c0):
    (_, c_T), (hs, zs, c_prev) = _forward_loop(cell, reverse, unroll, xs, w_x, b, w_h, peep,
                                               mask, h0, c0, True)
    return (hs, c_T), (hs, zs, c_prev, xs, w_x, w_h, peep, mask, h0)


def _recurrence_bwd(cell, reverse, unroll, res, cts):
    hs, zs, c_prev, xs, w_x, w_h, peep, mask, h0 = res
    d_hs, d_cT = cts
    w_h_t = w_h.T

    def body(carry, inputs):
        dh, dc, dpeep = carry
        z, cp, dy, m_t = inputs
        dh = dh + dy
        if m_t is not None:
            dh_cell = jnp.where(m_t, dh, 0.0)
            dc_cell = jnp.where(m_t, dc, 0.0)
        else:
            dh_cell, dc_cell = dh, dc
        _, vjp = jax.vjp(lambda z_, c_, p_: _pointwise(cell, z_, c_, p_), z, cp, peep)
        dz, dc_prev, dpeep_t = vjp((dh_cell, dc_cell))
        dh_prev = dz @ w_h_t
        if m_t is not None:  # a padded step passed its incoming state through unchanged
            dh_prev = dh_prev + jnp.where(m_t, 0.0, dh)
            dc_prev = dc_prev + jnp.where(m_t, 0.0, dc)
        dpeep = jax.tree.map(jnp.add, dpeep, dpeep_t)
        return (dh_prev, dc_prev, dpeep), dz

    zero_peep = jax.tree.map(jnp.zeros_like, peep)
    (dh0, dc0, dpeep), dzs = lax.scan(
        body, (jnp.zeros_like(h0), d_cT, zero_peep), (zs, c_prev, d_hs, mask),
        reverse=not reverse, unroll=unroll)
    # h_{t-1} of every step in processing order, then dW_h as one GEMM over all T·B rows.
    if reverse:
        h_prev = jnp.concatenate([hs[1:], h0[None]], axis=0)
    else:
        h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)
    T, B, H = hs.shape
    dz2 = dzs.reshape(T * B, -1)
    dw_h = h_prev.reshape(T * B, H).T @ dz2
    dw_x = xs.reshape(T * B, -1).T @ dz2
    dxs = (dz2 @ w_x.T).reshape(xs.shape)
    return dxs, dw_x, dz2.sum(0), dw_h, dpeep, None, dh0, dc0


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def _run(cell, params, xs_t, mask, reverse, h0, c0, unroll):
    """One fast run over time-major ``xs_t [T, B, D]``; returns (hs_carried, c_T)."""
    return _recurrence(cell, reverse, unroll, xs_t, params["w_x"], params["b"], params["w_h"],
                       params.get("peep", {}), mask, h0, c0)


def scan(cell, params, xs, lengths=None, *, reverse: bool = False, initial_carry=None,
         unroll: int | bool = 1, remat: bool = False, remat_chunk_size: int | None = None):
    """:func:`lstmjax.recurrence.scan` for the LSTM cells it :func:`serves` (same results).

    The input projection runs inside the loop (there is no ``hoist`` choice). With
    ``remat=True`` the sequence is cut into checkpointed chunks of ``remat_chunk_size``
    (default :func:`lstmjax.recurrence.remat_chunk`) steps.
    """
    if not serves(cell):
        raise ValueError(f"fused_scan.scan serves LSTM cells without full gate recurrence (FGR), got "
                         f"{cell!r}; use recurrence.scan or lstmjax.dispatch.driver")
    xs_t, mask, carry0 = recurrence.prepare(cell, xs, lengths, initial_carry)
    h0, c0 = carry0.h, carry0.c
    if not remat:
        hs, c_T = _run(cell, params, xs_t, mask, reverse, h0, c0, unroll)
    else:
        hs, c_T = _run_chunked(cell, params, xs_t, mask, reverse, h0, c0, unroll,
                               remat_chunk_size or recurrence.remat_chunk(xs_t.shape[0]))
    h_T = hs[0] if reverse else hs[-1]
    return recurrence.padded_outputs(hs, mask), LSTMCarry(h_T, c_T, None)


def _run_chunked(cell, params, xs_t, mask, reverse, h0, c0, unroll, chunk):
    """Checkpointed chunks: keeps chunk-boundary carries, recomputes one chunk at a time."""

    def chunk_fn(p, carry, x_c, m_c):
        h, c = carry
        hs, c_new = _run(cell, p, x_c, m_c, reverse, h, c, unroll)
        return (hs[0] if reverse else hs[-1], c_new), hs

    (_, c_T), hs = recurrence.chunked_scan(chunk_fn, params, (h0, c0), xs_t, mask, chunk,
                                           reverse)
    return hs, c_T
