"""Gate ablation v2, run to a solve: every Greff et al. (2017) variant, chrono and the GRU.

    python -m experiments.ablation_v2 --config experiments/configs/ablation_v2.py:quick \\
        --workdir experiments/results/ablation_v2_quick --jobs 2
    python -m experiments.ablation_v2 --config experiments/configs/ablation_v2.py:standard \\
        --workdir experiments/results/ablation_v2_standard --jobs 1   # hours; resumable
    python -m experiments.ablation_v2 ... --calibrate_only   # phase 1 only (e.g. before --shard)

Two phases, both resumable from their records files in the workdir:

1. **Calibration** (``calibration.json``). For each task the reference LSTM (``config.
   reference``: standard gates with the default init, forget-gate bias 1, the init every
   Greff variant shares, so that a difference from it is the gate change alone) trains
   every seed on the task's candidate settings, hardest first, with the budget
   ``calibration_steps``; the first candidate that *every* seed solves is the task's
   setting and the cap is ``cap_factor`` (3) x the reference's median steps to solve.
   For the gap axis (distant recall at fixed gaps 100/500/1000 in the standard size) the
   reference is chrono init (``gap_axis.reference``): the default-init LSTM solves gap
   100 in only some seeds (``experiments/results/gap_sweep_quick``), so it cannot set a
   budget there; chrono (Tallec & Ollivier 2018) is the LSTM init meant for long gaps.
2. **Variants** (``ablation_v2.json``): every variant x seed with ``steps`` = the cap,
   stopping at its solve (``stop_when_solved``). ``np`` (no peepholes) is the same
   configuration as ``standard`` in lstmjax and is copied from it (``alias_of``).

A run is *solved* at its first periodic validation (a fixed sample of the validation
split) with the task's metric >= its threshold; steps to solve are multiples of
``eval_every``. The reported score is the task's metric over the **whole test split** at
the run's last step: the solve step for a solved run, the cap otherwise (the report
says how many examples); the record's ``score`` is the same metric on the whole
validation split, kept but not reported (the split next to the one that stopped the run). Variants: the ``lstmjax.gates`` presets (vanilla = with
peepholes, standard, nig, nfg, nog, niaf, noaf, np, cifg, fgr, lstm1997), ``chrono``
(standard gates, chrono init for the task's longest sequence) and ``gru`` (default init,
b_z = 0; the GRU convention is h = (1 - z)·n + z·h_prev, see ``lstmjax.cells.GRUCell``).

Outputs: ``calibration.json`` (the reference's calibration runs), ``ablation_v2.json``
(records ``{"axis", "task", "variant", "seed", "gap", "cap", "score", "solved",
"steps_to_solve", "validation", "test", ...}``), ``ablation_v2.md`` (calibration,
solved/N with median [IQR] steps, test scores with sample std, bootstrap interval and N,
the gap axis, findings generated from the numbers), ``survival_tasks.png`` and
``survival_gap.png`` (runs solved by step, Kaplan-Meier), ``meta.json``.
"""

from __future__ import annotations

import functools
import json
import math
import os

import numpy as np
from absl import flags

from experiments import report, sweep
from lstmjax import schema
from lstmjax.gates import PRESETS

NAME = "ablation_v2"
CALIBRATION = "calibration"
# what each task asks of the memory (the reasons the findings give are built from these)
DEMANDS = {
    "adding": "hold two marked values over the sequence and add them",
    "copy_memory": "hold a sequence of symbols over blanks and replay it",
    "temporal_order": "remember the order of two events among distractors",
    "distant_recall": "hold one clue across a gap, nothing to forget",
    "last_clue": "overwrite a held clue with each new one, i.e. forget",
}
GREFF = {  # Greff et al. 2017, "LSTM: A Search Space Odyssey", Sec. 5 / Fig. 3
    "nfg": "most", "noaf": "most", "cifg": "little", "np": "little",
    "nig": "moderate", "nog": "moderate", "niaf": "moderate",
}


# --------------------------------------------------------------------------- calibration


