"""A sweep is a list of train configs, each trained by ``lstmjax.train.run``.

    python -m experiments.gap_sweep --config experiments/configs/gap_sweep.py:quick \\
        --workdir runs/gap [--jobs auto] [--shard K/N] [--report_only] \\
        [--config.seeds=3 --config.train.optimizer.learning_rate=0.003 ...]

An experiment script says three things: how its config (``experiments/configs/<name>.py``,
``get_config(size)`` with size ``tiny | quick | standard``) becomes a list of :class:`Run`
(its *plan*), what a finished run adds to its record, and how the records become a report
(tables, plots). This module does the rest, the same way for every experiment:

* **Flags.** ``--config`` is an ``ml_collections.config_flags`` config file: the part after
  ':' is passed to ``get_config`` and every field can be overridden
  (``--config.train.steps=1000``, ``--config.gaps=10,100``). ``--workdir``, ``--jobs``,
  ``--shard``, ``--report_only``, ``--resume``.
* **Training.** Every run is ``lstmjax.train.run(run.config, ...)``: in memory
  (``workdir=None``), or, for long runs, in its own run directory ``<workdir>/<run name>``
  with checkpoints. ``--jobs N`` trains N runs at once in *spawned* worker processes (a
  forked JAX runtime can deadlock); one small-model run keeps about one CPU core busy.
* **Resume.** Each finished run is saved at once. A saved record whose ``config_sha256``
  equals the planned run's config is not trained again; a changed setting retrains.
* **Shards.** ``--shard K/N`` trains only the runs whose position in the plan is ``K-1``
  modulo ``N`` (a pure function of the plan) and saves them to
  ``<name>.shard-K-of-N.json`` in the shared workdir, so shards never write the same
  file. Whichever invocation finds every run of the plan done (the last shard to finish,
  ``--report_only``, or the command without ``--shard``) merges the records files into
  ``<name>.json`` and writes the report and plots exactly as a one-machine run does.

Every run is a pure function of its config (the seed fixes init and data order), so the
records do not depend on ``--jobs`` or ``--shard`` (tested); only ``wall_s`` does.

A sweep config (``experiments/configs/<experiment>.py``, big_vision style)::

    def get_config(size="standard"):               # "tiny" | "quick" | "standard"
        c = ml_collections.ConfigDict()
        c.size = size
        c.seeds = 1 if size == "tiny" else 3         # the sweep's axes ...
        c.models = ("rnn", "lstm")                   # ... which of model_defs run
        c.model_defs = dict(rnn=dict(cell="rnn"), lstm=dict(cell="lstm", chrono=True))
        c.train = lstmjax.schema.default_config()    # the one defaults table
        c.train.steps = 4 if size == "tiny" else 600 # only what differs from it
        return c

The experiment's ``plan`` turns it into runs: ``train_config(config.train, seed=...,
data=..., model=...)`` per point of the axes. A record (:func:`record`) holds the run's
coordinates, ``status``, ``steps_run`` / ``steps_budget``, ``solved`` /
``steps_to_solve``, ``validation`` and ``test`` (the whole splits at the last step, each
with its ``examples`` count), ``curve`` (the periodic validations on a fixed sample of
``curve_examples``), ``params_sha256``, ``wall_s`` and the complete train ``config``.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import functools
import glob
import hashlib
import json
import multiprocessing
import os
import sys
import time
from typing import Any, Callable, Mapping, Sequence

import jax
from absl import flags
from ml_collections import config_flags

from experiments import report
from lstmjax import data, schema, step, train

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
SIZES = ("tiny", "quick", "standard")
# record fields that depend on the machine and the moment, not on the config
WALL_CLOCK = ("wall_s",)


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep.

    ``name`` is unique within the plan (``"distant_recall/lstm/gap=10/seed=0"``) and names
    the run's directory when it has one; ``config`` is the complete ``lstmjax.train``
    config (a plain nested dict); ``fields`` are the run's coordinates in the sweep
    (task, model, gap, seed, ...), copied into its record.
    """

    name: str
    config: dict
    fields: dict

    @property
    def config_sha256(self) -> str:
        return config_sha256(self.config)


