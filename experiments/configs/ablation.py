"""Gate ablation: the Greff et al. (2017) variants, chrono init and the GRU on long-range tasks.

    python -m experiments.ablation --config experiments/configs/ablation.py:quick \\
        --workdir runs/ablation --jobs 2        # calibrated, run to a solve (resumable)
    python -m experiments.sweep --config experiments/configs/ablation.py:fixed_quick \\
        --workdir runs/ablation_fixed           # fixed budgets, no calibration

Arguments (``ARGS``): ``tiny`` / ``quick`` / ``standard``: calibrated (``sweep.calibrate``,
run by ``experiments/ablation.py``): for each task the reference LSTM (standard gates,
forget bias 1: the init every Greff variant shares, so a difference from it is the gate
change alone) trains every seed on the task's candidate settings, hardest first, with the
calibration budget; the first candidate every seed solves is the task's setting, the cap
of every variant ``cap_factor`` x the reference's median steps to solve. A gap axis
(distant recall at fixed gaps, its reference chrono init) is calibrated the same way.
``quick``: short sequences, hidden 32, 5 seeds (about 5 h summed on 2 cores);
``standard``: the literature's lengths, hidden 64 (many hours). ``fixed_tiny`` /
``fixed_quick`` / ``fixed_standard``: every task at a fixed budget (``steps`` per task).

Variants: the presets of ``lstmjax.gates.PRESETS`` (vanilla = with peepholes, standard,
nig, nfg, nog, niaf, noaf, np, cifg, fgr, lstm1997), ``chrono`` (standard gates, chrono
init for the task's longest sequence) and ``gru`` (default init). ``np`` is the same
configuration as ``standard`` in lstmjax: trained once, its records copied (``aliases``).
A task's score is its metric over the whole test split at the run's last step (R²
clipped at 0 for the adding problem of the fixed sizes).
"""

import ml_collections

from experiments.configs import choose
from lstmjax.gates import PRESETS
from lstmjax.schema import default_config

ARGS = ("tiny", "quick", "standard", "fixed_tiny", "fixed_quick", "fixed_standard")
VARIANTS = {**{p: dict(model=dict(cell="lstm", gates=p)) for p in PRESETS},
            "chrono": dict(model=dict(cell="lstm", chrono=True)),
            "gru": dict(model=dict(cell="gru"))}
ORDER = ("vanilla", "standard", *(p for p in PRESETS if p not in ("vanilla", "standard")),
         "chrono", "gru")
GREFF = dict(nfg="most", noaf="most", cifg="little", np="little")  # Greff et al. 2017, Fig. 3


def _task(data, metric, threshold, steps, held_out, score=None):
    """A task label's overrides: its data section, budget, solve criterion, score."""
    return dict(data={**data, "num_examples": 100_000, "num_eval_examples": held_out},
                steps=steps, solve_metric=metric, solve_threshold=threshold,
                record=dict(axis="tasks", score_metric=score or metric))


def _fixed(size: str) -> dict:
    """The fixed-budget tasks (the first ablation): name -> overrides."""
    tiny, quick = size == "fixed_tiny", size == "fixed_quick"
    held = 128 if tiny else 2_048
    dr = dict(name="distant_recall", num_clues=8, num_distractors=8)
    if tiny:
        return dict(adding_200=_task(dict(name="adding", length=20, variant="original"),
                                     "accuracy", 0.9, 3, held, "r2"),
                    distant_recall=_task({**dr, "gap": 3, "num_clues": 4,
                                          "num_distractors": 4}, "accuracy", 0.99, 4, held))
    short = 50 if quick else None
    out = dict(
        adding_200=_task(dict(name="adding", length=200, variant="original"), "accuracy",
                         0.9, 300, held, "r2"),
        adding_500=_task(dict(name="adding", length=500, variant="original"), "accuracy",
                         0.9, 200, held, "r2"),
        copy_memory=_task(dict(name="copy_memory", length=50, num_symbols=10,
                               num_categories=8), "recall_accuracy", 0.99, 400, held),
        temporal_order=_task(dict(name="temporal_order", length=short or 100, variant="6a"),
                             "accuracy", 0.99, 300 if quick else 400, held),
        distant_recall=_task({**dr, "gap": short or 100}, "accuracy", 0.99,
                             300 if quick else 400, held))
    return {k: out[k] for k in (("temporal_order", "distant_recall") if quick else out)}


