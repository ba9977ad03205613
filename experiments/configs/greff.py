"""Greff et al. (2017), "LSTM: A Search Space Odyssey", in Greff's regime (issue 29 item 3).

    python -m experiments.sweep --config experiments/configs/greff.py:standard \\
        --workdir experiments/results/greff --jobs auto        # NOT RUN: days of CPU
    python -m experiments.sweep --config experiments/configs/greff.py:cost \\
        --workdir /tmp/greff_cost --jobs 1      # a few steps per variant: its cost

Arguments (``ARGS``): ``tiny`` (seconds, for the tests), ``standard`` (the sweep),
``cost`` (every variant at the shortest and the longest sequence, one learning rate and
seed, 15 steps each in run directories that log steps/s per 5-step window: the measured
seconds per step behind the estimate in docs/experiments.md).

Reference: ``vanilla`` (Greff's vanilla LSTM, with peepholes); the eight variants are
Greff's single changes to it, the presets of ``lstmjax.gates.PRESETS`` (``np`` = vanilla
without peepholes). Every variant shares the init (forget bias 1), Adam and the budget.
Hidden 64 (Greff's smallest sizes are larger; the size is the house's ``standard``).

Axes: task x learning rate (3, log-spaced around Adam's default 1e-3; per variant the one
with the most solves on the validation sample is shown, every one kept in the records
and in its own table) x variant (9) x seed (3). Tasks: ``last_clue`` at T = 500 with 8
writes of 8 clue values (the continual-stream task where forgetting matters: every
sequence overwrites its memory 7 times; no character-level language-modelling task
exists in lstmjax, whose real-text corpora are labelled classification sets), and
distant recall at gaps 100 / 300 / 1000 (the gap axis; every variant, so NOAF, NIAF and
FGR among them). A run stops at the first periodic validation (1024 fixed validation
sequences) with accuracy >= 99%; its score is the whole test split (2048 sequences).
Plan: 9 x 3 x 4 x 3 = 324 runs, about 38 CPU-process hours (docs/experiments.md). A run
without a score (a non-finite loss) is named in the report, never counted as a failure.
"""

import ml_collections

from experiments.configs import choose, solve_sweep_settings
from lstmjax.gates import PRESETS
from lstmjax.schema import default_config

ARGS = ("tiny", "standard", "cost")
REFERENCE = "vanilla"
# Greff's vanilla LSTM and its eight single changes, read from the presets: every preset
# but `standard` (= np) and `lstm1997` (not one of Greff's variants)
VARIANTS = (REFERENCE, *(p for p in PRESETS if p not in ("standard", "lstm1997", REFERENCE)))
LABELS = dict(vanilla="vanilla (peepholes)", nig="NIG (no input gate)",
              nfg="NFG (no forget gate)", nog="NOG (no output gate)",
              niaf="NIAF (no input activation)", noaf="NOAF (no output activation)",
              np="NP (no peepholes)", cifg="CIFG (coupled input and forget gate)",
              fgr="FGR (full gate recurrence)")
RATES = (3e-4, 1e-3, 3e-3)
GAPS = (100, 300, 1000)
# Greff et al. 2017, Sec. 5 / Fig. 3, as directions against vanilla (experiments/report.py,
# rule kind "expect"): NFG and NOAF hurt most; NIG, NOG and NIAF hurt (significantly on
# some data sets, less than those two); CIFG and NP do no significant harm; no variant
# (FGR among them: no change on two data sets, worse on music) improves significantly.
GREFF = dict(nfg="most", noaf="most", nig="worse", nog="worse", niaf="worse",
             cifg="no_worse", np="no_worse", fgr="no_better")
NOT_TESTABLE = (
    "Greff et al.'s points not testable here, and why: their data sets (TIMIT speech, IAM "
    "Online handwriting, JSB Chorales music) and converged error after long training "
    "(these are synthetic tasks at a fixed budget of steps, stopped once solved); their "
    "random search over hidden size, momentum, input noise and learning rate (here only "
    "the learning rate, 3 values, with Adam, not SGD with momentum); their finding that "
    "hyperparameters barely interact (one size, one optimizer); the learning rate being "
    "the most important hyperparameter (one other hyperparameter is not varied). The "
    "chosen learning rate per variant is named in each best-learning-rate table, so "
    "whether it is the same for every variant (their near-independence of variant and "
    "learning rate) can be read there, not tested.",)


