"""Shared pieces of the experiment scripts (gap sweep, ablation, sentiment, gates, adding).

* :func:`fit` trains one model with lstmjax's own train step (``lstmjax.train.train_step``,
  ``init_state``, ``make_optimizer``, the (seed, step)-pure data order of
  ``lstmjax.data.batches``) and adds what a sweep needs: periodic evaluation on a fixed
  held-out set, *steps to solve* (the first evaluation at or above a threshold) and early
  stopping once solved. Without early stopping it follows exactly the trajectory of
  ``lstmjax.train.run`` with the same config (same init, same batches; tested).
* :class:`Results` writes an experiment's outputs into its workdir: the records JSON (a
  list of flat dicts, easy to re-plot), ``meta.json`` (command, hardware, wall time,
  versions, git commit) and the Markdown report whose tables are generated from the
  records.
* Table and plotting helpers: mean ± std over seeds, lines with error bands, bars with
  error bars.

Everything here is deterministic given the seeds; wall-clock numbers live only in
``meta.json``, the per-run ``wall_s`` field and the report header.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import platform
import shlex
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lstmjax import data, models, runs, train

# --------------------------------------------------------------------------- training


@functools.lru_cache(maxsize=128)
def _compiled(model_config, opt_items: tuple, total_steps: int, tolerance):
    optimizer = train.make_optimizer(dict(opt_items), total_steps)
    one_step = functools.partial(train.train_step, model_config=model_config,
                                 optimizer=optimizer, tolerance=tolerance)
    step = jax.jit(lambda state, batch: one_step(state, batch, None))
    init = jax.jit(functools.partial(train.init_state, model_config=model_config,
                                     optimizer=optimizer))
    evaluate = jax.jit(functools.partial(_eval_sums, model_config=model_config,
                                         tolerance=tolerance))
    return init, step, evaluate


def _eval_sums(params, batch, *, model_config, tolerance):
    """Sums over one batch: loss, count, correct and, for per-step outputs, the correct
    count over the steps whose target is not 0 (copy memory: the recall steps)."""
    out = models.apply(params, model_config, batch["x"], batch["lengths"])
    loss_sum, count, correct = train.score(out, batch, model_config.output_kind, tolerance)
    sums = {"loss_sum": loss_sum, "count": count}
    if correct is not None:
        sums["correct"] = correct
    if model_config.output_kind == "classify_per_step":
        y = batch["y"]
        mask = batch.get("mask")
        if mask is None:
            mask = (jnp.arange(y.shape[1])[None, :] < batch["lengths"][:, None])
        target = (y != 0).astype(jnp.float32) * mask.astype(jnp.float32)
        hit = (jnp.argmax(out, -1) == y).astype(jnp.float32) * target
        sums["recall_correct"] = hit.sum()
        sums["recall_count"] = target.sum()
    if model_config.output_kind == "regress":
        sums["abs_err_sum"] = jnp.abs(out - batch["y"].astype(out.dtype)).sum()
    return sums


def prepare(batch: Mapping[str, np.ndarray], spec, pad_to_max: bool = True) -> dict:
    """x, y, lengths (, mask) as arrays; time padded to ``spec.max_length`` (one shape)."""
    return train.prepare_batch(batch, spec, "max_length" if pad_to_max else "batch")


def fit(config: Mapping, *, eval_every: int = 50, solve_metric: str = "accuracy",
        solve_threshold: float | None = None, stop_when_solved: bool = True,
        data_dir: str | None = None, keep_params: bool = False) -> dict:
    """Train one model; return a flat record of what happened.

    Args:
      config: a ``lstmjax.train`` config (dict or ConfigDict); ``steps`` is the budget.
        Evaluation uses ``eval_batches`` x ``eval_batch_size`` fixed validation examples.
      eval_every: evaluate every that many steps (and at the last step).
      solve_metric: the eval metric compared with ``solve_threshold`` ("accuracy",
        "recall_accuracy" for per-step tasks, ...).
      solve_threshold: a run is *solved* at the first evaluation with
        ``metric >= threshold``; ``None`` = never (no early stopping).
      stop_when_solved: stop training at that evaluation.
    Returns:
      ``{"status", "steps_run", "steps_to_solve" (None if unsolved), "solved", "wall_s",
      "eval": {metric: value at the last evaluation}, "history": [eval records],
      "params_sha256", "num_params"}`` (+ ``"params"``, ``"model_config"``, ``"spec"`` with
      ``keep_params``).
    """
    t0 = time.time()
    cfg = train.resolve_config(config)
    spec, train_src = data.make_source(cfg["data"], "train", data_dir=data_dir)
    _, val_src = data.make_source(cfg["data"], "validation", data_dir=data_dir)
    mcfg = models.from_task(spec, **cfg["model"])
    tolerance = getattr(spec, "tolerance", None) if spec.output_kind == "regress" else None
    init, step_fn, eval_fn = _compiled(mcfg, tuple(sorted(cfg["optimizer"].items())),
                                       cfg["steps"], tolerance)
    seed = cfg["seed"]
    state = init(np.int32(seed))
    pad_max = cfg["pad_to"] == "max_length"
    pad_to = int(spec.max_length) if pad_max else None
    train_ds = data.batches(train_src, batch_size=cfg["batch_size"],
                            seed=train.derived_seed(seed, train.DATA_STREAM), pad_to=pad_to)
    eval_bs = cfg["eval_batch_size"] or cfg["batch_size"]
    eval_ds = data.batches(val_src, batch_size=eval_bs, shuffle=True, pad_to=pad_to,
                           seed=train.derived_seed(seed, train.EVAL_STREAM))
    eval_batches = [prepare(eval_ds[i], spec, pad_max) for i in range(cfg["eval_batches"])]

    def evaluate(params) -> dict:
        totals: dict[str, float] = {}
        for b in eval_batches:
            for k, v in jax.device_get(eval_fn(params, b)).items():
                totals[k] = totals.get(k, 0.0) + float(v)
        out = {"loss": totals["loss_sum"] / totals["count"]}
        if "correct" in totals:
            out["accuracy"] = totals["correct"] / totals["count"]
        if totals.get("recall_count"):
            out["recall_accuracy"] = totals["recall_correct"] / totals["recall_count"]
        if "abs_err_sum" in totals:
            out["mean_abs_error"] = totals["abs_err_sum"] / totals["count"]
        return out

    history: list[dict] = []
    it = data.iterator(train_ds)
    status, solved_at, step, last = "completed", None, 0, None
    train_window: list[float] = []
    while step < cfg["steps"]:
        batch = prepare(next(it), spec, pad_max)
        state, m = step_fn(state, batch)
        step += 1
        loss = float(m["loss"])
        if not math.isfinite(loss):
            status = "non_finite"
            break
        train_window.append(loss)
        if step % eval_every == 0 or step == cfg["steps"]:
            last = {"step": step, **evaluate(state.params),
                    "train_loss": float(np.mean(train_window))}
            train_window = []
            history.append(last)
            if (solved_at is None and solve_threshold is not None
                    and last.get(solve_metric, -math.inf) >= solve_threshold):
                solved_at = step
                if stop_when_solved:
                    status = "solved_early" if step < cfg["steps"] else status
                    break
    if last is None or last["step"] != step:
        last = {"step": step, **evaluate(state.params)}
        history.append(last)
    record = {
        "status": status, "steps_run": step, "steps_budget": cfg["steps"],
        "steps_to_solve": solved_at, "solved": solved_at is not None,
        "wall_s": round(time.time() - t0, 2),
        "eval": {k: v for k, v in last.items() if k not in ("step", "train_loss")},
        "history": history,
        "params_sha256": runs.params_sha256(state.params),
        "num_params": models.num_params(state.params),
        "chance": getattr(spec, "chance", None), "baseline_loss": getattr(spec, "baseline_loss", None),
    }
    if keep_params:
        record.update(params=state.params, model_config=mcfg, spec=spec)
    return record


def task_config(name: str, **fields) -> dict:
    """A data config for a synthetic task with a fixed, seed-independent data set."""
    return {"name": name, "num_examples": 100_000, "num_eval_examples": 2_048, **fields}


def run_config(data_cfg: dict, *, seed: int, steps: int, batch_size: int = 64,
               learning_rate: float = 3e-3, eval_examples: int = 1024, **model) -> dict:
    """A ``lstmjax.train`` config: ``model`` holds the model fields (cell, gates, ...)."""
    eval_bs = min(256, eval_examples)
    return {"seed": seed, "steps": steps, "batch_size": batch_size,
            "eval_batch_size": eval_bs, "eval_batches": max(1, eval_examples // eval_bs),
            "data": data_cfg, "model": model,
            "optimizer": {"name": "adam", "learning_rate": learning_rate, "grad_clip": 1.0}}


def run_plan(plan: Sequence[tuple], run: Callable[..., dict], *, done: Mapping[tuple, dict],
             jobs: int = 1, save: Callable[[list[dict]], None] | None = None,
             describe: Callable[[tuple, dict], str] | None = None) -> list[dict]:
    """Run ``run(*key)`` for every key of ``plan`` that is not in ``done``; return the
    records of the whole plan, in plan order.

    Every run is a pure function of its key (its seed fixes init and data order), so the
    runs are independent: ``jobs > 1`` trains that many at once in worker processes. That
    is for CPUs, where one small-model run keeps only about one core busy; the records are
    the same as with ``jobs=1`` (tested). Workers are *spawned*, not forked, because a
    forked JAX runtime can deadlock. ``save(records)`` is called after each finished run
    with everything finished so far, so an interrupted sweep resumes from its records.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    results = dict(done)
    todo = [k for k in plan if k not in results]
    index = {k: n for n, k in enumerate(plan, 1)}

    def finished(key, record):
        results[key] = record
        if save is not None:
            save([results[k] for k in plan if k in results])
        if describe is not None:
            log(f"[{index[key]}/{len(plan)}] {describe(key, record)}")

    if jobs == 1 or len(todo) <= 1:
        for key in todo:
            finished(key, run(*key))
    else:
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx) as pool:
            futures = {pool.submit(run, *key): key for key in todo}
            for fut in concurrent.futures.as_completed(futures):
                finished(futures[fut], fut.result())
    return [results[k] for k in plan]


