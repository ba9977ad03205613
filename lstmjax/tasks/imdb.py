"""IMDB reviews (binary sentiment) through TFDS, tokenised with a train-split vocabulary.

The vocabulary is built from TFDS's train split (``text.Vocabulary.build``) and, when
``vocab_path`` is set, saved there as JSON (or loaded from there if it exists), so a run
dir keeps the exact word ids its model was trained with. x: int32 ``[T]`` (the first
``max_length`` tokens, default 500), y: int32 scalar (0 = negative, 1 = positive).

Splits: ``"train"``/``"test"`` are TFDS's; ``"validation"`` is the last ``holdout``
training reviews (then ``"train"`` is the rest; validation and test are disjoint), or the
test split when ``holdout=0`` (then validation *is* test; the experiment config sets 2500).
"""

from __future__ import annotations

import os

import numpy as np

from lstmjax.tasks import tfds_load
from lstmjax.tasks.mnist import tfds_split
from lstmjax.tasks.spec import MappedSource, TaskSpec
from lstmjax.tasks.text import Vocabulary

DEFAULTS = {"vocab_size": 20_000, "min_count": 1, "max_length": 500, "vocab_path": None, "holdout": 0}


def vocabulary(fields: dict, data_dir: str | None) -> Vocabulary:
    path = fields["vocab_path"]
    if path and os.path.exists(path):
        return Vocabulary.load(path)
    train = tfds_load.data_source("imdb_reviews", tfds_split("train", fields["holdout"]), data_dir)
    vocab = Vocabulary.build((train[i]["text"] for i in range(len(train))),
                             max_size=int(fields["vocab_size"]), min_count=int(fields["min_count"]))
    if path:
        vocab.save(path)
    return vocab


def make(fields: dict, split: str, data_dir: str | None):
    max_length = fields["max_length"]
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)) or max_length < 1:
        raise ValueError(f"imdb: max_length={max_length!r}; must be an integer >= 1")
    max_length = int(max_length)
    tfds_split(split, fields["holdout"])  # checks the field before any TFDS work
    vocab = vocabulary(fields, data_dir)
    raw = tfds_load.data_source("imdb_reviews", tfds_split(split, fields["holdout"]), data_dir)
    spec = TaskSpec("imdb", "tokens", "classify", max_length=max_length,
                    vocab_size=len(vocab), num_classes=2, chance=0.5,
                    description="IMDB reviews sentiment")
    source = MappedSource(raw, lambda r: {"x": vocab.encode(r["text"], max_length),
                                          "y": np.int32(r["label"])})
    source.vocabulary = vocab
    return spec, source
