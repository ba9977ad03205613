"""Regenerate committed reports from their records, without training anything.

    python -m experiments.rereport experiments/results/gap_sweep_standard [...]
    python -m experiments.rereport --all        # every committed sweep directory
    python -m experiments.rereport --all --check  # exit 1 if a report is out of date

For a results directory it reads ``meta.json`` (experiment, size, and the command,
hardware, wall time and commit of the invocation that made the records) and the records
``<experiment>.json``, and writes ``<experiment>.md`` and the plots with the report the
experiment's config declares today (:func:`experiments.report.render`; the gates have
their own ``make_report``): the header is the original run's, followed by a line saying
when and by what the report was regenerated. It never writes the records or
``meta.json``. Which config renders a directory: :func:`config_of` (the old scripts'
names map to the configs that replaced them: ``ablation_v2`` -> ``ablation.py:<size>``,
the first ablation -> ``ablation.py:fixed_<size>``).

Records written before the sweeps evaluated the test split (*legacy*: no ``test`` field)
are adapted in memory: their ``accuracy`` / ``loss`` (``mse``) become
``validation_sample`` (what they were: the held-out sample evaluated during training, the
one that stopped a solved run), so :func:`experiments.report.reported` labels them, and
the report opens with a note that they need a rerun and the command
(:func:`rerun_command`).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import ml_collections

from experiments import report
from lstmjax import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results")
# old script name -> the config file that replaced it (the argument: see config_of)
CONFIG_FILES = {"gap_sweep": "gap_sweep", "adding_long": "adding_long",
                "sentiment": "sentiment", "ablation": "ablation", "ablation_v2": "ablation",
                "factorial": "factorial"}
SCRIPTS = ("gates",)  # experiments with their own script and make_report


def _tracked(paths: list[str]) -> list[str]:
    """The paths git tracks (all of them where git cannot say): a directory another
    session is still writing is not committed yet."""
    try:
        out = subprocess.run(["git", "ls-files", "--", *paths], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return paths
    tracked = {os.path.join(ROOT, p) for p in out}
    return [p for p in paths if p in tracked]


def committed() -> list[str]:
    """The committed results directories this regenerates: every one whose ``meta.json``
    names a sweep experiment (pixel MNIST, bench and single runs have their own reports)."""
    out = []
    for meta in _tracked(sorted(glob.glob(os.path.join(RESULTS, "*", "meta.json")))):
        with open(meta, encoding="utf-8") as f:
            name = json.load(f).get("experiment")
        if name in CONFIG_FILES or name in SCRIPTS:
            out.append(os.path.basename(os.path.dirname(meta)))
    return out


def is_legacy(records: list[dict]) -> bool:
    """Records from before the test split was recorded (no run has a ``test`` field)."""
    return bool(records) and not any("test" in r for r in records)


def config_of(name: str, mode: str, settings: dict) -> tuple[str, str]:
    """``(config file, argument)`` that renders (and reruns) a directory's records."""
    if name not in CONFIG_FILES:
        raise ValueError(f"experiment: {name!r}; accepted: {sorted(CONFIG_FILES) + list(SCRIPTS)}")
    arg = mode
    if name == "gap_sweep" and list(settings.get("tasks") or []) == ["adding"]:
        arg = "adding"
    elif name == "ablation" and not mode.startswith("fixed_"):
        arg = f"fixed_{mode}"  # the first ablation's script named the size alone
    return CONFIG_FILES[name], arg


def load_config(name: str, mode: str, settings: dict) -> ml_collections.ConfigDict:
    file, arg = config_of(name, mode, settings)
    return importlib.import_module(f"experiments.configs.{file}").get_config(arg)


