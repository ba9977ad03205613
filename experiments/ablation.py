"""The gate ablation's one specific step: calibrate the budgets, then run the generic sweep.

    python -m experiments.ablation --config experiments/configs/ablation.py:quick \\
        --workdir experiments/results/ablation_quick --jobs 2        # resumable
    python -m experiments.ablation ... --calibrate_only   # phase 1 only (e.g. before --shard)

The config (``experiments/configs/ablation.py``) is a sweep config (tasks x variants x
seeds) with a ``sweep.calibrate`` section. Phase 1 (``calibration.json`` in the workdir,
resumable): per task the reference variant trains every seed on the task's candidate
settings, hardest first, with the calibration budget; the first candidate every seed
solves is the task's setting and ``cap_factor`` x the reference's median steps to solve
(rounded up to ``eval_every``) the cap of every variant; a task no candidate of which
every seed solves runs at its easiest candidate with the calibration budget as cap,
marked *uncalibrated*. The gap axis (distant recall at fixed gaps, ``gap_axis``) is
calibrated the same way per gap. Phase 2 is :func:`experiments.sweep.expand` of the config
with the calibrated settings written in, plus the gap axis; the report is the generic one
(:func:`experiments.report.render`) with the calibration table in front. A config without
``sweep.calibrate`` (the ``fixed_*`` sizes) is the plain generic sweep.
"""

from __future__ import annotations

import copy
import functools
import math
import os

import numpy as np
from absl import flags

from experiments import report, sweep
from lstmjax import schema

CALIBRATION = "calibration"


def _run(config, name, fields, data_cfg, variant, seed, steps, metric, threshold) -> sweep.Run:
    model = config.sweep.set.variant[variant].model.to_dict()
    cfg = sweep.train_config(config, seed=seed, data=data_cfg, model=model, steps=int(steps),
                             solve_metric=metric, solve_threshold=float(threshold))
    return sweep.Run(name, cfg, {**fields, "variant": variant, "seed": seed,
                                 "score_metric": metric})


def calibration_runs(config, task: str | None, k: int | None = None,
                     gap: int | None = None) -> list[sweep.Run]:
    """The reference's runs for one task candidate (``task``, ``k``) or one gap."""
    cal, seeds = config.sweep.calibrate, range(int(config.sweep.seeds))
    if task is not None:
        d = cal.tasks[task]
        return [_run(config, f"{CALIBRATION}/{task}/candidate={k}/seed={s}",
                     {"axis": "tasks", "task": task, "candidate": k},
                     schema.to_dict(d.candidates[k]), cal.reference, s, d.calibration_steps,
                     d.solve_metric, d.solve_threshold) for s in seeds]
    g = cal.gap_axis
    return [_run(config, f"{CALIBRATION}/gap={gap}/seed={s}",
                 {"axis": "gap", "task": "distant_recall", "gap": int(gap)},
                 {**schema.to_dict(g.data), "gap": int(gap)}, g.reference, s,
                 g.calibration_steps, g.solve_metric, g.solve_threshold) for s in seeds]


def _cap(config, steps: list[int]) -> int:
    every = max(int(config.eval_every), 1)
    factor = config.sweep.calibrate.cap_factor
    return int(math.ceil(factor * float(np.median(steps)) / every) * every)


