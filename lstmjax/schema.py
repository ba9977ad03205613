"""The one config schema: every field's default, its accepted values, and validation.

    cfg = resolve_config({"data": {"name": "adding"}, "steps": 500})   # plain nested dict
    default_config()                                                  # the same, as ConfigDict

:data:`DEFAULTS` is the table of training defaults: the experiment config files start from
:func:`default_config`, ``lstmjax.train.run`` fills what a config leaves out from it, and
:func:`lstmjax.models.from_task` has no defaults of its own. The model defaults that a
cell or a min-RNN form owns (forget bias, recurrent init, form, chunk) are imported from
their owner (``lstmjax.models.OWNED_DEFAULTS``), not retyped. Accepted names
come from the registries (cells, gate presets, poolings, drivers, optimizers, schedules,
tasks, device layouts), so whatever the library registers can be trained from a config.
Values are validated once, here, by building the real objects (the model's
``LSTMConfig``, the optax chain); the data fields are checked when the task is built.
"Off" is spelled ``0`` for every numeric switch (``chrono_max_len``, ``grad_clip``,
``eval_every``, ``checkpoint_every``, ``solve_threshold``, ...).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import ml_collections
import numpy as np

from lstmjax import device_step, models, optim, parallel, runs, tasks
from lstmjax.models import NGRAM_BUCKETS, NGRAM_DIM, OWNED_DEFAULTS

PAD_TO = ("max_length", "batch")

DEFAULTS: dict[str, Any] = {
    "seed": 0,                 # every key (init, dropout, data order) derives from it
    "steps": 2000,
    "batch_size": 32,          # global batch, split over devices and processes
    "parallel": "none",        # none | pmap | sharding
    "num_devices": 0,          # 0 = all
    "log_every": 20,
    "eval_every": 200,         # periodic validation (0 = off); the final one is always full
    "eval_batches": 4,         # periodic validation batches (0 = the whole split)
    "eval_batch_size": 0,      # 0 = batch_size
    "checkpoint_every": 500,   # 0 = no checkpoints
    "keep_checkpoints": 3,
    "pad_to": "max_length",    # max_length: one shape; batch: per batch, to pad_multiple
    "pad_multiple": 32,
    "bucket": False,           # batch similar lengths together (pad_to="batch")
    "plot": True,
    "tensorboard": True,       # TensorBoard event files in <workdir>/tensorboard
    "solve_metric": "accuracy",  # validation metric for steps-to-solve
    "solve_threshold": 0.0,    # solved at the first periodic validation >= it (0 = off)
    "stop_when_solved": True,
    "select_metric": "auto",   # validation metric that picks the best checkpoint
    "patience": 0,             # stop after this many validations without a better one (0 = off)
    "distributed": parallel.DISTRIBUTED_DEFAULTS,  # mode, coordinator, process ids, timeouts
    "model": {
        "cell": "lstm", "gates": "standard", "hidden_size": 64, "num_layers": 1,
        "bidirectional": False, "pooling": "last", "embed_dim": 32, "dropout": 0.0,
        "embed_dropout": 0.0, "word_dropout": 0.0,
        # forget_bias, recurrent_init, form and chunk: the defaults of the cells and
        # min-RNN forms that own them, imported (lstmjax.models.OWNED_DEFAULTS)
        "forget_bias": OWNED_DEFAULTS["forget_bias"], "chrono_max_len": 0.0,
        "recurrent_init": OWNED_DEFAULTS["recurrent_init"], "unroll": 1, "remat": False,
        "implementation": "auto", "form": OWNED_DEFAULTS["form"],
        "chunk": OWNED_DEFAULTS["chunk"],
        # a GloVe / word2vec text file read once at init ("" = off), and whether the
        # optimizer leaves the embedding as initialized (lstmjax.embeddings)
        "embeddings_path": "", "freeze_embeddings": False,
        # a fastText bag of hashed token n-grams (orders 1..ngram_order, 0 = off) beside
        # the pooled vector (lstmjax.models)
        "ngram_order": 0, "ngram_buckets": NGRAM_BUCKETS, "ngram_dim": NGRAM_DIM,
        # language-model runs whose recurrence and embedding start this one (() = off;
        # lstmjax.transfer)
        "init_from": (),
    },
    "optimizer": {
        "name": "adam", "learning_rate": 1e-3, "momentum": 0.9, "schedule": "constant",
        "warmup_steps": 0, "decay_rate": 0.1, "min_lr_ratio": 0.0, "grad_clip": 1.0,
        "weight_decay": 0.0,
        # the moving average of the parameters that is evaluated and kept (0 = off;
        # lstmjax.optim.params_ema)
        "ema_decay": 0.0,
    },
    "data": {"name": "adding"},
}

# accepted values, from the registries
CHOICES = {
    "parallel": parallel.MODES,
    "pad_to": PAD_TO,
    "solve_metric": tuple(device_step.METRICS),
    "select_metric": ("auto",) + tuple(device_step.METRICS),
    "distributed.mode": parallel.DISTRIBUTED_MODES,
    "model.pooling": models.POOLINGS,
    "optimizer.name": tuple(sorted(optim.OPTIMIZERS)),
    "optimizer.schedule": tuple(sorted(optim.SCHEDULES)),
    "data.name": tasks.NAMES,
}
_AT_LEAST_ONE = {"steps", "batch_size", "pad_multiple", "keep_checkpoints", "model.hidden_size",
                 "model.num_layers", "model.embed_dim", "model.unroll", "model.chunk",
                 "model.ngram_buckets", "model.ngram_dim",
                 "distributed.initialization_timeout_s", "distributed.heartbeat_timeout_s",
                 "distributed.shutdown_timeout_s"}
_NON_NEGATIVE = {"num_devices", "log_every", "eval_every", "eval_batches", "eval_batch_size",
                 "checkpoint_every", "solve_threshold", "patience", "distributed.num_processes",
                 "optimizer.warmup_steps",
                 "optimizer.grad_clip", "optimizer.weight_decay", "optimizer.min_lr_ratio",
                 "optimizer.momentum", "optimizer.ema_decay", "model.chrono_max_len",
                 "model.ngram_order"}
# Fields that may change when a run is resumed: they do not change what the state means.
RESUMABLE = {"steps", "log_every", "eval_every", "eval_batches", "eval_batch_size",
             "checkpoint_every", "keep_checkpoints", "parallel", "num_devices", "distributed",
             "plot", "solve_metric", "solve_threshold", "stop_when_solved", "patience",
             "tensorboard"}
# Fields added after runs were committed: at this value they change nothing, and the
# fingerprint leaves them out, so those runs' checkpoints still resume and load.
ADDED_OFF = {"model": {"embed_dropout": 0.0, "word_dropout": 0.0, "embeddings_path": "",
                       "freeze_embeddings": False, "ngram_order": 0,
                       "ngram_buckets": NGRAM_BUCKETS, "ngram_dim": NGRAM_DIM,
                       "init_from": ()},
             "optimizer": {"ema_decay": 0.0}}

# a token task used only to validate model fields by building the real ModelConfig (tokens:
# every model field applies; a features task's own refusals come when its model is built)
_PROBE = tasks.TaskSpec(name="probe", input_kind="tokens", output_kind="classify",
                        max_length=1, vocab_size=2, num_classes=2)


def default_config() -> ml_collections.ConfigDict:
    """Every field with its default, as the ConfigDict the experiment configs start from."""
    return ml_collections.ConfigDict(copy.deepcopy(DEFAULTS))


def to_dict(config) -> dict:
    """A plain nested dict of a ConfigDict or mapping."""
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if isinstance(config, Mapping):
        return {k: to_dict(v) if isinstance(v, Mapping) or hasattr(v, "to_dict") else v
                for k, v in config.items()}
    raise TypeError(f"config must be an ml_collections.ConfigDict or a dict, got "
                    f"{type(config).__name__}")


def _check_value(name: str, value, default) -> None:
    accepted = CHOICES.get(name)
    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"config.{name}={value!r} must be a bool (True or False)")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"config.{name}={value!r} must be an int")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            raise TypeError(f"config.{name}={value!r} must be a finite number")
    elif isinstance(default, str) and not isinstance(value, str):
        raise TypeError(f"config.{name}={value!r} must be a string"
                        + (f"; accepted: {list(accepted)}" if accepted else ""))
    if accepted is not None and value not in accepted:
        raise ValueError(f"config.{name}={value!r} is not accepted; accepted: {list(accepted)}")
    if name in _AT_LEAST_ONE and value < 1:
        raise ValueError(f"config.{name}={value!r} must be >= 1")
    if name in _NON_NEGATIVE and value < 0:
        raise ValueError(f"config.{name}={value!r} must be >= 0")


def _merge(prefix: str, given: Mapping, defaults: Mapping) -> dict:
    out = copy.deepcopy(dict(defaults))
    for key, value in given.items():
        name = f"{prefix}{key}"
        if key not in defaults:
            raise ValueError(f"config.{name} is not a known field; accepted: {sorted(defaults)}")
        if isinstance(defaults[key], dict) and key != "data":
            if not isinstance(value, Mapping):
                raise TypeError(f"config.{name} must be a section (a dict), got {value!r}")
            out[key] = _merge(f"{name}.", value, defaults[key])
        else:
            if isinstance(defaults[key], tuple) and isinstance(value, list):
                value = tuple(value)  # config.json stores a tuple as a list
            _check_value(name, value, defaults[key])
            out[key] = value
    return out


def resolve_config(config) -> dict:
    """Defaults filled in and every value checked; returns a plain nested dict.

    Raises ``ValueError``/``TypeError`` naming the field, the value and what is accepted.
    The data fields are checked by the task when it is built (``lstmjax.tasks.make_task``).
    """
    given = to_dict(config)
    data = to_dict(given.pop("data", {"name": None}))
    cfg = _merge("", given, DEFAULTS)
    _check_value("data.name", data.get("name"), "")
    unknown = sorted(set(data) - set(tasks.fields_of(data["name"])) - {"name", "data_dir"})
    if unknown:
        raise ValueError(f"config.data.{unknown[0]} is not a field of task {data['name']!r}; "
                         f"accepted: {sorted(tasks.fields_of(data['name']))}")
    cfg["data"] = data
    if not 0 <= cfg["seed"] < 2 ** 31:
        raise ValueError(f"config.seed={cfg['seed']!r} must be in [0, 2**31)")
    if cfg["patience"] and not cfg["eval_every"]:
        raise ValueError(f"config.patience={cfg['patience']!r} counts periodic validations; "
                         "set config.eval_every > 0 (or patience=0)")
    if not cfg["optimizer"]["learning_rate"] > 0:
        raise ValueError(f"config.optimizer.learning_rate={cfg['optimizer']['learning_rate']!r}"
                         " must be > 0")
    # building the real objects checks the rest once (cell, gates, driver, ranges, optimizer)
    try:
        models.from_task(_PROBE, **cfg["model"])
    except (ValueError, TypeError) as e:
        raise type(e)(f"config.model: {e}") from None
    optim.make_optimizer(cfg["optimizer"], cfg["steps"])
    return cfg


def without_added_off(cfg: Mapping) -> dict:
    """``cfg`` without the :data:`ADDED_OFF` fields at their off value (a shallow copy):
    a config written before such a field existed and one written after compare equal."""
    out = dict(cfg)
    for section, fields in ADDED_OFF.items():
        if isinstance(out.get(section), Mapping):
            out[section] = {k: v for k, v in out[section].items()
                            if not (k in fields and runs.json_roundtrip(v)
                                    == runs.json_roundtrip(fields[k]))}
    return out


def fingerprint(cfg: dict) -> dict:
    """The config fields that fix what a checkpoint's state means (resume must match), as
    JSON values (a run's config.json and the config in memory compare equal)."""
    fp = without_added_off({k: v for k, v in cfg.items() if k not in RESUMABLE})
    if cfg["optimizer"]["schedule"] != "constant":
        fp["steps"] = cfg["steps"]  # the schedule depends on the run length
    return runs.json_roundtrip(fp)  # config.json stores a tuple as a list
