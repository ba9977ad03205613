"""ListOps (Nangia & Bowman 2018, as in the Long Range Arena, Tay et al. 2021).

Nested prefix expressions over digits with operators MIN, MAX, MED (median, rounded
down) and SM (sum mod 10), e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]`` -> 9. Trees are drawn as in
LRA's generator (a node is a leaf with probability 0.75 below ``max_depth``; an operator
has 2..``max_args`` arguments) and redrawn until the token count lies in
``[min_length, max_length]``. The class is the value, 10 classes.

Tokens: 0 = pad, 1..10 = digits 0..9, 11..14 = ``[MIN [MAX [MED [SM``, 15 = ``]``.
x: int32 ``[T]``; y: int32 scalar in [0, 10).
"""

from __future__ import annotations

import dataclasses
import random

import numpy as np

from lstmjax.tasks.spec import TaskSpec, example_rng

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
VOCAB = ("<pad>",) + tuple(str(d) for d in range(10)) + OPERATORS + ("]",)
CLOSE = len(VOCAB) - 1
LEAF_P = 0.75  # LRA: VALUE_P = 0.25 is the chance to *branch*
MAX_TRIES = 10_000


@dataclasses.dataclass(frozen=True)
class ListOpsConfig:
    min_length: int = 500
    max_length: int = 2000
    max_depth: int = 10
    max_args: int = 10

    def __post_init__(self):
        if not 1 <= int(self.min_length) <= int(self.max_length):
            raise ValueError(f"listops: min_length={self.min_length!r}, max_length={self.max_length!r}; "
                             "need 1 <= min_length <= max_length")
        if int(self.max_depth) < 1 or int(self.max_args) < 2:
            raise ValueError(f"listops: max_depth={self.max_depth!r} (>= 1), max_args={self.max_args!r} (>= 2)")


def spec(cfg: ListOpsConfig) -> TaskSpec:
    return TaskSpec("listops", "tokens", "classify", max_length=cfg.max_length,
                    vocab_size=len(VOCAB), num_classes=10, chance=None,
                    description=f"ListOps, {cfg.min_length}..{cfg.max_length} tokens")


def _apply(op: int, args: list[int]) -> int:
    if op == 0:
        return min(args)
    if op == 1:
        return max(args)
    if op == 2:
        return int(np.median(args))
    return sum(args) % 10


def _tree(rnd: random.Random, depth: int, cfg: ListOpsConfig, out: list[int], budget: int,
          root: bool = False) -> int:
    """Appends one subtree's tokens to ``out``, returns its value; stops early past budget."""
    if not root and (depth >= cfg.max_depth or rnd.random() < LEAF_P):
        value = rnd.randrange(10)
        out.append(1 + value)
        return value
    op = rnd.randrange(4)
    out.append(11 + op)
    args = []
    for _ in range(rnd.randint(2, cfg.max_args)):
        if len(out) > budget:  # already too long: the caller rejects it, stop early
            break
        args.append(_tree(rnd, depth + 1, cfg, out, budget))
    out.append(CLOSE)
    return _apply(op, args) if len(out) <= budget else 0  # value of a rejected tree is unused


def example(cfg: ListOpsConfig, seed: int, index: int) -> dict:
    # Python's Random: ~10x cheaper per scalar draw than numpy's Generator, and trees are
    # built one scalar at a time. Seeded from the example's numpy stream.
    rnd = random.Random(int(example_rng(seed, index).integers(2**63)))
    for _ in range(MAX_TRIES):
        out: list[int] = []
        # LRA lets the root be a leaf and rejects it (one token is never in range for
        # min_length > 1); forcing an operator at the root is the same distribution
        # conditioned on length > 1, without the wasted draws.
        value = _tree(rnd, 1, cfg, out, cfg.max_length, root=cfg.min_length > 1)
        if cfg.min_length <= len(out) <= cfg.max_length:
            return {"x": np.array(out, np.int32), "y": np.int32(value)}
    raise ValueError(f"listops: no tree with {cfg.min_length}..{cfg.max_length} tokens in {MAX_TRIES} draws "
                     f"(max_depth={cfg.max_depth}, max_args={cfg.max_args}); widen the length bounds")


def length(cfg: ListOpsConfig, seed: int, index: int) -> int:
    return len(example(cfg, seed, index)["x"])


def decode(x: np.ndarray) -> str:
    """Token ids -> the expression as text (for inspection)."""
    return " ".join(VOCAB[int(t)] for t in x if t)