def _check(config) -> tuple[list[str], list[str]]:
    tasks = sweep.check_names("tasks", config.tasks, config.task_defs)
    variants = sweep.check_names("variants", config.variants, config.variant_defs)
    for field in ("reference",):
        if config[field] not in config.variant_defs:
            raise ValueError(f"config.{field}={config[field]!r}; accepted: "
                             f"{sorted(config.variant_defs)}")
    if config.gap_axis.reference not in config.variant_defs:
        raise ValueError(f"config.gap_axis.reference={config.gap_axis.reference!r}; "
                         f"accepted: {sorted(config.variant_defs)}")
    sweep.check_names("gap_axis.variants", config.gap_axis.variants, config.variant_defs)
    if not config.cap_factor >= 1:
        raise ValueError(f"config.cap_factor={config.cap_factor!r} must be >= 1")
    for task in tasks:
        if not config.task_defs[task].candidates:
            raise ValueError(f"config.task_defs.{task}.candidates is empty")
    for alias, twin in config.aliases.items():
        a, b = ({**schema.to_dict(config.variant_defs[v]),
                 "gates": PRESETS.get(config.variant_defs[v].get("gates"))}
                for v in (alias, twin))
        if a != b:
            raise ValueError(f"config.aliases: {alias!r} and {twin!r} are not the same model")
    return tasks, variants


def _run(config, name, fields, data_cfg, variant, seed, steps, metric, threshold) -> sweep.Run:
    model = sweep.resolve_model(config.variant_defs[variant], data_cfg)
    cfg = sweep.train_config(config.train, seed=seed, data=data_cfg, model=model,
                             steps=int(steps), solve_metric=metric,
                             solve_threshold=float(threshold))
    return sweep.Run(name, cfg, {**fields, "variant": variant, "seed": seed,
                                 "score_metric": metric})


def calibration_runs(config, task: str | None, k: int | None = None,
                     gap: int | None = None) -> list[sweep.Run]:
    """The reference's runs for one task candidate (``task``, ``k``) or one gap."""
    seeds = range(config.seeds)
    if task is not None:
        d = config.task_defs[task]
        data_cfg = schema.to_dict(d.candidates[k])
        return [_run(config, f"{CALIBRATION}/{task}/candidate={k}/seed={s}",
                     {"axis": "tasks", "task": task, "candidate": k}, data_cfg,
                     config.reference, s, d.calibration_steps, d.solve_metric,
                     d.solve_threshold) for s in seeds]
    g = config.gap_axis
    data_cfg = {**schema.to_dict(g.data), "gap": int(gap)}
    return [_run(config, f"{CALIBRATION}/gap={gap}/seed={s}",
                 {"axis": "gap", "task": "distant_recall", "gap": int(gap)}, data_cfg,
                 g.reference, s, g.calibration_steps, g.solve_metric, g.solve_threshold)
            for s in seeds]


def _cap(config, steps: list[int]) -> int:
    every = max(int(config.train.eval_every), 1)
    return int(math.ceil(config.cap_factor * float(np.median(steps)) / every) * every)


def decide(config, records: list[dict]) -> dict:
    """What the calibration records say (a pure function of them): per task the candidate
    tried, the chosen one and the cap; per gap the cap. Entries still waiting for runs
    have ``"pending": True``."""
    by = {r["run"]: r for r in records}
    out = {"tasks": {}, "gaps": {}}

    def outcome(runs):
        recs = [by.get(r.name) for r in runs]
        if any(r is None or r["config_sha256"] != run.config_sha256
               for r, run in zip(recs, runs)):
            return None
        return recs

    for task in sweep.names(config.tasks):
        d = config.task_defs[task]
        tried, entry = [], None
        for k in range(len(d.candidates)):
            recs = outcome(calibration_runs(config, task, k))
            if recs is None:
                entry = {"pending": True, "candidate": k}
                break
            solved = [r["steps_to_solve"] for r in recs if r["solved"]]
            tried.append({"candidate": k, "solved": len(solved), "seeds": len(recs),
                          "steps": [r["steps_to_solve"] for r in recs]})
            if len(solved) == len(recs):
                entry = {"candidate": k, "calibrated": True, "cap": _cap(config, solved),
                         "median": float(np.median(solved)), "steps": solved}
                break
        if entry is None:  # no candidate solved by every seed: the easiest, budget as cap
            entry = {"candidate": len(d.candidates) - 1, "calibrated": False,
                     "cap": int(d.calibration_steps), "median": None, "steps": []}
        entry["tried"] = tried
        entry["data"] = schema.to_dict(d.candidates[entry["candidate"]])
        out["tasks"][task] = entry
    g = config.gap_axis
    for gap in g.gaps:
        recs = outcome(calibration_runs(config, None, gap=gap))
        if recs is None:
            out["gaps"][int(gap)] = {"pending": True}
            continue
        solved = [r["steps_to_solve"] for r in recs if r["solved"]]
        ok = len(solved) == len(recs)
        out["gaps"][int(gap)] = {
            "calibrated": ok, "solved": len(solved), "seeds": len(recs),
            "cap": _cap(config, solved) if ok else int(g.calibration_steps),
            "median": float(np.median(solved)) if solved else None, "steps": solved}
    return out


