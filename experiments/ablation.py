"""Gate ablation: every Greff et al. (2017) variant, chrono init and the GRU on long-range tasks.

    python -m experiments.ablation --config experiments/configs/ablation.py:quick \
        --workdir runs/ablation                              # 2 tasks, 1 seed
    python -m experiments.ablation --config experiments/configs/ablation.py:standard \
        --workdir runs/ablation [--jobs auto] [--shard K/N]  # 5 tasks, 3 seeds

Variants (``variant_defs`` of the config): the presets of ``lstmjax.gates`` (vanilla,
standard, nig, nfg, nog, niaf, noaf, np, cifg, fgr, lstm1997), ``chrono`` (standard gates,
chrono initialization) and ``gru``. ``np`` (no peepholes) is by definition the same
configuration as ``standard`` (same init, same numbers), so it is trained once and its
records are copied with ``"alias_of": "standard"`` (``config.aliases``).

Tasks (``task_defs``; standard size): adding problem T=200 and T=500 (1997 version; score
R² = 1 - MSE / MSE of predicting the mean, clipped at 0; solved when 90% of the validation
sample has |error| < 0.04), copy memory (T=50; score: accuracy on the 10 recall steps),
temporal order 6a (T=100) and distant recall (gap 100). Each run (``lstmjax.train.run``)
has a fixed step budget and stops early once its periodic validation is solved. Scores are
the whole test split at the last step.

Outputs: ``ablation.json`` (records ``{"task", "variant", "seed", "score", "solved",
"steps_to_solve", "test", "validation", ...}``), ``ablation.md`` (scores: mean ±
sample std, bootstrap interval, N; steps to solve as Kaplan-Meier medians; a findings
paragraph generated from the numbers), ``ablation_scores.png`` (bars with error bars),
``survival.png`` (runs solved by step), ``meta.json``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from experiments import report, sweep
from lstmjax import schema
from lstmjax.gates import PRESETS

GREFF = ("Greff et al. (2017, 'LSTM: A Search Space Odyssey') found that removing the forget "
         "gate (NFG) or the output activation (NOAF) hurt performance most, while coupling "
         "input and forget gates (CIFG) or removing peepholes (NP) cost little.")
SCORE_NAMES = {"r2": "R² (%)", "recall_accuracy": "recall acc. (%)", "accuracy": "acc. (%)"}


def plan(config, ctx=None) -> list[sweep.Run]:
    """Every task x variant x seed of the config, as train configs; an alias variant
    (``config.aliases``) whose twin is in the sweep is not trained (see :func:`finish`)."""
    tasks = sweep.check_names("tasks", config.tasks, config.task_defs)
    variants = sweep.check_names("variants", config.variants, config.variant_defs)
    for alias, twin in config.aliases.items():
        a, b = ({**schema.to_dict(config.variant_defs[v]),
                 "gates": PRESETS.get(config.variant_defs[v].get("gates"))}
                for v in (alias, twin))
        if a != b:
            raise ValueError(f"config.aliases: {alias!r} and {twin!r} are not the same model")
    runs = []
    for task in tasks:
        d = config.task_defs[task]
        if d.score not in SCORE_NAMES:
            raise ValueError(f"config.task_defs.{task}.score={d.score!r}; accepted: "
                             f"{list(SCORE_NAMES)}")
        data_cfg = d.data.to_dict()
        for variant in variants:
            if config.aliases.get(variant) in variants:
                continue
            model = sweep.resolve_model(config.variant_defs[variant], data_cfg)
            for seed in range(config.seeds):
                cfg = sweep.train_config(config.train, seed=seed, data=data_cfg, model=model,
                                         steps=d.steps, solve_metric=d.solve_metric,
                                         solve_threshold=d.solve_threshold)
                runs.append(sweep.Run(f"{task}/{variant}/seed={seed}", cfg,
                                      {"task": task, "variant": variant, "seed": seed,
                                       "score_metric": d.score}))
    return runs


def execute(run: sweep.Run, ctx: dict) -> dict:
    """Train; the record's ``score`` is the task's score metric on the whole test split."""
    rec = sweep.execute(run, ctx)
    test = rec["test"]
    r2 = None if test is None else test.get("r2")
    if test is None:
        score = None
    elif rec["score_metric"] == "r2":
        # R² is clipped at 0 (no better than predicting the mean) so averages stay comparable
        score = None if r2 is None else max(0.0, r2)
    else:
        score = test[rec["score_metric"]]
    return {**rec, "score": score, "r2": r2}


def finish(records: list[dict], config) -> list[dict]:
    """Alias variants filled in from their twins, in the config's variant order."""
    variants = sweep.names(config.variants)
    out = list(records)
    for alias, twin in config.aliases.items():
        if alias in variants and twin in variants:
            out += [{**r, "run": r["run"].replace(f"/{twin}/", f"/{alias}/"), "variant": alias,
                     "alias_of": twin, "wall_s": 0.0} for r in records if r["variant"] == twin]
    tasks = sweep.names(config.tasks)
    return sorted(out, key=lambda r: (tasks.index(r["task"]), variants.index(r["variant"]),
                                      r["seed"]))


