"""The README's headline results: one bullet per experiment, every number computed here
from the committed records under ``experiments/results/``.

``python -m experiments.results_page`` writes :func:`block` into README.md between
``<!-- headlines:begin -->`` and ``<!-- headlines:end -->`` (``--check`` fails when the
README disagrees with the records). The words around the numbers are fixed; a claim that
depends on the numbers (which gaps are solved, which variants fall short) is computed too.

Every accuracy or score a bullet shows is the whole test split (``report.reported``;
:func:`_pct` refuses anything else); solve counts and steps to solve come from the
periodic validation sample, and the bullet says so. Where the committed records predate
the test split, the bullet says that no test number exists and gives the rerun command
instead of a number. Each bullet names its split, seeds, budget and initialization.
"""

from __future__ import annotations

import json
import os

import ml_collections

from experiments import adding_long as adding_long_mod
from experiments import gap_sweep as gap_sweep_mod
from experiments import gates as gates_mod
from experiments import pixel_mnist_report, report, rereport, stats
from experiments import sentiment as sentiment_mod
from experiments.ablation_v2 import solve_stats

BEGIN, END = "<!-- headlines:begin -->", "<!-- headlines:end -->"


def _load(results: str, directory: str, name: str):
    with open(os.path.join(results, directory, name), encoding="utf-8") as f:
        return json.load(f)


def _settings(results: str, directory: str) -> dict:
    return _load(results, directory, "meta.json")["settings"]


def _pct(records, metric: str = "accuracy") -> str:
    """The records' reported ``metric`` (the whole test split) as a percentage with its
    sample std, bootstrap interval and n; ValueError if any record has no test number (a
    headline never shows a validation sample: the callers check :func:`_has_test` first)."""
    if report.split_of(records, metric) != report.TEST:
        raise ValueError(f"records: {metric} of {len(records)} records is not all on the "
                         "test split; a headline shows only test numbers")
    return stats.fmt(report.values(records, metric), scale=100, unit="%")


def _has_test(records, metric: str = "accuracy") -> bool:
    return report.split_of(records, metric) == report.TEST


def _no_test(results: str, directory: str) -> str:
    """The sentence a bullet says where the records hold no test split."""
    meta = _load(results, directory, "meta.json")
    cmd = rereport.rerun_command(meta["experiment"], meta["mode"], meta["settings"],
                                 os.path.join(results, directory))
    return (f"These runs predate test-split evaluation: no test number exists, and the "
            f"validation-sample numbers in the [report](experiments/results/{directory}/"
            f"{meta['experiment']}.md) are not results; rerun: `{cmd}`.")


def _solved(records) -> str:
    return f"{sum(bool(r['solved']) for r in records)}/{len(records)}"


def _all_solved_up_to(by_gap: dict[int, list[dict]]) -> int | None:
    """The largest gap up to which every seed of every gap is solved (None: not the first)."""
    best = None
    for gap in sorted(by_gap):
        if not all(r["solved"] for r in by_gap[gap]):
            break
        best = gap
    return best


def _gaps(records, model: str) -> dict[int, list[dict]]:
    return {g: rs for (m, g), rs in report.group(records, "model", "gap").items() if m == model}


def _upto(by_gap) -> str:
    best = _all_solved_up_to(by_gap)
    return "no gap" if best is None else f"gap {best}"


def _seeds(records) -> int:
    return max(len(v) for v in report.group(records, "model", "gap").values())


