"""Gate ablation: the Greff et al. (2017) variants, chrono init and the GRU on long-range tasks.

    python -m experiments.ablation --config experiments/configs/ablation.py:quick \\
        --workdir runs/ablation [--config.seeds=5 --config.tasks=adding_200,copy_memory ...]

Sizes: ``tiny`` (seconds, for the tests), ``quick`` (temporal order T=50 and distant recall
gap 50, 1 seed, 300 steps), ``standard`` (5 tasks, 3 seeds, 200-400 steps).

The sweep: every task in ``tasks`` x variant in ``variants`` x seed. ``task_defs[task]``
holds the task's data section, the metric reported as its score (``score``: a validation
metric, or ``r2`` = 1 - MSE / MSE of predicting the mean, clipped at 0), the solve
criterion (``solve_metric`` >= ``solve_threshold``) and the step budget (``steps``).
``variant_defs[variant]`` holds model fields (``chrono: True`` = chrono initialization
for the task's longest sequence).
"""

import ml_collections

from lstmjax.schema import default_config

PRESETS = ("vanilla", "standard", "nig", "nfg", "nog", "niaf", "noaf", "np", "cifg", "fgr",
           "lstm1997")


def _task(data: dict, score: str, solve_metric: str, solve_threshold: float, steps: int,
          held_out: int) -> dict:
    return dict(data={**data, "num_examples": 100_000, "num_eval_examples": held_out},
                score=score, solve_metric=solve_metric, solve_threshold=solve_threshold,
                steps=steps)


def get_config(size: str = "standard") -> ml_collections.ConfigDict:
    tiny, quick = size == "tiny", size == "quick"
    c = ml_collections.ConfigDict()
    c.size = size
    c.seeds = 1 if tiny or quick else 3
    held_out = 128 if tiny else 2_048
    if tiny:
        c.tasks = ("adding_200", "distant_recall")
        c.task_defs = dict(
            adding_200=_task(dict(name="adding", length=20, variant="original"),
                             "r2", "accuracy", 0.9, 3, held_out),
            distant_recall=_task(dict(name="distant_recall", gap=3, num_clues=4,
                                      num_distractors=4), "accuracy", "accuracy", 0.99, 4,
                                 held_out))
    else:
        # quick: the two cheapest tasks at half length, 3/4 of the standard budget
        c.tasks = (("temporal_order", "distant_recall") if quick else
                   ("adding_200", "adding_500", "copy_memory", "temporal_order",
                    "distant_recall"))
        short = 50 if quick else None
        c.task_defs = dict(
            adding_200=_task(dict(name="adding", length=200, variant="original"),
                             "r2", "accuracy", 0.9, 300, held_out),
            adding_500=_task(dict(name="adding", length=500, variant="original"),
                             "r2", "accuracy", 0.9, 200, held_out),
            copy_memory=_task(dict(name="copy_memory", length=50, num_symbols=10,
                                   num_categories=8), "recall_accuracy", "recall_accuracy",
                              0.99, 400, held_out),
            temporal_order=_task(dict(name="temporal_order", length=short or 100,
                                      variant="6a"), "accuracy", "accuracy", 0.99,
                                 300 if quick else 400, held_out),
            distant_recall=_task(dict(name="distant_recall", gap=short or 100, num_clues=8,
                                      num_distractors=8), "accuracy", "accuracy", 0.99,
                                 300 if quick else 400, held_out))
    c.variants = ("standard", "nfg", "np") if tiny else PRESETS + ("chrono", "gru")
    c.variant_defs = dict(
        **{p: dict(cell="lstm", gates=p) for p in PRESETS},
        chrono=dict(cell="lstm", gates="standard", chrono=True),
        gru=dict(cell="gru"))
    # variants whose configuration is identical to another's (np = standard in lstmjax):
    # trained once, the twin's records copied with "alias_of"
    c.aliases = dict(np="standard")

    t = c.train = default_config()
    t.batch_size = 8 if tiny else 64
    t.eval_every = 2 if tiny else 50
    # periodic validation: 32 (tiny), 512 (quick) or 1024 (standard) fixed sequences
    t.eval_batch_size = 32 if tiny else 256
    t.eval_batches = 1 if tiny else 2 if quick else 4
    t.model.hidden_size = 8 if tiny else 64
    t.model.embed_dim = 4 if tiny else 16
    t.optimizer.learning_rate = 3e-3
    return c
