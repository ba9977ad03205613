"""Gap sweep: how far apart can the clue and its use be, per cell and initialization?

    python -m experiments.gap_sweep --config experiments/configs/gap_sweep.py:quick \
        --workdir runs/gap_sweep                       # minutes on a CPU
    python -m experiments.gap_sweep --config experiments/configs/gap_sweep.py:standard \
        --workdir runs/gap_sweep --config.gaps=10,100,1000 --config.seeds=5   # bigger
    python -m experiments.gap_sweep ... --shard 2/4    # shard 2 of 4 (e.g. a job array)

Models (``model_defs`` of the config): tanh RNN, LSTM with forget-gate bias 1, LSTM with
chrono initialization (Tallec & Ollivier 2018, T_max = sequence length), GRU with the
default init, GRU with the "keep" init, minGRU and minLSTM (Feng et al. 2024, "Were RNNs
all we needed?"), and a BiLSTM whose sentence vector is [h_fw_last ; h_bw_first].

The GRU convention (``lstmjax.cells.GRUCell``, PyTorch / Flax): r = σ(W_xr x + b_r + W_hr
h_prev), z = σ(W_xz x + b_z + W_hz h_prev), n = tanh(W_xn x + b_n + r ⊙ (W_hn h_prev +
b_hn)), **h = (1 - z) ⊙ n + z ⊙ h_prev**: z = 1 keeps the state. The default init sets
every bias to 0, so z starts near 1/2 and the state halves at every step (the clue fades
within a few tokens). The keep init (``gru_keep``: ``chrono: True``, i.e.
``chrono_max_len`` = the sequence length, as for ``lstm_chrono``) sets only the update
gate's bias, **b_z ~ log U[1, T_max - 1]**, so z starts between 1/2 and (T_max-1)/T_max
and the state is kept for about 1 to T_max steps; r, n and every weight are as in the
default init. minGRU uses the opposite convention, h = (1 - z) ⊙ h_prev + z ⊙ h~, with
its biases at 0; minLSTM starts its forget bias at 1 like the LSTM. Task: distant recall ("I grew up in
France ... I speak fluent ___"): a clue token, ``gap`` distractor tokens, a query; 8 clues
(chance 12.5%). With ``--config.tasks=adding,`` the sweep runs the adding problem instead
(gap = sequence length T, accuracy = fraction of sequences with |error| < 0.04).

Each run is ``lstmjax.train.run`` on one config (see ``experiments/sweep.py`` for jobs,
resume and shards): at most ``train.steps`` steps, a periodic validation every
``train.eval_every`` steps on a fixed sample of 1024 validation sequences, stopping at the
first one with accuracy >= ``train.solve_threshold`` (steps to solve). The reported
accuracy is the whole test split at the last step (2048 sequences; the record also holds
the whole validation split).

Outputs in the workdir: ``gap_sweep.json`` (records ``{"task", "model", "gap", "seed",
"test": {"accuracy", "loss", "examples"}, "validation": {...}, "steps_to_solve", ...}``),
``gap_sweep.md`` (tables: mean ± sample std with a 95% bootstrap interval and N; steps to
solve as Kaplan-Meier medians), ``accuracy_vs_gap.png``, ``survival.png`` (steps to solve
as survival curves, unsolved runs censored at the budget), ``meta.json``.
"""

from __future__ import annotations

import json
import os

import numpy as np

from experiments import report, sweep

LABELS = {"rnn": "tanh RNN", "lstm": "LSTM (forget bias 1)", "lstm_chrono": "LSTM (chrono init)",
          "gru": "GRU (default init, b_z = 0)", "gru_keep": "GRU (keep init, b_z ~ log U[1, T-1])",
          "min_gru": "minGRU", "min_lstm": "minLSTM (b_f = 1)",
          "bilstm": "BiLSTM [h_fw_last ; h_bw_first]"}
TASKS = ("distant_recall", "adding")
GAP_FIELD = {"distant_recall": "gap", "adding": "length"}  # the data field the gap axis sets


def plan(config, ctx=None) -> list[sweep.Run]:
    """Every task x gap x model x seed of the config, as train configs."""
    tasks = sweep.check_names("tasks", config.tasks, TASKS)
    models = sweep.check_names("models", config.models, config.model_defs)
    runs = []
    for task in tasks:
        gaps = config.gaps if task == "distant_recall" else config.adding_lengths
        if task == "adding" and min(gaps) < 20:
            raise ValueError("config.adding_lengths: the adding task needs lengths >= 20")
        for gap in gaps:
            data_cfg = {**config.task_data[task].to_dict(), GAP_FIELD[task]: int(gap)}
            for model in models:
                fields = sweep.resolve_model(config.model_defs[model], data_cfg)
                for seed in range(config.seeds):
                    runs.append(sweep.Run(
                        f"{task}/{model}/gap={gap}/seed={seed}",
                        sweep.train_config(config.train, seed=seed, data=data_cfg, model=fields),
                        {"task": task, "model": model, "gap": int(gap), "seed": seed}))
    return runs


def accuracy(r: dict) -> float | None:
    """The reported accuracy: the whole test split at the last step (a legacy record's
    validation sample, labelled, when it has no test split: ``report.reported``)."""
    return report.reported(r)[0]


def make_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    return tables(records, config), plot(records, workdir, config.train.solve_threshold)


