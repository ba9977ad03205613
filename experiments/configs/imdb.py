"""IMDB sentiment with a BiLSTM and the seed's sentence vector [h_fw_last ; h_bw_first].

Needs the TFDS imdb_reviews files (see README, Data).
"""

from experiments.configs.base import base


def get_config():
    c = base(dict(name="imdb", vocab_size=20_000, min_count=1, max_length=400, holdout=2500))
    c.steps = 3000
    c.batch_size = 32
    c.pad_to = "batch"
    c.bucket = True
    c.model.hidden_size = 128
    c.model.embed_dim = 128
    c.model.bidirectional = True
    c.model.pooling = "bilstm"
    c.model.dropout = 0.0
    c.optimizer.learning_rate = 1e-3
    c.optimizer.grad_clip = 5.0
    return c
