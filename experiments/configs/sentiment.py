"""Sentiment: the seed's sentence vector [h_fw_last ; h_bw_first] vs the alternatives.

    python -m experiments.sweep --config experiments/configs/sentiment.py:quick \\
        --workdir runs/sentiment [--config.sweep.seeds=5]
    python -m experiments.sweep --config experiments/configs/sentiment.py:imdb \\
        --data_dir ~/tensorflow_datasets --workdir runs/imdb     # IMDB via TFDS

Arguments (``ARGS``): ``tiny`` (seconds, for the tests), ``quick`` (6000 synthetic
reviews, 2 seeds, 300 steps), ``standard`` (12000 reviews, 3 seeds, 1000 steps), ``imdb``
(IMDB reviews from TFDS, first 210 tokens, the standard budget). Your own labelled text:
``--config.data.name=text_file --config.data.path=reviews.csv`` (``docs/data.md``).

Poolings (same embedding, hidden size per direction, optimizer, seeds): ``bilstm`` (the
seed: [h_fw at the last word ; h_bw at the first word]), ``forward_last`` (a forward LSTM's
h at the last word), ``mean`` (the mean of the BiLSTM's per-step outputs). Synthetic
reviews (``lstmjax.tasks.reviews``): the opinion is stated in the first words, so the
backward direction's h_bw_first has just read it and mean pooling includes it, while a
forward LSTM's last state must carry it across the whole review.
"""

import ml_collections

from experiments.configs import choose
from lstmjax.schema import default_config

ARGS = ("tiny", "quick", "standard", "imdb")


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "sentiment")
    tiny, quick = size == "tiny", size == "quick"
    c = default_config()
    c.steps = 4 if tiny else 300 if quick else 1000
    c.batch_size = 16 if tiny else 32
    c.eval_every = 2 if tiny else 50 if quick else 100
    # periodic validation: 16 (tiny), 512 (quick) or 1024 reviews; the held-out 20% of the
    # reviews is split half to validation, half to test
    c.eval_batch_size = 16 if tiny else 256
    c.eval_batches = 1 if tiny else 2 if quick else 4
    c.model.hidden_size = 8 if tiny else 32 if quick else 64
    c.model.embed_dim = 8 if tiny else 32 if quick else 64
    c.optimizer.learning_rate = 3e-3
    c.data = (dict(name="imdb", vocab_size=20_000, max_length=210, holdout=2500)
              if size == "imdb" else
              dict(name="synthetic_reviews", num_reviews=200 if tiny else 6000 if quick
                   else 12000, min_filler=5 if tiny else 60, max_filler=30 if tiny else 200,
                   max_length=40 if tiny else 210,
                   cache_dir=""))  # "": --data_dir, else ~/.cache/lstmjax
    c.sweep = dict(
        name="sentiment", size=size, axes=("pooling",),
        pooling=("bilstm", "forward_last", "mean"), seeds=1 if tiny else 2 if quick else 3,
        set=dict(pooling=dict(
            bilstm=dict(model=dict(bidirectional=True, pooling="bilstm")),
            forward_last=dict(model=dict(pooling="last")),
            mean=dict(model=dict(bidirectional=True, pooling="mean")))),
        report=dict(
            views=(dict(name="sentiment", rows="pooling", metric="accuracy", unit="reviews",
                        what="accuracy (%)", plot="bars", plot_name="sentiment_accuracy",
                        curves=True),),
            labels=dict(bilstm="BiLSTM [h_fw_last ; h_bw_first]",
                        forward_last="forward LSTM, last h", mean="BiLSTM, mean over steps"),
            notes=("Synthetic reviews state the label in their first words: the backward "
                   "direction's h_bw_first has just read them and mean pooling includes "
                   "them, while a forward LSTM's last state must carry them across the "
                   "whole review.",),
            headline=dict(order=4, title="Sentiment (sentence vector)",
                          rules=(dict(kind="best"),))))
    return c
