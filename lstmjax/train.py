"""Training: config, TrainState, loss and metrics, the one per-device step, the fit loop.

    summary = lstmjax.train.run(config, workdir="runs/adding")   # or workdir=None
    summary["final_eval"]["accuracy"], summary["params_sha256"]

``config`` is an ``ml_collections.ConfigDict`` (see ``experiments/configs``) or a plain
nested dict; missing fields take the defaults of :func:`default_config`. Everything is
validated (:func:`resolve_config`) before anything compiles.

Reproducibility: ``seed`` derives every key by ``fold_in`` of ``jax.random.key(seed)``:
0 = parameter init, 1 = dropout (then folded with the step and the device index),
2 = training data order, 3 = the evaluation batches. The batch at step s is a pure
function of (seed, s), so a resumed run sees exactly the batches of an uninterrupted one.
``metrics.jsonl`` holds only deterministic values; wall-clock values go to
``timing.jsonl``.

The train step is written once, per device, with ``lax.pmean`` over a named axis, and
mapped by ``config.parallel`` (see :mod:`lstmjax.parallel`). Jitted steps are cached per
static configuration, so calling :func:`run` many times in one process compiles once
per (model, optimizer, task shape, layout).
"""

from __future__ import annotations

import copy
import functools
import math
import os
import signal
import threading
import time
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lstmjax import checkpoint as ckpt_lib
from lstmjax import models, parallel, runs

# --------------------------------------------------------------------------- config

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
VOCAB = "vocab.json"  # written into the run dir for token tasks built from text
SCHEDULES = ("constant", "cosine", "linear", "exponential")
PAD_TO = ("max_length", "batch")

_TOP_DEFAULTS = dict(
    seed=0, steps=1000, batch_size=32, parallel="none", num_devices=0, distributed="auto",
    log_every=10, eval_every=200, eval_batches=4, eval_batch_size=0, checkpoint_every=200,
    keep_checkpoints=3, pad_to="max_length", pad_multiple=32, bucket=False, plot=True,
)
_MODEL_DEFAULTS = dict(
    cell="lstm", gates="standard", hidden_size=64, num_layers=1, bidirectional=False,
    pooling="last", embed_dim=32, dropout=0.0, forget_bias=1.0, chrono_max_len=0.0,
    recurrent_init="orthogonal", unroll=1, remat=False,
)
_OPT_DEFAULTS = dict(
    name="adam", learning_rate=1e-3, momentum=0.9, schedule="constant", warmup_steps=0,
    decay_rate=0.1, min_lr_ratio=0.0, grad_clip=1.0, weight_decay=0.0,
)
_CHOICES = {
    "parallel": parallel.MODES, "distributed": ("auto", "on", "off"), "pad_to": PAD_TO,
    "model.cell": ("lstm", "gru", "rnn"), "model.pooling": models.POOLINGS,
    "model.recurrent_init": ("orthogonal", "glorot"),
    "optimizer.name": OPTIMIZERS, "optimizer.schedule": SCHEDULES,
}
_POSITIVE = {"steps", "batch_size", "pad_multiple", "model.hidden_size", "model.num_layers", "model.embed_dim",
             "model.unroll", "eval_batches"}
_NON_NEGATIVE = {"num_devices", "log_every", "eval_every", "eval_batch_size", "checkpoint_every",
                 "optimizer.warmup_steps", "optimizer.grad_clip", "optimizer.weight_decay",
                 "model.chrono_max_len", "optimizer.min_lr_ratio"}
# Fields that may change when resuming a run (they do not change what the state means).
_RESUMABLE = {"steps", "log_every", "eval_every", "eval_batches", "eval_batch_size",
              "checkpoint_every", "keep_checkpoints", "parallel", "num_devices",
              "distributed", "plot"}