def _tasks(tiny: bool, held_out: int) -> dict:
    """Task label -> its overrides: the continual stream (last clue) and the gap axis."""
    common = dict(num_examples=100_000, num_eval_examples=held_out)
    lc = dict(name="last_clue", length=10, num_clues=4, num_writes=3, num_distractors=4) \
        if tiny else dict(name="last_clue", length=500, num_clues=8, num_writes=8,
                          num_distractors=8)
    out = dict(last_clue=dict(data={**lc, **common}, record=dict(axis="stream")))
    for g in (3,) if tiny else GAPS:
        out[f"recall_gap{g}"] = dict(
            data=dict(name="distant_recall", gap=g, num_clues=4 if tiny else 8,
                      num_distractors=4 if tiny else 8, **common),
            record=dict(axis="gap", gap=g))
    return out


def _views(rates) -> tuple:
    stream = dict(where=dict(axis="stream"), rows="variant", metric="accuracy",
                  unit="sequences", what="accuracy (%)")
    gap = dict(where=dict(axis="gap"), rows="variant", cols="gap", metric="accuracy",
               unit="sequences", what="accuracy (%)", logx=True,
               xlabel="gap (distractor tokens between clue and query)")
    views = [dict(stream, name="last clue (continual stream), best learning rate per variant",
                  select="lr", plot="bars", plot_name="accuracy", suffix="_last_clue"),
             dict(gap, name="distant recall, best learning rate per variant", select="lr",
                  plot="lines", plot_name="accuracy_vs_gap", suffix="_gap")]
    for lr in rates:  # every learning rate kept, in its own table
        views += [dict(stream, name=f"last clue, learning rate {lr:g}",
                       where=dict(axis="stream", lr=lr), suffix=f"_last_clue_lr{lr:g}"),
                  dict(gap, name=f"distant recall, learning rate {lr:g}",
                       where=dict(axis="gap", lr=lr), suffix=f"_gap_lr{lr:g}")]
    return tuple(views)


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "greff")
    tiny, cost = size == "tiny", size == "cost"
    c = solve_sweep_settings(default_config(), size)
    tasks = _tasks(tiny, 128 if tiny else 64 if cost else 2_048)
    c.data = dict(tasks["last_clue"]["data"])
    rates = (1e-3, 3e-3) if tiny else (1e-3,) if cost else RATES
    c.sweep = dict(
        name="greff_cost" if cost else "greff", size=size, axes=("task", "lr", "variant"),
        task=(("last_clue", "recall_gap3") if tiny else
              ("last_clue", f"recall_gap{GAPS[-1]}") if cost else tuple(tasks)),
        lr=rates, variant=("vanilla", "nfg", "cifg") if tiny else VARIANTS,
        seeds=2 if tiny else 1 if cost else 3, run_dirs=cost,
        set=dict(task=tasks, lr="optimizer.learning_rate",
                 variant={v: dict(model=dict(cell="lstm", gates=v)) for v in VARIANTS}),
        report=dict(
            views=_views(rates), labels=LABELS,
            notes=("Reference: `vanilla` (peepholes); every other row is one of Greff et "
                   "al.'s single changes to it, with the same init (forget bias 1), "
                   "optimizer (Adam), size and budget; per variant the learning rate with "
                   "the most validation-sample solves is its best (ties: the higher "
                   "whole-validation-split accuracy), every rate in its own table.",
                   *NOT_TESTABLE),
            headline=dict(order=5, title="Greff et al. (2017) in Greff's regime", rules=(
                dict(kind="expect", reference=REFERENCE, expect=GREFF,
                     source="Greff et al. (2017)", view=0),
                dict(kind="expect", reference=REFERENCE, expect=GREFF,
                     source="Greff et al. (2017)", view=1),
                dict(kind="solved", view=0), dict(kind="solved", view=1)))))
    return c
