"""The adding problem (Hochreiter & Schmidhuber 1997, exp. 4): regress 0.5 + (X1 + X2)/4.

    python -m experiments.train --config experiments/configs/adding.py --workdir runs/adding
"""

from experiments.configs.base import base


def get_config():
    c = base(dict(name="adding", length=100, variant="original", seed=0,
                  num_examples=100_000, num_eval_examples=2_000))
    c.steps = 5000
    c.batch_size = 32
    c.model.hidden_size = 64
    c.optimizer.learning_rate = 1e-3
    return c
