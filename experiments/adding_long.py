"""The adding problem at T = 1000 (the task of Hochreiter & Schmidhuber 1997, experiment 4).

    python -m experiments.adding_long --config experiments/configs/adding_long.py \
        --workdir runs/adding_long                                  # T=1000 (hours on CPU)
    python -m experiments.adding_long --config experiments/configs/adding_long.py:quick \
        --workdir runs/adding_quick                                 # T=100, minutes
    python -m experiments.adding_long --config experiments/configs/adding_long.py \
        --config.train.steps=50000                                  # bigger budget

Solved (as in the paper): at least 99% of the periodic validation sample (1024 sequences)
with |error| < 0.04; the run stops there. Each model trains with ``lstmjax.train.run`` in
its own run directory (``<workdir>/<model>_seed<k>/``: config, metrics.jsonl, learning
curve, orbax checkpoints). **Resumable**: interrupt at any time (Ctrl-C saves a
checkpoint) and rerun the same command; every run continues from its latest checkpoint
with exactly the batches it would have seen, also after raising ``train.steps``.

Models (``model_defs``): ``lstm`` (chrono initialization for T_max = T, the best-behaved
LSTM in the gap sweep), ``lstm_fb1`` (forget bias 1), ``lstm1997`` (no forget gate, as in
the paper) and ``rnn`` (tanh). Default: lstm and rnn.

Outputs: ``adding_long.json`` (records ``{"model", "seed", "length", "test": {"accuracy",
"loss", "examples"}, "solved", "steps_to_solve", "steps_run", "wall_s", ...}``),
``adding_long.md`` (table: mean ± sample std, bootstrap interval, N; initialization; steps
to solve; wall time), ``adding_long_curves.png``, ``survival.png`` (runs solved by step,
Kaplan-Meier), meta.json. The ``lstm`` has a forget gate: the paper's LSTM is ``lstm1997``.
"""

from __future__ import annotations

import json
import os

from experiments import report, sweep


def plan(config, ctx=None) -> list[sweep.Run]:
    models = sweep.check_names("models", config.models, config.model_defs)
    data_cfg = {**config.data.to_dict(), "length": int(config.length)}
    return [sweep.Run(f"{model}_seed{seed}",
                      sweep.train_config(config.train, seed=seed, data=data_cfg,
                                         model=sweep.resolve_model(config.model_defs[model],
                                                                   data_cfg)),
                      {"model": model, "seed": seed, "length": int(config.length)})
            for seed in range(config.seeds) for model in models]


def execute(run: sweep.Run, ctx: dict) -> dict:
    """Train (or continue) the run in ``<workdir>/<run.name>``; wall time summed over calls."""
    rundir = os.path.join(ctx["workdir"], run.name)
    wall_path = os.path.join(rundir, "wall_time.json")
    wall = 0.0
    if os.path.exists(wall_path):
        with open(wall_path) as f:
            wall = float(json.load(f)["wall_s"])
    report.log(f"{run.name}: adding problem T={run.fields['length']}, up to "
               f"{run.config['steps']} steps (resumable: {rundir})")
    rec = sweep.execute(run, {**ctx, "run_dirs": True, "progress": ctx["size"] != "tiny"})
    wall += rec["wall_s"]
    os.makedirs(rundir, exist_ok=True)
    with open(wall_path, "w") as f:
        json.dump({"wall_s": wall}, f)
    if rec["status"] == "interrupted":
        raise KeyboardInterrupt(f"{run.name}: interrupted at step {rec['steps_run']}; rerun "
                                "the same command to resume")
    return {**rec, "wall_s": round(wall, 1), "s_per_step": round(wall / max(rec["steps_run"], 1), 4),
            "rundir": run.name}


def run_config(r: dict, workdir: str) -> dict | None:
    """A record's train config: in the record, else its run directory's ``config.json``
    (legacy records), else None."""
    if r.get("config"):
        return r["config"]
    path = os.path.join(workdir, r.get("rundir") or "", "config.json")
    if r.get("rundir") and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return None


