"""Last clue wins: recall the most recent of several clues, forgetting the earlier ones.

The forgetting counterpart of ``distant_recall``. A sequence of ``length`` tokens holds
``num_writes`` clue tokens (each one of ``num_clues`` values) at random positions among
random distractor tokens; a query token closes it, and the answer is the value of the
*last* clue. Every earlier clue is stale: it must be overwritten, not kept beside the new
one. The clues of a sequence are distinct values, so every write changes the answer and
the set of clues says nothing about which came last. Chance (an input-blind guess) is
``1 / num_clues``; a reader that knows *which* clues occurred but not their order does
exactly ``1 / num_writes``.

Why this and not a stream with reset tokens: here the signal to forget is the arrival
of the next clue itself, so each sequence asks for "store, then replace" ``num_writes - 1``
times and the score reads directly how well the cell can overwrite what it holds. A
reset token splits that into "clear" and "store" events and adds a token kind, without
asking anything of the forget gate that this task does not already ask.

What a cell without a forget gate (``gates="nfg"``, ``"lstm1997"``) struggles with: its
cell state can only accumulate, ``c_t = c_{t-1} + i_t * g_t``. Writing a new clue adds
its code to the old ones, so after several writes the state holds a superposition of
every clue seen, and the readout ``h = o * tanh(c)`` cannot tell which came last. To
replace a clue it would have to learn to subtract exactly what it stored before (a
write ``g_t`` that depends, through ``h_{t-1}``, on the current content), or to tag each
clue with its arrival time and read out the latest; both are possible in principle but
hard to learn and inexact, and the error grows with ``num_writes`` and ``length``. A standard LSTM replaces in one step: ``f_t ≈ 0`` at a clue erases the
old content while ``i_t * g_t`` writes the new one, and ``f_t ≈ 1`` keeps it across the
distractors that follow.

Tokens: 0 = pad, 1 = query, 2 .. 1 + num_clues = clues, then ``num_distractors``
distractor ids. x: int32 ``[length]`` (clues at positions ``< length - 1``, query last);
y: int32 scalar in [0, num_clues), the value of the last clue.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lstmjax.tasks.spec import TaskSpec, example_rng

QUERY = 1
FIRST_CLUE = 2


@dataclasses.dataclass(frozen=True)
class LastClueConfig:
    length: int = 50
    num_clues: int = 8
    num_writes: int = 4
    num_distractors: int = 32

    def __post_init__(self):
        if int(self.num_writes) < 2:
            raise ValueError(f"last_clue: num_writes={self.num_writes!r}; must be >= 2 (one clue needs no forgetting)")
        if int(self.length) < int(self.num_writes) + 1:
            raise ValueError(f"last_clue: length={self.length!r}; must be >= num_writes + 1 = {int(self.num_writes) + 1}")
        if int(self.num_clues) < 2:
            raise ValueError(f"last_clue: num_clues={self.num_clues!r}; must be >= 2")
        if int(self.num_writes) > int(self.num_clues):
            raise ValueError(f"last_clue: num_writes={self.num_writes!r}; must be <= num_clues={self.num_clues!r} "
                             "(the clues of a sequence are distinct)")
        if int(self.num_distractors) < 1:
            raise ValueError(f"last_clue: num_distractors={self.num_distractors!r}; must be >= 1")

    @property
    def vocab_size(self) -> int:
        return FIRST_CLUE + self.num_clues + self.num_distractors


def spec(cfg: LastClueConfig) -> TaskSpec:
    return TaskSpec("last_clue", "tokens", "classify", max_length=cfg.length,
                    vocab_size=cfg.vocab_size, num_classes=cfg.num_clues, chance=1 / cfg.num_clues,
                    description=f"last clue wins, T={cfg.length}, {cfg.num_writes} writes")


def length(cfg: LastClueConfig, seed: int, index: int) -> int:
    return cfg.length


def example(cfg: LastClueConfig, seed: int, index: int) -> dict:
    rng = example_rng(seed, index)
    x = rng.integers(FIRST_CLUE + cfg.num_clues, cfg.vocab_size, cfg.length).astype(np.int32)
    x[-1] = QUERY
    positions = np.sort(rng.choice(cfg.length - 1, cfg.num_writes, replace=False))
    values = rng.choice(cfg.num_clues, cfg.num_writes, replace=False)  # distinct, random order
    x[positions] = FIRST_CLUE + values
    return {"x": x, "y": np.int32(values[-1])}