def resumed_note(records: Sequence[dict], resumed: int) -> list[str]:
    """Report lines saying how many runs an earlier invocation trained (empty if none)."""
    if not resumed:
        return []
    return [f"**Resumed:** {resumed} of {len(records)} runs were trained by an earlier "
            "invocation in this workdir with the same settings (the wall time above covers "
            "only this invocation); summed per-run wall time of all runs: "
            f"{sum(r['wall_s'] for r in records) / 60:.1f} min.", ""]


# --------------------------------------------------------------------------- results


def hardware() -> dict:
    """What the numbers were measured on (CPU model, cores, load, JAX devices)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "jax_backend": jax.default_backend(), "jax_devices": [str(d) for d in jax.devices()],
            "python": platform.python_version()}
    try:
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory_gb"] = round(kb / 2 ** 20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def command_line(argv: Sequence[str] | None = None, module: str | None = None) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = f"python -m {module}" if module else "python " + sys.argv[0]
    return " ".join([prog] + [shlex.quote(a) for a in argv])


class Results:
    """An experiment's output directory and its bookkeeping.

    ``meta.json``: experiment, mode, command, settings, hardware, start time, wall time,
    versions, git commit. ``<name>.json``: the records (list of flat dicts).
    ``<name>.md``: a header (command, hardware, wall time) and generated tables.
    """

    def __init__(self, workdir: str, name: str, *, mode: str, command: str, settings: dict):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.name, self.t0 = name, time.time()
        self.meta = {"experiment": name, "mode": mode, "command": command,
                     "settings": settings, "hardware": hardware(),
                     "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                         timespec="seconds"),
                     "versions": runs.versions(), "git_commit": runs.git_commit()}

    def path(self, filename: str) -> str:
        return os.path.join(self.workdir, filename)

    @property
    def records_path(self) -> str:
        return self.path(f"{self.name}.json")

    def write_records(self, records: list[dict]) -> None:
        with open(self.records_path, "w") as f:
            json.dump(runs.plain(records), f, indent=1, allow_nan=True)
            f.write("\n")

    def finish(self, sections: Sequence[str], files: Sequence[str] = ()) -> str:
        """Write meta.json and the Markdown report; return the report's path."""
        wall = time.time() - self.t0
        self.meta["wall_time_s"] = round(wall, 1)
        t = os.times()
        cpu = t.user + t.system + t.children_user + t.children_system
        self.meta["cpu_time_s"] = round(cpu, 1)  # the process's own CPU time (all threads)
        self.meta["files"] = [self.name + ".json", self.name + ".md", "meta.json", *files]
        runs.write_json(self.path("meta.json"), self.meta)
        hw = self.meta["hardware"]
        load = hw.get("load_average_at_start")
        header = [
            f"# {self.name}: {self.meta['mode']} mode",
            "",
            f"- command: `{self.meta['command']}`",
            f"- hardware: {hw['cpu']} ({hw['cpu_count']} cores"
            + (f", load average {load[0]} at start" if load else "") + f"), JAX backend "
            f"{hw['jax_backend']}",
            f"- wall time: {wall / 60:.1f} min ({wall:.0f} s), started {self.meta['started']}; "
            f"CPU time of this process {cpu / 60:.1f} min (the cores were shared when the "
            "load average exceeds the core count)",
            f"- git commit: {self.meta['git_commit']}; jax {self.meta['versions'].get('jax')}",
            f"- numbers: `{self.name}.json`; settings and hardware: `meta.json`",
            "",
        ]
        text = "\n".join(header + list(sections)) + "\n"
        path = self.path(f"{self.name}.md")
        with open(path, "w") as f:
            f.write(text)
        return path


