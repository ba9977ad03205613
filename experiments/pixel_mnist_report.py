"""Sequential and permuted MNIST: one table from the committed runs, beside published numbers.

    python -m experiments.pixel_mnist_report --results experiments/results/pixel_mnist

Each subdirectory of ``--results`` is one run committed by :mod:`experiments.run_report`
(``summary.json``, ``config.json``, optional ``evaluation.json``). The table says, per
run: the variant (sequential, or permuted with its permutation seed), the model, the steps
trained out of the budget, whether the run finished, and its test accuracy on the whole
test split with the number of images and the step of the parameters scored. A finished
run reports ``summary.json``'s ``test`` (last step) and ``test_at_best``; an unfinished
one reports what ``lstmjax evaluate`` measured on its latest checkpoint and is marked
UNFINISHED, with the command that continues it. Published numbers are quoted from the
papers named in :data:`PUBLISHED` (not computed here). Writes ``pixel_mnist.md``.
"""

from __future__ import annotations

import argparse
import os
import sys

from experiments import report
from lstmjax import runs

# (variant, cell) -> [(source, accuracy %)], quoted from the papers' tables
PUBLISHED = {
    ("sequential", "lstm"): [("Arjovsky et al. 2016, Table 1 (LSTM)", 98.2)],
    ("permuted", "lstm"): [("Arjovsky et al. 2016, Table 1 (LSTM)", 88.0)],
    ("sequential", "rnn"): [("Le et al. 2015 (IRNN: ReLU, identity init; not a tanh RNN)", 97.0)],
    ("permuted", "rnn"): [("Le et al. 2015 (IRNN: ReLU, identity init; not a tanh RNN)", 82.0)],
}
NOT_PUBLISHED = "no published number quoted here"


def variant_of(cfg: dict) -> str:
    """'permuted' when the run's npz files are the permuted ones (scripts/mnist_to_npz.py
    writes them to a folder named for it), else 'sequential'."""
    return "permuted" if "permuted" in cfg["data"].get("path", "") else "sequential"


def _acc(rec: dict | None) -> str:
    if not rec:
        return "–"
    if "params" in rec:  # written by `lstmjax evaluate`: "last@<step>" or "best@<step>"
        which, at = rec["params"].split("@")
        where = f"step {int(at):,}, {'latest' if which == 'last' else 'best'} checkpoint"
    else:
        where = f"step {rec['step']:,}"
    return f"{100 * rec['accuracy']:.2f}% ({rec['examples']:,} images, {where})"


def row(run_dir: str) -> dict:
    summary = runs.read_json(os.path.join(run_dir, "summary.json"))
    cfg = runs.read_json(os.path.join(run_dir, "config.json"))
    evaluation_path = os.path.join(run_dir, "evaluation.json")
    evaluation = runs.read_json(evaluation_path) if os.path.exists(evaluation_path) else None
    finished = summary["status"] in ("completed", "solved_early")
    if finished:
        test, at_best = summary.get("test"), summary.get("test_at_best")
    else:
        test, at_best = evaluation, None
    cell = cfg["model"]["cell"]
    variant = variant_of(cfg)
    published = PUBLISHED.get((variant, cell))
    return dict(
        name=os.path.basename(run_dir), variant=variant, cell=cell, finished=finished,
        step=summary["step"], budget=cfg["steps"],
        accuracy=test["accuracy"] if test else None,
        steps=f"{summary['step']:,} / {cfg['steps']:,}",
        status=summary["status"] if finished else f"UNFINISHED ({summary['status']})",
        test=_acc(test), test_at_best=_acc(at_best),
        published="; ".join(f"{s}: {a:.1f}%" for s, a in published) if published
        else NOT_PUBLISHED)


def markdown(rows: list[dict], results: str) -> str:
    header = ["run", "variant", "model", "steps / budget", "status",
              "test accuracy (whole test split)", "test at best validation", "published"]
    table = report.markdown_table(header, [[r["name"], r["variant"], r["cell"], r["steps"],
                                            r["status"], r["test"], r["test_at_best"],
                                            r["published"]] for r in rows])
    unfinished = [r["name"] for r in rows if r["status"].startswith("UNFINISHED")]
    lines = ["# Pixel MNIST: sequential and permuted, 784 steps of one pixel", "",
             f"- command: `python -m experiments.pixel_mnist_report --results {results}`",
             "- runs: `python -m lstmjax train --config experiments/configs/pixel_mnist.py:"
             "<model>[,permuted] --workdir runs/<run>` (each run's `result.md` has its own "
             "command, hardware, wall time and commit)", "",
             "## Test accuracy per run", "",
             "Every accuracy is on the whole MNIST test split (10,000 images); the step is "
             "the training step of the parameters scored.", "", table, ""]
    if unfinished:
        lines += [f"**Unfinished:** {', '.join(unfinished)}: stopped before the step "
                  "budget; the accuracy is that of the latest "
                  "checkpoint and says nothing about where the run converges. Rerunning "
                  "the run's command (in its `result.md`) resumes it.", ""]
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True, help="a folder of run_report outputs")
    args = p.parse_args(argv)
    dirs = sorted(d for d in (os.path.join(args.results, n) for n in os.listdir(args.results))
                  if os.path.exists(os.path.join(d, "summary.json")))
    if not dirs:
        print(f"error: --results {args.results}: no run directories with summary.json",
              file=sys.stderr)
        raise SystemExit(2)
    path = os.path.join(args.results, "pixel_mnist.md")
    with open(path, "w") as f:
        f.write(markdown([row(d) for d in dirs], args.results))
    print(path)
    return path


if __name__ == "__main__":
    main()