def default_config():
    """All fields with their defaults (``data`` must name a task, see lstmjax.data)."""
    import ml_collections
    cfg = ml_collections.ConfigDict(dict(_TOP_DEFAULTS))
    cfg.data = ml_collections.ConfigDict({"name": "adding"})
    cfg.model = ml_collections.ConfigDict(dict(_MODEL_DEFAULTS))
    cfg.optimizer = ml_collections.ConfigDict(dict(_OPT_DEFAULTS))
    return cfg


def _to_dict(config) -> dict:
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, Mapping):
        return {k: _to_dict(v) if isinstance(v, Mapping) or hasattr(v, "to_dict") else v
                for k, v in config.items()}
    raise TypeError(f"config must be an ml_collections.ConfigDict or a dict, got "
                    f"{type(config).__name__}")


def _check_value(name: str, value, default):
    accepted = _CHOICES.get(name)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"config.{name}={value!r} must be a bool (True or False)")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"config.{name}={value!r} must be an int")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            raise TypeError(f"config.{name}={value!r} must be a finite number")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError(f"config.{name}={value!r} must be a string"
                            + (f"; accepted: {accepted}" if accepted else ""))
    if accepted is not None and value not in accepted:
        raise ValueError(f"config.{name}={value!r} is not accepted; accepted: {accepted}")
    if name in _POSITIVE and value < 1:
        raise ValueError(f"config.{name}={value!r} must be >= 1")
    if name in _NON_NEGATIVE and value < 0:
        raise ValueError(f"config.{name}={value!r} must be >= 0")


def _merge(section: str, given: dict, defaults: dict) -> dict:
    out = dict(defaults)
    for key, value in given.items():
        name = f"{section}.{key}" if section else key
        if key not in defaults:
            raise ValueError(f"config.{name} is not a known field; accepted: {sorted(defaults)}")
        _check_value(name, value, defaults[key])
        out[key] = value
    return out


def resolve_config(config) -> dict:
    """Defaults filled in and every value checked; returns a plain nested dict.

    Raises ``ValueError``/``TypeError`` naming the field, the value and what is accepted.
    Task fields (``config.data``) are checked by ``lstmjax.data.make_source``.
    """
    given = copy.deepcopy(_to_dict(config))
    sections = {"data", "model", "optimizer"}
    top = _merge("", {k: v for k, v in given.items() if k not in sections}, _TOP_DEFAULTS)
    top["model"] = _merge("model", _to_dict(given.get("model", {})), _MODEL_DEFAULTS)
    top["optimizer"] = _merge("optimizer", _to_dict(given.get("optimizer", {})), _OPT_DEFAULTS)
    data = _to_dict(given.get("data", {}))
    if not isinstance(data.get("name"), str):
        raise ValueError(f"config.data.name={data.get('name')!r} must name a task, e.g. 'adding'")
    top["data"] = data
    if not 0 <= top["seed"] < 2 ** 31:
        raise ValueError(f"config.seed={top['seed']!r} must be in [0, 2**31)")
    lr = top["optimizer"]["learning_rate"]
    if not lr > 0:
        raise ValueError(f"config.optimizer.learning_rate={lr!r} must be > 0")
    if not 0.0 <= top["model"]["dropout"] < 1.0:
        raise ValueError(f"config.model.dropout={top['model']['dropout']!r} must be in [0, 1)")
    if top["model"]["chrono_max_len"] and top["model"]["chrono_max_len"] <= 2:
        raise ValueError(f"config.model.chrono_max_len={top['model']['chrono_max_len']!r} must "
                         "be 0 (off) or > 2")
    if top["model"]["cell"] == "lstm":
        from lstmjax.gates import PRESETS
        if str(top["model"]["gates"]).lower() not in PRESETS:
            raise ValueError(f"config.model.gates={top['model']['gates']!r} is not accepted; "
                             f"accepted: {sorted(PRESETS)}")
    return top


