"""Copy memory (Arjovsky et al. 2016): reproduce 10 symbols after a gap of T blanks.

Per-step outputs; compare the loss with ``summary.json``'s ``baseline_loss``.
"""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "copy_memory")
    c = default_config()
    c.data = dict(name="copy_memory", length=100, num_symbols=10, num_categories=8, seed=0,
                  num_examples=100_000, num_eval_examples=2_000)
    c.steps = 5000
    c.batch_size = 64
    c.model.hidden_size = 128
    c.model.embed_dim = 16
    return c