def calibrate(config, ctx: dict) -> dict:
    """Train the calibration rounds still missing (resume from ``calibration.json``) and
    return :func:`decide` of all of them. Round r trains candidate r of every task whose
    earlier candidates were not solved by every seed, and (round 1) every gap."""
    workdir = ctx["workdir"]
    path = os.path.join(workdir, f"{CALIBRATION}.json")
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
        report.log(f"{NAME}: calibration round: {len(todo)} reference runs")
        keep = [r for r in records if r["run"] not in {t.name for t in todo}]
        done = {r["run"]: r for r in records
                if any(t.name == r["run"] and t.config_sha256 == r["config_sha256"]
                       for t in todo)}
        fresh = sweep.run_plan(todo, functools.partial(execute, ctx=ctx), done=done,
                               jobs=ctx.get("jobs", 1),
                               save=lambda recs: report.write_records(path, keep + recs),
                               describe=sweep.describe)
        records = keep + fresh
        report.write_records(path, records)


# --------------------------------------------------------------------------- the sweep


def plan(config, ctx) -> list[sweep.Run]:
    """Calibrate (phase 1), then every variant x seed at each task's calibrated setting
    and cap, and the gap axis (phase 2)."""
    tasks, variants = _check(config)
    state = calibrate(config, ctx)
    if ctx.get("calibrate_only"):
        report.log(f"{NAME}: calibration done ({os.path.join(ctx['workdir'], CALIBRATION)}"
                   ".json); --calibrate_only: no variant trained")
        raise SystemExit(0)
    runs = []
    for task in tasks:
        e = state["tasks"][task]
        if e.get("pending"):
            continue
        d = config.task_defs[task]
        for variant in variants:
            if config.aliases.get(variant) in variants:
                continue
            for s in range(config.seeds):
                runs.append(_run(config, f"{task}/{variant}/seed={s}",
                                 {"axis": "tasks", "task": task, "cap": e["cap"],
                                  "calibrated": e["calibrated"]}, e["data"], variant, s,
                                 e["cap"], d.solve_metric, d.solve_threshold))
    g = config.gap_axis
    for gap in g.gaps:
        e = state["gaps"][int(gap)]
        if e.get("pending"):
            continue
        data_cfg = {**schema.to_dict(g.data), "gap": int(gap)}
        for variant in sweep.names(g.variants):
            for s in range(config.seeds):
                runs.append(_run(config, f"gap={gap}/{variant}/seed={s}",
                                 {"axis": "gap", "task": "distant_recall", "gap": int(gap),
                                  "cap": e["cap"], "calibrated": e["calibrated"]},
                                 data_cfg, variant, s, e["cap"], g.solve_metric,
                                 g.solve_threshold))
    return runs


def execute(run: sweep.Run, ctx: dict) -> dict:
    """Train; ``score`` is the task's metric over the whole validation split."""
    rec = sweep.execute(run, ctx)
    val = rec["validation"] or {}
    return {**rec, "score": val.get(rec["score_metric"]),
            "score_examples": val.get("examples")}


def finish(records: list[dict], config) -> list[dict]:
    """Alias variants (task axis) filled in from their twins."""
    variants = sweep.names(config.variants)
    out = list(records)
    for alias, twin in config.aliases.items():
        if alias in variants and twin in variants:
            out += [{**r, "run": r["run"].replace(f"/{twin}/", f"/{alias}/"), "variant": alias,
                     "alias_of": twin, "wall_s": 0.0}
                    for r in records if r["variant"] == twin and r["axis"] == "tasks"]
    tasks = sweep.names(config.tasks)
    gvars = sweep.names(config.gap_axis.variants)

    def key(r):
        if r["axis"] == "tasks":
            return (0, tasks.index(r["task"]), variants.index(r["variant"]), 0, r["seed"])
        return (1, 0, gvars.index(r["variant"]), r["gap"], r["seed"])
    return sorted(out, key=key)


