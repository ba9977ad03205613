"""The adding problem (Hochreiter & Schmidhuber 1997, exp. 4): regress 0.5 + (X1 + X2)/4.

    python -m experiments.train --config experiments/configs/adding.py --workdir runs/adding
"""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "adding")
    c = default_config()
    c.data = dict(name="adding", length=100, variant="original", seed=0,
                  num_examples=100_000, num_eval_examples=2_000)
    c.steps = 5000
    return c
