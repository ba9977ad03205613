"""What the distant-recall factorial would cost, measured, and its not-run report.

    python -m experiments.factorial --workdir experiments/results/factorial

The factorial itself is a plain sweep config (``experiments/configs/factorial.py``, run
by ``python -m experiments.sweep``). This trains its ``cost`` size (every model at the
shortest and the longest gap, 15 steps each, in run directories that log steps/s per
5-step window) into ``--cost_dir``, takes each run's training speed from its
``timing.jsonl`` (the windows after the first, which holds the compile), saves the
records with that speed as ``<workdir>/cost.json`` and writes ``<workdir>/factorial.md``: the factorial has **not been run**, its command, and its cost
as an upper bound (every run to its full budget: a run stops earlier once solved;
per-step time interpolated linearly in the sequence length between the two measured
gaps; evaluation time not counted), plus ``headline.md``, the README bullet saying the
same. Once the factorial has run, its own report replaces this one.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from experiments import report, sweep
from experiments.configs import factorial
from lstmjax import runs

COMMAND = ("python -m experiments.sweep --config experiments/configs/factorial.py:standard "
           "--workdir experiments/results/factorial --jobs auto")
# Models added after the cost was measured, timed by a measured model that runs the same
# computation: the same cell, sizes and driver, only the init differs (the keep inits), or
# ReLU in place of tanh (the IRNN on the tanh RNN's driver and sizes: no slower).
TIMED_AS = {"irnn": "rnn", "min_gru_keep": "min_gru", "min_lstm_keep": "min_lstm"}


def speed(rundir: str) -> float:
    """Seconds per training step: the median over the timing windows after the first."""
    with open(os.path.join(rundir, runs.TIMING), encoding="utf-8") as f:
        windows = [json.loads(line) for line in f if line.strip()]
    rates = [w["steps_per_s"] for w in windows[1:]]
    if not rates:
        raise ValueError(f"{rundir}: fewer than two timing windows in {runs.TIMING}")
    return float(1.0 / np.median(rates))


def estimate(records: list[dict], full) -> tuple[list[list], float]:
    """Per model: measured s/step (``train_s_per_step``) at each measured sequence length,
    and the factorial's summed training time (hours) at its full budget; and the total.
    A model without records is timed by its :data:`TIMED_AS` stand-in (the row says so)."""
    lengths = {}
    for r in records:
        lengths.setdefault(r["model"], []).append(
            (sweep.max_length(r["config"]["data"]), r["train_s_per_step"]))
    gaps = sweep.labels(full.sweep.gap)
    per_model = len(sweep.labels(full.sweep.lr)) * int(full.sweep.seeds)
    rows, total = [], 0.0
    for model in sweep.labels(full.sweep.model):
        timed = model if model in lengths else TIMED_AS.get(model)
        if timed not in lengths:
            raise ValueError(f"no cost record for model {model!r} (nor a stand-in in "
                             f"TIMED_AS); rerun: python -m experiments.factorial")
        pts = sorted(lengths[timed])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        t = [float(np.interp(sweep.max_length({**full.data.to_dict(), "gap": g}), xs, ys))
             for g in gaps]
        hours = sum(t) * full.steps * per_model / 3600
        total += hours
        name = model if timed == model else f"{model} (timed as {timed})"
        rows.append([name] + [f"{y * 1e3:.0f}" for y in ys] + [f"{hours:.1f}"])
    return rows, total


def write(workdir: str, records: list[dict], cost_command: str) -> str:
    full = factorial.get_config("standard")
    runs_full = len(sweep.expand(full))
    rows, total = estimate(records, full)
    lens = sorted({sweep.max_length(r["config"]["data"]) for r in records})
    hw = records[0].get("hardware") or report.hardware()
    cores = hw["cpu_count"] or 1
    load = hw.get("load_average_at_start", [0])[0]
    text = "\n".join([
        "# factorial: not run", "",
        "**The distant-recall factorial has not been run.** No result of it exists; the "
        "tables below are a cost estimate, not results.", "",
        f"- command that runs it (resumable, shardable with `--shard K/N`): `{COMMAND}`",
        f"- the sweep: {runs_full} runs = gaps {'/'.join(map(str, sweep.labels(full.sweep.gap)))}"
        f" x learning rates {'/'.join(f'{x:g}' for x in sweep.labels(full.sweep.lr))} x "
        f"{len(sweep.labels(full.sweep.model))} models x {full.sweep.seeds} seeds, up to "
        f"{full.steps} steps each (config: `experiments/configs/factorial.py`)",
        f"- cost measured by: `{cost_command}` on {hw['cpu']} ({cores} cores, load average "
        f"{load} at start), JAX backend {hw['jax_backend']}, commit "
        f"{records[0].get('commit')}; records with the speeds: `cost.json`", "",
        "## Estimated cost (upper bound)", "",
        "Training time per step, measured on the `cost` size (15 steps per model at "
        f"sequence lengths {' and '.join(map(str, lens))}, the median steps/s of the 5-step "
        "windows after the first, which holds the compile), interpolated linearly in the "
        "sequence length for the other gaps, times every run's full budget (a run stops "
        "earlier once solved, so this is an upper bound; evaluation not counted)."
        + (" Models added after the measurement are timed as the measured model that runs "
           "the same computation (the row names it)." if any("timed as" in r[0] for r in rows)
           else "")
        + (f" The cores were shared while it was measured (load average {load} on {cores} "
           "cores), so on idle cores each step is faster." if load > cores else ""), "",
        report.markdown_table(["model"] + [f"ms/step at T={t}" for t in lens]
                              + ["summed hours, all gaps x lrs x seeds"], rows), "",
        f"Total: **{total:.0f} CPU-process hours** summed over runs; with one run per core "
        f"on this {cores}-core machine about {total / cores / 24:.1f} days of wall time "
        "when the cores are otherwise idle.", ""])
    runs.write_text(os.path.join(workdir, "factorial.md"), text)
    bullet = (f"**Distant-recall factorial (gating x initialization): not run.** "
              f"{runs_full} runs ({len(sweep.labels(full.sweep.model))} parameter-matched "
              f"cells x inits, gaps up to {max(sweep.labels(full.sweep.gap))}, 3 learning "
              f"rates, {full.sweep.seeds} seeds); estimated at most {total:.0f} CPU-process "
              f"hours from a measured short run ([cost](experiments/results/factorial/"
              f"factorial.md)); command: `{COMMAND}`.")
    runs.write_text(os.path.join(workdir, "headline.md"), bullet + "\n")
    return os.path.join(workdir, "factorial.md")


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="experiments/results/factorial")
    p.add_argument("--cost_dir", default="/tmp/lstmjax_factorial_cost",
                   help="where the cost size trains (run directories, not committed)")
    p.add_argument("--jobs", default="1")
    p.add_argument("--report_only", action="store_true",
                   help="train nothing: the report from <workdir>/cost.json")
    args = p.parse_args(argv)
    command = f"python -m experiments.factorial --workdir {args.workdir}"
    if args.report_only:
        path = write(args.workdir, report.read_records(os.path.join(args.workdir,
                                                                    "cost.json")), command)
        report.log(f"factorial: {path}")
        return path
    sweep_argv = [f"--config={os.path.join(sweep.CONFIGS, 'factorial.py')}:cost",
                  "--workdir", args.cost_dir, "--jobs", args.jobs]
    sweep.main(argv=sweep_argv)
    hw, commit = report.hardware(), runs.git_commit()
    records = [{**r, "train_s_per_step": speed(os.path.join(args.cost_dir, r["run"])),
                "hardware": hw, "commit": commit}
               for r in report.read_records(os.path.join(args.cost_dir, "factorial_cost.json"))]
    os.makedirs(args.workdir, exist_ok=True)
    report.write_records(os.path.join(args.workdir, "cost.json"), records)
    path = write(args.workdir, records, command)
    report.log(f"factorial: {path}")
    return path


if __name__ == "__main__":
    main()
