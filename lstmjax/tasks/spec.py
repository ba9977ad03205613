"""What a model needs to know about a task, and the random-access sources that serve it.

An *example* is a dict of numpy arrays:

* ``"x"``: int32 ``[T]`` token ids (``input_kind="tokens"``) or float32 ``[T, D]``
  features (``input_kind="features"``); T may vary between examples.
* ``"y"``: int32 scalar class (``"classify"``), float32 scalar target (``"regress"``) or
  int32 ``[T]`` per-step classes (``"classify_per_step"``).
* ``"mask"`` (optional): float32 ``[T]`` per-step loss weights.

A *source* is anything with ``__len__`` and ``__getitem__(int) -> example`` (a grain
``RandomAccessDataSource``); ``lstmjax.data.batches`` turns it into padded batches.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from typing import Any, Callable, Mapping

import numpy as np

from lstmjax.errors import DataError  # noqa: F401 - raised here and by the tasks

INPUT_KINDS = ("tokens", "features")
OUTPUT_KINDS = ("classify", "regress", "classify_per_step")
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Static description of a task, enough to build a model and its loss/metrics.

    Attributes:
      name: registry name, e.g. ``"adding"``.
      input_kind: ``"tokens"`` (x int32 ``[T]``, embed with ``vocab_size``) or
        ``"features"`` (x float32 ``[T, input_dim]``).
      vocab_size: number of token ids (ids are in ``[0, vocab_size)``; 0 is padding
        where the task pads); ``None`` for features.
      input_dim: feature size D; ``None`` for tokens.
      output_kind: ``"classify"`` (y int32 scalar), ``"regress"`` (y float32 scalar) or
        ``"classify_per_step"`` (y int32 ``[T]``, weighted by ``mask``).
      num_classes: number of classes (``None`` for regression).
      max_length: the longest T any example of this task can have (pad-to-fixed-shape
        callers use it).
      chance: accuracy of the best input-blind guess (``None`` where not meaningful); for
        the user's own files, the train split's majority-class rate.
      majority_class: the class id that guess answers (the train split's most frequent
        class; ``None`` where all classes are equally likely by construction).
      tolerance: regression: a prediction counts as correct when
        ``|prediction - y| < tolerance`` (adding problem: 0.04).
      baseline_loss: loss of the best memoryless predictor (copy memory:
        ``10 log 8 / (T + 20)``; adding: variance of the target, i.e. MSE of the mean).
      target_step: ``"last"`` when the answer is read at each sequence's last true step
        (every task here with a scalar y); ``None`` for per-step tasks.
      causal: the output at step t must not see inputs after t (a language model, whose
        target at t is the input at t + 1): a bidirectional model is refused.
      description: one line for logs and plots.
    """

    name: str
    input_kind: str
    output_kind: str
    max_length: int
    vocab_size: int | None = None
    input_dim: int | None = None
    num_classes: int | None = None
    chance: float | None = None
    majority_class: int | None = None
    tolerance: float | None = None
    baseline_loss: float | None = None
    target_step: str | None = "last"
    causal: bool = False
    description: str = ""

    def __post_init__(self):
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"TaskSpec.input_kind={self.input_kind!r}; accepted: {INPUT_KINDS}")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"TaskSpec.output_kind={self.output_kind!r}; accepted: {OUTPUT_KINDS}")
        if self.input_kind == "tokens" and not self.vocab_size:
            raise ValueError(f"TaskSpec {self.name!r}: input_kind='tokens' needs vocab_size")
        if self.input_kind == "features" and not self.input_dim:
            raise ValueError(f"TaskSpec {self.name!r}: input_kind='features' needs input_dim")
        if self.output_kind != "regress" and not self.num_classes:
            raise ValueError(f"TaskSpec {self.name!r}: output_kind={self.output_kind!r} needs num_classes")


def split_seed(seed: int, split: str) -> int:
    """A 32-bit seed for ``(seed, split)``, so train/validation/test never share examples.

    crc32 instead of ``hash`` because Python salts string hashes per process.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; accepted: {SPLITS}")
    return zlib.crc32(f"{int(seed)}/{split}".encode()) & 0xFFFFFFFF


def example_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for example ``index`` of stream ``seed``: examples are independent.

    Each example gets its own PCG64 stream so ``source[i]`` is a pure function of
    ``(seed, i)`` and examples can be produced in any order or in parallel.
    """
    return np.random.default_rng([int(seed), int(index)])


class GeneratorSource:
    """Random-access source ``i -> fn(seed, i)`` of ``num_examples`` examples.

    Args:
      fn: pure ``(seed, index) -> example`` (dict of numpy arrays).
      seed: stream seed (already split-specific, see ``split_seed``).
      num_examples: ``len(source)``.
      length_fn: optional cheap ``(seed, index) -> T`` used by length bucketing instead of
        generating the whole example.
    """

    def __init__(self, fn: Callable[[int, int], dict], seed: int, num_examples: int,
                 length_fn: Callable[[int, int], int] | None = None):
        if int(num_examples) < 1:
            raise ValueError(f"num_examples={num_examples!r}; must be >= 1")
        self._fn, self._seed, self._n, self._length_fn = fn, int(seed), int(num_examples), length_fn

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if not -self._n <= index < self._n:
            raise IndexError(f"index {index} out of range for {self._n} examples")
        return self._fn(self._seed, index % self._n)

    def lengths(self) -> np.ndarray:
        """int32 ``[N]`` sequence lengths (for bucketing)."""
        if self._length_fn is not None:
            return np.array([self._length_fn(self._seed, i) for i in range(self._n)], np.int32)
        return np.array([len(self[i]["x"]) for i in range(self._n)], np.int32)

    def __repr__(self) -> str:
        return f"GeneratorSource({getattr(self._fn, '__name__', self._fn)}, seed={self._seed}, n={self._n})"


class MappedSource:
    """``source[i] -> fn(source[i])``, keeping random access (used to adapt TFDS records)."""

    def __init__(self, source: Any, fn: Callable[[Mapping[str, Any]], dict]):
        self._source, self._fn = source, fn

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> dict:
        return self._fn(self._source[int(index)])

    def __getitems__(self, indices):
        # ArrayRecord sources read many records at once much faster than one by one.
        indices = [int(i) for i in indices]
        records = None
        inner = getattr(self._source, "__getitems__", None)
        if inner is not None:
            try:
                records = inner(indices)
            except TypeError:  # tfds.testing.mock_data's stand-in has a broken __getitems__
                records = None
        if records is None:
            records = [self._source[i] for i in indices]
        return [self._fn(r) for r in records]


class ArraySource:
    """Examples held in memory as a list of dicts (own files, small datasets)."""

    def __init__(self, examples: list[dict]):
        self._examples = examples

    def __len__(self) -> int:
        return len(self._examples)

    def __getitem__(self, index: int) -> dict:
        return self._examples[int(index)]

    def lengths(self) -> np.ndarray:
        return np.array([len(e["x"]) for e in self._examples], np.int32)


def copy_baseline(length: int, num_symbols: int = 10, num_categories: int = 8) -> float:
    """Copy-memory loss of the memoryless predictor: ``S log K / (T + 2 S)``."""
    return num_symbols * math.log(num_categories) / (length + 2 * num_symbols)
