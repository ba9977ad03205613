"""Gap sweep: which model still recalls the clue after a gap of N tokens.

    python -m experiments.sweep --config experiments/configs/gap_sweep.py:quick \\
        --workdir runs/gap_sweep [--config.sweep.gap=10,100,1000 --config.sweep.seeds=5]

Arguments (``ARGS``): ``tiny`` (seconds, for the tests), ``demo`` (``make demo``: the tanh
RNN against the chrono LSTM at gaps 10 and 200, one seed, about two minutes on 2 cores),
``quick`` (gaps 10/30/100, 2 seeds, 300 steps), ``standard`` (gaps 10-500, 3 seeds, 600
steps), ``adding`` (the adding problem instead: the gap axis is its length T).

Task: distant recall ("I grew up in France ... I speak fluent ___"): a clue token, ``gap``
distractor tokens, a query; 8 clues (chance 12.5%). Models: tanh RNN, LSTM with forget
bias 1, LSTM with chrono init (Tallec & Ollivier 2018, T_max = the longest sequence), GRU
with the default init (all biases 0: z starts near 1/2, the state halves every step) and
with the "keep" init (``chrono: True`` sets only the update gate's bias, b_z ~ log U[1,
T_max - 1]; the GRU convention is h = (1 - z)·n + z·h_prev, ``lstmjax.cells.GRUCell``),
minGRU and minLSTM (Feng et al. 2024; form "auto": chunked on CPU), and a BiLSTM whose
sentence vector is [h_fw_last ; h_bw_first] (its backward direction reads the clue last,
so its result is not a memory result). Each run stops at the first periodic validation
(1024 fixed validation sequences) with accuracy >= 99%; the report shows the whole test
split (2048 sequences) at the last step.
"""

import ml_collections

from experiments.configs import choose
from lstmjax.schema import default_config

ARGS = ("tiny", "demo", "quick", "standard", "adding")
MODELS = dict(
    rnn=dict(model=dict(cell="rnn")),
    lstm=dict(model=dict(cell="lstm")),
    lstm_chrono=dict(model=dict(cell="lstm", chrono=True)),
    gru=dict(model=dict(cell="gru")),
    gru_keep=dict(model=dict(cell="gru", chrono=True)),
    min_gru=dict(model=dict(cell="min_gru")),
    min_lstm=dict(model=dict(cell="min_lstm")),
    bilstm=dict(model=dict(cell="lstm", bidirectional=True, pooling="bilstm")),
)
LABELS = dict(rnn="tanh RNN", lstm="LSTM (forget bias 1)", lstm_chrono="LSTM (chrono init)",
              gru="GRU (default init, b_z = 0)", gru_keep="GRU (keep init, b_z ~ log U[1, T-1])",
              min_gru="minGRU", min_lstm="minLSTM (b_f = 1)",
              bilstm="BiLSTM [h_fw_last ; h_bw_first]")


def report(task: str, unit: str) -> dict:
    """The report of a gap sweep (``experiments/report.py``); shared with the factorial."""
    adding = task == "adding"
    return dict(
        views=(dict(name=task, where=dict(task=task), rows="model", cols="gap",
                    col_label="T" if adding else "gap", metric="accuracy", unit=unit,
                    what=("accuracy (%, sequences with |error| < 0.04)" if adding
                          else "accuracy (%)"),
                    plot="lines", plot_name="accuracy_vs_gap",
                    suffix="_adding" if adding else "", logx=True,
                    xlabel="sequence length T" if adding else
                    "gap (distractor tokens between clue and query)"),),
        labels=LABELS,
        notes=("The BiLSTM's backward direction reads the clue last (a gap of 0 for it), "
               "so its result is not a memory result. One learning rate serves every "
               "model.",),
        headline=dict(order=1, title=("Gap sweep, adding problem" if adding else
                             "Gap sweep (distant recall)"),
                      rules=(dict(kind="solved"), dict(kind="upto"),
                             dict(kind="compare", pairs=(("rnn", "lstm", "gating"),
                                                         ("lstm", "lstm_chrono",
                                                          "initialization"))),
                             dict(kind="metric"))))


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "gap_sweep")
    tiny, demo, adding = size == "tiny", size == "demo", size == "adding"
    quick = size in ("quick", "demo")
    c = default_config()
    c.steps = 4 if tiny else 300 if quick else 600
    c.batch_size = 16 if tiny else 64
    c.eval_every = 2 if tiny else 50
    # periodic validation (steps to solve): 64 (tiny) or 1024 fixed validation sequences
    c.eval_batch_size = 64 if tiny else 256
    c.eval_batches = 1 if tiny else 4
    c.solve_threshold = 0.99  # solve_metric: accuracy; stop_when_solved
    c.model.hidden_size = 8 if tiny else 64
    c.model.embed_dim = 4 if tiny else 16
    c.optimizer.learning_rate = 3e-3
    # fixed data sets (seed-independent): 100k training and 2048 held-out sequences per
    # split (tiny: 128); the gap axis sets `gap` (distant recall) or `length` (adding)
    held_out = 128 if tiny else 2_048
    task = "adding" if adding else "distant_recall"
    c.data = (dict(name="adding", length=0, variant="original", num_examples=100_000,
                   num_eval_examples=held_out) if adding else
              dict(name="distant_recall", gap=0, num_clues=8, num_distractors=8,
                   num_examples=100_000, num_eval_examples=held_out))
    c.sweep = dict(
        name="gap_sweep", size=size,
        axes=("task", "gap", "model"),
        task=(task,),
        gap=((3, 6) if tiny else (10, 200) if demo else (10, 30, 100) if quick
             else (20, 50, 100, 200) if adding else (10, 50, 100, 200, 500)),
        model=(("rnn", "lstm_chrono") if demo else tuple(MODELS)),
        seeds=1 if tiny or demo else 2 if quick else 3,
        set=dict(task={task: {}}, gap="data.length" if adding else "data.gap", model=MODELS),
        report=report(task, "sequences"))
    return c
