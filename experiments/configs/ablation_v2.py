"""Gate ablation v2, run to a solve: calibrate on a reference LSTM, then every variant.

    python -m experiments.ablation_v2 --config experiments/configs/ablation_v2.py:quick \\
        --workdir experiments/results/ablation_v2_quick --jobs 2

Sizes: ``tiny`` (seconds, for the tests), ``quick`` (short sequences, hidden 32, 5 seeds;
475 runs of 30 s to 6 min each, gap axis 20/50/100/500/1000: about 5 h summed on 2 cores,
resumable), ``standard`` (the full v2: the lengths
of the literature's versions of the tasks, hidden 64, 5 seeds; many hours on 2 cores).

Calibration (done by the script, recorded in ``calibration.json`` next to the results):
for each task, ``task_defs[task].candidates`` lists data sections from the hardest to the
easiest. Round 1 trains the ``reference`` variant, every seed, on each task's first
candidate with a budget of ``calibration_steps``; a task whose seeds did not all solve
goes on to its next candidate in round 2, and so on. The first candidate that every seed
solves is the task's setting, and the cap of every variant is ``cap_factor`` x the
reference's median steps to solve (rounded up to ``eval_every``). A task where no
candidate is solved by every seed is run at its easiest candidate with the calibration
budget as cap, and the report marks it *uncalibrated*.

The gap axis (``gap_axis``): distant recall at fixed gaps, ``gap_axis.variants`` x seeds;
its reference (``gap_axis.reference``) is calibrated at each gap in the same way (budget
only: the gaps are fixed), cap = ``cap_factor`` x its median at that gap.
"""

import ml_collections

from lstmjax.schema import default_config

PRESETS = ("vanilla", "standard", "nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr",
           "lstm1997")
TASKS = ("adding", "copy_memory", "temporal_order", "distant_recall", "last_clue")


def _task(candidates, solve_metric: str, solve_threshold: float, calibration_steps: int,
          held_out: int) -> dict:
    """A task: its candidate data sections (hardest first), solve criterion, budget."""
    cands = tuple({**d, "num_examples": 100_000, "num_eval_examples": held_out}
                  for d in candidates)
    return dict(candidates=cands, solve_metric=solve_metric,
                solve_threshold=solve_threshold, calibration_steps=calibration_steps)


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    tiny, quick = size == "tiny", size == "quick"
    c = ml_collections.ConfigDict()
    c.size = size
    c.seeds = 2 if tiny else 5
    # the reference of the task axis: standard gates, default init (forget-gate bias 1),
    # the init every Greff variant shares, so a difference from it is the gate change alone
    c.reference = "standard"
    c.cap_factor = 3.0
    held_out = 128 if tiny else 1_024 if quick else 2_048
    dr = dict(name="distant_recall", num_clues=8, num_distractors=8)
    lc = dict(name="last_clue", num_clues=8, num_distractors=8)
    if tiny:
        c.tasks = ("distant_recall", "last_clue")
        c.task_defs = dict(
            # threshold below chance: solved at the first validation (the calibrated path)
            distant_recall=_task([{**dr, "gap": 3}], "accuracy", 0.05, 4, held_out),
            # never solved in 4 steps: two calibration rounds, then the uncalibrated fallback
            last_clue=_task([{**lc, "length": 8, "num_writes": 2},
                             {**lc, "length": 6, "num_writes": 2}], "accuracy", 0.99, 4,
                            held_out))
    elif quick:
        c.tasks = TASKS
        c.task_defs = dict(
            adding=_task([dict(name="adding", length=30, variant="original")],
                         "accuracy", 0.9, 2000, held_out),
            copy_memory=_task([dict(name="copy_memory", length=5, num_symbols=3,
                                    num_categories=8)], "recall_accuracy", 0.9, 3000,
                              held_out),
            temporal_order=_task([dict(name="temporal_order", length=30, variant="6a")],
                                 "accuracy", 0.99, 1000, held_out),
            distant_recall=_task([{**dr, "gap": 20}, {**dr, "gap": 10}], "accuracy", 0.99,
                                 1000, held_out),
            last_clue=_task([{**lc, "length": 20, "num_writes": 3}], "accuracy", 0.99, 1500,
                            held_out))
    else:
        c.tasks = TASKS
        c.task_defs = dict(
            adding=_task([dict(name="adding", length=t, variant="original")
                          for t in (200, 100, 50)], "accuracy", 0.9, 4000, held_out),
            copy_memory=_task([dict(name="copy_memory", length=t, num_symbols=s,
                                    num_categories=8) for t, s in ((50, 10), (20, 5), (10, 3))],
                              "recall_accuracy", 0.9, 4000, held_out),
            temporal_order=_task([dict(name="temporal_order", length=t, variant="6a")
                                  for t in (100, 50)], "accuracy", 0.99, 3000, held_out),
            distant_recall=_task([{**dr, "gap": g} for g in (100, 50, 20)], "accuracy", 0.99,
                                 3000, held_out),
            last_clue=_task([{**lc, "length": t, "num_writes": 4} for t in (100, 50, 30)],
                            "accuracy", 0.99, 3000, held_out))
    c.variants = (("standard", "nfg", "np") if tiny
                  else PRESETS + ("chrono", "gru"))
    c.variant_defs = dict(
        **{p: dict(cell="lstm", gates=p) for p in PRESETS},
        chrono=dict(cell="lstm", gates="standard", chrono=True),
        gru=dict(cell="gru"))
    # identical configurations (np = standard in lstmjax): trained once, records copied
    c.aliases = dict(np="standard")

    # the gap axis: distant recall at fixed gaps; reference chrono (see the module doc of
    # experiments/ablation_v2.py: the default-init LSTM does not solve every seed at gap 100)
    c.gap_axis = dict(
        data=dict(dr, num_examples=100_000, num_eval_examples=held_out),
        gaps=(3,) if tiny else (20, 50, 100, 500, 1000) if quick else (100, 500, 1000),
        variants=(("standard", "nfg") if tiny else
                  ("standard", "chrono", "nfg", "lstm1997", "cifg", "nig", "nog")),
        reference="chrono",
        solve_metric="accuracy",
        solve_threshold=0.05 if tiny else 0.99,
        calibration_steps=4 if tiny else 1500 if quick else 3000)

    t = c.train = default_config()
    t.batch_size = 8 if tiny else 32 if quick else 64
    t.eval_every = 2 if tiny else 25
    # periodic validation (decides steps to solve): a fixed sample of 32 / 256 / 1024
    t.eval_batch_size = 32 if tiny else 256
    t.eval_batches = 1 if tiny or quick else 4
    t.model.hidden_size = 8 if tiny else 32 if quick else 64
    t.model.embed_dim = 4 if tiny else 16
    t.optimizer.learning_rate = 3e-3
    return c
