"""Inside the gates of an LSTM trained on distant recall: correlation and intervention.

    python -m experiments.gates --config experiments/configs/gates.py:causal \\
        --workdir experiments/results/gates_causal
    python -m experiments.gates --config experiments/configs/gates.py:quick --workdir runs/gates \\
        [--config.gap=500 --config.seeds=5 --config.train.steps=3000 --config.init=forget_bias_1]

Sizes: ``tiny`` (seconds, for the tests: both inits, one seed), ``quick`` (gap 50, chrono,
2 seeds, 400 steps), ``standard`` (gap 100, chrono, 3 seeds, 600 steps; the committed
``gates_quick`` / ``gates_standard`` are these two, correlational), ``causal`` (the
interventions, ``gates_causal``: chrono and forget bias 1, gap ``CAUSAL_GAP``,
``CAUSAL_SEEDS`` seeds each, ``CAUSAL_STEPS`` steps without early stopping, so both inits
train alike).

One run per init and seed: ``train`` on distant recall with ``gap`` distractors; ``init``
is ``chrono`` (chrono initialization for the sequence length), ``forget_bias_1``, or both
(``--config.init=chrono,forget_bias_1``). ``top_units`` clue-carrying units (chosen on the
validation split) have their forget gate clamped across the gap; the control clamps as
many random non-clue units, ``random_draws`` times. ``sequences`` probe sequences are
drawn as heatmaps (0: none).
"""

import ml_collections

from experiments.configs import choose
from lstmjax.schema import default_config

ARGS = ("tiny", "quick", "standard", "causal")
# the causal size (measured on 2 shared CPU cores, see docs/experiments.md): at gap 50 the
# forget-bias-1 LSTM solves within this budget, at gap 100 it stays at chance
CAUSAL_GAP, CAUSAL_SEEDS, CAUSAL_STEPS = 50, 10, 5000


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "gates")
    tiny, quick, causal = size == "tiny", size == "quick", size == "causal"
    c = ml_collections.ConfigDict()
    c.size = size
    c.sizes = ARGS
    c.gap = 4 if tiny else 50 if quick else CAUSAL_GAP if causal else 100
    c.seeds = 1 if tiny else 2 if quick else CAUSAL_SEEDS if causal else 3
    c.init = "chrono,forget_bias_1" if tiny or causal else "chrono"
    c.top_units = 2 if tiny else 16
    c.random_draws = 2 if tiny else 5
    c.sequences = 1 if tiny or causal else 2 if quick else 3
    c.data = dict(name="distant_recall", gap=0, num_clues=8, num_distractors=8,
                  num_examples=100_000, num_eval_examples=128 if tiny else 2_048)

    t = c.train = default_config()
    t.steps = 4 if tiny else 400 if quick else CAUSAL_STEPS if causal else 600
    t.stop_when_solved = not causal
    t.batch_size = 16 if tiny else 64
    t.eval_every = 2 if tiny else 50
    t.eval_batch_size = 32 if tiny else 256  # periodic validation: 32 or 1024 sequences
    t.eval_batches = 1 if tiny else 4
    t.solve_threshold = 0.99
    t.model.hidden_size = 8 if tiny else 64
    t.model.embed_dim = 4 if tiny else 16
    t.optimizer.learning_rate = 3e-3
    return c
