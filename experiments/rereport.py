"""Regenerate committed reports from their records, without training anything.

    python -m experiments.rereport experiments/results/gap_sweep_standard [...]
    python -m experiments.rereport --all        # every directory of COMMITTED
    python -m experiments.rereport --all --check  # exit 1 if a report is out of date

For a results directory it reads ``meta.json`` (experiment, size, settings, and the
command, hardware, wall time and commit of the invocation that made the records) and the
records ``<experiment>.json``, and writes ``<experiment>.md`` and the plots with the
experiment's own ``make_report``: the header is the original run's (from ``meta.json``),
followed by a line saying when and by what the report was regenerated. It never writes
the records or ``meta.json``.

Why not ``--report_only``: a sweep's ``--report_only`` keeps only the records whose
config hash equals the plan's, and every default added to the train config since a sweep
ran changes that hash, so it would report (and save) an empty sweep. Here the records are
taken as they are.

Records written before the sweeps evaluated the test split (*legacy*: no ``test``
field; the committed gap sweeps, adding T = 1000, sentiment and gates runs) are adapted in
memory: their ``accuracy`` / ``loss`` (``mse``) become ``validation_sample`` (what they
were: the held-out sample evaluated during training, the one that stopped a solved run),
so :func:`experiments.report.reported` labels them, and the report opens with a note that
they need a rerun and the command (:func:`rerun_command`). The config a legacy report
needs is the experiment's current config of the same size with the legacy settings
(seeds, steps, threshold, axes) written over it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shutil
import sys
import tempfile

import ml_collections

from experiments import report
from lstmjax import runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "experiments", "results")
# the directories whose reports this regenerates (pixel_mnist and bench have their own)
COMMITTED = ("gap_sweep_standard", "gap_sweep_gap1000", "gap_sweep_adding_standard",
             "gap_sweep_quick", "adding_long_t1000", "adding_long_quick",
             "sentiment_standard", "sentiment_quick", "gates_standard", "gates_quick",
             "ablation_v2_quick", "ablation_quick", "ablation_standard")
EXPERIMENTS = ("gap_sweep", "adding_long", "sentiment", "gates", "ablation_v2", "ablation")


def is_legacy(records: list[dict]) -> bool:
    """Records from before the test split was recorded (no run has a ``test`` field)."""
    return bool(records) and not any("test" in r for r in records)


def _upgrade(r: dict, settings: dict, name: str) -> dict:
    """A legacy record as the current report code reads it (in memory only)."""
    out = dict(r)
    loss = r.get("mse", r.get("loss"))
    out["validation_sample"] = {"accuracy": r.get("accuracy"), "loss": loss}
    out.setdefault("steps_budget", settings.get("steps", settings.get("max_steps")))
    out.setdefault("solved", False)
    out.setdefault("steps_to_solve", None)
    out.setdefault("status", "legacy")
    out["curve_examples"] = settings.get("eval_examples")
    if name == "gates":
        out.setdefault("sequences", settings["sequences"])
    if name == "ablation":  # the score and the metrics of the legacy "eval" sample
        ev = r.get("eval") or {}
        out["validation_sample"] = {**ev, "score": r.get("score")}
    return out


def _legacy_config(name: str, mode: str, settings: dict) -> ml_collections.ConfigDict:
    """The experiment's current config of size ``mode`` with the legacy settings over it."""
    cfg = importlib.import_module(f"experiments.configs.{name}").get_config(mode)
    s = settings
    cfg.seeds = int(s["seeds"])
    steps = s.get("steps", s.get("max_steps"))
    if not isinstance(steps, dict):  # the ablation's budgets are per task (below)
        cfg.train.steps = int(steps)
    if "solve_threshold" in s or "threshold" in s:
        cfg.train.solve_threshold = float(s.get("solve_threshold", s.get("threshold")))
    if name == "gap_sweep":
        cfg.tasks = tuple(s["tasks"])
        cfg.models = tuple(s["models"])
        if s["tasks"] == ["adding"]:
            cfg.adding_lengths = tuple(s["gaps"])
        else:
            cfg.gaps = tuple(s["gaps"])
    elif name == "adding_long":
        cfg.models = tuple(s["models"])
        cfg.length = int(s["length"])
    elif name == "sentiment":
        cfg.poolings = tuple(s["poolings"])
        cfg.reviews.num_reviews = int(s["num_reviews"])
        cfg.data_description = s.get("data_description", "?")
    elif name == "ablation":
        cfg.variants = tuple(s["variants"])
        cfg.tasks = tuple(s["tasks"])
        for task, budget in s["steps"].items():
            cfg.task_defs[task].steps = int(budget)
    elif name == "gates":
        cfg.gap = int(s["gap"])
        cfg.top_units = int(s["top_units"])
        cfg.init = s["init"]
    return cfg


def rerun_command(name: str, mode: str, settings: dict, workdir: str) -> str:
    """The command that reruns a legacy directory's runs through the current sweep (with a
    test split): the experiment's config of the same size, with the legacy axes, seeds and
    budget as overrides where they differ from it."""
    cfg = _legacy_config(name, mode, settings)
    base = importlib.import_module(f"experiments.configs.{name}").get_config(mode)
    over = []
    for field in ("tasks", "models", "poolings", "variants", "gaps", "adding_lengths",
                  "length", "gap", "seeds", "train.steps"):
        head, _, tail = field.partition(".")
        new = cfg[head][tail] if tail else cfg.get(head)
        old = base[head][tail] if tail else base.get(head)
        if new is not None and new != old:
            value = ",".join(map(str, new)) if isinstance(new, (tuple, list)) else new
            over.append(f"--config.{field}={value}")
    if name == "ablation":  # per-task budgets
        over += [f"--config.task_defs.{t}.steps={cfg.task_defs[t].steps}"
                 for t in cfg.tasks if cfg.task_defs[t].steps != base.task_defs[t].steps]
    rel = os.path.relpath(workdir, ROOT)
    return " ".join([f"python -m experiments.{name} --config experiments/configs/{name}.py:"
                     f"{mode}", *over, f"--workdir {rel}"])


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
            shutil.copytree(workdir, copy,
                            ignore=shutil.ignore_patterns("checkpoints", "*.png"))
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
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: {name!r} in {meta_path}; accepted: {list(EXPERIMENTS)}")
    module = importlib.import_module(f"experiments.{name}")
    records = report.read_records(os.path.join(workdir, f"{name}.json"))
    notes = []
    if is_legacy(records):
        records = [_upgrade(r, settings, name) for r in records]
        config = _legacy_config(name, mode, settings)
        notes = report.split_note(records, rerun_command(name, mode, settings, shown),
                                  "score" if name == "ablation" else "accuracy")
    else:
        config = ml_collections.ConfigDict(settings)
    sections, _ = module.make_report(records, config, workdir)
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
    p.add_argument("--all", action="store_true", help=f"every directory of {COMMITTED}")
    p.add_argument("--check", action="store_true",
                   help="write no report (the plots are redrawn); exit 1 if a report differs "
                   "from its regeneration")
    args = p.parse_args(argv)
    dirs = list(args.workdirs) + ([os.path.join(RESULTS, d) for d in COMMITTED]
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
