"""BiLSTM sentiment: the seed's sentence vector [h_fw_last ; h_bw_first] vs the alternatives.

    python -m experiments.sentiment --config experiments/configs/sentiment.py:quick \
        --workdir runs/sentiment                                   # synthetic reviews
    python -m experiments.sentiment --config experiments/configs/sentiment.py \
        --config.data=imdb --workdir runs/imdb                     # IMDB via TFDS
    python -m experiments.sentiment --config experiments/configs/sentiment.py \
        --config.data=file --config.path=reviews.csv               # your labelled text

Poolings compared (same embedding size, hidden size per direction, optimizer, seeds):

* ``bilstm``: BiLSTM, sentence = [h_fw at the last word ; h_bw at the first word] (the seed);
* ``forward_last``: a forward LSTM, sentence = its h at the last word;
* ``mean``: BiLSTM, sentence = the mean of the per-step outputs [h_fw ; h_bw].

Data: ``config.data=auto`` (default) uses IMDB when its TFDS files are prepared in
``--data_dir`` (or ``$TFDS_DATA_DIR`` / ``~/tensorflow_datasets``) and otherwise writes a
synthetic labelled review file (:func:`write_synthetic_reviews`, CSV, offline) into the
workdir and reads it through lstmjax's own text-file loader, the path users take with
their own data. In a synthetic review the opinion ("loved it", "a dull film", ...) is
stated in the first few words, followed by 60-200 words (quick/standard) of neutral plot
description that also contains sentiment words of both polarities at random (so counting
words is not enough); the label is the opening opinion.

Each run is ``lstmjax.train.run`` (jobs, resume, shards: ``experiments/sweep.py``); the
reported accuracy is the whole test split at the last step.

Outputs: ``sentiment.json`` (records ``{"pooling", "seed", "test": {"accuracy", "loss",
"examples"}, ...}``), ``sentiment.md`` (accuracy: mean ± sample std, bootstrap interval, N; which poolings tie),
``sentiment_accuracy.png`` (bars with error bars), ``learning_curves.png``, ``meta.json``.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np
from absl import flags

from experiments import report, stats, sweep

LABELS = {"bilstm": "BiLSTM [h_fw_last ; h_bw_first]", "forward_last": "forward LSTM, last h",
          "mean": "BiLSTM, mean over steps"}
DATA = ("auto", "imdb", "synthetic", "file")
POSITIVE = ["loved it", "a wonderful film", "brilliant", "great fun", "a masterpiece",
            "i enjoyed every minute", "superb acting", "highly recommended"]
NEGATIVE = ["hated it", "a dull film", "terrible", "a waste of time", "boring",
            "i regret watching", "awful acting", "not recommended"]
NOISE = ["good", "bad", "great", "poor", "fine", "weak", "nice", "ugly", "funny", "sad"]
NEUTRAL = ("the a an and of to in on with as at by for from this that it its his her their "
           "story plot film movie scene scenes camera director actor actress cast character "
           "characters city house family friend friends night day year years war love life "
           "man woman child children music score script dialogue ending beginning middle "
           "first second last then later after before while when where who which what "
           "goes comes finds meets leaves returns tries wants knows thinks sees tells takes "
           "makes gives looks seems becomes starts ends runs walks talks works lives dies "
           "old young new long short small big dark bright quiet loud early late other "
           "same different several many few some most every each both either neither").split()


def write_synthetic_reviews(path: str, num_reviews: int, seed: int = 0, *, min_filler: int = 20,
                            max_filler: int = 110) -> str:
    """A CSV (``text,label``) of synthetic reviews; the label is the opening opinion."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"  # shards may write the same file: atomically
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(num_reviews):
            label = int(rng.integers(0, 2))
            opinion = (POSITIVE if label else NEGATIVE)[rng.integers(0, 8)]
            n = int(rng.integers(min_filler, max_filler + 1))
            words = list(rng.choice(NEUTRAL, n))
            for k in rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False):
                words[k] = str(rng.choice(NOISE))  # sentiment words of either polarity
            w.writerow([f"{opinion} . " + " ".join(words) + " .",
                        "positive" if label else "negative"])
    os.replace(tmp, path)
    return path


