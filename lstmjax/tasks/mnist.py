"""MNIST as a sequence task, read through TFDS (array_record, no TensorFlow).

Variants (pixels scaled to [0, 1]):

* ``"sequential"``: pixel by pixel, x float32 ``[784, 1]`` (Le et al. 2015).
* ``"permuted"``: the same with one fixed pixel permutation drawn from ``seed``
  (``permutation(seed)``), applied to every image of every split.
* ``"rowwise"``: one row per step, x float32 ``[28, 28]``.

Splits: ``"train"`` and ``"test"`` are TFDS's; ``"validation"`` is the last ``holdout``
training images (then ``"train"`` is the rest; validation and test are disjoint), or
TFDS's test split when ``holdout=0`` (then validation *is* test: the experiment configs
set ``holdout=5000``).
"""

from __future__ import annotations

import numpy as np

from lstmjax.tasks import tfds_load
from lstmjax.tasks.spec import MappedSource, TaskSpec

VARIANTS = ("sequential", "permuted", "rowwise")
DEFAULTS = {"variant": "sequential", "seed": 0, "holdout": 0}


def permutation(seed: int) -> np.ndarray:
    """The fixed pixel order of permuted MNIST for ``seed``: int64 ``[784]``."""
    return np.random.default_rng([int(seed), 784]).permutation(784)


def tfds_split(split: str, holdout) -> str:
    """TFDS split string: ``holdout`` training examples (an integer >= 0) for validation.

    ``holdout=0`` validates on the test split (validation and test are then the *same*
    examples: use it only when you will not select a model on validation).
    """
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float, np.integer)) \
            or holdout != holdout or holdout < 0 or int(holdout) != holdout:
        raise ValueError(f"holdout={holdout!r}; must be an integer >= 0 (training examples held out for "
                         "validation; 0 = validate on the test split)")
    holdout = int(holdout)
    if holdout:
        return {"train": f"train[:-{holdout}]", "validation": f"train[-{holdout}:]", "test": "test"}[split]
    return {"train": "train", "validation": "test", "test": "test"}[split]


def make(fields: dict, split: str, data_dir: str | None):
    variant = fields["variant"]
    if variant not in VARIANTS:
        raise ValueError(f"mnist: variant={variant!r}; accepted: {VARIANTS}")
    if variant == "rowwise":
        spec = TaskSpec("mnist", "features", "classify", max_length=28, input_dim=28, num_classes=10,
                        chance=0.1, description="row-wise MNIST (T=28)")
    else:
        spec = TaskSpec("mnist", "features", "classify", max_length=784, input_dim=1, num_classes=10,
                        chance=0.1, description=f"{variant} MNIST (T=784)")
    perm = permutation(fields["seed"]) if variant == "permuted" else None

    def convert(record) -> dict:
        image = np.asarray(record["image"], np.float32).reshape(28, 28) / 255.0
        x = image if variant == "rowwise" else image.reshape(784, 1)
        if perm is not None:
            x = x[perm]
        return {"x": x, "y": np.int32(record["label"])}

    raw = tfds_load.data_source("mnist", tfds_split(split, fields["holdout"]), data_dir)
    return spec, MappedSource(raw, convert)
