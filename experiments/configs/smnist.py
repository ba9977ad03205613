"""Sequential MNIST (Le et al. 2015): 784 pixels one by one; ``data.variant="permuted"`` for pMNIST.

Needs the TFDS MNIST files (see README, Data).
"""

from experiments.configs.base import base


def get_config():
    c = base(dict(name="mnist", variant="sequential", seed=0, holdout=5000))
    c.steps = 20000
    c.batch_size = 64
    c.model.hidden_size = 128
    c.model.chrono_max_len = 784.0
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "cosine"
    return c