def _upgrade(r: dict, settings: dict, name: str) -> dict:
    """A record as today's report reads it (in memory only): a legacy one's numbers as
    ``validation_sample``, its solve criterion from the settings; the first ablation's
    records on the ``tasks`` axis."""
    out = dict(r)
    if name in ("ablation", "ablation_v2"):
        out.setdefault("axis", "tasks")
    if "steps_budget" not in r:
        out["steps_budget"] = settings.get("steps", settings.get("max_steps"))
    out.setdefault("solved", False)
    out.setdefault("steps_to_solve", None)
    if "test" in r:
        return out
    loss = r.get("mse", r.get("loss"))
    out["validation_sample"] = {"accuracy": r.get("accuracy"), "loss": loss}
    out.setdefault("status", "legacy")
    out["curve_examples"] = settings.get("eval_examples")
    threshold = r.get("solve_threshold", settings.get("solve_threshold",
                                                      settings.get("threshold")))
    if threshold:
        out["solve"] = {"metric": r.get("solve_metric", "accuracy"), "threshold": threshold}
    if name == "gates":
        out.setdefault("sequences", settings["sequences"])
    if name == "ablation":  # the score and the metrics of the legacy "eval" sample
        ev = r.get("eval") or {}
        out["validation_sample"] = {**ev, r["score_metric"]: r.get("score")}
    return out


def rerun_command(name: str, mode: str, settings: dict, workdir: str) -> str:
    """The command that reruns a legacy directory's runs through today's sweep (with a
    test split): its config, with the legacy axes, seeds and budget as overrides where
    they differ from it."""
    if name in SCRIPTS:
        return _script_rerun(name, mode, settings, workdir)
    file, arg = config_of(name, mode, settings)
    base = load_config(name, mode, settings)
    sw, s = base.sweep, settings
    over = []

    def put(field, new, old):
        if new is not None and list(map(str, _seq(new))) != list(map(str, _seq(old))):
            over.append(f"--config.{field}=" + ",".join(map(str, _seq(new))))
    axis = {"models": "model", "poolings": "pooling", "variants": "variant", "tasks": "task"}
    for key, ax in axis.items():
        if key in s and ax in sw and not (key == "tasks" and name == "gap_sweep"):
            put(f"sweep.{ax}", s[key], sw[ax])
    if "gaps" in s:
        put("sweep.gap", s["gaps"], sw.gap)
    if "length" in s and "length" in sw:
        put("sweep.length", s["length"], sw.length)
    put("sweep.seeds", s.get("seeds"), sw.seeds)
    steps = s.get("steps", s.get("max_steps"))
    if isinstance(steps, dict):  # the first ablation's budgets are per task
        over += [f"--config.sweep.set.task.{t}.steps={b}" for t, b in steps.items()
                 if t in sw.set.task and b != sw.set.task[t].steps]
    else:
        put("steps", steps, base.steps)
    runner = "ablation" if "calibrate" in sw else "sweep"
    rel = os.path.relpath(workdir, ROOT)
    return " ".join([f"python -m experiments.{runner} --config experiments/configs/{file}.py:"
                     f"{arg}", *over, f"--workdir {rel}"])


def _seq(v):
    """An axis's values; a dict (the first ablation's ``tasks``: name -> data) by name."""
    return list(v) if isinstance(v, (list, tuple, dict)) else [v]


def _script_rerun(name, mode, settings, workdir) -> str:
    rel = os.path.relpath(workdir, ROOT)
    return (f"python -m experiments.{name} --config experiments/configs/{name}.py:{mode} "
            f"--workdir {rel}")


def _gates_config(mode: str, settings: dict):
    """The gates' config of size ``mode`` with the legacy settings over it."""
    cfg = importlib.import_module("experiments.configs.gates").get_config(mode)
    s = settings
    cfg.seeds = int(s["seeds"])
    steps = s.get("steps", s.get("max_steps"))
    cfg.train.steps = int(steps)
    if "solve_threshold" in s or "threshold" in s:
        cfg.train.solve_threshold = float(s.get("solve_threshold", s.get("threshold")))
    cfg.gap = int(s["gap"])
    cfg.top_units = int(s["top_units"])
    cfg.init = s["init"]
    return cfg


