"""IMDB sentiment with a BiLSTM and the seed's sentence vector [h_fw_last ; h_bw_first].

Needs the TFDS imdb_reviews files (see docs/data.md).
"""

from experiments.configs import choose
from lstmjax.schema import default_config


def get_config(arg=None):
    """What differs from ``lstmjax.schema.DEFAULTS`` (no argument: ``arg`` must be None)."""
    choose(arg, (None,), None, "imdb")
    c = default_config()
    c.data = dict(name="imdb", vocab_size=20_000, min_count=1, max_length=400, holdout=2500)
    c.steps = 3000
    c.pad_to = "batch"
    c.bucket = True
    c.model.hidden_size = 128
    c.model.embed_dim = 128
    c.model.bidirectional = True
    c.model.pooling = "bilstm"
    c.optimizer.grad_clip = 5.0
    return c
