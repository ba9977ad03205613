"""BiLSTM sentiment: the seed's sentence vector [h_fw_last ; h_bw_first] vs the alternatives.

    python -m experiments.sentiment --quick --workdir runs/sentiment      # synthetic reviews
    python -m experiments.sentiment --data imdb --workdir runs/imdb       # IMDB via TFDS
    python -m experiments.sentiment --data file --path reviews.csv        # your labelled text

Poolings compared (same embedding size, hidden size per direction, optimizer, seeds):

* ``bilstm``: BiLSTM, sentence = [h_fw at the last word ; h_bw at the first word] (the seed);
* ``forward_last``: a forward LSTM, sentence = its h at the last word;
* ``mean``: BiLSTM, sentence = the mean of the per-step outputs [h_fw ; h_bw].

Data: ``--data auto`` (default) uses IMDB when its TFDS files are prepared in
``--data-dir`` (or ``$TFDS_DATA_DIR`` / ``~/tensorflow_datasets``) and otherwise writes a
synthetic labelled review file (:func:`write_synthetic_reviews`, CSV, offline) into the
workdir and reads it through lstmjax's own text-file loader, the path users take with
their own data. In a synthetic review the opinion ("loved it", "a dull film", ...) is
stated in the first few words, followed by 60-200 words (quick/standard) of neutral plot description that
also contains sentiment words of both polarities at random (so counting words is not
enough); the label is the opening opinion.

Outputs: ``sentiment.json`` (records ``{"pooling", "seed", "accuracy", ...}``),
``sentiment.md`` (accuracy mean ± std over seeds), ``sentiment_accuracy.png`` (bars with
error bars), ``learning_curves.png``, ``meta.json``.
"""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from experiments import common

POOLINGS = {
    "bilstm": dict(bidirectional=True, pooling="bilstm"),
    "forward_last": dict(bidirectional=False, pooling="last"),
    "mean": dict(bidirectional=True, pooling="mean"),
}
LABELS = {"bilstm": "BiLSTM [h_fw_last ; h_bw_first]", "forward_last": "forward LSTM, last h",
          "mean": "BiLSTM, mean over steps"}
MODES = {
    "tiny": dict(seeds=1, steps=4, eval_every=2, hidden=8, embed=8, batch_size=16,
                 eval_examples=32, num_reviews=200, max_length=40, min_filler=5, max_filler=30),
    "quick": dict(seeds=2, steps=300, eval_every=50, hidden=32, embed=32, batch_size=32,
                  eval_examples=512, num_reviews=6000, max_length=210, min_filler=60,
                  max_filler=200),
    "standard": dict(seeds=3, steps=1000, eval_every=100, hidden=64, embed=64, batch_size=32,
                     eval_examples=1024, num_reviews=12000, max_length=210, min_filler=60,
                     max_filler=200),
}

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
    with open(path, "w", newline="", encoding="utf-8") as f:
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
    return path


def imdb_prepared(data_dir: str | None) -> bool:
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    d = os.path.join(root, "imdb_reviews")
    return os.path.isdir(d) and any(os.scandir(d))


def data_config(args, s: dict, workdir: str) -> tuple[dict, str]:
    kind = args.data
    if kind == "auto":
        kind = "imdb" if imdb_prepared(args.data_dir) else "synthetic"
    if kind == "imdb":
        return {"name": "imdb", "vocab_size": 20_000, "max_length": s["max_length"],
                "holdout": 2500, "vocab_path": os.path.join(workdir, "imdb_vocab.json")}, \
            "IMDB reviews (TFDS imdb_reviews), first %d tokens" % s["max_length"]
    if kind == "file":
        if not args.path:
            raise SystemExit("--data file needs --path FILE (CSV/TSV/JSONL with text,label)")
        return {"name": "text_file", "path": args.path, "max_length": s["max_length"],
                "holdout": 0.1, "vocab_size": 20_000}, f"labelled text file {args.path}"
    path = os.path.join(workdir, "synthetic_reviews.csv")
    write_synthetic_reviews(path, s["num_reviews"], seed=0, min_filler=s["min_filler"],
                            max_filler=s["max_filler"])
    return {"name": "text_file", "path": path, "max_length": s["max_length"], "holdout": 0.2,
            "vocab_size": 5_000}, (f"synthetic reviews ({s['num_reviews']}, 20% held out; "
                                   "written by write_synthetic_reviews)")