def make_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    by = report.group(records, "model")
    models = list(dict.fromkeys(r["model"] for r in records))
    length = records[0]["length"]
    split = report.split_of(records)
    rows = []
    for m in models:
        g = by[(m,)]
        cfg = run_config(g[0], workdir)
        budget = max(r["steps_budget"] for r in g)
        rows.append([m, report.describe_init(cfg["model"]) if cfg else "?",
                     report.fmt_mean_std(report.values(g), scale=100),
                     report.fmt_mean_std(report.values(g, "loss"), digits=4),
                     f"{sum(r['solved'] for r in g)}/{len(g)}",
                     report.steps_to_solve_cell(g).split(" (")[0], budget,
                     f"{sum(r['wall_s'] for r in g) / 60:.1f}"])
    threshold = config.train.solve_threshold
    seeds = max(len(g) for g in by.values())
    at_budget = [r["model"] for r in records if r["solved"] and r["steps_to_solve"]
                 == r["steps_budget"]]
    if split == report.TEST:
        source = (f"{split.capitalize()}: the whole test split at each run's last step "
                  f"({report.examples_of(records, 'test')} sequences, never used for stopping).")
    else:
        source = (f"**Validation sample, not a test split**: the "
                  f"{report.examples_of(records, 'curve')} held-out sequences evaluated "
                  "during training, the same sample the solve check read.")
    sections = [f"## Adding problem, T = {length} (lengths {length}..{length + length // 10}), "
                f"{split}", "",
                source + f" Solved: >= {100 * threshold:.0f}% of the periodic validation sample "
                f"({report.examples_of(records, 'curve')} sequences) with |error| < 0.04 "
                f"(MSE of always predicting 0.5: {1 / 24:.4f}). Seeds: {seeds}. "
                f"{report.spread_note()}", "",
                report.markdown_table(["model", "initialization", f"{split} accuracy (%)",
                                       f"{split} MSE", "solved", "steps to solve (KM median)",
                                       "budget", "wall time (min)"], rows), "",
                "What this is and is not: the task is Hochreiter & Schmidhuber's (1997) "
                "experiment 4, but the `lstm` here has a forget gate (added by Gers et al. "
                "2000) and the initialization in the table, not the 1997 LSTM "
                f"(`lstm1997`); {seeds} seed{'s' if seeds != 1 else ''} per model"
                + (f"; {', '.join(at_budget)} solved only at the last step of "
                   f"{'its' if len(at_budget) == 1 else 'their'} budget, so a smaller budget "
                   "would have left it unsolved" if at_budget else "")
                + ". It is not a reproduction of the paper's result.", "",
                "Sweep config: `meta.json` (`settings`); run directories: "
                + ", ".join(f"`{r['rundir']}/`" for r in records) + ".", ""]
    series = {}
    for m in models:
        c = by[(m,)][0]["curve"]
        series[m] = ([h["step"] for h in c], [100 * h["accuracy"] for h in c], [0.0] * len(c))
    report.plot_lines(os.path.join(workdir, "adding_long_curves.png"), series,
                      xlabel="training step",
                      ylabel="% validation sequences |err| < 0.04", ylim=(0, 102),
                      hline=100 * threshold, hline_label=f"solved ({100 * threshold:.0f}%)",
                      title=f"Adding problem T={length} (seed 0, validation sample)")
    report.plot_survival(os.path.join(workdir, "survival.png"),
                         {f"T = {length}": {m: report.survival_data(by[(m,)]) for m in models}},
                         budget=max(r["steps_budget"] for r in records),
                         title=f"runs solved by step (Kaplan-Meier; {seeds} seed(s) per model)")
    return sections, ["adding_long_curves.png", "survival.png"]


def main(argv=None) -> str | None:
    return sweep.main("adding_long", __doc__, argv, plan=plan, make_report=make_report,
                      execute_one=execute)


if __name__ == "__main__":
    main()
