"""Sequential MNIST (Le et al. 2015): 784 pixels one by one; ``data.variant="permuted"`` for pMNIST.

Needs the TFDS MNIST files (see docs/data.md).
"""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "smnist")
    c = default_config()
    c.data = dict(name="mnist", variant="sequential", seed=0, holdout=5000)
    c.steps = 20000
    c.batch_size = 64
    c.model.hidden_size = 128
    c.model.chrono_max_len = 784.0
    c.optimizer.schedule = "cosine"
    return c
