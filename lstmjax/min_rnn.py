"""The min-RNN forms: minGRU and minLSTM (``lstmjax.cells``) over time, fast.

Their gates read only x_t, so the recurrence is linear in the state:

    h_t = a_t ⊙ h_{t-1} + b_t

  minGRU:  z_t = σ(W_z x_t + b_z),  h~_t = g(W_h x_t + b_h)
           a_t = 1 - z_t,            b_t = z_t ⊙ h~_t
  minLSTM: f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h~_t = g(W_h x_t + b_h)
           f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t)
           a_t = f'_t,               b_t = i'_t ⊙ h~_t

with g(v) = v + 0.5 for v >= 0 and σ(v) otherwise (the paper's positive activation, used
in every form here so that all forms compute the same function; b_t > 0 always). The
cells (``MinGRUCell``, ``MinLSTMCell``) live in ``lstmjax.cells``; this module holds the
ways to run them, same numbers (tests/test_min_rnn.py: within 1e-5, and against a NumPy
loop of the paper's equations):

* ``cell.step`` on the reference driver (``LSTMConfig(implementation="reference")``);
* ``form="sequential"``: a_t, b_t for all steps from one GEMM, then a ``lax.scan`` whose
  body is one multiply-add — no matmul and no transcendental inside the loop;
* ``form="chunked"``: the same multiply-add scan, run over chunks of ``chunk`` steps inside
  a checkpointed outer scan: each chunk projects its own [chunk, B, D] inputs, forms its
  a_t, b_t and runs the recurrence, so no [T, B, G·H] buffer is ever materialized (on
  XLA:CPU a fresh buffer of ~100 MB is page-faulted on every call) and the backward
  recomputes one chunk's projection instead of storing all of them;
* ``form="parallel"``: ``jax.lax.associative_scan`` in log space,
  (la₁, ls₁) ∘ (la₂, ls₂) = (la₁ + la₂, logaddexp(ls₁ + la₂, ls₂)), so
  h_t = exp(Σ la) ⊙ h_0 + exp(ls_t) with no under/overflow for long T;
* ``form="parallel_linear"``: the associative scan on (a, b) directly.

``form="auto"`` is resolved in ``lstmjax.dispatch`` (the one place): "chunked" on CPU
(measured fastest there: no parallel hardware to use, exp/log dominate the parallel forms,
and chunking beats the one-GEMM sequential form; see docs/speed.md) and
"parallel" on GPU/TPU. Padding: padded steps get a = 1, b = 0 (exactly "keep the
state"), outputs there are 0.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from lstmjax import recurrence
from lstmjax.cells import MinGRUCell, MinLSTMCell, MinRNNCell, RNNCarry

__all__ = ["FORMS", "CHUNK", "MinGRUCell", "MinLSTMCell", "serves", "scan"]

FORMS = ("sequential", "chunked", "parallel", "parallel_linear")
CHUNK = 64  # steps per chunk of the "chunked" form (measured on CPU, see docs/speed.md)
_NEG = -1e30  # log of "b = 0" at padded steps: finite, so gradients stay NaN-free


def serves(cell) -> bool:
    """True if ``cell`` is a min-RNN cell (minGRU / minLSTM), the cells these forms run."""
    return isinstance(cell, MinRNNCell)


def _combine_linear(left, right):
    a1, b1 = left
    a2, b2 = right
    return a1 * a2, a2 * b1 + b2


def _combine(left, right):
    la1, ls1 = left
    la2, ls2 = right
    return la1 + la2, jnp.logaddexp(ls1 + la2, ls2)


def _linear_scan(h0, a, b, reverse, unroll):
    """h_t = a_t ⊙ h_{t-1} + b_t over the leading (time) axis: (h_T, hs)."""

    def body(h, ab):
        h = ab[0] * h + ab[1]
        return h, h

    return lax.scan(body, h0, (a, b), reverse=reverse, unroll=unroll)


def _masked_coefficients(cell, p, mask):
    a, b = cell.coefficients(p)
    if mask is not None:  # padded step: a = 1, b = 0 keeps the state exactly
        a = jnp.where(mask, a, 1.0)
        b = jnp.where(mask, b, 0.0)
    return a, b


def _chunked(cell, params, xs_t, mask, h0, reverse, unroll, chunk):
    """The "chunked" form over time-major ``xs_t [T, B, D]``: (h_T, hs [T, B, H])."""

    def one_chunk(p_, h, x_c, m_c):  # checkpointed: the backward recomputes the projection
        a, b = _masked_coefficients(cell, cell.project(p_, x_c), m_c)
        return _linear_scan(h, a, b, reverse, unroll)

    return recurrence.chunked_scan(one_chunk, params, h0, xs_t, mask, chunk, reverse)


def scan(cell, params, xs, lengths=None, *, form: str, reverse: bool = False,
         initial_carry=None, unroll: int | bool = 1, chunk: int = CHUNK):
    """Run a min-RNN cell over ``xs [B, T, D]`` in ``form``; returns ``(ys, RNNCarry(h_T))``.

    The semantics (padding, ``reverse`` within length, initial carry) are those of
    :func:`lstmjax.recurrence.scan`. ``form``: one of :data:`FORMS` ("auto" is resolved by
    ``lstmjax.dispatch``). ``chunk``: steps per chunk of the "chunked" form. ``unroll``
    applies to the sequential loops ("sequential", "chunked"). There is no ``remat``: the
    state is [B, H] per step and the "chunked" form is checkpointed per chunk.
    """
    if not serves(cell):
        raise ValueError(f"min_rnn.scan runs minGRU/minLSTM cells, got {type(cell).__name__}; "
                         "use recurrence.scan or lstmjax.dispatch.driver")
    if form not in FORMS:
        raise ValueError(f"form={form!r} is not accepted; use one of {FORMS}")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    xs_t, mask, carry0 = recurrence.prepare(cell, xs, lengths, initial_carry)
    h0 = carry0.h
    if form == "chunked":
        h_T, hs = _chunked(cell, params, xs_t, mask, h0, reverse, unroll, chunk)
    elif form == "parallel":
        la, lb = cell.log_coefficients(cell.project(params, xs_t))  # [T, B, G·H], one GEMM
        if mask is not None:
            la = jnp.where(mask, la, 0.0)
            lb = jnp.where(mask, lb, _NEG)
        cum_la, ls = lax.associative_scan(_combine, (la, lb), reverse=reverse, axis=0)
        hs = jnp.exp(ls) + jnp.exp(cum_la) * h0
        h_T = hs[0] if reverse else hs[-1]
    else:
        a, b = _masked_coefficients(cell, cell.project(params, xs_t), mask)
        if form == "sequential":
            h_T, hs = _linear_scan(h0, a, b, reverse, unroll)
        else:  # "parallel_linear": products of a in (0, 1) only underflow towards 0
            cum_a, s = lax.associative_scan(_combine_linear, (a, b), reverse=reverse, axis=0)
            hs = s + cum_a * h0
            h_T = hs[0] if reverse else hs[-1]
    return recurrence.padded_outputs(hs, mask), RNNCarry(h_T)
