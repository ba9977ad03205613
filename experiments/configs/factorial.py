"""The distant-recall factorial (issue 26 item 2): gating vs initialization, by gap.

    python -m experiments.sweep --config experiments/configs/factorial.py:standard \\
        --workdir experiments/results/factorial --jobs auto          # NOT RUN yet: days
    python -m experiments.factorial --workdir experiments/results/factorial   # its cost

Arguments (``ARGS``): ``tiny`` (seconds, for the tests), ``standard`` (the factorial),
``cost`` (every model at the shortest and longest gap, one learning rate and seed, a few
steps each: the measured seconds per step that ``experiments.factorial`` turns into the
factorial's cost estimate).

Axes: gap (10 to 2000) x learning rate (3 values; per model the one with the most solves
on the validation sample is shown, every one kept) x model x seed (5). Models, cells x
initialization, parameter-matched within 10% of the LSTM's (a test checks it with
``experiments.sweep.num_params``): tanh RNN (orthogonal recurrent init), IRNN (Le et al.
2015: ReLU RNN, identity recurrent init, the tanh RNN's size), LSTM with forget bias 0,
with forget bias 1 and with chrono init (T_max = the sequence length), the 1997 LSTM (no
forget gate), GRU with the default and the keep init, minGRU and minLSTM (3 layers, as
Feng et al. 2024 stack them) with the default and the keep init (minGRU: b_z = -log U[1,
T - 1], so its replacing gate z starts small; minLSTM: the LSTM's chrono, b_f = -b_i).
"""

import ml_collections

from experiments.configs import choose, gap_sweep, solve_sweep_settings
from lstmjax.schema import default_config

ARGS = ("tiny", "standard", "cost")
# model -> overrides: hidden sizes chosen so that every model has 21.5k +- 10% parameters
# on distant recall (8 clues, 8 distractors, embed 16): tests/test_sweep.py checks it
MODELS = dict(
    rnn=dict(model=dict(cell="rnn", hidden_size=134)),
    irnn=dict(model=dict(cell="irnn", hidden_size=134)),
    lstm_fb0=dict(model=dict(cell="lstm", forget_bias=0.0)),
    lstm_fb1=dict(model=dict(cell="lstm")),
    lstm_chrono=dict(model=dict(cell="lstm", chrono=True)),
    lstm1997=dict(model=dict(cell="lstm", gates="lstm1997", hidden_size=74)),
    gru=dict(model=dict(cell="gru", hidden_size=75)),
    gru_keep=dict(model=dict(cell="gru", hidden_size=75, chrono=True)),
    min_gru=dict(model=dict(cell="min_gru", hidden_size=68, num_layers=3)),
    min_lstm=dict(model=dict(cell="min_lstm", hidden_size=54, num_layers=3)),
    min_gru_keep=dict(model=dict(cell="min_gru", hidden_size=68, num_layers=3, chrono=True)),
    min_lstm_keep=dict(model=dict(cell="min_lstm", hidden_size=54, num_layers=3, chrono=True)),
)
LABELS = dict(rnn="tanh RNN", irnn="IRNN (ReLU, identity init)", lstm_fb0="LSTM, forget bias 0",
              lstm_fb1="LSTM, forget bias 1", lstm_chrono="LSTM, chrono init",
              lstm1997="LSTM 1997 (no forget gate)", gru="GRU, default init",
              gru_keep="GRU, keep init", min_gru="minGRU (3 layers)",
              min_lstm="minLSTM (3 layers)", min_gru_keep="minGRU (3 layers), keep init",
              min_lstm_keep="minLSTM (3 layers), keep init")
RATES = (1e-3, 3e-3, 1e-2)


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "factorial")
    tiny, cost = size == "tiny", size == "cost"
    c = solve_sweep_settings(default_config(), size)
    c.data = dict(name="distant_recall", gap=0, num_clues=8, num_distractors=8,
                  num_examples=100_000, num_eval_examples=128 if tiny else 64 if cost else 2_048)
    models = {k: v for k, v in MODELS.items()}
    if tiny:  # tiny models: the structure of the sweep, not its parameter matching
        models = {k: dict(model={f: x for f, x in v["model"].items()
                                 if f not in ("hidden_size", "num_layers")})
                  for k, v in models.items()}
    gaps = (3, 6) if tiny else (10, 2000) if cost else (10, 30, 100, 300, 1000, 2000)
    rates = (3e-3, 1e-2) if tiny else (3e-3,) if cost else RATES
    report = gap_sweep.report("distant_recall", "sequences")
    views = [dict(report["views"][0], name="distant recall, best learning rate per model",
                  select="lr")]
    views += [dict(report["views"][0], name=f"distant recall, learning rate {lr:g}",
                   where=dict(task="distant_recall", lr=lr), plot="", suffix=f"_lr{lr:g}")
              for lr in rates]
    report.update(views=tuple(views), labels=LABELS, notes=(
        "The IRNN's init is Le et al. (2015)'s: W_h = I, b = 0, W_x ~ N(0, 0.001^2); the "
        "paper trained it with SGD at small learning rates, here it shares Adam and the "
        "learning-rate grid of every model.",),
        headline=dict(order=0, title="Distant-recall factorial (gating x initialization)", rules=(
            dict(kind="solved"), dict(kind="upto"),
            dict(kind="compare", pairs=(("rnn", "lstm_fb0", "gating (LSTM, forget bias 0)"),
                                        ("rnn", "irnn", "the plain RNN's activation and init"),
                                        ("lstm_fb0", "lstm_fb1", "the forget bias"),
                                        ("lstm_fb1", "lstm_chrono", "the LSTM's init"),
                                        ("gru", "gru_keep", "the GRU's init"),
                                        ("min_gru", "min_gru_keep", "the minGRU's init"),
                                        ("min_lstm", "min_lstm_keep", "the minLSTM's init"),
                                        ("lstm1997", "lstm_fb1", "a forget gate"))),
            dict(kind="metric"))))
    c.sweep = dict(
        name="factorial_cost" if cost else "factorial", size=size, axes=("task", "gap", "lr", "model"),
        task=("distant_recall",), gap=gaps, lr=rates,
        model=("rnn", "lstm_fb0", "lstm_chrono") if tiny else tuple(models),
        seeds=1 if tiny or cost else 5, run_dirs=cost,
        set=dict(task=dict(distant_recall={}), gap="data.gap",
                 lr="optimizer.learning_rate", model=models),
        report=report)
    return c
