"""One generic sweep: a config whose axes expand to train configs, each run by ``train.run``.

    python -m experiments.sweep --config experiments/configs/gap_sweep.py:quick \\
        --workdir runs/gap_sweep [--jobs auto] [--shard K/N] [--report_only] \\
        [--config.sweep.gap=10,100 --config.sweep.seeds=5 --config.steps=1000 ...]

A sweep config is a **train config** (``lstmjax.schema.default_config()`` with what the
experiment changes) plus one ``sweep`` section that says which runs to make and how to
report them (``experiments/configs/gap_sweep.py`` is the example to read)::

    c = default_config()                      # the train config every run starts from
    c.steps = 600                             # ... only what differs from the defaults
    c.sweep = dict(
        name="gap_sweep", size="quick",       # records <name>.json, report <name>.md
        axes=("gap", "model"),                # the axes, outermost first; seed is innermost
        gap=(10, 30, 100), model=("rnn", "lstm"), seeds=3,   # the values swept
        set=dict(gap="data.gap",              # a value goes into that train-config field
                 model=dict(rnn=dict(model=dict(cell="rnn")),          # a label's overrides
                            lstm=dict(model=dict(cell="lstm", chrono=True)))),
        aliases=dict(),                       # axis -> {label: twin label}: trained once
        run_dirs=False,                       # True: each run in <workdir>/<run>, checkpoints
        report=dict(views=(...), headline=(...)))   # experiments/report.py

Expansion (:func:`expand`) is the product of the axes' values and the seeds; a run's train
config is the base config with each axis applied: a field path gets the value, a label
merges its overrides (a ``data`` section that names a task replaces the data section
whole; ``model.chrono: True`` becomes ``chrono_max_len`` = the task's longest sequence, as
in Tallec & Ollivier 2018; a ``record`` entry adds fields to the run's record instead).
Each run is named by its coordinates (``gap=10/model=rnn/seed=0``); its record
(:func:`record`) holds them as fields.

The machinery is the same for every sweep:

* **Jobs.** ``--jobs N`` trains N runs at once in *spawned* worker processes (a forked JAX
  runtime can deadlock); ``auto`` is one per core on a CPU backend, at most 8.
* **Resume.** Each finished run is saved at once. A saved record whose ``config_sha256``
  equals the planned run's config is not trained again; a changed setting retrains. With
  ``run_dirs`` a run interrupted mid-way continues from its latest checkpoint.
* **Shards.** ``--shard K/N`` trains only the runs whose position in the plan is ``K-1``
  modulo ``N`` and saves them to ``<name>.shard-K-of-N.json`` in the shared workdir.
  Whichever invocation finds every run done (the last shard, ``--report_only``, or the
  command without ``--shard``) merges the records into ``<name>.json`` and writes the
  report and plots exactly as a one-machine run does.

Every run is a pure function of its config (the seed fixes init and data order), so the
records do not depend on ``--jobs`` or ``--shard`` (tested); only ``wall_s`` does.
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import functools
import glob
import hashlib
import itertools
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
from lstmjax import data, device_step, schema, train
from lstmjax.gates import PRESETS

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
# record fields that depend on the machine and the moment, not on the config
WALL_CLOCK = ("wall_s", "s_per_step")


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of a sweep: ``name`` (unique in the plan, the run directory's name
    when it has one), the complete train ``config`` (a plain nested dict) and ``fields``,
    its coordinates in the sweep, copied into its record."""

    name: str
    config: dict
    fields: dict

    @property
    def config_sha256(self) -> str:
        return config_sha256(self.config)


def config_sha256(config: Mapping) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def same_config(record: Mapping, config: Mapping) -> bool:
    """Whether a saved record was made with ``config``: its ``config_sha256`` matches, or
    its saved config does once the model fields added since (at their off value,
    ``schema.without_added_off``) are left out of both."""
    if record.get("config_sha256") == config_sha256(config):
        return True
    saved = record.get("config")
    return isinstance(saved, Mapping) and config_sha256(schema.without_added_off(saved)) == \
        config_sha256(schema.without_added_off(config))


# --------------------------------------------------------------------------- expansion