def gap_sweep(results: str) -> str:
    std = _load(results, "gap_sweep_standard", "gap_sweep.json")
    far = _load(results, "gap_sweep_gap1000", "gap_sweep.json")
    quick = _load(results, "gap_sweep_quick", "gap_sweep.json")
    s = _settings(results, "gap_sweep_standard")
    models = list(dict.fromkeys(r["model"] for r in std))
    gaps = sorted({r["gap"] for r in std})
    by = {m: _gaps(std, m) for m in models}
    seeds = _seeds(std)
    per_model = "; ".join(
        f"{gap_sweep_mod.LABELS.get(m, m)} "
        + "/".join(str(sum(bool(r["solved"]) for r in by[m][g])) for g in gaps)
        for m in models)
    rnn, chrono, lstm = by["rnn"], by["lstm_chrono"], by["lstm"]
    rnn_far, chrono_far = _gaps(far, "rnn")[1000], _gaps(far, "lstm_chrono")[1000]
    far_budget = max(r["steps_budget"] for r in far)
    init_carries = ((_all_solved_up_to(lstm) or 0) <= (_all_solved_up_to(rnn) or 0)
                    and (_all_solved_up_to(chrono) or 0) > (_all_solved_up_to(rnn) or 0))
    # the quick sweep holds the whole test split: its numbers at its longest gap
    qtop = max(r["gap"] for r in quick)
    qby = report.group([r for r in quick if r["gap"] == qtop], "model")
    qmodels = [m for m in ("rnn", "lstm", "lstm_chrono", "gru", "gru_keep") if (m,) in qby]
    quick_part = (f"In the quick sweep, whose records hold the whole test split "
                  f"({report.examples_of(quick, 'test')} sequences; {_seeds(quick)} seeds, "
                  f"≤ {max(r['steps_budget'] for r in quick)} steps), test accuracy at gap "
                  f"{qtop}: " + "; ".join(f"{gap_sweep_mod.LABELS.get(m, m)} "
                                          f"{_pct(qby[(m,)])}" for m in qmodels) + ". "
                  if _has_test(quick) else "")
    return (f"**Gap sweep** (distant recall, {s['num_clues']} clues, chance "
            f"{100 / s['num_clues']:.1f}%; {seeds} seeds per cell, ≤ {s['steps']} steps, "
            f"one learning rate; chrono init: T_max = the sequence length; solved: >= "
            f"{100 * s['solve_threshold']:.0f}% on the periodic validation sample): seeds "
            f"solved (of {seeds}) at gap {'/'.join(map(str, gaps))}: {per_model}. At gap 1000 (≤ {far_budget} steps) the chrono LSTM solves "
            f"{_solved(chrono_far)} and the tanh RNN {_solved(rnn_far)}. "
            + ("The LSTM with forget bias 1 solves every seed only up to "
               f"{_upto(lstm)}, the tanh RNN up to {_upto(rnn)}, the chrono-initialized "
               f"LSTM up to {_upto(chrono)}: in this sweep the initialization, not gating "
               "alone, carries the long gaps. " if init_carries else "")
            + "The BiLSTM's backward direction reads the clue last (a gap of 0 for it), so "
            "its result is not a memory result. " + quick_part
            + _no_test(results, "gap_sweep_standard"))


def adding_long(results: str) -> str:
    directory = "adding_long_t1000"
    records = _load(results, directory, "adding_long.json")
    recs = {r["model"]: r for r in records}
    s = _settings(results, directory)
    lstm, rnn = recs["lstm"], recs["rnn"]
    cfg = adding_long_mod.run_config(lstm, os.path.join(results, directory))
    init = report.describe_init(cfg["model"]) if cfg else "?"
    seeds = max(len(g) for g in report.group(records, "model").values())
    at_end = lstm["solved"] and lstm["steps_to_solve"] == lstm["steps_budget"]
    numbers = (f"test accuracy (|error| < 0.04) LSTM {_pct([lstm])}, tanh RNN {_pct([rnn])}. "
               if _has_test(records) else _no_test(results, directory))
    return (f"**Adding problem, T = {s['length']}** (the task of Hochreiter & Schmidhuber "
            f"1997, experiment 4; not a reproduction: an LSTM *with* a forget gate and "
            f"{init}, {seeds} seed per model, budget {lstm['steps_budget']} steps): "
            f"the LSTM {'solved' if lstm['solved'] else 'did not solve'} (>= "
            f"{100 * s['threshold']:.0f}% of the validation sample within "
            f"{s['tolerance']})"
            + (f" at step {lstm['steps_to_solve']}, the last of its budget" if at_end else "")
            + f"; the tanh RNN {'solved' if rnn['solved'] else 'did not'}. " + numbers)


def sentiment(results: str) -> str:
    directory = "sentiment_standard"
    records = _load(results, directory, "sentiment.json")
    by = report.group(records, "pooling")
    s = _settings(results, directory)
    seeds = max(len(v) for v in by.values())
    what = (f"**Sentiment on synthetic reviews** (the label is the opinion in the first "
            f"words; {seeds} seeds, {s['steps']} steps, default init, forget bias 1): the "
            "seed's sentence vector [h_fw_last ; h_bw_first] is compared with BiLSTM mean "
            "pooling and a forward LSTM's last state. ")
    if not _has_test(records):
        return (what + "Mean pooling matches the seed's vector in the report's table, so "
                "the seed's representation is not shown to be better. "
                + _no_test(results, directory))
    summ = {pl: stats.summarize(report.values(rs)) for (pl,), rs in by.items()}
    best = max(summ, key=lambda pl: summ[pl].mean)
    tied = sentiment_mod.ties(summ, best)
    return (what + "Whole test split: " + "; ".join(
        f"{sentiment_mod.LABELS.get(pl, pl)} {_pct(rs)}" for (pl,), rs in by.items())
        + (f"; {best} is tied with " + ", ".join(tied) if tied else "") + ".")