def config_sha256(config: Mapping) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def names(value) -> list[str]:
    """A tuple-of-names config field as a list; ``--config.models=rnn,lstm`` arrives as the
    one string ``"rnn,lstm"`` inside a tuple, so elements are split at commas."""
    items = [value] if isinstance(value, str) else list(value)
    return [n.strip() for item in items for n in str(item).split(",") if n.strip()]


def check_names(field: str, given: Sequence[str], accepted) -> list[str]:
    """``given`` (see :func:`names`), each one of ``accepted``; ValueError naming the field."""
    given = names(given)
    unknown = [n for n in given if n not in accepted]
    if unknown:
        raise ValueError(f"config.{field}: unknown {unknown}; accepted: {list(accepted)}")
    return given


def train_config(base, *, seed: int, data: Mapping | None = None,
                 model: Mapping | None = None, **fields) -> dict:
    """A complete train config: ``base`` (the sweep config's ``train`` section) with the
    run's seed, data section (replaced whole), model fields and top-level fields."""
    cfg = copy.deepcopy(schema.to_dict(base))
    cfg["seed"] = int(seed)
    if data is not None:
        cfg["data"] = dict(schema.to_dict(data))
    cfg["model"].update(schema.to_dict(model or {}))
    for key, value in fields.items():
        if key not in cfg:
            raise ValueError(f"train config has no field {key!r}")
        cfg[key] = value
    return cfg


def max_length(data_cfg: Mapping) -> int:
    """The longest sequence of a task (what chrono initialization is set to)."""
    return int(data.make_source(dict(data_cfg), "validation")[0].max_length)


def resolve_model(variant: Mapping, data_cfg: Mapping) -> dict:
    """Model fields of a sweep variant: ``chrono: True`` becomes ``chrono_max_len`` = the
    task's longest sequence (at least 3), as in Tallec & Ollivier (2018)."""
    fields = dict(schema.to_dict(variant))
    if fields.pop("chrono", False):
        fields["chrono_max_len"] = float(max(max_length(data_cfg), 3))
    return fields


# --------------------------------------------------------------------------- one run


def _metrics(rec: Mapping | None) -> dict | None:
    return None if rec is None else {k: v for k, v in rec.items()
                                     if k not in ("step", "split", "params_of_step",
                                                  "full_split")}


def record(run: Run, summary: Mapping | None, wall_s: float, *, status: str | None = None,
           steps_run: int | None = None) -> dict:
    """A run's record: its coordinates, what happened, and the numbers with their splits.

    ``validation`` / ``test``: the whole validation / test split at the last step (with
    ``examples``, the number of examples they cover); ``curve``: the periodic validations
    (``curve_examples`` examples each, the sample that decides ``steps_to_solve``).
    """
    summary = summary or {}
    history = summary.get("history") or []
    periodic = [h for h in history if h["split"] == "validation" and not h.get("full_split")]
    curve = [{k: h[k] for k in ("step", "loss", *step.METRICS) if k in h} for h in periodic]
    return {
        "run": run.name, **run.fields,
        "status": status or summary["status"],
        "steps_run": summary.get("step", steps_run),
        "steps_budget": run.config["steps"],
        "solved": bool(summary.get("solved", False)),
        "steps_to_solve": summary.get("steps_to_solve"),
        "solve": {"metric": run.config["solve_metric"],
                  "threshold": run.config["solve_threshold"]},
        "validation": _metrics(summary.get("final_eval")),
        "test": _metrics(summary.get("test")),
        "curve": curve,
        "curve_examples": periodic[-1]["examples"] if periodic else None,
        "wall_s": round(wall_s, 2),
        "num_params": summary.get("num_params"),
        "params_sha256": summary.get("params_sha256"),
        "chance": summary.get("chance"),
        "baseline_loss": summary.get("baseline_loss"),
        "config_sha256": run.config_sha256,
        "config": run.config,
    }