def fingerprint(cfg: dict) -> dict:
    """The config fields that fix what a checkpoint's state means."""
    fp = {k: v for k, v in cfg.items() if k not in _RESUMABLE}
    if cfg["optimizer"]["schedule"] != "constant":
        fp["steps"] = cfg["steps"]  # the schedule depends on the run length
    return fp


# --------------------------------------------------------------------------- optimizer


def make_schedule(opt: Mapping, total_steps: int):
    """``step -> learning rate`` for ``opt["schedule"]`` (warmup applies to all but constant)."""
    lr, warm = float(opt["learning_rate"]), int(opt["warmup_steps"])
    end = lr * float(opt["min_lr_ratio"])
    kind = opt["schedule"]
    if kind == "constant":
        if warm:
            return optax.join_schedules([optax.linear_schedule(0.0, lr, warm),
                                         optax.constant_schedule(lr)], [warm])
        return optax.constant_schedule(lr)
    if kind == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0 if warm else lr, lr, warm,
                                                  max(total_steps, warm + 1), end)
    if kind == "linear":
        decay = optax.linear_schedule(lr, end, max(total_steps - warm, 1))
    elif kind == "exponential":
        decay = optax.exponential_decay(lr, max(total_steps - warm, 1), float(opt["decay_rate"]))
    else:
        raise ValueError(f"config.optimizer.schedule={kind!r}; accepted: {SCHEDULES}")
    if not warm:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warm), decay], [warm])


def make_optimizer(opt: Mapping, total_steps: int) -> optax.GradientTransformation:
    """optax chain: global-norm clipping (``grad_clip > 0``), then the optimizer."""
    sched = make_schedule(opt, total_steps)
    name = opt["name"]
    if name == "adam":
        tx = optax.adam(sched)
    elif name == "adamw":
        tx = optax.adamw(sched, weight_decay=float(opt["weight_decay"]))
    elif name == "sgd":
        tx = optax.sgd(sched, momentum=float(opt["momentum"]) or None)
    elif name == "rmsprop":
        tx = optax.rmsprop(sched, momentum=float(opt["momentum"]) or None)
    else:
        raise ValueError(f"config.optimizer.name={name!r}; accepted: {OPTIMIZERS}")
    if name != "adamw" and float(opt["weight_decay"]):
        tx = optax.chain(optax.add_decayed_weights(float(opt["weight_decay"])), tx)
    if float(opt["grad_clip"]) > 0:
        tx = optax.chain(optax.clip_by_global_norm(float(opt["grad_clip"])), tx)
    return tx


# --------------------------------------------------------------------------- state, loss


class TrainState(NamedTuple):
    """Everything a step changes: ``step`` (int32), ``params``, ``opt_state`` and ``rng``
    (uint32 ``jax.random.key_data`` of the dropout root key)."""

    step: Any
    params: Any
    opt_state: Any
    rng: Any


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; ``step`` is the update that produced it."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def score(outputs, batch, output_kind: str, tolerance: float | None):
    """Per-device sums: ``(loss_sum, count, correct_sum or None)``.

    classify: softmax cross-entropy; regress: squared error, correct when
    ``|error| < tolerance``; classify_per_step: cross-entropy over steps weighted by
    ``batch["mask"]`` (or the valid steps).
    """
    y = batch["y"]
    if output_kind == "classify":
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs, y.astype(jnp.int32))
        correct = (jnp.argmax(outputs, -1) == y).astype(jnp.float32).sum()
        return ce.sum(), jnp.float32(y.shape[0]), correct
    if output_kind == "regress":
        err = outputs - y.astype(outputs.dtype)
        correct = None if tolerance is None else (jnp.abs(err) < tolerance).astype(jnp.float32).sum()
        return (err ** 2).sum(), jnp.float32(y.shape[0]), correct
    if output_kind == "classify_per_step":
        mask = batch.get("mask")
        if mask is None:
            t = y.shape[1]
            mask = (jnp.arange(t)[None, :] < batch["lengths"][:, None])
        mask = mask.astype(jnp.float32)
        ce = optax.softmax_cross_entropy_with_integer_labels(outputs, y.astype(jnp.int32))
        correct = ((jnp.argmax(outputs, -1) == y).astype(jnp.float32) * mask).sum()
        return (ce * mask).sum(), mask.sum(), correct
    raise ValueError(f"output_kind={output_kind!r}; accepted: {models.OUTPUT_KINDS}")