def main(argv=None) -> str:
    p = common.argument_parser(__doc__, "runs/sentiment")
    p.add_argument("--data", default="auto", choices=("auto", "imdb", "synthetic", "file"))
    p.add_argument("--path", help="labelled text file for --data file")
    p.add_argument("--data-dir", help="TFDS data dir (IMDB)")
    p.add_argument("--seeds", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--poolings", default=",".join(POOLINGS))
    args = p.parse_args(argv)
    mode_name, s = common.mode_settings(args, MODES, ("seeds", "steps", "hidden", "max_length"))
    poolings = common.parse_choices(p, "--poolings", args.poolings, POOLINGS)
    os.makedirs(args.workdir, exist_ok=True)
    dcfg, data_desc = data_config(args, s, os.path.abspath(args.workdir))
    settings = {**s, "data": dcfg, "data_description": data_desc, "poolings": poolings,
                "learning_rate": 3e-3}
    res = common.Results(args.workdir, "sentiment", mode=mode_name,
                         command=common.command_line(argv, "experiments.sentiment"),
                         settings=settings)
    records = []
    for seed in range(s["seeds"]):
        for pooling in poolings:
            cfg = common.run_config(dcfg, seed=seed, steps=s["steps"], batch_size=s["batch_size"],
                                    eval_examples=s["eval_examples"], cell="lstm",
                                    hidden_size=s["hidden"], embed_dim=s["embed"],
                                    **POOLINGS[pooling])
            r = common.fit(cfg, eval_every=s["eval_every"], data_dir=args.data_dir)
            records.append({"pooling": pooling, "seed": seed,
                            "accuracy": r["eval"]["accuracy"], "loss": r["eval"]["loss"],
                            "steps_run": r["steps_run"], "wall_s": r["wall_s"],
                            "num_params": r["num_params"], "params_sha256": r["params_sha256"],
                            "curve": [{"step": h["step"], "accuracy": h["accuracy"]}
                                      for h in r["history"]]})
            res.write_records(records)
            common.log(f"seed {seed} {pooling:13s} accuracy {100 * r['eval']['accuracy']:.1f}% "
                       f"({r['wall_s']:.0f} s)")
    by = common.group(records, "pooling")
    rows = [[pl, LABELS[pl], common.fmt_mean_std([r["accuracy"] for r in by[(pl,)]], scale=100),
             len(by[(pl,)]), by[(pl,)][0]["num_params"]] for pl in poolings]
    best = max(poolings, key=lambda pl: common.mean_std(r["accuracy"] for r in by[(pl,)])[0])
    stats = {pl: common.mean_std(r["accuracy"] for r in by[(pl,)]) for pl in poolings}
    summary = (f"Highest mean accuracy: `{best}` ({100 * stats[best][0]:.1f}%). "
               + " ".join(f"`{pl}` − `{best}`: {100 * (stats[pl][0] - stats[best][0]):+.1f} points."
                          for pl in poolings if pl != best))
    sections = [f"## Accuracy on held-out reviews, mean ± std over seeds", "",
                f"Data: {data_desc}.", "",
                common.markdown_table(["pooling", "sentence vector", "accuracy (%)", "seeds",
                                       "params"], rows), "",
                summary + " (generated from the numbers above)", "",
                f"Settings: {json.dumps(settings)}", ""]
    bars = {"accuracy": ([100 * stats[pl][0] for pl in poolings],
                         [100 * stats[pl][1] for pl in poolings])}
    common.plot_bars(res.path("sentiment_accuracy.png"), [LABELS[pl] for pl in poolings], bars,
                     ylabel="held-out accuracy (%)", ylim=(0, 102), size=(7.0, 4.5),
                     title="Sentence vector for sentiment (mean ± std over seeds)")
    curves = {}
    for pl in poolings:
        steps_ = [h["step"] for h in by[(pl,)][0]["curve"]]
        accs = np.array([[h["accuracy"] for h in r["curve"]][:len(steps_)] for r in by[(pl,)]
                         if len(r["curve"]) >= len(steps_)])
        curves[LABELS[pl]] = (steps_, 100 * accs.mean(0), 100 * accs.std(0))
    common.plot_lines(res.path("learning_curves.png"), curves, xlabel="training step",
                      ylabel="held-out accuracy (%)", ylim=(0, 102), hline=50, hline_label="chance",
                      title="Held-out accuracy during training (mean ± std over seeds)")
    path = res.finish(sections, ["sentiment_accuracy.png", "learning_curves.png"])
    common.log(f"sentiment ({mode_name}): table {path}")
    return path


if __name__ == "__main__":
    main()