def _scalar(v):
    """A label from the command line as the number it spells, else as it is."""
    if isinstance(v, str):
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
    return v


def labels(value) -> list:
    """An axis's values as a list: ``--config.sweep.model=rnn,lstm`` arrives as one string
    (or a tuple holding one), so strings are split at commas; numbers stay numbers."""
    items = [value] if isinstance(value, (str, int, float)) else list(value)
    out = []
    for item in items:
        parts = str(item).split(",") if isinstance(item, str) else [item]
        out += [_scalar(p.strip()) if isinstance(p, str) else p for p in parts
                if not isinstance(p, str) or p.strip()]
    return out


def max_length(data_cfg: Mapping) -> int:
    """The longest sequence of a task (what chrono initialization is set to)."""
    return int(data.make_source(dict(data_cfg), "validation")[0].max_length)


def _merge(cfg: dict, over: Mapping, fields: dict, where: str) -> None:
    for key, value in schema.to_dict(over).items():
        if key == "record":
            fields.update(value)
        elif key == "data" and isinstance(value, Mapping) and "name" in value:
            cfg["data"] = dict(value)
        elif isinstance(value, Mapping):
            if not isinstance(cfg.get(key), dict):
                raise ValueError(f"{where}: {key!r} is not a section of the train config")
            _merge(cfg[key], value, fields, f"{where}.{key}")
        else:
            cfg[key] = value


def _set_path(cfg: dict, path: str, value, where: str) -> None:
    *head, last = path.split(".")
    node = cfg
    for key in head:
        if not isinstance(node.get(key), dict):
            raise ValueError(f"{where}: the train config has no section {key!r} ({path!r})")
        node = node[key]
    node[last] = value


def train_config(base, *, seed: int, data: Mapping | None = None,
                 model: Mapping | None = None, **fields) -> dict:
    """A complete train config: ``base`` with the run's seed, data section (replaced
    whole), model fields and top-level fields (``chrono`` resolved, :func:`expand`)."""
    cfg = copy.deepcopy(schema.to_dict(base))
    cfg.pop("sweep", None)
    cfg["seed"] = int(seed)
    if data is not None:
        cfg["data"] = dict(schema.to_dict(data))
    cfg["model"].update(schema.to_dict(model or {}))
    for key, value in fields.items():
        if key not in cfg:
            raise ValueError(f"train config has no field {key!r}")
        cfg[key] = value
    return _resolve_chrono(cfg)


def _resolve_chrono(cfg: dict) -> dict:
    if cfg["model"].pop("chrono", False):
        cfg["model"]["chrono_max_len"] = float(max(max_length(cfg["data"]), 3))
    return cfg


def resolve_model(variant: Mapping, data_cfg: Mapping) -> dict:
    """Model fields of a variant: ``chrono: True`` becomes ``chrono_max_len`` = the task's
    longest sequence (at least 3)."""
    fields = dict(schema.to_dict(variant))
    if fields.pop("chrono", False):
        fields["chrono_max_len"] = float(max(max_length(data_cfg), 3))
    return fields


def axes(config) -> list[tuple[str, list]]:
    """``[(axis, values)]`` of a sweep config, outermost first, the seeds last."""
    sw = config.sweep
    out = []
    for axis in labels(sw.axes):
        if axis not in sw or axis not in sw.set:
            raise ValueError(f"config.sweep.axes: axis {axis!r} needs config.sweep.{axis} "
                             f"(its values) and config.sweep.set.{axis}")
        setting = sw.set[axis]
        vals = labels(sw[axis])
        if not isinstance(setting, str):
            unknown = [v for v in vals if str(v) not in setting]
            if unknown:
                raise ValueError(f"config.sweep.{axis}: unknown {unknown}; accepted: "
                                 f"{sorted(setting)}")
        out.append((axis, vals))
    if not int(sw.seeds) >= 1:
        raise ValueError(f"config.sweep.seeds={sw.seeds!r} must be >= 1")
    return out + [("seed", list(range(int(sw.seeds))))]