DROPOUT_STREAM, INIT_STREAM, DATA_STREAM, EVAL_STREAM = 1, 0, 2, 3


def train_step(state: TrainState, batch, axis_name, *, model_config, optimizer, tolerance):
    """One update on this device's shard of the batch; collectives over ``axis_name``.

    The loss is the global mean: each device divides its loss sum by the mean count per
    device, so ``pmean`` of the gradients is the gradient of the global mean loss even
    when devices hold different numbers of scored steps (per-step masks).
    """
    use_dropout = model_config.rnn.dropout > 0
    dkey = None
    if use_dropout:
        dkey = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
        dkey = jax.random.fold_in(dkey, parallel.axis_index(axis_name))

    def loss_fn(params):
        out = models.apply(params, model_config, batch["x"], batch["lengths"], dropout_key=dkey)
        loss_sum, count, correct = score(out, batch, model_config.output_kind, tolerance)
        mean_count = parallel.pmean(count, axis_name)
        return loss_sum / mean_count, (loss_sum, count, correct)

    (_, (loss_sum, count, correct)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grads = parallel.pmean(grads, axis_name)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    total = parallel.psum(count, axis_name)
    metrics = {"loss": parallel.psum(loss_sum, axis_name) / total,
               "grad_norm": optax.tree.norm(grads)}
    if correct is not None:
        metrics["accuracy"] = parallel.psum(correct, axis_name) / total
    return TrainState(state.step + 1, params, opt_state, state.rng), metrics


def eval_step(params, batch, axis_name, *, model_config, tolerance):
    """Global sums over the batch: ``{"loss_sum", "count"[, "correct"]}``."""
    out = models.apply(params, model_config, batch["x"], batch["lengths"])
    loss_sum, count, correct = score(out, batch, model_config.output_kind, tolerance)
    sums = {"loss_sum": loss_sum, "count": count}
    if correct is not None:
        sums["correct"] = correct
    return parallel.psum(sums, axis_name)


@functools.lru_cache(maxsize=64)
def _compiled(model_config, opt_items: tuple, total_steps: int, tolerance, mode: str,
              devices: tuple):
    """(optimizer, mapped train step, mapped eval step), cached per static setup."""
    optimizer = make_optimizer(dict(opt_items), total_steps)
    step = functools.partial(train_step, model_config=model_config, optimizer=optimizer,
                             tolerance=tolerance)
    ev = functools.partial(eval_step, model_config=model_config, tolerance=tolerance)
    init = _compiled_init(model_config, opt_items, total_steps)
    return (optimizer, init, parallel.Mapped(step, mode, list(devices)),
            parallel.Mapped(ev, mode, list(devices), updates_state=False))


@functools.lru_cache(maxsize=64)
def _compiled_init(model_config, opt_items: tuple, total_steps: int):
    """The jitted initializer, shared by every device layout."""
    optimizer = make_optimizer(dict(opt_items), total_steps)
    return jax.jit(functools.partial(_init_and_seeds, model_config=model_config,
                                     optimizer=optimizer))


def init_state(seed, model_config, optimizer) -> TrainState:
    """The step-0 state for ``seed`` (traceable: ``seed`` may be a traced int)."""
    root = jax.random.key(seed)
    params = models.init(jax.random.fold_in(root, INIT_STREAM), model_config)
    return TrainState(jnp.int32(0), params, optimizer.init(params),
                      jax.random.key_data(jax.random.fold_in(root, DROPOUT_STREAM)))


def _init_and_seeds(seed, *, model_config, optimizer):
    """One compiled call: the initial state and the host pipelines' integer seeds."""
    root = jax.random.key(seed)
    seeds = jnp.stack([jax.random.bits(jax.random.fold_in(root, s), (), jnp.uint32)
                       for s in (DATA_STREAM, EVAL_STREAM)])
    return init_state(seed, model_config, optimizer), seeds


def _state_tree(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
            "rng": state.rng}


def _from_tree(tree: dict, like: TrainState) -> TrainState:
    # orbax returns containers of its own; rebuild our structure from the leaves
    leaves = jax.tree.leaves(tree)
    treedef = jax.tree.structure(_state_tree(like))
    rebuilt = jax.tree.unflatten(treedef, leaves)
    return TrainState(rebuilt["step"], rebuilt["params"], rebuilt["opt_state"], rebuilt["rng"])


def derived_seed(seed: int, stream: int) -> int:
    """A 31-bit integer seed for host-side pipelines, by ``fold_in`` of the run seed."""
    bits = jax.random.bits(jax.random.fold_in(jax.random.key(seed), stream), (), jnp.uint32)
    return int(bits) & 0x7FFFFFFF


# --------------------------------------------------------------------------- data


def _data_module():
    try:
        from lstmjax import data
    except ImportError as e:  # pragma: no cover - the data layer is part of the package
        raise ImportError(f"lstmjax.data is needed to train: {e}") from e
    return data


def prepare_batch(batch: Mapping[str, np.ndarray], spec, pad_to: str) -> dict[str, np.ndarray]:
    """Keep x, y, lengths (, mask); pad time to ``spec.max_length`` for a fixed shape."""
    out = {"x": np.asarray(batch["x"]), "y": np.asarray(batch["y"]),
           "lengths": np.asarray(batch["lengths"], np.int32)}
    if "mask" in batch and batch["mask"] is not None:
        out["mask"] = np.asarray(batch["mask"], np.float32)
    if spec.input_kind == "features" and out["x"].dtype != np.float32:
        out["x"] = out["x"].astype(np.float32)
    if pad_to == "max_length":
        t, target = out["x"].shape[1], int(spec.max_length)
        if t < target:
            def pad(a):
                widths = [(0, 0), (0, target - t)] + [(0, 0)] * (a.ndim - 2)
                return np.pad(a, widths)
            out["x"] = pad(out["x"])
            if "mask" in out:
                out["mask"] = pad(out["mask"])
            if spec.output_kind == "classify_per_step":
                out["y"] = pad(out["y"])
    return out


# --------------------------------------------------------------------------- fit loop


class _Interrupt:
    """SIGINT -> a flag checked after each step (a second Ctrl-C aborts at once)."""

    def __init__(self, enabled: bool):
        self.flag = False
        self._prev = None
        self.enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.enabled:
            self._prev = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._prev)


