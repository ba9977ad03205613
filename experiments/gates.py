"""Looking inside the gates: forget, input, output gates and the cell state of a trained LSTM.

    python -m experiments.gates --quick --workdir runs/gates     # gap 50, 2 seeds
    python -m experiments.gates --workdir runs/gates             # gap 100, 3 seeds
    python -m experiments.gates --gap 500 --seeds 5 --steps 3000 # bigger

Trains an LSTM (chrono initialization) on distant recall ("I grew up in France ... I speak
fluent ___"), then replays chosen test sequences through ``LSTMCell.step_with_gates`` and
draws, for the units that carry the clue, heatmaps (unit x time) of the input gate i_t,
the forget gate f_t, the output gate o_t and the cell state C_t: the clue is *written*
(i high at t = 0), *held* across the gap (f close to 1, C constant) and *read out* (o at the
query step). Units are ranked by the fraction of the variance of their cell state at the query step
that the clue explains (clue R²; the units that store the clue).

Outputs: ``gates.json`` (per seed: accuracy and gate statistics at the clue step, over the
gap and at the query step, for the top units and for all units), ``gates.md`` (table, mean
± std over seeds), ``gates_seed<k>_seq<j>.png`` heatmaps, ``gate_means_seed<k>.png``
(mean gate activation of the top units over time), ``meta.json``.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from experiments import common
from lstmjax import data, models
from lstmjax.tasks import distant_recall as dr

MODES = {
    "tiny": dict(gap=4, seeds=1, steps=4, eval_every=2, hidden=8, embed=4, eval_examples=32,
                 batch_size=16, top_units=4, sequences=1),
    "quick": dict(gap=50, seeds=2, steps=400, eval_every=50, hidden=64, embed=16,
                  eval_examples=1024, batch_size=64, top_units=16, sequences=2),
    "standard": dict(gap=100, seeds=3, steps=600, eval_every=50, hidden=64, embed=16,
                     eval_examples=1024, batch_size=64, top_units=16, sequences=3),
}
GATES = ("i", "f", "o", "c")
TITLES = {"i": "input gate i_t (write)", "f": "forget gate f_t (keep)",
          "o": "output gate o_t (read)", "c": "cell state C_t minus its mean over sequences (the clue on the conveyor belt), "
               "scaled per unit"}


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
    plt = common._plt()
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
    plt = common._plt()
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


def main(argv=None) -> str:
    p = common.argument_parser(__doc__, "runs/gates")
    p.add_argument("--gap", type=int)
    p.add_argument("--seeds", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--hidden", type=int)
    p.add_argument("--init", default="chrono", choices=("chrono", "forget_bias_1"),
                   help="LSTM initialization")
    args = p.parse_args(argv)
    mode_name, s = common.mode_settings(args, MODES, ("gap", "seeds", "steps", "hidden"))
    s["init"], num_clues = args.init, 8
    res = common.Results(args.workdir, "gates", mode=mode_name,
                         command=common.command_line(argv, "experiments.gates"), settings=s)
    records, files = [], []
    for seed in range(s["seeds"]):
        dcfg = common.task_config("distant_recall", gap=s["gap"], num_clues=num_clues,
                                  num_distractors=8)
        init = ({"chrono_max_len": float(max(s["gap"] + 2, 3))} if s["init"] == "chrono"
                else {"forget_bias": 1.0})
        cfg = common.run_config(dcfg, seed=seed, steps=s["steps"], batch_size=s["batch_size"],
                                eval_examples=s["eval_examples"], cell="lstm",
                                hidden_size=s["hidden"], embed_dim=s["embed"], **init)
        r = common.fit(cfg, eval_every=s["eval_every"], solve_threshold=0.99, keep_params=True)
        a = analyse(r["params"], r["model_config"], s["gap"], num_clues, seed, s["top_units"])
        records.append({"seed": seed, "gap": s["gap"], "accuracy": r["eval"]["accuracy"],
                        "solved": r["solved"], "steps_to_solve": r["steps_to_solve"],
                        "steps_run": r["steps_run"], "wall_s": r["wall_s"],
                        "params_sha256": r["params_sha256"], "top_units": a["top_units"],
                        **{f"top_{k}": v for k, v in a["stats"]["top"].items()},
                        **{f"all_{k}": v for k, v in a["stats"]["all"].items()}})
        common.log(f"seed {seed}: accuracy {100 * r['eval']['accuracy']:.1f}% "
                   f"(solved@{r['steps_to_solve']}), top units {a['top_units'][:6]}...")
        for j in range(s["sequences"]):
            k = int(np.flatnonzero(a["clues"] == j % num_clues)[0])
            name = f"gates_seed{seed}_seq{j}.png"
            draw_heatmaps(os.path.join(res.workdir, name), a["acts"], k, a["top_units"],
                          int(a["clues"][k]), s["gap"],
                          f"LSTM on distant recall, gap {s['gap']}, seed {seed} (test accuracy "
                          f"{100 * r['eval']['accuracy']:.1f}%): top {len(a['top_units'])} "
                          "clue-carrying units", )
            files.append(name)
        name = f"gate_means_seed{seed}.png"
        draw_means(os.path.join(res.workdir, name), a["acts"], a["r2"], a["top_units"],
                   f"mean gates of the top units over 512 test sequences (seed {seed})")
        files.append(name)
        res.write_records(records)
    rows = []
    labels = [("accuracy", "test accuracy (%)", 100), ("top_i_clue", "i at clue step", 1),
              ("top_i_gap", "i during gap", 1), ("top_f_gap", "f during gap", 1),
              ("top_f_gap_min", "min over gap steps of mean f", 1),
              ("top_o_gap", "o during gap", 1), ("top_o_query", "o at query step", 1),
              ("top_c_clue_r2_write", "clue R² of C at clue step", 1),
              ("top_c_clue_r2_mid", "clue R² of C at mid-gap", 1),
              ("top_c_clue_r2_query", "clue R² of C at query step", 1)]
    for key, label, scale in labels:
        rows.append([label, common.fmt_mean_std([r[key] for r in records], scale=scale,
                                                digits=1 if scale == 100 else 3),
                     common.fmt_mean_std([r.get(key.replace("top_", "all_")) for r in records
                                          if key != "accuracy"], digits=3)
                     if key != "accuracy" else "–"])
    sections = [f"## Gate statistics on distant recall (gap {s['gap']}), mean ± std over "
                f"{s['seeds']} seed(s)", "",
                f"Top units: the {s['top_units']} units whose cell state at the query step "
                "is most determined by the clue (clue R²: fraction of the variance of C_t across "
                "sequences explained by the clue). Probe: 512 test sequences.", "",
                common.markdown_table(["quantity", "top units", "all units"], rows), "",
                "Write / hold / read: the clue is written when the clue R² of C jumps at the "
                "clue step, held while it stays high across the gap (which needs f near 1), "
                "and read out through o at the query step.", "",
                "Figures: " + ", ".join(f"`{f}`" for f in files), "",
                f"Settings: {json.dumps(s)}", ""]
    path = res.finish(sections, files)
    common.log(f"gates ({mode_name}): table {path}\n  heatmaps: "
               + ", ".join(os.path.join(res.workdir, f) for f in files))
    return path


if __name__ == "__main__":
    main()