# --------------------------------------------------------------------------- tables


def solve_stats(group: list[dict]) -> dict:
    """solved, n, and median / quartiles of steps to solve over the solved runs."""
    steps = [r["steps_to_solve"] for r in group if r["solved"]]
    q = np.percentile(steps, [25, 50, 75]) if steps else [math.nan] * 3
    return {"solved": len(steps), "n": len(group), "q1": float(q[0]), "median": float(q[1]),
            "q3": float(q[2])}


def solve_cell(group: list[dict]) -> str:
    """'k/N · median [q1–q3]' (steps over the solved runs), or 'k/N' when none solved."""
    if not group:
        return "–"
    s = solve_stats(group)
    if not s["solved"]:
        return f"0/{s['n']}"
    return f"{s['solved']}/{s['n']} · {s['median']:.0f} [{s['q1']:.0f}–{s['q3']:.0f}]"


def _data_label(d: dict) -> str:
    skip = {"name", "num_examples", "num_eval_examples"}
    return ", ".join(f"{k}={v}" for k, v in d.items() if k not in skip)


def calibration_section(config, state) -> list[str]:
    rows = []
    for task, e in state["tasks"].items():
        cands = config.task_defs[task].candidates
        tried = "; ".join(f"{_data_label(schema.to_dict(cands[t['candidate']]))}: "
                          f"{t['solved']}/{t['seeds']}" for t in e.get("tried", []))
        if e.get("pending"):
            rows.append([task, tried or "–", "pending", "–", "–"])
            continue
        med = (f"{e['median']:.0f} [{np.percentile(e['steps'], 25):.0f}–"
               f"{np.percentile(e['steps'], 75):.0f}]" if e["calibrated"] else "–")
        rows.append([task, tried, _data_label(e["data"])
                     + ("" if e["calibrated"] else " (**uncalibrated**: easiest candidate)"),
                     med, e["cap"]])
    g = config.gap_axis
    grows = []
    for gap, e in state["gaps"].items():
        if e.get("pending"):
            grows.append([gap, "pending", "–", "–"])
            continue
        med = (f"{e['median']:.0f} [{np.percentile(e['steps'], 25):.0f}–"
               f"{np.percentile(e['steps'], 75):.0f}]" if e["steps"] else "–")
        grows.append([gap, f"{e['solved']}/{e['seeds']}", med,
                      f"{e['cap']}" + ("" if e["calibrated"] else
                                       " (**uncalibrated**: the calibration budget)")])
    budgets = "; ".join(f"{t}: {config.task_defs[t].calibration_steps}"
                        for t in state["tasks"])
    return [
        "## Calibration (phase 1, `calibration.json`)", "",
        f"Reference `{config.reference}` ({json.dumps(config.variant_defs[config.reference].to_dict())}), "
        f"{config.seeds} seeds per candidate, candidates hardest first, calibration budget "
        f"(steps) {budgets}. The first candidate every seed solves is the task's setting; "
        f"cap = {config.cap_factor:g} x the reference's median steps to solve, rounded up "
        f"to the validation interval ({config.train.eval_every} steps).", "",
        report.markdown_table(["task", "candidates tried: reference solved/N", "setting",
                               "reference steps to solve, median [IQR]", "cap (steps)"],
                              rows), "",
        f"Gap axis (distant recall, {_data_label(schema.to_dict(g.data))}): reference "
        f"`{g.reference}`, calibration budget {g.calibration_steps} steps.", "",
        report.markdown_table(["gap", "reference solved/N", "steps to solve, median [IQR]",
                               "cap (steps)"], grows), "",
    ]


def test_score(r: dict) -> float | None:
    """The reported score: the task's metric over the whole test split at the run's last
    step (``score`` is the same metric on the validation split, kept in the record)."""
    return report.reported(r, r["score_metric"])[0]


