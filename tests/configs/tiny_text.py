"""A seconds-long text_file run for the CLI tests: ``--config.data.path=FILE``."""

from ml_collections import config_dict

from lstmjax.schema import default_config


def get_config(arg=None):
    del arg
    c = default_config()
    c.data = dict(name="text_file", path=config_dict.placeholder(str),
                  test_path=config_dict.placeholder(str), encoding="utf-8", max_length=12,
                  holdout=0.2, seed=0)
    c.steps = 60
    c.batch_size = 16
    c.log_every = 20
    c.eval_every = 30
    c.eval_batches = 0
    c.checkpoint_every = 30
    c.pad_to = "batch"
    c.pad_multiple = 4
    c.plot = False
    c.model.hidden_size = 8
    c.model.embed_dim = 8
    c.optimizer.learning_rate = 0.02
    return c
