"""The top-level entry point: ``LSTMConfig``, ``init``, ``apply``.

    config = lstmjax.LSTMConfig(input_size=8, hidden_size=32, bidirectional=True)
    params = lstmjax.init(jax.random.key(0), config)
    ys, state = lstmjax.apply(params, config, xs, lengths)   # xs [B, T, 8] -> ys [B, T, 64]
    sentence = lstmjax.sentence_representation(state)       # [h_fw at len-1 ; h_bw at 0]

Everything a user can get wrong is checked here, before anything is traced, and
reported as a ``ValueError``/``TypeError`` naming the field, the value and what is
accepted.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lstmjax import fast, recurrence
from lstmjax.cells import CELL_TYPES, make_cell
from lstmjax.gates import GateConfig, get_gates

_RECURRENT_INITS = ("orthogonal", "glorot")
_IMPLEMENTATIONS = ("auto", "fast", "reference")


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
    """Static description of a (stacked, optionally bidirectional) recurrent network.

    Attributes:
      input_size: D, the size of each input vector x_t.
      hidden_size: H, the size of h_t and C_t per direction.
      num_layers: stacked layers; layer l+1 reads layer l's per-step outputs.
      bidirectional: add a backward direction per layer; outputs are [h_fw ; h_bw].
      cell: "lstm", "gru" or "rnn" (tanh).
      gates: LSTM gate preset name (see ``lstmjax.gates.PRESETS``) or a ``GateConfig``.
      forget_bias: initial forget-gate bias (Jozefowicz et al. 2015 recommend 1.0).
      chrono_max_len: if set, chrono initialization (Tallec & Ollivier 2018) for the
        expected longest dependency: b_f ~ log U[1, T_max - 1], b_i = -b_f.
      recurrent_init: "orthogonal" (per gate block) or "glorot".
      dropout: dropout rate between layers (not after the last), as in torch.nn.LSTM.
      unroll: time steps unrolled per scan iteration (speed knob, same numbers).
      remat: rematerialize each step in the backward pass (long T in bounded memory).
      implementation: "reference" (the plain ``recurrence.scan``), "fast"
        (``lstmjax.fast.scan``: same numbers, faster; cells it does not serve run on the
        reference) or "auto" (= "fast"; the default).
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    cell: str = "lstm"
    gates: str | GateConfig = "standard"
    forget_bias: float = 1.0
    chrono_max_len: float | None = None
    recurrent_init: str = "orthogonal"
    dropout: float = 0.0
    unroll: int = 1
    remat: bool = False
    implementation: str = "auto"

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "num_layers", "unroll"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"LSTMConfig.{name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"LSTMConfig.{name}={value!r} must be a positive int (>= 1)")
        for name in ("bidirectional", "remat"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"LSTMConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.cell not in CELL_TYPES:
            raise ValueError(f"LSTMConfig.cell={self.cell!r} is not accepted; use one of {CELL_TYPES}")
        if self.implementation not in _IMPLEMENTATIONS:
            raise ValueError(f"LSTMConfig.implementation={self.implementation!r} is not "
                             f"accepted; use one of {_IMPLEMENTATIONS}")
        get_gates(self.gates)  # raises with the accepted preset names
        if self.recurrent_init not in _RECURRENT_INITS:
            raise ValueError(f"LSTMConfig.recurrent_init={self.recurrent_init!r} is not "
                             f"accepted; use one of {_RECURRENT_INITS}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"LSTMConfig.dropout={self.dropout!r} must be in [0, 1)")
        if self.chrono_max_len is not None and not float(self.chrono_max_len) > 2:
            raise ValueError(f"LSTMConfig.chrono_max_len={self.chrono_max_len!r} must be "
                             "None or > 2 (the expected longest dependency, in steps)")

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Size of each per-step output: H · directions."""
        return self.hidden_size * self.num_directions

    def make_cell(self):
        return make_cell(self.cell, self.hidden_size, gates=self.gates,
                         forget_bias=self.forget_bias, chrono_max_len=self.chrono_max_len,
                         recurrent_init=self.recurrent_init)


_DIRECTIONS = ("fw", "bw")


def init(key, config: LSTMConfig, dtype=jnp.float32):
    """Parameters: a list over layers of ``{"fw": cell_params[, "bw": cell_params]}``.

    Each (layer, direction) gets its own key by ``fold_in``, so adding a layer or a
    direction leaves the others' initial values unchanged. Compiled once per config
    (eagerly, every small op would be compiled and dispatched on its own).
    """
    _check_config(config)
    return _init_jit(key, config, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _init_jit(key, config: LSTMConfig, dtype):
    cell = config.make_cell()
    params = []
    for layer in range(config.num_layers):
        d_in = config.input_size if layer == 0 else config.output_size
        layer_key = jax.random.fold_in(key, layer)
        params.append({
            name: cell.init(jax.random.fold_in(layer_key, k), d_in, dtype)
            for k, name in enumerate(_DIRECTIONS[:config.num_directions])
        })
    return params


def initial_state(config: LSTMConfig, batch: int, dtype=jnp.float32):
    """Zero state in the structure ``apply`` returns: tuple over layers of direction dicts."""
    cell = config.make_cell()
    return tuple({name: cell.zero_carry(batch, dtype) for name in _DIRECTIONS[:config.num_directions]}
                 for _ in range(config.num_layers))


def apply(params, config: LSTMConfig, xs, lengths=None, *, initial_state=None,
          dropout_key=None, scan_fn=None):
    """Run the network over a right-padded batch.

    Args:
      params: from :func:`init` (or ``lstmjax.interop``).
      config: the ``LSTMConfig`` the params were made for.
      xs: ``[B, T, input_size]`` floating inputs, right-padded.
      lengths: optional ``[B]`` integer valid lengths in [1, T].
      initial_state: optional, structured like :func:`initial_state`.
      dropout_key: a PRNG key to enable inter-layer dropout (training); None = off.
      scan_fn: single-direction driver override; default from ``config.implementation``.
    Returns:
      ``(outputs, final_state)``: outputs ``[B, T, H·dirs]`` (0 at padded steps);
      final_state a tuple over layers of ``{"fw": carry, "bw": carry}`` where the fw
      carry is the state at t = length-1 and the bw carry the state at t = 0.
    """
    _check_config(config)
    xs = _check_inputs(xs, config)
    lengths = _check_lengths(lengths, xs.shape[0], xs.shape[1])
    check_params(params, config)
    if initial_state is not None:
        _check_state(initial_state, config, xs.shape[0])
    cells = [config.make_cell()] * config.num_layers
    if scan_fn is None and config.implementation != "reference":
        scan_fn = fast.scan  # runs the reference driver itself for cells it does not serve
    return recurrence.stack(
        cells, params, xs, lengths, num_directions=config.num_directions,
        initial_state=initial_state, dropout_rate=float(config.dropout),
        dropout_key=dropout_key, scan_fn=scan_fn, unroll=config.unroll, remat=config.remat)


def sentence_representation(final_state, layer: int = -1):
    """The seed's sentence vector from a final state: ``[h_fw at len-1 ; h_bw at 0]``.

    For a unidirectional network this is the last valid h. Shape ``[B, H·dirs]``.
    """
    state = final_state[layer]
    return jnp.concatenate([state[name].h for name in _DIRECTIONS if name in state], axis=-1)


# --------------------------------------------------------------------------- validation


def _check_config(config):
    if not isinstance(config, LSTMConfig):
        raise TypeError(f"config must be an lstmjax.LSTMConfig, got {type(config).__name__}")


def _check_inputs(xs, config: LSTMConfig):
    if not hasattr(xs, "shape") or not hasattr(xs, "dtype"):
        xs = np.asarray(xs)
    if xs.ndim != 3:
        raise ValueError(f"xs must have rank 3 [B, T, D], got shape {tuple(xs.shape)}")
    if xs.shape[0] < 1 or xs.shape[1] < 1:
        raise ValueError(f"xs must have B >= 1 and T >= 1, got shape {tuple(xs.shape)}")
    if xs.shape[2] != config.input_size:
        raise ValueError(f"xs has input size D={xs.shape[2]} (shape {tuple(xs.shape)}) but "
                         f"config.input_size={config.input_size}")
    if not jnp.issubdtype(xs.dtype, jnp.floating):
        raise TypeError(f"xs must be a floating array, got dtype {xs.dtype}")
    return jnp.asarray(xs)


def _check_lengths(lengths, batch: int, num_steps: int):
    if lengths is None:
        return None
    if not hasattr(lengths, "shape") or not hasattr(lengths, "dtype"):
        lengths = np.asarray(lengths)
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"lengths must have shape [B]=({batch},), got {tuple(lengths.shape)}")
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"lengths must be an integer array, got dtype {lengths.dtype}")
    if not isinstance(lengths, jax.core.Tracer):  # values can only be checked when concrete
        values = np.asarray(lengths)
        bad = (values < 1) | (values > num_steps)
        if bad.any():
            b = int(np.argmax(bad))
            raise ValueError(f"lengths[{b}]={int(values[b])} is outside [1, T={num_steps}]")
    return jnp.asarray(lengths, jnp.int32)


@functools.lru_cache(maxsize=256)
def _expected_params(config: LSTMConfig):
    return jax.eval_shape(lambda k: _init_jit(k, config, jnp.dtype(jnp.float32)), jax.random.key(0))


def check_params(params, config: LSTMConfig):
    """Raise a ValueError naming the first key/shape that does not match ``config``."""
    expected = _expected_params(config)
    if not isinstance(params, (list, tuple)) or len(params) != config.num_layers:
        got = f"{type(params).__name__} of length {len(params)}" if isinstance(
            params, (list, tuple)) else type(params).__name__
        raise ValueError(f"params must be a list of {config.num_layers} layer(s) for this "
                         f"config, got {got}")
    exp_leaves = dict(jax.tree_util.tree_flatten_with_path(expected)[0])
    got_leaves = dict(jax.tree_util.tree_flatten_with_path(list(params))[0])
    for path in exp_leaves:
        if path not in got_leaves:
            raise ValueError(f"params{jax.tree_util.keystr(path)} is missing (expected shape "
                             f"{exp_leaves[path].shape}); were these params made for another config?")
    for path, leaf in got_leaves.items():
        if path not in exp_leaves:
            raise ValueError(f"params{jax.tree_util.keystr(path)} is not expected by this config "
                             f"(cell={config.cell!r}, gates={config.gates!r}, "
                             f"bidirectional={config.bidirectional})")
        if tuple(np.shape(leaf)) != tuple(exp_leaves[path].shape):
            raise ValueError(f"params{jax.tree_util.keystr(path)} has shape {tuple(np.shape(leaf))}"
                             f", expected {tuple(exp_leaves[path].shape)} for this config")


def _check_state(state, config: LSTMConfig, batch: int):
    expected = jax.eval_shape(lambda: initial_state(config, batch))
    if jax.tree.structure(state) != jax.tree.structure(expected):
        raise ValueError("initial_state does not have the structure of "
                         f"lstmjax.initial_state(config, batch={batch}): {jax.tree.structure(expected)}")
    for path, (got, exp) in zip(
            (p for p, _ in jax.tree_util.tree_flatten_with_path(expected)[0]),
            zip(jax.tree.leaves(state), jax.tree.leaves(expected))):
        if tuple(np.shape(got)) != tuple(exp.shape):
            raise ValueError(f"initial_state{jax.tree_util.keystr(path)} has shape "
                             f"{tuple(np.shape(got))}, expected {tuple(exp.shape)}")
