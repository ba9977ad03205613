"""Inside the gates of an LSTM trained on distant recall: correlation, then intervention.

    python -m experiments.gates --config experiments/configs/gates.py:causal \
        --workdir experiments/results/gates_causal                 # the interventions
    python -m experiments.gates --config experiments/configs/gates.py:quick \
        --workdir runs/gates [--config.gap=500 --config.seeds=5 --config.init=forget_bias_1]

One run per initialization (``init``: ``chrono``, chrono initialization for the sequence
length, and/or ``forget_bias_1``, the default init with b_f = 1) and seed, trained with
``lstmjax.train.run`` on distant recall ("I grew up in France ... I speak fluent ___":
a clue at step 0, ``gap`` distractors at steps 1..gap, the query at step gap + 1). Then:

**Interventions** (``causal`` in each record; the report's first tables). The
clue-carrying units are the ``top_units`` units whose cell state at the end of the gap
(step ``gap``) the clue explains best (clue R², :func:`clue_r2`), measured on the
**validation** split; the test split is never used to choose anything. On the whole
**test** split the forget gate of those units is clamped across the gap (steps
1..gap) to (a) its trained mean over the gap (per unit, from the validation split),
(b) 0 (erase the cell state every step) and (c) 1 (never forget), and the test accuracy
is measured; beside it the unclamped model, the same clamps on ``top_units`` random
non-clue units (``random_draws`` draws, averaged) and on all units. The clamp is data,
not a fork of the cell: a :class:`Clamp` (a ``[T, H]`` unit-by-step mask and values) read
by :func:`clamped_step`, which sets the forget block of the reference cell's input so
that ``LSTMCell.step_with_gates`` computes exactly the clamped f_t (σ(±inf) = 1 or 0
exactly; the trained mean to float32 rounding); with no clamp, :func:`forward` is the
reference scan (``lstmjax.recurrence.scan``) bit for bit (tested).

**What training changed**: per unit and gate (i, f, o), the mean over the test split
and the gap of the trained cell minus the same at initialization (the seed's step-0
params), and the product of f over the gap per unit (how much of the cell state at the
clue survives to the query), trained and at init.

**Correlation** (the sizes ``quick`` / ``standard`` and the committed ``gates_quick`` /
``gates_standard``): heatmaps (unit x time) of i_t, f_t, o_t and C_t for chosen probe
sequences, with units ranked by the clue R² of their cell state at the query step, and
a table of gate statistics.

Outputs: ``gates.json`` (records), ``gates.md`` (report), ``meta.json``; causal:
``interventions.png`` (test accuracy per intervention), ``gate_shift.png`` (trained
minus initial gate per unit against its clue R²), ``forget_product.png`` (log10 of the
product of f over the gap per unit, trained against init); both: ``survival.png``,
``<init>_gates_seed<k>_seq<j>.png`` heatmaps and ``<init>_gate_means_seed<k>.png``
(without the ``<init>_`` prefix when one init runs).
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments import report, stats, sweep
from lstmjax import cells, data, device_step, models, schema
from lstmjax.tasks import distant_recall as dr

INITS = ("chrono", "forget_bias_1")
GATES = ("i", "f", "o", "c")
TITLES = {"i": "input gate i_t (write)", "f": "forget gate f_t (keep)",
          "o": "output gate o_t (read)", "c": "cell state C_t minus its mean over sequences (the clue on the conveyor belt), "
               "scaled per unit"}
# the clamps, in report order: f := the unit's trained mean over the gap, 0, 1
CLAMPS = ("mean", "0", "1")
UNIT_SETS = ("clue", "random", "all")


def trace(params, mcfg: models.ModelConfig, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step activations of layer 0 (forward): ``{name: [B, T, H]}`` for i, f, g, o, c, h."""
    cell = mcfg.rnn.make_cell()
    p = params["rnn"][0]["fw"]
    xs = models.embed(params, mcfg, jnp.asarray(tokens))
    proj = cell.project(p, xs)                                # [B, T, G*H]
    carry = cell.zero_carry(tokens.shape[0])

    def body(carry, p_t):
        carry, acts = cell.step_with_gates(p, carry, p_t)
        return carry, acts

    _, acts = jax.lax.scan(body, carry, jnp.swapaxes(proj, 0, 1))
    return {k: np.asarray(jnp.swapaxes(v, 0, 1)) for k, v in acts.items()}


def clue_r2(c: np.ndarray, clues: np.ndarray, num_clues: int) -> np.ndarray:
    """Fraction of the variance of C explained by the clue, per step and unit: ``[T, H]``.

    Between-clue variance (clue means weighted by their counts) over total variance, across
    the probe sequences: 1 = the unit's cell state at that step is a function of the clue.
    """
    c = np.asarray(c, np.float64)
    total = c.var(0)                                                # [T, H]
    mean = c.mean(0)
    between = np.zeros_like(total)
    for k in range(num_clues):
        sel = clues == k
        if sel.any():
            between += sel.mean() * (c[sel].mean(0) - mean) ** 2
    return np.clip(between / np.maximum(total, 1e-12), 0.0, 1.0) * (total > 1e-10)