def regenerate(workdir: str, *, write: bool = True) -> tuple[str, str]:
    """``(path, text)`` of the report regenerated from ``workdir``'s records, written to
    ``path`` with its plots when ``write``; otherwise everything is drawn in a temporary
    copy of the directory and ``workdir`` is left as it was."""
    workdir = os.path.abspath(workdir)
    if not os.path.exists(os.path.join(workdir, "meta.json")):
        raise ValueError(f"workdir: {workdir} has no meta.json (not a results directory)")
    if not write:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(workdir))
            shutil.copytree(workdir, copy, ignore=shutil.ignore_patterns("checkpoints"))
            _, text = _regenerate(copy, workdir)
        return _path_of(workdir), text
    return _regenerate(workdir, workdir)


def _path_of(workdir: str) -> str:
    with open(os.path.join(workdir, "meta.json"), encoding="utf-8") as f:
        return os.path.join(workdir, json.load(f)["experiment"] + ".md")


def _regenerate(workdir: str, shown: str) -> tuple[str, str]:
    """Report of ``workdir`` (written there), naming the directory as ``shown``."""
    meta_path = os.path.join(workdir, "meta.json")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    name, mode, settings = meta["experiment"], meta["mode"], meta["settings"]
    if name not in CONFIG_FILES and name not in SCRIPTS:
        raise ValueError(f"experiment: {name!r} in {meta_path}; accepted: "
                         f"{sorted(CONFIG_FILES) + list(SCRIPTS)}")
    records = report.read_records(os.path.join(workdir, f"{name}.json"))
    legacy = is_legacy(records)
    records = [_upgrade(r, settings, name) for r in records]
    notes = []
    if name in SCRIPTS:
        module = importlib.import_module(f"experiments.{name}")
        config = _gates_config(mode, settings) if legacy else ml_collections.ConfigDict(settings)
        sections, _ = module.make_report(records, config, workdir)
    else:
        config = load_config(name, mode, settings)
        sections, _ = report.render(records, config.sweep.report, workdir)
        if "calibrate" in config.sweep:
            from experiments import ablation
            sections = ablation.calibration_section(config, workdir, strict=False) + sections
    if legacy:
        notes = report.split_note(records, rerun_command(name, mode, settings, shown),
                                  "score" if name == "ablation" else "accuracy")
    missing = meta.get("missing_runs") or []  # an unfinished sweep, as the run wrote it
    notes = report.incomplete_note(missing, len(records) + len(missing)) + notes
    notes += report.resumed_note(records, meta.get("resumed_runs", 0))  # as the run wrote it
    stamp = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    header = report.header_lines(meta, name)
    header[-1:] = [f"- report regenerated from the records by `python -m experiments.rereport "
                   f"{os.path.relpath(shown, ROOT)}` (commit {runs.git_commit()}, {stamp}); "
                   "the lines above are the run's", ""]
    text = "\n".join(header + notes + list(sections)) + "\n"
    path = os.path.join(workdir, f"{name}.md")
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old is not None and _body(old) == _body(text):
        return path, old  # unchanged but for the regeneration line: keep the file as it is
    runs.write_text(path, text)
    return path, text


def _body(text: str) -> list[str]:
    """A report without its regeneration line (whose commit and date always change)."""
    return [line for line in text.splitlines() if not line.startswith("- report regenerated")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdirs", nargs="*", help="results directories")
    p.add_argument("--all", action="store_true", help="every committed sweep directory")
    p.add_argument("--check", action="store_true",
                   help="write no report (the plots are redrawn); exit 1 if a report differs "
                   "from its regeneration")
    args = p.parse_args(argv)
    dirs = list(args.workdirs) + ([os.path.join(RESULTS, d) for d in committed()]
                                  if args.all else [])
    if not dirs:
        p.error("give results directories or --all")
    stale = 0
    for d in dirs:
        try:
            path, text = regenerate(d, write=not args.check)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.check:
            with open(path, encoding="utf-8") as f:
                same = _body(f.read()) == _body(text)
            stale += not same
            print(f"{os.path.relpath(path, ROOT)}:", "up to date" if same else "OUT OF DATE")
        else:
            print(f"{os.path.relpath(path, ROOT)}: regenerated (written where it changed)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