def imdb_prepared(data_dir: str | None) -> bool:
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    d = os.path.join(root, "imdb_reviews")
    return os.path.isdir(d) and any(os.scandir(d))


def data_config(config, ctx: dict) -> dict:
    """The runs' data section (writes the synthetic review file into the workdir)."""
    kind = config.data
    if kind not in DATA:
        raise ValueError(f"config.data={kind!r}; accepted: {list(DATA)}")
    if kind == "auto":
        kind = "imdb" if imdb_prepared(ctx.get("data_dir")) else "synthetic"
    n = config.max_length
    if kind == "imdb":
        return {"name": "imdb", "vocab_size": 20_000, "max_length": n, "holdout": 2500,
                "vocab_path": os.path.join(ctx["workdir"], "imdb_vocab.json")}
    if kind == "file":
        if not config.path:
            raise ValueError("config.data=file needs --config.path=FILE (CSV/TSV/JSONL with "
                             "text,label)")
        return {"name": "text_file", "path": config.path, "max_length": n, "holdout": 0.1,
                "vocab_size": 20_000}
    rv = config.reviews
    path = os.path.join(ctx["workdir"], "synthetic_reviews.csv")
    write_synthetic_reviews(path, rv.num_reviews, seed=0, min_filler=rv.min_filler,
                            max_filler=rv.max_filler)
    return {"name": "text_file", "path": path, "max_length": n, "holdout": 0.2,
            "vocab_size": 5_000}


def describe_data(data_cfg: dict, config) -> str:
    if data_cfg["name"] == "imdb":
        return f"IMDB reviews (TFDS imdb_reviews), first {data_cfg['max_length']} tokens"
    if os.path.basename(data_cfg["path"]) == "synthetic_reviews.csv":
        return (f"synthetic reviews ({config.reviews.num_reviews}, 20% held out; written by "
                "write_synthetic_reviews)")
    return f"labelled text file {data_cfg['path']}"


def plan(config, ctx: dict) -> list[sweep.Run]:
    poolings = sweep.check_names("poolings", config.poolings, config.pooling_defs)
    data_cfg = data_config(config, ctx)
    return [sweep.Run(f"{pooling}/seed={seed}",
                      sweep.train_config(config.train, seed=seed, data=data_cfg,
                                         model=config.pooling_defs[pooling]),
                      {"pooling": pooling, "seed": seed})
            for seed in range(config.seeds) for pooling in poolings]


def accuracy(r: dict) -> float | None:
    """The reported accuracy: the whole test split at the last step (a legacy record's
    validation sample, labelled, when it has no test split: ``report.reported``)."""
    return report.reported(r)[0]


def ties(stats: dict, best: str) -> list[str]:
    """The poolings whose mean is within the larger of the two 95% bootstrap intervals'
    half-widths of the best (or equal to it when neither has an interval): the ones the
    best does not beat on these seeds."""
    b = stats[best]
    out = []
    for pl, s in stats.items():
        if pl == best:
            continue
        half = np.nanmax([(b.hi - b.lo) / 2, (s.hi - s.lo) / 2, 0.0])
        if abs(s.mean - b.mean) <= half + 1e-12:
            out.append(pl)
    return out