def score_of(r: dict) -> float | None:
    """The reported score: the record's ``score`` (computed from the whole test split at
    the last step, :func:`execute`); a record from before the test split was recorded has
    only its validation sample's score (``report.reported``, labelled by the report)."""
    if r.get("test") is not None:
        return r["score"]
    return report.reported(r, "score")[0]


def findings(records: list[dict], tasks: list[str], variants: list[str]) -> str:
    """A paragraph generated from the numbers: which variants hurt, by how much, vs Greff."""
    ref = "vanilla" if "vanilla" in variants else "standard"
    by = report.group(records, "task", "variant")
    drops = {}
    for v in variants:
        if v == ref:
            continue
        d = [report.mean_std(score_of(r) for r in by[(t, ref)])[0]
             - report.mean_std(score_of(r) for r in by[(t, v)])[0]
             for t in tasks if (t, v) in by and (t, ref) in by]
        if d:
            drops[v] = 100 * float(np.mean(d))
    if not drops:
        return "Not enough variants to compare."
    ranked = sorted(drops, key=lambda v: -drops[v])
    ref_mean = 100 * np.mean([report.mean_std(score_of(r) for r in by[(t, ref)])[0]
                              for t in tasks if (t, ref) in by])
    solved_ref = sum(r["solved"] for t in tasks for r in by.get((t, ref), []))
    n_ref = sum(len(by.get((t, ref), [])) for t in tasks)

    def rank_of(v):
        return f"{ranked.index(v) + 1} of {len(ranked)}" if v in ranked else "not run"

    def desc(v):
        return f"{v.upper() if v in PRESETS and v not in ('standard', 'vanilla') else v} " \
               f"({drops[v]:+.1f} points)"

    hurt = [v for v in ranked if drops[v] > 5.0]
    small = [v for v in ranked if abs(drops[v]) <= 2.0]
    better = [v for v in ranked if drops[v] < -2.0]
    parts = [f"Averaged over {len(tasks)} task(s) ({', '.join(tasks)}), the reference "
             f"`{ref}` LSTM scores {ref_mean:.1f}% and solved {solved_ref}/{n_ref} runs. "
             "Mean drop in score relative to it (positive = worse): "
             + ", ".join(desc(v) for v in ranked) + "."]
    if hurt:
        parts.append("Variants that cost more than 5 points: "
                     + ", ".join(f"`{v}`" for v in hurt) + ".")
    else:
        parts.append("No variant costs more than 5 points at this budget.")
    if small:
        parts.append("Within 2 points of the reference: " + ", ".join(f"`{v}`" for v in small) + ".")
    if better:
        parts.append("Better than the reference by more than 2 points: "
                     + ", ".join(f"`{v}`" for v in better) + ".")
    parts.append(GREFF)
    cmp = []
    for v in ("nfg", "noaf"):
        if v in drops:
            cmp.append(f"here {v.upper()} ranks {rank_of(v)} among the most harmful "
                       f"({drops[v]:+.1f} points)")
    for v in ("cifg", "np"):
        if v in drops:
            cmp.append(f"{v.upper()} costs {drops[v]:+.1f} points")
    if cmp:
        agree_nfg_noaf = all(v in drops and ranked.index(v) < max(3, len(ranked) // 3)
                             for v in ("nfg", "noaf"))
        agree_cheap = all(v in drops and drops[v] <= 2.0 for v in ("cifg", "np"))
        verdict = ("consistent with Greff et al. on both counts" if agree_nfg_noaf and agree_cheap
                   else "consistent with Greff et al. only in part" if agree_nfg_noaf or agree_cheap
                   else "not consistent with Greff et al. at this budget")
        parts.append("Compared with that: " + "; ".join(cmp) + f" — {verdict}. (NP is the same "
                     "configuration as `standard` in lstmjax, so its cost relative to `standard` "
                     "is 0 by construction; relative to `vanilla` it measures the peepholes.)")
    if "lstm1997" in drops:
        parts.append(f"The 1997 LSTM without forget gate: {drops['lstm1997']:+.1f} points.")
    parts.append("Budgets are short (see the steps table), so these are early-training "
                 "differences, not converged performance; Greff et al. tuned each variant "
                 "and trained to convergence on speech, handwriting and music data.")
    return " ".join(parts)


def make_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    tasks = [t for t in sweep.names(config.tasks) if any(r["task"] == t for r in records)]
    variants = [v for v in sweep.names(config.variants) if any(r["variant"] == v for r in records)]
    return tables(records, tasks, variants, config), plot(records, tasks, variants, workdir)


def tables(records: list[dict], tasks: list[str], variants: list[str], config) -> list[str]:
    by = report.group(records, "task", "variant")
    defs = config.task_defs
    split = report.split_of(records, "score")
    rows = [[v] + [report.fmt_mean_std([score_of(r) for r in by.get((t, v), [])], scale=100)
                   for t in tasks] for v in variants]
    steps_rows = [[v] + [report.steps_to_solve_cell(by.get((t, v), [])) for t in tasks]
                  for v in variants]
    crit = {t: f"{defs[t].solve_metric} >= {defs[t].solve_threshold:g}" for t in tasks}
    examples = {t: report.examples_of([r for r in records if r["task"] == t], "test")
                for t in tasks}
    sample = {t: report.examples_of([r for r in records if r["task"] == t], "curve")
              for t in tasks}
    return [
        f"## {split.capitalize()} score per task (higher is better)", "",
        ("Whole test split at each run's last step (never used for stopping): "
         + "; ".join(f"{t}: {examples[t]} sequences" for t in tasks) + ". "
         if split == report.TEST else
         "**Validation sample, not a test split**: the held-out sample evaluated during "
         "training, the one that stopped a solved run. ") + report.spread_note(), "",
        report.markdown_table(["variant"] + [f"{t}: {SCORE_NAMES[defs[t].score]}"
                                             for t in tasks], rows), "",
        "## Steps to solve (Kaplan-Meier median; solved/seeds)", "",
        report.STEPS_NOTE + " Survival curves: `survival.png`.", "",
        "Solved: the first periodic validation (a fixed sample of validation sequences: "
        + "; ".join(f"{t}: {sample[t]}" for t in tasks) + ") with "
        + "; ".join(f"{t}: {c}" for t, c in crit.items()) + ".", "",
        report.markdown_table(["variant"] + tasks, steps_rows), "",
        "## Findings (generated from the numbers above)", "",
        findings(records, tasks, variants), "",
        "Variants: " + "; ".join(f"`{v}` {json.dumps(config.variant_defs[v].to_dict())}"
                                 for v in variants) + ". Tasks: "
        + "; ".join(f"`{t}` {json.dumps(defs[t].data.to_dict())}, {defs[t].steps} steps"
                    for t in tasks)
        + ". Sweep config: `meta.json` (`settings`); each record holds its run's complete "
        "train config.", "",
    ]


def plot(records, tasks, variants, workdir, dpi=100) -> list[str]:
    by = report.group(records, "task", "variant")
    bars = {}
    for v in variants:
        stats = [report.mean_std(score_of(r) for r in by.get((t, v), [])) for t in tasks]
        bars[v] = ([100 * s[0] for s in stats], [100 * s[1] for s in stats])
    name = "ablation_scores.png"
    split = report.split_of(records, "score")
    report.plot_bars(os.path.join(workdir, name), tasks, bars, ylabel=f"{split} score (%)",
                     title=f"Gate ablation: {split} score per task (mean ± sample sd)",
                     ylim=(0, 105), size=(12.0, 4.5), dpi=dpi)
    panels = {t: {v: report.survival_data(by[(t, v)]) for v in variants if (t, v) in by
                  and not by[(t, v)][0].get("alias_of")} for t in tasks}
    budgets = {t: max((r["steps_budget"] for r in records if r["task"] == t), default=None)
               for t in tasks}
    report.plot_survival(os.path.join(workdir, "survival.png"), panels, dpi=dpi,
                         budget=budgets,
                         title="Gate ablation: runs solved by training step (Kaplan-Meier; "
                               "validation-sample solve check; × = censored at the budget)")
    return [name, "survival.png"]


def main(argv=None) -> str | None:
    return sweep.main("ablation", __doc__, argv, plan=plan, make_report=make_report,
                      execute_one=execute, finish=finish)


if __name__ == "__main__":
    main()
