"""What the experiment scripts share for reporting: run bookkeeping, tables and plots.

* :class:`Results` writes an experiment's outputs into its workdir: the records JSON (a
  list of flat dicts, easy to re-plot), ``meta.json`` (command, hardware, wall time,
  versions, git commit, the sweep config) and the Markdown report whose tables are
  generated from the records.
* Tables: mean ± sample std with a bootstrap interval and N (:mod:`experiments.stats`),
  steps to solve as Kaplan-Meier medians, Markdown tables (and their parser, for the
  tests).
* Which split a number comes from: :func:`reported` (the whole test split; a record from
  before the test split was recorded gives its validation sample, labelled as such).
* Plots: lines with error bands, bars with error bars, survival curves of steps to solve
  (matplotlib, Agg backend).

Everything here is deterministic given the records; wall-clock numbers live only in
``meta.json``, the per-run ``wall_s`` field and the report header.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from typing import Any, Iterable, Mapping, Sequence

import jax
import numpy as np

from experiments import stats
from lstmjax import runs

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


def write_records(path: str, records: Sequence[dict]) -> None:
    """The records as indented JSON, written atomically (a reader never sees half a file:
    shards of one sweep read each other's records files)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(runs.plain(list(records)), f, indent=1, allow_nan=True)
        f.write("\n")
    os.replace(tmp, path)


def read_records(path: str) -> list[dict]:
    with open(path) as f:
        return json.load(f)


def header_lines(meta: Mapping, name: str) -> list[str]:
    """A report's header from its ``meta.json``: title, command, hardware, wall and CPU
    time, commit (what :meth:`Results.finish` and :mod:`experiments.rereport` write)."""
    hw = meta["hardware"]
    load = hw.get("load_average_at_start")
    wall, cpu = meta.get("wall_time_s", math.nan), meta.get("cpu_time_s", math.nan)
    return [
        f"# {name}: {meta['mode']} mode",
        "",
        f"- command: `{meta['command']}`",
        f"- hardware: {hw['cpu']} ({hw['cpu_count']} cores"
        + (f", load average {load[0]} at start" if load else "") + f"), JAX backend "
        f"{hw['jax_backend']}",
        f"- wall time: {wall / 60:.1f} min ({wall:.0f} s), started {meta['started']}; "
        f"CPU time of this process {cpu / 60:.1f} min (the cores were shared when the "
        "load average exceeds the core count)",
        f"- git commit: {meta['git_commit']}; jax {meta['versions'].get('jax')}",
        f"- numbers: `{name}.json`; settings and hardware: `meta.json`",
        "",
    ]


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

    def write_records(self, records: list[dict], path: str | None = None) -> None:
        write_records(path or self.records_path, records)

    def finish(self, sections: Sequence[str], files: Sequence[str] = ()) -> str:
        """Write meta.json and the Markdown report; return the report's path."""
        wall = time.time() - self.t0
        self.meta["wall_time_s"] = round(wall, 1)
        t = os.times()
        cpu = t.user + t.system + t.children_user + t.children_system
        self.meta["cpu_time_s"] = round(cpu, 1)  # the process's own CPU time (all threads)
        self.meta["files"] = [self.name + ".json", self.name + ".md", "meta.json", *files]
        runs.write_json(self.path("meta.json"), self.meta)
        header = header_lines(self.meta, self.name)
        text = "\n".join(header + list(sections)) + "\n"
        path = self.path(f"{self.name}.md")
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: the last shard to finish may race another's report
        return path


# --------------------------------------------------------------------------- tables


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int]:
    """(mean, sample std with ddof = 1, n) over the non-None values; the std is nan for
    one value and everything nan (n = 0) for none (:mod:`experiments.stats`)."""
    s = stats.summarize(values)
    return s.mean, s.std, s.n


def fmt_mean_std(values: Iterable[float | None], scale: float = 1.0, digits: int = 1,
                 empty: str = "–") -> str:
    """``"mean ± sd [95% bootstrap interval] (n=k)"`` (:func:`experiments.stats.fmt`)."""
    return stats.fmt(values, scale=scale, digits=digits, empty=empty)


# --------------------------------------------------------------------------- splits

TEST, VALIDATION = "test", "validation sample"
# Records written before the sweeps evaluated the test split (the committed gap sweep,
# adding, sentiment and gates runs) hold only ``validation_sample``: the held-out sample
# the run was evaluated (and, where it had a solve check, stopped) on. It is never shown
# as a result without saying so (:func:`split_note`).


def reported(r: Mapping, metric: str = "accuracy") -> tuple[float | None, str]:
    """``(value, split)`` of the number a report shows for one run record: the whole test
    split at the last step when the record holds it (``split == "test"``), else a legacy
    record's validation sample (``split == VALIDATION``), else ``(None, "missing")``."""
    test = r.get("test")
    if test is not None:
        return test.get(metric), TEST
    legacy = r.get("validation_sample")
    if legacy is not None and legacy.get(metric) is not None:
        return legacy[metric], VALIDATION
    return None, "missing"


def values(records: Iterable[Mapping], metric: str = "accuracy") -> list[float | None]:
    """The reported values (:func:`reported`) of ``metric`` over the records."""
    return [reported(r, metric)[0] for r in records]