def run(config, workdir: str | None = None, *, checkpoints: bool = True,
        plots: bool | None = None, progress: bool = True, handle_sigint: bool | None = None,
        data_dir: str | None = None) -> dict:
    """Train one model; returns the summary dict (also written to ``workdir``).

    Args:
      config: ConfigDict or nested dict (see :func:`default_config`).
      workdir: run directory; an existing one with checkpoints is resumed from the latest.
        ``None`` writes nothing (sweeps).
      checkpoints: save orbax checkpoints every ``config.checkpoint_every`` steps.
      plots: write ``learning_curve.png`` (default ``config.plot``).
      progress: show a tqdm bar (steps/s, loss, ETA).
      handle_sigint: Ctrl-C saves a checkpoint and returns with ``status="interrupted"``
        (default: when checkpoints are written; otherwise Ctrl-C raises KeyboardInterrupt
        as usual). Sweeps that pass True should check ``summary["status"]``.
    Returns:
      ``{"status", "step", "final_eval", "final_train", "params_sha256", "num_params",
      "wall_time_s", "history", ...}``; ``history`` is every metrics record.
    Raises:
      NonFiniteLossError: the loss became NaN/Inf (the last good checkpoint is kept).
      lstmjax.checkpoint.CheckpointError: an unusable checkpoint in ``workdir``.
    """
    t_start = time.time()
    cfg = resolve_config(config)
    parallel.maybe_initialize_distributed(cfg["distributed"])
    data = _data_module()
    spec, train_src = data.make_source(cfg["data"], "train", data_dir=data_dir)
    _, val_src = data.make_source(cfg["data"], "validation", data_dir=data_dir)
    mcfg = models.from_task(spec, **cfg["model"])
    devices = parallel.resolve_devices(cfg["parallel"], cfg["num_devices"])
    n_dev = len(devices)
    parallel.check_batch(cfg["batch_size"], n_dev, "config.batch_size")
    eval_bs = cfg["eval_batch_size"] or cfg["batch_size"]
    parallel.check_batch(eval_bs, n_dev, "config.eval_batch_size")
    tolerance = getattr(spec, "tolerance", None) if spec.output_kind == "regress" else None
    optimizer, init_fn, train_fn, eval_fn = _compiled(
        mcfg, tuple(sorted(cfg["optimizer"].items())),
        cfg["steps"] if cfg["optimizer"]["schedule"] != "constant" else 0, tolerance,
        cfg["parallel"], tuple(devices))
    schedule = make_schedule(cfg["optimizer"], cfg["steps"])
    is_main = jax.process_index() == 0
    plots = cfg["plot"] if plots is None else plots

    # -- run directory
    paths = {}
    if workdir is not None:
        workdir = os.path.abspath(workdir)
        os.makedirs(workdir, exist_ok=True)
        paths = {name: os.path.join(workdir, name) for name in
                 (runs.METRICS, runs.TIMING, runs.CONFIG, runs.SUMMARY, runs.CURVE)}
        _check_workdir_config(paths[runs.CONFIG], cfg)
    metrics_log = runs.JsonlLog(paths.get(runs.METRICS) if is_main else None)
    timing_log = runs.JsonlLog(paths.get(runs.TIMING) if is_main else None)

    # -- state: fresh, or the latest checkpoint (with the open logging window)
    window: dict[str, float] = {}
    window_n = 0
    host_state, seeds = jax.device_get(init_fn(np.int32(cfg["seed"])))
    train_seed, eval_seed = (int(v) & 0x7FFFFFFF for v in seeds)
    pad_to = int(spec.max_length) if cfg["pad_to"] == "max_length" else None
    # pad_to="batch": each batch padded to its longest sequence, rounded up to
    # pad_multiple (few distinct shapes => few compiles); bucket groups similar lengths
    train_ds = data.batches(train_src, batch_size=cfg["batch_size"], seed=train_seed,
                            pad_to=pad_to, pad_multiple=cfg["pad_multiple"],
                            bucket=cfg["bucket"])
    train_iter = data.iterator(train_ds)
    checkpointer = None
    use_ckpt = checkpoints and workdir is not None and cfg["checkpoint_every"] > 0
    start = 0
    if use_ckpt:
        checkpointer = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"),
                                             fingerprint(cfg), keep=cfg["keep_checkpoints"])
        latest = checkpointer.latest_step()
        if latest is not None:
            try:
                tree, data_state, extra = checkpointer.restore(
                    latest, ckpt_lib.abstract_of(_state_tree(host_state)))
            except ckpt_lib.CheckpointError:
                checkpointer.close()
                raise
            window, window_n = dict(extra.get("window", {})), int(extra.get("window_n", 0))
            host_state = _from_tree(tree, host_state)
            start = int(host_state.step)
            if data_state is not None:
                train_iter.set_state(data_state)
    if start > cfg["steps"]:
        raise ValueError(f"config.steps={cfg['steps']} is below the step of the latest "
                         f"checkpoint ({start}) in {workdir}; nothing was changed")
    if paths and is_main:  # only now: a refused checkpoint leaves the workdir untouched
        runs.write_json(paths[runs.CONFIG], cfg)
        vocab = getattr(train_src, "vocabulary", None)
        if vocab is not None:  # text tasks: the tokenizer's vocabulary travels with the run
            vocab.save(os.path.join(workdir, VOCAB))
    history = metrics_log.truncate_after(start) if workdir is not None else []
    timing_log.truncate_after(start)
    state = train_fn.put_state(host_state)

    eval_batches = None

    def evaluate(params_on_devices):
        nonlocal eval_batches
        if eval_batches is None:
            ds = data.batches(val_src, batch_size=eval_bs, shuffle=True, pad_to=pad_to,
                              pad_multiple=cfg["pad_multiple"], seed=eval_seed)
            eval_batches = [eval_fn.put_batch(prepare_batch(ds[i], spec, cfg["pad_to"]))
                            for i in range(cfg["eval_batches"])]
        totals: dict[str, float] = {}
        for b in eval_batches:
            sums = jax.device_get(eval_fn.unreplicate(eval_fn(params_on_devices, b)))
            for k, v in sums.items():
                totals[k] = totals.get(k, 0.0) + float(v)
        out = {"loss": totals["loss_sum"] / totals["count"]}
        if "correct" in totals:
            out["accuracy"] = totals["correct"] / totals["count"]
        return out

    def params_of(s):
        return s.params

    # -- the loop
    t_window = time.time()
    status, step = "completed", start
    final_eval = next((r for r in reversed(history) if r["split"] == "eval"), None)
    last_saved = start if checkpointer is not None and checkpointer.latest_step() is not None else None
    if handle_sigint is None:
        handle_sigint = checkpointer is not None
    bar = _progress_bar(progress and is_main, cfg["steps"], start, spec.name)
    try:
        with _Interrupt(handle_sigint) as interrupt:
            while step < cfg["steps"]:
                batch = prepare_batch(next(train_iter), spec, cfg["pad_to"])
                batch = {k: v[parallel.process_rows(v.shape[0])] for k, v in batch.items()}
                state, m = train_fn(state, train_fn.put_batch(batch))
                m = {k: float(v) for k, v in jax.device_get(train_fn.unreplicate(m)).items()}
                step += 1
                if not math.isfinite(m["loss"]):
                    status = "non_finite"
                    kept = (f"the last good checkpoint (step {last_saved}) is kept in "
                            f"{checkpointer.directory}" if last_saved is not None else
                            "no checkpoint had been saved yet")
                    raise NonFiniteLossError(
                        f"loss is {m['loss']} at step {step} (the update from step {step - 1}); "
                        f"the run stopped; {kept}. Try a lower learning rate or "
                        "config.optimizer.grad_clip.", step)
                for k, v in m.items():
                    window[k] = window.get(k, 0.0) + v
                window_n += 1
                bar.update(1)
                if step % cfg["log_every"] == 0 or step == cfg["steps"]:
                    rec = {"step": step, "split": "train",
                           **{k: v / window_n for k, v in window.items()},
                           "learning_rate": float(schedule(step - 1))}
                    metrics_log.write(rec)
                    history.append(runs.json_roundtrip(rec))
                    now = time.time()
                    timing_log.write({"step": step, "steps_per_s": window_n / max(now - t_window, 1e-9),
                                      "elapsed_s": now - t_start})
                    bar.set_postfix(loss=f"{rec['loss']:.4g}", refresh=False)
                    window, window_n, t_window = {}, 0, now
                if cfg["eval_every"] and (step % cfg["eval_every"] == 0 or step == cfg["steps"]):
                    final_eval = {"step": step, "split": "eval", **evaluate(params_of(state))}
                    metrics_log.write(final_eval)
                    history.append(runs.json_roundtrip(final_eval))
                save_now = checkpointer is not None and (
                    step % cfg["checkpoint_every"] == 0 or step == cfg["steps"] or interrupt.flag)
                if save_now:
                    checkpointer.save(step, _state_tree(train_fn.get_state(state)),
                                      train_iter.get_state(), force=True,
                                      extra={"window": window, "window_n": window_n})
                    last_saved = step
                if interrupt.flag and step < cfg["steps"]:
                    status = "interrupted"
                    break
    except NonFiniteLossError:
        _finish(paths, cfg, spec, mcfg, None, step, status, final_eval, history, t_start,
                devices, plots, is_main)
        raise
    finally:
        bar.close()
        metrics_log.close()
        timing_log.close()
        if checkpointer is not None:
            checkpointer.close()
    if final_eval is None or final_eval["step"] != step:
        final_eval = {"step": step, "split": "eval", **evaluate(params_of(state))}
        if status == "completed":
            metrics_log.write(final_eval)
            metrics_log.close()
            history.append(runs.json_roundtrip(final_eval))
    params = train_fn.get_state(state).params
    return _finish(paths, cfg, spec, mcfg, params, step, status, final_eval, history, t_start,
                   devices, plots, is_main)


