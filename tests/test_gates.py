"""experiments/gates.py: the forget-gate clamp does what it says, the replay is the
reference model, and the tiny sweep writes its causal report."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import gates, report
from lstmjax import device_step, models, recurrence, schema
from lstmjax.tasks import distant_recall as dr

GAP = 5


def _model(gates_name="standard", **over):
    cfg = dr.DistantRecallConfig(gap=GAP, num_clues=4, num_distractors=4)
    mcfg = models.from_task(dr.spec(cfg), **{**schema.DEFAULTS["model"], "hidden_size": 6,
                                             "embed_dim": 3, "chrono_max_len": 7.0,
                                             "recurrent_init": "glorot", "gates": gates_name,
                                             **over})
    params = models.init(jax.random.key(1), mcfg)
    tokens = np.stack([dr.example(cfg, 0, k)["x"] for k in range(5)])
    return cfg, mcfg, params, tokens


def test_no_clamp_is_the_reference_scan_bit_for_bit():
    _, mcfg, params, tokens = _model()
    logits, acts = gates.forward(params, mcfg, tokens)
    cell = mcfg.rnn.make_cell()
    ys, carry = recurrence.scan(cell, params["rnn"][0]["fw"],
                                models.embed(params, mcfg, jnp.asarray(tokens)))
    np.testing.assert_array_equal(np.swapaxes(np.asarray(acts["h"]), 0, 1), np.asarray(ys))
    np.testing.assert_array_equal(np.asarray(acts["c"][-1]), np.asarray(carry.c))
    np.testing.assert_allclose(logits, models.apply(params, mcfg, tokens), atol=1e-5)
    # an all-False mask is the same model, whatever its values say
    empty = gates.Clamp(np.zeros((GAP + 2, 6), bool), np.full((GAP + 2, 6), 0.5, np.float32))
    again, _ = gates.forward(params, mcfg, tokens, empty)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(logits))


@pytest.mark.parametrize("gates_name", ["standard", "vanilla"])  # vanilla: peepholes
def test_clamp_sets_f_on_the_units_and_steps_it_names(gates_name):
    _, mcfg, params, tokens = _model(gates_name)
    _, free = gates.forward(params, mcfg, tokens)
    units, steps = [1, 4], range(2, 5)
    per_unit = np.linspace(0.1, 0.9, 6).astype(np.float32)
    for value in (0.0, 1.0, per_unit):
        clamp = gates.make_clamp(GAP + 2, 6, units, steps, value)
        _, acts = gates.forward(params, mcfg, tokens, clamp)
        f = np.asarray(acts["f"])                                       # [T, B, H]
        want = np.broadcast_to(np.asarray(value, np.float32), (6,))[units]
        if np.ndim(value) == 0:  # 0 and 1 exactly (σ(∓inf))
            assert np.all(f[2:5][..., units] == want)
        else:
            np.testing.assert_allclose(f[2:5][..., units], np.broadcast_to(want, (3, 5, 2)),
                                       atol=1e-6)
            assert np.abs(f[2:5][..., units] - np.asarray(free["f"])[2:5][..., units]).max() > 0.01
        # before the window nothing changes, bit for bit; the other units are not clamped
        for name in ("f", "c", "h"):
            np.testing.assert_array_equal(np.asarray(acts[name])[:2],
                                          np.asarray(free[name])[:2])
        np.testing.assert_array_equal(f[2][:, [0, 2, 3, 5]], np.asarray(free["f"])[2][:, [0, 2, 3, 5]])


def test_clamp_zero_erases_and_clamp_one_keeps_the_cell_state():
    """One clamped step: d C_t[u] / d C_{t-1} is 0 with f := 0 and the unit row with
    f := 1 (standard gates: C_{t-1} reaches C_t only through f)."""
    _, mcfg, params, _ = _model()
    cell = gates.replay_cell(mcfg)
    p = params["rnn"][0]["fw"]
    rng = np.random.default_rng(0)
    h, c = (jnp.asarray(rng.normal(size=(1, 6)), jnp.float32) for _ in range(2))
    p_t = jnp.asarray(rng.normal(size=(1, 24)), jnp.float32)
    mask = np.zeros(6, bool)
    mask[[0, 3]] = True
    for value, want in ((0.0, np.zeros((2, 6))), (1.0, np.eye(6)[[0, 3]])):
        def c_next(c_prev):
            carry = cell.zero_carry(1)._replace(h=h, c=c_prev)
            return gates.clamped_step(cell, p, carry, p_t, mask, np.full(6, value))[0].c
        jac = np.asarray(jax.jacobian(c_next)(c))[0, :, 0, :]          # [H, H]
        np.testing.assert_array_equal(jac[[0, 3]], want)
        assert np.abs(jac[[1, 2, 4, 5]]).max() > 0  # the others still keep their state


def test_clamp_zero_across_the_gap_makes_the_cell_state_forget_the_clue():
    """Without the recurrent path (W_h = 0) the cell state is the only memory: with f := 0
    across the gap on every unit, C at the end of the gap is the same for every clue;
    unclamped it is not."""
    cfg, mcfg, params, _ = _model()
    params["rnn"][0]["fw"]["w_h"] = jnp.zeros_like(params["rnn"][0]["fw"]["w_h"])
    base = dr.example(cfg, 0, 0)["x"]
    tokens = np.stack([np.concatenate([[dr.FIRST_CLUE + k], base[1:]]) for k in range(4)])
    _, free = gates.forward(params, mcfg, tokens)
    assert np.ptp(np.asarray(free["c"])[GAP], axis=0).max() > 1e-4
    clamp = gates.make_clamp(GAP + 2, 6, range(6), range(1, GAP + 1), 0.0)
    logits, acts = gates.forward(params, mcfg, tokens, clamp)
    end = np.asarray(acts["c"])[GAP]
    np.testing.assert_array_equal(end, np.broadcast_to(end[0], end.shape))
    np.testing.assert_array_equal(np.asarray(logits), np.broadcast_to(logits[0], logits.shape))


def test_bad_clamps_and_models_say_what_to_fix():
    _, mcfg, _, _ = _model()
    with pytest.raises(ValueError, match="units"):
        gates.make_clamp(7, 6, [6], range(1, 3), 0.0)
    with pytest.raises(ValueError, match="steps"):
        gates.make_clamp(7, 6, [0], range(5, 8), 0.0)
    with pytest.raises(ValueError, match=r"value: a forget gate lies in \[0, 1\]"):
        gates.make_clamp(7, 6, [0], range(1, 3), 1.5)
    for over, match in (({"gates": "cifg"}, "own forget gate"),
                        ({"bidirectional": True, "pooling": "bilstm"}, "unidirectional")):
        _, bad, _, _ = _model(**over)
        with pytest.raises(ValueError, match=match):
            gates.replay_cell(bad)


def test_initial_params_are_the_runs_start():
    _, mcfg, _, _ = _model()
    want = device_step.init_state(3, mcfg, optax.sgd(0.1)).params
    got = gates.initial_params(3, mcfg)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_split_summary_matches_the_trace():
    cfg, mcfg, params, _ = _model()
    tokens = np.stack([dr.example(cfg, 1, k)["x"] for k in range(7)])
    labels = np.array([dr.example(cfg, 1, k)["y"] for k in range(7)], np.int32)
    s = gates.split_summary(params, mcfg, tokens, labels, GAP, batch_size=4)  # a filler batch
    acts = gates.trace(params, mcfg, tokens)                                 # [B, T, H]
    f = acts["f"][:, 1:GAP + 1].astype(np.float64)
    np.testing.assert_allclose(s["f"], f.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(s["prod_f"], f.prod(1).mean(0), rtol=1e-4)
    np.testing.assert_allclose(s["log10_prod_f"], np.log10(f).sum(1).mean(0), rtol=1e-4)
    np.testing.assert_allclose(s["c_end"], acts["c"][:, GAP], atol=1e-6)
    logits = np.asarray(models.apply(params, mcfg, tokens))
    assert s["examples"] == 7
    assert s["accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == labels))


def test_trace_matches_apply():
    """The replayed gate activations give the same h as lstmjax.apply."""
    _, mcfg, params, tokens = _model()
    acts = gates.trace(params, mcfg, tokens[:3])
    _, feats = models.apply(params, mcfg, tokens[:3], return_features=True)
    np.testing.assert_allclose(acts["h"][:, -1], feats, atol=1e-5)
    np.testing.assert_allclose(acts["c"][:, 0], acts["i"][:, 0] * acts["g"][:, 0], atol=1e-6)


def test_clue_r2():
    rng = np.random.default_rng(0)
    clues = rng.integers(0, 4, 400)
    c = np.stack([clues * 1.0, rng.normal(size=400), np.zeros(400)], -1)[:, None, :]  # [N,1,3]
    r2 = gates.clue_r2(c, clues, 4)
    assert r2.shape == (1, 3)
    assert r2[0, 0] == pytest.approx(1.0) and r2[0, 1] < 0.05 and r2[0, 2] == 0.0


def test_config_rejects_what_the_interventions_cannot_use(tmp_path):
    from experiments.configs.gates import get_config
    for field, value, match in (("init", "xavier", "config.init"), ("gap", 0, "config.gap"),
                                ("top_units", 8, "config.top_units")):
        config = get_config("tiny")
        config[field] = value
        with pytest.raises(ValueError, match=match):
            gates.plan(config)
    runs = gates.plan(get_config("causal"))
    assert {r.fields["init"] for r in runs} == {"chrono", "forget_bias_1"}
    assert all(not r.config["stop_when_solved"] for r in runs)


@pytest.mark.slow
def test_gates_tiny(tmp_path):
    """The tiny sweep: both inits, interventions chosen on validation and measured on the
    whole test split, the causal report generated from the records."""
    workdir = str(tmp_path / "gates")
    gates.main(["--config", "experiments/configs/gates.py:tiny", "--workdir", workdir])
    with open(os.path.join(workdir, "gates.json")) as f:
        records = json.load(f)
    assert [r["init"] for r in records] == ["chrono", "forget_bias_1"]
    for r in records:
        c = r["causal"]
        assert c["selection_split"] == "validation" and c["test_examples"] == 128
        assert c["accuracy"]["none"] == r["test"]["accuracy"]  # the replay is the model
        assert len(c["clue_units"]) == 2 and not set(c["clue_units"]) & {
            u for draw in c["random_units"] for u in draw}
        r2 = np.asarray(c["clue_r2_validation"])
        assert r2[c["clue_units"]].min() >= np.delete(r2, c["clue_units"]).max()
        for key, value in c["accuracy"].items():
            assert 0.0 <= value <= 1.0, key
        assert c["accuracy"]["random/0"] == pytest.approx(np.mean(c["accuracy_draws"]["random/0"]))
        assert np.all(np.asarray(c["log10_prod_f"]["init"]) < 0)
    text = open(os.path.join(workdir, "gates.md"), encoding="utf-8").read()
    rows = report.parse_markdown_table(text, "intervention (steps 1..4)")
    assert rows[1][0] == "no clamp (the trained model)"
    assert rows[1][1] == report.fmt_mean_std([records[0]["test"]["accuracy"]], scale=100)
    assert rows[3][2] == report.fmt_mean_std([records[1]["causal"]["accuracy"]["clue/0"]],
                                             scale=100)
    assert "**chrono init (T_max = 6)** (1 seed): clamping f to 0" in text
    for name in ("interventions.png", "gate_shift.png", "forget_product.png", "survival.png",
                 "chrono_gates_seed0_seq0.png", "forget_bias_1_gate_means_seed0.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 1000, name


def test_every_size_plans_valid_train_configs():
    from experiments.configs.gates import ARGS, CAUSAL_SEEDS, get_config
    counts = {}
    for size in ARGS:
        runs = gates.plan(get_config(size))
        assert runs and len({r.name for r in runs}) == len(runs)
        for run in runs:
            assert schema.resolve_config(run.config)["seed"] == run.fields["seed"]
            assert run.config["model"]["forget_bias"] == 1.0 or run.fields["init"] == "chrono"
            assert bool(run.config["model"]["chrono_max_len"]) == (run.fields["init"] == "chrono")
        counts[size] = len(runs)
    # the committed correlational runs keep their names (one init: "seed=k")
    assert [r.name for r in gates.plan(get_config("standard"))] == ["seed=0", "seed=1", "seed=2"]
    assert counts["causal"] == 2 * CAUSAL_SEEDS  # both inits
