"""A Flax NNX module around the pure functions: ``lstmjax.nnx.LSTM(config, rngs=...)``.

    model = lstmjax.nnx.LSTM(lstmjax.LSTMConfig(8, 32, bidirectional=True, gates="cifg"),
                             rngs=nnx.Rngs(0))
    ys, state = model(xs, lengths)          # == lstmjax.apply(model.params, config, xs, lengths)

The module holds the very pytree :func:`lstmjax.init` makes, each leaf an ``nnx.Param``,
and its ``__call__`` is :func:`lstmjax.apply`; so every config option (cells, gate
presets, bidirectional, stacking, dropout between layers, ``unroll``, ``remat``) and the
exact padding semantics carry over, and weights move between the two freely
(``model.params``, ``LSTM.from_params``), also from other libraries via
:mod:`lstmjax.interop`::

    config, params = lstmjax.interop.from_torch(torch_lstm.state_dict())
    model = lstmjax.nnx.LSTM.from_params(params, config)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from lstmjax import api
from lstmjax.api import LSTMConfig

__all__ = ["LSTM"]


class LSTM(nnx.Module):
    """A stacked, optionally bidirectional LSTM/GRU/RNN as an NNX module.

    Args:
      config: an :class:`lstmjax.LSTMConfig` (static; stored on the module).
      rngs: ``nnx.Rngs``; its ``params`` stream initializes the weights, and its
        ``dropout`` stream (if any, and ``config.dropout > 0``) is forked for dropout.
      dtype: parameter dtype.
      deterministic: disable dropout (also toggled by ``model.eval()``/``model.train()``).
      params: optional lstmjax params to start from instead of a fresh init.
    """

    def __init__(self, config: LSTMConfig, *, rngs: nnx.Rngs | None = None,
                 dtype=jnp.float32, deterministic: bool = False, params=None):
        if not isinstance(config, LSTMConfig):
            raise TypeError(f"config must be an lstmjax.LSTMConfig, got {type(config).__name__}")
        if params is None:
            if rngs is None:
                raise ValueError("lstmjax.nnx.LSTM needs rngs=nnx.Rngs(...) to initialize its "
                                 "params (or params=... to start from given ones)")
            params = api.init(rngs.params(), config, dtype)
        else:
            api.check_params(params, config)
        self.config = config
        self.layers = nnx.data([jax.tree.map(lambda a: nnx.Param(jnp.asarray(a)), dict(layer))
                                for layer in params])
        self.deterministic = deterministic
        if rngs is not None and config.dropout > 0 and "dropout" in rngs:
            self.rngs = rngs["dropout"].fork()
        else:
            self.rngs = nnx.data(None)

    @classmethod
    def from_params(cls, params, config: LSTMConfig, *, rngs: nnx.Rngs | None = None,
                    deterministic: bool = False) -> "LSTM":
        """A module holding the given lstmjax params (e.g. from :mod:`lstmjax.interop`)."""
        return cls(config, rngs=rngs, params=params, deterministic=deterministic)

    @property
    def params(self) -> list:
        """The plain lstmjax params (``list`` over layers of ``{"fw", "bw"}`` dicts)."""
        return [jax.tree.map(lambda p: p[...], layer, is_leaf=lambda x: isinstance(x, nnx.Param))
                for layer in self.layers]

    def initial_state(self, batch: int, dtype=jnp.float32):
        return api.initial_state(self.config, batch, dtype)

    def __call__(self, xs, lengths=None, *, initial_state=None, deterministic: bool | None = None,
                 rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None):
        """``lstmjax.apply(self.params, self.config, xs, lengths, ...)``.

        Returns ``(ys [B, T, H·dirs], final_state)``. Dropout between layers is on when
        ``config.dropout > 0`` and the module is not deterministic; its key comes from
        ``rngs`` (a key, stream or ``nnx.Rngs`` with a ``dropout`` stream) or the
        stream forked at construction.
        """
        deterministic = self.deterministic if deterministic is None else deterministic
        dropout_key = None
        if self.config.dropout > 0 and not deterministic:
            source = rngs if rngs is not None else self.rngs
            if source is None:
                raise ValueError("config.dropout > 0 and the module is not deterministic, but no "
                                 "rngs were given: pass rngs=nnx.Rngs(dropout=...) here or at "
                                 "construction, or call with deterministic=True / model.eval()")
            if isinstance(source, nnx.Rngs):
                source = source["dropout"]
            dropout_key = source() if isinstance(source, nnx.RngStream) else source
        if lengths is not None and not isinstance(lengths, jax.core.Tracer):
            # the value check [1, T] of lstmjax.apply needs concrete lengths: do it before jit
            api._check_lengths(lengths, jnp.shape(xs)[0], jnp.shape(xs)[1])
        return _apply(self.params, self.config, xs, lengths, initial_state=initial_state,
                      dropout_key=dropout_key)


# Compiled once per (config, shapes): an eager call of the module is not op by op; under
# an outer nnx.jit / jax.jit this inner jit is simply inlined.
_apply = jax.jit(api.apply, static_argnames=("config",))
