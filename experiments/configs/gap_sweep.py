"""Gap sweep: which model still recalls the clue after a gap of N tokens.

    python -m experiments.gap_sweep --config experiments/configs/gap_sweep.py:quick \\
        --workdir runs/gap_sweep [--config.seeds=3 --config.gaps=10,100,1000 ...]

Sizes: ``tiny`` (seconds, for the tests), ``demo`` (``make demo``: the tanh RNN against the
chrono LSTM at gaps 10 and 200, one seed, about two minutes on 2 cores), ``quick`` (gaps
10/30/100, 2 seeds, 300 steps; minutes on a CPU), ``standard`` (gaps 10-500, 3 seeds,
600 steps).

The sweep: every task in ``tasks`` x gap x model in ``models`` x seed ``0..seeds-1``. A
run's train config is ``train`` with the task's data section (``task_data``; its gap
field set to the gap), the model's fields (``model_defs``; ``chrono: True`` = chrono
initialization for the task's longest sequence; for ``cell="gru"`` it is the GRU's
"keep" init, see ``experiments/gap_sweep.py``) and the seed.
"""

import ml_collections

from lstmjax.schema import default_config


SIZES = ("tiny", "demo", "quick", "standard")


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    if size not in SIZES:
        raise ValueError(f"gap_sweep config: size={size!r}; accepted: {SIZES}")
    demo = size == "demo"
    tiny, quick = size == "tiny", size in ("quick", "demo")
    c = ml_collections.ConfigDict()
    c.size = size
    c.sizes = SIZES
    c.tasks = ("distant_recall",)  # and/or "adding" (its gap axis: the sequence length T)
    # demo: one gap each side of where the tanh RNN stops learning the link (standard
    # sweep: it solves every seed up to gap 50, the chrono LSTM up to 200)
    c.gaps = ((3, 6) if tiny else (10, 200) if demo else (10, 30, 100) if quick
              else (10, 50, 100, 200, 500))
    c.adding_lengths = (20, 24) if tiny else (20, 50, 100) if quick else (20, 50, 100, 200)
    c.seeds = 1 if tiny or demo else 2 if quick else 3
    c.models = (("rnn", "lstm_chrono") if demo else
                ("rnn", "lstm", "lstm_chrono", "gru", "gru_keep", "min_gru", "min_lstm",
                 "bilstm"))
    c.model_defs = dict(
        rnn=dict(cell="rnn"),
        lstm=dict(cell="lstm", forget_bias=1.0),
        lstm_chrono=dict(cell="lstm", chrono=True),
        gru=dict(cell="gru"),
        # GRU "keep" init (the GRU counterpart of chrono): b_z ~ log U[1, T_max - 1] with
        # T_max = the sequence length, so z = σ(b_z) starts near 1 and h = (1-z)·n + z·h_prev
        # keeps the state; chrono=True sets chrono_max_len as for lstm_chrono
        gru_keep=dict(cell="gru", chrono=True),
        min_gru=dict(cell="min_gru"),      # Feng et al. 2024; form "auto" (chunked on CPU)
        min_lstm=dict(cell="min_lstm"),    # b_f starts at 1
        bilstm=dict(cell="lstm", forget_bias=1.0, bidirectional=True, pooling="bilstm"),
    )
    # fixed data sets (seed-independent): 100k training and 2048 held-out sequences per
    # split (tiny: 128); the gap axis sets `gap` (distant recall) or `length` (adding)
    held_out = 128 if tiny else 2_048
    c.task_data = dict(
        distant_recall=dict(name="distant_recall", gap=0, num_clues=8, num_distractors=8,
                            num_examples=100_000, num_eval_examples=held_out),
        adding=dict(name="adding", length=0, variant="original", num_examples=100_000,
                    num_eval_examples=held_out),
    )

    t = c.train = default_config()
    t.steps = 4 if tiny else 300 if quick else 600
    t.batch_size = 16 if tiny else 64
    t.eval_every = 2 if tiny else 50
    # periodic validation (steps to solve): 64 (tiny) or 1024 fixed validation sequences
    t.eval_batch_size = 64 if tiny else 256
    t.eval_batches = 1 if tiny else 4
    t.solve_threshold = 0.99  # solve_metric: accuracy; stop_when_solved
    t.model.hidden_size = 8 if tiny else 64
    t.model.embed_dim = 4 if tiny else 16
    t.optimizer.learning_rate = 3e-3
    return c