def split_of(records: Sequence[Mapping], metric: str = "accuracy") -> str:
    """``"test"`` when every record has a test number, else ``VALIDATION`` (at least one
    number in the table is not a test number)."""
    splits = {reported(r, metric)[1] for r in records}
    return TEST if splits <= {TEST} else VALIDATION


def split_note(records: Sequence[Mapping], rerun: str | None, metric: str = "accuracy") -> list[str]:
    """Report lines saying, when any number is not a test number, that it is the validation
    sample, why that is not a result, and the command that reruns with a test split."""
    if split_of(records, metric) == TEST:
        return []
    return [f"**Not test numbers: rerun needed.** These runs were recorded before the "
            f"sweeps evaluated the test split, so the {metric} shown is their "
            f"**validation sample**, the held-out sample that was also evaluated during "
            f"training (and, where the run had a solve check, stopped it: a solved run "
            f"is >= the threshold on it by construction). Rerun to get the whole test "
            f"split: `{rerun or 'the command above'}`.", ""]


def describe_init(model: Mapping) -> str:
    """The initialization of a run's model section, in words (what a headline names)."""
    cell = model.get("cell", "lstm")
    if cell == "rnn":
        return f"tanh RNN, {model.get('recurrent_init', 'orthogonal')} recurrent weights"
    if cell == "irnn":
        return "IRNN: ReLU, identity recurrent weights"
    if model.get("chrono_max_len"):
        what = {"gru": "update-gate keep init", "min_gru": "keep init"}.get(cell, "chrono init")
        return f"{what} (T_max = {model['chrono_max_len']:g})"
    if cell == "lstm":
        gates = model.get("gates", "standard")
        return (f"forget bias {model.get('forget_bias', 1.0):g}"
                + ("" if gates == "standard" else f", gates {gates}"))
    return "default init"


def spread_note() -> str:
    """What a table's ± and brackets are (one sentence, the same in every report)."""
    return f"Cells: {stats.SPREAD}."


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


def pyplot():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_lines(path: str, series: Mapping[str, tuple[Sequence, Sequence, Sequence]], *,
               xlabel: str, ylabel: str, title: str = "", logx: bool = False,
               hline: float | None = None, hline_label: str = "", ylim=None,
               size=(7.0, 4.5), dpi: int = 100) -> None:
    """One line per series ``name -> (x, mean, std)`` with a ±std band."""
    plt = pyplot()
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
    plt = pyplot()
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


def survival_data(group: Sequence[Mapping]) -> tuple[list[float], list[bool]]:
    """``(times [n], solved [n])`` of run records for :func:`experiments.stats.kaplan_meier`:
    a solved run at its steps to solve, an unsolved one censored where it stopped
    (``steps_run``, else its budget)."""
    times, events = [], []
    for r in group:
        solved = bool(r.get("solved")) and r.get("steps_to_solve") is not None
        stop = r.get("steps_run") if r.get("steps_run") is not None else r["steps_budget"]
        times.append(float(r["steps_to_solve"] if solved else stop))
        events.append(solved)
    return times, events


def steps_to_solve_cell(group: Sequence[Mapping]) -> str:
    """``'median (solved/n)'``: the Kaplan-Meier median steps to solve (unsolved runs
    censored at their budget), ``'> budget (k/n)'`` when fewer than half solved."""
    if not group:
        return "–"
    times, events = survival_data(group)
    med = stats.km_median(times, events)
    k = f"({sum(events)}/{len(group)})"
    if med is None:
        return f"> {max(r['steps_budget'] for r in group)} {k}"
    return f"{med:.0f} {k}"


STEPS_NOTE = ("Steps to solve: the Kaplan-Meier median over seeds (an unsolved run is "
              "censored at its budget, not counted as solved there), then solved/N; "
              "'> budget' when fewer than half the seeds solved.")


