"""Registry of the synthetic long-range tasks: config class, generator, canonical names.

Each task module exposes a frozen config dataclass and pure functions
``spec(cfg) -> TaskSpec``, ``example(cfg, seed, index) -> example`` and
``length(cfg, seed, index) -> int``; this module maps task names to them and gives every
(task config, seed, sizes) a canonical name used as the TFDS builder-config name.
"""

from __future__ import annotations

import dataclasses
import functools
from types import ModuleType

from lstmjax.tasks import adding, copy_memory, distant_recall, last_clue, listops, temporal_order
from lstmjax.tasks.spec import GeneratorSource, TaskSpec, split_seed

TASKS: dict[str, tuple[ModuleType, type]] = {
    "adding": (adding, adding.AddingConfig),
    "copy_memory": (copy_memory, copy_memory.CopyMemoryConfig),
    "temporal_order": (temporal_order, temporal_order.TemporalOrderConfig),
    "distant_recall": (distant_recall, distant_recall.DistantRecallConfig),
    "last_clue": (last_clue, last_clue.LastClueConfig),
    "listops": (listops, listops.ListOpsConfig),
}

# Fields every synthetic task accepts besides its own config fields.
COMMON_DEFAULTS = {"seed": 0, "num_examples": 100_000, "num_eval_examples": 2_000, "backend": "generator"}
BACKENDS = ("generator", "tfds")


def task_config(name: str, fields: dict):
    """``name`` + its own fields -> the task's frozen config (ValueError on unknown fields)."""
    if name not in TASKS:
        raise ValueError(f"task name={name!r}; accepted synthetic tasks: {sorted(TASKS)}")
    cls = TASKS[name][1]
    accepted = [f.name for f in dataclasses.fields(cls)]
    for key in fields:
        if key not in accepted:
            raise ValueError(f"{name}: unknown field {key!r}; accepted: {sorted(accepted + list(COMMON_DEFAULTS))}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    typed = {k: type(defaults[k])(v) if not isinstance(v, type(defaults[k])) else v for k, v in fields.items()}
    return cls(**typed)


def _primary(name: str, cfg) -> str:
    if name == "adding":
        return ("simplified_" if cfg.variant == "simplified" else "") + f"t{cfg.length}"
    if name == "copy_memory":
        return f"t{cfg.length}"
    if name == "temporal_order":
        return f"{cfg.variant}_t{cfg.length}"
    if name == "distant_recall":
        return f"gap{cfg.gap}"
    if name == "last_clue":
        return f"t{cfg.length}"
    return f"len{cfg.min_length}-{cfg.max_length}"


_PRIMARY_FIELDS = {"adding": ("variant", "length"), "copy_memory": ("length",),
                   "temporal_order": ("variant", "length"), "distant_recall": ("gap",),
                   "last_clue": ("length",), "listops": ("min_length", "max_length")}


def config_name(name: str, cfg, seed: int = 0, num_examples: int = COMMON_DEFAULTS["num_examples"],
                num_eval_examples: int = COMMON_DEFAULTS["num_eval_examples"]) -> str:
    """Canonical TFDS config name, e.g. ``"t1000"``, ``"gap200_clues4_seed3_n10000"``."""
    parts = [_primary(name, cfg)]
    defaults = type(cfg)()
    for f in dataclasses.fields(cfg):
        if f.name not in _PRIMARY_FIELDS[name] and getattr(cfg, f.name) != getattr(defaults, f.name):
            parts.append(f"{f.name.replace('num_', '')}{getattr(cfg, f.name)}")
    if seed != 0:
        parts.append(f"seed{seed}")
    if num_examples != COMMON_DEFAULTS["num_examples"]:
        parts.append(f"n{num_examples}")
    if num_eval_examples != COMMON_DEFAULTS["num_eval_examples"]:
        parts.append(f"e{num_eval_examples}")
    return "_".join(parts)


def spec(name: str, cfg) -> TaskSpec:
    return TASKS[name][0].spec(cfg)


def generator_source(name: str, cfg, split: str, seed: int, num_examples: int) -> GeneratorSource:
    """The ``(seed, index) -> example`` source of one split: no build step, O(1) memory."""
    module = TASKS[name][0]
    fn = functools.partial(module.example, cfg)
    fn.__name__ = f"{name}.example"  # for repr
    return GeneratorSource(fn, split_seed(seed, split), num_examples,
                           length_fn=functools.partial(module.length, cfg))