def _calibrated(size: str) -> tuple[dict, dict]:
    """(task name -> candidate data sections hardest first + criterion, gap axis)."""
    tiny, quick = size == "tiny", size == "quick"
    held = 128 if tiny else 1_024 if quick else 2_048
    dr = dict(name="distant_recall", num_clues=8, num_distractors=8)
    lc = dict(name="last_clue", num_clues=8, num_distractors=8)

    def task(cands, metric, threshold, steps):
        return dict(candidates=tuple({**d, "num_examples": 100_000, "num_eval_examples": held}
                                     for d in cands),
                    solve_metric=metric, solve_threshold=threshold, calibration_steps=steps)
    if tiny:  # distant recall: threshold below chance (solved at once: the calibrated path);
        # last clue: never solved in 4 steps (two rounds, then the uncalibrated fallback)
        tasks = dict(distant_recall=task([{**dr, "gap": 3}], "accuracy", 0.05, 4),
                     last_clue=task([{**lc, "length": 8, "num_writes": 2},
                                     {**lc, "length": 6, "num_writes": 2}], "accuracy", 0.99, 4))
    elif quick:
        tasks = dict(
            adding=task([dict(name="adding", length=30, variant="original")], "accuracy", 0.9,
                        2000),
            copy_memory=task([dict(name="copy_memory", length=5, num_symbols=3,
                                   num_categories=8)], "recall_accuracy", 0.9, 3000),
            temporal_order=task([dict(name="temporal_order", length=30, variant="6a")],
                                "accuracy", 0.99, 1000),
            distant_recall=task([{**dr, "gap": 20}, {**dr, "gap": 10}], "accuracy", 0.99, 1000),
            last_clue=task([{**lc, "length": 20, "num_writes": 3}], "accuracy", 0.99, 1500))
    else:
        tasks = dict(
            adding=task([dict(name="adding", length=t, variant="original")
                         for t in (200, 100, 50)], "accuracy", 0.9, 4000),
            copy_memory=task([dict(name="copy_memory", length=t, num_symbols=s,
                                   num_categories=8) for t, s in ((50, 10), (20, 5), (10, 3))],
                             "recall_accuracy", 0.9, 4000),
            temporal_order=task([dict(name="temporal_order", length=t, variant="6a")
                                 for t in (100, 50)], "accuracy", 0.99, 3000),
            distant_recall=task([{**dr, "gap": g} for g in (100, 50, 20)], "accuracy", 0.99,
                                3000),
            last_clue=task([{**lc, "length": t, "num_writes": 4} for t in (100, 50, 30)],
                           "accuracy", 0.99, 3000))
    gap_axis = dict(
        data={**dr, "gap": 0, "num_examples": 100_000, "num_eval_examples": held},
        gaps=(3,) if tiny else (20, 50, 100, 500, 1000) if quick else (100, 500, 1000),
        variants=(("standard", "nfg") if tiny else
                  ("standard", "chrono", "nfg", "lstm1997", "cifg", "nig", "nog")),
        reference="chrono", solve_metric="accuracy", solve_threshold=0.05 if tiny else 0.99,
        calibration_steps=4 if tiny else 1500 if quick else 3000)
    return tasks, gap_axis


def get_config(arg=None) -> ml_collections.ConfigDict:
    size = choose(arg, ARGS, "standard", "ablation")
    fixed = size.startswith("fixed_")
    tiny = size in ("tiny", "fixed_tiny")
    quick = size == "quick"
    c = default_config()
    c.batch_size = 8 if tiny else 32 if quick else 64
    c.eval_every = 2 if tiny else 25 if not fixed else 50
    # periodic validation (decides steps to solve): a fixed sample of 32 / 256-512 / 1024
    c.eval_batch_size = 32 if tiny else 256
    c.eval_batches = 1 if tiny or quick else 2 if size == "fixed_quick" else 4
    c.model.hidden_size = 8 if tiny else 32 if quick else 64
    c.model.embed_dim = 4 if tiny else 16
    c.optimizer.learning_rate = 3e-3
    variants = (("standard", "nfg", "np") if tiny else ORDER)
    if fixed:
        tasks, calibrate = _fixed(size), None
    else:
        cands, gap_axis = _calibrated(size)
        # the swept task sections are filled in from the calibration (experiments.ablation)
        tasks = {t: dict(data=dict(d["candidates"][0]), steps=d["calibration_steps"],
                         solve_metric=d["solve_metric"], solve_threshold=d["solve_threshold"],
                         record=dict(axis="tasks", score_metric=d["solve_metric"]))
                 for t, d in cands.items()}
        calibrate = dict(reference="standard", cap_factor=3.0, tasks=cands, gap_axis=gap_axis)
    c.sweep = dict(
        name="ablation", size=size, axes=("task", "variant"), task=tuple(tasks),
        variant=variants, seeds=(1 if size in ("fixed_tiny", "fixed_quick") else 3 if fixed
                                 else 2 if tiny else 5),
        set=dict(task=tasks, variant=VARIANTS), aliases=dict(variant=dict(np="standard")),
        report=dict(
            views=(dict(name="tasks", where=dict(axis="tasks"), rows="variant", cols="task",
                        metric="", clip0=True, unit="sequences", what="score (%)",
                        plot="bars", plot_name="ablation_scores",
                        suffix="" if fixed else "_tasks"),
                   dict(name="gap axis (distant recall)", where=dict(axis="gap"),
                        rows="variant", cols="gap", metric="accuracy", unit="sequences",
                        what="accuracy (%)", suffix="_gap")),
            labels={},
            notes=("Budgets are short and one hyperparameter setting serves every variant; "
                   "Greff et al. tuned each variant by random search and measured converged "
                   "error on speech, handwriting and music, so these are early-training "
                   "differences. NP is the same configuration as `standard` in lstmjax.",),
            headline=dict(order=2, title="Gate ablation" + ("" if fixed else ", run to a solve"),
                          rules=(dict(kind="drop", reference="standard", expect=GREFF,
                                      source="Greff et al. (2017)"),
                                 dict(kind="solved", view=1), dict(kind="below")))))
    if calibrate:
        c.sweep.calibrate = calibrate
    return c
