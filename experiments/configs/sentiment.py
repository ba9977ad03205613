"""BiLSTM sentiment: the seed's sentence vector [h_fw_last ; h_bw_first] vs the alternatives.

    python -m experiments.sentiment --config experiments/configs/sentiment.py:quick \\
        --workdir runs/sentiment [--config.data=imdb --data_dir ~/tensorflow_datasets]

Sizes: ``tiny`` (seconds, for the tests), ``quick`` (6000 synthetic reviews, 2 seeds, 300
steps), ``standard`` (12000 reviews, 3 seeds, 1000 steps).

The sweep: every pooling in ``poolings`` (model fields in ``pooling_defs``) x seed.
``data``: ``auto`` (IMDB when its TFDS files are prepared, else synthetic reviews),
``imdb``, ``synthetic`` (a review file written into the workdir, ``reviews`` settings) or
``file`` (``path``: your CSV/TSV/JSONL with text,label).
"""

import ml_collections

from lstmjax.schema import default_config


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    tiny, quick = size == "tiny", size == "quick"
    c = ml_collections.ConfigDict()
    c.size = size
    c.seeds = 1 if tiny else 2 if quick else 3
    c.poolings = ("bilstm", "forward_last", "mean")
    c.pooling_defs = dict(
        bilstm=dict(bidirectional=True, pooling="bilstm"),
        forward_last=dict(bidirectional=False, pooling="last"),
        mean=dict(bidirectional=True, pooling="mean"),
    )
    c.data = "auto"
    c.path = ""                       # for data="file"
    c.max_length = 40 if tiny else 210  # tokens per review
    c.reviews = dict(num_reviews=200 if tiny else 6000 if quick else 12000,
                     min_filler=5 if tiny else 60, max_filler=30 if tiny else 200)

    t = c.train = default_config()
    t.steps = 4 if tiny else 300 if quick else 1000
    t.batch_size = 16 if tiny else 32
    t.eval_every = 2 if tiny else 50 if quick else 100
    # periodic validation: 16 (tiny), 512 (quick) or 1024 (standard) reviews; the held-out
    # 20% of the reviews is split half to validation, half to test
    t.eval_batch_size = 16 if tiny else 256
    t.eval_batches = 1 if tiny else 2 if quick else 4
    t.model.hidden_size = 8 if tiny else 32 if quick else 64
    t.model.embed_dim = 8 if tiny else 32 if quick else 64
    t.optimizer.learning_rate = 3e-3
    return c
