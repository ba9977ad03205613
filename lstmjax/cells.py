"""Pure recurrent cells: ``cell(params, carry, x_t) -> (carry, y_t)``.

A cell is a frozen dataclass holding only *static* facts (hidden size, gate
configuration), so it is hashable and can be closed over or passed as a static
argument to ``jit``. Calling it is the pure step function; params are plain
dicts of arrays made by ``cell.init(key, input_size)`` with an explicit key.

Every cell splits its step in two so that the scan driver can hoist the input
projection out of the time loop (one GEMM over all steps):

  * ``project(params, x)``     — ``[..., D] -> [..., G*H]``: W_x·x + b
  * ``step(params, carry, p_t)`` — the recurrence given the projected input p_t

and ``cell(params, carry, x_t) == cell.step(params, carry, cell.project(params, x_t))``.

Shapes: ``x_t [B, D]``, ``h [B, H]``, ``c [B, H]``, ``y_t [B, H]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from lstmjax.gates import GateConfig, get_gates

Params = dict[str, Any]


class LSTMCarry(NamedTuple):
    """LSTM state: hidden h [B, H], cell c [B, H]; ``gates`` [B, nG*H] only for FGR."""

    h: jax.Array
    c: jax.Array
    gates: jax.Array | None = None


class RNNCarry(NamedTuple):
    """State of cells whose only state is h [B, H] (tanh RNN, GRU, minGRU, minLSTM)."""

    h: jax.Array


_ACT = {"tanh": jnp.tanh, "identity": lambda v: v}


# --------------------------------------------------------------------------- init helpers


def _uniform(key, shape, bound, dtype):
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def _input_kernel(key, d_in, blocks, hidden, dtype):
    """Glorot-uniform per gate block: each W_* is [D, H], stacked to [D, G*H]."""
    bound = math.sqrt(6.0 / (d_in + hidden))
    return _uniform(key, (d_in, blocks * hidden), bound, dtype)


def _recurrent_kernel(key, blocks, hidden, dtype, init: str):
    """[H, G*H]; "orthogonal" makes each gate block an orthogonal H x H matrix."""
    if init == "orthogonal":
        # One batched QR for all blocks (a loop of QRs costs a compile and a dispatch each).
        q, r = jnp.linalg.qr(jax.random.normal(key, (blocks, hidden, hidden), jnp.float32))
        q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]  # unique, Haar
        return jnp.transpose(q, (1, 0, 2)).reshape(hidden, blocks * hidden).astype(dtype)
    if init == "glorot":
        return _input_kernel(key, hidden, blocks, hidden, dtype)
    raise ValueError(f"recurrent_init={init!r} is not accepted; use 'orthogonal' or 'glorot'")


def _fused_params(key, d_in, blocks, hidden, dtype, recurrent_init) -> Params:
    """w_x [D, G*H] (Glorot), w_h [H, G*H] (``recurrent_init``), b [G*H] zeros."""
    k_x, k_h = jax.random.split(key)
    return {
        "w_x": _input_kernel(k_x, d_in, blocks, hidden, dtype),
        "w_h": _recurrent_kernel(k_h, blocks, hidden, dtype, recurrent_init),
        "b": jnp.zeros((blocks * hidden,), dtype),
    }


def chrono_forget_bias(key, hidden: int, max_len: float, dtype=jnp.float32):
    """Chrono initialization (Tallec & Ollivier 2018): b_f ~ log(U[1, T_max - 1]).

    The forget gate then keeps information for about T_max steps at init;
    the input bias is set to -b_f by the caller.
    """
    if max_len <= 2:
        raise ValueError(f"chrono_max_len={max_len!r} must be > 2 (expected longest dependency)")
    return jnp.log(jax.random.uniform(key, (hidden,), dtype, 1.0, max_len - 1.0))


class _FusedCell:
    """What every cell here shares: the input projection and the composed step.

    Subclasses are frozen dataclasses with ``hidden_size`` and define ``init``,
    ``zero_carry`` and ``step(params, carry, p_t)``.
    """

    def project(self, params: Params, x):
        """W_x·x + b for every block at once: ``[..., D] -> [..., G*H]``."""
        return x @ params["w_x"] + params["b"]

    def __call__(self, params: Params, carry, x_t):
        return self.step(params, carry, self.project(params, x_t))


class _HiddenOnlyCell(_FusedCell):
    def zero_carry(self, batch: int, dtype=jnp.float32) -> RNNCarry:
        return RNNCarry(jnp.zeros((batch, self.hidden_size), dtype))


# --------------------------------------------------------------------------- LSTM


@dataclasses.dataclass(frozen=True)
class LSTMCell(_FusedCell):
    """An LSTM with any gate ablation (see ``lstmjax.gates``).

    The seed's four steps, with [h_{t-1}, x_t] as input to every layer:

      forget:  f_t = σ(W_f·[h_{t-1}, x_t] + b_f)
      input:   i_t = σ(W_i·[h_{t-1}, x_t] + b_i);  C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
      update:  C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t
      output:  o_t = σ(W_o·[h_{t-1}, x_t] + b_o);  h_t = o_t ⊙ tanh(C_t)

    Params: ``w_x [D, G*H]``, ``w_h [H, G*H]``, ``b [G*H]`` with the blocks of
    ``gates.blocks`` in order (i, f, g, o — PyTorch's order, absent gates dropped);
    ``peep`` ``{gate: [H]}`` with peepholes; ``w_gates [nG*H, nG*H]`` with FGR.
    """

    hidden_size: int
    gates: GateConfig = GateConfig()
    forget_bias: float = 1.0
    chrono_max_len: float | None = None
    recurrent_init: str = "orthogonal"

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        g, H = self.gates, self.hidden_size
        blocks = g.blocks
        k_x, k_h, k_p, k_g, k_c = jax.random.split(key, 5)
        b = jnp.zeros((len(blocks), H), dtype)
        bf = jnp.full((H,), self.forget_bias, dtype)
        if self.chrono_max_len is not None:
            bf = chrono_forget_bias(k_c, H, self.chrono_max_len, dtype)
        if "f" in blocks:
            b = b.at[blocks.index("f")].set(bf)
        if self.chrono_max_len is not None or g.coupled:
            # chrono sets b_i = -b_f; under CIFG (f = 1 - i) the forget bias can only act
            # through the input gate: b_i = -b_f gives f = 1 - σ(-b_f) = σ(b_f) at init.
            b = b.at[blocks.index("i")].set(-bf) if "i" in blocks else b
        params = {
            "w_x": _input_kernel(k_x, input_size, len(blocks), H, dtype),
            "w_h": _recurrent_kernel(k_h, len(blocks), H, dtype, self.recurrent_init),
            "b": b.reshape(-1),
        }
        if g.peepholes:
            keys = jax.random.split(k_p, len(g.peephole_gates))
            params["peep"] = {
                name: _uniform(k, (H,), 1.0 / math.sqrt(H), dtype)
                for name, k in zip(g.peephole_gates, keys)
            }
        if g.full_recurrence:
            n = len(g.sigmoid_gates) * H
            params["w_gates"] = _uniform(k_g, (n, n), 1.0 / math.sqrt(n), dtype)
        return params

    def zero_carry(self, batch: int, dtype=jnp.float32) -> LSTMCarry:
        H = self.hidden_size
        gates = None
        if self.gates.full_recurrence:
            gates = jnp.zeros((batch, len(self.gates.sigmoid_gates) * H), dtype)
        return LSTMCarry(jnp.zeros((batch, H), dtype), jnp.zeros((batch, H), dtype), gates)

    def step(self, params: Params, carry: LSTMCarry, p_t):
        new_carry, acts = self.step_with_gates(params, carry, p_t)
        return new_carry, acts["h"]

    def step_with_gates(self, params: Params, carry: LSTMCarry, p_t):
        """The step, also returning the activations {"i","f","g","o","c","h"}, each [B, H].

        ``g`` is the candidate C~_t; ablated gates appear as their constant (1 or 1 - i).
        Used by ``step`` (XLA drops the unused ones) and to draw the gates.
        """
        g, H = self.gates, self.hidden_size
        h_prev, c_prev = carry.h, carry.c
        z = p_t + h_prev @ params["w_h"]  # W·[h_{t-1}, x_t] + b for all blocks at once
        pre = {name: z[..., k * H:(k + 1) * H] for k, name in enumerate(g.blocks)}
        if g.full_recurrence:  # every gate also sees all gates of step t-1
            zg = carry.gates @ params["w_gates"]
            for k, name in enumerate(g.sigmoid_gates):
                pre[name] = pre[name] + zg[..., k * H:(k + 1) * H]
        peep = params.get("peep", {})

        def gate(name, cell_state):
            """σ(pre + p ⊙ C) for a present gate, 1 for an ablated one."""
            if name not in pre:
                return jnp.ones_like(c_prev)
            if name in peep:
                return jax.nn.sigmoid(pre[name] + peep[name] * cell_state)
            return jax.nn.sigmoid(pre[name])

        i = gate("i", c_prev)                                   # input gate
        f = 1.0 - i if g.coupled else gate("f", c_prev)         # forget gate
        c_tilde = _ACT[g.input_activation](pre["g"])            # candidate values
        c = f * c_prev + i * c_tilde                            # update the conveyor belt
        o = gate("o", c)                                        # output gate (peeps at C_t)
        h = o * _ACT[g.output_activation](c)
        gates = None
        if g.full_recurrence:
            acts = {"i": i, "f": f, "o": o}
            gates = jnp.concatenate([acts[name] for name in g.sigmoid_gates], axis=-1)
        return LSTMCarry(h, c, gates), {"i": i, "f": f, "g": c_tilde, "o": o, "c": c, "h": h}


# --------------------------------------------------------------------------- tanh RNN


@dataclasses.dataclass(frozen=True)
class RNNCell(_HiddenOnlyCell):
    """Elman RNN: h_t = tanh(W_x·x_t + W_h·h_{t-1} + b). Params w_x [D,H], w_h [H,H], b [H]."""

    hidden_size: int
    recurrent_init: str = "orthogonal"

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        return _fused_params(key, input_size, 1, self.hidden_size, dtype, self.recurrent_init)

    def step(self, params: Params, carry: RNNCarry, p_t):
        h = jnp.tanh(p_t + carry.h @ params["w_h"])
        return RNNCarry(h), h


# --------------------------------------------------------------------------- GRU


@dataclasses.dataclass(frozen=True)
class GRUCell(_HiddenOnlyCell):
    """GRU in the PyTorch / Flax convention (blocks r, z, n):

      r_t = σ(W_xr x_t + b_r + W_hr h_{t-1})
      z_t = σ(W_xz x_t + b_z + W_hz h_{t-1})
      n_t = tanh(W_xn x_t + b_n + r_t ⊙ (W_hn h_{t-1} + b_hn))
      h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Params: w_x [D, 3H], w_h [H, 3H], b [3H], b_hn [H].
    """

    hidden_size: int
    recurrent_init: str = "orthogonal"

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        params = _fused_params(key, input_size, 3, self.hidden_size, dtype, self.recurrent_init)
        params["b_hn"] = jnp.zeros((self.hidden_size,), dtype)
        return params

    def step(self, params: Params, carry: RNNCarry, p_t):
        H = self.hidden_size
        hw = carry.h @ params["w_h"]
        r = jax.nn.sigmoid(p_t[..., :H] + hw[..., :H])
        z = jax.nn.sigmoid(p_t[..., H:2 * H] + hw[..., H:2 * H])
        n = jnp.tanh(p_t[..., 2 * H:] + r * (hw[..., 2 * H:] + params["b_hn"]))
        h = (1.0 - z) * n + z * carry.h
        return RNNCarry(h), h


# --------------------------------------------------------------------------- registry

CELL_TYPES = ("lstm", "gru", "rnn", "min_lstm", "min_gru")


def make_cell(cell_type: str, hidden_size: int, *, gates: str | GateConfig = "standard",
              forget_bias: float = 1.0, chrono_max_len: float | None = None,
              recurrent_init: str = "orthogonal"):
    """Build a cell from plain config values (names validated here, at the boundary)."""
    if cell_type == "lstm":
        return LSTMCell(hidden_size, get_gates(gates), float(forget_bias),
                        None if chrono_max_len is None else float(chrono_max_len),
                        recurrent_init)
    if cell_type == "rnn":
        return RNNCell(hidden_size, recurrent_init)
    if cell_type == "gru":
        return GRUCell(hidden_size, recurrent_init)
    if cell_type in ("min_lstm", "min_gru"):  # Feng et al. 2024; see lstmjax.min_rnn
        from lstmjax import min_rnn
        return (min_rnn.MinLSTMCell if cell_type == "min_lstm" else min_rnn.MinGRUCell)(
            hidden_size)
    raise ValueError(f"cell={cell_type!r} is not accepted; use one of {CELL_TYPES}")