def make_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    poolings = list(dict.fromkeys(r["pooling"] for r in records))
    cfg0 = records[0].get("config")
    data_desc = (describe_data(cfg0["data"], config) if cfg0
                 else config.get("data_description") or "?")  # legacy: from the settings
    by = report.group(records, "pooling")
    split = report.split_of(records)
    summ = {pl: stats.summarize(accuracy(r) for r in by[(pl,)]) for pl in poolings}
    rows = [[pl, LABELS.get(pl, pl), report.fmt_mean_std([accuracy(r) for r in by[(pl,)]],
                                                        scale=100),
             len(by[(pl,)]), by[(pl,)][0]["num_params"]] for pl in poolings]
    best = max(poolings, key=lambda pl: summ[pl].mean)
    tied = ties(summ, best)
    summary = (f"Highest mean {split} accuracy: `{best}` ({100 * summ[best].mean:.1f}%)"
               + (f"; tied with it (difference within the 95% interval): "
                  + ", ".join(f"`{pl}` ({100 * summ[pl].mean:.1f}%)" for pl in tied)
                  if tied else "") + ". "
               + " ".join(f"`{pl}` − `{best}`: {100 * (summ[pl].mean - summ[best].mean):+.1f} "
                          "points." for pl in poolings if pl != best))
    if split == report.TEST:
        source = (f"Whole test split at each run's last step "
                  f"({report.examples_of(records, 'test')} reviews).")
    else:
        source = (f"**Validation sample, not a test split**: the "
                  f"{report.examples_of(records, 'curve')} held-out reviews evaluated "
                  "during training (no run was stopped early on them, but no separate test "
                  "split was scored).")
    budget = max(r["steps_budget"] for r in records)
    sections = [f"## {split.capitalize()} accuracy", "",
                f"Data: {data_desc}"
                + ("; the label is the opinion stated in the first words: the backward "
                   "direction's h_bw_first has just read them and mean pooling includes "
                   "them, while a forward LSTM's last state must carry them across the "
                   "whole review" if "synthetic" in data_desc else "") + f". {source} Budget: "
                f"{budget} steps. {report.spread_note()}", "",
                report.markdown_table(["pooling", "sentence vector", f"{split} accuracy (%)",
                                       "seeds", "params"], rows), "",
                summary + " (generated from the numbers above)", "",
                "Poolings: " + "; ".join(
                    f"`{pl}` {json.dumps(config.pooling_defs[pl].to_dict())}"
                    for pl in poolings if pl in config.pooling_defs)
                + ". Sweep config: `meta.json` (`settings`).", ""]
    bars = {"accuracy": ([100 * summ[pl].mean for pl in poolings],
                         [100 * np.nan_to_num(summ[pl].std) for pl in poolings])}
    report.plot_bars(os.path.join(workdir, "sentiment_accuracy.png"),
                     [LABELS.get(pl, pl) for pl in poolings], bars,
                     ylabel=f"{split} accuracy (%)", ylim=(0, 102), size=(7.0, 4.5),
                     title="Sentence vector for sentiment (mean ± sample sd over seeds)")
    curves = {}
    for pl in poolings:
        steps_ = [h["step"] for h in by[(pl,)][0]["curve"]]
        accs = np.array([[h["accuracy"] for h in r["curve"]][:len(steps_)] for r in by[(pl,)]
                         if len(r["curve"]) >= len(steps_)])
        sd = np.nan_to_num([stats.sample_std(col) for col in accs.T])  # none for one seed
        curves[LABELS.get(pl, pl)] = (steps_, 100 * accs.mean(0), 100 * sd)
    report.plot_lines(os.path.join(workdir, "learning_curves.png"), curves,
                      xlabel="training step", ylim=(0, 102), hline=50, hline_label="chance",
                      ylabel=f"validation accuracy (%, {report.examples_of(records, 'curve')} "
                             "reviews)",
                      title="Validation accuracy during training (mean ± sample sd)")
    files = ["sentiment_accuracy.png", "learning_curves.png"]
    if all(r.get("solve") for r in records):  # runs with a solve check (legacy ones had none)
        report.plot_survival(os.path.join(workdir, "survival.png"),
                             {"sentiment": {LABELS.get(pl, pl): report.survival_data(by[(pl,)])
                                            for pl in poolings}}, budget=budget,
                             title="Runs solved by step (Kaplan-Meier, validation-sample check)")
        files.append("survival.png")
    return sections, files


def main(argv=None) -> str | None:
    return sweep.main(
        "sentiment", __doc__, argv, plan=plan, make_report=make_report,
        extra_flags=lambda fv: flags.DEFINE_string(
            "data_dir", None, "TFDS data dir (IMDB).", flag_values=fv),
        context=lambda fv: {"data_dir": fv.data_dir})


if __name__ == "__main__":
    main()