def slim(record: dict) -> dict:
    """A run record without params/configs (what goes into JSON)."""
    return {k: v for k, v in record.items() if k not in ("params", "model_config", "spec")}


# --------------------------------------------------------------------------- tables


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int]:
    """(mean, population std, n) over the non-None values; (nan, nan, 0) if none."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return math.nan, math.nan, 0
    return float(np.mean(vals)), float(np.std(vals)), len(vals)


def fmt_mean_std(values: Iterable[float | None], scale: float = 1.0, digits: int = 1,
                 empty: str = "–") -> str:
    m, s, n = mean_std(values)
    if n == 0:
        return empty
    return f"{m * scale:.{digits}f} ± {s * scale:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def parse_markdown_table(text: str, first_cell: str) -> list[list[str]]:
    """The rows (cells stripped) of the table whose header starts with ``first_cell``."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            rows = [cells]
            for body in lines[k + 2:]:
                if not body.startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    raise ValueError(f"no table with first header cell {first_cell!r}")


def group(records: Iterable[dict], *keys: str) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in records:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


# --------------------------------------------------------------------------- plots


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_lines(path: str, series: Mapping[str, tuple[Sequence, Sequence, Sequence]], *,
               xlabel: str, ylabel: str, title: str = "", logx: bool = False,
               hline: float | None = None, hline_label: str = "", ylim=None,
               size=(7.0, 4.5), dpi: int = 100) -> None:
    """One line per series ``name -> (x, mean, std)`` with a ±std band."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=size)
    for name, (x, m, s) in series.items():
        x, m, s = (np.asarray(v, float) for v in (x, m, s))
        ax.plot(x, m, "o-", label=name, markersize=4)
        ax.fill_between(x, m - s, m + s, alpha=0.2)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle="--", linewidth=1, label=hline_label or None)
    if logx:
        ax.set_xscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def plot_bars(path: str, groups: Sequence[str], bars: Mapping[str, tuple[Sequence, Sequence]], *,
              ylabel: str, title: str = "", ylim=None, size=(10.0, 4.5), dpi: int = 100) -> None:
    """Grouped bars: ``bars[name] = (means per group, stds per group)`` with error bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=size)
    n = max(len(bars), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    # more bars than the default cycle's 10 colours would repeat colours: use tab20
    colors = plt.get_cmap("tab20").colors if n > 10 else [None] * n
    for k, (name, (m, s)) in enumerate(bars.items()):
        ax.bar(x + (k - (n - 1) / 2) * width, np.nan_to_num(np.asarray(m, float)), width,
               yerr=np.nan_to_num(np.asarray(s, float)), capsize=2, label=name,
               color=colors[k % len(colors)], error_kw={"elinewidth": 0.8})
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if n > 6:  # a long legend goes beside the axes, where it hides no bar
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7, ncol=n)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def parse_int_list(text: str) -> list[int]:
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


