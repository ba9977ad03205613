"""Temporal order (Hochreiter & Schmidhuber 1997, exp. 6a/6b): classify the order of X/Y."""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "temporal_order")
    c = default_config()
    c.data = dict(name="temporal_order", length=100, variant="6a", seed=0,
                  num_examples=100_000, num_eval_examples=2_000)
    c.steps = 4000
    c.model.embed_dim = 16
    return c