def expand(config) -> list[Run]:
    """Every point of the sweep's axes as a :class:`Run` (see the module doc)."""
    base = schema.to_dict(config)
    base.pop("sweep")
    sw = config.sweep
    grid = axes(config)
    runs = []
    for point in itertools.product(*(vals for _, vals in grid)):
        cfg, fields = copy.deepcopy(base), {}
        for (axis, _), label in zip(grid, point):
            fields[axis] = label
            if axis == "seed":
                cfg["seed"] = int(label)
                continue
            setting = sw.set[axis]
            if isinstance(setting, str):
                _set_path(cfg, setting, label, f"config.sweep.set.{axis}")
            else:
                _merge(cfg, setting[str(label)], fields, f"config.sweep.set.{axis}.{label}")
        name = "/".join(f"{axis}={label}" for (axis, _), label in zip(grid, point))
        runs.append(Run(name, _resolve_chrono(cfg), fields))
    return runs


def num_params(cfg: Mapping) -> int:
    """The parameter count of a train config's model on its task (shapes only, no init
    compute): what a parameter-matched sweep checks."""
    from lstmjax import models
    spec = data.make_source(dict(cfg["data"]), "validation")[0]
    model = models.from_task(spec, **schema.resolve_config(cfg)["model"])
    shapes = jax.eval_shape(lambda: models.init(jax.random.PRNGKey(0), model))
    return models.num_params(shapes)


def _canonical(cfg: dict) -> dict:
    """A train config with its gate preset name replaced by the preset (``np`` and
    ``standard`` are one configuration in lstmjax)."""
    out = copy.deepcopy(cfg)
    out["model"]["gates"] = repr(PRESETS.get(out["model"].get("gates", "standard")))
    return out


def aliased(config, runs: Sequence[Run]) -> dict[str, tuple[str, str]]:
    """``{run name: (twin run name, twin label)}`` for the runs of an alias label (``config.sweep.
    aliases``: axis -> {label: twin}) whose twin is swept: trained once, the record copied
    (ValueError when the two are not the same model)."""
    out = {}
    by_name = {r.name: r for r in runs}
    for axis, pairs in (config.sweep.get("aliases") or {}).items():
        for alias, twin in pairs.items():
            for r in runs:
                if str(r.fields.get(axis)) != alias:
                    continue
                twin_name = r.name.replace(f"{axis}={alias}", f"{axis}={twin}")
                if twin_name not in by_name:
                    continue
                if _canonical(r.config) != _canonical(by_name[twin_name].config):
                    raise ValueError(f"config.sweep.aliases.{axis}: {alias!r} and {twin!r} "
                                     "are not the same model")
                out[r.name] = (twin_name, twin)
    return out


