"""The adding problem at T = 1000 (Hochreiter & Schmidhuber 1997, experiment 4): LSTM vs RNN.

    python -m experiments.adding_long --workdir runs/adding_long          # T=1000 (hours on CPU)
    python -m experiments.adding_long --quick --workdir runs/adding_quick # T=100, minutes
    python -m experiments.adding_long --length 1000 --max-steps 50000     # bigger budget

Solved (as in the paper): at least 99% of 1024 test sequences with |error| < 0.04.
Each model trains with ``lstmjax.train.run`` in its own run directory
(``<workdir>/<model>_seed<k>/``: config, metrics.jsonl, learning curve, orbax checkpoints)
in chunks of ``--chunk`` steps; after each chunk the test accuracy is checked and training
stops once solved or when ``--max-steps`` is reached. **Resumable**: interrupt at any
time (Ctrl-C saves a checkpoint) and rerun the same command; every run continues from its
latest checkpoint with exactly the batches it would have seen.

Models: ``lstm`` (chrono initialization for T_max = T, the best-behaved LSTM in the gap
sweep), ``lstm_fb1`` (forget bias 1), ``lstm1997`` (no forget gate, as in the paper) and
``rnn`` (tanh). Default: lstm and rnn.

Outputs: ``adding_long.json`` (records ``{"model", "seed", "length", "accuracy",
"solved", "steps_to_solve", "steps_run", "wall_s", ...}``), ``adding_long.md`` (table,
mean ± std over seeds; steps to solve; wall time), ``adding_long_curves.png``, meta.json.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from experiments import common
from lstmjax import train

MODELS = {
    "lstm": dict(cell="lstm", chrono=True),
    "lstm_fb1": dict(cell="lstm", forget_bias=1.0),
    "lstm1997": dict(cell="lstm", gates="lstm1997"),
    "rnn": dict(cell="rnn"),
}
MODES = {
    "tiny": dict(length=20, seeds=1, max_steps=4, chunk=2, hidden=8, batch_size=8,
                 eval_examples=32),
    "quick": dict(length=100, seeds=1, max_steps=2000, chunk=250, hidden=64, batch_size=64,
                  eval_examples=1024),
    "standard": dict(length=1000, seeds=1, max_steps=20000, chunk=500, hidden=64,
                     batch_size=64, eval_examples=1024),
}
THRESHOLD = 0.99


def config(model: str, seed: int, s: dict) -> dict:
    fields = dict(MODELS[model])
    if fields.pop("chrono", False):
        fields["chrono_max_len"] = float(s["length"] + s["length"] // 10)
    cfg = common.run_config(common.task_config("adding", length=s["length"], variant="original"),
                            seed=seed, steps=s["chunk"], batch_size=s["batch_size"],
                            learning_rate=s["learning_rate"], eval_examples=s["eval_examples"],
                            hidden_size=s["hidden"], **fields)
    cfg.update(log_every=min(50, s["chunk"]), eval_every=s["chunk"], checkpoint_every=s["chunk"],
               keep_checkpoints=2, plot=True)
    return cfg


def run_model(model: str, seed: int, s: dict, workdir: str) -> dict:
    """Train in chunks until solved or max_steps; resumes from the run dir's checkpoints."""
    rundir = os.path.join(workdir, f"{model}_seed{seed}")
    cfg = config(model, seed, s)
    wall_path = os.path.join(rundir, "wall_time.json")
    wall = 0.0
    if os.path.exists(wall_path):
        with open(wall_path) as f:
            wall = float(json.load(f)["wall_s"])
    target = s["chunk"]
    previous = os.path.join(rundir, "summary.json")
    if os.path.exists(previous):  # resume: continue from where the last call stopped
        with open(previous) as f:
            done = int(json.load(f)["step"])
        target = max(target, -(-done // s["chunk"]) * s["chunk"])
    summary = None
    while True:
        cfg["steps"] = target
        t0 = time.time()
        summary = train.run(cfg, rundir, progress=False, handle_sigint=True)
        wall += time.time() - t0
        os.makedirs(rundir, exist_ok=True)
        with open(wall_path, "w") as f:
            json.dump({"wall_s": wall}, f)
        if summary["status"] == "interrupted":
            raise KeyboardInterrupt(f"{model}: interrupted at step {summary['step']}; rerun to resume")
        evals = [h for h in summary["history"] if h["split"] == "eval"]
        solved = [h["step"] for h in evals if h.get("accuracy", 0.0) >= THRESHOLD]
        if solved or target >= s["max_steps"]:
            break
        common.log(f"  {model} seed {seed}: step {summary['step']}, test accuracy "
                   f"{100 * evals[-1]['accuracy']:.1f}% ({wall:.0f} s so far)")
        target = min(target + s["chunk"], s["max_steps"])
    evals = [h for h in summary["history"] if h["split"] == "eval"]
    solved = [h["step"] for h in evals if h.get("accuracy", 0.0) >= THRESHOLD]
    return {"model": model, "seed": seed, "length": s["length"],
            "accuracy": summary["final_eval"]["accuracy"], "mse": summary["final_eval"]["loss"],
            "solved": bool(solved), "steps_to_solve": solved[0] if solved else None,
            "steps_run": summary["step"], "steps_budget": s["max_steps"], "wall_s": round(wall, 1),
            "s_per_step": round(wall / max(summary["step"], 1), 4),
            "baseline_mse": summary.get("baseline_loss"), "params_sha256": summary["params_sha256"],
            "rundir": os.path.relpath(rundir, workdir),
            "curve": [{"step": h["step"], "accuracy": h["accuracy"], "loss": h["loss"]}
                      for h in evals]}


def main(argv=None) -> str:
    p = common.argument_parser(__doc__, "runs/adding_long", quick_help="T=100, 2000 steps")
    p.add_argument("--length", type=int)
    p.add_argument("--seeds", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--chunk", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--models", default="lstm,rnn", help=f"subset of {list(MODELS)}")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    args = p.parse_args(argv)
    mode_name, s = common.mode_settings(args, MODES, ("length", "seeds", "max_steps", "chunk",
                                                      "hidden"))
    s["learning_rate"] = args.learning_rate
    models = common.parse_choices(p, "--models", args.models, MODELS)
    res = common.Results(args.workdir, "adding_long", mode=mode_name,
                         command=common.command_line(argv, "experiments.adding_long"),
                         settings={**s, "models": models, "threshold": THRESHOLD,
                                   "tolerance": 0.04})
    records = []
    for seed in range(s["seeds"]):
        for model in models:
            common.log(f"{model} seed {seed}: adding problem T={s['length']}, up to "
                       f"{s['max_steps']} steps (resumable: {res.workdir})")
            r = run_model(model, seed, s, res.workdir)
            records.append(r)
            res.write_records(records)
            common.log(f"{model} seed {seed}: accuracy {100 * r['accuracy']:.1f}%, solved at "
                       f"{r['steps_to_solve']} ({r['wall_s']:.0f} s, {r['s_per_step']:.3f} s/step)")
    by = common.group(records, "model")
    rows = []
    for m in models:
        g = by[(m,)]
        solved = [r["steps_to_solve"] for r in g if r["solved"]]
        rows.append([m, common.fmt_mean_std([r["accuracy"] for r in g], scale=100),
                     common.fmt_mean_std([r["mse"] for r in g], digits=4),
                     f"{sum(r['solved'] for r in g)}/{len(g)}",
                     f"{common.mean_std(solved)[0]:.0f}" if solved else f"> {s['max_steps']}",
                     common.fmt_mean_std([r["steps_run"] for r in g], digits=0),
                     f"{sum(r['wall_s'] for r in g) / 60:.1f}"])
    sections = [f"## Adding problem, T = {s['length']} (lengths {s['length']}..{s['length'] + s['length'] // 10}), "
                "mean ± std over seeds", "",
                f"Solved: >= {100 * THRESHOLD:.0f}% of 1024 test sequences with |error| < 0.04 "
                f"(MSE of always predicting 0.5: {1 / 24:.4f}).", "",
                common.markdown_table(["model", "test accuracy (%)", "test MSE", "solved",
                                       "steps to solve", "steps run", "wall time (min)"], rows),
                "", f"Settings: {json.dumps(res.meta['settings'])}", ""]
    series = {}
    for m in models:
        c = by[(m,)][0]["curve"]
        series[m] = ([h["step"] for h in c], [100 * h["accuracy"] for h in c], [0.0] * len(c))
    common.plot_lines(res.path("adding_long_curves.png"), series, xlabel="training step",
                      ylabel="% test sequences |err| < 0.04", ylim=(0, 102),
                      hline=100 * THRESHOLD, hline_label="solved (99%)",
                      title=f"Adding problem T={s['length']} (seed 0)")
    path = res.finish(sections, ["adding_long_curves.png"])
    common.log(f"adding_long ({mode_name}): table {path}")
    return path


if __name__ == "__main__":
    main()
