"""A seconds-long adding run for the CLI tests (the one defaults table, a few fields set)."""

from lstmjax.schema import default_config


def get_config(arg=None):
    del arg
    c = default_config()
    c.data = dict(name="adding", length=20, num_examples=256, num_eval_examples=32)
    c.steps = 12
    c.batch_size = 8
    c.log_every = 4
    c.eval_every = 6
    c.eval_batches = 1
    c.checkpoint_every = 4
    c.plot = False
    c.model.hidden_size = 4
    return c
