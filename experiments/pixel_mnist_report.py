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

Runs stop at different steps (an unfinished LSTM beside a finished min-RNN), so the report
also compares them *at equal steps*: per variant, a table and a plot
(``curves_<variant>.png``) of each run's periodic validation accuracy from its
``metrics.jsonl``. That periodic evaluation covers part of the validation split (the table
names how many images); it is a learning curve, not the reported result. Under each
table a generated sentence ranks the runs at the furthest step all of them reached.

``--test_npz VARIANT=PATH`` (e.g. ``sequential=data/mnist_pixels/test.npz``) adds where
the evidence lies in each variant's inputs: the number of steps from an image's last
non-zero pixel to the end of its sequence (median and IQR over the test images). A
recurrent net must carry what it read across that many steps to the readout at step 784.

When ``<results>/last_k/last_k.json`` exists (written by :mod:`experiments.last_k_pixels`),
the report adds how much memory each order needs: the test accuracy of a linear classifier
on the last K pixels per order (read, not recomputed), the plot ``last_k/last_k.png``
redrawn with the current models' test accuracies, and per order a generated sentence: the
smallest K whose classifier reaches each model's accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from experiments import report
from experiments.configs import pixel_mnist
from lstmjax import runs, schema

# (variant, cell) -> [(source, accuracy %)], quoted from the papers' tables
PUBLISHED = {
    ("sequential", "lstm"): [("Arjovsky et al. 2016, Table 1 (LSTM)", 98.2)],
    ("permuted", "lstm"): [("Arjovsky et al. 2016, Table 1 (LSTM)", 88.0)],
    ("sequential", "rnn"): [("Le et al. 2015 (IRNN: ReLU, identity init; not a tanh RNN)", 97.0)],
    ("permuted", "rnn"): [("Le et al. 2015 (IRNN: ReLU, identity init; not a tanh RNN)", 82.0)],
    ("sequential", "irnn"): [("Le et al. 2015 (IRNN, 100 hidden units)", 97.0)],
    ("permuted", "irnn"): [("Le et al. 2015 (IRNN, 100 hidden units)", 82.0)],
}
NOT_PUBLISHED = "no published number quoted here"
VARIANTS = ("sequential", "permuted")


def variant_of(cfg: dict) -> str:
    """'permuted' when the run's npz files are the permuted ones (scripts/mnist_to_npz.py
    writes them to a folder named for it), else 'sequential'."""
    return "permuted" if "permuted" in cfg["data"].get("path", "") else "sequential"


# the model fields that tell pixel_mnist.MODELS apart, at their defaults when a model
# leaves them unset (forget bias 1 and no chrono init for lstm_fb1, one layer)
_IDENTITY = sorted({k for m in pixel_mnist.MODELS.values() for k in m})


def model_of(cfg: dict) -> str:
    """The :data:`experiments.configs.pixel_mnist.MODELS` key whose settings the run's model
    has, or ``"<cell> <hidden>x<layers> (earlier size)"`` for a run of an earlier config."""
    have = {k: cfg["model"].get(k, schema.DEFAULTS["model"][k]) for k in _IDENTITY}
    for name, fields in pixel_mnist.MODELS.items():
        if have == {k: fields.get(k, schema.DEFAULTS["model"][k]) for k in _IDENTITY}:
            return name
    return f"{cfg['model']['cell']} {have['hidden_size']}x{have['num_layers']} (earlier size)"


def split_of(cfg: dict) -> str:
    """Which file split the run trained on: the data folder's name (``mnist_pixels_60k``:
    55,000 / 5,000 / 10,000; ``mnist_pixels``: the first committed runs' 50,000 / 10,000 /
    10,000)."""
    return os.path.basename(os.path.dirname(cfg["data"].get("path", ""))) or "?"


def _acc(rec: dict | None, evaluated: bool = False) -> str:
    """``evaluated``: ``rec`` was written by ``lstmjax evaluate`` on a checkpoint (its
    "params" is "last@<step>" or "best@<step>"); summary.json's records name only a step."""
    if not rec:
        return "–"
    if evaluated and "params" in rec:
        which, at = rec["params"].split("@")
        where = f"step {int(at):,}, {'latest' if which == 'last' else 'best'} checkpoint"
    else:
        where = f"step {rec['step']:,}"
    return f"{100 * rec['accuracy']:.2f}% ({rec['examples']:,} images, {where})"