def decide(config, records: list[dict], strict: bool = True) -> dict:
    """What the calibration records say (a pure function of them): per task the candidates
    tried, the chosen one and the cap; per gap the cap. Entries still waiting for runs have
    ``"pending": True``. ``strict``: a record counts only when its config equals the
    planned run's (``False``: by run name, to re-render committed records whose configs
    predate a default added since)."""
    by = {r["run"]: r for r in records}
    cal = config.sweep.calibrate
    out = {"tasks": {}, "gaps": {}}

    def outcome(runs):
        recs = [by.get(r.name) for r in runs]
        if any(r is None or (strict and r["config_sha256"] != run.config_sha256)
               for r, run in zip(recs, runs)):
            return None
        return recs

    for task in sweep.labels(config.sweep.task):
        d = cal.tasks[task]
        tried, entry = [], None
        for k in range(len(d.candidates)):
            recs = outcome(calibration_runs(config, task, k))
            if recs is None:
                entry = {"pending": True, "candidate": k}
                break
            solved = [r["steps_to_solve"] for r in recs if r["solved"]]
            tried.append({"candidate": k, "solved": len(solved), "seeds": len(recs)})
            if len(solved) == len(recs):
                entry = {"candidate": k, "calibrated": True, "cap": _cap(config, solved),
                         "steps": solved}
                break
        if entry is None:  # no candidate solved by every seed: the easiest, budget as cap
            entry = {"candidate": len(d.candidates) - 1, "calibrated": False,
                     "cap": int(d.calibration_steps), "steps": []}
        entry["tried"] = tried
        entry["data"] = schema.to_dict(d.candidates[entry["candidate"]])
        out["tasks"][task] = entry
    for gap in cal.gap_axis.gaps:
        recs = outcome(calibration_runs(config, None, gap=gap))
        if recs is None:
            out["gaps"][int(gap)] = {"pending": True}
            continue
        solved = [r["steps_to_solve"] for r in recs if r["solved"]]
        ok = len(solved) == len(recs)
        out["gaps"][int(gap)] = {
            "calibrated": ok, "solved": len(solved), "seeds": len(recs), "steps": solved,
            "cap": _cap(config, solved) if ok else int(cal.gap_axis.calibration_steps)}
    return out


def calibrate(config, ctx: dict) -> dict:
    """Train the calibration rounds still missing (resume from ``calibration.json``) and
    return :func:`decide` of all of them. Round r trains candidate r of every task whose
    earlier candidates were not solved by every seed, and (round 1) every gap."""
    path = os.path.join(ctx["workdir"], f"{CALIBRATION}.json")
    records = report.read_records(path) if os.path.exists(path) and ctx.get("resume", True) \
        else []
    while True:
        state = decide(config, records)
        todo = [r for t, e in state["tasks"].items() if e.get("pending")
                for r in calibration_runs(config, t, e["candidate"])]
        todo += [r for g, e in state["gaps"].items() if e.get("pending")
                 for r in calibration_runs(config, None, gap=g)]
        if not todo or ctx.get("report_only"):
            return state
        report.log(f"ablation: calibration round: {len(todo)} reference runs")
        names = {t.name for t in todo}
        keep = [r for r in records if r["run"] not in names]
        fresh = sweep.run_plan(todo, functools.partial(sweep.execute, ctx=ctx), done={},
                               jobs=ctx.get("jobs", 1), describe=sweep.describe,
                               save=lambda recs: report.write_records(path, keep + recs))
        records = keep + fresh
        report.write_records(path, records)


def calibrated_config(config, state: dict):
    """The sweep config with each task's calibrated setting and cap written in, and the
    gap axis's sweep config (or None); tasks still pending are left out."""
    tasks = copy.deepcopy(config)
    with tasks.unlocked():
        done = [t for t in sweep.labels(config.sweep.task) if not state["tasks"][t].get("pending")]
        tasks.sweep.task = tuple(done)
        for t in done:
            e, s = state["tasks"][t], tasks.sweep.set.task[t]
            s.data, s.steps = e["data"], e["cap"]
            s.record.update(cap=e["cap"], calibrated=e["calibrated"])
    g = config.sweep.calibrate.gap_axis
    gaps = [int(x) for x in g.gaps if not state["gaps"][int(x)].get("pending")]
    if not gaps:
        return tasks, None
    gap = copy.deepcopy(config)
    with gap.unlocked():
        gap.data = g.data.to_dict()
        gap.solve_metric, gap.solve_threshold = g.solve_metric, g.solve_threshold
        gap.sweep.axes, gap.sweep.variant = ("gap", "variant"), tuple(g.variants)
        gap.sweep.gap = tuple(gaps)
        gap.sweep.set.gap = {str(x): dict(data=dict(gap=x), steps=state["gaps"][x]["cap"],
                                          record=dict(axis="gap", task="distant_recall",
                                                      score_metric=g.solve_metric,
                                                      cap=state["gaps"][x]["cap"],
                                                      calibrated=state["gaps"][x]["calibrated"]))
                             for x in gaps}
    return tasks, gap


