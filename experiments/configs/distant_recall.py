"""Distant recall: recall a clue after ``gap`` distractor tokens (the seed's "France ... French")."""

from experiments.configs.base import base


def get_config():
    c = base(dict(name="distant_recall", gap=50, num_clues=8, num_distractors=32, seed=0,
                  num_examples=100_000, num_eval_examples=2_000))
    c.steps = 3000
    c.model.hidden_size = 64
    c.model.embed_dim = 32
    return c
