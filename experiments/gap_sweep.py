"""Gap sweep: the seed's story. A plain RNN loses the clue as the gap grows; an LSTM keeps it.

    python -m experiments.gap_sweep --quick --workdir runs/gap_sweep      # minutes on a CPU
    python -m experiments.gap_sweep --workdir runs/gap_sweep               # standard: 3 seeds
    python -m experiments.gap_sweep --gaps 10,100,1000 --seeds 5 --steps 2000   # bigger

Models: tanh RNN, LSTM with forget-gate bias 1, LSTM with chrono initialization
(Tallec & Ollivier 2018, T_max = sequence length), GRU, and a BiLSTM whose sentence vector is
[h_fw_last ; h_bw_first]. Task: distant recall ("I grew up in France ... I speak fluent
___"): a clue token, ``gap`` distractor tokens, a query; 8 clues (chance 12.5%). With
``--task adding`` the sweep runs the adding problem instead (gap = sequence length T,
accuracy = fraction of test sequences with |error| < 0.04).

Each run trains for at most ``--steps`` steps, evaluates every ``--eval-every`` steps on
1024 held-out sequences and stops once accuracy >= 99% (steps to solve). Finished runs are
appended to ``gap_sweep.json`` as they complete; rerunning the same command in the same
workdir skips them (resume).

Outputs in the workdir: ``gap_sweep.json`` (records ``{"task", "model", "gap", "seed",
"accuracy", "steps_to_solve", ...}``), ``gap_sweep.md`` (tables, mean ± std over seeds),
``accuracy_vs_gap.png``, ``steps_to_solve.png``, ``meta.json``.
"""

from __future__ import annotations

import functools
import json
import math
import os

import numpy as np

from experiments import common

MODELS = {
    "rnn": dict(cell="rnn"),
    "lstm": dict(cell="lstm", forget_bias=1.0),
    "lstm_chrono": dict(cell="lstm", chrono=True),
    "gru": dict(cell="gru"),
    "bilstm": dict(cell="lstm", forget_bias=1.0, bidirectional=True, pooling="bilstm"),
}
LABELS = {"rnn": "tanh RNN", "lstm": "LSTM (forget bias 1)", "lstm_chrono": "LSTM (chrono init)",
          "gru": "GRU", "bilstm": "BiLSTM [h_fw_last ; h_bw_first]"}
TASKS = ("distant_recall", "adding")

MODES = {
    #            gaps                    seeds  steps eval_every hidden embed eval_examples
    "tiny": dict(gaps=[3, 6], seeds=1, steps=4, eval_every=2, hidden=8, embed=4, eval_examples=64,
                 batch_size=16),
    "quick": dict(gaps=[10, 30, 100], seeds=2, steps=300, eval_every=50, hidden=64, embed=16,
                  eval_examples=1024, batch_size=64),
    "standard": dict(gaps=[10, 50, 100, 200, 500], seeds=3, steps=600, eval_every=50, hidden=64,
                     embed=16, eval_examples=1024, batch_size=64),
}
ADDING_GAPS = {"tiny": [20, 24], "quick": [20, 50, 100], "standard": [20, 50, 100, 200]}
SOLVE_THRESHOLD = 0.99


def data_config(task: str, gap: int) -> dict:
    if task == "distant_recall":
        return common.task_config("distant_recall", gap=gap, num_clues=8, num_distractors=8)
    return common.task_config("adding", length=gap, variant="original")


def max_length(task: str, gap: int) -> int:
    return gap + 2 if task == "distant_recall" else gap + gap // 10


def model_fields(name: str, task: str, gap: int, hidden: int, embed: int) -> dict:
    fields = dict(MODELS[name])
    if fields.pop("chrono", False):
        fields["chrono_max_len"] = float(max(max_length(task, gap), 3))
    return {**fields, "hidden_size": hidden, "embed_dim": embed}