def gates(results: str) -> str:
    directory = "gates_standard"
    recs = _load(results, directory, "gates.json")
    s = _settings(results, directory)
    cfg = ml_collections.ConfigDict({"init": s["init"], "data": {"name": "distant_recall",
                                     "gap": s["gap"], "num_clues": 8, "num_distractors": 8}})
    t_max = gates_mod._t_max(recs, cfg)
    f0, i0 = gates_mod.chrono_expected(t_max)

    def ms(key, scale=1.0, digits=3):
        return report.fmt_mean_std([r[key] for r in recs], scale=scale, digits=digits)
    budget = max(r.get("steps_budget") or s["steps"] for r in recs)
    km = stats.km_median(*report.survival_data([{**r, "steps_budget": budget} for r in recs]))
    km = "–" if km is None else f"{km:.0f}"
    moved = max(abs(report.mean_std(r["top_f_gap"] for r in recs)[0] - f0),
                abs(report.mean_std(r["top_i_clue"] for r in recs)[0] - i0))
    near = moved < 0.05  # the trained gates sit within 0.05 of what the init alone gives
    numbers = (f" Test accuracy {_pct(recs)}." if _has_test(recs)
               else " " + _no_test(results, directory))
    return (f"**Gates** (distant recall, gap {s['gap']}, LSTM with chrono init (T_max = "
            f"{t_max:g}), {len(recs)} seeds, ≤ {budget} steps, solved (validation sample) at "
            f"a Kaplan-Meier median of {km} steps ({_solved(recs)}); probe: 512 test "
            f"sequences): in the {s['top_units']} units "
            f"that carry the clue the forget gate is {ms('top_f_gap')} across the gap and "
            f"the input gate {ms('top_i_clue')} at the clue, while chrono init alone starts "
            f"them at E[f] = {f0:.3f} and E[i] = {i0:.3f}"
            + (": the 'hold' is mostly the initialization" if near else "")
            + "; these are correlations, not interventions.") + numbers


def ablation_v2(results: str) -> str:
    directory = "ablation_v2_quick"
    recs = _load(results, directory, "ablation_v2.json")
    s = _settings(results, directory)
    tasks = [r for r in recs if r["axis"] == "tasks"]
    by_variant = report.group(tasks, "variant")
    share = {v: sum(r["solved"] for r in rs) / len(rs) for (v,), rs in by_variant.items()}
    ref = s["reference"]
    worst = min(share.values())
    weakest = sorted(v for v, x in share.items() if x == worst)

    last_clue = {v: solve_stats(rs) for (t, v), rs in report.group(tasks, "task", "variant")
                 .items() if t == "last_clue"}
    no_forget = [v for v in ("nfg", "lstm1997") if v in share]
    slower = [last_clue[v]["median"] / last_clue[ref]["median"]
              for v in no_forget if last_clue[v]["solved"]]
    gap_recs = [r for r in recs if r["axis"] == "gap"]
    by_gap = {k: sum(r["solved"] for r in rs)
              for k, rs in report.group(gap_recs, "variant", "gap").items()}
    gaps = sorted({r["gap"] for r in gap_recs})
    gref, far = s["gap_axis"]["reference"], max(gaps)
    beat = [g for g in gaps if any(by_gap[(v, g)] > by_gap[("standard", g)] for v in no_forget)]
    n = s["seeds"]
    own = [r for r in recs if not r.get("alias_of")]
    solved = [r for r in own if r["solved"] and _has_test([r], r["score_metric"])]
    below = [r for r in solved
             if report.reported(r, r["score_metric"])[0] < r["solve"]["threshold"]]
    return (f"**Gate ablation v2, run to a solve** ({s['size']} size: {len(by_variant)} "
            f"variants × {len({r['task'] for r in tasks})} tasks × {n} seeds, forget bias 1 "
            f"unless the variant says otherwise, one learning rate; each task calibrated so "
            f"the reference LSTM solves every seed, cap {s['cap_factor']:g}× its median "
            f"steps; solved = the threshold on the periodic validation sample): the "
            f"reference solves {100 * share[ref]:.0f}% of its runs; {' and '.join(weakest)} "
            f"the fewest, {100 * worst:.0f}%. Cells without a forget gate "
            f"({', '.join(no_forget)}) solve "
            f"{' and '.join(f'{100 * share[v]:.0f}%' for v in no_forget)} of their runs but need "
            f"{min(slower):.1f}-{max(slower):.1f}× the reference's median steps on last-clue "
            f"recall, the task that needs forgetting. On the distant-recall gap axis "
            f"({'/'.join(map(str, gaps))}) they solve more seeds than the default-init LSTM "
            f"up to gap {max(beat) if beat else '–'}, but at gap {far} "
            f"{' and '.join(f'{by_gap[(v, far)]}/{n}' for v in no_forget)} where "
            f"{gref} init solves {by_gap[(gref, far)]}/{n}. On the whole test split "
            f"{len(below)} of the {len(solved)} solved runs score below their solve "
            "threshold ([report](experiments/results/ablation_v2_quick/ablation_v2.md): test "
            "scores with sample sd, 95% intervals and N).")


