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
    if model.get("chrono_max_len"):
        what = "update-gate keep init" if cell == "gru" else "chrono init"
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