def plan(config, ctx) -> list[sweep.Run]:
    """Phase 2 (calibration first, when the config asks for one)."""
    if "calibrate" not in config.sweep:
        return sweep.expand(config)
    tasks, gap = calibrated_config(config, calibrate(config, ctx))
    runs = sweep.expand(tasks) if tasks.sweep.task else []
    if gap is not None:
        runs += [sweep.Run("gap_axis/" + r.name, r.config, r.fields) for r in sweep.expand(gap)]
    return runs


def calibration_section(config, workdir: str, strict: bool = True) -> list[str]:
    """The calibration table (phase 1) of a calibrated ablation, from ``calibration.json``."""
    path = os.path.join(workdir, f"{CALIBRATION}.json")
    if "calibrate" not in config.sweep or not os.path.exists(path):
        return []
    state, cal = decide(config, report.read_records(path), strict), config.sweep.calibrate

    def label(d):
        return ", ".join(f"{k}={v}" for k, v in d.items()
                         if k not in ("name", "num_examples", "num_eval_examples"))

    def med(steps):
        return (f"{np.median(steps):.0f} [{np.percentile(steps, 25):.0f}–"
                f"{np.percentile(steps, 75):.0f}]" if steps else "–")
    rows = [[t, "; ".join(f"{label(schema.to_dict(cal.tasks[t].candidates[x['candidate']]))}: "
                          f"{x['solved']}/{x['seeds']}" for x in e.get("tried", [])) or "–",
             "pending" if e.get("pending") else label(e["data"])
             + ("" if e["calibrated"] else " (**uncalibrated**: easiest candidate)"),
             med(e.get("steps")), e.get("cap", "–")] for t, e in state["tasks"].items()]
    grows = [[g, "pending" if e.get("pending") else f"{e['solved']}/{e['seeds']}",
              med(e.get("steps")), e.get("cap", "–")] for g, e in state["gaps"].items()]
    return ["## Calibration (phase 1, `calibration.json`)", "",
            f"Reference `{cal.reference}`, {config.sweep.seeds} seeds per candidate, "
            "candidates hardest first; the first candidate every seed solves is the task's "
            f"setting; cap = {cal.cap_factor:g} x the reference's median steps to solve, "
            f"rounded up to the validation interval ({config.eval_every} steps). Gap axis "
            f"reference: `{cal.gap_axis.reference}`.", "",
            report.markdown_table(["task", "candidates tried: reference solved/N", "setting",
                                   "reference steps to solve, median [IQR]", "cap (steps)"],
                                  rows), "",
            report.markdown_table(["gap", "reference solved/N",
                                   "steps to solve, median [IQR]", "cap (steps)"], grows), ""]


def make_report(records, config, workdir) -> tuple[list[str], list[str]]:
    sections, files = report.render(records, config.sweep.report, workdir)
    return calibration_section(config, workdir) + sections, files


def _flags(fv):
    flags.DEFINE_bool("calibrate_only", False, "Run phase 1 (the reference's calibration) "
                      "only, e.g. once before sharding phase 2.", flag_values=fv)


def main(argv=None) -> str | None:
    fv = sweep.parse_flags("ablation", __doc__, argv, extra=_flags)
    if fv.calibrate_only:
        config = fv.config
        workdir = os.path.abspath(fv.workdir or "runs/ablation")
        os.makedirs(workdir, exist_ok=True)
        calibrate(config, {"workdir": workdir, "resume": fv.resume,
                           "jobs": sweep.resolve_jobs(sweep.jobs_value(fv.jobs),
                                                      config.sweep.size)})
        report.log(f"ablation: calibration done ({workdir}/{CALIBRATION}.json)")
        return None
    return sweep.main("ablation", __doc__, argv, plan=plan, make_report=make_report,
                      extra_flags=_flags, context=lambda fv: {
                          "resume": fv.resume, "report_only": fv.report_only,
                          "jobs": sweep.resolve_jobs(sweep.jobs_value(fv.jobs),
                                                     fv.config.sweep.size)})


if __name__ == "__main__":
    main()
