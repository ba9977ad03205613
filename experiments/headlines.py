"""The README's headline results: one bullet per experiment, every number computed here
from the committed records under ``experiments/results/``.

``python -m experiments.results_page`` writes :func:`block` into README.md between
``<!-- headlines:begin -->`` and ``<!-- headlines:end -->`` (``--check`` fails when the
README disagrees with the records). The words around the numbers are fixed; a claim that
depends on the numbers (which gaps are solved, which variants fall short) is computed too.
"""

from __future__ import annotations

import json
import os

from experiments import pixel_mnist_report, report
from experiments.ablation_v2 import solve_stats

BEGIN, END = "<!-- headlines:begin -->", "<!-- headlines:end -->"


def _load(results: str, directory: str, name: str):
    with open(os.path.join(results, directory, name), encoding="utf-8") as f:
        return json.load(f)


def _settings(results: str, directory: str) -> dict:
    return _load(results, directory, "meta.json")["settings"]


def _pct(records, key: str = "accuracy") -> str:
    return report.fmt_mean_std([r[key] for r in records], scale=100) + "%"


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


def gap_sweep(results: str) -> str:
    std = _load(results, "gap_sweep_standard", "gap_sweep.json")
    far = _load(results, "gap_sweep_gap1000", "gap_sweep.json")
    s = _settings(results, "gap_sweep_standard")
    rnn, chrono, lstm = (_gaps(std, m) for m in ("rnn", "lstm_chrono", "lstm"))
    rnn_far, chrono_far = _gaps(far, "rnn")[1000], _gaps(far, "lstm_chrono")[1000]
    top = max(rnn)
    after = [g for g in sorted(rnn) if g > (_all_solved_up_to(rnn) or 0)]
    falls = ", ".join(f"{_pct(rnn[g])} at gap {g}" for g in sorted({after[0], after[-1]})
                      ) if after else "no gap unsolved"
    return (f"**Gap sweep** (distant recall, {s['num_clues']} clues: chance "
            f"{100 / s['num_clues']:.1f}%; {s['seeds']} seeds, ≤ {s['steps']} steps): the "
            f"tanh RNN solves every seed up to {_upto(rnn)}, then falls ({falls}). The "
            f"chrono-initialized LSTM solves every seed up to {_upto(chrono)} and reaches "
            f"{_pct(chrono[top])} at gap {top}; at gap 1000 it solves {_solved(chrono_far)} "
            f"seeds ({_pct(chrono_far)}) while the RNN stays at {_pct(rnn_far)}. With the "
            f"default init (forget bias 1) the LSTM solves every seed only up to "
            f"{_upto(lstm)}: gate initialization is part of the story.")


def adding_long(results: str) -> str:
    recs = {r["model"]: r for r in _load(results, "adding_long_t1000", "adding_long.json")}
    s = _settings(results, "adding_long_t1000")
    lstm, rnn = recs["lstm"], recs["rnn"]
    return (f"**Adding problem at T = {s['length']}** (Hochreiter & Schmidhuber 1997, "
            f"{s['seeds']} seed): the chrono LSTM gets {100 * lstm['accuracy']:.1f}% of "
            f"{s['eval_examples']} test sequences within {s['tolerance']} at step "
            f"{lstm['steps_run']}; the tanh RNN {100 * rnn['accuracy']:.1f}% (MSE "
            f"{rnn['mse']:.4f}; predicting the mean: {rnn['baseline_mse']:.4f}).")


def sentiment(results: str) -> str:
    by = report.group(_load(results, "sentiment_standard", "sentiment.json"), "pooling")
    s = _settings(results, "sentiment_standard")
    return (f"**Sentiment** ({s['seeds']} seeds, {s['eval_examples']} held-out reviews): the "
            f"seed's sentence vector [h_fw_last ; h_bw_first] reaches "
            f"{_pct(by[('bilstm',)])}, a forward LSTM's last state "
            f"{_pct(by[('forward_last',)])}, on synthetic reviews whose opinion is stated "
            f"in the first words.")


def gates(results: str) -> str:
    recs = _load(results, "gates_standard", "gates.json")
    s = _settings(results, "gates_standard")

    def ms(key, scale=1.0, digits=3):
        return report.fmt_mean_std([r[key] for r in recs], scale=scale, digits=digits)
    return (f"**Gates** (distant recall, gap {s['gap']}, {s['seeds']} seeds): in the "
            f"{s['top_units']} units that carry the clue the forget gate holds "
            f"{ms('top_f_gap')} across the gap, and the clue explains "
            f"{ms('top_c_clue_r2_mid', 100, 1)}% of the variance of C at mid-gap and "
            f"{ms('top_c_clue_r2_query', 100, 1)}% at the query step, where the output gate "
            f"rises from {ms('top_o_gap', digits=2)} to {ms('top_o_query', digits=2)}: "
            "write, hold, read.")


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
    return (f"**Gate ablation v2, run to a solve** ({s['size']} size: {len(by_variant)} "
            f"variants × {len({r['task'] for r in tasks})} tasks × {n} seeds, each "
            f"task calibrated so the reference LSTM solves every seed, cap "
            f"{s['cap_factor']:g}× its median steps): the reference solves "
            f"{100 * share[ref]:.0f}% of its runs; {' and '.join(weakest)} the fewest, "
            f"{100 * worst:.0f}%. Cells without a forget gate ({', '.join(no_forget)}) solve "
            f"{' and '.join(f'{100 * share[v]:.0f}%' for v in no_forget)} of their runs but need "
            f"{min(slower):.1f}-{max(slower):.1f}× the reference's median steps on last-clue "
            f"recall, the task that needs forgetting. On the distant-recall gap axis "
            f"({'/'.join(map(str, gaps))}) they solve more seeds than the default-init LSTM "
            f"up to gap {max(beat) if beat else '–'}, but at gap {far} "
            f"{' and '.join(f'{by_gap[(v, far)]}/{n}' for v in no_forget)} where "
            f"{gref} init solves {by_gap[(gref, far)]}/{n}.")


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