def _solved_below(records) -> str:
    """How many runs the validation-sample solve check called solved score below the
    solve threshold on the whole test split (the check's optimism, in one line)."""
    solved = [r for r in records if r["solved"] and test_score(r) is not None]
    below = [r for r in solved if test_score(r) < r["solve"]["threshold"]]
    return (f"Of the {len(solved)} runs (both axes) solved on the validation sample, "
            f"{len(below)} score "
            "below their solve threshold on the whole test split.")


def _score_cell(group):
    return report.fmt_mean_std([test_score(r) for r in group], scale=100)


def tables(records, config, state) -> list[str]:
    main = [r for r in records if r["axis"] == "tasks"]
    tasks = [t for t in sweep.names(config.tasks) if any(r["task"] == t for r in main)]
    variants = [v for v in sweep.names(config.variants) if any(r["variant"] == v for r in main)]
    by = report.group(main, "task", "variant")
    defs = config.task_defs
    head = [f"{t} ({_data_label(state['tasks'][t]['data'])}; cap {state['tasks'][t]['cap']})"
            + ("" if state["tasks"][t]["calibrated"] else " uncalibrated") for t in tasks]
    crit = "; ".join(f"{t}: {defs[t].solve_metric} >= {defs[t].solve_threshold:g}"
                     for t in tasks)
    curve = "; ".join(f"{t}: {report.examples_of(by.get((t, config.reference), []), 'curve')}"
                      for t in tasks)
    examples = "; ".join(f"{t}: {report.examples_of([r for r in main if r['task'] == t], 'test')}"
                         for t in tasks)
    out = [
        "## Solved seeds and steps to solve (phase 2)", "",
        f"Each cell: solved/N, then the median [interquartile range] of the steps to solve "
        f"over the solved seeds. Solved: the first periodic validation (a fixed sample: "
        f"{curve} sequences) with {crit}; a run stops there or at its cap.", "",
        report.markdown_table(["variant"] + head,
                              [[v] + [solve_cell(by.get((t, v), [])) for t in tasks]
                               for v in variants]), "",
        "## Test score at the end of the run (solve or cap), %", "",
        _solved_below([r for r in records if not r.get("alias_of")]), "",
        f"The task's metric over the whole test split ({examples} sequences, never used "
        "for stopping) at the run's last step: the solve step for a solved run, the cap "
        f"otherwise. {report.spread_note()} Steps to solve as survival curves: "
        "`survival_tasks.png`.", "",
        report.markdown_table(["variant"] + [f"{t}: {defs[t].solve_metric}" for t in tasks],
                              [[v] + [_score_cell(by.get((t, v), [])) for t in tasks]
                               for v in variants]), "",
    ]
    gap = [r for r in records if r["axis"] == "gap"]
    if gap:
        gaps = sorted({r["gap"] for r in gap})
        gvars = [v for v in sweep.names(config.gap_axis.variants)
                 if any(r["variant"] == v for r in gap)]
        gby = report.group(gap, "variant", "gap")
        ghead = [f"gap={g} (cap {state['gaps'][g]['cap']})"
                 + ("" if state["gaps"][g]["calibrated"] else " uncalibrated") for g in gaps]
        out += [
            "## Gap axis: distant recall, solved/N · median [IQR] steps", "",
            report.markdown_table(["variant"] + ghead,
                                  [[v] + [solve_cell(gby.get((v, g), [])) for g in gaps]
                                   for v in gvars]), "",
            f"Test accuracy (%) over the whole test split "
            f"({report.examples_of(gap, 'test')} sequences) at the end of the run "
            f"({report.spread_note()[7:-1]}); survival curves: `survival_gap.png`.", "",
            report.markdown_table(["variant"] + [f"gap={g}" for g in gaps],
                                  [[v] + [_score_cell(gby.get((v, g), [])) for g in gaps]
                                   for v in gvars]), "",
        ]
    return out


# --------------------------------------------------------------------------- findings


def _label(v: str) -> str:
    return v.upper() if v in PRESETS and v not in ("standard", "vanilla") else f"`{v}`"


def _severity(solved_gap: float, drop: float, slower: float) -> str:
    """How much a variant costs: by the share of runs it fails to solve beyond the
    reference's (solved_gap, 0..1), its mean score drop (points) and how many times the
    reference's median steps it needs where it solves (slower; nan if nowhere)."""
    if solved_gap >= 0.4 or drop > 20:
        return "most"
    if solved_gap >= 0.1 or drop > 5 or (slower >= 1.5 and not math.isnan(slower)):
        return "moderate"
    return "little"