def _model_def(config, m: str) -> str:
    defs = config.get("model_defs") or {}
    return f" ({json.dumps(defs[m].to_dict())})" if m in defs else ""


def tables(records: list[dict], config) -> list[str]:
    """The Markdown sections (generated from the records only)."""
    threshold = config.train.solve_threshold
    sections = []
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        rs = [r for r in records if r["task"] == task]
        gaps = sorted({r["gap"] for r in rs})
        models = list(dict.fromkeys(r["model"] for r in rs))  # plan order
        by = report.group(rs, "model", "gap")
        unit = "gap" if task == "distant_recall" else "T"
        chance = rs[0].get("chance")
        split = report.split_of(rs)
        what = ("accuracy (%)" if task == "distant_recall"
                else "accuracy (%, sequences with |error| < 0.04)")
        seeds = max(len(v) for v in by.values())
        budget = max(r["steps_budget"] for r in rs)
        if split == report.TEST:
            source = (f"Whole test split at each run's last step "
                      f"({report.examples_of(rs, 'test')} sequences), never used for stopping.")
        else:
            source = (f"**Validation sample, not a test split** (the "
                      f"{report.examples_of(rs, 'curve')} held-out sequences evaluated every "
                      f"{config.train.eval_every} steps, the same sample that stopped a solved "
                      "run: a solved run is >= the threshold on it by construction).")
        sections += [f"## {task}: {split} {what}", ""]
        sections += [source + " "
                     + (f"Chance: {100 * chance:.1f}%. " if chance else "")
                     + f"Solve check: the first periodic validation (a fixed sample of "
                     f"{report.examples_of(rs, 'curve')} validation sequences) with accuracy "
                     f">= {100 * threshold:.0f}% stops the run. Seeds per cell: {seeds}; "
                     f"budget: {budget} steps. {report.spread_note()}", ""]
        rows = [[m] + [report.fmt_mean_std([accuracy(r) for r in by.get((m, g), [])],
                                           scale=100) for g in gaps] for m in models]
        sections += [report.markdown_table(["model"] + [f"{unit}={g}" for g in gaps], rows), ""]
        suffix = "" if task == "distant_recall" else "_adding"
        sections += [f"## {task}: steps to reach {100 * threshold:.0f}% on the validation "
                     "sample", "", report.STEPS_NOTE + f" Survival curves: "
                     f"`survival{suffix}.png`.", ""]
        rows = [[m] + [report.steps_to_solve_cell(by.get((m, g), [])) for g in gaps]
                for m in models]
        sections += [report.markdown_table(["model"] + [f"{unit}={g}" for g in gaps], rows), ""]
    sections += ["## Models", ""]
    sections += [f"- `{m}`: {LABELS.get(m, m)}{_model_def(config, m)}"
                 for m in dict.fromkeys(r["model"] for r in records)]
    sections += ["", "Sweep config: `meta.json` (`settings`); each record holds its run's "
                 "complete train config.", ""]
    return sections


def plot(records: list[dict], workdir: str, threshold: float, dpi: int = 100) -> list[str]:
    files = []
    for task in [t for t in TASKS if any(r["task"] == t for r in records)]:
        rs = [r for r in records if r["task"] == task]
        by = report.group(rs, "model", "gap")
        gaps = sorted({r["gap"] for r in rs})
        split = report.split_of(rs)
        acc = {}
        for m in dict.fromkeys(r["model"] for r in rs):
            gs = [g for g in gaps if (m, g) in by]
            stats = [report.mean_std([accuracy(r) for r in by[(m, g)]]) for g in gs]
            acc[LABELS.get(m, m)] = (gs, [s[0] for s in stats], [s[1] for s in stats])
        suffix = "" if task == "distant_recall" else "_adding"
        unit = "gap (distractor tokens between clue and query)" if task == "distant_recall" \
            else "sequence length T"
        name = f"accuracy_vs_gap{suffix}.png"
        report.plot_lines(os.path.join(workdir, name),
                          {k: (x, 100 * np.asarray(m), 100 * np.asarray(s))
                           for k, (x, m, s) in acc.items()},
                          xlabel=unit, ylabel=f"{split} accuracy (%)", logx=True,
                          title=f"{task}: {split} accuracy vs gap (mean ± sample sd)",
                          hline=100 * rs[0]["chance"] if rs[0].get("chance") else None,
                          hline_label="chance", ylim=(0, 102), dpi=dpi)
        files.append(name)
        # steps to solve: survival curves (unsolved runs censored at their budget)
        name = f"survival{suffix}.png"
        panels = {f"{'gap' if task == 'distant_recall' else 'T'} = {g}":
                  {LABELS.get(m, m): report.survival_data(by[(m, g)])
                   for m in dict.fromkeys(r["model"] for r in rs) if (m, g) in by}
                  for g in gaps}
        report.plot_survival(os.path.join(workdir, name), panels,
                             budget=max(r["steps_budget"] for r in rs), dpi=dpi,
                             title=f"{task}: runs solved (>= {100 * threshold:.0f}% on the "
                                   "validation sample) by training step, Kaplan-Meier")
        files.append(name)
    return files


def main(argv=None) -> str | None:
    return sweep.main("gap_sweep", __doc__, argv, plan=plan, make_report=make_report)


if __name__ == "__main__":
    main()