def parse_str_list(text: str) -> list[str]:
    return [v for v in str(text).replace(" ", "").split(",") if v]


def parse_choices(parser, flag: str, text: str, accepted) -> list[str]:
    """A comma list of names, each checked against ``accepted`` (argparse error otherwise)."""
    given = parse_str_list(text)
    bad = [x for x in given if x not in accepted]
    if bad:
        parser.error(f"{flag}: unknown {bad}; accepted: {list(accepted)}")
    return given


def argument_parser(doc: str, workdir: str, quick_help: str | None = None,
                    jobs: bool = False):
    """The parser every experiment starts from: --workdir and the --quick | --tiny modes
    (and ``--jobs`` for the sweeps that run through :func:`run_plan`)."""
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=workdir)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=quick_help)
    mode.add_argument("--tiny", action="store_true", help="seconds; for the tests")
    if jobs:
        p.add_argument("--jobs", type=jobs_arg, default="auto",
                       help="runs trained at once in worker processes; 'auto' (default): one "
                            "per CPU core (at most 8) on a CPU backend, else 1; --tiny: 1. "
                            "The records do not depend on it")
    return p


def jobs_arg(text: str) -> int | str:
    """argparse type of ``--jobs``: 'auto' or an integer >= 1 (the error says so)."""
    import argparse

    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {text!r}")
    return value