def findings(records, config) -> str:
    """A paragraph generated from the records: cost of each variant vs the reference, then
    Greff et al. (2017) point by point, with the tasks where each variant lost."""
    main = [r for r in records if r["axis"] == "tasks"]
    ref = config.reference
    tasks = [t for t in sweep.names(config.tasks) if any(r["task"] == t for r in main)]
    by = report.group(main, "task", "variant")
    if not tasks or not any((t, ref) in by for t in tasks):
        return "No records of the reference yet."

    def rate(v, ts=None):
        rs = [r for t in (ts or tasks) for r in by.get((t, v), [])]
        return (sum(r["solved"] for r in rs) / len(rs)) if rs else math.nan

    def score(t, v):  # the test split
        return report.mean_std(test_score(r) for r in by.get((t, v), []))[0]

    stats = {}
    for v in sweep.names(config.variants):
        if v == ref or not any((t, v) in by for t in tasks):
            continue
        drops = {t: 100 * (score(t, ref) - score(t, v)) for t in tasks if (t, v) in by}
        lost = [t for t in tasks if (t, v) in by and
                (solve_stats(by[(t, v)])["solved"] < solve_stats(by[(t, ref)])["solved"] - 1
                 or drops[t] > 5)]
        won = [t for t in tasks if (t, v) in by and
               solve_stats(by[(t, v)])["solved"] > solve_stats(by[(t, ref)])["solved"] + 1]
        gap = rate(ref) - rate(v)
        drop = float(np.mean(list(drops.values())))
        # steps: the variant's median over the reference's, where both solved a seed
        ratios = {t: solve_stats(by[(t, v)])["median"] / solve_stats(by[(t, ref)])["median"]
                  for t in tasks if (t, v) in by and solve_stats(by[(t, v)])["solved"]
                  and solve_stats(by.get((t, ref), []))["solved"]}
        slower = float(np.exp(np.mean(np.log(list(ratios.values()))))) if ratios else math.nan
        lost += [t for t, q in ratios.items() if q >= 2 and t not in lost]
        stats[v] = dict(rate=rate(v), drop=drop, lost=lost, won=won, drops=drops,
                        ratios=ratios, slower=slower, severity=_severity(gap, drop, slower))
    n = config.seeds
    ranked = sorted(stats, key=lambda v: (stats[v]["rate"], -np.nan_to_num(
        stats[v]["slower"], nan=np.inf), -stats[v]["drop"]))

    def speed(v):
        q = stats[v]["slower"]
        return "" if math.isnan(q) else f"; {q:.2f}x steps"

    def cells(v, ts):
        return ", ".join(f"{t} {solve_stats(by[(t, v)])['solved']}/{n}" for t in ts)

    parts = [f"Over {len(tasks)} tasks ({', '.join(tasks)}) x {n} seeds, the reference "
             f"`{ref}` solved {rate(ref) * len(tasks) * n:.0f}/{len(tasks) * n} runs within "
             "the caps. From most to least costly (share of runs solved; mean test-score drop "
             "vs the reference in points; median steps to solve as a multiple of the "
             "reference's, geometric mean over the tasks both solved): "
             + ", ".join(f"{_label(v)} ({100 * stats[v]['rate']:.0f}%; "
                         f"{stats[v]['drop']:+.1f}{speed(v)})" for v in ranked) + "."]
    parts.append("Greff et al. (2017, 'LSTM: A Search Space Odyssey') found that removing "
                 "the forget gate (NFG) or the output activation (NOAF) hurt most, that "
                 "coupling input and forget gate (CIFG) or removing peepholes (NP) cost "
                 "little, and that NIG, NOG and NIAF cost a moderate amount. Point by point "
                 "(a variant costs *most* when it solves >= 40% fewer runs than the "
                 "reference or drops > 20 points, *moderate* at >= 10% or > 5 points or "
                 ">= 1.5x the reference's steps, *little* otherwise):")
    for v, theirs in GREFF.items():
        if v not in stats:
            continue
        s = stats[v]
        ours = s["severity"]
        if config.aliases.get(v) == ref:
            vp = "vanilla"
            if vp in stats:
                parts.append(
                    f"NP: identical to `{ref}` here by construction (lstmjax's standard cell "
                    f"has no peepholes), so the peepholes are measured by `vanilla` (with "
                    f"them) against `{ref}`: `vanilla` costs {stats[vp]['severity']} "
                    f"({100 * stats[vp]['rate']:.0f}% solved, {stats[vp]['drop']:+.1f} "
                    f"points{speed(vp)}) — "
                    + ("agrees with Greff (peepholes matter little)."
                       if stats[vp]["severity"] == "little" else
                       "differs from Greff: here the peepholes change the outcome"
                       + (f" (`vanilla` loses on {cells(vp, stats[vp]['lost'])})"
                          if stats[vp]["lost"] else "")
                       + (f" (`vanilla` wins on {cells(vp, stats[vp]['won'])})"
                          if stats[vp]["won"] else "") + "."))
            continue
        verdict = "agrees" if ours == theirs else "differs"
        why = []
        def evidence(t):
            q = s["ratios"].get(t)
            return (f"{t}: solved {solve_stats(by[(t, v)])['solved']}/{n} vs "
                    f"{solve_stats(by[(t, ref)])['solved']}/{n}"
                    + (f", {q:.1f}x the steps" if q is not None else "")
                    + f", score {-s['drops'][t]:+.1f} points; the task asks to "
                    f"{DEMANDS.get(t, t)}")
        if s["lost"]:
            why.append("it falls behind on " + "; ".join(f"{evidence(t)}" for t in s["lost"]))
        if s["won"]:
            why.append("it beats the reference on " + "; ".join(evidence(t)
                                                                 for t in s["won"]))
        if not why:
            why.append("it solves as many seeds as the reference on every task, in "
                       "under 2x its steps")
        parts.append(f"{_label(v)}: Greff {theirs}, here {ours} ({100 * s['rate']:.0f}% "
                     f"solved, {s['drop']:+.1f} points{speed(v)}) — {verdict}; "
                     + "; ".join(why) + ".")
    for v in ("nfg", "lstm1997"):
        if v in stats and all((t, v) in by for t in ("distant_recall", "last_clue")):
            parts.append(
                f"Forgetting, directly: without a forget gate {_label(v)} solves "
                f"distant_recall {solve_stats(by[('distant_recall', v)])['solved']}/{n} and "
                f"last_clue {solve_stats(by[('last_clue', v)])['solved']}/{n} (reference "
                f"{solve_stats(by[('distant_recall', ref)])['solved']}/{n} and "
                f"{solve_stats(by[('last_clue', ref)])['solved']}/{n}; last_clue score "
                f"{stats[v]['drops']['last_clue']:+.1f} points vs the reference).")
    gap = [r for r in records if r["axis"] == "gap"]
    if gap:
        gby = report.group(gap, "variant", "gap")
        gaps = sorted({r["gap"] for r in gap})
        gv = [v for v in sweep.names(config.gap_axis.variants)
              if any(r["variant"] == v for r in gap)]
        parts.append("Gap axis (distant recall, solved/N at gap "
                     + "/".join(map(str, gaps)) + "): "
                     + ", ".join(f"{_label(v)} " + "/".join(
                         str(solve_stats(gby.get((v, g), []))["solved"]) for g in gaps)
                         + f" of {n}" for v in gv) + ".")
        for v in ("nfg", "lstm1997"):
            if v in gv and "standard" in gv:
                edge = [g for g in gaps if solve_stats(gby.get((v, g), []))["solved"]
                        > solve_stats(gby.get(("standard", g), []))["solved"]]
                parts.append(f"{_label(v)} solves more seeds than `standard` at "
                             + ("gap " + "/".join(map(str, edge)) if edge
                                else "none of these gaps") + ".")
        # does the edge of a cell that cannot forget survive long gaps? against the init
        # meant for them (the gap axis's reference, chrono)
        gref = config.gap_axis.reference
        for v in ("nfg", "lstm1997"):
            if v in gv and gref in gv:
                behind = [g for g in gaps if solve_stats(gby.get((v, g), []))["solved"]
                          < solve_stats(gby.get((gref, g), []))["solved"]]
                parts.append(f"Against `{gref}`, {_label(v)} "
                             + (f"falls behind at gap {'/'.join(map(str, behind))} ("
                                + ", ".join(f"{solve_stats(gby.get((v, g), []))['solved']} "
                                            f"vs {solve_stats(gby.get((gref, g), []))['solved']}"
                                            f" of {n}" for g in behind) + ")"
                                if behind else "solves as many seeds at every gap") + ".")
    parts.append("Caveats: one hyperparameter setting for all variants (Greff et al. tuned "
                 "each by random search and measured converged error on speech, handwriting "
                 "and music); steps to solve are counted at the validation interval; a "
                 "solved run stops at its solve step.")
    return " ".join(parts)


