"""TFDS builders for the synthetic tasks, without TensorFlow (array_record files).

``register()`` imports TFDS, defines the builders ``adding``, ``copy_memory``,
``temporal_order``, ``distant_recall``, ``last_clue`` and ``listops`` and registers them
with TFDS, so that after one build::

    from lstmjax.tasks import tfds_builders
    tfds_builders.register()             # or touch any builder: tfds_builders.Adding
    tfds.data_source("adding/t1000", split="train", data_dir=...)

works offline. Importing this module alone stays cheap (TFDS takes ~1-3 s to import), so
``lstmjax.tasks`` imports it at module level and nothing imports it inside a function.
Predefined configs are listed in each builder's ``BUILDER_CONFIGS``; any other (task config, seed, sizes) gets a config built on the fly by ``builder(...)``, named
by ``synthetic.config_name``. Examples are exactly ``synthetic.generator_source``'s.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from lstmjax.tasks import synthetic
from lstmjax.tasks.spec import MappedSource, split_seed

VERSION = "1.0.0"
FILE_FORMAT = "array_record"  # TFRECORD needs TensorFlow; parquet silently drops rows
_LAZY = ("SyntheticConfig", "make_config", "Adding", "CopyMemory", "TemporalOrder", "DistantRecall",
         "LastClue", "Listops", "BUILDERS")


@functools.cache
def register() -> dict[str, Any]:
    """Import TFDS, define and register the synthetic builders (once); returns them by name."""
    import tensorflow_datasets as tfds  # noqa: PLC0415 - heavy third-party import, on demand

    @dataclasses.dataclass(eq=False)
    class SyntheticConfig(tfds.core.BuilderConfig):
        """A task config plus the data seed and the split sizes."""

        task: Any = None
        seed: int = 0
        num_examples: int = synthetic.COMMON_DEFAULTS["num_examples"]
        num_eval_examples: int = synthetic.COMMON_DEFAULTS["num_eval_examples"]

    def make_config(task_name: str, task_cfg, seed: int = 0,
                    num_examples: int = synthetic.COMMON_DEFAULTS["num_examples"],
                    num_eval_examples: int = synthetic.COMMON_DEFAULTS["num_eval_examples"]) -> SyntheticConfig:
        name = synthetic.config_name(task_name, task_cfg, seed, num_examples, num_eval_examples)
        return SyntheticConfig(name=name, version=tfds.core.Version(VERSION), task=task_cfg, seed=seed,
                               num_examples=num_examples, num_eval_examples=num_eval_examples,
                               description=synthetic.spec(task_name, task_cfg).description)

    def _features(task_name: str, task_cfg):
        s = synthetic.spec(task_name, task_cfg)
        if s.input_kind == "tokens":
            x = tfds.features.Tensor(shape=(None,), dtype=np.int32)
        else:
            x = tfds.features.Tensor(shape=(None, s.input_dim), dtype=np.float32)
        feats = {"x": x}
        if s.output_kind == "classify_per_step":
            feats["y"] = tfds.features.Tensor(shape=(None,), dtype=np.int32)
            feats["mask"] = tfds.features.Tensor(shape=(None,), dtype=np.float32)
        elif s.output_kind == "classify":
            feats["y"] = tfds.features.Scalar(dtype=np.int32)
        else:
            feats["y"] = tfds.features.Scalar(dtype=np.float32)
        return tfds.features.FeaturesDict(feats)

    class _SyntheticBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        TASK: str = ""
        VERSION = tfds.core.Version(VERSION)
        RELEASE_NOTES = {"1.0.0": "First release."}

        def __init__(self, **kwargs):
            kwargs.setdefault("file_format", FILE_FORMAT)
            super().__init__(**kwargs)

        def _info(self):
            cfg = self.builder_config
            return tfds.core.DatasetInfo(
                builder=self,
                description=f"lstmjax synthetic task {self.TASK}: {cfg.description}",
                features=_features(self.TASK, cfg.task),
                supervised_keys=("x", "y"),
                # keep generator order: record i of a split == generator example i
                disable_shuffling=True,
                homepage="https://github.com/lstmjax/lstmjax",
            )

        def _split_generators(self, dl_manager):
            del dl_manager  # nothing to download: examples come from (seed, index)
            cfg = self.builder_config
            sizes = {"train": cfg.num_examples, "validation": cfg.num_eval_examples, "test": cfg.num_eval_examples}
            return {split: self._generate_examples(split, n) for split, n in sizes.items()}

        def _generate_examples(self, split: str, n: int):
            cfg = self.builder_config
            module = synthetic.TASKS[self.TASK][0]
            seed = split_seed(cfg.seed, split)
            for i in range(n):
                yield i, module.example(cfg.task, seed, i)

    def _configs(task: str, fields_list: list[dict]) -> list[SyntheticConfig]:
        return [make_config(task, synthetic.task_config(task, f)) for f in fields_list]

    class Adding(_SyntheticBuilder):
        """Adding problem (Hochreiter & Schmidhuber 1997), original and simplified."""
        name = "adding"
        TASK = "adding"
        BUILDER_CONFIGS = _configs("adding", [{"length": t, "variant": v} for v in ("original", "simplified")
                                              for t in (100, 200, 400, 1000)])

    class CopyMemory(_SyntheticBuilder):
        """Copy memory (Arjovsky et al. 2016)."""
        name = "copy_memory"
        TASK = "copy_memory"
        BUILDER_CONFIGS = _configs("copy_memory", [{"length": t} for t in (100, 200, 500, 1000)])

    class TemporalOrder(_SyntheticBuilder):
        """Temporal order (Hochreiter & Schmidhuber 1997, 6a and 6b)."""
        name = "temporal_order"
        TASK = "temporal_order"
        BUILDER_CONFIGS = _configs("temporal_order", [{"variant": v, "length": t} for v in ("6a", "6b")
                                                      for t in (100, 500, 1000)])

    class DistantRecall(_SyntheticBuilder):
        """Distant recall: clue at the start, gap of distractors, answer at the end."""
        name = "distant_recall"
        TASK = "distant_recall"
        BUILDER_CONFIGS = _configs("distant_recall", [{"gap": g} for g in (10, 20, 50, 100, 200, 500, 1000)])

    class LastClue(_SyntheticBuilder):
        """Last clue wins: several clues among distractors, answer the last one."""
        name = "last_clue"
        TASK = "last_clue"
        BUILDER_CONFIGS = _configs("last_clue", [{"length": t} for t in (50, 100, 200, 500, 1000)])

    class Listops(_SyntheticBuilder):
        """ListOps as in the Long Range Arena."""
        name = "listops"
        TASK = "listops"
        BUILDER_CONFIGS = _configs("listops", [{}, {"min_length": 100, "max_length": 500}])

    BUILDERS = {cls.TASK: cls for cls in (Adding, CopyMemory, TemporalOrder, DistantRecall, LastClue, Listops)}

    return {name: value for name, value in locals().items() if name != "tfds"}


def builder(task_name: str, task_cfg, *, seed: int = 0,
            num_examples: int = synthetic.COMMON_DEFAULTS["num_examples"],
            num_eval_examples: int = synthetic.COMMON_DEFAULTS["num_eval_examples"],
            data_dir: str | None = None):
    """The builder for any task config (a predefined config when the name matches one)."""
    ns = register()
    cls = ns["BUILDERS"][task_name]
    config = ns["make_config"](task_name, task_cfg, seed, num_examples, num_eval_examples)
    predefined = {c.name for c in cls.BUILDER_CONFIGS}
    return cls(config=config.name if config.name in predefined else config, data_dir=data_dir)


def data_source(task_name: str, task_cfg, split: str, *, data_dir: str | None = None, **sizes):
    """Builds on first use (with TFDS's progress bar), then returns the array_record source."""
    b = builder(task_name, task_cfg, data_dir=data_dir, **sizes)
    if not b.is_prepared():
        b.download_and_prepare(file_format=FILE_FORMAT)
    return MappedSource(b.as_data_source(split=split), _as_example)


def _as_example(record) -> dict:
    """TFDS decodes scalars to Python numbers; give back the generator's numpy dtypes."""
    out = {"x": np.asarray(record["x"])}
    y = record["y"]
    out["y"] = np.asarray(y) if np.ndim(y) else (np.float32(y) if isinstance(y, float) or
                                                  np.asarray(y).dtype.kind == "f" else np.int32(y))
    if "mask" in record:
        out["mask"] = np.asarray(record["mask"], np.float32)
    return out


def __getattr__(name: str):
    # builder classes exist once register() has run (PEP 562: defined on first access)
    if name in _LAZY:
        return register()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