def run_dirs(results: str) -> list[str]:
    """The run directories (those with a ``summary.json``) in ``results``, by name."""
    return sorted(d for d in (os.path.join(results, n) for n in os.listdir(results))
                  if os.path.exists(os.path.join(d, "summary.json")))


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
    # the reported number: test at the best periodic validation's parameters where the run
    # kept them (selected on validation; test selects nothing), else at its last step
    reported = at_best or test
    selected = (f"best validation, step {at_best['step']:,}" if at_best
                else "last step" if finished else "latest checkpoint")
    return dict(
        name=os.path.basename(run_dir), variant=variant, cell=cell, finished=finished,
        model=model_of(cfg), split=split_of(cfg), seed=cfg.get("seed", schema.DEFAULTS["seed"]),
        params=summary.get("num_params"),
        step=summary["step"], budget=cfg["steps"],
        accuracy=reported["accuracy"] if reported else None, selected=selected,
        steps=f"{summary['step']:,} / {cfg['steps']:,}",
        status=summary["status"] if finished else f"UNFINISHED ({summary['status']})",
        test=_acc(test, evaluated=not finished), test_at_best=_acc(at_best),
        published="; ".join(f"{s}: {a:.1f}%" for s, a in published) if published
        else NOT_PUBLISHED)


def curve(run_dir: str) -> list[dict]:
    """The run's periodic validation records ``{step, accuracy, examples}``, by step."""
    recs = runs.read_jsonl(os.path.join(run_dir, runs.METRICS))
    return sorted((r for r in recs if r.get("split") == "validation" and "accuracy" in r),
                  key=lambda r: r["step"])


def steps_after_last_ink(x: np.ndarray) -> np.ndarray:
    """``x [N, T, 1]`` (or ``[N, T]``) -> ``[N]``: steps from each sequence's last non-zero
    input to its end (T - 1 - last index; T when a sequence is all zeros)."""
    nz = x.reshape(len(x), -1) != 0
    # the first non-zero of the reversed sequence is the number of steps after the last one
    return np.where(nz.any(1), np.argmax(nz[:, ::-1], axis=1), nz.shape[1])


def evidence_section(test_npz: dict[str, str]) -> list[str]:
    """Per variant: median [IQR] steps between the last ink pixel and the readout."""
    cells = []
    for variant, path in test_npz.items():
        with np.load(path) as f:
            gap = steps_after_last_ink(f["x"])
        q1, med, q3 = np.percentile(gap, [25, 50, 75])
        cells.append([variant, f"{len(gap):,}", f"{med:g} [{q1:g}-{q3:g}]", f"`{path}`"])
    return ["## Where the evidence lies", "",
            "Steps from an image's last non-zero pixel to the end of its sequence, where the "
            "classifier reads the state: what the net has to carry, and for how long.", "",
            report.markdown_table(["variant", "test images", "steps after the last ink "
                                   "pixel: median [IQR]", "file"], cells), ""]


