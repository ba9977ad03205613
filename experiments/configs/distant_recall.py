"""Distant recall: recall a clue after ``gap`` distractor tokens (the seed's "France ... French")."""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "distant_recall")
    c = default_config()
    c.data = dict(name="distant_recall", gap=50, num_clues=8, num_distractors=32, seed=0,
                  num_examples=100_000, num_eval_examples=2_000)
    c.steps = 3000
    return c
