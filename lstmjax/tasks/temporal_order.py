"""Temporal order (Hochreiter & Schmidhuber 1997, experiments 6a and 6b).

Tokens: 0 = pad (unused), 1..4 = distractors a, b, c, d, 5 = B (start), 6 = E (end),
7 = X, 8 = Y. A sequence starts with B, ends with E, is filled with random distractors,
and carries X or Y at the *relevant* positions; the class is the order of X/Y there.

* 6a: 2 relevant positions, t1 in [10, 20], t2 in [50, 60] -> 4 classes (XX, XY, YX, YY).
* 6b: 3 relevant positions, t1 in [10, 20], t2 in [33, 43], t3 in [66, 76] -> 8 classes.

Length is uniform in [T, T + T/10] with T = 100 in the paper; for other T the position
windows scale with T/100 (1-based positions as in the paper).

x: int32 ``[T']``; y: int32 scalar in [0, 2**k), bit j (MSB first) = 1 if position j has Y.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lstmjax.tasks.spec import TaskSpec, example_rng

VARIANTS = ("6a", "6b")
WINDOWS = {"6a": ((10, 20), (50, 60)), "6b": ((10, 20), (33, 43), (66, 76))}
PAD, B, E, X, Y = 0, 5, 6, 7, 8
VOCAB_SIZE = 9


@dataclasses.dataclass(frozen=True)
class TemporalOrderConfig:
    length: int = 100
    variant: str = "6a"

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"temporal_order: variant={self.variant!r}; accepted: {VARIANTS}")
        if int(self.length) < 20:
            raise ValueError(f"temporal_order: length={self.length!r}; must be >= 20")


def windows(cfg: TemporalOrderConfig) -> list[tuple[int, int]]:
    """0-based inclusive (lo, hi) windows of the relevant positions, scaled to T."""
    scale = cfg.length / 100
    return [(round(lo * scale) - 1, round(hi * scale) - 1) for lo, hi in WINDOWS[cfg.variant]]


def spec(cfg: TemporalOrderConfig) -> TaskSpec:
    k = len(WINDOWS[cfg.variant])
    return TaskSpec("temporal_order", "tokens", "classify", max_length=cfg.length + cfg.length // 10,
                    vocab_size=VOCAB_SIZE, num_classes=2 ** k, chance=1 / 2 ** k,
                    description=f"temporal order {cfg.variant}, T={cfg.length}")


def length(cfg: TemporalOrderConfig, seed: int, index: int) -> int:
    return int(example_rng(seed, index).integers(cfg.length, cfg.length + cfg.length // 10 + 1))


def example(cfg: TemporalOrderConfig, seed: int, index: int) -> dict:
    rng = example_rng(seed, index)
    n = int(rng.integers(cfg.length, cfg.length + cfg.length // 10 + 1))  # first draw: length()
    x = rng.integers(1, 5, n).astype(np.int32)
    x[0], x[-1] = B, E
    bits = rng.integers(0, 2, len(WINDOWS[cfg.variant]))
    for (lo, hi), bit in zip(windows(cfg), bits):
        x[rng.integers(lo, hi + 1)] = Y if bit else X
    y = int(np.dot(bits, 2 ** np.arange(len(bits))[::-1]))
    return {"x": x, "y": np.int32(y)}