def _progress_bar(enabled: bool, total: int, initial: int, name: str):
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, unit="step", desc=name, disable=not enabled,
                dynamic_ncols=True, mininterval=0.5, smoothing=0.1)


def _check_workdir_config(path: str, cfg: dict) -> None:
    if not os.path.exists(path):
        return
    try:
        old = runs.read_json(path)
    except (OSError, ValueError) as e:
        raise ckpt_lib.CheckpointError(f"{path} is unreadable ({e}); the workdir holds a "
                                       "damaged run. Left untouched; use another workdir.") from e
    diffs = ckpt_lib.diff_fingerprints(fingerprint(old), fingerprint(cfg)) if isinstance(old, dict) \
        and "optimizer" in old and "model" in old else ["(not an lstmjax config)"]
    if diffs:
        raise ckpt_lib.CheckpointError(
            f"workdir {os.path.dirname(path)} holds a run with another config; differences "
            f"(workdir -> now): {'; '.join(diffs[:8])}. Use another --workdir, or the same "
            "config to resume. Nothing was changed.")


def _finish(paths, cfg, spec, mcfg, params, step, status, final_eval, history, t_start,
            devices, plots, is_main) -> dict:
    final_train = next((r for r in reversed(history) if r["split"] == "train"), None)
    summary = {
        "status": status,
        "step": step,
        "steps": cfg["steps"],
        "task": spec.name,
        "final_eval": final_eval,
        "final_train": final_train,
        "params_sha256": None if params is None else runs.params_sha256(params),
        "num_params": None if params is None else models.num_params(params),
        "wall_time_s": time.time() - t_start,
        "parallel": cfg["parallel"],
        "devices": [str(d) for d in devices],
        "device_info": runs.device_info(),
        "versions": runs.versions(),
        "git_commit": runs.git_commit(),
        "baseline_loss": getattr(spec, "baseline_loss", None),
        "chance": getattr(spec, "chance", None),
        "seed": cfg["seed"],
    }
    if paths and is_main:
        runs.write_json(paths[runs.SUMMARY], summary)
        if plots and history:
            try:
                runs.plot_learning_curve(history, paths[runs.CURVE],
                                         title=f"{spec.name}: {mcfg.rnn.cell}, seed {cfg['seed']}")
            except Exception as e:  # noqa: BLE001 - a plot must never lose a run
                print(f"warning: could not draw the learning curve: {e}")
    summary["history"] = history
    summary["params"] = params
    return summary
