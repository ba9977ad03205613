"""The optimizer and its learning-rate schedule, built once from ``config.optimizer``.

    tx, schedule = make_optimizer(cfg["optimizer"], total_steps=cfg["steps"])

``tx`` is an optax chain: global-norm clipping (``grad_clip > 0``), weight decay
(``weight_decay > 0``; decoupled for adamw), then the optimizer with ``schedule``.
Parameters named in ``frozen`` (top-level keys of the params dict, e.g. ``"embed"`` for
``model.freeze_embeddings``) get no update at all: ``optax.multi_transform`` routes them
to ``optax.set_to_zero()``, so neither the step, the weight decay nor the clipping norm
sees them, and the optimizer keeps no state for them.

With ``ema_decay > 0`` the chain ends with :func:`params_ema`: the optimizer state also
holds an exponential moving average of the parameters (Polyak averaging), which
:func:`averaged_params` reads; training evaluates, keeps and exports the average.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax


def _constant(lr, end, decay_steps, opt):
    return optax.constant_schedule(lr)


def _cosine(lr, end, decay_steps, opt):
    return optax.cosine_decay_schedule(lr, decay_steps, float(opt["min_lr_ratio"]))


def _linear(lr, end, decay_steps, opt):
    return optax.linear_schedule(lr, end, decay_steps)


def _exponential(lr, end, decay_steps, opt):
    return optax.exponential_decay(lr, decay_steps, float(opt["decay_rate"]))


# name -> (lr, end_lr, decay_steps, opt) -> schedule of the steps after warmup
SCHEDULES: dict[str, Callable] = {"constant": _constant, "cosine": _cosine,
                                  "linear": _linear, "exponential": _exponential}


def _momentum(opt) -> float | None:
    return float(opt["momentum"]) or None


# name -> (schedule, opt) -> optax transformation (weight decay handled below)
OPTIMIZERS: dict[str, Callable] = {
    "adam": lambda lr, opt: optax.adam(lr),
    "adamw": lambda lr, opt: optax.adamw(lr, weight_decay=float(opt["weight_decay"])),
    "sgd": lambda lr, opt: optax.sgd(lr, momentum=_momentum(opt)),
    "rmsprop": lambda lr, opt: optax.rmsprop(lr, momentum=_momentum(opt)),
}


def make_schedule(opt: Mapping, total_steps: int) -> optax.Schedule:
    """``step -> learning rate``: linear warmup from 0 over ``warmup_steps`` (if any), then
    ``schedule`` from ``learning_rate`` down to ``learning_rate · min_lr_ratio`` at
    ``total_steps`` (cosine, linear) or by ``decay_rate`` per ``total_steps`` (exponential)."""
    kind = opt["schedule"]
    if kind not in SCHEDULES:
        raise ValueError(f"config.optimizer.schedule={kind!r} is not accepted; "
                         f"accepted: {sorted(SCHEDULES)}")
    lr, warm = float(opt["learning_rate"]), int(opt["warmup_steps"])
    decay = SCHEDULES[kind](lr, lr * float(opt["min_lr_ratio"]), max(total_steps - warm, 1), opt)
    if not warm:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), decay], [warm])


class EmaState(NamedTuple):
    """:func:`params_ema`'s state: ``count`` (int32, updates averaged) and ``ema`` (a
    pytree like the parameters)."""

    count: Any
    ema: Any


def params_ema(decay: float) -> optax.GradientTransformation:
    """The moving average of the parameters after each update, kept in the optimizer state
    (so checkpoints, resume and every device layout carry it with nothing added):

        p_t = p_{t-1} + u_t
        d_t = min(decay, (1 + t) / (10 + t))          t = updates so far, from 0
        ema_t = d_t · ema_{t-1} + (1 - d_t) · p_t      ema_0 = the initial parameters

    ``d_t`` is TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` warm-up: early on
    the average follows the parameters instead of staying at their initialization. It must
    be the chain's last step (``u_t`` is the final update); the updates pass unchanged.
    """
    def init(params):
        return EmaState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.asarray, params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("params_ema needs the parameters: optimizer.update(g, s, params)")
        new = optax.apply_updates(params, updates)
        t = state.count.astype(jnp.float32)
        d = jnp.minimum(jnp.float32(decay), (1.0 + t) / (10.0 + t))
        ema = jax.tree.map(lambda e, p: (d * e + (1.0 - d) * p).astype(e.dtype), state.ema, new)
        return updates, EmaState(state.count + 1, ema)

    return optax.GradientTransformation(init, update)


def averaged_params(params, opt_state):
    """The parameters to evaluate: :func:`params_ema`'s average when ``opt_state`` holds
    one, else ``params`` themselves."""
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, EmaState))
             if isinstance(s, EmaState)]
    return found[0].ema if found else params


def make_optimizer(opt: Mapping, total_steps: int, frozen: Iterable[str] = ()
                   ) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """``(tx, schedule)`` for ``config.optimizer`` over a run of ``total_steps`` steps;
    the top-level params in ``frozen`` are never updated (see the module doc)."""
    name = opt["name"]
    if name not in OPTIMIZERS:
        raise ValueError(f"config.optimizer.name={name!r} is not accepted; "
                         f"accepted: {sorted(OPTIMIZERS)}")
    schedule = make_schedule(opt, total_steps)
    tx = OPTIMIZERS[name](schedule, opt)
    if name != "adamw" and float(opt["weight_decay"]):
        tx = optax.chain(optax.add_decayed_weights(float(opt["weight_decay"])), tx)
    if float(opt["grad_clip"]) > 0:
        tx = optax.chain(optax.clip_by_global_norm(float(opt["grad_clip"])), tx)
    frozen = frozenset(frozen)
    if frozen:
        # labels by top-level key: without a frozen key the chain (and so the optimizer
        # state a checkpoint holds) is exactly the one it always was
        def labels(params):
            return {k: jax.tree.map(lambda _, k=k: "frozen" if k in frozen else "train", v)
                    for k, v in params.items()}
        tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
    decay = float(opt["ema_decay"])
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"config.optimizer.ema_decay={decay!r} is not accepted; accepted: "
                         "0 (off) or a decay in (0, 1), e.g. 0.999")
    if decay:
        # last: it averages the parameters after the final update (off: the chain, and so
        # a checkpoint's optimizer state, is exactly the one it always was)
        tx = optax.chain(tx, params_ema(decay))
    return tx, schedule
