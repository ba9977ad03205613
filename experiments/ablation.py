"""Gate ablation: every Greff et al. (2017) variant, chrono init and the GRU on long-range tasks.

    python -m experiments.ablation --quick --workdir runs/ablation   # 2 tasks, 1 seed
    python -m experiments.ablation --workdir runs/ablation           # standard: 5 tasks, 3 seeds
    python -m experiments.ablation --seeds 5 --steps-scale 10        # bigger (GPU/TPU)

Variants: the presets of ``lstmjax.gates`` (vanilla, standard, nig, nfg, nog, niaf, noaf, np,
cifg, fgr, lstm1997), ``chrono`` (standard gates, chrono initialization) and ``gru``.
``np`` (no peepholes) is by definition the same configuration as ``standard`` (same init,
same numbers), so it is trained once and its records are copied with ``"alias_of":
"standard"``.

Tasks (standard mode): adding problem T=200 and T=500 (1997 version; score R² = 1 - MSE /
MSE of predicting the mean, clipped at 0; solved when 90% of test sequences have |error| < 0.04), copy
memory (T=50; score: accuracy on the 10 recall steps), temporal order 6a (T=100) and distant
recall (gap 100). Each run has a fixed step budget and stops early once solved.

Outputs: ``ablation.json`` (records ``{"task", "variant", "seed", "score", "solved",
"steps_to_solve", ...}``), ``ablation.md`` (scores and steps-to-solve tables, mean ± std over
seeds, and a findings paragraph generated from the numbers), ``ablation_scores.png`` (bars
with error bars), ``meta.json``.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

from experiments import common
from lstmjax.gates import PRESETS

PRESET_ORDER = ["vanilla", "standard", "nig", "nfg", "nog", "niaf", "noaf", "np", "cifg",
                "fgr", "lstm1997"]
VARIANTS = PRESET_ORDER + ["chrono", "gru"]
ALIASES = {"np": "standard"}  # identical GateConfig: trained once
assert all(PRESETS[k] == PRESETS[v] for k, v in ALIASES.items())

# name -> (data config fields, score metric, solve metric, solve threshold, standard steps)
TASKS = {
    "adding_200": (dict(name="adding", length=200, variant="original"), "r2", "accuracy", 0.9, 300),
    "adding_500": (dict(name="adding", length=500, variant="original"), "r2", "accuracy", 0.9, 200),
    "copy_memory": (dict(name="copy_memory", length=50, num_symbols=10, num_categories=8),
                    "recall_accuracy", "recall_accuracy", 0.99, 400),
    "temporal_order": (dict(name="temporal_order", length=100, variant="6a"), "accuracy",
                       "accuracy", 0.99, 400),
    "distant_recall": (dict(name="distant_recall", gap=100, num_clues=8, num_distractors=8),
                       "accuracy", "accuracy", 0.99, 400),
}
TINY_TASKS = {
    "adding_200": dict(name="adding", length=20, variant="original"),
    "distant_recall": dict(name="distant_recall", gap=3, num_clues=4, num_distractors=4),
}
MODES = {
    "tiny": dict(tasks=["adding_200", "distant_recall"], seeds=1, steps_scale=0.01,
                 eval_every=2, hidden=8, embed=4, eval_examples=32, batch_size=8,
                 variants=["standard", "nfg", "np"]),
    "quick": dict(tasks=["temporal_order", "distant_recall"], seeds=1, steps_scale=0.75,
                  eval_every=50, hidden=64, embed=16, eval_examples=512, batch_size=64,
                  variants=VARIANTS, quick_sizes={"temporal_order": 50, "distant_recall": 50}),
    "standard": dict(tasks=list(TASKS), seeds=3, steps_scale=1.0, eval_every=50, hidden=64,
                     embed=16, eval_examples=1024, batch_size=64, variants=VARIANTS),
}
GREFF = ("Greff et al. (2017, 'LSTM: A Search Space Odyssey') found that removing the forget "
         "gate (NFG) or the output activation (NOAF) hurt performance most, while coupling "
         "input and forget gates (CIFG) or removing peepholes (NP) cost little.")


def model_fields(variant: str, spec_len: int, hidden: int, embed: int) -> dict:
    base = {"hidden_size": hidden, "embed_dim": embed}
    if variant == "gru":
        return {**base, "cell": "gru"}
    if variant == "chrono":
        return {**base, "cell": "lstm", "gates": "standard", "chrono_max_len": float(max(spec_len, 3))}
    return {**base, "cell": "lstm", "gates": variant}


def task_data(task: str, mode: str, s: dict) -> dict:
    fields = dict(TINY_TASKS[task] if mode == "tiny" else TASKS[task][0])
    size = s.get("quick_sizes", {}).get(task)
    if size is not None:
        fields["gap" if fields["name"] == "distant_recall" else "length"] = size
    name = fields.pop("name")
    return common.task_config(name, **fields)


def seq_len(data_cfg: dict) -> int:
    from lstmjax import data
    return int(data.make_source(data_cfg, "validation")[0].max_length)


def run_one(task: str, variant: str, seed: int, mode: str, s: dict) -> dict:
    _, score_metric, solve_metric, threshold, steps = TASKS[task]
    steps = max(2, int(round(steps * s["steps_scale"])))
    dcfg = task_data(task, mode, s)
    cfg = common.run_config(dcfg, seed=seed, steps=steps, batch_size=s["batch_size"],
                            learning_rate=s["learning_rate"], eval_examples=s["eval_examples"],
                            **model_fields(variant, seq_len(dcfg), s["hidden"], s["embed"]))
    r = common.fit(cfg, eval_every=s["eval_every"], solve_metric=solve_metric,
                   solve_threshold=threshold)
    ev = r["eval"]
    r2 = 1.0 - ev["loss"] / r["baseline_loss"] if r.get("baseline_loss") else None
    # R² is clipped at 0 (no better than predicting the mean) so averages stay comparable
    score = max(0.0, r2) if score_metric == "r2" else ev[score_metric]
    return {"task": task, "variant": variant, "seed": seed, "score": score, "r2": r2,
            "score_metric": score_metric, "solve_metric": solve_metric,
            "solve_threshold": threshold, "solved": r["solved"],
            "steps_to_solve": r["steps_to_solve"], "steps_run": r["steps_run"],
            "steps_budget": r["steps_budget"], "eval": ev, "status": r["status"],
            "wall_s": r["wall_s"], "num_params": r["num_params"],
            "params_sha256": r["params_sha256"], "data": dcfg}


def findings(records: list[dict], tasks: list[str], variants: list[str]) -> str:
    """A paragraph generated from the numbers: which variants hurt, by how much, vs Greff."""
    ref = "vanilla" if "vanilla" in variants else "standard"
    by = common.group(records, "task", "variant")
    drops = {}
    for v in variants:
        if v == ref:
            continue
        d = [common.mean_std(r["score"] for r in by[(t, ref)])[0]
             - common.mean_std(r["score"] for r in by[(t, v)])[0]
             for t in tasks if (t, v) in by and (t, ref) in by]
        if d:
            drops[v] = 100 * float(np.mean(d))
    if not drops:
        return "Not enough variants to compare."
    ranked = sorted(drops, key=lambda v: -drops[v])
    ref_mean = 100 * np.mean([common.mean_std(r["score"] for r in by[(t, ref)])[0]
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


def report(records: list[dict], tasks: list[str], variants: list[str], settings: dict) -> list[str]:
    by = common.group(records, "task", "variant")
    metric_names = {t: {"r2": "R² (%)", "recall_accuracy": "recall acc. (%)",
                        "accuracy": "acc. (%)"}[TASKS[t][1]] for t in tasks}
    rows = [[v] + [common.fmt_mean_std([r["score"] for r in by.get((t, v), [])], scale=100)
                   for t in tasks] for v in variants]
    steps_rows = [[v] + [common.steps_to_solve_cell(by.get((t, v), [])) for t in tasks]
                  for v in variants]
    crit = {t: f"{TASKS[t][2]} >= {TASKS[t][3]:g}" for t in tasks}
    return [
        "## Score per task, mean ± std over seeds (higher is better)", "",
        common.markdown_table(["variant"] + [f"{t}: {metric_names[t]}" for t in tasks], rows), "",
        "## Steps to solve (mean over solved seeds; solved/seeds)", "",
        "Solved: " + "; ".join(f"{t}: {c}" for t, c in crit.items()) + ".", "",
        common.markdown_table(["variant"] + tasks, steps_rows), "",
        "## Findings (generated from the numbers above)", "",
        findings(records, tasks, variants), "",
        f"Settings: {json.dumps(settings)}", "",
    ]


def plot(records, tasks, variants, workdir, dpi=100) -> list[str]:
    by = common.group(records, "task", "variant")
    bars = {}
    for v in variants:
        stats = [common.mean_std(r["score"] for r in by.get((t, v), [])) for t in tasks]
        bars[v] = ([100 * s[0] for s in stats], [100 * s[1] for s in stats])
    name = "ablation_scores.png"
    common.plot_bars(os.path.join(workdir, name), tasks, bars, ylabel="score (%)",
                     title="Gate ablation: score per task (mean ± std over seeds)",
                     ylim=(0, 105), size=(12.0, 4.5), dpi=dpi)
    return [name]


def main(argv=None) -> str:
    p = common.argument_parser(__doc__, "runs/ablation", jobs=True)
    p.add_argument("--tasks", help=f"comma-separated subset of {list(TASKS)}")
    p.add_argument("--variants", help=f"comma-separated subset of {VARIANTS}")
    p.add_argument("--seeds", type=int)
    p.add_argument("--steps-scale", type=float, help="multiply every task's step budget")
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--no-resume", action="store_true")
    args = p.parse_args(argv)
    mode_name, s = common.mode_settings(args, MODES, ("seeds", "steps_scale"))
    s["learning_rate"] = args.learning_rate
    tasks = common.parse_choices(p, "--tasks", args.tasks or ",".join(s["tasks"]), TASKS)
    variants = common.parse_choices(p, "--variants", args.variants or ",".join(s["variants"]),
                                    VARIANTS)
    if mode_name == "tiny":
        bad = [t for t in tasks if t not in TINY_TASKS]
        if bad:
            p.error(f"--tiny supports the tasks {list(TINY_TASKS)}")
    settings = {k: v for k, v in s.items() if k not in ("tasks", "variants")}
    settings.update(tasks={t: task_data(t, mode_name, s) for t in tasks}, variants=variants,
                    steps={t: max(2, int(round(TASKS[t][4] * s["steps_scale"]))) for t in tasks})
    res = common.Results(args.workdir, "ablation", mode=mode_name,
                         command=common.command_line(argv, "experiments.ablation"),
                         settings=settings)
    done = {}
    if os.path.exists(res.records_path) and not args.no_resume:
        with open(res.records_path) as f:
            done = {(r["task"], r["variant"], r["seed"]): r for r in json.load(f)
                    if r.get("data") == settings["tasks"].get(r["task"])
                    and r.get("steps_budget") == settings["steps"].get(r["task"])}
    plan = [(t, v, seed) for t in tasks for v in variants for seed in range(s["seeds"])]
    # an alias variant is filled in from its twin below, not trained
    trained = [k for k in plan if not (ALIASES.get(k[1]) in variants)]
    records = common.run_plan(
        trained, functools.partial(run_one, mode=mode_name, s=s), done=done,
        jobs=common.resolve_jobs(args.jobs, mode_name), save=res.write_records,
        describe=lambda k, r: f"{k[0]:15s} {k[1]:9s} seed={k[2]} score={100 * r['score']:6.1f}% "
                              f"solved@{r['steps_to_solve']} ({r['wall_s']:.0f} s)")
    resumed = sum(k in done for k in trained)
    for v, src in ALIASES.items():
        if v in variants and src in variants:
            for r in [r for r in records if r["variant"] == src]:
                if not any(x["variant"] == v and x["task"] == r["task"] and x["seed"] == r["seed"]
                           for x in records):
                    records.append({**r, "variant": v, "alias_of": src, "wall_s": 0.0})
    order = {(t, v, sd): k for k, (t, v, sd) in enumerate(plan)}
    records.sort(key=lambda r: order.get((r["task"], r["variant"], r["seed"]), len(order)))
    res.write_records(records)
    files = plot(records, tasks, variants, res.workdir)
    if resumed:
        res.meta["resumed_runs"] = resumed
    path = res.finish(common.resumed_note(records, resumed)
                      + report(records, tasks, variants, settings), files)
    common.log(f"ablation ({mode_name}): table {path}\n  plot: "
               + os.path.join(res.workdir, files[0]) + f"\n  records: {res.records_path}")
    return path


if __name__ == "__main__":
    main()