def run_one(task: str, model: str, gap: int, seed: int, s: dict) -> dict:
    cfg = common.run_config(
        data_config(task, gap), seed=seed, steps=s["steps"], batch_size=s["batch_size"],
        learning_rate=s["learning_rate"], eval_examples=s["eval_examples"],
        **model_fields(model, task, gap, s["hidden"], s["embed"]))
    r = common.fit(cfg, eval_every=s["eval_every"], solve_threshold=SOLVE_THRESHOLD)
    return {"task": task, "model": model, "gap": gap, "seed": seed,
            "accuracy": r["eval"]["accuracy"], "loss": r["eval"]["loss"],
            "solved": r["solved"], "steps_to_solve": r["steps_to_solve"],
            "steps_run": r["steps_run"], "steps_budget": r["steps_budget"],
            "status": r["status"], "wall_s": r["wall_s"], "chance": r["chance"],
            "num_params": r["num_params"], "params_sha256": r["params_sha256"],
            "curve": [{"step": h["step"], "accuracy": h["accuracy"], "loss": h["loss"]}
                      for h in r["history"]]}


def _key(r: dict) -> tuple:
    return (r["task"], r["model"], int(r["gap"]), int(r["seed"]))


def report(records: list[dict], settings: dict) -> list[str]:
    """The Markdown sections (generated from the records only)."""
    sections = []
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        rs = [r for r in records if r["task"] == task]
        gaps = sorted({r["gap"] for r in rs})
        models = [m for m in MODELS if any(r["model"] == m for r in rs)]
        by = common.group(rs, "model", "gap")
        unit = "gap" if task == "distant_recall" else "T"
        chance = rs[0].get("chance")
        what = ("accuracy (%)" if task == "distant_recall"
                else "accuracy (%, test sequences with |error| < 0.04)")
        sections += [f"## {task}: {what}, mean ± std over seeds", ""]
        if chance:
            sections += [f"Chance: {100 * chance:.1f}%. A run stops at the first evaluation "
                         f">= {100 * SOLVE_THRESHOLD:.0f}% (then its accuracy is that evaluation's).",
                         ""]
        rows = []
        for m in models:
            rows.append([m] + [common.fmt_mean_std([r["accuracy"] for r in by.get((m, g), [])],
                                                   scale=100) for g in gaps])
        sections += [common.markdown_table(["model"] + [f"{unit}={g}" for g in gaps], rows), ""]
        sections += [f"## {task}: steps to reach {100 * SOLVE_THRESHOLD:.0f}% "
                     "(mean over solved seeds; solved/seeds)", ""]
        rows = []
        for m in models:
            rows.append([m] + [common.steps_to_solve_cell(by.get((m, g), [])) for g in gaps])
        sections += [common.markdown_table(["model"] + [f"{unit}={g}" for g in gaps], rows), ""]
    sections += ["## Models", ""]
    sections += [f"- `{m}`: {LABELS[m]}" for m in MODELS if any(r["model"] == m for r in records)]
    sections += ["", f"Settings: {json.dumps({k: v for k, v in settings.items()})}", ""]
    return sections


def plot(records: list[dict], workdir: str, dpi: int = 100) -> list[str]:
    files = []
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        rs = [r for r in records if r["task"] == task]
        by = common.group(rs, "model", "gap")
        gaps = sorted({r["gap"] for r in rs})
        acc, steps = {}, {}
        for m in [m for m in MODELS if any(r["model"] == m for r in rs)]:
            gs = [g for g in gaps if (m, g) in by]
            stats = [common.mean_std([r["accuracy"] for r in by[(m, g)]]) for g in gs]
            acc[LABELS[m]] = (gs, [s[0] for s in stats], [s[1] for s in stats])
            # unsolved runs count at their budget (a lower bound), so the line stays drawn
            st = [common.mean_std([r["steps_to_solve"] if r["solved"] else r["steps_budget"]
                                   for r in by[(m, g)]]) for g in gs]
            steps[LABELS[m]] = (gs, [s[0] for s in st], [s[1] for s in st])
        suffix = "" if task == "distant_recall" else "_adding"
        unit = "gap (distractor tokens between clue and query)" if task == "distant_recall" \
            else "sequence length T"
        name = f"accuracy_vs_gap{suffix}.png"
        common.plot_lines(os.path.join(workdir, name), {k: (x, 100 * np.asarray(m), 100 * np.asarray(s))
                                                        for k, (x, m, s) in acc.items()},
                          xlabel=unit, ylabel="test accuracy (%)", logx=True,
                          title=f"{task}: accuracy vs gap (mean ± std over seeds)",
                          hline=100 * rs[0]["chance"] if rs[0].get("chance") else None,
                          hline_label="chance", ylim=(0, 102), dpi=dpi)
        files.append(name)
        name = f"steps_to_solve{suffix}.png"
        common.plot_lines(os.path.join(workdir, name), steps, xlabel=unit,
                          ylabel=f"steps to {100 * SOLVE_THRESHOLD:.0f}% (budget if unsolved)",
                          logx=True, title=f"{task}: training steps to solve", dpi=dpi)
        files.append(name)
    return files