def resolve_jobs(jobs: int | str, mode: str) -> int:
    """``--jobs auto``: 1 in --tiny mode (seconds of work; a worker's start costs more) and
    on accelerators (one device is best fed by one process); on a CPU backend one worker per
    core, at most 8, because one small-model run keeps only about one core busy (measured
    on 2 cores: two workers train 1.6x as many runs per minute)."""
    if jobs != "auto":
        return int(jobs)
    if mode == "tiny" or jax.default_backend() != "cpu":
        return 1
    return min(8, os.cpu_count() or 1)


def steps_to_solve_cell(group: Sequence[dict]) -> str:
    """'mean steps (solved/seeds)' over a group of run records, or '> budget (0/n)'."""
    solved = [r["steps_to_solve"] for r in group if r["solved"]]
    if solved:
        return f"{mean_std(solved)[0]:.0f} ({len(solved)}/{len(group)})"
    return f"> {max((r['steps_budget'] for r in group), default=0)} (0/{len(group)})"


def mode_settings(args, modes: Mapping[str, dict], overrides: Sequence[str]) -> tuple[str, dict]:
    """(mode name, settings): the --tiny/--quick/standard preset, then the given flags."""
    mode = "tiny" if args.tiny else "quick" if args.quick else "standard"
    settings = dict(modes[mode])
    for key in overrides:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    return mode, settings


def log(msg: str) -> None:
    print(msg, flush=True)
