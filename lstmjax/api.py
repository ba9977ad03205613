"""The top-level entry point: ``LSTMConfig``, ``init``, ``apply``.

    config = lstmjax.LSTMConfig(input_size=8, hidden_size=32, bidirectional=True)
    params = lstmjax.init(jax.random.key(0), config)
    ys, state = lstmjax.apply(params, config, xs, lengths)   # xs [B, T, 8] -> ys [B, T, 64]
    sentence = lstmjax.sentence_representation(state)       # [h_fw at len-1 ; h_bw at 0]

Everything a user can get wrong is checked here, before anything is traced, and
reported as a ``ValueError``/``TypeError`` naming the field, the value and what is
accepted. Which driver runs the recurrence is decided by ``lstmjax.dispatch``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from lstmjax import dispatch, recurrence
from lstmjax.cells import CELL_TYPES, make_cell
from lstmjax.gates import GateConfig


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
    """Static description of a (stacked, optionally bidirectional) recurrent network.

    Attributes:
      input_size: D, the size of each input vector x_t.
      hidden_size: H, the size of h_t and C_t per direction.
      num_layers: stacked layers; layer l+1 reads layer l's per-step outputs.
      bidirectional: add a backward direction per layer; outputs are [h_fw ; h_bw].
      cell: one of ``lstmjax.cells.CELL_TYPES``: "lstm", "gru", "rnn" (tanh), "irnn"
        (ReLU, W_h = I at init; Le et al. 2015), "min_lstm", "min_gru" (Feng et al. 2024).
      gates: LSTM gate preset name (see ``lstmjax.gates.PRESETS``) or a ``GateConfig``;
        cell="lstm" only (another preset with another cell raises).
      forget_bias: initial forget-gate bias; None (unset) = the LSTM's own default,
        ``lstmjax.cells.FORGET_BIAS`` (Jozefowicz et al. 2015 recommend 1.0);
        cell="lstm" only (set for another cell, it raises).
      chrono_max_len: 0 = off; > 2: chrono initialization (Tallec & Ollivier 2018) for
        the expected longest dependency: b ~ log U[1, T_max - 1] on the LSTM's and the
        minLSTM's forget gate (with b_i = -b_f) or the GRU's update gate z, and -b on the
        minGRU's z (which replaces the state): the "keep" init. lstm, gru, min_lstm and
        min_gru only.
      recurrent_init: "orthogonal" (per gate block) or "glorot"; None (unset) = the
        cell's own default, ``lstmjax.cells.RECURRENT_INIT``; not for the
        min cells, which have no recurrent kernel, nor the IRNN (W_h = I at init).
      dropout: dropout rate between layers (not after the last), as in torch.nn.LSTM.
      unroll: time steps unrolled per scan iteration (speed knob, same numbers; the
        parallel min-RNN forms have no loop to unroll).
      remat: rematerialize in the backward pass (long T in bounded memory).
      implementation: "auto" (the default: the fastest driver for the cell), "fast" or
        "reference" (the plain ``recurrence.scan``); see ``lstmjax.dispatch``.
      form: min-RNN cells only: "auto", "sequential", "chunked", "parallel" or
        "parallel_linear" (see ``lstmjax.min_rnn``); "auto" is "chunked" on CPU,
        "parallel" elsewhere. None (unset) = "auto", which every cell accepts.
      chunk: steps per chunk of the min-RNN "chunked" form; None (unset) = the form's own
        default, ``lstmjax.min_rnn.CHUNK``.

    None means "left unset" (the fields above): the cell or driver then applies its own
    default where the field applies, so a default is written once, where it is used, and
    never doubles as a "does not apply" marker.
    """

    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    cell: str = "lstm"
    gates: str | GateConfig = "standard"
    forget_bias: float | None = None
    chrono_max_len: float = 0.0
    recurrent_init: str | None = None
    dropout: float = 0.0
    unroll: int = 1
    remat: bool = False
    implementation: str = "auto"
    form: str | None = None
    chunk: int | None = None

    def __post_init__(self):
        for name in ("input_size", "hidden_size", "num_layers", "unroll", "chunk"):
            value = getattr(self, name)
            if value is None and name == "chunk":  # unset: the chunked form's default
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"LSTMConfig.{name} must be an int, got {value!r}")
            if value < 1:
                raise ValueError(f"LSTMConfig.{name}={value!r} must be a positive int (>= 1)")
        for name in ("bidirectional", "remat"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"LSTMConfig.{name} must be a bool, got {getattr(self, name)!r}")
        if self.cell not in CELL_TYPES:
            raise ValueError(f"LSTMConfig.cell={self.cell!r} is not accepted; use one of {CELL_TYPES}")
        try:
            rate = float(self.dropout)
        except (TypeError, ValueError):
            rate = float("nan")
        if isinstance(self.dropout, bool) or not 0.0 <= rate < 1.0:
            raise ValueError(f"LSTMConfig.dropout={self.dropout!r} must be in [0, 1)")
        cell = self.make_cell()  # validates gates, forget_bias, chrono_max_len, recurrent_init
        # validates implementation, form, chunk, unroll and remat for this cell; the backend
        # only resolves form="auto", which no combination's validity depends on
        dispatch.driver(cell, self.implementation, self.form, self._chunk(),
                        unroll=int(self.unroll), remat=self.remat, backend="cpu")

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

    def driver(self) -> Callable:
        """The single-direction driver ``lstmjax.dispatch`` picks for this config."""
        return dispatch.driver(self.make_cell(), self.implementation, self.form,
                               self._chunk(), unroll=int(self.unroll), remat=self.remat)

    def _chunk(self) -> int | None:
        return None if self.chunk is None else int(self.chunk)  # numpy ints -> int


_DIRECTIONS = ("fw", "bw")


def init(key, config: LSTMConfig, dtype=jnp.float32):
    """Parameters: a list over layers of ``{"fw": cell_params[, "bw": cell_params]}``.

    ``key``: a PRNG key (``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``);
    ``dtype``: a floating dtype. Each (layer, direction) gets its own key by ``fold_in``,
    so adding a layer or a direction leaves the others' initial values unchanged.
    Compiled once per config (eagerly, every small op would be compiled and dispatched
    on its own).
    """
    _check_config(config)
    _check_key(key, "key")
    return _init_jit(key, config, _check_dtype(dtype))


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
          dropout_key=None, checked: bool = False):
    """Run the network over a right-padded batch.

    Args:
      params: from :func:`init` (or ``lstmjax.interop``), all leaves of one floating dtype.
      config: the ``LSTMConfig`` the params were made for.
      xs: ``[B, T, input_size]`` floating inputs, right-padded. They are cast to the
        params' dtype (e.g. bf16 inputs to f32 params). Padded steps (t >= length) are
        replaced by 0 before any arithmetic, so NaN/Inf there cannot reach the outputs
        or the gradients.
      lengths: optional ``[B]`` integer valid lengths in [1, T]. Concrete lengths are
        checked (a ValueError names the first bad one). Traced lengths (under ``jit``) are
        not, unless ``checked=True``: then out-of-range lengths are unchecked and act
        like this: a length > T acts as T, a length < 1 gives all-zero outputs and the
        initial carry as that sequence's final state.
      initial_state: optional, structured like :func:`initial_state` (cast to the
        params' dtype).
      dropout_key: a PRNG key to enable inter-layer dropout (training); None = off.
      checked: add a ``checkify`` check that traced lengths are in [1, T]; the caller
        must functionalize it with ``jax.experimental.checkify.checkify`` (or use
        :func:`apply_checked`, which does).
    Returns:
      ``(outputs, final_state)``: outputs ``[B, T, H·dirs]`` (0 at padded steps);
      final_state a tuple over layers of ``{"fw": carry, "bw": carry}`` where the fw
      carry is the state at t = length-1 and the bw carry the state at t = 0.
    """
    _check_config(config)
    xs = _check_inputs(xs, config)
    num_steps = xs.shape[1]
    lengths = _check_lengths(lengths, xs.shape[0], num_steps)
    dtype = _params_dtype(params, config)
    xs = xs.astype(dtype)
    if initial_state is not None:
        _check_state(initial_state, config, xs.shape[0])
        initial_state = jax.tree.map(lambda v: jnp.asarray(v, dtype), initial_state)
    if dropout_key is not None:
        _check_key(dropout_key, "dropout_key")
    if lengths is not None:
        if checked:
            checkify.check(jnp.all((lengths >= 1) & (lengths <= num_steps)),
                           f"lengths must be in [1, T={num_steps}], got {{}}", lengths)
        xs = jnp.where(recurrence.length_mask(lengths, num_steps)[..., None], xs, 0)
    cells = [config.make_cell()] * config.num_layers
    return recurrence.stack(
        cells, params, xs, lengths, num_directions=config.num_directions,
        initial_state=initial_state, dropout_rate=float(config.dropout),
        dropout_key=dropout_key, scan_fn=config.driver())


def apply_checked(params, config: LSTMConfig, xs, lengths=None, **kwargs):
    """:func:`apply` with the lengths' values checked also under ``jit``.

    Returns ``(error, (outputs, final_state))``; ``error.throw()`` (outside ``jit``)
    raises a ValueError (checkify's ``JaxRuntimeError``) naming the bad length::

        f = jax.jit(lstmjax.apply_checked, static_argnums=1)
        error, (ys, state) = f(params, config, xs, lengths)
        error.throw()
    """
    run = checkify.checkify(lambda p, x, n, kw: apply(p, config, x, n, checked=True, **kw))
    return run(params, xs, lengths, kwargs)


def sentence_representation(final_state, layer: int = -1):
    """The seed's sentence vector from a final state: ``[h_fw at len-1 ; h_bw at 0]``.

    ``layer``: which layer's state (default the last). For a unidirectional network this
    is the last valid h. Shape ``[B, H·dirs]``.
    """
    num_layers = len(final_state)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not (
            -num_layers <= layer < num_layers):
        raise ValueError(f"layer={layer!r} is not accepted for a final state of {num_layers} "
                         f"layer(s); use an int in [{-num_layers}, {num_layers - 1}] (-1 = last)")
    state = final_state[layer]
    return jnp.concatenate([state[name].h for name in _DIRECTIONS if name in state], axis=-1)


# --------------------------------------------------------------------------- validation


def check_shapes(got: Mapping[str, Any], expected: Mapping[str, tuple], *,
                 label: Callable[[str], str] = str, hint: Callable[[str], str] = lambda k: "",
                 error: type[Exception] = ValueError) -> None:
    """Missing, unexpected and mis-shaped leaves, each a one-line ``error``.

    ``got``: name -> array; ``expected``: name -> shape. ``label(name)`` is how a leaf is
    named in the message, ``hint(name)`` what is appended (e.g. the config). Used by
    :func:`check_params` and ``lstmjax.interop``.
    """
    for name, shape in expected.items():
        if name not in got:
            raise error(f"{label(name)} is missing (expected shape {tuple(shape)}){hint(name)}")
    for name, value in got.items():
        shape = tuple(int(s) for s in np.shape(value))
        if name not in expected:
            raise error(f"{label(name)} with shape {shape} is not expected{hint(name)}")
        if shape != tuple(expected[name]):
            raise error(f"{label(name)} has shape {shape}, expected {tuple(expected[name])}"
                        f"{hint(name)}")


def _check_config(config):
    if not isinstance(config, LSTMConfig):
        raise TypeError(f"config must be an lstmjax.LSTMConfig, got {type(config).__name__}")


def _check_key(key, name: str):
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if np.ndim(key) == 0:
            return
    elif dtype == jnp.uint32 and np.ndim(key) == 1:  # a raw key from jax.random.PRNGKey
        return
    got = (f"an array of dtype {dtype} and shape {tuple(np.shape(key))}" if dtype is not None
           else f"{type(key).__name__} {key!r}")
    raise TypeError(f"{name} must be one PRNG key (jax.random.key(seed) or "
                    f"jax.random.PRNGKey(seed)), got {got}")


def _check_dtype(dtype):
    try:
        dtype = jnp.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype={dtype!r} is not a dtype; use a floating one, e.g. "
                        "jnp.float32 or jnp.bfloat16") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype={dtype} is not accepted for params; use a floating dtype "
                        "(float32, bfloat16, float16, float64)")
    return dtype


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


def _leaves(tree) -> dict[str, Any]:
    return {jax.tree_util.keystr(path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def check_params(params, config: LSTMConfig):
    """Raise naming the first leaf whose key, shape or dtype does not fit ``config``."""
    _params_dtype(params, config)


def _params_dtype(params, config: LSTMConfig):
    """:func:`check_params`, returning the params' one floating dtype."""
    if not isinstance(params, (list, tuple)) or len(params) != config.num_layers:
        got = f"{type(params).__name__} of length {len(params)}" if isinstance(
            params, (list, tuple)) else type(params).__name__
        raise ValueError(f"params must be a list of {config.num_layers} layer(s) for this "
                         f"config, got {got}")
    got = _leaves(list(params))
    where = (f" (config: cell={config.cell!r}, gates={config.gates!r}, input_size="
             f"{config.input_size}, hidden_size={config.hidden_size}, num_layers="
             f"{config.num_layers}, bidirectional={config.bidirectional})")
    check_shapes(got, {k: v.shape for k, v in _leaves(_expected_params(config)).items()},
                 label=lambda k: f"params{k}", hint=lambda k: where)
    first, dtype = None, None
    for name, leaf in got.items():
        leaf_dtype = leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
        if not jnp.issubdtype(leaf_dtype, jnp.floating):
            raise TypeError(f"params{name} has dtype {leaf_dtype}; params must be floating "
                            "(lstmjax.init makes float32, or the dtype it is given)")
        if dtype is None:
            first, dtype = name, leaf_dtype
        elif leaf_dtype != dtype:
            raise TypeError(f"params{name} has dtype {leaf_dtype} but params{first} has "
                            f"{dtype}; all params must share one dtype")
    return jnp.dtype(dtype)


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