def survival_plots(records, config, workdir) -> list[str]:
    """``survival_tasks.png`` (a panel per task, a line per variant) and
    ``survival_gap.png`` (a panel per gap): runs solved by step, Kaplan-Meier, unsolved
    runs censored at their cap."""
    files = []
    main = [r for r in records if r["axis"] == "tasks" and not r.get("alias_of")]
    if main:
        by = report.group(main, "task", "variant")
        tasks = [t for t in sweep.names(config.tasks) if any(k[0] == t for k in by)]
        caps = {t: max(r["steps_budget"] for (tt, _), rs in by.items() if tt == t for r in rs)
                for t in tasks}
        panels = {f"{t} (cap {caps[t]})":
                  {v: report.survival_data(by[(t, v)]) for v in sweep.names(config.variants)
                   if (t, v) in by}
                  for t in tasks}
        report.plot_survival(os.path.join(workdir, "survival_tasks.png"), panels,
                             budget={f"{t} (cap {caps[t]})": caps[t] for t in tasks},
                             title="Runs solved by training step (Kaplan-Meier; validation-"
                                   "sample solve check; × = censored at the cap)")
        files.append("survival_tasks.png")
    gap = [r for r in records if r["axis"] == "gap"]
    if gap:
        gby = report.group(gap, "gap", "variant")
        gaps = sorted({r["gap"] for r in gap})
        caps = {g: max(r["steps_budget"] for r in gap if r["gap"] == g) for g in gaps}
        panels = {f"gap = {g} (cap {caps[g]})":
                  {v: report.survival_data(gby[(g, v)])
                   for v in sweep.names(config.gap_axis.variants) if (g, v) in gby}
                  for g in gaps}
        report.plot_survival(os.path.join(workdir, "survival_gap.png"), panels,
                             budget={f"gap = {g} (cap {caps[g]})": caps[g] for g in gaps},
                             title="Distant recall gap axis: runs solved by training step "
                                   "(Kaplan-Meier)")
        files.append("survival_gap.png")
    return files


