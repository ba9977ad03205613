"""minLSTM and minGRU (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read only x_t, so the recurrence is linear in the state:

    h_t = a_t ⊙ h_{t-1} + b_t

  minGRU:  z_t = σ(W_z x_t + b_z),  h~_t = g(W_h x_t + b_h)
           a_t = 1 - z_t,            b_t = z_t ⊙ h~_t
  minLSTM: f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i),  h~_t = g(W_h x_t + b_h)
           f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t)
           a_t = f'_t,               b_t = i'_t ⊙ h~_t

with g(v) = v + 0.5 for v >= 0 and σ(v) otherwise (the paper's positive activation, used
in every form here so that all forms compute the same function; b_t > 0 always).

Ways to run it, same numbers (tests/test_min_rnn.py: within 1e-5):

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
  h_t = exp(Σ la) ⊙ h_0 + exp(ls_t) with no under/overflow for long T.

``form="auto"`` (the default of :func:`scan`) picks "chunked" on CPU (measured fastest
there: no parallel hardware to use, exp/log dominate the parallel forms, and chunking beats
the one-GEMM sequential form; see the README's speed section) and "parallel" on GPU/TPU.
Padding: padded steps get a = 1, b = 0 (exactly "keep the state"), outputs there are 0.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax import lax

from lstmjax import recurrence
from lstmjax.cells import RNNCarry

FORMS = ("auto", "sequential", "chunked", "parallel", "parallel_linear")
CHUNK = 64  # steps per chunk of the "chunked" form (measured on CPU, see the README)
_NEG = -1e30  # log of "b = 0" at padded steps: finite, so gradients stay NaN-free


def _g(v):
    return jnp.where(v >= 0, v + 0.5, jax.nn.sigmoid(v))


def _log_g(v):
    return jnp.where(v >= 0, jnp.log(jnp.maximum(v, 0.0) + 0.5), -jax.nn.softplus(-v))


def _init(key, input_size, blocks, hidden, dtype):
    bound = math.sqrt(6.0 / (input_size + hidden))
    return {"w_x": jax.random.uniform(key, (input_size, blocks * hidden), dtype, -bound, bound),
            "b": jnp.zeros((blocks * hidden,), dtype)}


@dataclasses.dataclass(frozen=True)
class MinGRUCell:
    """minGRU. Params: ``w_x [D, 2H]`` (blocks z, h~), ``b [2H]``. Carry: ``RNNCarry(h)``."""

    hidden_size: int

    blocks = ("z", "h")

    def init(self, key, input_size: int, dtype=jnp.float32):
        return _init(key, input_size, 2, self.hidden_size, dtype)

    def zero_carry(self, batch: int, dtype=jnp.float32) -> RNNCarry:
        return RNNCarry(jnp.zeros((batch, self.hidden_size), dtype))

    def project(self, params, x):
        return x @ params["w_x"] + params["b"]

    def coefficients(self, p):
        """(a, b) of h_t = a ⊙ h_{t-1} + b from the projected input."""
        H = self.hidden_size
        z = jax.nn.sigmoid(p[..., :H])
        return 1.0 - z, z * _g(p[..., H:])

    def log_coefficients(self, p):
        """(log a, log b), computed without forming a or b."""
        H = self.hidden_size
        k = p[..., :H]
        return -jax.nn.softplus(k), -jax.nn.softplus(-k) + _log_g(p[..., H:])

    def step(self, params, carry: RNNCarry, p_t):
        a, b = self.coefficients(p_t)
        h = a * carry.h + b
        return RNNCarry(h), h

    def __call__(self, params, carry, x_t):
        return self.step(params, carry, self.project(params, x_t))


@dataclasses.dataclass(frozen=True)
class MinLSTMCell(MinGRUCell):
    """minLSTM. Params: ``w_x [D, 3H]`` (blocks f, i, h~), ``b [3H]``."""

    blocks = ("f", "i", "h")

    def init(self, key, input_size: int, dtype=jnp.float32):
        params = _init(key, input_size, 3, self.hidden_size, dtype)
        H = self.hidden_size
        params["b"] = params["b"].at[:H].set(1.0)  # forget bias 1, as for the LSTM
        return params

    def coefficients(self, p):
        H = self.hidden_size
        f = jax.nn.sigmoid(p[..., :H])
        i = jax.nn.sigmoid(p[..., H:2 * H])
        s = f + i
        return f / s, (i / s) * _g(p[..., 2 * H:])

    def log_coefficients(self, p):
        H = self.hidden_size
        sf, si = jax.nn.softplus(-p[..., :H]), jax.nn.softplus(-p[..., H:2 * H])
        diff = sf - si  # log f' = -softplus(log i - log f), log i' = -softplus(log f - log i)
        return -jax.nn.softplus(diff), -jax.nn.softplus(-diff) + _log_g(p[..., 2 * H:])


def resolve_form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"form={form!r} is not accepted; use one of {FORMS}")
    if form == "auto":
        return "chunked" if jax.default_backend() == "cpu" else "parallel"
    return form


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


def scan(cell, params, xs, lengths=None, *, reverse: bool = False, initial_carry=None,
         form: str = "auto", unroll: int | bool = 1, remat: bool = False, hoist: bool = True,
         chunk: int = CHUNK):
    """The min-RNN driver, same signature and semantics as ``recurrence.scan``.

    ``chunk``: steps per chunk of the "chunked" form. ``remat`` and ``hoist`` are accepted
    for compatibility (the state is only [B, H] per step; the "chunked" form is always
    checkpointed per chunk, the others project all steps with one GEMM first).
    """
    del remat, hoist
    form = resolve_form(form)
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    batch, num_steps = xs.shape[0], xs.shape[1]
    carry0 = cell.zero_carry(batch, xs.dtype) if initial_carry is None else initial_carry
    h0 = carry0.h
    mask = None
    if lengths is not None:
        mask = recurrence.time_mask(lengths, num_steps)[..., None]
    if form == "chunked":
        h_T, hs = _chunked(cell, params, jnp.swapaxes(xs, 0, 1), mask, h0, reverse, unroll,
                           chunk)
        ys = hs if mask is None else jnp.where(mask, hs, 0.0)
        return jnp.swapaxes(ys, 0, 1), RNNCarry(h_T)
    p = cell.project(params, jnp.swapaxes(xs, 0, 1))  # [T, B, G·H], one GEMM
    if form in ("sequential", "parallel_linear"):
        a, b = _masked_coefficients(cell, p, mask)
    if form == "parallel_linear":  # products of a in (0, 1) only underflow towards 0
        cum_a, s = lax.associative_scan(_combine_linear, (a, b), reverse=reverse, axis=0)
        hs = s + cum_a * h0
        h_T = hs[0] if reverse else hs[-1]
    elif form == "sequential":
        h_T, hs = _linear_scan(h0, a, b, reverse, unroll)
    else:
        la, lb = cell.log_coefficients(p)
        if mask is not None:
            la = jnp.where(mask, la, 0.0)
            lb = jnp.where(mask, lb, _NEG)
        cum_la, ls = lax.associative_scan(_combine, (la, lb), reverse=reverse, axis=0)
        hs = jnp.exp(ls) + jnp.exp(cum_la) * h0
        h_T = hs[0] if reverse else hs[-1]
    ys = hs if mask is None else jnp.where(mask, hs, 0.0)
    return jnp.swapaxes(ys, 0, 1), RNNCarry(h_T)


def driver(form: str, chunk: int = CHUNK):
    """A ``scan_fn`` for ``lstmjax.apply`` that forces ``form`` (and, for "chunked", the
    chunk length) for min-RNN cells."""
    resolve_form(form)

    def scan_fn(cell, params, xs, lengths=None, **kwargs):
        from lstmjax import fast
        if isinstance(cell, MinGRUCell):
            return scan(cell, params, xs, lengths, form=form, chunk=chunk, **kwargs)
        return fast.scan(cell, params, xs, lengths, **kwargs)

    return scan_fn
