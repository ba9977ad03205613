"""Looking inside the gates of an LSTM trained on distant recall.

    python -m experiments.gates --config experiments/configs/gates.py:quick --workdir runs/gates \\
        [--config.gap=500 --config.seeds=5 --config.train.steps=3000 --config.init=forget_bias_1]

Sizes: ``tiny`` (seconds, for the tests), ``quick`` (gap 50, 2 seeds, 400 steps),
``standard`` (gap 100, 3 seeds, 600 steps).

One run per seed: ``train`` on distant recall with ``gap`` distractors; ``init`` is
``chrono`` (chrono initialization for the sequence length) or ``forget_bias_1``. Then
``top_units`` clue-carrying units are drawn for ``sequences`` probe sequences.
"""

import ml_collections

from lstmjax.schema import default_config


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    tiny, quick = size == "tiny", size == "quick"
    c = ml_collections.ConfigDict()
    c.size = size
    c.gap = 4 if tiny else 50 if quick else 100
    c.seeds = 1 if tiny else 2 if quick else 3
    c.init = "chrono"
    c.top_units = 4 if tiny else 16
    c.sequences = 1 if tiny else 2 if quick else 3
    c.data = dict(name="distant_recall", gap=0, num_clues=8, num_distractors=8,
                  num_examples=100_000, num_eval_examples=128 if tiny else 2_048)

    t = c.train = default_config()
    t.steps = 4 if tiny else 400 if quick else 600
    t.batch_size = 16 if tiny else 64
    t.eval_every = 2 if tiny else 50
    t.eval_batch_size = 32 if tiny else 256  # periodic validation: 32 or 1024 sequences
    t.eval_batches = 1 if tiny else 4
    t.solve_threshold = 0.99
    t.model.hidden_size = 8 if tiny else 64
    t.model.embed_dim = 4 if tiny else 16
    t.optimizer.learning_rate = 3e-3
    return c
