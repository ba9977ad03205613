"""The adding problem at T = 1000 (Hochreiter & Schmidhuber 1997, experiment 4): LSTM vs RNN.

    python -m experiments.adding_long --config experiments/configs/adding_long.py:quick \\
        --workdir runs/adding_quick [--config.train.steps=50000 --config.length=1000]

Sizes: ``tiny`` (seconds, for the tests), ``quick`` (T=100, up to 2000 steps), ``standard``
(T=1000, up to 20000 steps; hours on a CPU).

One run per model in ``models`` (model fields in ``model_defs``; ``chrono: True`` =
chrono initialization for the longest sequence) x seed, each in its own run directory
with checkpoints (resumable). ``train.steps`` is the budget; the periodic validation every
``train.eval_every`` steps stops a run once ``train.solve_threshold`` of the sample has
|error| < 0.04.
"""

import ml_collections

from lstmjax.schema import default_config


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    tiny, quick = size == "tiny", size == "quick"
    c = ml_collections.ConfigDict()
    c.size = size
    c.length = 20 if tiny else 100 if quick else 1000
    c.seeds = 1
    c.models = ("lstm", "rnn")
    c.model_defs = dict(
        lstm=dict(cell="lstm", chrono=True),
        lstm_fb1=dict(cell="lstm", forget_bias=1.0),
        lstm1997=dict(cell="lstm", gates="lstm1997"),
        rnn=dict(cell="rnn"),
    )
    c.data = dict(name="adding", length=0, variant="original", num_examples=100_000,
                  num_eval_examples=128 if tiny else 2_048)

    t = c.train = default_config()
    every = 2 if tiny else 250 if quick else 500
    t.steps = 4 if tiny else 2000 if quick else 20000
    t.batch_size = 8 if tiny else 64
    t.eval_every = every
    t.checkpoint_every = every
    t.keep_checkpoints = 2
    t.log_every = min(50, every)
    # periodic validation: 32 (tiny) or 1024 sequences
    t.eval_batch_size = 32 if tiny else 256
    t.eval_batches = 1 if tiny else 4
    t.solve_threshold = 0.99
    t.model.hidden_size = 8 if tiny else 64
    return c
