"""Commit a single training run's result: copy what judges it and write its Markdown.

    python -m experiments.run_report --workdir runs/mnist_rows \\
        --out experiments/results/mnist_rows --command "python -m lstmjax train ..." \\
        [--wall "2:38"] [--note "..."] [--evaluation runs/x/test_last.json]

Copies ``summary.json``, ``config.json``, ``metrics.jsonl`` and ``learning_curve.png`` (with
``--resumable`` also the checkpoints and what else a resume reads) into ``--out`` and writes
``result.md``: the command, the whole-split
numbers (split, examples, metrics), steps and status, wall time, hardware and commit, all
read from the run directory. A run that has not finished is labelled UNFINISHED with the
command that continues it (the same command: a rerun resumes). With ``--resumable`` the
committed folder is itself a run directory: ``cp -r OUT runs/NAME`` on a fresh clone and the
same command continues the run from its latest checkpoint (bitwise on the same machine). An interrupted run has no
whole-split numbers of its own; ``--evaluation`` adds what ``lstmjax evaluate --output``
wrote for its latest checkpoint (copied as ``evaluation.json``), named by its split,
example count and the step of the parameters it scored.
"""

from __future__ import annotations

import argparse
import os
import shutil

from experiments import report
from lstmjax import runs, train

FILES = ("summary.json", "config.json", "metrics.jsonl", "learning_curve.png")
EVALUATION = "evaluation.json"
# what a resume reads besides FILES (--resumable): the orbax checkpoints (about 0.8 MB for
# a 68k-parameter LSTM with its Adam state), the TaskSpec, the timing log, a text task's
# vocabulary and labels. Committing them lets a fresh clone continue an unfinished run.
RESUME_FILES = (train.TASK, runs.TIMING, train.VOCAB, train.LABELS)
RESUME_DIRS = ("checkpoints",)


def _metrics(rec: dict | None) -> str:
    if not rec:
        return "–"
    vals = ", ".join(f"{k} {v:.4f}" for k, v in rec.items() if isinstance(v, float))
    return f"{rec['split']}, {rec['examples']} examples, step {rec['step']}: {vals}"


def _evaluation(rec: dict) -> str:
    vals = ", ".join(f"{k} {v:.4f}" for k, v in rec.items() if isinstance(v, float))
    return (f"{rec['split']}, {rec['examples']} examples, parameters {rec['params']} "
            f"(`lstmjax evaluate`): {vals}")


def segments(timing: list[dict]) -> list[float]:
    """Seconds of training per process that ran the run, from its ``timing.jsonl``: each
    start (a resume) counts ``elapsed_s`` from 0 again and writes its own ``started_at``
    (logs written before that field: a drop in ``elapsed_s`` begins a segment); a
    segment's time is its last record's ``elapsed_s`` (up to its last train log; a resume
    cuts the log back to its checkpoint, so steps redone after a kill count once)."""
    out: list[float] = []
    last = None
    for rec in timing:
        t, start = float(rec["elapsed_s"]), rec.get("started_at")
        if last is None or (start != last[1] if start is not None else t < last[0]):
            out.append(0.0)
        out[-1], last = t, (t, start)
    return out


def markdown(summary: dict, cfg: dict, command: str, wall: str | None, note: str | None,
             finished: bool, evaluation: dict | None = None,
             resume_from: tuple[str, str] | None = None,
             timing: list[dict] | None = None) -> str:
    hw = report.hardware()
    parts = segments(timing or [])
    lines = [f"# {summary['task']}: {cfg['model']['cell']} ({'finished' if finished else 'UNFINISHED'})",
             "", f"- command: `{command}`"]
    if not finished:
        lines.append(f"- **UNFINISHED** at step {summary['step']} of {cfg['steps']}: rerun the "
                     "same command (with the same --workdir) to continue from its checkpoint")
        if resume_from:
            lines.append(f"- its checkpoint is committed with these records: on a fresh clone, "
                         f"`cp -r {resume_from[0]} {resume_from[1]}` and then the command above "
                         "continues it")
    lines += [
        f"- status: {summary['status']}, step {summary['step']} of {summary['steps']}, "
        f"seed {summary['seed']}",
        f"- reported (whole splits): {_metrics(summary.get('test'))}; "
        f"{_metrics(summary.get('final_eval'))}",
        f"- best periodic validation: {summary.get('best')}; test with its parameters: "
        f"{_metrics(summary.get('test_at_best'))}",
        *([f"- evaluated after the run: {_evaluation(evaluation)}"] if evaluation else []),
        f"- wall time: {wall or format(summary['wall_time_s'] / 60, '.1f') + ' min'} "
        f"(training process {summary['wall_time_s']:.0f} s"
        + (f", its last of {len(parts)} segments; all segments: {sum(parts) / 60:.1f} min of "
           "training by the timing log" if len(parts) > 1 else "") + ")",
        f"- hardware: {hw['cpu']} ({hw['cpu_count']} cores), JAX backend {hw['jax_backend']}",
        f"- git commit: {summary.get('git_commit')}; parameters: {summary.get('num_params')}",
    ]
    if note:
        lines.append(f"- note: {note}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--command", required=True, help="the command that made (continues) it")
    p.add_argument("--wall", help="wall time as measured outside (e.g. by /usr/bin/time)")
    p.add_argument("--note")
    p.add_argument("--evaluation", help="a JSON line written by `lstmjax evaluate --output`")
    p.add_argument("--resumable", action="store_true",
                   help="also copy the checkpoints (and what a resume reads), so that a fresh "
                        "clone can continue the run")
    args = p.parse_args(argv)
    summary = runs.read_json(os.path.join(args.workdir, "summary.json"))
    cfg = runs.read_json(os.path.join(args.workdir, "config.json"))
    os.makedirs(args.out, exist_ok=True)
    for name in FILES + (RESUME_FILES if args.resumable else ()):
        if os.path.exists(os.path.join(args.workdir, name)):
            shutil.copyfile(os.path.join(args.workdir, name), os.path.join(args.out, name))
    if args.resumable:
        for name in RESUME_DIRS:
            src, dst = os.path.join(args.workdir, name), os.path.join(args.out, name)
            if os.path.isdir(src):
                # replace, not merge: an older committed checkpoint must not sit beside the new
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
    evaluation = None
    if args.evaluation:
        evaluation = runs.read_json(args.evaluation)
        shutil.copyfile(args.evaluation, os.path.join(args.out, EVALUATION))
    finished = summary["status"] in ("completed", "solved_early")
    path = os.path.join(args.out, "result.md")
    with open(path, "w") as f:
        f.write(markdown(summary, cfg, args.command, args.wall, args.note, finished,
                         evaluation, (args.out, args.workdir) if args.resumable else None,
                         runs.read_jsonl(os.path.join(args.workdir, runs.TIMING))
                         if os.path.exists(os.path.join(args.workdir, runs.TIMING)) else None))
    print(path)
    return path


if __name__ == "__main__":
    main()