def make_report(records, config, workdir) -> tuple[list[str], list[str]]:
    path = os.path.join(workdir, f"{CALIBRATION}.json")
    state = decide(config, report.read_records(path) if os.path.exists(path) else [])
    files = survival_plots(records, config, workdir)
    return (calibration_section(config, state) + tables(records, config, state) + [
        "## Findings (generated from the numbers above)", "", findings(records, config), "",
        "Variants: " + "; ".join(f"`{v}` {json.dumps(config.variant_defs[v].to_dict())}"
                                 for v in sweep.names(config.variants))
        + ". `chrono: true` = chrono init with T_max = the task's longest sequence. `gru`: "
        "h = (1 - z)·n + z·h_prev, default init (all biases 0). Sweep config: `meta.json` "
        "(`settings`); each record holds its run's complete train config; the calibration "
        "runs are in `calibration.json`.", ""]), files


def _flags(fv):
    flags.DEFINE_bool("calibrate_only", False, "Run phase 1 (the reference's calibration) "
                      "only, e.g. once before sharding phase 2.", flag_values=fv)


def _context(fv) -> dict:
    return {"jobs": sweep.resolve_jobs(sweep.jobs_value(fv.jobs), fv.config.size),
            "resume": fv.resume, "report_only": fv.report_only,
            "calibrate_only": fv.calibrate_only}


def main(argv=None) -> str | None:
    return sweep.main(NAME, __doc__, argv, plan=plan, make_report=make_report,
                      execute_one=execute, finish=finish, extra_flags=_flags,
                      context=_context)


if __name__ == "__main__":
    main()