def main(argv=None) -> str:
    p = common.argument_parser(__doc__, "runs/gap_sweep", jobs=True,
                               quick_help="gaps 10,30,100, 2 seeds, 300 steps")
    p.add_argument("--task", default="distant_recall", choices=TASKS + ("both",))
    p.add_argument("--gaps", help="comma-separated gaps (T for --task adding)")
    p.add_argument("--seeds", type=int, help="number of seeds (0..n-1)")
    p.add_argument("--steps", type=int, help="step budget per run")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--models", default=",".join(MODELS), help=f"subset of {list(MODELS)}")
    p.add_argument("--learning-rate", type=float, default=3e-3)
    p.add_argument("--no-resume", action="store_true", help="ignore finished runs in the workdir")
    args = p.parse_args(argv)
    mode_name, s = common.mode_settings(args, MODES, ("seeds", "steps", "eval_every", "hidden"))
    s["learning_rate"] = args.learning_rate
    models = common.parse_choices(p, "--models", args.models, MODELS)
    tasks = list(TASKS) if args.task == "both" else [args.task]
    plan = []
    for task in tasks:
        gaps = common.parse_int_list(args.gaps) if args.gaps else (
            s["gaps"] if task == "distant_recall" else ADDING_GAPS[mode_name])
        if task == "adding" and min(gaps) < 20:
            p.error("--task adding needs sequence lengths >= 20")
        plan += [(task, m, g, seed) for g in gaps for m in models for seed in range(s["seeds"])]
    settings = {**s, "gaps": sorted({g for _, _, g, _ in plan}), "models": models,
                "tasks": tasks, "solve_threshold": SOLVE_THRESHOLD, "num_clues": 8,
                "num_distractors": 8, "optimizer": "adam, grad clip 1.0"}
    res = common.Results(args.workdir, "gap_sweep", mode=mode_name,
                         command=common.command_line(argv, "experiments.gap_sweep"),
                         settings=settings)
    done: dict[tuple, dict] = {}
    if os.path.exists(res.records_path) and not args.no_resume:
        with open(res.records_path) as f:
            old = json.load(f)
        done = {_key(r): r for r in old if r.get("steps_budget") == s["steps"]}
    records = common.run_plan(
        plan, functools.partial(run_one, s=s), done=done,
        jobs=common.resolve_jobs(args.jobs, mode_name), save=res.write_records,
        describe=lambda k, r: f"{k[0]} {k[1]:12s} gap={k[2]:<5d} seed={k[3]} "
                              f"acc={100 * r['accuracy']:5.1f}% solved@{r['steps_to_solve']} "
                              f"({r['wall_s']:.0f} s)")
    res.write_records(records)
    files = plot(records, res.workdir)
    resumed = sum(k in done for k in plan)
    if resumed:
        res.meta["resumed_runs"] = resumed
    sections = common.resumed_note(records, resumed) + report(records, settings)
    path = res.finish(sections, files)
    common.log(f"gap sweep ({mode_name}): table {path}\n  plots: "
               + ", ".join(os.path.join(res.workdir, f) for f in files)
               + f"\n  records: {res.records_path}")
    return path


if __name__ == "__main__":
    main()
