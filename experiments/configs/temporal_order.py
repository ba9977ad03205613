"""Temporal order (Hochreiter & Schmidhuber 1997, exp. 6a/6b): classify the order of X/Y."""

from experiments.configs.base import base


def get_config():
    c = base(dict(name="temporal_order", length=100, variant="6a", seed=0,
                  num_examples=100_000, num_eval_examples=2_000))
    c.steps = 4000
    c.model.hidden_size = 64
    c.model.embed_dim = 16
    return c