def furthest(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(variant, model, data split) -> the row of its run trained furthest (a rerun and
    its first try are two runs of one model; the comparisons take one of them; ``model``
    as :func:`model_of` names it, the split as :func:`split_of`: a model on the 50k and
    the 60k split are two models)."""
    best = {}
    for r in rows:
        key = (r["variant"], r["model"], r["split"])
        if key not in best or r["step"] > best[key]["step"]:
            best[key] = r
    return dict(sorted(best.items()))


def ranking(names: list[str], by_run: dict[str, dict[int, dict]]) -> str:
    """At the furthest step all these runs reached: the runs by validation accuracy."""
    if len(names) < 2:
        return ""
    common = set.intersection(*(set(by_run[n]) for n in names))
    if not common:
        return ""
    step = max(common)
    ranked = sorted(names, key=lambda n: -by_run[n][step]["accuracy"])
    return (f"At step {step:,}, the furthest step reached by all {len(names)} models (each "
            "by its run trained furthest): "
            + ", ".join(f"{n} {100 * by_run[n][step]['accuracy']:.2f}%" for n in ranked) + ".")


def curves_section(rows: list[dict], curves: dict[str, list[dict]], results: str,
                   variant: str) -> list[str]:
    """One variant's equal-step table (rows: eval steps; columns: runs) and its plot."""
    names = [r["name"] for r in rows if r["variant"] == variant and curves[r["name"]]]
    if not names:
        return []
    by_run = {n: {c["step"]: c for c in curves[n]} for n in names}
    steps = sorted({s for n in names for s in by_run[n]})
    examples = sorted({c["examples"] for n in names for c in curves[n]})
    cells = [[f"{s:,}"] + [f"{100 * by_run[n][s]['accuracy']:.2f}%" if s in by_run[n] else "–"
                           for n in names] for s in steps]
    png = f"curves_{variant}.png"
    report.plot_lines(
        os.path.join(results, png),
        {n: ([c["step"] for c in curves[n]], [100 * c["accuracy"] for c in curves[n]],
             [0.0] * len(curves[n])) for n in names},
        xlabel="training step", ylabel="validation accuracy (%)",
        title=f"{variant} MNIST: periodic validation "
              f"({'/'.join(f'{e:,}' for e in examples)} images)", ylim=(0, 100))
    return [f"### {variant.capitalize()} MNIST at equal steps", "",
            f"Periodic validation accuracy on {' or '.join(f'{e:,}' for e in examples)} of "
            "the validation images (`eval_batches` × `eval_batch_size`, the same images at "
            "every step); a learning curve to compare runs at the same step, not the "
            "reported result (that is the test column above). Plot: "
            f"[{png}]({png}).", "",
            report.markdown_table(["step"] + names, cells), "",
            ranking([r["name"] for r in furthest(rows).values() if r["name"] in names],
                    by_run), ""]


# ------------------------------------------------------------------ last K pixels (memory)
LAST_K = os.path.join("last_k", "last_k.json")


def model_lines(rows: list[dict]) -> list[dict]:
    """Each (variant, model, data split)'s run trained furthest, with a test accuracy:
    ``{variant, cell, model, split, name, accuracy, step, finished}``."""
    return [dict(variant=r["variant"], cell=r["cell"], model=r["model"], split=r["split"],
                 name=r["name"],
                 accuracy=r["accuracy"],
                 step=r["step"], finished=r["finished"])
            for r in furthest(rows).values() if r["accuracy"] is not None]


def last_k_curve(record: dict, order: str) -> list[dict]:
    """``last_k.json``'s records of one pixel order, by K."""
    return sorted((r for r in record["results"] if r["order"] == order), key=lambda r: r["k"])


def smallest_k(curve: list[dict], accuracy: float) -> dict | None:
    """The record of the smallest K whose linear classifier's test accuracy reaches
    ``accuracy`` (>=), or None when no K in the curve does."""
    return next((r for r in curve if r["test_accuracy"] >= accuracy), None)


def last_k_sentence(record: dict, order: str, models: list[dict]) -> str:
    """What a model of this order must remember to beat a memoryless linear readout."""
    curve = last_k_curve(record, order)
    ms = sorted((m for m in models if m["variant"] == order), key=lambda m: -m["accuracy"])
    if not curve or not ms:
        return ""
    top, n = curve[-1], curve[-1]["test_examples"]
    parts = []
    for m in ms:
        hit = smallest_k(curve, m["accuracy"])
        what = (f"{m['cell']}'s {100 * m['accuracy']:.2f}% ({m['name']}, step {m['step']:,}"
                f"{'' if m['finished'] else ', unfinished'})")
        if hit is None:
            parts.append(f"no K up to {top['k']:,} reaches the {what}: it beats a linear "
                         f"readout of every final window tried (the whole sequence gives "
                         f"{100 * top['test_accuracy']:.2f}%)")
        else:
            parts.append(f"the {what} is reached from K = {hit['k']:,} "
                         f"({100 * hit['test_accuracy']:.2f}%): a linear readout of the "
                         f"last {hit['k']:,} pixels, with no memory before them, does as "
                         "well")
    return (f"**{order.capitalize()} order** (test split, {n:,} images): " + "; ".join(parts)
            + f". A model earns credit for remembering more than the last K steps only "
            "where it beats the classifier at K.")


def plot_last_k(path: str, record: dict, models: list[dict]) -> None:
    """Test accuracy against K per order; a dashed line per model at its test accuracy, in
    its order's colour."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    colours = {"sequential": "tab:blue", "permuted": "tab:orange"}
    orders = [o for o in VARIANTS if last_k_curve(record, o)]
    for order in orders:
        curve = last_k_curve(record, order)
        ax.plot([r["k"] for r in curve], [100 * r["test_accuracy"] for r in curve], "o-",
                color=colours[order], markersize=4, label=f"{order}: linear, last K pixels")
    right = max(r["k"] for r in record["results"])
    label_y = -10.0
    for m in sorted((m for m in models if m["variant"] in orders),
                    key=lambda m: m["accuracy"]):
        y = 100 * m["accuracy"]
        ax.axhline(y, color=colours[m["variant"]], linestyle="--", linewidth=1, alpha=0.7)
        label_y = max(y, label_y + 3.0)  # close accuracies: stack the labels, not overlap
        ax.annotate(f"{m['variant']} {m['cell']} {y:.1f}%", (right, label_y), fontsize=7,
                    color=colours[m["variant"]], ha="right", va="bottom")
    n = sorted({r["test_examples"] for r in record["results"]})
    ax.set_xlabel("K: the last K pixels the classifier reads")
    ax.set_ylabel(f"test accuracy (%), {'/'.join(f'{v:,}' for v in n)} images")
    ax.set_title("Linear readout of the last K pixels vs the models (dashed)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def last_k_section(record: dict, rows: list[dict], results: str) -> list[str]:
    """The table K x order from ``last_k.json`` (not recomputed) and one sentence per
    order; redraws ``last_k/last_k.png`` with the current rows' models."""
    orders = [o for o in VARIANTS if last_k_curve(record, o)]
    by = {o: {r["k"]: r for r in last_k_curve(record, o)} for o in orders}
    ks = sorted({k for o in orders for k in by[o]})
    first, st = record["results"][0], record["settings"]
    cells = [[f"{k:,}"] + [f"{100 * by[o][k]['test_accuracy']:.2f}% (l2 {by[o][k]['l2']:g}, "
                           f"{by[o][k]['iterations']} it"
                           + (", cap" if by[o][k]["iterations"] >= st["max_iter"] else "")
                           + ")"
                           if k in by[o] else "–" for o in orders] for k in ks]
    models = model_lines(rows)
    png = os.path.join(os.path.dirname(LAST_K), "last_k.png")
    plot_last_k(os.path.join(results, png), record, models)
    hw = record["hardware"]
    return ["## How much memory each order needs: a linear readout of the last K pixels", "",
            "A multinomial logistic regression reads only the last K pixels of each "
            "sequence (standardized with the training split's per-pixel statistics), so it "
            "remembers nothing before them. Fitted on the training split "
            f"({first['train_examples']:,} images), L2 strength chosen on the validation "
            f"split ({first['validation_examples']:,} images) from "
            f"{', '.join(f'{v:g}' for v in st['l2_grid'])}, scored once on the whole test "
            f"split ({first['test_examples']:,} images); {st['solver']}, at most "
            f"{st['max_iter']} iterations, stopping earlier once the largest gradient entry "
            f"falls to {st['tol']:g} ('cap': stopped by the iteration cap). Plot: [{png}]({png}), the models' test accuracies dashed.", "",
            f"- the fits' command: `{record['command']}`; {hw['cpu']} ({hw['cpu_count']} cores), "
            f"{record['wall_time_s'] / 60:.1f} min, commit {record['git_commit']}, started "
            f"{record['started']}", "",
            report.markdown_table(["K (last pixels)"] + [f"{o}: test accuracy" for o in orders],
                                  cells), ""] + [
        line for o in orders if last_k_sentence(record, o, models)
        for line in (last_k_sentence(record, o, models), "")]


def by_model(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    """(variant, model, data split) -> ``{"rows", "seeds", "finished" (seeds), "accuracy"
    (per finished seed: the reported accuracy of its run trained furthest), "furthest" (the
    row trained furthest)}``. A seed counts once: an unfinished folder continued in another
    is the same run."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["model"], r["split"]), []).append(r)
    out = {}
    for key, rs in sorted(groups.items()):
        done = sorted((r for r in rs if r["finished"] and r["accuracy"] is not None),
                      key=lambda r: r["step"])
        acc = {r["seed"]: r["accuracy"] for r in done}
        out[key] = dict(rows=rs, seeds=sorted({r["seed"] for r in rs}), finished=sorted(acc),
                        accuracy=[acc[k] for k in sorted(acc)],
                        furthest=max(rs, key=lambda r: r["step"]))
    return out


def by_model_section(rows: list[dict]) -> list[str]:
    """Per (variant, model, data split): the finished runs' reported test accuracy (at the
    best validation) as mean ± sample sd [95% bootstrap interval] (n seeds), beside the
    published number; unfinished runs are counted, never averaged in."""
    table = []
    for (variant, model, split), g in by_model(rows).items():
        params = sorted({r["params"] for r in g["rows"] if r["params"]})
        table.append([variant, model, split, "/".join(f"{p:,}" for p in params) or "?",
                      f"{len(g['finished'])} of {len(g['seeds'])}"
                      + (f" ({', '.join(map(str, g['finished']))})" if g["finished"] else ""),
                      report.fmt_mean_std(g["accuracy"], scale=100, digits=2),
                      g["rows"][0]["published"]])
    return ["## Test accuracy per model", "",
            "Finished runs only, each scored on the whole test split (10,000 images) with "
            "the parameters of its best periodic validation (per seed, the run trained "
            "furthest). " + report.spread_note()
            + " The data split is the folder the run read (`mnist_pixels_60k`: 55,000 "
            "training / 5,000 validation images; `mnist_pixels`: the first runs' 50,000 / "
            "10,000).", "",
            report.markdown_table(["variant", "model", "data split", "parameters",
                                   "seeds finished", "test accuracy (%)", "published"], table),
            ""]


def markdown(rows: list[dict], results: str, curves: dict[str, list[dict]] | None = None,
             test_npz: dict[str, str] | None = None, last_k: dict | None = None) -> str:
    header = ["run", "variant", "model", "seed", "data split", "parameters", "steps / budget",
              "status", "test accuracy (whole test split)", "test at best validation",
              "published"]
    table = report.markdown_table(header, [[r["name"], r["variant"], r["model"], r["seed"],
                                            r["split"], f"{r['params']:,}" if r["params"]
                                            else "?", r["steps"],
                                            r["status"], r["test"], r["test_at_best"],
                                            r["published"]] for r in rows])
    unfinished = [r["name"] for r in rows if r["status"].startswith("UNFINISHED")]
    lines = ["# Pixel MNIST: sequential and permuted, 784 steps of one pixel", "",
             "- command: `" + " ".join(["python -m experiments.pixel_mnist_report --results",
                                        results] + [f"--test_npz {v}={p}" for v, p in
                                                    (test_npz or {}).items()]) + "`",
             "- runs: `python -m lstmjax train --config experiments/configs/pixel_mnist.py:"
             "<model>[,permuted] --workdir runs/<run>` (each run's `result.md` has its own "
             "command, hardware, wall time and commit)", "",
             *by_model_section(rows),
             "## Test accuracy per run", "",
             "Every accuracy is on the whole MNIST test split (10,000 images); the step is "
             "the training step of the parameters scored.", "", table, ""]
    if unfinished:
        lines += [f"**Unfinished:** {', '.join(unfinished)}: stopped before the step "
                  "budget; the accuracy is that of the latest "
                  "checkpoint and says nothing about where the run converges. Rerunning "
                  "the run's command (in its `result.md`) resumes it.", ""]
    if curves:
        lines += ["## Validation accuracy at equal steps", ""]
        for variant in VARIANTS:
            lines += curves_section(rows, curves, results, variant)
    if test_npz:
        lines += evidence_section(test_npz)
    if last_k:
        lines += last_k_section(last_k, rows, results)
    return "\n".join(lines)


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True, help="a folder of run_report outputs")
    p.add_argument("--test_npz", action="append", default=[], metavar="VARIANT=PATH",
                   help="a variant's test.npz: adds where the evidence lies in its inputs")
    args = p.parse_args(argv)
    test_npz = {}
    for item in args.test_npz:
        variant, sep, path = item.partition("=")
        if not sep or variant not in VARIANTS or not os.path.isfile(path):
            print(f"error: --test_npz {item!r}: expected sequential=PATH or permuted=PATH "
                  "naming an existing npz file", file=sys.stderr)
            raise SystemExit(2)
        test_npz[variant] = path
    dirs = run_dirs(args.results)
    if not dirs:
        print(f"error: --results {args.results}: no run directories with summary.json",
              file=sys.stderr)
        raise SystemExit(2)
    last_k_path = os.path.join(args.results, LAST_K)
    last_k = runs.read_json(last_k_path) if os.path.exists(last_k_path) else None
    path = os.path.join(args.results, "pixel_mnist.md")
    with open(path, "w") as f:
        f.write(markdown([row(d) for d in dirs], args.results,
                         {os.path.basename(d): curve(d) for d in dirs}, test_npz, last_k))
    print(path)
    return path


if __name__ == "__main__":
    main()