def plot_survival(path: str, panels: Mapping[str, Mapping[str, tuple[Sequence, Sequence]]], *,
                  budget: float | Mapping[str, float] | None = None, title: str = "",
                  ncols: int = 3, dpi: int = 100) -> None:
    """Survival curves of steps to solve, one panel per ``panels`` key (e.g. a gap), one
    line per series ``label -> (times, solved)`` (:func:`survival_data`): the
    Kaplan-Meier fraction of runs solved by each step (1 - survival), a cross where a run
    was censored; the budget (one for all panels, or per panel key) as a dashed line, to
    which every curve is drawn."""
    plt = pyplot()
    n = max(len(panels), 1)
    cols = min(ncols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False,
                             sharey=True)
    labels = list(dict.fromkeys(lbl for series in panels.values() for lbl in series))
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    color = {lbl: cmap(k % cmap.N) for k, lbl in enumerate(labels)}
    for ax, (name, series) in zip(axes.flat, panels.items()):
        cap = budget.get(name) if isinstance(budget, Mapping) else budget
        end = cap or max((max(t) for t, _ in series.values() if len(t)), default=1.0)
        for lbl, (times, events) in series.items():
            steps, surv = stats.kaplan_meier(times, events)
            x = np.append(steps, end)
            y = 1.0 - np.append(surv, surv[-1])
            ax.step(x, y, where="post", color=color[lbl], label=lbl, linewidth=1.4)
            cens = [t for t, e in zip(times, events) if not e]
            if cens:
                ax.plot(cens, [y[-1]] * len(cens), "x", color=color[lbl], markersize=5)
        if cap:
            ax.axvline(cap, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("fraction of runs solved", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=color[lbl], label=lbl) for lbl in labels]
    handles.append(plt.Line2D([], [], color="grey", marker="x", linestyle="",
                              label="censored (unsolved at its budget)"))
    fig.legend(handles=handles, fontsize=7, loc="lower center",
               ncol=min(len(handles), 4), bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=10)
    legend_rows = -(-len(handles) // 4)
    fig.tight_layout(rect=(0, 0.05 * legend_rows / rows + 0.02, 1, 0.97 if title else 1))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def resumed_note(records: Sequence[dict], resumed: int) -> list[str]:
    """Report lines saying how many runs an earlier invocation trained (empty if none)."""
    if not resumed:
        return []
    return [f"**Resumed:** {resumed} of {len(records)} runs were trained by an earlier "
            "invocation or another shard in this workdir with the same settings (the wall time above covers "
            "only this invocation); summed per-run wall time of all runs: "
            f"{sum(r['wall_s'] for r in records) / 60:.1f} min.", ""]


def log(msg: str) -> None:
    print(msg, flush=True)


def examples_of(records: Sequence[dict], split: str) -> str:
    """How many examples a reported number covers: ``split`` is ``"test"``,
    ``"validation"`` (whole splits at the last step) or ``"curve"`` (the periodic
    validation sample); one number, or the range when records differ."""
    counts = sorted({(r.get(split) or {}).get("examples") if split != "curve"
                     else r.get("curve_examples") for r in records} - {None})
    if not counts:
        return "?"
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


# --------------------------------------------------------------------------- the report
#
# One report for every sweep, from its records and the config's ``sweep.report`` section:
#
#     report=dict(
#         views=(dict(name="distant_recall",          # a section (and its plots' suffix)
#                     where=dict(task="distant_recall"),  # which records (optional)
#                     rows="model", cols="gap",        # table axes (cols optional)
#                     metric="accuracy",               # "" = each record's score_metric
#                     clip0=False,                     # R² clipped at 0 (comparable means)
#                     unit="sequences", plot="lines",  # lines | bars | "" (metric vs cols)
#                     curves=False, logx=True),),      # learning curves per row
#         labels=dict(rnn="tanh RNN", ...),            # row labels in words
#         notes=("what this is and is not ...",),      # fixed sentences
#         headline=dict(title="Gap sweep", rules=(dict(kind="solved"), ...)))
#
# The rules (:data:`RULES`) turn the records into the sentences of the report's findings
# and of the README bullet (:mod:`experiments.headlines`); every number in them is the
# whole test split (or a solve count on the validation sample, said so), with N.


def _get(spec, key, default=None):
    value = spec.get(key, default) if hasattr(spec, "get") else default
    return default if value is None else value


def _plain(spec) -> dict:
    return spec.to_dict() if hasattr(spec, "to_dict") else dict(spec or {})


def view_records(records: Sequence[dict], view: Mapping) -> list[dict]:
    """The records a view shows: those matching ``where``; with ``select`` (an axis, e.g.
    the learning rate) only, per row, the records of the value chosen by :func:`choose`."""
    where = _plain(_get(view, "where", {}))
    rs = [r for r in records if all(r.get(k) == v for k, v in where.items())]
    key = _get(view, "select", "")
    if not key:
        return rs
    chosen = choose(rs, _get(view, "rows"), key)
    return [r for r in rs if r.get(key) == chosen[r.get(_get(view, "rows"))]]


def choose(rs: Sequence[Mapping], rows: str, key: str) -> dict:
    """Per row, the value of ``key`` whose runs solved most often on the validation sample
    (ties: the higher mean over the whole validation split), never a test number: a
    choice made on the test split would make its number optimistic."""
    out = {}
    for row in _order(rs, rows):
        def score(v):
            g = [r for r in rs if r.get(rows) == row and r.get(key) == v]
            val = [(r.get("validation") or {}).get((r.get("solve") or {}).get("metric",
                                                                               "accuracy"))
                   for r in g]
            return (sum(bool(r.get("solved")) for r in g),
                    stats.summarize(val).mean if any(v is not None for v in val) else -1.0)
        out[row] = max(_order([r for r in rs if r.get(rows) == row], key), key=score)
    return out


def metric_of(r: Mapping, view: Mapping) -> str:
    return _get(view, "metric", "") or r.get("score_metric") or "accuracy"


def value(r: Mapping, view: Mapping) -> float | None:
    """The number a report shows for one record (:func:`reported`; R² clipped at 0 when
    the view says so: no better than predicting the mean)."""
    metric = metric_of(r, view)
    v = reported(r, metric)[0]
    if v is not None and metric == "r2" and _get(view, "clip0", False):
        v = max(0.0, v)
    return v


def view_split(rs: Sequence[Mapping], view: Mapping) -> str:
    """``TEST`` when every record with a number has a test number (a run without one, e.g.
    a non-finite loss, shows as missing in the table, not as a validation sample)."""
    splits = {reported(r, metric_of(r, view))[1] for r in rs} - {"missing"}
    return TEST if splits <= {TEST} else VALIDATION


def _order(rs: Sequence[Mapping], key: str | None) -> list:
    if not key:
        return [None]
    vals = list(dict.fromkeys(r.get(key) for r in rs))
    return sorted(vals) if all(isinstance(v, (int, float)) for v in vals) else vals


def _cells(rs, view):
    rows, cols = _get(view, "rows"), _get(view, "cols")
    by = group(rs, rows, cols) if cols else {(k[0], None): v for k, v in group(rs, rows).items()}
    return _order(rs, rows), _order(rs, cols), by


def label_of(spec, row) -> str:
    return str(_plain(_get(spec, "labels", {})).get(str(row), row))


def _col_name(view, c) -> str:
    return _get(view, "col_label", _get(view, "cols")) + f"={c}"


def _budget(rs) -> int:
    return max(r["steps_budget"] for r in rs)


def _per_col(rs, view, fn) -> str:
    """``fn(records)`` once when it is the same for every column, else per column."""
    cols = _order(rs, _get(view, "cols"))
    if cols == [None]:
        return fn(rs)
    each = {c: fn([r for r in rs if r.get(_get(view, "cols")) == c]) for c in cols}
    if len(set(each.values())) == 1:
        return next(iter(each.values()))
    return "; ".join(f"{_col_name(view, c)}: {v}" for c, v in each.items())


def _criterion(rs) -> str:
    solve = {(s.get("metric"), s.get("threshold")) for r in rs if (s := r.get("solve"))}
    return ", ".join(f"{m} >= {t:g}" for m, t in sorted(solve, key=str)) or "see the config"


def _solve_text(rs, view) -> str:
    unit = _get(view, "unit", "examples")
    return (f"Solve check: the first periodic validation (a fixed sample of "
            f"{examples_of(rs, 'curve')} validation {unit}) with "
            f"{_per_col(rs, view, _criterion)} stops the run.")


def source_sentence(rs: Sequence[Mapping], view: Mapping) -> str:
    unit = _get(view, "unit", "examples")
    if view_split(rs, view) == TEST:
        return (f"Whole test split at each run's last step ({examples_of(rs, 'test')} {unit}), "
                "never used for stopping or selection.")
    return (f"**Validation sample, not a test split** (the {examples_of(rs, 'curve')} "
            f"held-out {unit} evaluated during training, the sample that also stopped a "
            "solved run: a solved run is >= the threshold on it by construction).")


def _inits(rs, rows_key, spec) -> list[str]:
    out = []
    for row in _order(rs, rows_key):
        g = [r for r in rs if r.get(rows_key) == row]
        cfg = g[0].get("config")
        init = describe_init(cfg["model"]) if cfg else "initialization not recorded"
        params = sorted({r.get("num_params") for r in g} - {None})
        out.append(f"- `{row}`: {label_of(spec, row)}; {init}"
                   + (f"; {params[0]:,} parameters" if len(params) == 1 else
                      f"; {params[0]:,}-{params[-1]:,} parameters" if params else "")
                   + (f" (copied from `{g[0]['alias_of']}`: the same configuration)"
                      if g[0].get("alias_of") else ""))
    return out


def render_view(records: Sequence[dict], view: Mapping, spec: Mapping, workdir: str,
                dpi: int = 100) -> tuple[list[str], list[str]]:
    """One view's Markdown sections and plots (see the comment above)."""
    rs = view_records(records, view)
    if not rs:
        return [], []
    name = _get(view, "name", "results")
    suffix = _get(view, "suffix", "")
    rows, cols, by = _cells(rs, view)
    split = view_split(rs, view)
    metrics = list(dict.fromkeys(metric_of(r, view) for r in rs))
    what = _get(view, "what", "/".join(metrics) + " (%)")
    seeds = max(len(v) for v in by.values())
    chance = rs[0].get("chance")
    solved_known = any((r.get("solve") or {}).get("threshold") for r in rs)
    intro = (source_sentence(rs, view) + " "
             + (f"Chance: {100 * chance:.1f}%. " if chance else "")
             + (_solve_text(rs, view) + " " if solved_known else "")
             + f"Seeds per cell: {seeds}; budget (steps): "
             f"{_per_col(rs, view, lambda g: str(_budget(g)))}. {spread_note()}")
    head = [_get(view, "rows")] + ([_col_name(view, c) for c in cols] if cols != [None]
                                   else [f"{split} {what}"])
    table = [[r] + [fmt_mean_std([value(x, view) for x in by.get((r, c), [])], scale=100)
                    for c in cols] for r in rows]
    if _get(view, "select", ""):
        key = _get(view, "select")
        picked = choose(view_records(records, {**_plain(view), "select": ""}),
                        _get(view, "rows"), key)
        intro += (f" Per row the {key} with the most solves on the validation sample (ties: "
                  f"the higher whole-validation-split metric; never chosen on the test "
                  "split): " + ", ".join(f"{r} {key}={picked[r]:g}" if isinstance(
                      picked[r], float) else f"{r} {key}={picked[r]}" for r in rows)
                  + f"; every {key} is in its own table below.")
    out = [f"## {name}: {split} {what}", "", intro, "", markdown_table(head, table), ""]
    if solved_known:
        steps = [[r] + [steps_to_solve_cell(by.get((r, c), [])) for c in cols] for r in rows]
        head2 = head if cols != [None] else [_get(view, "rows"), "steps to solve (solved/N)"]
        out += [f"## {name}: steps to solve (validation-sample check)", "",
                STEPS_NOTE + f" Survival curves: `survival{suffix}.png`.", "",
                markdown_table(head2, steps), ""]
    files = []
    if _get(view, "plot", "") and cols != [None]:
        fname = f"{_get(view, 'plot_name', 'accuracy_vs_gap')}{suffix}.png"
        if _get(view, "plot") == "lines":
            series = {}
            for r in rows:
                cs = [c for c in cols if (r, c) in by]
                ss = [stats.summarize(value(x, view) for x in by[(r, c)]) for c in cs]
                series[label_of(spec, r)] = (cs, [100 * s.mean for s in ss],
                                             [100 * np.nan_to_num(s.std) for s in ss])
            plot_lines(os.path.join(workdir, fname), series, xlabel=_get(view, "xlabel", _get(view, "cols")),
                       ylabel=f"{split} {what}", logx=_get(view, "logx", False),
                       title=f"{name}: {split} {what} (mean ± sample sd)",
                       hline=100 * chance if chance else None, hline_label="chance",
                       ylim=(0, 102), dpi=dpi)
        else:
            bars = {}
            for r in rows:
                ss = [stats.summarize(value(x, view) for x in by.get((r, c), [])) for c in cols]
                bars[label_of(spec, r)] = ([100 * s.mean for s in ss],
                                           [100 * np.nan_to_num(s.std) for s in ss])
            plot_bars(os.path.join(workdir, fname), [str(c) for c in cols], bars,
                      ylabel=f"{split} score (%)", ylim=(0, 105), dpi=dpi,
                      title=f"{name}: {split} score (mean ± sample sd)",
                      size=(12.0, 4.5) if len(rows) > 6 else (10.0, 4.5))
        files.append(fname)
    elif _get(view, "plot", "") == "bars":
        fname = f"{_get(view, 'plot_name', 'accuracy')}{suffix}.png"
        ss = [stats.summarize(value(x, view) for x in by[(r, None)]) for r in rows]
        plot_bars(os.path.join(workdir, fname), [label_of(spec, r) for r in rows],
                  {what: ([100 * s.mean for s in ss], [100 * np.nan_to_num(s.std) for s in ss])},
                  ylabel=f"{split} {what}", ylim=(0, 102), size=(7.0, 4.5), dpi=dpi,
                  title=f"{name}: {split} {what} (mean ± sample sd)")
        files.append(fname)
    if solved_known:
        fname = f"survival{suffix}.png"
        panels = {(name if c is None else f"{_col_name(view, c)} (budget {_budget([x for r in rows for x in by.get((r, c), [])])})"):
                  {label_of(spec, r): survival_data(by[(r, c)]) for r in rows
                   if (r, c) in by and not by[(r, c)][0].get("alias_of")} for c in cols}
        budgets = {k: float(k.rsplit("budget ", 1)[1].rstrip(")")) if "budget " in k
                   else _budget(rs) for k in panels}
        plot_survival(os.path.join(workdir, fname), panels, budget=budgets, dpi=dpi,
                      title=f"{name}: runs solved by training step (Kaplan-Meier; "
                            "validation-sample check; × = censored at the budget)")
        files.append(fname)
    if _get(view, "curves", False):
        fname = f"learning_curves{suffix}.png"
        curves = {}
        for r in rows:
            g = [x for c in cols for x in by.get((r, c), []) if x.get("curve")]
            if not g:
                continue
            steps_ = [h["step"] for h in g[0]["curve"]]
            m = next(iter(metrics))
            accs = np.array([[h.get(m, h.get("accuracy")) for h in x["curve"]][:len(steps_)]
                             for x in g if len(x["curve"]) >= len(steps_)], float)
            sd = np.nan_to_num([stats.sample_std(col) if len(col) > 1 else math.nan
                                for col in accs.T])
            curves[label_of(spec, r)] = (steps_, 100 * accs.mean(0), 100 * sd)
        if curves:
            plot_lines(os.path.join(workdir, fname), curves, xlabel="training step",
                       ylim=(0, 102), ylabel=f"validation {metrics[0]} (%, "
                       f"{examples_of(rs, 'curve')} {_get(view, 'unit', 'examples')})",
                       title=f"{name}: validation sample during training (mean ± sample sd)")
            files.append(fname)
    out += [f"### {name}: rows", ""] + _inits(rs, _get(view, "rows"), spec) + [""]
    return out, files


def render(records: Sequence[dict], spec: Mapping, workdir: str,
           dpi: int = 100) -> tuple[list[str], list[str]]:
    """The Markdown sections and plot files of a sweep's report (``spec``: the config's
    ``sweep.report``), generated from the records only."""
    sections, files = [], []
    for view in _get(spec, "views", ()):
        s, f = render_view(records, view, spec, workdir, dpi)
        sections += s
        files += f
    notes = list(_get(spec, "notes", ()))
    sentences = findings(records, spec)
    if sentences:
        sections += ["## Findings (generated from the records by the declared rules)", "",
                     " ".join(sentences), ""]
    if notes:
        sections += [" ".join(notes), ""]
    sections += ["Sweep config: `meta.json` (`settings`); each record holds its run's "
                 "complete train config.", ""]
    return sections, files


# --------------------------------------------------------------------------- sentences


def _pct(rs, view) -> str:
    """The whole-test-split value of the records as ``mean ± sd% [CI] (n=k)``; ValueError
    when any of them is not a test number (a sentence never shows a validation sample)."""
    if view_split(rs, view) != TEST:
        raise ValueError("a headline number must come from the whole test split")
    return stats.fmt([value(r, view) for r in rs], scale=100, unit="%")


def _solved_n(rs) -> tuple[int, int]:
    return sum(bool(r.get("solved")) for r in rs), len(rs)


def _upto(by, row, cols) -> Any:
    best = None
    for c in cols:
        g = by.get((row, c), [])
        if not g or not all(r.get("solved") for r in g):
            break
        best = c
    return best


def _rule_solved(rs, view, spec, rule) -> str:
    rows, cols, by = _cells(rs, view)
    seeds = max(len(v) for v in by.values())
    late = sorted({label_of(spec, r[_get(view, "rows")]) for r in rs if r.get("solved")
                   and r.get("steps_to_solve") == r["steps_budget"]})
    late = (f" {', '.join(late)} solved only at the last step of the budget in some run, "
            "so a smaller budget would have left that run unsolved." if late else "")
    budget = f" (budget {_budget(rs)} steps)"
    if cols == [None] or len(cols) == 1:
        return (f"Runs solved (validation-sample check){budget}: " + "; ".join(
            f"{label_of(spec, r)} {'%d/%d' % _solved_n(by[(r, cols[0])])}" for r in rows)
            + "." + late)
    return (f"Seeds solved (of {seeds}, validation-sample check) at "
            f"{_get(view, 'col_label', _get(view, 'cols'))} {'/'.join(map(str, cols))}: "
            + "; ".join(f"{label_of(spec, r)} " + "/".join(
                str(_solved_n(by.get((r, c), []))[0]) for c in cols) for r in rows) + "."
            + late)


def _rule_upto(rs, view, spec, rule) -> str:
    rows, cols, by = _cells(rs, view)
    unit = _get(view, "col_label", _get(view, "cols"))
    parts = []
    for r in rows:
        u = _upto(by, r, cols)
        parts.append(f"{label_of(spec, r)} {'no ' + unit if u is None else f'{unit} {u}'}")
    return "Every seed solved up to: " + "; ".join(parts) + "."


def _rule_compare(rs, view, spec, rule) -> str:
    """Declared pairs (a, b, factor): how far changing ``factor`` moves the largest column
    every seed solves, i.e. which factor carries the result at which column."""
    rows, cols, by = _cells(rs, view)
    unit = _get(view, "col_label", _get(view, "cols"))
    parts = []
    for a, b, factor in _get(rule, "pairs", ()):
        if a not in rows or b not in rows:
            continue
        ua, ub = _upto(by, a, cols), _upto(by, b, cols)
        fa = "none" if ua is None else f"{unit} {ua}"
        fb = "none" if ub is None else f"{unit} {ub}"
        moved = "moves" if ua != ub else "leaves"
        parts.append(f"changing {factor} alone ({label_of(spec, a)} -> {label_of(spec, b)}) "
                     f"{moved} the largest {unit} every seed solves ({fa} -> {fb})")
    return ("; ".join(parts)[:1].upper() + "; ".join(parts)[1:] + ".") if parts else ""


def _rule_metric(rs, view, spec, rule) -> str:
    rows, cols, by = _cells(rs, view)
    col = cols[-1] if _get(rule, "col", "last") == "last" else _get(rule, "col")
    if view_split(rs, view) != TEST:
        return ""
    where = "" if col is None else f" at {_get(view, 'col_label', _get(view, 'cols'))} {col}"
    return (f"Whole test split ({examples_of(rs, 'test')} {_get(view, 'unit', 'examples')})"
            f"{where}: " + "; ".join(f"{label_of(spec, r)} {_pct(by[(r, col)], view)}"
                                     for r in rows if (r, col) in by) + ".")


def ties(summ: Mapping[Any, stats.Summary], best) -> list:
    """The rows whose mean is within the larger of the two 95% bootstrap half-widths of the
    best row's (equal to it when neither has an interval): the ones it does not beat."""
    b = summ[best]
    out = []
    for k, s in summ.items():
        if k == best:
            continue
        half = np.nanmax([(b.hi - b.lo) / 2, (s.hi - s.lo) / 2, 0.0])
        if abs(s.mean - b.mean) <= half + 1e-12:
            out.append(k)
    return out


def _rule_best(rs, view, spec, rule) -> str:
    if view_split(rs, view) != TEST:
        return ""
    rows, cols, by = _cells(rs, view)
    summ = {r: stats.summarize(value(x, view) for c in cols for x in by.get((r, c), []))
            for r in rows}
    best = max(rows, key=lambda r: summ[r].mean)
    tied = ties(summ, best)
    if summ[best].n < 2:
        return (f"Highest test {metric_of(rs[0], view)}: {label_of(spec, best)} "
                f"({_pct([x for c in cols for x in by.get((best, c), [])], view)}); with one "
                "seed per row no difference is tested.")
    return (f"Highest mean test {metric_of(rs[0], view)}: {label_of(spec, best)} "
            f"({_pct([x for c in cols for x in by.get((best, c), [])], view)})"
            + (("; not beaten on these seeds (difference within the 95% intervals) by "
                + ", ".join(f"{label_of(spec, r)} ({100 * summ[r].mean:.1f}%)" for r in tied))
               if tied else "; every other row is below its 95% interval") + ".")


def _rule_drop(rs, view, spec, rule) -> str:
    """Mean drop of each row's test score from a reference row, averaged over the columns;
    ``expect`` ({row: "most" | "little"}) says what the literature found, compared here."""
    if view_split(rs, view) != TEST:
        return ""
    rows, cols, by = _cells(rs, view)
    ref = _get(rule, "reference")
    if ref not in rows:
        return ""
    mean = {(r, c): stats.summarize(value(x, view) for x in by[(r, c)]).mean for (r, c) in by}
    drops = {r: 100 * float(np.mean([mean[(ref, c)] - mean[(r, c)] for c in cols
                                     if (r, c) in mean and (ref, c) in mean]))
             for r in rows if r != ref}
    ranked = sorted(drops, key=lambda r: -drops[r])
    solved = {r: _solved_n([x for c in cols for x in by.get((r, c), [])]) for r in rows}
    parts = [f"Mean drop in test score from `{ref}` over {len(cols)} column(s) (positive = "
             "worse; solved/N on the validation-sample check): "
             + ", ".join(f"`{r}` {drops[r]:+.1f} points ({solved[r][0]}/{solved[r][1]})"
                         for r in ranked) + f"; `{ref}` {solved[ref][0]}/{solved[ref][1]}."]
    expect = _plain(_get(rule, "expect", {}))
    if expect:
        top = max(3, len(ranked) // 3)
        verdicts = []
        for r, said in expect.items():
            if r not in drops:
                continue
            ours = ("most" if ranked.index(r) < top and drops[r] > 2.0
                    else "little" if abs(drops[r]) <= 2.0 else "moderate")
            verdicts.append(f"`{r}` {said} there, {ours} here ({drops[r]:+.1f}; "
                            + ("agrees" if ours == said else "differs") + ")")
        parts.append(f"{_get(rule, 'source', 'Expected')}: " + "; ".join(verdicts) + ".")
    return " ".join(parts)


def _rule_below(rs, view, spec, rule) -> str:
    """How many solved runs score below their solve threshold on the whole test split."""
    own = [r for r in rs if not r.get("alias_of") and r.get("solved")
           and reported(r, metric_of(r, view))[1] == TEST]
    below = [r for r in own if reported(r, metric_of(r, view))[0] < r["solve"]["threshold"]]
    return (f"On the whole test split {len(below)} of the {len(own)} solved runs score below "
            "the threshold that solved them on the validation sample.") if own else ""


def _rule_budget(rs, view, spec, rule) -> str:
    """The training budget in examples (steps × batch size, from the records' configs)
    beside declared published counts: ``published`` is ``((column value, count), ...)``
    (e.g. per sequence length) or one count, ``source`` says whose counts they are. An
    unsolved run is then read against how many examples the published model needed."""
    if not all("config" in r for r in rs):  # legacy records hold no batch size
        return ""
    sizes = sorted({(r["steps_budget"], r["config"]["batch_size"]) for r in rs})
    unit = _get(view, "unit", "examples")
    seen = max(steps * batch for steps, batch in sizes)
    told = "; ".join(f"{steps:,} steps × {batch} {unit} = {steps * batch:,} {unit}"
                     for steps, batch in sizes)
    published = _get(rule, "published")
    _, cols, _ = _cells(rs, view)
    label = _get(view, "col_label", _get(view, "cols"))
    if not published:
        pairs = []
    elif isinstance(published, (int, float)):
        pairs = [(None, published)]
    else:
        pairs = [(c, n) for c, n in published if c in cols]
    if not pairs:
        return f"Training budget per run: {told}."
    parts = []
    for col, count in pairs:
        where = "" if col is None else f" at {label} = {col}"
        verdict = ("smaller, so a run unsolved within it does not contradict the published "
                   "result" if seen < count else "at least as large")
        parts.append(f"{int(count):,}{where} (this budget is {seen / count:.2f} of it: "
                     f"{verdict})")
    return (f"Training budget per run: {told}. The {unit} {_get(rule, 'source')}: "
            + "; ".join(parts) + ".")


EXPECT = {"most": "hurts most", "worse": "hurts", "no_worse": "does no significant harm",
          "no_better": "does not improve significantly"}


def expect_verdict(said: str, diff: float, half: float, rank: int, top: int) -> str:
    """``"reproduced"`` or ``"not reproduced"``: a row's test-score difference from the
    reference (``diff`` = row - reference) against an expected direction (:data:`EXPECT`).
    A difference counts when it exceeds ``half``, the larger of the two 95% bootstrap
    half-widths (as in :func:`ties`); ``"most"`` also needs the drop to rank among the
    ``top`` largest (``rank`` 0 = the largest, among the rows with 2 or more scores),
    ``top`` = the rows expected "most"."""
    worse, better = diff < -half, diff > half
    ok = {"most": worse and rank < top, "worse": worse, "no_worse": not worse,
          "no_better": not better}[said]
    return "reproduced" if ok else "not reproduced"


def _rule_expect(rs, view, spec, rule) -> str:
    """Each row of ``expect`` ({row: "most" | "worse" | "no_worse" | "no_better"}, what the
    ``source`` found) against the ``reference`` row, per column: reproduced, not reproduced
    (:func:`expect_verdict`) or not testable (row or reference missing, fewer than 2 seeds
    with a score on either side, or, for all but "no_better", the reference within
    ``chance_margin`` (default 0.02) of chance, so no drop can show). A run without a score (a non-finite loss) is named,
    never counted as a failure: it may be the implementation's, not the variant's."""
    if view_split(rs, view) != TEST:
        return ""
    rows, cols, by = _cells(rs, view)
    ref = _get(rule, "reference")
    expect = _plain(_get(rule, "expect", {}))
    unknown = sorted(set(expect.values()) - set(EXPECT))
    if unknown:
        raise ValueError(f"report.headline.rules: kind='expect': direction {unknown[0]!r}; "
                         f"accepted: {sorted(EXPECT)}")
    margin = float(_get(rule, "chance_margin", 0.02))
    chance = rs[0].get("chance")
    top = sum(v == "most" for v in expect.values())
    summ = {k: stats.summarize(value(x, view) for x in g) for k, g in by.items()}
    unit = _get(view, "col_label", _get(view, "cols"))
    counts = {"reproduced": 0, "not reproduced": 0, "not testable": 0}
    parts = []
    for row, said in expect.items():
        def bad(c, row=row):  # runs without a score (a non-finite loss): named, never imputed
            k = {x: sum(value(y, view) is None for y in by.get((x, c), [])) for x in (row, ref)}
            return "".join(f"; {k[x]} of {len(by[(x, c)])} `{x}` runs without a score "
                           "(non-finite loss)" for x in dict.fromkeys((row, ref)) if k[x])
        each = []
        for c in cols:
            s, r = summ.get((row, c)), summ.get((ref, c))
            where = "" if c is None else f"{unit} {c}: "
            if s is None or r is None:
                verdict, why = "not testable", f"no runs of `{row if s is None else ref}`"
            elif min(s.n, r.n) < 2:
                verdict, why = "not testable", "fewer than 2 seeds with a score" + bad(c)
            elif chance is not None and r.mean <= chance + margin and said != "no_better":
                verdict, why = "not testable", (f"`{ref}` at chance ({100 * r.mean:.1f}%), "
                                                "no drop can show")
            else:
                drops = sorted((summ[(ref, c)].mean - summ[(k, c)].mean, k) for k in rows
                               if k != ref and (k, c) in summ and summ[(k, c)].n >= 2)[::-1]
                rank = [k for _, k in drops].index(row)
                half = float(np.nanmax([(s.hi - s.lo) / 2, (r.hi - r.lo) / 2, 0.0]))
                diff = s.mean - r.mean
                verdict = expect_verdict(said, diff, half, rank, top)
                why = (f"{100 * diff:+.1f} points, {100 * r.mean:.1f}% -> {100 * s.mean:.1f}%"
                       f", interval half-width {100 * half:.1f}"
                       + (f", drop rank {rank + 1}" if said == "most" else "") + bad(c))
            counts[verdict] += 1
            each.append(f"{where}{verdict} ({why})")
        parts.append(f"`{row}` {EXPECT[said]} there: " + "; ".join(each))
    if not parts:
        return ""
    on = f" on {_get(view, 'name')}" if _get(view, "name") else ""
    return (f"{_get(rule, 'source', 'Expected')} against `{ref}`{on}, point by point (test "
            "split; a difference counts beyond the larger 95% interval half-width of the "
            "two rows): " + ". ".join(parts) + ". Verdicts: "
            + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".")


RULES = {"solved": _rule_solved, "upto": _rule_upto, "compare": _rule_compare,
         "metric": _rule_metric, "best": _rule_best, "drop": _rule_drop,
         "below": _rule_below, "expect": _rule_expect, "budget": _rule_budget}


def findings(records: Sequence[dict], spec: Mapping) -> list[str]:
    """The sentences of ``spec.headline.rules`` (each names its view by index, default 0),
    generated from the records."""
    views = list(_get(spec, "views", ()))
    out = []
    for rule in _get(_get(spec, "headline", {}), "rules", ()):
        kind = _get(rule, "kind")
        if kind not in RULES:
            raise ValueError(f"report.headline.rules: kind={kind!r}; accepted: {sorted(RULES)}")
        view = views[int(_get(rule, "view", 0))]
        rs = view_records(records, view)
        if rs:
            text = RULES[kind](rs, view, spec, rule)
            if text:
                out.append(text)
    return out


def incomplete_note(missing: list, planned: int) -> list[str]:
    """The note of a report whose sweep has planned runs without a record (unfinished)."""
    if not missing:
        return []
    return [f"**Incomplete:** {len(missing)} of {planned} runs have no record yet (e.g. "
            f"`{missing[0]}`); the tables cover the rest.", ""]