def analyse(params, mcfg, gap: int, num_clues: int, seed: int, top_units: int) -> dict:
    """Gate statistics over a probe batch of 512 test sequences."""
    cfg = dr.DistantRecallConfig(gap=gap, num_clues=num_clues, num_distractors=8)
    n = 512
    examples = [dr.example(cfg, 10_000 + seed, k) for k in range(n)]
    tokens = np.stack([e["x"] for e in examples])
    clues = np.array([int(e["y"]) for e in examples])
    acts = trace(params, mcfg, tokens)
    r2 = clue_r2(acts["c"], clues, num_clues)                       # [T, H]
    # the units whose cell state at the query step is most determined by the clue
    top = np.argsort(-r2[-1])[:top_units]
    gap_slice = slice(1, gap + 1)

    def stat(name, where, units):
        return float(acts[name][:, where][..., units].mean())

    stats = {}
    for label, units in (("top", top), ("all", np.arange(acts["i"].shape[-1]))):
        stats[label] = {
            "i_clue": stat("i", 0, units), "i_gap": stat("i", gap_slice, units),
            "f_gap": stat("f", gap_slice, units),
            "f_gap_min": float(acts["f"][:, gap_slice][..., units].mean(axis=(0, 2)).min())
            if gap else float("nan"),
            "o_gap": stat("o", gap_slice, units), "o_query": stat("o", -1, units),
            # clue information in C: written at t=0, held at mid-gap, present at the query
            "c_clue_r2_write": float(r2[0, units].mean()),
            "c_clue_r2_mid": float(r2[1 + gap // 2, units].mean()),
            "c_clue_r2_query": float(r2[-1, units].mean()),
        }
    return {"top_units": top.tolist(), "stats": stats, "acts": acts, "tokens": tokens,
            "clues": clues, "r2": r2}


def draw_heatmaps(path: str, acts: dict, j: int, units, clue: int, gap: int, title: str,
                  dpi: int = 100) -> None:
    plt = report.pyplot()
    fig, axes = plt.subplots(len(GATES), 1, figsize=(10, 8), sharex=True)
    steps = acts["i"].shape[1]
    for ax, name in zip(axes, GATES):
        m = acts[name][j][:, units].T                               # [units, T]
        if name == "c":  # the clue's part: minus the mean over the probe sequences, per unit
            m = m - acts["c"].mean(0)[:, units].T
            m = m / np.maximum(np.abs(m).max(axis=1, keepdims=True), 1e-6)
            im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                           interpolation="nearest")
        else:
            im = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0, vmax=1,
                           interpolation="nearest")
        ax.set_ylabel("unit")
        ax.set_title(TITLES[name], fontsize=9, loc="left")
        for t, lab in ((0, "clue"), (steps - 1, "query")):
            ax.axvline(t, color="red", linewidth=0.8, linestyle="--")
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    axes[-1].set_xlabel(f"time step (0 = clue {clue}, 1..{gap} = distractors, {steps - 1} = query)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def draw_means(path: str, acts: dict, r2, units, title: str, dpi: int = 100) -> None:
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    t = np.arange(acts["i"].shape[1])
    for name in ("i", "f", "o"):
        ax.plot(t, acts[name][..., units].mean(axis=(0, 2)), label=TITLES[name].split(" (")[0])
    ax.plot(t, r2[:, units].mean(1), "k--", label="clue information in C_t (R²)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time step (0 = clue, last = query)")
    ax.set_ylabel("mean activation (top units)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


# --------------------------------------------------------------------------- interventions


class Clamp(NamedTuple):
    """An intervention on the forget gate, as data: ``f_t[b, u] := value[t, u]`` wherever
    ``mask[t, u]`` (for every sequence b); elsewhere the cell runs as trained.

    ``mask``: bool ``[T, H]``; ``value``: float32 ``[T, H]`` in [0, 1] (read only where
    ``mask``).
    """

    mask: Any
    value: Any


def no_clamp(num_steps: int, hidden: int) -> Clamp:
    """The empty intervention: the trained model."""
    return Clamp(np.zeros((num_steps, hidden), bool), np.zeros((num_steps, hidden), np.float32))


def make_clamp(num_steps: int, hidden: int, units, steps, value) -> Clamp:
    """f := ``value`` on ``units`` at the time steps ``steps`` (the gap:
    ``range(1, gap + 1)``); ``value`` is one number or one per hidden unit ``[H]``."""
    units = np.asarray(units, int).reshape(-1)
    steps = np.asarray(list(steps), int).reshape(-1)
    if units.size and (units.min() < 0 or units.max() >= hidden):
        raise ValueError(f"units: expected indices in [0, {hidden}), got {units.tolist()}")
    if steps.size and (steps.min() < 0 or steps.max() >= num_steps):
        raise ValueError(f"steps: expected indices in [0, {num_steps}), got {steps.tolist()}")
    value = np.broadcast_to(np.asarray(value, np.float32), (hidden,))
    if not np.all((value >= 0) & (value <= 1)):
        raise ValueError(f"value: a forget gate lies in [0, 1], got {value.tolist()}")
    mask = np.zeros((num_steps, hidden), bool)
    mask[np.ix_(steps, units)] = True
    return Clamp(mask, np.broadcast_to(value, (num_steps, hidden)).copy())


def clamped_step(cell: cells.LSTMCell, params, carry, p_t, mask_t, value_t):
    """``cell.step_with_gates(params, carry, p_t)`` with f_t := ``value_t`` where ``mask_t``.

    The cell is not copied: the forget block of its input ``p_t`` (W_f·x_t + b_f) is set,
    where masked, to logit(value) minus the rest of the gate's pre-activation
    (W_f·h_{t-1}, plus the peephole term), so the reference step computes
    σ(logit(value)): exactly 0 or 1 for the values 0 and 1 (logit = ∓inf), any other
    value to float32 rounding. Unmasked units get ``p_t`` unchanged (the same bits).
    """
    H = cell.hidden_size
    k = cell.gates.blocks.index("f")
    block = slice(k * H, (k + 1) * H)
    rest = carry.h @ params["w_h"][:, block]
    if "f" in params.get("peep", {}):
        rest = rest + params["peep"]["f"] * carry.c
    value_t = jnp.asarray(value_t, p_t.dtype)
    logit = jnp.log(value_t) - jnp.log1p(-value_t)             # -inf at 0, +inf at 1
    p_f = jnp.where(mask_t, logit - rest, p_t[..., block])
    p_t = jnp.concatenate([p_t[..., :k * H], p_f, p_t[..., (k + 1) * H:]], axis=-1)
    return cell.step_with_gates(params, carry, p_t)


def replay_cell(mcfg: models.ModelConfig) -> cells.LSTMCell:
    """The model's one LSTM layer; ValueError for a model the replay does not cover."""
    r = mcfg.rnn
    if (mcfg.input_kind != "tokens" or mcfg.output_kind != "classify" or r.num_layers != 1
            or r.bidirectional or mcfg.pooling != "last"):
        raise ValueError("gates: the replay covers one unidirectional layer on tokens with "
                         f"pooling='last' (got num_layers={r.num_layers}, bidirectional="
                         f"{r.bidirectional}, pooling={mcfg.pooling!r})")
    cell = r.make_cell()
    g = getattr(cell, "gates", None)
    if not isinstance(cell, cells.LSTMCell) or "f" not in g.blocks or g.coupled \
            or g.full_recurrence:
        raise ValueError(f"gates: the clamp needs an LSTM with its own forget gate (not "
                         f"CIFG or FGR); got cell={r.cell!r}, gates={r.gates!r}")
    return cell


def forward(params, mcfg: models.ModelConfig, tokens, clamp: Clamp | None = None):
    """The model on ``tokens [B, T]`` with the forget gate clamped: ``(logits [B, C],
    activations {i, f, g, o, c, h}: [T, B, H])``. ``clamp=None`` is the trained model."""
    cell = replay_cell(mcfg)
    p = params["rnn"][0]["fw"]
    xs = models.embed(params, mcfg, jnp.asarray(tokens))
    batch, num_steps = xs.shape[0], xs.shape[1]
    clamp = no_clamp(num_steps, cell.hidden_size) if clamp is None else clamp

    def body(carry, inputs):
        return clamped_step(cell, p, carry, *inputs)

    proj = jnp.swapaxes(cell.project(p, xs), 0, 1)                   # [T, B, G*H]
    _, acts = jax.lax.scan(body, cell.zero_carry(batch),
                           (proj, jnp.asarray(clamp.mask), jnp.asarray(clamp.value)))
    logits = acts["h"][-1] @ params["head"]["w"] + params["head"]["b"]
    return logits, acts


@functools.partial(jax.jit, static_argnames=("mcfg", "gap", "gate_stats"))
def _batch_sums(params, tokens, labels, weight, mask, value, *, mcfg, gap, gate_stats):
    """Weighted sums over one batch: correct answers, and (``gate_stats``) per unit the
    gap means of i, f, o, log10 and value of the product of f over the gap; the cell
    states at the end of the gap."""
    logits, acts = forward(params, mcfg, tokens, Clamp(mask, value))
    out = {"correct": jnp.sum(weight * (jnp.argmax(logits, -1) == labels)),
           "n": jnp.sum(weight)}
    if gate_stats:
        w = weight[:, None]
        gap_steps = slice(1, gap + 1)
        for name in ("i", "f", "o"):
            out[name] = jnp.sum(acts[name][gap_steps].mean(0) * w, 0)
        # f below float32's smallest normal counts as that (-37.9 per step): a finite log
        f = jnp.maximum(acts["f"][gap_steps], jnp.finfo(acts["f"].dtype).tiny)
        log_f = jnp.sum(jnp.log10(f), 0)                                    # [B, H]
        out["log10_prod_f"] = jnp.sum(log_f * w, 0)
        out["prod_f"] = jnp.sum(10.0 ** log_f * w, 0)
        out["c_end"] = acts["c"][gap]                                      # [B, H]
    return out


def split_summary(params, mcfg, tokens: np.ndarray, labels: np.ndarray, gap: int,
                  clamp: Clamp | None = None, *, gate_stats: bool = True,
                  batch_size: int = 512) -> dict:
    """The model (with ``clamp``) over a whole split: ``accuracy``, ``examples``; with
    ``gate_stats`` also per unit ``[H]`` the mean over sequences of the gap means of
    ``i``, ``f``, ``o``, of ``log10_prod_f`` (log10 of the product of f over steps
    1..gap) and ``prod_f``, and ``c_end [N, H]`` (cell states at step ``gap``)."""
    if gap < 1:
        raise ValueError(f"gap: the interventions act across the gap; expected >= 1, got {gap}")
    n, num_steps = tokens.shape
    batch_size = min(batch_size, n)
    hidden = mcfg.rnn.hidden_size
    clamp = no_clamp(num_steps, hidden) if clamp is None else clamp
    totals: dict[str, Any] = {}
    ends = []
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        real = idx < n
        idx = np.where(real, idx, start)      # filler rows: copies of the first, weight 0
        sums = _batch_sums(params, tokens[idx], labels[idx], real.astype(np.float32),
                           clamp.mask, clamp.value, mcfg=mcfg, gap=gap,
                           gate_stats=gate_stats)
        sums = jax.device_get(sums)
        if gate_stats:
            ends.append(np.asarray(sums.pop("c_end"))[real])
        for k, v in sums.items():
            totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
    out = {"accuracy": float(totals["correct"] / totals["n"]), "examples": int(totals["n"])}
    if gate_stats:
        out.update({k: totals[k] / totals["n"] for k in ("i", "f", "o", "log10_prod_f",
                                                          "prod_f")})
        out["c_end"] = np.concatenate(ends)
    return out


def split_arrays(data_cfg, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The whole split as ``(tokens [N, T] int32, labels [N] int32)``."""
    _, src = data.make_source(dict(data_cfg), split)
    examples = [src[k] for k in range(len(src))]
    return (np.stack([e["x"] for e in examples]).astype(np.int32),
            np.array([int(e["y"]) for e in examples], np.int32))


def initial_params(seed: int, mcfg: models.ModelConfig):
    """The params a run with ``seed`` starts from (``lstmjax.device_step.init_state``'s)."""
    return models.init(jax.random.fold_in(jax.random.key(seed), device_step.INIT_STREAM), mcfg)


def interventions(params, init_params, mcfg, splits: dict, *, gap: int, num_clues: int,
                  top_units: int, draws: int, seed: int) -> dict:
    """Choose the clue units on ``splits["validation"]``, clamp on ``splits["test"]``.

    ``splits``: ``{"validation" | "test": (tokens, labels)}``. Returns the record's
    ``causal`` part (plain lists): the chosen units and their selection numbers, the test
    accuracy of every intervention (``accuracy["<units>/<clamp>"]``; ``random/...`` the
    mean over ``draws`` random sets of ``top_units`` non-clue units, each draw in
    ``accuracy_draws``), and per unit the gap gates and the product of f, trained and at
    init, on the test split.
    """
    hidden = mcfg.rnn.hidden_size
    if not 1 <= top_units < hidden:
        raise ValueError(f"top_units: expected 1 <= top_units < hidden_size = {hidden}, "
                         f"got {top_units}")
    val_tokens, val_labels = splits["validation"]
    test_tokens, test_labels = splits["test"]
    val = split_summary(params, mcfg, val_tokens, val_labels, gap)
    r2 = clue_r2(val["c_end"][:, None, :], val_labels, num_clues)[0]          # [H]
    clue = np.sort(np.argsort(-r2, kind="stable")[:top_units])
    others = np.setdiff1d(np.arange(hidden), clue)
    randoms = [np.sort(np.random.default_rng([seed, d]).choice(others, top_units,
                                                               replace=False))
               for d in range(draws)]
    trained = split_summary(params, mcfg, test_tokens, test_labels, gap)
    init = split_summary(init_params, mcfg, test_tokens, test_labels, gap)
    num_steps = test_tokens.shape[1]
    window = range(1, gap + 1)
    values = {"mean": val["f"], "0": 0.0, "1": 1.0}

    def acc(units, clamp_name):
        c = make_clamp(num_steps, hidden, units, window, values[clamp_name])
        return split_summary(params, mcfg, test_tokens, test_labels, gap, c,
                             gate_stats=False)["accuracy"]

    accuracy = {"none": trained["accuracy"]}
    accuracy_draws = {}
    for name in CLAMPS:
        accuracy[f"clue/{name}"] = acc(clue, name)
        accuracy_draws[f"random/{name}"] = [acc(u, name) for u in randoms]
        accuracy[f"random/{name}"] = float(np.mean(accuracy_draws[f"random/{name}"]))
        accuracy[f"all/{name}"] = acc(np.arange(hidden), name)

    def lst(a):
        return [float(v) for v in np.asarray(a)]

    return {
        "selection_split": "validation", "selection_examples": val["examples"],
        "selection_step": gap, "test_examples": trained["examples"],
        "clue_units": clue.tolist(), "random_units": [u.tolist() for u in randoms],
        "clue_r2_validation": lst(r2), "f_mean_validation": lst(val["f"]),
        "accuracy": accuracy, "accuracy_draws": accuracy_draws,
        "init_accuracy": init["accuracy"],
        "gates": {when: {g: lst(s[g]) for g in ("i", "f", "o")}
                  for when, s in (("trained", trained), ("init", init))},
        "log10_prod_f": {"trained": lst(trained["log10_prod_f"]),
                         "init": lst(init["log10_prod_f"])},
        "prod_f": {"trained": lst(trained["prod_f"]), "init": lst(init["prod_f"])},
    }


# --------------------------------------------------------------------------- the sweep


def inits_of(config) -> list[str]:
    """``config.init`` (one name or several) as a list; ValueError naming the field."""
    value = config.init
    items = [value] if isinstance(value, str) else list(value)
    given = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    unknown = [n for n in given if n not in INITS]
    if unknown or not given:
        raise ValueError(f"config.init={value!r}: unknown {unknown}; accepted: {list(INITS)}")
    return given


def plan(config, ctx=None) -> list[sweep.Run]:
    inits = inits_of(config)
    gap = int(config.gap)
    if gap < 1:
        raise ValueError(f"config.gap={gap!r}: the interventions act across the gap; "
                         "expected >= 1")
    hidden = int(config.train.model.hidden_size)
    if not 1 <= int(config.top_units) < hidden:
        raise ValueError(f"config.top_units={config.top_units!r}: expected 1 <= top_units < "
                         f"hidden_size = {hidden} (the random control draws from the rest)")
    data_cfg = {**config.data.to_dict(), "gap": gap}
    runs = []
    for init in inits:
        model = sweep.resolve_model({"cell": "lstm", "chrono": True} if init == "chrono"
                                    else {"cell": "lstm", "forget_bias": 1.0}, data_cfg)
        for seed in range(config.seeds):
            one = len(inits) == 1  # one init: the names (and figures) of the first runs
            runs.append(sweep.Run(
                f"seed={seed}" if one else f"{init}/seed={seed}",
                sweep.train_config(config.train, seed=seed, data=data_cfg, model=model),
                {"init": init, "seed": seed, "gap": gap, "top_units": int(config.top_units),
                 "sequences": int(config.sequences), "random_draws": int(config.random_draws),
                 "prefix": "" if one else f"{init}_"}))
    return runs


def execute(run: sweep.Run, ctx: dict) -> dict:
    """Train; intervene on the clue units (validation selects, test measures); draw the
    gates of ``sequences`` probe sequences into the workdir."""
    rec, summary = sweep.train_run(run, ctx, keep=True)
    if summary is None:  # a non-finite loss: nothing to look inside
        return rec
    cfg = schema.resolve_config(run.config)
    spec = data.make_source(cfg["data"], "validation")[0]
    mcfg = models.from_task(spec, **cfg["model"])
    f = run.fields
    seed, gap, num_clues = f["seed"], f["gap"], cfg["data"]["num_clues"]
    params = summary["params"]
    splits = {s: split_arrays(cfg["data"], s) for s in ("validation", "test")}
    causal = interventions(params, initial_params(seed, mcfg), mcfg, splits, gap=gap,
                           num_clues=num_clues, top_units=f["top_units"],
                           draws=f["random_draws"], seed=seed)
    acc = rec["test"]["accuracy"]
    a = causal["accuracy"]
    report.log(f"{run.name}: test accuracy {100 * acc:.1f}% (replay {100 * a['none']:.1f}%), "
               f"f := 0 across the gap on the clue units {100 * a['clue/0']:.1f}%, on random "
               f"units {100 * a['random/0']:.1f}%, on all units {100 * a['all/0']:.1f}%")
    out = {**rec, "causal": causal, "figures": []}
    if f["sequences"]:  # the correlational pictures (probe sequences, as before)
        p = analyse(params, mcfg, gap, num_clues, seed, f["top_units"])
        for j in range(f["sequences"]):
            k = int(np.flatnonzero(p["clues"] == j % num_clues)[0])
            name = f"{f['prefix']}gates_seed{seed}_seq{j}.png"
            draw_heatmaps(os.path.join(ctx["workdir"], name), p["acts"], k, p["top_units"],
                          int(p["clues"][k]), gap,
                          f"LSTM ({f['init']}) on distant recall, gap {gap}, seed {seed} "
                          f"(test accuracy {100 * acc:.1f}%): top {len(p['top_units'])} "
                          "clue-carrying units")
            out["figures"].append(name)
        name = f"{f['prefix']}gate_means_seed{seed}.png"
        draw_means(os.path.join(ctx["workdir"], name), p["acts"], p["r2"], p["top_units"],
                   f"mean gates of the top units over 512 probe sequences ({f['init']}, "
                   f"seed {seed})")
        out["figures"].append(name)
        out.update({"probe_units": p["top_units"],
                    **{f"top_{k}": v for k, v in p["stats"]["top"].items()},
                    **{f"all_{k}": v for k, v in p["stats"]["all"].items()}})
    return out


def accuracy(r: dict) -> float | None:
    """The reported accuracy: the whole test split at the last step (a legacy record's
    validation sample, labelled, when it has no test split: ``report.reported``)."""
    return report.reported(r)[0]


def chrono_expected(t_max: float) -> tuple[float, float]:
    """(E[f], E[i]) at chrono initialization from the biases alone: b_f = log u,
    u ~ U[1, T_max - 1], b_i = -b_f, so E[σ(b_f)] = E[u / (1 + u)] =
    1 - ln(T_max / 2) / (T_max - 2) and E[σ(b_i)] = ln(T_max / 2) / (T_max - 2) (what the
    gates read before training, weights' small contribution aside)."""
    if not t_max > 2:
        raise ValueError(f"t_max: expected > 2, got {t_max!r}")
    i = math.log(t_max / 2) / (t_max - 2)
    return 1.0 - i, i


def _t_max(records: list[dict], config) -> float | None:
    """The chrono T_max of the runs (the record's config; legacy: the task's length)."""
    model = (records[0].get("config") or {}).get("model")
    if model is not None:
        return model.get("chrono_max_len") or None
    if config.init != "chrono":
        return None
    return float(max(sweep.max_length({**config.data.to_dict(), "gap": records[0]["gap"]}), 3))


def correlation_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    files = [f"gates_seed{r['seed']}_seq{j}.png" for r in records for j in range(r["sequences"])]
    files += [f"gate_means_seed{r['seed']}.png" for r in records]
    split = report.split_of(records)
    rows = []
    labels = [("top_i_clue", "i at clue step"),
              ("top_i_gap", "i during gap"), ("top_f_gap", "f during gap"),
              ("top_f_gap_min", "min over gap steps of mean f"),
              ("top_o_gap", "o during gap"), ("top_o_query", "o at query step"),
              ("top_c_clue_r2_write", "clue R² of C at clue step"),
              ("top_c_clue_r2_mid", "clue R² of C at mid-gap"),
              ("top_c_clue_r2_query", "clue R² of C at query step (the ranking step)")]
    examples = report.examples_of(records, "test" if split == report.TEST else "curve")
    rows.append([f"{split} accuracy (%, {examples} sequences)",
                 report.fmt_mean_std([accuracy(r) for r in records], scale=100), "–"])
    for key, label in labels:
        rows.append([label, report.fmt_mean_std([r[key] for r in records], digits=3),
                     report.fmt_mean_std([r[key.replace("top_", "all_")] for r in records],
                                         digits=3)])
    gap = records[0]["gap"]
    t_max = _t_max(records, config)
    steps = report.steps_to_solve_cell(records)
    init = (f"chrono (T_max = {t_max:g})" if t_max else config.init)
    if t_max:
        f0, i0 = chrono_expected(t_max)
        f_tr = report.mean_std(r["top_f_gap"] for r in records)[0]
        i_tr = report.mean_std(r["top_i_clue"] for r in records)[0]
        caveat = (f"How much of this is the initialization: chrono init with T_max = "
                  f"{t_max:g} alone gives E[f] = {f0:.3f} and E[i] = {i0:.3f} from the biases "
                  f"before any training (b_f = log U[1, T_max - 1], b_i = -b_f); after "
                  f"training (solved at {steps} steps, KM median (solved/N)) the top units "
                  f"hold f = {f_tr:.3f} during the gap and write with i = {i_tr:.3f} at the "
                  "clue step: "
                  + (f"within {max(abs(f_tr - f0), abs(i_tr - i0)):.3f} of their init values, "
                     "so the 'hold' is mostly the init itself, not something training found"
                     if max(abs(f_tr - f0), abs(i_tr - i0)) < 0.05 else
                     f"training moved f by {f_tr - f0:+.3f} and i by {i_tr - i0:+.3f}")
                  + ". This is correlation; a cell trained without chrono init, and clamping "
                  "f across the gap (an intervention), would separate gating from init.")
    else:
        caveat = f"Solved at {steps} steps (KM median (solved/N))."
    sections = [f"## Gate statistics on distant recall (gap {gap}), init {init}", "",
                f"Over {len(records)} seed(s). {report.spread_note()} Top units: the "
                f"{config.top_units} units whose cell state at the query step is most "
                "determined by the clue (clue R²: fraction of the variance of C_t across "
                "sequences explained by the clue). They are ranked by the R² at the query "
                "step, so their R² at that step is selected, not measured (biased upward); "
                "the clue step and mid-gap are not used for the ranking. Probe: 512 test "
                "sequences."
                + (" **The accuracy row is the validation sample, not a test split.**"
                   if split != report.TEST else ""), "",
                report.markdown_table(["quantity", "top units", "all units"], rows), "",
                caveat, "",
                "Figures: " + ", ".join(f"`{f}`" for f in files), "",
                f"Initialization: {init}. Sweep config: `meta.json` (`settings`). Steps to "
                "solve: `survival.png`.", ""]
    report.plot_survival(os.path.join(workdir, "survival.png"),
                         {f"gap = {gap}": {f"LSTM, {init}": report.survival_data(records)}},
                         budget=max(r["steps_budget"] for r in records if r.get("steps_budget")),
                         title="Runs solved by step (Kaplan-Meier, validation-sample check)")
    return sections, files + ["survival.png"]


# --------------------------------------------------------------------------- causal report

CLAMP_LABELS = {"mean": "its trained mean", "0": "0", "1": "1"}


def _label(group: list[dict]) -> str:
    """The init of a group of runs in words (``chrono init (T_max = 102)``)."""
    return report.describe_init(group[0]["config"]["model"])


def _unit_mean(r: dict, values, units: str = "clue") -> float:
    """Mean over the run's clue units (or all units) of a per-unit list."""
    v = np.asarray(values, np.float64)
    return float(v[r["causal"]["clue_units"]].mean() if units == "clue" else v.mean())


def _shift(r: dict, gate: str, units: str) -> float:
    g = r["causal"]["gates"]
    return _unit_mean(r, np.subtract(g["trained"][gate], g["init"][gate]), units)


def _pct_values(group, key):
    return [r["causal"]["accuracy"][key] for r in group]


def _paired(group, a: str, b: str) -> stats.Summary:
    """Per-seed difference accuracy[a] - accuracy[b] (points), summarized over seeds."""
    return stats.summarize(100 * (r["causal"]["accuracy"][a] - r["causal"]["accuracy"][b])
                           for r in group)


def _signed(x: float) -> str:
    """``+1.2`` / ``-1.2``; a value that rounds to zero is ``0.0`` (never ``-0.0``)."""
    text = f"{x:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _diff_text(s: stats.Summary) -> str:
    if s.n < 2:
        return f"{_signed(s.mean)} points (n=1)"
    return (f"{_signed(s.mean)} points [95% interval {_signed(s.lo)}, {_signed(s.hi)}] "
            f"(n={s.n})")


def causal_sentences(group: list[dict]) -> str:
    """What the interventions on one init's runs show, generated from the records."""
    c0 = group[0]["causal"]
    K, H = len(c0["clue_units"]), len(c0["clue_r2_validation"])
    gap = group[0]["gap"]

    def m(key):
        return 100 * float(np.mean(_pct_values(group, key)))

    seeds = f"{len(group)} seed{'s' if len(group) > 1 else ''}"
    text = (f"**{_label(group)}** ({seeds}): clamping f to 0 across the gap "
            f"(steps 1..{gap}) on the {K} clue units takes test accuracy from "
            f"{m('none'):.1f}% to {m('clue/0'):.1f}%; on {K} random non-clue units: "
            f"{m('random/0'):.1f}%; on all {H} units: {m('all/0'):.1f}%. Clamped to 1: "
            f"{m('clue/1'):.1f}% (clue units), {m('random/1'):.1f}% (random), "
            f"{m('all/1'):.1f}% (all); to its trained mean: {m('clue/mean'):.1f}%, "
            f"{m('random/mean'):.1f}%, {m('all/mean'):.1f}%.")
    r2 = [np.asarray(r["causal"]["clue_r2_validation"]) for r in group]
    r2_clue = float(np.mean([v[r["causal"]["clue_units"]].mean() for v, r in zip(r2, group)]))
    r2_rest = float(np.mean([np.delete(v, r["causal"]["clue_units"]).mean()
                             for v, r in zip(r2, group)]))
    text += (f" (The clue explains {r2_clue:.3f} of the variance of the clue units' cell "
             f"state at the end of the gap and {r2_rest:.3f} of the other units', on the "
             "validation split.)")
    d = _paired(group, "random/0", "clue/0")   # > 0: erasing the clue units costs more
    if d.n >= 2 and d.lo > 0:
        text += (f" Erasing the clue units costs more than erasing as many random units "
                 f"(random minus clue, per seed: {_diff_text(d)}): the units chosen on the "
                 "validation split carry the clue causally.")
    elif d.n >= 2 and d.hi < 0:
        text += (f" Erasing the clue units costs less than erasing as many random units "
                 f"(random minus clue, per seed: {_diff_text(d)}).")
    else:
        text += (f" Erasing the clue units and erasing as many random units are not "
                 f"distinguishable here (random minus clue, per seed: {_diff_text(d)}).")
    keep = _paired(group, "clue/mean", "none")
    text += (" Holding the clue units' f at its trained mean changes accuracy by "
             f"{_diff_text(keep)}"
             + (": the level of f carries the memory, not its step-to-step modulation."
                if keep.n >= 2 and keep.lo > -1.0 else
                ": the step-to-step modulation of f matters, not only its level."
                if keep.n >= 2 and keep.hi < -1.0 else "."))
    f_init = float(np.mean([_unit_mean(r, r["causal"]["gates"]["init"]["f"]) for r in group]))
    f_tr = float(np.mean([_unit_mean(r, r["causal"]["gates"]["trained"]["f"]) for r in group]))
    p_init = float(np.mean([_unit_mean(r, r["causal"]["log10_prod_f"]["init"]) for r in group]))
    p_tr = float(np.mean([_unit_mean(r, r["causal"]["log10_prod_f"]["trained"])
                          for r in group]))
    text += (f" Training moved the clue units' mean f over the gap from {f_init:.3f} (init) "
             f"to {f_tr:.3f}, and the product of f over the gap (what is left of the cell "
             f"state at the clue) from 10^{p_init:.1f} to 10^{p_tr:.1f}.")
    chance = group[0].get("chance")  # 1 / num_clues, from the task
    if chance is None:
        return text
    erase_all = stats.summarize(_pct_values(group, "all/0"))
    if m("none") > 100 * chance + 10 and erase_all.mean < chance + 0.05:
        text += (f" With f := 0 on every unit the accuracy is at chance ({100 * chance:.1f}%): "
                 "the hidden state h alone does not carry the clue across the gap; the cell "
                 "state does.")
    low = min(((r["causal"]["accuracy"][k], r["seed"], k) for r in group
               for k in r["causal"]["accuracy"] if k != "none"), default=None)
    if low is not None and low[0] < chance - 0.05:
        units, _, clamp = low[2].partition("/")
        text += (f" Some clamps push accuracy below chance (lowest {100 * low[0]:.1f}%: seed "
                 f"{low[1]}, f := {CLAMP_LABELS[clamp]} on {units} units): such a clamp does "
                 "not merely erase the clue, it moves the readout to wrong answers.")
    return text


def _unit_mask(record: dict, clue: bool) -> np.ndarray:
    """[H] bool: the run's clue units (clue=True) or all its other units."""
    c = record["causal"]
    sel = np.zeros(len(c["clue_r2_validation"]), bool)
    sel[c["clue_units"]] = True
    return sel if clue else ~sel


def _draw_shift(path: str, groups: dict[str, list[dict]], dpi: int = 100) -> None:
    """Trained minus initial gate per unit (test split, mean over the gap) against the
    unit's clue R² on the validation split; every seed's units, clue units in red."""
    plt = report.pyplot()
    fig, axes = plt.subplots(len(groups), 3, figsize=(11, 3.2 * len(groups)), squeeze=False)
    for row, (label, group) in zip(axes, groups.items()):
        for ax, gate in zip(row, ("i", "f", "o")):
            for clue in (False, True):
                xs, ys = [], []
                for r in group:
                    c, sel = r["causal"], _unit_mask(r, clue)
                    delta = np.subtract(c["gates"]["trained"][gate], c["gates"]["init"][gate])
                    xs += list(np.asarray(c["clue_r2_validation"])[sel])
                    ys += list(delta[sel])
                ax.scatter(xs, ys, s=8, alpha=0.6, color="tab:red" if clue else "grey",
                           label="clue units" if clue else "other units")
            ax.axhline(0, color="black", linewidth=0.6)
            ax.set_title(f"{label}: Δ{gate} (trained − init)", fontsize=9)
            ax.set_xlabel("clue R² of C at the end of the gap (validation)", fontsize=8)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _draw_product(path: str, groups: dict[str, list[dict]], gap: int, dpi: int = 100) -> None:
    """log10 of the product of f over the gap per unit: trained against init."""
    plt = report.pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4.2), squeeze=False)
    for ax, (label, group) in zip(axes[0], groups.items()):
        lo = 0.0
        for clue in (False, True):
            xs, ys = [], []
            for r in group:
                c, sel = r["causal"], _unit_mask(r, clue)
                xs += list(np.asarray(c["log10_prod_f"]["init"])[sel])
                ys += list(np.asarray(c["log10_prod_f"]["trained"])[sel])
            lo = min([lo, *xs, *ys])
            ax.scatter(xs, ys, s=8, alpha=0.6, color="tab:red" if clue else "grey",
                       label="clue units" if clue else "other units")
        ax.plot([lo, 0], [lo, 0], color="black", linewidth=0.6, label="unchanged")
        ax.set_xlabel(f"log10 ∏ f over the gap ({gap} steps), at init", fontsize=8)
        ax.set_ylabel("log10 ∏ f over the gap, trained", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("How much of the cell state at the clue survives the gap, per unit "
                 "(test split, mean over sequences)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _causal_groups(records: list[dict]):
    """Per init label: (the runs shown, all trained runs, the unsolved runs left out).
    Shown are the runs the validation check solved (the interventions ask how a cell that
    does the task does it); all runs where none solved."""
    groups: dict[str, list[dict]] = {}
    trained: dict[str, list[dict]] = {}
    left_out = []
    for init in INITS:
        runs_ = [r for r in records if r.get("init") == init and r.get("causal")]
        if not runs_:
            continue
        label = _label(runs_)
        solved = [r for r in runs_ if r.get("solved")]
        trained[label], groups[label] = runs_, solved or runs_
        if solved:
            left_out += [f"{label} seed {r['seed']} (test accuracy "
                         f"{100 * r['test']['accuracy']:.1f}%)" for r in runs_ if not r.get("solved")]
    return groups, trained, left_out


def causal_headline(records: list[dict]) -> str:
    """The README bullet: the clamps' test accuracy per init, generated from the records."""
    groups, trained, _ = _causal_groups(records)
    first = next(iter(groups.values()))[0]
    c0, gap = first["causal"], first["gap"]
    K, H = len(c0["clue_units"]), len(c0["clue_r2_validation"])
    n_test = sorted({r["causal"]["test_examples"] for g in groups.values() for r in g})

    def pct(group, key):
        return report.fmt_mean_std(_pct_values(group, key), scale=100, digits=1)
    parts = []
    for label, group in groups.items():
        d = _paired(group, "random/0", "clue/0")
        parts.append(
            f"{label} ({len(group)} of {len(trained[label])} seeds solved by the validation "
            f"check, shown): unclamped {pct(group, 'none')}; f := 0 on the {K} clue units "
            f"{pct(group, 'clue/0')}, on {K} random units {pct(group, 'random/0')}, on all "
            f"{H} {pct(group, 'all/0')}; the clue units' f held at its trained mean "
            f"{pct(group, 'clue/mean')} (random minus clue units at f := 0: {_diff_text(d)})")
    return (f"**Gates, by intervention** (distant recall, gap {gap}, {H} hidden units; the "
            f"clue units chosen on the validation split; test accuracy in % on the whole test split, "
            f"{'/'.join(str(n) for n in n_test)} sequences per run; mean ± sample std "
            f"[95% interval]; [report](experiments/results/gates_causal/gates.md)): "
            + "; ".join(parts) + ".")


def causal_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    groups, trained, left_out = _causal_groups(records)
    failed = [r["run"] for r in records if not r.get("causal")]
    first = next(iter(groups.values()))[0]
    c0, gap = first["causal"], first["gap"]
    K, H = len(c0["clue_units"]), len(c0["clue_r2_validation"])
    draws = len(c0["random_units"])
    n_test = {r["causal"]["test_examples"] for g in groups.values() for r in g}
    n_val = {r["causal"]["selection_examples"] for g in groups.values() for r in g}
    labels = list(groups)
    rows = [["no clamp (the trained model)"]
            + [report.fmt_mean_std(_pct_values(g, "none"), scale=100) for g in groups.values()]]
    names = {"clue": f"{K} clue units", "random": f"{K} random non-clue units "
             f"(mean of {draws} draws)", "all": f"all {H} units"}
    for units in UNIT_SETS:
        for clamp in CLAMPS:
            rows.append([f"{names[units]}: f := {CLAMP_LABELS[clamp]}"]
                        + [report.fmt_mean_std(_pct_values(g, f"{units}/{clamp}"), scale=100)
                           for g in groups.values()])
    rows.append(["untrained (the seed's initial params, no clamp)"]
                + [report.fmt_mean_std([r["causal"]["init_accuracy"] for r in g], scale=100)
                   for g in groups.values()])
    rows.append(["runs in this table (solved by the validation check / trained)"]
                + [f"{sum(bool(r.get('solved')) for r in g)}/{len(trained[lab])}"
                   + ("" if any(r.get("solved") for r in g) else " (none solved: all shown)")
                   for lab, g in groups.items()])
    rows.append(["steps to solve (validation check; KM median (solved/N), all runs)"]
                + [report.steps_to_solve_cell(trained[lab]) for lab in groups])
    shift_rows = []
    for units, what in (("clue", f"{K} clue units"), ("all", f"all {H} units")):
        for gate in ("i", "f", "o"):
            shift_rows.append([f"Δ{gate} over the gap, {what}"]
                              + [report.fmt_mean_std([_shift(r, gate, units) for r in g],
                                                     digits=3) for g in groups.values()])
        for when in ("init", "trained"):
            shift_rows.append([f"f over the gap, {what}, {when}"]
                              + [report.fmt_mean_std([_unit_mean(
                                  r, r["causal"]["gates"][when]["f"], units) for r in g],
                                  digits=3) for g in groups.values()])
        for when in ("init", "trained"):
            shift_rows.append([f"log10 ∏f over the gap, {what}, {when}"]
                              + [report.fmt_mean_std([_unit_mean(
                                  r, r["causal"]["log10_prod_f"][when], units) for r in g],
                                  digits=2) for g in groups.values()])
    replay = max(abs(r["causal"]["accuracy"]["none"] - r["test"]["accuracy"])
                 for g in groups.values() for r in g)
    budget = max(r["steps_budget"] for g in trained.values() for r in g)
    stop = first["config"].get("stop_when_solved", True)
    files = ["interventions.png", "gate_shift.png", "forget_product.png", "survival.png"]
    report.plot_bars(os.path.join(workdir, "interventions.png"),
                     [row[0].replace(" (mean of", "\n(mean of") for row in rows[:1 + 3 * 3]],
                     {lab: ([100 * float(np.mean(_pct_values(g, key)))
                             for key in ["none"] + [f"{u}/{c}" for u in UNIT_SETS
                                                    for c in CLAMPS]],
                            [100 * (stats.sample_std(_pct_values(g, key))
                                    if len(g) > 1 else 0.0)
                             for key in ["none"] + [f"{u}/{c}" for u in UNIT_SETS
                                                    for c in CLAMPS]])
                      for lab, g in groups.items()},
                     ylabel=f"test accuracy (%, {', '.join(map(str, sorted(n_test)))} "
                            "sequences)", ylim=(0, 105), size=(11.0, 5.5),
                     title=f"Clamping the forget gate across the gap (gap {gap}); bars: "
                           "mean over the solved seeds, error: sample sd")
    _draw_shift(os.path.join(workdir, "gate_shift.png"), groups)
    _draw_product(os.path.join(workdir, "forget_product.png"), groups, gap)
    report.plot_survival(os.path.join(workdir, "survival.png"),
                         {f"gap = {gap}": {lab: report.survival_data(trained[lab])
                                           for lab in groups}},
                         budget=budget,
                         title="Runs solved by step (Kaplan-Meier, validation-sample check)")
    figures = [f for g in trained.values() for r in g for f in r.get("figures", [])]
    n_text = "/".join(map(str, sorted(n_test)))
    sections = [
        f"## Causal gates: clamping the forget gate across the gap (distant recall, gap {gap})",
        "",
        *[line for g in groups.values() for line in (causal_sentences(g), "")],
        f"Test accuracy (%) on the whole test split ({n_text} sequences per run), "
        "over the seeds whose run the periodic validation check solved (the question is "
        "how a cell that does the task does it; for an init with no solved run, all its "
        "runs: the row 'runs in this table' says which)"
        + (f"; left out as unsolved: {'; '.join(left_out)}" if left_out else "")
        + f". {report.spread_note()} The clue units are the {K} of {H} units whose "
        f"cell state at the end of the gap (step {gap}) the clue explains best (clue R², "
        f"between-clue over total variance), chosen on the whole validation split "
        f"({'/'.join(map(str, sorted(n_val)))} sequences) and never on the test split; "
        f"f := its trained mean uses each unit's mean f over the gap on the validation "
        f"split. A clamp acts at steps 1..{gap} (the distractors), in every test sequence. "
        f"Random control: {K} units drawn from the other {H - K} ({draws} draws per seed, "
        "numpy default_rng([seed, draw]), accuracy averaged over the draws). Training: "
        + (f"at most {budget} steps, stopped once the periodic validation check solved"
           if stop else f"{budget} steps for every run (no early stop)") + ".", "",
        report.markdown_table(["intervention (steps 1.." + str(gap) + ")", *labels], rows), "",
        f"What training changed (test split, per unit: mean over the {n_text} test "
        f"sequences of the gate's mean over steps 1..{gap}; trained params minus the same "
        "seed's initial params; then the mean over the units named and over seeds). "
        "∏f: the product of f over the gap, the factor by which the cell state at the "
        "clue step is scaled by the time of the query (log10; mean over sequences).", "",
        report.markdown_table(["quantity", *labels], shift_rows), "",
        "The unclamped replay (`experiments.gates.forward`, the reference cell) "
        + ("gives the training loop's test accuracy in every run." if replay == 0 else
           f"differs from the training loop's test accuracy by up to {100 * replay:.2f} "
           "points (the loop's kernel rounds differently).") , "",
        "Figures: `interventions.png` (the first table), `gate_shift.png` (Δ per unit "
        "against the unit's clue R², every seed), `forget_product.png` (log10 ∏f per unit, "
        "trained against init), `survival.png` (steps to solve)"
        + (", heatmaps of probe sequences (correlational): "
           + ", ".join(f"`{f}`" for f in figures) if figures else "") + ".", "",
    ]
    if failed:
        sections += [f"Runs without interventions (non-finite loss): {', '.join(failed)}.", ""]
    return sections, files + figures


def make_report(records: list[dict], config, workdir: str) -> tuple[list[str], list[str]]:
    """The causal report when the records hold interventions, else (the committed
    ``gates_quick`` / ``gates_standard``) the correlational one."""
    if any(r.get("causal") for r in records):
        return causal_report(records, config, workdir)
    return correlation_report(records, config, workdir)


def main(argv=None) -> str | None:
    return sweep.main("gates", __doc__, argv, plan=plan, make_report=make_report,
                      execute_one=execute)


if __name__ == "__main__":
    main()