def train_run(run: Run, ctx: Mapping, *, keep: bool = False):
    """``train.run`` on one run (``ctx["run_dirs"]``: in ``<workdir>/<run.name>`` with
    checkpoints, else in memory); returns ``(record, summary)``. A NaN/Inf loss ends the
    run with ``status="non_finite"`` and no metrics, never the sweep."""
    t0 = time.time()
    workdir = os.path.join(ctx["workdir"], run.name) if ctx.get("run_dirs") else None
    try:
        summary = train.run(run.config, workdir, progress=bool(ctx.get("progress")),
                            plots=None if workdir else False, data_dir=ctx.get("data_dir"),
                            handle_sigint=bool(workdir))
    except train.NonFiniteLossError as e:
        return record(run, None, time.time() - t0, status="non_finite", steps_run=e.step), None
    rec = record(run, summary, time.time() - t0)
    return rec, (summary if keep else None)


def execute(run: Run, ctx: Mapping) -> dict:
    """The default: train the run and return its record."""
    return train_run(run, ctx)[0]


# --------------------------------------------------------------------------- many runs


def run_plan(plan: Sequence[Run], execute_one: Callable[[Run], dict], *,
             done: Mapping[str, dict], jobs: int = 1,
             save: Callable[[list[dict]], None] | None = None,
             describe: Callable[[Run, dict], str] | None = None) -> list[dict]:
    """``execute_one(run)`` for every run of ``plan`` not in ``done`` (by name); returns
    the records of the whole plan, in plan order.

    ``jobs > 1`` trains that many runs at once in spawned worker processes; the records
    are the same as with ``jobs=1`` (tested). ``save(records)`` is called after each
    finished run with everything finished so far, in plan order (resume).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    results = {name: r for name, r in done.items()}
    todo = [r for r in plan if r.name not in results]
    index = {r.name: n for n, r in enumerate(plan, 1)}

    def finished(run: Run, rec: dict):
        results[run.name] = rec
        if save is not None:
            save([results[r.name] for r in plan if r.name in results])
        if describe is not None:
            report.log(f"[{index[run.name]}/{len(plan)}] {describe(run, rec)}")

    if jobs == 1 or len(todo) <= 1:
        for run in todo:
            finished(run, execute_one(run))
    else:
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(execute_one, run): run for run in todo}
            for fut in concurrent.futures.as_completed(futures):
                finished(futures[fut], fut.result())
    return [results[r.name] for r in plan]


def describe(run: Run, rec: dict) -> str:
    """One progress line: the run, its headline test metric, the solve step, wall time."""
    test = rec.get("test") or {}
    metric = next((m for m in ("accuracy", "recall_accuracy", "r2", "loss") if m in test), None)
    value = (f"test {metric}={test[metric]:.4f}" if metric else f"status={rec['status']}")
    return f"{run.name}: {value} solved@{rec['steps_to_solve']} ({rec['wall_s']:.0f} s)"


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; ValueError naming the accepted form."""
    try:
        k, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise ValueError(f"--shard: expected K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")
    return k, n


def shard_of(plan: Sequence[Run], k: int, n: int) -> list[Run]:
    """Shard k of n (1-based): every n-th run of the plan, starting at run k."""
    return [r for i, r in enumerate(plan) if i % n == k - 1]


def shard_path(workdir: str, name: str, k: int, n: int) -> str:
    return os.path.join(workdir, f"{name}.shard-{k}-of-{n}.json")


