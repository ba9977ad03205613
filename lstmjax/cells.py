"""Pure recurrent cells: ``cell(params, carry, x_t) -> (carry, y_t)``.

A cell is a frozen dataclass holding only *static* facts (hidden size, gate
configuration), so it is hashable and can be closed over or passed as a static
argument to ``jit``. Calling it is the pure step function; params are plain
dicts of arrays made by ``cell.init(key, input_size)`` with an explicit key.

Every cell splits its step in two:

  * ``project(params, x)``     — ``[..., D] -> [..., G*H]``: W_x·x + b
  * ``step(params, carry, p_t)`` — the recurrence given the projected input p_t

and ``cell(params, carry, x_t) == cell.step(params, carry, cell.project(params, x_t))``.
The split lets each driver put the projection where it measured fastest: the reference
driver (``recurrence.scan``) projects all steps as one GEMM before its loop by default
(``hoist=True``); the fast LSTM driver (``fused_scan.scan``, the default for LSTMs) projects
inside its loop, which was faster on XLA:CPU, and computes the projection's gradients
as single GEMMs after the backward loop; the min-RNN forms (``min_rnn``), whose loop has
no matmul at all, project every step (or one chunk of steps) at once.

Cells: :class:`LSTMCell` (any gate ablation), :class:`GRUCell`, :class:`RNNCell` (tanh),
:class:`IRNNCell` (ReLU, identity recurrent init; Le et al. 2015), :class:`MinGRUCell` and
:class:`MinLSTMCell` (Feng et al. 2024). All but the LSTM carry only h (:class:`RNNCarry`)
and share the projection and init helpers.

Shapes: ``x_t [B, D]``, ``h [B, H]``, ``c [B, H]``, ``y_t [B, H]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax.gates import PRESETS, GateConfig, get_gates

Params = dict[str, Any]


class LSTMCarry(NamedTuple):
    """LSTM state: hidden h [B, H], cell c [B, H]; ``gates`` [B, nG*H] only for FGR."""

    h: jax.Array
    c: jax.Array
    gates: jax.Array | None = None


class RNNCarry(NamedTuple):
    """State of cells whose only state is h [B, H] (tanh RNN, IRNN, GRU, minGRU, minLSTM)."""

    h: jax.Array


_ACT = {"tanh": jnp.tanh, "identity": lambda v: v}
RECURRENT_INITS = ("orthogonal", "glorot")

# The cells' defaults, each written here once: the cell dataclasses below take them as
# field defaults, and api.LSTMConfig, models and schema.DEFAULTS import them. A value the
# user leaves unset (None) reaches no cell, so the cell's own default applies.
FORGET_BIAS = 1.0            # LSTM b_f at init (Jozefowicz et al. 2015)
RECURRENT_INIT = "orthogonal"  # W_h per gate block (cells with a recurrent kernel)
IRNN_INPUT_STD = 1e-3        # IRNN W_x ~ N(0, 0.001^2) (Le et al. 2015; W_h = I, b = 0)


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
        # One QR per block inside lax.map (one compile, under init's jit). Not one batched QR:
        # XLA:CPU's batched QR fans its batch out over the intra-op thread pool and waits
        # for it, and two such QRs running at once (the two directions of a BiLSTM) can
        # hold every thread of a 2-core pool while waiting: init hung there at H >= ~140.
        q, r = jax.lax.map(jnp.linalg.qr,
                           jax.random.normal(key, (blocks, hidden, hidden), jnp.float32))
        q = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]  # unique, Haar
        return jnp.transpose(q, (1, 0, 2)).reshape(hidden, blocks * hidden).astype(dtype)
    if init == "glorot":
        return _input_kernel(key, hidden, blocks, hidden, dtype)
    raise ValueError(f"recurrent_init={init!r} is not accepted; use one of {RECURRENT_INITS}")


def _input_params(key, d_in, blocks, hidden, dtype) -> Params:
    """w_x [D, G*H] (Glorot) and b [G*H] zeros: the params of a cell with no W_h."""
    return {"w_x": _input_kernel(key, d_in, blocks, hidden, dtype),
            "b": jnp.zeros((blocks * hidden,), dtype)}


def _fused_params(key, d_in, blocks, hidden, dtype, recurrent_init) -> Params:
    """w_x [D, G*H] (Glorot), w_h [H, G*H] (``recurrent_init``), b [G*H] zeros."""
    k_x, k_h = jax.random.split(key)
    return {
        "w_x": _input_kernel(k_x, d_in, blocks, hidden, dtype),
        "w_h": _recurrent_kernel(k_h, blocks, hidden, dtype, recurrent_init),
        "b": jnp.zeros((blocks * hidden,), dtype),
    }


def chrono_bias(key, hidden: int, max_len: float, dtype=jnp.float32):
    """Chrono initialization (Tallec & Ollivier 2018): b ~ log(U[1, T_max - 1]).

    Used for the bias of the gate that keeps the state (the LSTM's and minLSTM's forget
    gate, the GRU's update gate z; minGRU's z, which replaces the state, gets -b), which
    then keeps information for about 1 to T_max steps at init: the kept fraction per step
    is σ(b) = u / (1 + u), a retention timescale 1 / (1 - σ(b)) = 1 + u in [2, T_max].
    """
    if max_len <= 2:
        raise ValueError(f"chrono_max_len={max_len!r} must be > 2 (expected longest dependency)")
    return jnp.log(jax.random.uniform(key, (hidden,), dtype, 1.0, max_len - 1.0))


class _CellBase:
    """What every cell here shares: the input projection and the composed step.

    Subclasses are frozen dataclasses with ``hidden_size`` and define ``init``,
    ``zero_carry`` and ``step(params, carry, p_t)``.
    """

    def project(self, params: Params, x):
        """W_x·x + b for every block at once: ``[..., D] -> [..., G*H]``."""
        return x @ params["w_x"] + params["b"]

    def __call__(self, params: Params, carry, x_t):
        return self.step(params, carry, self.project(params, x_t))


class _HiddenOnlyCell(_CellBase):
    def zero_carry(self, batch: int, dtype=jnp.float32) -> RNNCarry:
        return RNNCarry(jnp.zeros((batch, self.hidden_size), dtype))


# --------------------------------------------------------------------------- LSTM


@dataclasses.dataclass(frozen=True)
class LSTMCell(_CellBase):
    """An LSTM with any gate ablation (see ``lstmjax.gates``).

    The seed's four steps, with [h_{t-1}, x_t] as input to every layer:

      forget:  f_t = σ(W_f·[h_{t-1}, x_t] + b_f)
      input:   i_t = σ(W_i·[h_{t-1}, x_t] + b_i);  C~_t = tanh(W_C·[h_{t-1}, x_t] + b_C)
      update:  C_t = f_t ⊙ C_{t-1} + i_t ⊙ C~_t
      output:  o_t = σ(W_o·[h_{t-1}, x_t] + b_o);  h_t = o_t ⊙ tanh(C_t)

    Params: ``w_x [D, G*H]``, ``w_h [H, G*H]``, ``b [G*H]`` with the blocks of
    ``gates.blocks`` in order (i, f, g, o — PyTorch's order, absent gates dropped);
    ``peep`` ``{gate: [H]}`` with peepholes; ``w_gates [nG*H, nG*H]`` with FGR.
    ``chrono_max_len`` > 0: chrono init of b_f (and b_i = -b_f); 0 = off.
    """

    hidden_size: int
    gates: GateConfig = GateConfig()
    forget_bias: float = FORGET_BIAS
    chrono_max_len: float = 0.0
    recurrent_init: str = RECURRENT_INIT

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        g, H = self.gates, self.hidden_size
        blocks = g.blocks
        k_x, k_h, k_p, k_g, k_c = jax.random.split(key, 5)
        b = jnp.zeros((len(blocks), H), dtype)
        bf = jnp.full((H,), self.forget_bias, dtype)
        if self.chrono_max_len:
            bf = chrono_bias(k_c, H, self.chrono_max_len, dtype)
        if "f" in blocks:
            b = b.at[blocks.index("f")].set(bf)
        if self.chrono_max_len or g.coupled:
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
    recurrent_init: str = RECURRENT_INIT

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        return _fused_params(key, input_size, 1, self.hidden_size, dtype, self.recurrent_init)

    def step(self, params: Params, carry: RNNCarry, p_t):
        h = jnp.tanh(p_t + carry.h @ params["w_h"])
        return RNNCarry(h), h


# --------------------------------------------------------------------------- IRNN


@dataclasses.dataclass(frozen=True)
class IRNNCell(_HiddenOnlyCell):
    """IRNN (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
    Rectified Linear Units"): h_t = ReLU(W_x·x_t + W_h·h_{t-1} + b).

    Init as in the paper: W_h = ``identity_scale`` · I (1, the paper's choice for its
    long-range tasks, the adding problem and pixel MNIST; it scales the identity by a
    small number only for tasks with short dependencies, to let them forget), b = 0, and
    W_x ~ N(0, ``input_std``²) with ``input_std`` = 0.001 (the paper's non-recurrent
    weights: Gaussian, mean 0, standard deviation 0.001). At init, with zero input, the
    state is copied exactly from step to step (ReLU(I·h) = h for h >= 0): nothing decays
    or grows, so gradients neither vanish nor explode through time at first.
    Params: w_x [D, H], w_h [H, H], b [H] (the tanh :class:`RNNCell`'s layout).

    Not a subclass of :class:`RNNCell` on purpose: a driver or kernel that serves the
    tanh RNN by ``isinstance`` must not pick this cell up and run it with tanh.
    """

    hidden_size: int
    identity_scale: float = 1.0
    input_std: float = IRNN_INPUT_STD

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        H = self.hidden_size
        return {"w_x": (self.input_std * jax.random.normal(key, (input_size, H), jnp.float32)
                        ).astype(dtype),
                "w_h": self.identity_scale * jnp.eye(H, dtype=dtype),
                "b": jnp.zeros((H,), dtype)}

    def step(self, params: Params, carry: RNNCarry, p_t):
        h = jax.nn.relu(p_t + carry.h @ params["w_h"])
        return RNNCarry(h), h


# --------------------------------------------------------------------------- GRU


@dataclasses.dataclass(frozen=True)
class GRUCell(_HiddenOnlyCell):
    """GRU in the PyTorch / Flax convention (blocks r, z, n):

      r_t = σ(W_xr x_t + b_r + W_hr h_{t-1})
      z_t = σ(W_xz x_t + b_z + W_hz h_{t-1})
      n_t = tanh(W_xn x_t + b_n + r_t ⊙ (W_hn h_{t-1} + b_hn))
      h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    so z_t = 1 *keeps* the state and z_t = 0 replaces it by the candidate n_t.
    Params: w_x [D, 3H], w_h [H, 3H], b [3H] (b_r, b_z, b_n), b_hn [H]; all biases 0.

    ``chrono_max_len`` > 0 is the "keep" init, the GRU counterpart of the LSTM's chrono
    init: b_z ~ log U[1, T_max - 1], so z starts between 1/2 and (T_max-1)/T_max and
    the state is kept for about 1 to T_max steps at init. 0 = off (b_z = 0).
    """

    hidden_size: int
    recurrent_init: str = RECURRENT_INIT
    chrono_max_len: float = 0.0

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        H = self.hidden_size
        params = _fused_params(key, input_size, 3, H, dtype, self.recurrent_init)
        params["b_hn"] = jnp.zeros((H,), dtype)
        if self.chrono_max_len:  # its own key: the init without chrono stays as it was
            b_z = chrono_bias(jax.random.fold_in(key, 1), H, self.chrono_max_len, dtype)
            params["b"] = params["b"].at[H:2 * H].set(b_z)
        return params

    def step(self, params: Params, carry: RNNCarry, p_t):
        H = self.hidden_size
        hw = carry.h @ params["w_h"]
        r = jax.nn.sigmoid(p_t[..., :H] + hw[..., :H])
        z = jax.nn.sigmoid(p_t[..., H:2 * H] + hw[..., H:2 * H])
        n = jnp.tanh(p_t[..., 2 * H:] + r * (hw[..., 2 * H:] + params["b_hn"]))
        h = (1.0 - z) * n + z * carry.h
        return RNNCarry(h), h


# --------------------------------------------------------------------------- minGRU, minLSTM


def _g(v):
    """The min-RNN paper's positive activation: v + 0.5 for v >= 0, σ(v) otherwise."""
    return jnp.where(v >= 0, v + 0.5, jax.nn.sigmoid(v))


def _log_g(v):
    """log g(v), computed without forming g."""
    return jnp.where(v >= 0, jnp.log(jnp.maximum(v, 0.0) + 0.5), -jax.nn.softplus(-v))


class MinRNNCell(_HiddenOnlyCell):
    """minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

    Their gates read only x_t, so the recurrence is linear in the state,
    h_t = a_t ⊙ h_{t-1} + b_t, with (a_t, b_t) = ``coefficients(p_t)`` from the projected
    input alone; ``lstmjax.min_rnn`` runs that recurrence in sequential, chunked and
    parallel (associative-scan) forms. g(v) = v + 0.5 for v >= 0 and σ(v) otherwise (the
    paper's positive activation, in every form, so all forms compute the same function).
    Params: ``w_x [D, G*H]`` (blocks ``self.blocks``), ``b [G*H]``; no W_h.
    """

    blocks: tuple[str, ...] = ()

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        return _input_params(key, input_size, len(self.blocks), self.hidden_size, dtype)

    def step(self, params: Params, carry: RNNCarry, p_t):
        a, b = self.coefficients(p_t)
        h = a * carry.h + b
        return RNNCarry(h), h


@dataclasses.dataclass(frozen=True)
class MinGRUCell(MinRNNCell):
    """minGRU: z_t = σ(W_z x_t + b_z), h~_t = g(W_h x_t + b_h),
    h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h~_t. Blocks (z, h~).

    Here z_t *replaces* the state (the paper's convention, the opposite of
    :class:`GRUCell`'s z, which keeps it). ``chrono_max_len`` > 0 is the keep init, the
    counterpart of the GRU's: b_z = -log U[1, T_max - 1], so the kept fraction
    1 - z = σ(-b_z) starts between 1/2 and (T_max-1)/T_max, as the GRU's z does.
    0 = off (b_z = 0).
    """

    hidden_size: int
    chrono_max_len: float = 0.0

    blocks = ("z", "h")

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        params = super().init(key, input_size, dtype)
        if self.chrono_max_len:  # its own key: the init without chrono stays as it was
            keep = chrono_bias(jax.random.fold_in(key, 1), self.hidden_size,
                               self.chrono_max_len, dtype)
            params["b"] = params["b"].at[:self.hidden_size].set(-keep)
        return params

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


@dataclasses.dataclass(frozen=True)
class MinLSTMCell(MinRNNCell):
    """minLSTM: f_t = σ(W_f x_t + b_f), i_t = σ(W_i x_t + b_i), h~_t = g(W_h x_t + b_h),
    f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t), h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h~_t.
    Blocks (f, i, h~); b_f starts at 1, as the LSTM's forget bias.

    ``chrono_max_len`` > 0 is the LSTM's chrono init: b_f = log U[1, T_max - 1] and
    b_i = -b_f, so at zero input f + i = 1 and the kept fraction f' = σ(b_f) starts
    between 1/2 and (T_max-1)/T_max. 0 = off (b_f = 1, b_i = 0).
    """

    hidden_size: int
    chrono_max_len: float = 0.0

    blocks = ("f", "i", "h")

    def init(self, key, input_size: int, dtype=jnp.float32) -> Params:
        H = self.hidden_size
        params = super().init(key, input_size, dtype)
        params["b"] = params["b"].at[:H].set(1.0)
        if self.chrono_max_len:  # its own key: the init without chrono stays as it was
            b_f = chrono_bias(jax.random.fold_in(key, 1), H, self.chrono_max_len, dtype)
            params["b"] = params["b"].at[:H].set(b_f).at[H:2 * H].set(-b_f)
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


# --------------------------------------------------------------------------- registry

CELL_TYPES = ("lstm", "gru", "rnn", "irnn", "min_lstm", "min_gru")
_CHRONO_CELLS = ("lstm", "gru", "min_lstm", "min_gru")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def make_cell(cell_type: str, hidden_size: int, *, gates: str | GateConfig = "standard",
              forget_bias: float | None = None, chrono_max_len: float = 0.0,
              recurrent_init: str | None = None):
    """Build a cell from plain config values, validated here (the one place).

    ``forget_bias`` and ``recurrent_init`` are None when the user left them unset: the
    cell's own default (:data:`FORGET_BIAS`, :data:`RECURRENT_INIT`) then applies where
    the cell has the field, and no default is ever read as "not applicable". A value that
    is set but that the cell would not use raises instead of being ignored: a gate preset
    other than "standard" or a ``forget_bias`` for a cell other than "lstm",
    ``chrono_max_len > 0`` (0 is off) for a cell outside ``_CHRONO_CELLS``, a
    ``recurrent_init`` for the min cells (they have no recurrent kernel) or for the IRNN
    (its W_h starts at the identity: that is what makes it an IRNN).
    """
    if cell_type not in CELL_TYPES:
        raise ValueError(f"cell={cell_type!r} is not accepted; use one of {CELL_TYPES}")
    gate_config = get_gates(gates)  # raises with the accepted preset names
    if forget_bias is not None and (not _is_number(forget_bias)
                                    or not math.isfinite(forget_bias)):
        raise ValueError(f"forget_bias={forget_bias!r} must be a finite number (or None: the "
                         "cell's default)")
    if chrono_max_len is None:
        raise ValueError("chrono_max_len=None is not accepted; use 0 for off (or the expected "
                         "longest dependency in steps, > 2)")
    if not _is_number(chrono_max_len) or not (
            chrono_max_len == 0 or 2 < chrono_max_len < math.inf):
        raise ValueError(f"chrono_max_len={chrono_max_len!r} must be 0 (off) or a finite "
                         "number > 2 (the expected longest dependency, in steps)")
    if recurrent_init is not None and recurrent_init not in RECURRENT_INITS:
        raise ValueError(f"recurrent_init={recurrent_init!r} is not accepted; use one of "
                         f"{RECURRENT_INITS} (or None: the cell's default)")
    if cell_type != "lstm" and gate_config != PRESETS["standard"]:
        raise ValueError(f"gates={gates!r} applies only to cell='lstm'; cell={cell_type!r} has "
                         "no gate presets (leave gates='standard')")
    if cell_type != "lstm" and forget_bias is not None:
        raise ValueError(f"forget_bias={forget_bias!r} applies only to cell='lstm'; leave it "
                         f"unset (None) for cell={cell_type!r}")
    if cell_type not in _CHRONO_CELLS and chrono_max_len:
        raise ValueError(f"chrono_max_len={chrono_max_len!r} applies only to cell in "
                         f"{_CHRONO_CELLS}; use 0 (off) for cell={cell_type!r}")
    if cell_type in ("min_lstm", "min_gru") and recurrent_init is not None:
        raise ValueError(f"recurrent_init={recurrent_init!r} does not apply to "
                         f"cell={cell_type!r} (it has no recurrent kernel); leave it unset (None)")
    if cell_type == "irnn" and recurrent_init is not None:
        raise ValueError(f"recurrent_init={recurrent_init!r} does not apply to cell='irnn' (its "
                         "W_h starts at the identity, Le et al. 2015); leave it unset (None), "
                         "or use cell='rnn' for a tanh RNN with that init")
    # only what the user set reaches the constructor; the dataclass fills in its defaults
    init = {} if recurrent_init is None else {"recurrent_init": recurrent_init}
    match cell_type:
        case "lstm":
            bias = {} if forget_bias is None else {"forget_bias": float(forget_bias)}
            return LSTMCell(hidden_size, gate_config, chrono_max_len=float(chrono_max_len),
                            **bias, **init)
        case "gru":
            return GRUCell(hidden_size, chrono_max_len=float(chrono_max_len), **init)
        case "rnn":
            return RNNCell(hidden_size, **init)
        case "irnn":
            return IRNNCell(hidden_size)
        case "min_lstm":
            return MinLSTMCell(hidden_size, chrono_max_len=float(chrono_max_len))
        case "min_gru":
            return MinGRUCell(hidden_size, chrono_max_len=float(chrono_max_len))
