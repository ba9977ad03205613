"""Distant recall: the seed's "I grew up in France ... I speak fluent French".

A clue token (one of ``num_clues`` "countries") opens the sequence, ``gap`` distractor
tokens (uninformative "words") follow, and a query token ("I speak fluent ...") closes
it; the answer is the language that belongs to the clue, i.e. the clue's class. Only an
RNN that carries the clue across the whole gap beats chance ``1 / num_clues``.

Tokens: 0 = pad, 1 = query, 2 .. 1 + num_clues = clues, then ``num_distractors``
distractor ids. x: int32 ``[gap + 2]``; y: int32 scalar in [0, num_clues).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lstmjax.tasks.spec import TaskSpec, example_rng

QUERY = 1
FIRST_CLUE = 2


@dataclasses.dataclass(frozen=True)
class DistantRecallConfig:
    gap: int = 50
    num_clues: int = 8
    num_distractors: int = 32

    def __post_init__(self):
        if int(self.gap) < 0:
            raise ValueError(f"distant_recall: gap={self.gap!r}; must be >= 0")
        if int(self.num_clues) < 2:
            raise ValueError(f"distant_recall: num_clues={self.num_clues!r}; must be >= 2")
        if int(self.num_distractors) < 1:
            raise ValueError(f"distant_recall: num_distractors={self.num_distractors!r}; must be >= 1")

    @property
    def vocab_size(self) -> int:
        return FIRST_CLUE + self.num_clues + self.num_distractors


def spec(cfg: DistantRecallConfig) -> TaskSpec:
    return TaskSpec("distant_recall", "tokens", "classify", max_length=cfg.gap + 2,
                    vocab_size=cfg.vocab_size, num_classes=cfg.num_clues,
                    chance=1 / cfg.num_clues, description=f"distant recall, gap={cfg.gap}")


def length(cfg: DistantRecallConfig, seed: int, index: int) -> int:
    return cfg.gap + 2


def example(cfg: DistantRecallConfig, seed: int, index: int) -> dict:
    rng = example_rng(seed, index)
    clue = int(rng.integers(0, cfg.num_clues))
    x = np.empty(cfg.gap + 2, np.int32)
    x[0] = FIRST_CLUE + clue
    x[1:-1] = rng.integers(FIRST_CLUE + cfg.num_clues, cfg.vocab_size, cfg.gap)
    x[-1] = QUERY
    return {"x": x, "y": np.int32(clue)}