def load_done(workdir: str, name: str, plan: Sequence[Run]) -> dict[str, dict]:
    """Finished records of ``plan`` found in the workdir (``<name>.json`` and every
    ``<name>.shard-*.json``), kept only where the saved config equals the planned one."""
    want = {r.name: r.config_sha256 for r in plan}
    paths = [os.path.join(workdir, f"{name}.json")]
    paths += sorted(glob.glob(os.path.join(workdir, f"{name}.shard-*-of-*.json")),
                    key=os.path.getmtime)
    done: dict[str, dict] = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        for rec in report.read_records(path):
            if want.get(rec.get("run")) == rec.get("config_sha256") is not None:
                done[rec["run"]] = rec
    return done


def jobs_value(text: str) -> int | str:
    """``--jobs``: 'auto' or an integer >= 1 (ValueError saying so)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--jobs: expected 'auto' or an integer >= 1, got {text!r}")
    return value


def resolve_jobs(jobs: int | str, size: str) -> int:
    """``--jobs auto``: 1 for the tiny size (a worker's start costs more than its work) and
    on accelerators (one device is best fed by one process); on a CPU backend one worker per
    core, at most 8 (measured on 2 cores: two workers train 1.6x as many runs per minute)."""
    if jobs != "auto":
        return int(jobs)
    if size == "tiny" or jax.default_backend() != "cpu":
        return 1
    return min(8, os.cpu_count() or 1)


# --------------------------------------------------------------------------- command line


def parse_flags(name: str, doc: str, argv: Sequence[str] | None, *, sweep: bool = True,
                extra: Callable[[flags.FlagValues], None] | None = None) -> flags.FlagValues:
    """The experiment's flags, parsed into a fresh ``FlagValues`` (so ``main`` can be
    called many times in one process). Bad flags exit with status 2 and one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    full = [f"experiments.{name}"] + argv
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", os.path.join(CONFIGS, f"{name}.py") + ":standard",
        f"Sweep config file, with the size after ':' ({' | '.join(SIZES)}); fields "
        "overridable as --config.<field>=<value>.", flag_values=fv, lock_config=True,
        sys_argv=full)
    flags.DEFINE_string("workdir", f"runs/{name}", "Output directory (records, report, "
                        "plots); rerunning in it resumes.", flag_values=fv)
    flags.DEFINE_bool("resume", True, "Skip runs whose records (same config) are in the "
                      "workdir; --noresume trains everything again.", flag_values=fv)
    if sweep:
        flags.DEFINE_string("jobs", "auto", "Runs trained at once in worker processes: "
                            "'auto' (one per CPU core, at most 8, on a CPU backend; 1 for "
                            "the tiny size and on accelerators) or N. The records do not "
                            "depend on it.", flag_values=fv)
        flags.DEFINE_string("shard", "1/1", "K/N: train only shard K of N of the runs "
                            "(every N-th run of the plan) into the shared workdir.",
                            flag_values=fv)
        flags.DEFINE_bool("report_only", False, "Train nothing: merge the records of all "
                          "shards in the workdir and write the report.", flag_values=fv)
    if extra is not None:
        extra(fv)
    if "--help" in argv or "-h" in argv or "--helpfull" in argv:
        print(doc + "\nFlags:\n" + fv.get_help(), flush=True)
        raise SystemExit(0)
    try:
        rest = fv(full)
        if len(rest) > 1:
            raise flags.Error(f"unexpected arguments: {rest[1:]}")
        if sweep:
            jobs_value(fv.jobs)
            parse_shard(fv.shard)
        if fv.config is None:
            raise flags.Error("--config is required")
        size = fv.config.get("size")
        sizes = tuple(fv.config.get("sizes", SIZES))  # a config may offer more (gap_sweep: demo)
        if size not in sizes:
            raise flags.Error(f"--config: size {size!r} is not one of {sizes} (give it after "
                              f"':', e.g. experiments/configs/{name}.py:quick)")
    except (flags.Error, ValueError, TypeError, AttributeError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return fv


def main(name: str, doc: str, argv: Sequence[str] | None, *,
         plan: Callable[[Any, dict], list[Run]],
         make_report: Callable[[list[dict], Any, str], tuple[list[str], list[str]]],
         execute_one: Callable[[Run, dict], dict] = execute,
         finish: Callable[[list[dict], Any], list[dict]] | None = None,
         extra_flags: Callable[[flags.FlagValues], None] | None = None,
         context: Callable[[flags.FlagValues], dict] | None = None) -> str | None:
    """Parse the flags, plan, train this invocation's share, and report when complete.

    ``plan(config, ctx)`` -> the runs; ``execute_one(run, ctx)`` -> a record (in a worker
    process: a module-level function); ``finish(records, config)`` -> the records to report
    (e.g. alias variants filled in); ``make_report(records, config, workdir)`` ->
    (Markdown sections, files written). ``ctx`` is a plain dict: ``workdir`` (absolute),
    ``size`` and what ``context(flags)`` adds. Returns the report's path, or None when a
    shard finished its share while other shards' runs are still missing.
    """
    fv = parse_flags(name, doc, argv, extra=extra_flags)
    config = fv.config
    size = config.size
    argv = list(sys.argv[1:] if argv is None else argv)
    workdir = os.path.abspath(fv.workdir)
    os.makedirs(workdir, exist_ok=True)
    ctx = {"workdir": workdir, "size": size, **(context(fv) if context else {})}
    res = report.Results(workdir, name, mode=size, settings=config.to_dict(),
                         command=report.command_line(argv, f"experiments.{name}"))
    try:
        runs = plan(config, ctx)
    except (ValueError, TypeError) as e:  # a config the plan cannot use: say which field
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: the plan names a run twice: "
                         f"{sorted(n for n in set(names) if names.count(n) > 1)}")
    k, n = parse_shard(fv.shard)
    done = load_done(workdir, name, runs) if fv.resume else {}
    trained: set[str] = set()
    if not fv.report_only:
        mine = shard_of(runs, k, n)
        path = res.records_path if n == 1 else shard_path(workdir, name, k, n)
        own = {r.name: done[r.name] for r in mine if r.name in done}
        trained = {r.name for r in mine if r.name not in own}
        fresh = run_plan(mine, functools.partial(execute_one, ctx=ctx), done=own,
                         jobs=resolve_jobs(jobs_value(fv.jobs), size),
                         save=functools.partial(report.write_records, path),
                         describe=describe)
        done = {**(load_done(workdir, name, runs) if fv.resume else done),
                **{r.name: rec for r, rec in zip(mine, fresh)}}
    missing = [r.name for r in runs if r.name not in done]
    if missing and n > 1 and not fv.report_only:
        report.log(f"{name}: shard {k}/{n} done ({len(shard_of(runs, k, n))} runs); "
                   f"{len(missing)} of {len(runs)} runs of the sweep are still missing "
                   "(other shards). The last shard to finish writes the report, or run "
                   "the same command with --report_only.")
        return None
    records = [done[r.name] for r in runs if r.name in done]
    if finish is not None:
        records = finish(records, config)
    res.write_records(records)
    resumed = sum(r.name in done and r.name not in trained for r in runs)
    notes = report.resumed_note(records, resumed)
    if missing:
        res.meta["missing_runs"] = missing
        notes = [f"**Incomplete:** {len(missing)} of {len(runs)} runs have no record yet "
                 f"(e.g. `{missing[0]}`); the tables cover the rest.", ""] + notes
    if resumed:
        res.meta["resumed_runs"] = resumed
    sections, files = make_report(records, config, workdir)
    path = res.finish(notes + sections, files)
    report.log(f"{name} ({size}): report {path}\n  records: {res.records_path}"
               + ("\n  plots: " + ", ".join(os.path.join(workdir, f) for f in files)
                  if files else ""))
    return path