def copy_alias(rec: dict, run: Run, twin: str) -> dict:
    """The twin's record as the alias run's (``alias_of``: the twin's label)."""
    return {**rec, **run.fields, "run": run.name, "alias_of": twin, "wall_s": 0.0}


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
    curve = [{k: h[k] for k in ("step", "loss", *device_step.METRICS) if k in h} for h in periodic]
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
    """Train the run and return its record. With ``ctx["run_dirs"]`` the run trains (or
    continues from its latest checkpoint) in ``<workdir>/<run.name>``, its wall time summed
    over invocations (``wall_time.json`` there), and an interrupted run (Ctrl-C saves a
    checkpoint) stops the sweep with the command to resume."""
    if not ctx.get("run_dirs"):
        return train_run(run, ctx)[0]
    rundir = os.path.join(ctx["workdir"], run.name)
    wall_path = os.path.join(rundir, "wall_time.json")
    before = 0.0
    if os.path.exists(wall_path):
        with open(wall_path) as f:
            before = float(json.load(f)["wall_s"])
    rec = train_run(run, ctx)[0]
    wall = before + rec["wall_s"]
    os.makedirs(rundir, exist_ok=True)
    with open(wall_path, "w") as f:
        json.dump({"wall_s": wall}, f)
    if rec["status"] == "interrupted":
        raise KeyboardInterrupt(f"{run.name}: interrupted at step {rec['steps_run']}; rerun "
                                "the same command to resume")
    return {**rec, "wall_s": round(wall, 1),
            "s_per_step": round(wall / max(rec["steps_run"] or 1, 1), 4), "rundir": run.name}


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
        pool = concurrent.futures.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx)
        queued = iter(todo)
        # a run is submitted only when a worker is free: the executor would otherwise hold
        # queued runs of its own that no cancel reaches once handed to a worker
        running = {pool.submit(execute_one, run): run for run in itertools.islice(queued, jobs)}
        try:
            while running:
                ended, _ = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED)
                for fut in ended:
                    finished(running.pop(fut), fut.result())
                    run = next(queued, None)
                    if run is not None:
                        running[pool.submit(execute_one, run)] = run
        except BaseException:
            # Ctrl-C (the sweep's or a worker's) or a failed run: no further run starts;
            # the runs in flight end (Ctrl-C saves them) and those that finish are recorded
            pool.shutdown(wait=True, cancel_futures=True)
            for fut, run in running.items():
                if not fut.cancelled() and fut.exception() is None:
                    finished(run, fut.result())
            raise
        pool.shutdown(wait=True)
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
    ``<name>.shard-*.json``), kept only where the saved config equals the planned one
    (model fields added since it was saved, at their off value, do not count:
    ``schema.without_added_off``)."""
    want = {r.name: r.config for r in plan}
    paths = [os.path.join(workdir, f"{name}.json")]
    paths += sorted(glob.glob(os.path.join(workdir, f"{name}.shard-*-of-*.json")),
                    key=os.path.getmtime)
    done: dict[str, dict] = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        for rec in report.read_records(path):
            if rec.get("run") in want and same_config(rec, want[rec["run"]]):
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


def parse_flags(name: str | None, doc: str, argv: Sequence[str] | None, *, sweep: bool = True,
                extra: Callable[[flags.FlagValues], None] | None = None,
                sizes: Sequence[str] | None = None) -> flags.FlagValues:
    """The flags, parsed into a fresh ``FlagValues`` (so ``main`` can be called many times
    in one process). Bad flags exit with status 2 and one line. ``name``: the script whose
    config file is the default (None: ``--config`` is required)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    full = [f"experiments.{name or 'sweep'}"] + argv
    fv = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", os.path.join(CONFIGS, f"{name}.py") + ":standard" if name else None,
        "Sweep config file, with its argument after ':' (e.g. a size: tiny | quick | "
        "standard); fields overridable as --config.<field>=<value>.", flag_values=fv,
        lock_config=True, sys_argv=full)
    flags.DEFINE_string("workdir", None, "Output directory (records, report, plots); "
                        "rerunning in it resumes. Default: runs/<sweep name>.", flag_values=fv)
    flags.DEFINE_bool("resume", True, "Skip runs whose records (same config) are in the "
                      "workdir; --noresume trains everything again.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "TFDS data dir (IMDB, MNIST).", flag_values=fv)
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
            raise flags.Error("--config is required (e.g. "
                              "--config experiments/configs/gap_sweep.py:quick)")
        if sizes is not None and fv.config.get("size") not in sizes:
            raise flags.Error(f"--config: size {fv.config.get('size')!r} is not one of "
                              f"{tuple(sizes)}")
        if name is None:
            if "sweep" not in fv.config:
                raise flags.Error("--config: not a sweep config (it has no `sweep` section; "
                                  "a single training run is `python -m lstmjax train`)")
            axes(fv.config)
    except (flags.Error, ValueError, TypeError, AttributeError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return fv


def main(name: str | None = None, doc: str = __doc__, argv: Sequence[str] | None = None, *,
         plan: Callable[[Any, dict], list[Run]] | None = None,
         make_report: Callable[[list[dict], Any, str], tuple[list[str], list[str]]] | None = None,
         execute_one: Callable[[Run, dict], dict] | None = None,
         finish: Callable[[list[dict], Any], list[dict]] | None = None,
         extra_flags: Callable[[flags.FlagValues], None] | None = None,
         context: Callable[[flags.FlagValues], dict] | None = None) -> str | None:
    """Parse the flags, plan, train this invocation's share, and report when complete.

    With no arguments but ``argv`` this is ``python -m experiments.sweep``: the plan is
    :func:`expand` of the config, each run :func:`execute`, the report
    :func:`experiments.report.render` of the config's ``sweep.report``. A script with a
    truly specific step (``experiments.gates``: probes after training) passes its own
    ``plan(config, ctx)``, ``execute_one(run, ctx)`` (module-level: it may run in a
    worker), ``make_report(records, config, workdir) -> (sections, files)`` and
    ``finish(records, config)``. Returns the report's path, or None when a shard finished
    its share while other shards' runs are still missing.
    """
    fv = parse_flags(name, doc, argv, extra=extra_flags)
    config = fv.config
    generic = "sweep" in config  # a sweep config; else a script's own (experiments.gates)
    label = config.sweep.name if generic else name
    size = config.sweep.size if generic else config.size
    argv = list(sys.argv[1:] if argv is None else argv)
    workdir = os.path.abspath(fv.workdir or os.path.join("runs", label))
    os.makedirs(workdir, exist_ok=True)
    ctx = {"workdir": workdir, "size": size, "data_dir": fv.data_dir,
           "run_dirs": bool(generic and config.sweep.get("run_dirs")),
           "progress": bool(generic and config.sweep.get("run_dirs")) and size != "tiny",
           **(context(fv) if context else {})}
    module = f"experiments.{name or 'sweep'}"
    res = report.Results(workdir, label, mode=size, settings=config.to_dict(),
                         command=report.command_line(argv, module))
    try:
        runs = plan(config, ctx) if plan else expand(config)
        twins = aliased(config, runs) if generic else {}
    except (ValueError, TypeError) as e:  # a config the plan cannot use: say which field
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    run_names = [r.name for r in runs]
    if len(set(run_names)) != len(run_names):
        raise ValueError(f"{label}: the plan names a run twice: "
                         f"{sorted(n for n in set(run_names) if run_names.count(n) > 1)}")
    trainable = [r for r in runs if r.name not in twins]
    k, n = parse_shard(fv.shard)
    done = load_done(workdir, label, trainable) if fv.resume else {}
    trained: set[str] = set()
    if not fv.report_only:
        mine = shard_of(trainable, k, n)
        path = res.records_path if n == 1 else shard_path(workdir, label, k, n)
        own = {r.name: done[r.name] for r in mine if r.name in done}
        trained = {r.name for r in mine if r.name not in own}
        fresh = run_plan(mine, functools.partial(execute_one or execute, ctx=ctx), done=own,
                         jobs=resolve_jobs(jobs_value(fv.jobs), size),
                         save=functools.partial(report.write_records, path),
                         describe=describe)
        done = {**(load_done(workdir, label, trainable) if fv.resume else done),
                **{r.name: rec for r, rec in zip(mine, fresh)}}
    missing = [r.name for r in trainable if r.name not in done]
    if missing and n > 1 and not fv.report_only:
        report.log(f"{label}: shard {k}/{n} done ({len(shard_of(trainable, k, n))} runs); "
                   f"{len(missing)} of {len(trainable)} runs of the sweep are still missing "
                   "(other shards). The last shard to finish writes the report, or run "
                   "the same command with --report_only.")
        return None
    records = [done[r.name] if r.name in done else copy_alias(done[twins[r.name][0]], r,
                                                             twins[r.name][1])
               for r in runs if r.name in done or twins.get(r.name, ("",))[0] in done]
    if finish is not None:
        records = finish(records, config)
    res.write_records(records)
    resumed = sum(r.name in done and r.name not in trained for r in trainable)
    notes = report.resumed_note(records, resumed)
    if missing:
        res.meta["missing_runs"] = missing
        notes = report.incomplete_note(missing, len(trainable)) + notes
    if resumed:
        res.meta["resumed_runs"] = resumed
    if make_report is not None:
        sections, files = make_report(records, config, workdir)
    else:
        sections, files = report.render(records, config.sweep.report, workdir)
    path = res.finish(notes + sections, files)
    report.log(f"{label} ({size}): report {path}\n  records: {res.records_path}"
               + ("\n  plots: " + ", ".join(os.path.join(workdir, f) for f in files)
                  if files else ""))
    return path


if __name__ == "__main__":
    main(argv=sys.argv[1:])
