"""What the experiment scripts share for reporting: run bookkeeping, tables and plots.

* :class:`Results` writes an experiment's outputs into its workdir: the records JSON (a
  list of flat dicts, easy to re-plot), ``meta.json`` (command, hardware, wall time,
  versions, git commit, the sweep config) and the Markdown report whose tables are
  generated from the records.
* Tables: mean ± std over seeds, steps to solve, Markdown tables (and their parser, for
  the tests).
* Plots: lines with error bands, bars with error bars (matplotlib, Agg backend).

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
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # atomic: the last shard to finish may race another's report
        return path


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


def steps_to_solve_cell(group: Sequence[dict]) -> str:
    """'mean steps (solved/seeds)' over a group of run records, or '> budget (0/n)'."""
    solved = [r["steps_to_solve"] for r in group if r["solved"]]
    if solved:
        return f"{mean_std(solved)[0]:.0f} ({len(solved)}/{len(group)})"
    return f"> {max((r['steps_budget'] for r in group), default=0)} (0/{len(group)})"


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