def pixel_mnist(results: str) -> str:
    """Per (variant, model) the run trained furthest (the report lists every run)."""
    rows = [pixel_mnist_report.row(d)
            for d in pixel_mnist_report.run_dirs(os.path.join(results, "pixel_mnist"))]
    parts = [f"{r['variant']} {r['cell']} "
             + ("–" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%")
             + f" at step {r['step']:,} of {r['budget']:,}"
             + ("" if r["finished"] else " (unfinished)") + f" [`{r['name']}`]"
             for r in pixel_mnist_report.furthest(rows).values()]
    published = "; ".join(f"{v} {a:.1f}% ({source})" for (v, cell), quoted
                          in pixel_mnist_report.PUBLISHED.items() if cell == "lstm"
                          for source, a in quoted)
    return ("**Pixel MNIST** (784 steps, all 10,000 test images; per variant and model the "
            f"run trained furthest of the {len(rows)} in the "
            "[report](experiments/results/pixel_mnist/pixel_mnist.md)): "
            + "; ".join(parts) + f". Published for a converged LSTM: {published}.")


def bench(results: str) -> str:
    """The speed bullet: the default driver (the native kernel on CPU) against the faster
    of Flax and PyTorch and against the XLA fast driver, from bench.json."""
    b = _load(results, "bench", "bench.json")

    def span(values):
        return f"{min(values):.2f}-{max(values):.2f}x" if len(values) > 1 else f"{values[0]:.2f}x"

    def fwdbwd(section):
        return [r for r in b.get(section) or [] if r["mode"] == "fwdbwd"]

    science, anchors, gru = fwdbwd("science"), fwdbwd("lstm"), fwdbwd("gru")
    parts = []
    if science:
        shapes = ", ".join(f"({r['B']}, {r['T']}, {r['D']}, {r['H']})" for r in science)
        parts.append(f"at the science shapes {shapes} {span([r['speedup_vs_faster_anchor'] for r in science])} "
                     "the faster of Flax and PyTorch and "
                     f"{span([r['speedup_vs']['lstmjax-fast'] for r in science])} the XLA fast driver")
    if anchors:
        parts.append(f"at the {len(anchors)} anchor shapes and directions "
                     f"{span([r['speedup_vs_faster_anchor'] for r in anchors])} the faster anchor")
    if gru:
        parts.append(f"the GRU {span([r['speedup_vs_faster_anchor'] for r in gru])} the faster "
                     "of Flax's and PyTorch's")
    train = b.get("train") or []
    if len(train) == 2:
        parts.append(f"a pixel-MNIST training step through `lstmjax train` "
                     f"{train[1]['steps_per_s']:.2f} vs {train[0]['steps_per_s']:.2f} steps/s "
                     f"({train[1]['speedup']:.1f}x)")
    return (f"**Speed** (fwd+bwd, {b['backend']}, {b.get('cpu', 'cpu')}; the default "
            "`implementation=\"auto\"`, the native kernel): " + "; ".join(parts)
            + " ([bench](experiments/results/bench/bench.md), [docs/speed.md](docs/speed.md)).")


BULLETS = (gap_sweep, adding_long, sentiment, gates, ablation_v2, pixel_mnist, bench)


def block(results: str) -> str:
    note = "<!-- generated from the records by `python -m experiments.results_page` -->"
    return "\n".join([BEGIN, note] + [f"* {fn(results)}" for fn in BULLETS] + [END])
