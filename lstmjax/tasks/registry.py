"""``make_task(data_config, split) -> (TaskSpec, source)``: one entry point for every task.

``data_config`` is a mapping (dict or ml_collections ConfigDict) with ``name`` plus the
task's fields; unknown names and fields raise ``ValueError`` listing the accepted ones.
"""

from __future__ import annotations

from typing import Any, Mapping

from lstmjax.tasks import files, imdb, mnist, synthetic
from lstmjax.tasks.spec import SPLITS, TaskSpec

# name -> (defaults of its fields, make(fields, split, data_dir) -> (spec, source))
DATASETS = {
    "mnist": (mnist.DEFAULTS, mnist.make),
    "imdb": (imdb.DEFAULTS, imdb.make),
    "text_file": (files.TEXT_DEFAULTS, files.make_text),
    "npz_file": (files.NPZ_DEFAULTS, files.make_npz),
}
NAMES = tuple(sorted(synthetic.TASKS)) + tuple(sorted(DATASETS))


def _as_dict(data_config: Mapping[str, Any]) -> dict:
    if hasattr(data_config, "to_dict"):  # ml_collections.ConfigDict
        return dict(data_config.to_dict())
    if isinstance(data_config, Mapping):
        return dict(data_config)
    raise TypeError(f"data_config must be a mapping (dict or ConfigDict), got {type(data_config).__name__}")


def fields_of(name: str) -> dict:
    """The accepted fields of task ``name`` and their defaults."""
    if name in synthetic.TASKS:
        import dataclasses
        cls = synthetic.TASKS[name][1]
        return {**{f.name: f.default for f in dataclasses.fields(cls)}, **synthetic.COMMON_DEFAULTS}
    if name in DATASETS:
        return dict(DATASETS[name][0])
    raise ValueError(f"data name={name!r}; accepted: {NAMES}")


def make_task(data_config: Mapping[str, Any], split: str = "train", data_dir: str | None = None
              ) -> tuple[TaskSpec, Any]:
    """Resolve a data config to ``(TaskSpec, random-access source of examples)``.

    Args:
      data_config: ``{"name": ..., **fields}``; may also carry ``data_dir``.
      split: ``"train"``, ``"validation"`` or ``"test"``.
      data_dir: TFDS data dir (overrides ``data_config.data_dir``); ``None`` = TFDS default.
    """
    cfg = _as_dict(data_config)
    name = cfg.pop("name", None)
    cfg_dir = cfg.pop("data_dir", None)
    data_dir = data_dir if data_dir is not None else cfg_dir
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; accepted: {SPLITS}")
    accepted = fields_of(name)  # raises for unknown names
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise ValueError(f"{name}: unknown field {unknown[0]!r}; accepted: {sorted(accepted) + ['data_dir', 'name']}")
    if name in DATASETS:
        return DATASETS[name][1]({**accepted, **cfg}, split, data_dir)

    common = {k: cfg.pop(k, v) for k, v in synthetic.COMMON_DEFAULTS.items()}
    if common["backend"] not in synthetic.BACKENDS:
        raise ValueError(f"{name}: backend={common['backend']!r}; accepted: {synthetic.BACKENDS}")
    task_cfg = synthetic.task_config(name, cfg)
    seed, n_train, n_eval = int(common["seed"]), int(common["num_examples"]), int(common["num_eval_examples"])
    n = n_train if split == "train" else n_eval
    spec = synthetic.spec(name, task_cfg)
    if common["backend"] == "tfds":
        from lstmjax.tasks import tfds_builders  # imports TFDS (~1 s): only when asked for
        return spec, tfds_builders.data_source(name, task_cfg, split, data_dir=data_dir, seed=seed,
                                               num_examples=n_train, num_eval_examples=n_eval)
    return spec, synthetic.generator_source(name, task_cfg, split, seed, n)
