"""Copy memory (Arjovsky, Shah & Bengio 2016).

Tokens: 0 = blank, 1..K = the K symbol categories (K = 8), K + 1 = delimiter.
Input (length T + 2S, S = 10 symbols): S random symbols, T - 1 blanks, the delimiter,
S blanks. Target per step: T + S blanks, then the S symbols. Every step is scored
(mask of ones), so the memoryless strategy (blanks, then a uniform guess) has loss
``S log K / (T + 2S)``; ``spec.baseline_loss`` reports it.

x: int32 ``[T + 2S]``; y: int32 ``[T + 2S]``; mask: float32 ``[T + 2S]``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lstmjax.tasks.spec import TaskSpec, copy_baseline, example_rng


@dataclasses.dataclass(frozen=True)
class CopyMemoryConfig:
    length: int = 100        # T: blanks between the last symbol and the recall phase, + 1
    num_symbols: int = 10    # S
    num_categories: int = 8  # K

    def __post_init__(self):
        for field in ("length", "num_symbols", "num_categories"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"copy_memory: {field}={getattr(self, field)!r}; must be >= 1")


def spec(cfg: CopyMemoryConfig) -> TaskSpec:
    total = cfg.length + 2 * cfg.num_symbols
    return TaskSpec("copy_memory", "tokens", "classify_per_step", max_length=total,
                    vocab_size=cfg.num_categories + 2, num_classes=cfg.num_categories + 1,
                    chance=1.0 / cfg.num_categories,
                    baseline_loss=copy_baseline(cfg.length, cfg.num_symbols, cfg.num_categories),
                    target_step=None,
                    description=f"copy memory, T={cfg.length}")


def length(cfg: CopyMemoryConfig, seed: int, index: int) -> int:
    return cfg.length + 2 * cfg.num_symbols


def example(cfg: CopyMemoryConfig, seed: int, index: int) -> dict:
    rng = example_rng(seed, index)
    s, t = cfg.num_symbols, cfg.length
    symbols = rng.integers(1, cfg.num_categories + 1, s)
    x = np.zeros(t + 2 * s, np.int32)
    x[:s] = symbols
    x[s + t - 1] = cfg.num_categories + 1  # delimiter: "now reproduce"
    y = np.zeros(t + 2 * s, np.int32)
    y[-s:] = symbols
    return {"x": x, "y": y, "mask": np.ones(t + 2 * s, np.float32)}
